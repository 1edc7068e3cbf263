"""Row formats: detect and check the four JSONL shapes, pull out input/output text, convert and render.

Shapes (one JSON object per line):

* ``chat`` — ``{"messages": [{"role", "content"}, ...], "meta": {...}, "provenance": {...}}``; the canonical
  shape the rest of the project reads. The last message is the assistant's answer.
* ``tool_call`` — a chat row whose assistant answer is a tool call: either OpenAI-style ``tool_calls`` on the
  last message, or content that is a JSON object with ``tool``/``name`` and ``arguments``.
* ``instruction`` — ``{"instruction", "input"?, "output"}``.
* ``preference`` — ``{"prompt", "chosen", "rejected"}`` (each a string or a list of messages).

Only the standard library and specialize.runtime here: heavy imports (``datasets``, ``transformers``) happen inside the helpers
that need them.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Iterable, Iterator

from specialize.runtime.errors import InvalidInput, NotFound
from specialize.runtime.workspace import open_write

FORMATS = ("chat", "tool_call", "instruction", "preference")
ROLES = {"system", "user", "assistant", "tool", "developer"}


def detect_format(row: Any) -> str | None:
    """The row's format name, or None when it matches none of the four shapes."""
    if not isinstance(row, dict):
        return None
    if "messages" in row:
        msgs = row["messages"]
        if isinstance(msgs, list) and msgs and isinstance(msgs[-1], dict):
            last = msgs[-1]
            if last.get("tool_calls"):
                return "tool_call"
            content = last.get("content")
            if isinstance(content, str) and '"arguments"' in content and content.lstrip().startswith("{"):
                try:
                    obj = json.loads(content)
                except ValueError:
                    obj = None
                if isinstance(obj, dict) and "arguments" in obj and ("tool" in obj or "name" in obj):
                    return "tool_call"
        return "chat"
    if "chosen" in row and "rejected" in row:
        return "preference"
    if "instruction" in row and "output" in row:
        return "instruction"
    return None


def _check_messages(msgs: Any, *, need_assistant_last: bool = True) -> str | None:
    if not isinstance(msgs, list) or not msgs:
        return "messages_not_a_list"
    for i, m in enumerate(msgs):
        if not isinstance(m, dict):
            return f"message_{i}_not_an_object"
        role = m.get("role")
        if not isinstance(role, str) or role not in ROLES:  # a list or dict role is bad, not a crash
            return f"message_{i}_bad_role"
        content = m.get("content")
        if content is None and m.get("tool_calls"):
            continue
        if not isinstance(content, str):
            return f"message_{i}_content_not_a_string"
        if not content.strip():
            return f"message_{i}_empty_content"
    if not any(m.get("role") == "user" for m in msgs):
        return "no_user_message"
    if need_assistant_last and msgs[-1].get("role") != "assistant":
        return "last_message_not_assistant"
    return None


def _check_side(value: Any, name: str) -> str | None:
    if isinstance(value, str):
        return None if value.strip() else f"{name}_empty"
    if isinstance(value, list):
        problem = _check_messages(value, need_assistant_last=False)
        return f"{name}_{problem}" if problem else None
    return f"{name}_not_text_or_messages"


