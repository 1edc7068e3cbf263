"""The two output files of validate_rows, written from the input file's bytes and the per-line verdicts.

accepted.jsonl gets the accepted lines unchanged (runs of neighbouring lines go out as one slice). Each
rejected.jsonl line is the verdict (line, gate, reason, details) followed by the row exactly as the input file
has it, or, for a line that did not parse, the start of its text. Embedding the original bytes keeps every
value as written (huge integers, NaN, key order) and costs no re-serialisation.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from specialize.runtime.workspace import open_write

WRITE_BUFFER = 1 << 20  # few large writes: system calls are slow in some sandboxes
# characters some readers take for line breaks; inside a JSON line they can only sit in strings (escaped here)
# or, for CR, between tokens (where a space means the same)
_LINE_BREAKS = ((b"\r", b" "), (b"\xc2\x85", b"\\u0085"), (b"\xe2\x80\xa8", b"\\u2028"),
                (b"\xe2\x80\xa9", b"\\u2029"))


def rejected_record(head: dict[str, Any], line: bytes | None) -> bytes:
    """One rejected.jsonl line: ``head`` then, for a line that parsed, ``"row"`` with the line's own bytes."""
    try:
        rec = orjson.dumps(head)
    except TypeError:  # a lone surrogate in a detail: the standard library writes it as an escape
        rec = json.dumps(head).encode()
    if line is not None:
        rec = rec[:-1] + b',"row":' + line + b"}"
    for char, escaped in _LINE_BREAKS:
        if char in rec:
            rec = rec.replace(char, escaped)
    return rec + b"\n"


def write_accepted(path: Path, data: bytes, starts: np.ndarray, ends: np.ndarray, keep: np.ndarray) -> None:
    """Lines ``keep`` (ascending) of ``data``, each ending in a newline."""
    view = memoryview(data)
    with open_write(path, "wb", arg="out_dir", buffering=WRITE_BUFFER) as fh:
        if len(keep) == 0:
            return
        if b"\r" in data:  # some lines lost a CR: write them one by one
            for i in keep.tolist():
                fh.write(view[starts[i]:ends[i]])
                fh.write(b"\n")
            return
        cut = np.flatnonzero(np.diff(keep) != 1) + 1
        for a, b in zip(keep[np.r_[0, cut]].tolist(), keep[np.r_[cut - 1, len(keep) - 1]].tolist()):
            fh.write(view[starts[a]:ends[b]])
            fh.write(b"\n")


def write_rejected(path: Path, data: bytes, starts: np.ndarray, ends: np.ndarray, fail: list[Any],
                   rejected: np.ndarray) -> tuple[Counter[str], Counter[str], list[dict[str, Any]]]:
    """The rejected lines (ascending indices) in order; returns the counts per gate and per gate:reason, and the
    first 5 verdicts."""
    by_gate: Counter[str] = Counter()
    by_reason: Counter[str] = Counter()
    samples: list[dict[str, Any]] = []
    with open_write(path, "wb", arg="out_dir", buffering=WRITE_BUFFER) as fh:
        for i in rejected.tolist():
            gate, reason, details = fail[i]
            by_gate[gate] += 1
            by_reason[f"{gate}:{reason}"] += 1
            line = data[starts[i]:ends[i]]
            head: dict[str, Any] = {"line": i + 1, "gate": gate, "reason": reason, "details": details or {}}
            if gate == "json":
                head["raw"] = line[:2000].decode("utf-8", "replace")
            fh.write(rejected_record(head, None if gate == "json" else line))
            if len(samples) < 5:
                samples.append(head)
    return by_gate, by_reason, samples
