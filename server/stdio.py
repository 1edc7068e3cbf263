"""The stdio transport with an answer for every line.

The SDK's stdio reader turns a line it cannot decode into an exception on the read stream, and the server's
dispatcher drops such items after a debug log: a malformed JSON line, or a request nesting deeper than the
JSON parser's recursion limit (about 200 levels), then gets no reply at all and the client waits forever.
Over HTTP the same messages get a 400 with a JSON-RPC error.

``serve_stdio`` keeps the SDK's transport (it still owns file descriptors 0 and 1, so stray prints from
libraries cannot corrupt the wire) and puts a thin filter between it and the server: every undecodable item
becomes a JSON-RPC error written back at once. A line that is not JSON gets -32700 (id null); JSON that is not
a JSON-RPC message, or a request the SDK's parser refuses (too deep, a lone surrogate escape), gets -32600
with the request's own id whenever that id can be read from the line, so the caller's pending request ends
instead of timing out.
"""

from __future__ import annotations

import json
import logging
import re
from types import TracebackType
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp.types import INVALID_REQUEST, PARSE_ERROR, ErrorData, JSONRPCError
from pydantic import ValidationError

log = logging.getLogger(__name__)

# strings (with escapes), brackets and colons: enough to walk an object's top level without recursion
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:]')
_SHOWN = 120  # characters of a bad line echoed back in the error's data


def _top_level_id(line: str) -> str | int | None:
    """The ``id`` member of a JSON object held in ``line``, found without building nested values.

    A nesting too deep for any recursive parser must still yield its id, so the top level is walked with a
    flat tokenizer and only the id's own (scalar) value is decoded.
    """
    depth = 0
    key: str | None = None
    for match in _TOKEN.finditer(line):
        tok = match.group()
        if tok in "{[":
            depth += 1
        elif tok in "}]":
            depth -= 1
        elif tok == ":":
            if depth == 1 and key == "id":
                try:
                    value, _ = json.JSONDecoder().raw_decode(line[match.end():].lstrip())
                except ValueError:
                    return None
                return value if isinstance(value, (str, int)) and not isinstance(value, bool) else None
        elif depth == 1:
            try:
                key = json.loads(tok)
            except ValueError:
                key = None
            continue
        key = None
    return None


def _is_json(line: str) -> bool:
    """Whether Python's own parser (which accepts lone surrogate escapes) reads the line as JSON."""
    try:
        json.loads(line)
    except (ValueError, RecursionError):
        return False
    return True


def error_for(item: Exception) -> JSONRPCError | None:
    """The JSON-RPC error that answers an item the transport could not decode, or None for a stray response."""
    if not isinstance(item, ValidationError):
        return JSONRPCError(jsonrpc="2.0", id=None, error=ErrorData(
            code=PARSE_ERROR, message=f"Parse error: {type(item).__name__}: {str(item)[:_SHOWN]}"))
    first = item.errors()[0] if item.error_count() else {}
    raw: Any = first.get("input")
    if first.get("type") == "json_invalid":
        line = raw if isinstance(raw, str) else ""
        reason = str((first.get("ctx") or {}).get("error") or first.get("msg") or "invalid JSON")
        if "recursion limit" in reason or _is_json(line):
            # JSON the SDK's parser refuses (nesting past its limit, a lone surrogate escape): the request is
            # refused as such, under its own id, so the caller is not left waiting
            return JSONRPCError(jsonrpc="2.0", id=_top_level_id(line), error=ErrorData(
                code=INVALID_REQUEST,
                message=f"Invalid request: the server's JSON parser refuses this message ({reason}). Nesting is "
                        "limited to about 200 levels and strings must be valid Unicode (no lone surrogate "
                        "escapes); send flatter arguments of valid text."))
        return JSONRPCError(jsonrpc="2.0", id=None, error=ErrorData(
            code=PARSE_ERROR, message=f"Parse error: the line is not valid JSON ({reason}).",
            data={"line_start": line[:_SHOWN]}))
    # Valid JSON, but not a JSON-RPC message. The whole object is the input of a "missing member" error or of a
    # top-level type error (other errors carry only the offending member's value).
    errors = item.errors()
    raw = next((e["input"] for e in errors if len(e["loc"]) <= 1 or (e["type"] == "missing" and len(e["loc"]) == 2)),
               raw)
    request_id = None
    branch = "JSONRPCRequest"
    if isinstance(raw, dict):
        if "method" not in raw and ("result" in raw or "error" in raw):
            return None  # a malformed response to one of our requests: answering it could start a ping-pong
        candidate = raw.get("id")
        if isinstance(candidate, (str, int)) and not isinstance(candidate, bool):
            request_id = candidate
        elif "id" not in raw:
            branch = "JSONRPCNotification"
    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}"
                         for e in errors if len(e["loc"]) > 1 and e["loc"][0] == branch)
    return JSONRPCError(jsonrpc="2.0", id=request_id, error=ErrorData(
        code=INVALID_REQUEST,
        message=f"Invalid request: not a JSON-RPC 2.0 message ({problems or 'expected an object'}). Send an "
                'object with "jsonrpc": "2.0", a string "method" and, for a request, an "id".'))


class AnsweringReadStream:
    """A read stream that answers undecodable items itself and passes only real messages on."""

    def __init__(self, inner: Any, write_stream: Any) -> None:
        self._inner = inner
        self._write = write_stream

    @property
    def last_context(self) -> Any:
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> SessionMessage:
        while True:
            item = await self._inner.receive()
            if not isinstance(item, Exception):
                return item
            reply = error_for(item)
            if reply is None:
                log.warning("dropped a malformed JSON-RPC response from the client: %s", str(item)[:_SHOWN])
                continue
            log.warning("answered an undecodable line with JSON-RPC error %s", reply.error.code)
            await self._write.send(SessionMessage(reply))

    def __aiter__(self) -> AnsweringReadStream:
        return self

    async def __anext__(self) -> SessionMessage:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        await self._inner.aclose()

    def close(self) -> None:
        self._inner.close()

    async def __aenter__(self) -> AnsweringReadStream:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()


async def serve_stdio(server: MCPServer) -> None:
    """Serve ``server`` over stdin/stdout, answering malformed and over-deep lines with JSON-RPC errors."""
    lowlevel = getattr(server, "_lowlevel_server", None)
    if lowlevel is None:  # an SDK without the attribute: keep serving, without the filter
        log.warning("the MCP SDK's server layout changed; malformed stdio lines may go unanswered")
        await server.run_stdio_async()
        return
    async with stdio_server() as (read_stream, write_stream):
        await lowlevel.run(AnsweringReadStream(read_stream, write_stream), write_stream,
                           lowlevel.create_initialization_options())