def check_format(row: Any, expected: str | None = None) -> tuple[str | None, str | None]:
    """``(format, problem)``: the detected format and why the row is malformed (None when it is fine)."""
    fmt = detect_format(row)
    if fmt is None:
        return None, "unknown_format"
    if expected and expected != fmt and not (expected == "chat" and fmt == "tool_call"):
        return fmt, f"expected_{expected}_got_{fmt}"
    if fmt in ("chat", "tool_call"):
        problem = _check_messages(row["messages"])
        if problem is None and fmt == "tool_call":
            problem = _check_tool_call(row["messages"][-1])
        return fmt, problem
    if fmt == "instruction":
        for key in ("instruction", "output"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                return fmt, f"{key}_missing_or_empty"
        if "input" in row and not isinstance(row["input"], str):
            return fmt, "input_not_a_string"
        return fmt, None
    for key in ("prompt", "chosen", "rejected"):
        if key not in row:
            return fmt, f"{key}_missing"
        problem = _check_side(row[key], key)
        if problem:
            return fmt, problem
    if _side_text(row["chosen"]) == _side_text(row["rejected"]):
        return fmt, "chosen_equals_rejected"
    return fmt, None


def chat_parts(row: dict[str, Any]) -> tuple[str, str, list[str]] | None:
    """The common case in one pass: for a well-formed chat row (no tool call, every message a dict with a known
    role and non-blank string content, a user turn, the assistant last) return ``(input_text, output_text,
    system texts)`` exactly as ``check_format``, ``input_text`` and ``output_text`` would; for anything else
    None, and the caller runs those general checks."""
    msgs = row.get("messages")
    if type(msgs) is not list or not msgs:
        return None
    last = msgs[-1]
    if type(last) is not dict or last.get("tool_calls"):
        return None
    out = last.get("content")
    if type(out) is not str or '"arguments"' in out:
        return None
    inputs: list[str] = []
    systems: list[str] = []
    has_user = False
    role = None
    for m in msgs:
        if type(m) is not dict:
            return None
        role, content = m.get("role"), m.get("content")
        if type(content) is not str or not content or content.isspace():
            return None
        if role == "user":
            has_user = True
            inputs.append(content)
        elif role == "tool":
            inputs.append(content)
        elif role == "system":
            systems.append(content)
        elif role != "assistant" and role != "developer":
            return None
    if not has_user or role != "assistant":
        return None
    return "\n".join(inputs), out, systems


def _check_tool_call(msg: dict[str, Any]) -> str | None:
    calls = msg.get("tool_calls")
    if calls:
        for call in calls if isinstance(calls, list) else [calls]:
            fn = call.get("function") if isinstance(call, dict) else None
            if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                return "tool_call_without_name"
            args = fn.get("arguments")
            if isinstance(args, str):
                try:
                    args = json.loads(args)
                except ValueError:
                    return "tool_call_arguments_not_json"
            if not isinstance(args, dict):
                return "tool_call_arguments_not_an_object"
        return None
    obj = json.loads(msg["content"])
    if not isinstance(obj.get("tool", obj.get("name")), str):
        return "tool_call_without_name"
    if not isinstance(obj.get("arguments"), dict):
        return "tool_call_arguments_not_an_object"
    return None


def _side_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(str(m.get("content") or "") for m in value if isinstance(m, dict))
    return ""


def input_text(row: dict[str, Any], fmt: str | None = None) -> str:
    """What the model reads (user turns; no system prompt, which is shared by every row)."""
    fmt = fmt or detect_format(row)
    if fmt in ("chat", "tool_call"):
        if not isinstance(row["messages"], list):
            return ""
        return "\n".join(m.get("content") or "" for m in row["messages"][:-1]
                         if isinstance(m, dict) and m.get("role") in ("user", "tool"))
    if fmt == "instruction":
        return f"{row.get('instruction', '')}\n{row.get('input', '')}".strip()
    if fmt == "preference":
        prompt = row.get("prompt")
        if isinstance(prompt, list):
            return "\n".join(m.get("content") or "" for m in prompt if isinstance(m, dict) and m.get("role") != "system")
        return _side_text(prompt)
    return ""


def output_text(row: dict[str, Any], fmt: str | None = None) -> str:
    """What the model should write (the assistant answer; for preference pairs the chosen side)."""
    fmt = fmt or detect_format(row)
    if fmt in ("chat", "tool_call"):
        last = row["messages"][-1]
        if last.get("tool_calls"):
            return json.dumps(last["tool_calls"], ensure_ascii=False, sort_keys=True)
        return last.get("content") or ""
    if fmt == "instruction":
        return row.get("output", "")
    if fmt == "preference":
        return _side_text(row.get("chosen"))
    return ""


def to_chat(row: dict[str, Any], system_prompt: str | None = None) -> dict[str, Any]:
    """Convert an instruction row (or pass a chat row through) to the canonical chat shape."""
    fmt = detect_format(row)
    if fmt in ("chat", "tool_call"):
        return row
    if fmt != "instruction":
        raise ValueError(f"cannot convert a {fmt} row to chat")
    user = row["instruction"] if not row.get("input") else f"{row['instruction']}\n\n{row['input']}"
    msgs = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + [
        {"role": "user", "content": user}, {"role": "assistant", "content": row["output"]}]
    out = {"messages": msgs}
    for key in ("id", "meta", "provenance"):
        if key in row:
            out[key] = row[key]
    return out


_LINE_BREAKERS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}


