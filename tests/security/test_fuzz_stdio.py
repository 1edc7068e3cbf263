"""Hypothesis-driven tool calls through the real stdio server (issue 14): one argument of a tool, or an unknown
one, gets a hostile value (wrong types, huge or path-like text, big numbers, nested structures, nesting past
the JSON parser's limit). Counted: unanswered requests, bare crashes ("Error executing tool" with no
explanation), validation errors that do not name the argument, and files that appear outside the workspace.
All must be zero; the counts are printed."""

from __future__ import annotations

import itertools
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from specialize.runtime.catalog import load_all
from tests.helpers.raw_stdio import RawStdioServer
from tests.security.test_path_attacks import base_arguments

SKIP = {"selftest_job"}  # starts a job from numbers alone: a fuzzed valid call would leave work running
SPECS = {name: spec for name, spec in sorted(load_all().items()) if name not in SKIP}

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(["../../etc/passwd", "/etc/passwd", "~", "~root/.ssh", "a\x00b", "x" * 5000, "NaN",
                     "Infinity", "builtin:../../x", "runs/../../x", "\ud800"]),
)
values = st.one_of(
    scalars,
    st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                     max_size=4), max_leaves=12),
    st.integers(100, 400).map(lambda depth: json.loads("[" * min(depth, 150) + "]" * min(depth, 150))
                              if depth <= 150 else {"__deep__": depth}),
)


@st.composite
def calls(draw):
    tool = draw(st.sampled_from(sorted(SPECS)))
    fields = sorted(SPECS[tool].params.model_fields)
    field = draw(st.sampled_from(fields + ["not_an_argument"]))
    return tool, field, draw(values)


@pytest.fixture(scope="module")
def stdio(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    ws, outside, home = root / "ws", root / "outside", root / "home"
    for folder in (ws, outside, home):
        folder.mkdir()
    (ws / "linkdir").symlink_to(outside)
    # the inputs base_arguments names exist (so a refusal names the fuzzed argument) but hold no rows, so a
    # fuzzed call that is valid after all ends quickly instead of starting real work
    (ws / "in.jsonl").write_text("")
    (ws / "adir").mkdir()
    with RawStdioServer(ws, env={"HOME": str(home), "SPECIALIZE_CACHE_DIR": str(root / "cache")}) as server:
        yield server, ws, outside, home
    from specialize.runtime import jobs  # whatever a fuzzed call started is stopped

    for folder in (ws / "runs").glob("*") if (ws / "runs").is_dir() else []:
        try:
            jobs.cancel(folder.name)
        except Exception:  # noqa: BLE001 - clean-up only
            pass


IDS = itertools.count(1)


def _encode(tool: str, args: dict, request_id: int) -> str:
    text = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
                       "params": {"name": tool, "arguments": args}})
    # a nesting deeper than the parser's limit: answered with -32600 and this request's id
    return re.sub(r'\{"__deep__": (\d+)\}', lambda m: "[" * int(m.group(1)) + "]" * int(m.group(1)), text)


def test_fuzzed_tool_calls_are_all_answered(stdio, capsys):
    server, ws, outside, home = stdio
    counts = {"calls": 0, "unanswered": 0, "bare_crash": 0, "unnamed_validation": 0, "escapes": 0}
    problems: list[tuple] = []

    @settings(max_examples=8, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(batch=st.lists(calls(), min_size=25, max_size=25))
    def fuzz(batch):
        for tool, field, value in batch:
            args = {**base_arguments(SPECS[tool].params), field: value}
            request_id = next(IDS)
            server.send(_encode(tool, args, request_id))
            counts["calls"] += 1
            reply = server.answer_to(request_id, timeout=60)
            if reply is None:
                counts["unanswered"] += 1
                problems.append((tool, field, repr(value)[:80], "no answer in 60 s"))
                continue
            result = reply.get("result") or {}
            text = " ".join(c.get("text", "") for c in result.get("content", []))
            if result.get("isError") and re.fullmatch(r"Error executing tool \S+", text.strip()):
                counts["bare_crash"] += 1  # the SDK's words for an exception nobody explained
                problems.append((tool, field, repr(value)[:80], text[:160]))
            elif result.get("isError") and "validation error" in text and field not in text:
                counts["unnamed_validation"] += 1
                problems.append((tool, field, repr(value)[:80], text[:160]))

    fuzz()
    counts["escapes"] = sum(1 for _ in outside.rglob("*")) + sum(1 for _ in home.rglob("*"))
    server.send(json.dumps({"jsonrpc": "2.0", "id": "alive", "method": "ping"}))
    assert server.answer_to("alive") == {"jsonrpc": "2.0", "id": "alive", "result": {}}
    with capsys.disabled():
        print(f"\nfuzzed calls through stdio: {counts}")
        for p in problems:
            print("  ", p)
    assert counts["calls"] >= 200
    assert counts["unanswered"] == counts["bare_crash"] == counts["unnamed_validation"] == 0, problems
    assert counts["escapes"] == 0
