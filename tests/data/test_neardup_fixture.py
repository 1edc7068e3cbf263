"""The small labelled fixture (bench/neardup_corpus.py, seed 11; written by ``bench/bench_neardup.py
--write-fixture``) through the shared similarity: the edits people make (casing, an inserted word...) to a text
that names someone never turn into a fact disagreement, and those near copies stay above the default threshold."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from specialize.data.dedupe import fact_agreement, similar_texts
from specialize.data.normalize import name_strings, normalized_tables

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "neardup"


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in FIXTURE.joinpath(name).read_text(encoding="utf-8").splitlines()]


def _planted_pairs() -> list[tuple[str, str, dict]]:
    """(source text, near copy, the copy's meta) for every planted near copy: training copies with their
    original, edited eval items with the eval row."""
    rows, evals = _rows("rows.jsonl"), _rows("eval.jsonl")
    source = {r["meta"]["group"]: r for r in rows if r["meta"]["kind"] == "original"}
    source.update({r["meta"]["group"]: r for r in evals})
    return [(source[r["meta"]["group"]]["messages"][0]["content"], r["messages"][0]["content"], r["meta"])
            for r in rows if r["meta"]["kind"] in ("near_dup", "label_conflict", "eval_leak")]


def _default_threshold() -> float:
    from specialize.tools.validate import ValidateRowsParams

    return ValidateRowsParams.model_fields["near_dup_threshold"].default


def test_no_edit_of_a_named_text_is_a_fact_disagreement():
    pairs = _planted_pairs()
    texts = [t for a, b, _ in pairs for t in (a, b)]
    _, facts = normalized_tables(texts)
    left = np.arange(0, len(texts), 2)
    agree = fact_agreement(facts, left, facts, left + 1)
    named = [k for k, (a, b, _) in enumerate(pairs) if name_strings([a])[0].strip()]
    # the fixture holds named texts in every family that touches case or words around a name
    families = {pairs[k][2]["family"] for k in named}
    assert {"casing", "insert", "delete", "swap", "synonym", "two_edits"} <= families, families
    disagree = [(pairs[k][0], pairs[k][1]) for k in named if agree[k] < 1.0]
    assert disagree == []


@pytest.mark.parametrize("family", ["casing", "insert"])
def test_casing_and_inserted_words_around_names_stay_near_copies(family):
    t = _default_threshold()
    pairs = [(a, b) for a, b, m in _planted_pairs()
             if m["family"] == family and m["lang"] != "zh" and name_strings([a])[0].strip()]
    assert len(pairs) >= 4  # enough named texts for the check to mean something
    for a, b in pairs:
        found, sims = similar_texts([a, b], threshold=t)
        assert found.tolist() == [[0, 1]], (a, b)
