"""Evaluation: the model interface (llama.cpp, transformers, litellm), per-task metrics with error labels,
statistics (bootstrap CIs, paired tests, Bradley-Terry, agreement), the pairwise judge protocol and
few-shot examples for baselines.

May import: ``specialize.runtime``, ``specialize.llm`` and ``specialize.data``.
"""
