"""Per-row quality gates: each is a named gate with reason codes, applied to one raw JSONL line at a time.

Gate order (the first failure decides the row's gate):

``json``      decoding and parsing: ``not_utf8``, ``binary``, ``line_too_large``, ``invalid_json``, ``not_an_object``
``format``    the row's shape (chat / tool_call / instruction / preference): ``unknown_format``, ``message_0_bad_role``...
``contract``  the assistant output against the output contract: ``output_not_json``, ``prose_around_json``,
              ``schema_violation``, ``enum_violation``
``leak``      generation instructions leaked into the row: ``leaked_instructions``
``trivial``   ``too_short``, ``repetitive``, ``template_like``
``length``    ``too_long`` (tokens by the target tokenizer when given, else the estimate in ``estimate_tokens``)

Cross-row gates (exact and near duplicates, label consistency, eval leakage) live in ``tools/validate.py``.
Every function here is pure and picklable so chunks can run in worker processes.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from specialize.formats import check_format, input_text, output_text

LEAK_ANYWHERE = re.compile(
    r"\b(teacher model|the teacher|the rubric|scoring rubric|hidden rules?|generation prompt|this prompt|"
    r"output contract|synthetic (?:data|row|rows|example|examples)|training (?:data|example|row)s?|"
    r"self-check|negative constraints?|required edge cases?|jsonl rows?)\b",
    re.IGNORECASE)
LEAK_IN_OUTPUT = re.compile(
    r"\b(as an ai(?: language)? model|system prompt|i (?:was|have been) (?:told|instructed)|"
    r"according to (?:my|the) instructions|per the instructions)\b", re.IGNORECASE)
# every leak pattern contains one of these substrings: rows without any skip the regexes
_LEAK_KEYS = ("teacher", "rubric", "hidden rule", "prompt", "contract", "synthetic", "training", "self-check",
              "constraint", "edge case", "jsonl", "as an ai", "instruct", "told")
TEMPLATE_LIKE = re.compile(
    r"(\{\{.*?\}\}|\{[A-Z_]{3,}\}|\[(?:INSERT|PLACEHOLDER|YOUR|NAME|CUSTOMER)[^\]]*\]|<(?:INSERT|PLACEHOLDER)[^>]*>|"
    r"lorem ipsum|\bTODO\b|\bexample (?:input|ticket|text) here\b)", re.IGNORECASE)


@dataclass
class GateConfig:
    expected_format: str | None = None
    schema: dict[str, Any] | None = None
    output_is_json: bool = False
    min_input_chars: int = 8
    min_output_chars: int = 1
    min_unique_word_ratio: float = 0.25
    max_tokens: int = 4096
    max_line_bytes: int = 1_000_000
    tokenizer: str | None = None
    extra_leak_phrases: list[str] = field(default_factory=list)


@dataclass
class RowInfo:
    """What the cross-row gates need from one line (kept small: no row text survives a worker)."""

    gate: str | None = None
    reason: str | None = None
    details: dict[str, Any] | None = None
    fmt: str | None = None
    tokens: list[str] = field(default_factory=list)
    output_hash: int = 0
    category: str | None = None
    difficulty: str | None = None


def estimate_tokens(text: str) -> int:
    """Tokens without a tokenizer: ASCII characters / 4 plus one per non-ASCII character (CJK and emoji cost
    about a token each in common BPE vocabularies; Latin text averages near four characters a token)."""
    n_ascii = len(text.encode("ascii", "ignore"))
    return (n_ascii + 3) // 4 + (len(text) - n_ascii)


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


class RowChecker:
    """Applies the per-row gates with one compiled schema validator and, optionally, one tokenizer."""

    def __init__(self, cfg: GateConfig) -> None:
        self.cfg = cfg
        self.validator = None
        if cfg.schema is not None:
            from jsonschema import Draft202012Validator

            self.validator = Draft202012Validator(cfg.schema)
        self.extra_leaks = [p.lower() for p in cfg.extra_leak_phrases if p.strip()]
        self._tok = None
        if cfg.tokenizer:
            from specialize.formats import load_tokenizer

            self._tok = load_tokenizer(cfg.tokenizer)

    def count_tokens(self, text: str) -> int:
        if self._tok is not None:
            return len(self._tok(text, add_special_tokens=False)["input_ids"])
        return estimate_tokens(text)

    def check(self, raw: bytes) -> RowInfo:
        cfg = self.cfg
        if len(raw) > cfg.max_line_bytes:
            return RowInfo("json", "line_too_large", {"bytes": len(raw), "max_line_bytes": cfg.max_line_bytes})
        if b"\x00" in raw:
            return RowInfo("json", "binary", {"bytes": len(raw)})
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return RowInfo("json", "not_utf8", {"position": exc.start})
        try:
            row = json.loads(text)
        except (ValueError, RecursionError) as exc:
            return RowInfo("json", "invalid_json", {"error": str(exc)[:200]})
        if not isinstance(row, dict):
            return RowInfo("json", "not_an_object", {"type": type(row).__name__})
        fmt, problem = check_format(row, cfg.expected_format)
        if problem:
            return RowInfo("format", problem, {"format": fmt}, fmt=fmt)
        inp, out = input_text(row, fmt), output_text(row, fmt)
        low_in, low_out = inp.lower(), out.lower()
        toks = low_in.split()  # one tokenisation serves the hashes, shingles and n-grams
        info = RowInfo(fmt=fmt, tokens=toks)
        meta = row.get("meta")
        if isinstance(meta, dict):
            info.category = _label(meta.get("category"))
            info.difficulty = _label(meta.get("difficulty"))
        failure = (self._contract(out, fmt) or self._leak(low_in, low_out)
                   or self._trivial(inp, out, low_in, low_out))
        if failure is None:
            total = self.count_tokens(inp) + self.count_tokens(out) + self._other_tokens(row, fmt)
            if total > cfg.max_tokens:
                failure = ("length", "too_long", {"tokens": total, "max_tokens": cfg.max_tokens,
                                                   "counted_by": cfg.tokenizer or "estimate"})
        if failure:
            info.gate, info.reason, info.details = failure
            info.tokens = []
            return info
        info.output_hash = _digest(" ".join(out.split()))
        return info

    def _other_tokens(self, row: dict[str, Any], fmt: str | None) -> int:
        if fmt in ("chat", "tool_call"):
            return sum(self.count_tokens(m.get("content") or "") for m in row["messages"]
                       if isinstance(m, dict) and m.get("role") == "system")
        return 0

    def _contract(self, out: str, fmt: str | None) -> tuple[str, str, dict[str, Any]] | None:
        if not (self.cfg.output_is_json or self.validator is not None) or fmt == "tool_call" and self.validator is None:
            return None
        stripped = out.strip()
        try:
            obj = json.loads(stripped)
        except ValueError:
            start = stripped.find("{")
            if start > 0 or (start == 0 and stripped.rfind("}") < len(stripped) - 1):
                try:
                    json.JSONDecoder().raw_decode(stripped[start:])
                    return ("contract", "prose_around_json", {"output_head": stripped[:120]})
                except ValueError:
                    pass
            return ("contract", "output_not_json", {"output_head": stripped[:120]})
        if self.validator is not None:
            errors = sorted(self.validator.iter_errors(obj), key=lambda e: list(e.path))
            if errors:
                err = errors[0]
                reason = "enum_violation" if err.validator == "enum" else "schema_violation"
                return ("contract", reason, {"path": "/".join(str(p) for p in err.absolute_path),
                                             "error": err.message[:200], "errors": len(errors)})
        return None

    def _leak(self, low_in: str, low_out: str) -> tuple[str, str, dict[str, Any]] | None:
        if not self.extra_leaks:
            both = low_out + "\n" + low_in
            if not any(k in both for k in _LEAK_KEYS):  # one cheap screen for the common, clean row
                return None
        for where, low, patterns in (("output", low_out, (LEAK_ANYWHERE, LEAK_IN_OUTPUT)),
                                     ("input", low_in, (LEAK_ANYWHERE,))):
            if any(k in low for k in _LEAK_KEYS):  # cheap substring screen before the regexes
                for pat in patterns:
                    m = pat.search(low)
                    if m:
                        return ("leak", "leaked_instructions", {"where": where, "match": m.group(0)})
            for phrase in self.extra_leaks:
                if phrase in low:
                    return ("leak", "leaked_instructions", {"where": where, "match": phrase[:80]})
        return None

    def _trivial(self, inp: str, out: str, low_in: str, low_out: str) -> tuple[str, str, dict[str, Any]] | None:
        """Too short, a long run of one character, or template placeholders. (Repeated words are checked for
        whole chunks at once: ``specialize.dedupe.unique_ratio``.)"""
        cfg = self.cfg
        n_in, n_out = len(inp.strip()), len(out.strip())
        if n_in < cfg.min_input_chars or n_out < cfg.min_output_chars:
            return ("trivial", "too_short", {"input_chars": n_in, "output_chars": n_out})
        longest = max(map(len, inp.split()), default=0)
        if longest >= 30 and re.search(r"(\S)\1{29,}", inp):
            return ("trivial", "repetitive", {"detail": "a character repeated 30+ times"})
        for text, low in ((inp, low_in), (out, low_out)):
            if "{" in text or "[" in text or "<" in text or "lorem" in low or "todo" in low or " here" in low:
                m = TEMPLATE_LIKE.search(text)
                if m:
                    return ("trivial", "template_like", {"match": m.group(0)[:80]})
        return None


def _label(value: Any) -> str | None:
    if value is None:
        return None
    return str(value)[:100]
