"""Reading chat-format JSONL (``{id, messages, meta}`` per line) for the tools that score or show rows.

``iter_chat_rows`` walks a file once and hands every non-blank line back either parsed, with the index of its
last assistant message, or as a problem with a reason; callers apply their own rule for what a usable row is,
so nothing is dropped without a reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from specialize.runtime.jsonl import iter_lines


@dataclass
class ChatLine:
    lineno: int
    row: dict[str, Any] | None = None            # the parsed object (None when the line is not a JSON object)
    messages: list[dict[str, Any]] = field(default_factory=list)  # its dict messages, in order
    last_assistant: int | None = None            # index of the last assistant message, None when there is none
    problem: str | None = None                   # why the line cannot be used at all (not JSON, no messages)

    @property
    def row_id(self) -> Any:
        return self.row.get("id") if isinstance(self.row, dict) else None


def iter_chat_rows(path: Path) -> Iterator[ChatLine]:
    for line in iter_lines(path):
        lineno, row = line.lineno, line.obj
        if line.error:
            yield ChatLine(lineno, problem=line.error)
            continue
        msgs = row.get("messages") if isinstance(row, dict) else None
        if not isinstance(msgs, list) or not msgs:
            yield ChatLine(lineno, row=row if isinstance(row, dict) else None, problem="no 'messages' list")
            continue
        msgs = [m for m in msgs if isinstance(m, dict)]
        last = max((i for i, m in enumerate(msgs) if m.get("role") == "assistant"), default=None)
        yield ChatLine(lineno, row=row, messages=msgs, last_assistant=last)
