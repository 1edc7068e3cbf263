"""Per-row quality gates: each is a named gate with reason codes, applied to the raw JSONL lines of one chunk.

Gate order (the first failure decides the row's gate):

``json``      decoding and parsing: ``empty_line``, ``line_too_large``, ``binary``, ``not_utf8``, ``invalid_json``,
              ``not_an_object``
``format``    the row's shape (chat / tool_call / instruction / preference): ``unknown_format``, ``message_0_bad_role``...
``contract``  the assistant output against the output contract: ``output_not_json``, ``prose_around_json``,
              ``schema_violation``, ``enum_violation``
``leak``      generation instructions leaked into the row: ``leaked_instructions``
``trivial``   ``too_short``, ``repetitive``, ``template_like``
``length``    ``too_long`` (tokens by the target tokenizer when given, else the estimate in ``estimate_tokens``)

Speed matters here (a million rows on two cores), so the work is split in two: a loop over the rows does what
needs the parsed row (parsing, shape, contract, lengths), while the cheap screens that decide whether a row
needs a closer look (leak phrases, long runs of one character) and the word hashing run once per chunk over
joined texts. A screen only ever picks rows for the exact per-row check, so verdicts do not depend on it.

Cross-row gates (exact and near duplicates, label consistency, eval leakage) live in ``tools/validate.py``.
Everything here is picklable so chunks can run in worker processes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from specialize.data.formats import chat_parts, check_format, input_text, output_text
from specialize.data.screens import Joined, PrefixTable
from specialize.data.normalize import normalized_tables
from specialize.data.wordtable import TokenTable, sequence_hashes

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
_LEAK_TABLE = PrefixTable(list(_LEAK_KEYS))  # the same keys, screened for a whole chunk at once
_CHAR_RUN = re.compile(r"(\S)\1{29,}")
# the texts TEMPLATE_LIKE may match contain one of these, or a "{" not followed by a quote (see _template_suspect)
_TEMPLATE_KEYS = ("[", "<", "lorem", "todo", " here")
_OPEN_BRACE = re.compile(r'\{(?!")')
Failure = tuple[str, str, dict[str, Any]]


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
class ChunkChecks:
    """What the cross-row gates need from one chunk (no row text): one entry per line."""

    fail: list[Failure | None]
    words: TokenTable  # lower-cased input words of the rows that passed (empty for the others)
    norm_words: TokenTable  # the same inputs' normalised words (specialize.data.normalize), for similarity
    numbers: TokenTable  # the facts of those inputs: numbers and names (normalize.fact_table; rows stating others differ)
    output_hash: np.ndarray  # whitespace-normalised output per passing row (0 for the others)
    category: list[str | None]
    difficulty: list[str | None]


def estimate_tokens(text: str) -> int:
    """Tokens without a tokenizer: ASCII characters / 4 plus one per non-ASCII character (CJK and emoji cost
    about a token each in common BPE vocabularies; Latin text averages near four characters a token)."""
    if text.isascii():
        return (len(text) + 3) // 4
    n_ascii = len(text.encode("ascii", "ignore"))
    return (n_ascii + 3) // 4 + (len(text) - n_ascii)


def parse_line(raw: bytes, max_line_bytes: int) -> tuple[Any, Failure | None]:
    """``(row, None)`` for a JSON object, else ``(None, json-gate failure)``.

    orjson handles the common line; anything it refuses goes through the standard library, which decides the
    verdict and its message exactly as before (it also accepts NaN, lone surrogates and huge integers)."""
    if len(raw) > max_line_bytes:
        return None, ("json", "line_too_large", {"bytes": len(raw), "max_line_bytes": max_line_bytes})
    if b"\x00" in raw:
        return None, ("json", "binary", {"bytes": len(raw)})
    try:
        row = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, ("json", "not_utf8", {"position": exc.start})
        try:
            row = json.loads(text)
        except (ValueError, RecursionError) as exc:
            return None, ("json", "invalid_json", {"error": str(exc)[:200]})
    if not isinstance(row, dict):
        return None, ("json", "not_an_object", {"type": type(row).__name__})
    return row, None


def _template_suspect(text: str, low: str) -> bool:
    """Could TEMPLATE_LIKE match? (A "{" only counts when something other than a quote follows one: JSON
    objects start every "{" with a key's quote, and both brace patterns need a non-quote after the brace.)"""
    return (("{" in text and text.count("{") != text.count('{"')) or "[" in text or "<" in text
            or "lorem" in low or "todo" in low or " here" in low)


class RowChecker:
    """Applies the per-row gates with one compiled schema validator and, optionally, one tokenizer."""

    def __init__(self, cfg: GateConfig) -> None:
        self.cfg = cfg
        self.validator = None
        if cfg.schema is not None:
            from jsonschema import Draft202012Validator

            self.validator = Draft202012Validator(cfg.schema)
        self.extra_leaks = [p.lower() for p in cfg.extra_leak_phrases if p.strip()]
        self._contract_memo: dict[str, Failure | None] = {}  # outputs repeat a lot (labels, small JSON)
        self._tok = None
        if cfg.tokenizer:
            from specialize.data.formats import load_tokenizer

            self._tok = load_tokenizer(cfg.tokenizer)

    def check_lines(self, lines: list[bytes]) -> ChunkChecks:
        cfg = self.cfg
        n = len(lines)
        fail: list[Failure | None] = [None] * n
        cats: list[str | None] = [None] * n
        diffs: list[str | None] = [None] * n
        fast = cfg.expected_format in (None, "chat")
        rows: list[tuple[int, str, str, list[str]]] = []  # (line, input, output, system prompts)
        loads, decode_error, max_bytes = orjson.loads, orjson.JSONDecodeError, cfg.max_line_bytes
        for k, raw in enumerate(lines):
            row = None
            if len(raw) <= max_bytes:  # the common case first: a JSON object orjson reads
                try:
                    row = loads(raw)
                except decode_error:  # also raw NULs and blank lines: the checks below name them
                    pass
            if type(row) is not dict:
                if not raw or raw.isspace():
                    fail[k] = ("json", "empty_line", {})
                    continue
                row, failure = parse_line(raw, max_bytes)
                if failure:
                    fail[k] = failure
                    continue
            parts = chat_parts(row) if fast else None
            if parts is not None:
                fmt: str | None = "chat"
                inp, out, system = parts
            else:
                fmt, problem = check_format(row, cfg.expected_format)
                if problem:
                    fail[k] = ("format", problem, {"format": fmt})
                    continue
                if fmt == "tool_call":  # its output re-serialises parsed values: read them exactly (huge ints)
                    row = json.loads(raw)
                inp, out = input_text(row, fmt), output_text(row, fmt)
                system = [m.get("content") or "" for m in row["messages"] if isinstance(m, dict)
                          and m.get("role") == "system"] if fmt in ("chat", "tool_call") else []
            meta = row.get("meta")
            if type(meta) is dict:
                cat, diff = meta.get("category"), meta.get("difficulty")
                cats[k] = cat[:100] if type(cat) is str else _label(cat, raw, "category")
                diffs[k] = diff[:100] if type(diff) is str else _label(diff, raw, "difficulty")
            if cfg.output_is_json or self.validator is not None:
                failure = self._contract(out, fmt)
                if failure:
                    fail[k] = failure
                    continue
            rows.append((k, inp, out, system))

        return self._screen_rows(rows, fail, cats, diffs)

    def _screen_rows(self, rows: list[tuple[int, str, str, list[str]]], fail: list[Failure | None],
                     cats: list[str | None], diffs: list[str | None]) -> ChunkChecks:
        """The leak, trivial and length gates for rows that parsed and have the right shape. Screens over the
        whole chunk pick the rows that might fail; only those get the exact per-row checks."""
        cfg = self.cfg
        ins, outs = [r[1] for r in rows], [r[2] for r in rows]
        low_in, low_out = [t.lower() for t in ins], [t.lower() for t in outs]
        words, longest = TokenTable.from_texts_with_lengths(low_in, lower=False)
        joined = (Joined(low_in), Joined(low_out))
        leaky = set().union(*(side.rows_with_prefixes(_LEAK_TABLE) | side.rows_with(self.extra_leaks)
                              for side in joined))
        odd = set(np.flatnonzero(longest >= 30).tolist())  # a long run of one character needs a long word
        for side in joined:
            odd |= side.rows_with(list(_TEMPLATE_KEYS)) | side.rows_matching(_OPEN_BRACE)
        odd.update(j for j, (a, b) in enumerate(zip(ins, outs))
                   if len(a.strip()) < cfg.min_input_chars or len(b.strip()) < cfg.min_output_chars)
        tokens = self._token_totals(ins, outs, [r[3] for r in rows])
        odd.update(j for j, t in enumerate(tokens) if t > cfg.max_tokens)
        failed: set[int] = set()
        for j in sorted(leaky | odd):
            k, inp, out = rows[j][:3]
            failure = self._leak(low_in[j], low_out[j]) if j in leaky else None
            failure = failure or self._trivial(inp, out, low_in[j], low_out[j], int(longest[j]))
            if failure is None and tokens[j] > cfg.max_tokens:
                failure = ("length", "too_long", {"tokens": tokens[j], "max_tokens": cfg.max_tokens,
                                                   "counted_by": cfg.tokenizer or "estimate"})
            if failure:
                fail[k] = failure
                failed.add(j)
        keep = np.asarray([j for j in range(len(rows)) if j not in failed], dtype=np.int64)
        line_of = np.asarray([rows[j][0] for j in keep.tolist()], dtype=np.int64)
        output_hash = np.zeros(len(fail), dtype=np.uint64)
        output_hash[line_of] = sequence_hashes(TokenTable.from_texts([outs[j] for j in keep.tolist()], lower=False))
        norm, nums = normalized_tables([ins[j] for j in keep.tolist()])
        return ChunkChecks(fail, words.take(keep).spread(line_of, len(fail)), norm.spread(line_of, len(fail)),
                           nums.spread(line_of, len(fail)), output_hash, cats, diffs)

    def _token_totals(self, ins: list[str], outs: list[str], systems: list[list[str]]) -> list[int]:
        """Tokens per row: input + output + system prompts (one batched call when a tokenizer is set)."""
        if self._tok is None:
            est = estimate_tokens
            return [est(a) + est(b) + (sum(map(est, s)) if s else 0) for a, b, s in zip(ins, outs, systems)]
        flat_sys = [t for s in systems for t in s]
        n_in, n_out, n_sys = ([len(ids) for ids in self._tok(texts, add_special_tokens=False)["input_ids"]]
                              if texts else [] for texts in (ins, outs, flat_sys))
        totals, pos = [], 0
        for a, b, s in zip(n_in, n_out, systems):
            totals.append(a + b + sum(n_sys[pos:pos + len(s)]))
            pos += len(s)
        return totals

    def _contract(self, out: str, fmt: str | None) -> Failure | None:
        if fmt == "tool_call" and self.validator is None:
            return None
        if out not in self._contract_memo:
            if len(self._contract_memo) >= 100_000:
                self._contract_memo.clear()
            self._contract_memo[out] = self._contract_uncached(out)
        got = self._contract_memo[out]
        return (got[0], got[1], dict(got[2])) if got else None

    def _contract_uncached(self, out: str) -> Failure | None:
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

    def _leak(self, low_in: str, low_out: str) -> Failure | None:
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

    def _trivial(self, inp: str, out: str, low_in: str, low_out: str, longest: int) -> Failure | None:
        """Too short, a long run of one character, or template placeholders. ``longest`` is the input's longest
        word in bytes (a run of 30 characters needs one that long). Repeated words are checked for whole chunks
        at once: ``specialize.data.dedupe.unique_ratio``."""
        cfg = self.cfg
        n_in, n_out = len(inp.strip()), len(out.strip())
        if n_in < cfg.min_input_chars or n_out < cfg.min_output_chars:
            return ("trivial", "too_short", {"input_chars": n_in, "output_chars": n_out})
        if longest >= 30 and max(map(len, inp.split()), default=0) >= 30 and _CHAR_RUN.search(inp):
            return ("trivial", "repetitive", {"detail": "a character repeated 30+ times"})
        for text, low in ((inp, low_in), (out, low_out)):
            if _template_suspect(text, low):
                m = TEMPLATE_LIKE.search(text)
                if m:
                    return ("trivial", "template_like", {"match": m.group(0)[:80]})
        return None


def _label(value: Any, raw: bytes, key: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and abs(value) >= 2 ** 63:  # orjson reads a huge integer as a float
        value = json.loads(raw)["meta"][key]
    return str(value)[:100]
