"""The training-data pipeline behind generate_batch, validate_rows and split_dataset: row formats, per-row
quality gates and their bulk screens, word tables, near-duplicate and leakage detection, cross-row checks,
the optional LLM row review, and writing the accepted/rejected files.

May import: ``specialize.runtime`` and ``specialize.llm``.
"""
