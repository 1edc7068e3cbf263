"""Training data: chat JSONL rows turned into what TRL's trainers take, every row accepted or rejected.

SFT rows are ``{"messages": [...], "meta": {...}}``. Each assistant turn becomes one prompt-completion example
(prompt = the messages before it, completion = that turn), so TRL masks the loss to the assistant's tokens
with ``completion_only_loss`` and any chat template works, with or without ``{% generation %}`` markers.
Preference rows are ``{"prompt": [...] | str, "chosen": ..., "rejected": ...}``; strings become a user or
assistant message so the chat template applies to them too. Rejected rows are written with their reason.

Examples come back in a canonical order (by a hash of their content), so the seeded shuffle of training sees
the same sequence whatever order the file holds its rows in: rows a concurrent teacher wrote in a different
order, or a resumed generation, train the same model from the same seed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from specialize.runtime.errors import InvalidInput
from specialize.runtime.jsonl import iter_lines

ROLES = {"system", "user", "assistant"}


def _read_jsonl(path: Path) -> list[tuple[int, Any, str | None]]:
    """(line number, the row or the raw line, why it cannot be used) per non-blank line."""
    return [(x.lineno, x.raw, x.error) if x.error else
            (x.lineno, x.obj, None if isinstance(x.obj, dict) else "row is not a JSON object") for x in iter_lines(path)]


def _check_messages(msgs: Any) -> str | None:
    if not isinstance(msgs, list) or not msgs:
        return "'messages' must be a non-empty list"
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            return f"message {i} needs a role in {sorted(ROLES)} and a string content"
    if not any(m["role"] == "assistant" for m in msgs):
        return "no assistant message to learn from"
    if msgs[0]["role"] == "assistant":
        return "the conversation starts with an assistant message (nothing to condition it on)"
    return None


def canonical_order(examples: list[dict]) -> list[dict]:
    """The examples sorted by the SHA-256 of their canonical JSON (ties, i.e. repeated rows, keep file order)."""
    def key(ex: dict) -> str:
        text = json.dumps(ex, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    return sorted(examples, key=key)


def sft_examples(path: Path, *, loss_on: str = "assistant") -> tuple[list[dict], list[dict], int]:
    """(examples, rejected rows with reasons, rows read). ``loss_on='all'`` keeps whole conversations."""
    examples, rejected, rows = [], [], 0
    for line_no, row, err in _read_jsonl(path):
        rows += 1
        if err is None:
            err = _check_messages(row.get("messages"))
        if err is not None:
            rejected.append({"line": line_no, "reason": err, "row": row})
            continue
        msgs = [{"role": m["role"], "content": m["content"]} for m in row["messages"]]
        if loss_on == "all":
            examples.append({"messages": msgs})
            continue
        for i, m in enumerate(msgs):
            if m["role"] == "assistant" and i > 0:
                examples.append({"prompt": msgs[:i], "completion": [m]})
    return canonical_order(examples), rejected, rows


def _as_messages(value: Any, role: str) -> list[dict] | None:
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    if isinstance(value, dict) and "role" in value:
        value = [value]
    if isinstance(value, list) and value and all(isinstance(m, dict) and m.get("role") in ROLES
                                                 and isinstance(m.get("content"), str) for m in value):
        return [{"role": m["role"], "content": m["content"]} for m in value]
    return None


def preference_examples(path: Path) -> tuple[list[dict], list[dict], int]:
    examples, rejected, rows = [], [], 0
    for line_no, row, err in _read_jsonl(path):
        rows += 1
        if err is None:
            missing = [k for k in ("prompt", "chosen", "rejected") if k not in row]
            err = f"missing {missing}" if missing else None
        if err is None:
            prompt = _as_messages(row["prompt"], "user")
            chosen = _as_messages(row["chosen"], "assistant")
            rej = _as_messages(row["rejected"], "assistant")
            if prompt is None or chosen is None or rej is None:
                err = "prompt/chosen/rejected must be strings or lists of {role, content} messages"
            elif chosen == rej:
                err = "chosen and rejected are identical"
        if err is not None:
            rejected.append({"line": line_no, "reason": err, "row": row})
            continue
        examples.append({"prompt": prompt, "chosen": chosen, "rejected": rej})
    return canonical_order(examples), rejected, rows


def require_examples(examples: list, rejected: list, rows: int, what: str, path: Path) -> None:
    if not examples:
        reasons = sorted({r["reason"] for r in rejected})[:3]
        raise InvalidInput(f"{what} {path} has no usable rows ({rows} read, {len(rejected)} rejected: {reasons}).",
                           fix="Train on validated chat JSONL: {\"messages\": [{\"role\": ..., \"content\": ...}]}.")


def write_rejected(rejected: list[dict], out: Path) -> None:
    if rejected:
        with open(out, "a", encoding="utf-8") as fh:
            for r in rejected:
                fh.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")
