"""Pull JSON objects out of model text: code fences, prose before/after, one object per line or a JSON array.

``extract_objects`` returns the objects it could parse and the fragments it could not, each with a reason, so
a caller can keep every piece of a teacher's answer (parsed rows or a rejected record with the raw text).
"""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.DOTALL)


def strip_fences(text: str) -> str:
    """The contents of the code fences when there are any, else the text itself."""
    blocks = _FENCE.findall(text)
    return "\n".join(blocks) if blocks else text


def extract_objects(text: str) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """``(objects, failures)``; failures are ``(fragment, reason)`` for brace-started text that would not parse."""
    body = strip_fences(text).strip()
    if body.startswith("["):
        try:
            arr = json.loads(body)
            if isinstance(arr, list):
                objs = [o for o in arr if isinstance(o, dict)]
                bad = [(json.dumps(o)[:2000], "array_item_not_an_object") for o in arr if not isinstance(o, dict)]
                return objs, bad
        except ValueError:
            pass
    decoder = json.JSONDecoder()
    objs: list[dict[str, Any]] = []
    bad: list[tuple[str, str]] = []
    i, n = 0, len(body)
    while i < n:
        start = body.find("{", i)
        if start < 0:
            break
        try:
            obj, end = decoder.raw_decode(body, start)
        except ValueError as exc:
            line_end = body.find("\n", start)
            line_end = n if line_end < 0 else line_end
            bad.append((body[start:line_end][:2000], f"invalid_json: {exc.msg}"))
            i = line_end + 1
            continue
        if isinstance(obj, dict):
            objs.append(obj)
        i = end
    return objs, bad


def first_object(text: str) -> dict[str, Any] | None:
    objs, _ = extract_objects(text)
    return objs[0] if objs else None
