"""Evaluation: the model interface (llama.cpp, transformers, litellm), per-task metrics with error labels,
statistics (bootstrap CIs, paired tests, Bradley-Terry, agreement) and the pairwise judge protocol.

May import: ``specialize.runtime``, ``specialize.llm`` and ``specialize.data``.
"""
