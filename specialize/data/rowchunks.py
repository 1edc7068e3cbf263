"""The per-row stage of validate_rows, one chunk of lines at a time (in a worker process for large files).

A worker gets a byte range of the input file, reads it itself (no row text travels between processes), runs
the per-row gates (``specialize.data.gates``) and returns compact columns: failures, hashes, category labels, the
inputs' shingles (of their normalised words) for the near-duplicate pass and their n-gram overlap with the eval sets.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

_CHECKER: Any = None
_CHUNK_CFG: dict[str, Any] = {}


UTF8_BOM = b"\xef\xbb\xbf"


def line_spans(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Start and end offsets of every line (the end excludes the newline and one trailing CR), as
    ``data.split(b"\\n")`` would cut them, without a final empty piece after a closing newline. A UTF-8 byte order
    mark at the start of the file is left out of the first line."""
    buf = np.frombuffer(data, dtype=np.uint8)
    nl = np.flatnonzero(buf == 10)
    if len(data) and data[-1:] != b"\n":
        nl = np.r_[nl, len(data)]
    starts = np.r_[np.int64(0), nl[:-1] + 1].astype(np.int64) if len(nl) else np.zeros(0, np.int64)
    if len(starts) and data.startswith(UTF8_BOM):  # editors on Windows start files with one: not part of row 1
        starts[0] = len(UTF8_BOM)
    ends = nl.astype(np.int64)
    has_cr = (ends > starts) & (buf[np.maximum(ends - 1, 0)] == 13) if len(ends) else np.zeros(0, bool)
    return starts, ends - has_cr


def split_block(block: bytes) -> list[bytes]:
    """The lines of a block of whole lines (same cuts as ``line_spans``)."""
    if not block:
        return []
    lines = block.split(b"\n")
    if block.endswith(b"\n"):
        lines.pop()
    if b"\r" in block:
        lines = [ln[:-1] if ln.endswith(b"\r") else ln for ln in lines]
    return lines


def init_worker(cfg: dict[str, Any], chunk_cfg: dict[str, Any]) -> None:
    """Per worker: the row checker, plus what the chunk step needs (shingle scheme, the eval n-gram reference)."""
    global _CHECKER, _CHUNK_CFG
    from specialize.data.gates import GateConfig, RowChecker

    _CHECKER = RowChecker(GateConfig(**cfg))
    _CHUNK_CFG = chunk_cfg


def check_span(path: str, start: int, length: int) -> dict[str, Any]:
    """``check_block`` on a byte range of a file, with the range's CRC-32 (the caller checks that the file it
    read itself holds the same bytes)."""
    with open(path, "rb") as fh:
        fh.seek(start)
        block = fh.read(length)
    return {**check_block(block), "crc": zlib.crc32(block)}


def check_block(block: bytes) -> dict[str, Any]:
    """Per-row gates for one block of lines; returns compact columns (no row text) plus the inputs' shingles."""
    from specialize.data.dedupe import ngram_share, partner_share
    from specialize.data.normalize import shingle_table
    from specialize.data.wordtable import sequence_hashes, unique_ratio

    checks = _CHECKER.check_lines(split_block(block))
    fail, table = checks.fail, checks.words
    ratio = unique_ratio(table)
    lens = np.diff(table.offsets)
    min_ratio = _CHECKER.cfg.min_unique_word_ratio
    for k in np.nonzero((lens >= 12) & (ratio < min_ratio))[0].tolist():
        fail[k] = ("trivial", "repetitive", {"unique_word_ratio": round(float(ratio[k]), 3)})
    in_hash = sequence_hashes(table)
    # row-local work done here, in the worker: the similarity gates compare normalised words
    shingles = shingle_table(checks.norm_words, _CHUNK_CFG["shingles"])
    share = match = None
    if _CHUNK_CFG.get("ref_sorted") is not None:
        grams = checks.norm_words.kgrams(_CHUNK_CFG["leak_ngram"])
        share, match = ngram_share(grams, _CHUNK_CFG["ref_sorted"], _CHUNK_CFG["ref_owner"])
        # a high share against all eval rows together is only a candidate: measure it against each eval row
        cand = np.flatnonzero(share >= _CHUNK_CFG["leak_ngram_share"])
        if len(cand):
            share[cand], match[cand] = partner_share(grams, _CHUNK_CFG["ref_sorted"], _CHUNK_CFG["ref_owner"], cand)
    out_hash = checks.output_hash
    with np.errstate(over="ignore"):
        row_hash = in_hash ^ (out_hash * np.uint64(0x9E3779B97F4A7C15) + np.uint64(1))
    return {"fail": fail, "row_hash": row_hash, "input_hash": in_hash, "output_hash": out_hash,
            "cat": checks.category, "diff": checks.difficulty, "flat": shingles.flat, "offsets": shingles.offsets,
            "num_flat": checks.numbers.flat, "num_offsets": checks.numbers.offsets, "share": share, "match": match}
