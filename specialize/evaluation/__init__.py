"""Evaluation: the model interface (llama.cpp, transformers, litellm), per-task metrics with error labels,
statistics (bootstrap CIs, paired tests, Bradley-Terry, agreement), the pairwise judge protocol,
few-shot examples for baselines, the shipped version (versions.py) and the history across versions (history.py).

May import: ``specialize.runtime``, ``specialize.llm`` and ``specialize.data``.
"""