def dumps_line(obj: Any) -> str:
    """One JSONL line: UTF-8 text kept readable, but the characters some readers treat as line breaks
    (U+0085, U+2028, U+2029) escaped, so every reader sees exactly one row per line."""
    text = json.dumps(obj, ensure_ascii=False)
    if any(c in text for c in _LINE_BREAKERS):
        for c, esc in _LINE_BREAKERS.items():
            text = text.replace(c, esc)
    return text


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Parsed rows of a JSONL file, skipping blank and unparsable lines (use validate_rows to see those)."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.strip():
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if isinstance(obj, dict):
                    yield obj


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open_write(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(dumps_line(row) + "\n")
            n += 1
    return n


def to_hf_dataset(path: Path, *, keep_meta: bool = True) -> Any:
    """Load a JSONL file of any of the four formats as a Hugging Face ``datasets.Dataset``.

    ``meta`` and ``provenance`` are kept as JSON strings (their keys vary from row to row, which Arrow
    cannot hold as one struct type); training code needs ``messages`` or the preference columns.
    """
    from datasets import Dataset

    rows = []
    for row in iter_jsonl(path):
        out: dict[str, Any] = {}
        fmt = detect_format(row)
        if fmt in ("chat", "tool_call"):
            out["messages"] = [{"role": m.get("role"), "content": m.get("content") or
                                json.dumps(m.get("tool_calls"), ensure_ascii=False)} for m in row["messages"]]
        elif fmt == "instruction":
            out.update(instruction=row["instruction"], input=row.get("input", ""), output=row["output"])
        elif fmt == "preference":
            for key in ("prompt", "chosen", "rejected"):
                out[key] = row[key]
        else:
            continue
        if keep_meta:
            out["meta"] = json.dumps(row.get("meta", {}), ensure_ascii=False)
            out["provenance"] = json.dumps(row.get("provenance", {}), ensure_ascii=False)
        rows.append(out)
    return Dataset.from_list(rows)


def render_chat(row: dict[str, Any], tokenizer: Any, *, add_generation_prompt: bool = False,
                prompt_only: bool = False) -> str:
    """Render a chat row with a tokenizer's chat template (the exact text the model trains or runs on).

    ``prompt_only`` drops the assistant answer and adds the generation prompt (what inference sees).
    """
    msgs = to_chat(row)["messages"]
    if prompt_only:
        msgs, add_generation_prompt = msgs[:-1], True
    return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=add_generation_prompt)


_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]{0,95}(/[A-Za-z0-9][\w.-]{0,95})?")
HUB_PROBE_SECONDS = 3.0


def _hub_reachable(timeout: float = HUB_PROBE_SECONDS) -> bool:
    """Whether the Hugging Face hub answers a TCP connection within ``timeout`` seconds (name look-up included)."""
    import socket
    import threading
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co").hostname or "huggingface.co"
    ok: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            ok.append(True)
        except OSError:
            pass

    t = threading.Thread(target=probe, daemon=True)  # the name look-up itself has no timeout of its own
    t.start()
    t.join(timeout + 0.5)
    return bool(ok)


def load_tokenizer(name_or_path: str, *, arg: str = "tokenizer") -> Any:
    """A transformers tokenizer from a local folder or hub id (imported lazily).

    A folder is loaded without any network access. A hub id is taken from the local cache when it is there;
    otherwise the hub is asked only when it answers within a few seconds, so a machine without network gets a
    clear error at once instead of a long chain of retries.
    """
    from transformers import AutoTokenizer

    if os.path.isdir(name_or_path):
        try:
            return AutoTokenizer.from_pretrained(name_or_path, local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - transformers raises many kinds here
            raise InvalidInput(f"Argument '{arg}': the folder {name_or_path} holds no tokenizer transformers can "
                               f"load ({type(exc).__name__}: {str(exc)[:200]}).",
                               fix="Point it at a folder with tokenizer.json or tokenizer_config.json.") from exc
    if not _HUB_ID.fullmatch(name_or_path):
        raise InvalidInput(f"Argument '{arg}' ({name_or_path[:80]!r}) is neither an existing folder nor a hub id.",
                           fix="Pass a tokenizer folder inside the workspace, or a hub id such as 'org/name'.")
    try:
        return AutoTokenizer.from_pretrained(name_or_path, local_files_only=True)
    except Exception:  # noqa: BLE001 - not in the local cache: try the hub below
        pass
    if not _hub_reachable():
        raise NotFound(f"Argument '{arg}': '{name_or_path}' is not a folder in the workspace, not in the local "
                       "Hugging Face cache, and the hub cannot be reached from here.",
                       fix="Pass the path of a tokenizer folder inside the workspace (relative paths are taken "
                           "from its root), or download the tokenizer where there is network.")
    try:
        return AutoTokenizer.from_pretrained(name_or_path)
    except Exception as exc:  # noqa: BLE001
        raise NotFound(f"Argument '{arg}': the hub has no tokenizer '{name_or_path}' that could be loaded "
                       f"({type(exc).__name__}: {str(exc)[:200]}).", fix="Check the hub id or pass a local folder.") \
            from exc
