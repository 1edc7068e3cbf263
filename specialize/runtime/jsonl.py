"""One way to walk a JSONL file line by line, for every reader that must account for each line.

``iter_lines`` hands back every non-blank line with its 1-based number: parsed, or with the reason it could not be
(``not valid JSON: ...``). A leading byte order mark is dropped (``utf-8-sig``) and bytes that are not UTF-8 are
replaced rather than stopping the read, so one bad line is reported as that line, never as a crash of the file.
Callers decide what a usable row is and report the rest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator


@dataclass(frozen=True)
class JsonLine:
    lineno: int
    raw: str                  # the line as read, without its newline
    obj: Any = None           # the parsed value (any JSON type); None when ``error`` is set
    error: str | None = None  # why the line is not JSON


def iter_lines(path: Path | str) -> Iterator[JsonLine]:
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            raw = line.rstrip("\n")
            try:
                yield JsonLine(lineno, raw, json.loads(line))
            except json.JSONDecodeError as exc:
                yield JsonLine(lineno, raw, error=f"not valid JSON: {exc.msg}")
