"""Few-shot examples for a baseline: k solved rows from a training file, shown as earlier chat turns.

The examples are taken in turn across the label's values (``specialize.data.sampling.take_in_turn``), so eight
shots on an eight-class task show each class once rather than the first class eight times. They must never
come from the eval set: a training file that shares a row id or an identical input with the eval rows is
refused, since a shot that is also a test item gives its answer away. What was shown (ids and a hash of the
turns) goes into the results' provenance, so a report can say exactly which examples a baseline saw.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from specialize.data.chatrows import iter_chat_rows
from specialize.data.sampling import take_in_turn
from specialize.runtime.errors import InvalidInput

Messages = list[dict[str, Any]]


def input_key(messages: Messages) -> str:
    """The conversation before the answer, with system messages left out, case and spacing normalised:
    two rows with the same key ask the same question."""
    parts = [" ".join(str(m.get("content", "")).split()).casefold() for m in messages if m.get("role") != "system"]
    return "\n".join(parts)


def _label(row: dict[str, Any], label_field: str | None) -> str:
    """The row's class: the label field of its JSON answer, else of its meta; the answer itself when the
    answer is a bare label; empty when there is no label field."""
    if not label_field:
        return ""
    try:
        answer = json.loads(row["answer"])
    except ValueError:
        answer = None
    if isinstance(answer, dict) and label_field in answer:
        return str(answer[label_field])
    meta = row.get("meta") or {}
    if label_field in meta:
        return str(meta[label_field])
    return row["answer"].strip()


def read_rows(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Usable training rows ``{id, turns, answer, meta}`` (turns = the messages before the last assistant
    message, system messages dropped) and the lines that could not be used, each with a reason."""
    rows: list[dict[str, Any]] = []
    unusable: list[dict[str, Any]] = []
    for cl in iter_chat_rows(path):
        if cl.problem and cl.problem.startswith("not JSON"):
            unusable.append({"line": cl.lineno, "reason": cl.problem})
            continue
        last = cl.last_assistant
        turns = [m for m in cl.messages[:last] if m.get("role") != "system"] if last else []
        if not turns:
            unusable.append({"line": cl.lineno, "id": cl.row_id,
                             "reason": "no user turn followed by an assistant answer"})
            continue
        rows.append({"id": str(cl.row.get("id", f"line-{cl.lineno}")), "turns": turns,
                     "answer": str(cl.messages[last].get("content", "")), "meta": cl.row.get("meta") or {}})
    return rows, unusable


def pick_shots(path: Path, k: int, *, label_field: str | None, eval_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """k examples from ``path`` as chat turns, with what provenance needs.

    ``eval_rows`` are the rows being scored (``id`` and ``prompt`` messages). Raises InvalidInput when the
    file overlaps them, or holds fewer than k usable rows."""
    rows, unusable = read_rows(path)
    eval_ids = {str(r["id"]) for r in eval_rows}
    eval_inputs = {input_key(r["prompt"]): str(r["id"]) for r in eval_rows}
    clashes = [f"{r['id']} (same id)" for r in rows if r["id"] in eval_ids]
    clashes += [f"{r['id']} (same input as {eval_inputs[key]})" for r in rows
                if (key := input_key(r["turns"])) in eval_inputs and r["id"] not in eval_ids]
    if clashes:
        shown = ", ".join(clashes[:5]) + (f" and {len(clashes) - 5} more" if len(clashes) > 5 else "")
        raise InvalidInput(f"The few-shot file {path.name} overlaps the eval set: {shown}. Shots taken from "
                           "the items being scored would hand the model their answers.",
                           fix="Take shots from the training split (validate_rows decontaminates it against "
                               "the eval sets), or remove those rows from the file.")
    if len(rows) < k:
        raise InvalidInput(f"{path.name} has {len(rows)} usable rows ({len(unusable)} unusable); {k} shots "
                           "were asked for.", fix="Lower few_shot_k or pass a larger training file.")
    picked = take_in_turn(rows, k, lambda r: _label(r, label_field))
    turns: Messages = []
    for r in picked:
        turns += [{"role": m.get("role", "user"), "content": m.get("content", "")} for m in r["turns"]]
        turns.append({"role": "assistant", "content": r["answer"]})
    digest = hashlib.sha256(json.dumps(turns, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return {"k": k, "ids": [r["id"] for r in picked], "labels": [_label(r, label_field) for r in picked],
            "turns": turns, "sha256": digest, "usable_rows": len(rows), "unusable_rows": unusable}


def with_shots(prompt: Messages, turns: Messages) -> Messages:
    """The prompt with the shot turns placed after its leading system messages and before the question."""
    if not turns:
        return prompt
    head = 0
    while head < len(prompt) and prompt[head].get("role") == "system":
        head += 1
    return [*prompt[:head], *turns, *prompt[head:]]
