"""The local human-review page: queues built from the artifacts the tools write, answers kept in the workspace,
agreement between people and the judge, and exports.

A review lives in ``reviews/<review_id>/`` (``review.json``, ``items.jsonl``, an append-only ``answers.jsonl``
with one line per answer and annotator, ``server.json`` while a page serves it), so it survives a restart and
two people can label the same queue. The page is a small starlette app on 127.0.0.1 behind a token and an
Origin check (``guard.py``).

May import: runtime, data and evaluation (never tools/ or server/).
"""
