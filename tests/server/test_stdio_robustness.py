"""Every line sent to the real stdio server gets an answer (issue 14, item 6): a line that is not JSON gets
-32700, JSON that is not a JSON-RPC message and a request nested deeper than the parser allows get -32600 with
the request's id, and the server keeps serving afterwards."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from specialize.server.stdio import _top_level_id

from tests.helpers.raw_stdio import RawStdioServer


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def call(request_id, arguments: str) -> str:
    return ('{"jsonrpc": "2.0", "id": %s, "method": "tools/call", "params": {"name": "job_status", "arguments": %s}}'
            % (json.dumps(request_id), arguments))


@pytest.fixture()
def server(workspace):
    with RawStdioServer(workspace) as srv:
        yield srv


def test_every_bad_line_gets_a_json_rpc_error_and_the_server_keeps_serving(server):
    cases = [
        ("{not json", None, -32700),
        ('{"jsonrpc": "2.0", "id": 5, "method": "tools/ca', None, -32700),  # cut off mid-line
        ("[1, 2]", None, -32600),
        ('{"jsonrpc": "2.0", "id": 6, "method": 42}', 6, -32600),
        ('{"id": "s7", "method": "ping"}', "s7", -32600),  # no "jsonrpc" member
        (call(8, '{"job_id": %s}' % nested(200)), 8, -32600),  # the reported case
        (call("deep", '{"job_id": %s}' % nested(20_000)), "deep", -32600),  # too deep for json.loads as well
        (call(12, '{"job_id": "\\ud800"}'), 12, -32600),  # a lone surrogate escape: valid JSON, refused by pydantic
    ]
    for line, want_id, want_code in cases:
        server.send(line)
        got = server.reply()
        assert got is not None, f"no reply to {line[:60]!r}"
        assert got["id"] == want_id and got["error"]["code"] == want_code, (line[:60], got)
        assert got["error"]["message"]
    # a 128-level nesting decodes; the tool then refuses the argument by name
    server.send(call(9, '{"job_id": %s}' % nested(128)))
    got = server.reply()
    assert got["id"] == 9 and got["result"]["isError"] and "job_id" in got["result"]["content"][0]["text"]
    server.send(json.dumps({"jsonrpc": "2.0", "id": 10, "method": "tools/list"}))
    got = server.reply()
    assert got["id"] == 10 and any(t["name"] == "job_status" for t in got["result"]["tools"])
    # a malformed response (no "jsonrpc") is not a request: it is logged, not answered, so no ping-pong starts
    server.send('{"id": 3, "result": {}}')
    server.send(json.dumps({"jsonrpc": "2.0", "id": 11, "method": "ping"}))
    assert server.reply() == {"jsonrpc": "2.0", "id": 11, "result": {}}


@given(st.one_of(st.integers(-2**53, 2**53), st.text(max_size=20)), st.integers(0, 300),
       st.sampled_from(["before", "after"]))
def test_the_id_is_found_at_the_top_level_only(request_id, depth, where):
    inner = '{"id": "decoy", "x": "\\"id\\": 1"}'
    deep = "[" * depth + inner + "]" * depth
    members = [f'"id": {json.dumps(request_id)}', f'"params": {{"a": {deep}}}']
    if where == "after":
        members.reverse()
    assert _top_level_id("{" + ", ".join(members) + "}") == request_id
