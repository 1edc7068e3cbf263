"""The MCP server through the SDK's own clients: in-memory, real stdio subprocess, and streamable HTTP."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time

import httpx
from mcp import Client, StdioServerParameters
from specialize.server.app import build_server

from specialize.runtime.catalog import load_all

HEAVY = ("torch", "transformers", "trl", "peft", "llama_cpp", "litellm", "datasets")


def run(coro):
    return asyncio.run(coro)


def test_every_tool_is_listed_with_described_input_and_output_schemas():
    async def go():
        async with Client(build_server()) as client:
            return (await client.list_tools()).tools

    tools = run(go())
    names = {t.name for t in tools}
    assert names == set(load_all())
    for t in tools:
        assert t.description, t.name
        assert t.input_schema["type"] == "object"
        assert t.input_schema.get("additionalProperties") is False, t.name
        for field, schema in t.input_schema.get("properties", {}).items():
            assert schema.get("description"), f"{t.name}.{field} has no description"
        assert t.output_schema and t.output_schema.get("type") == "object", t.name
        assert t.annotations is not None and t.annotations.read_only_hint is not None


def test_annotations_are_honest():
    specs = load_all()
    for spec in specs.values():
        assert not (spec.read_only and spec.destructive), spec.name
        if spec.starts_job:
            assert not spec.read_only, spec.name
    assert specs["job_status"].read_only and specs["job_cancel"].destructive


def test_call_returns_structured_content_and_bad_input_is_an_error_naming_the_field(workspace):
    async def go():
        async with Client(build_server()) as client:
            ok = await client.call_tool("selftest_job", {"steps": 2, "seconds_per_step": 0})
            bad = await client.call_tool("selftest_job", {"steps": 2, "stepz": 1})
            wrong_type = await client.call_tool("job_logs", {"job_id": "x", "lines": "many"})
            missing = await client.call_tool("job_status", {"job_id": "does-not-exist"})
            return ok, bad, wrong_type, missing

    ok, bad, wrong_type, missing = run(go())
    assert not ok.is_error and ok.structured_content["job_id"].startswith("selftest-")
    assert bad.is_error and "stepz" in bad.content[0].text
    assert wrong_type.is_error and "lines" in wrong_type.content[0].text
    assert missing.is_error and "list_jobs" in missing.content[0].text


def test_server_start_imports_no_heavy_library():
    code = ("import sys; from specialize.server.app import build_server; build_server();"
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_real_stdio_server(workspace):
    params = StdioServerParameters(command=sys.executable, args=["-m", "specialize", "mcp"],
                                   env=dict(os.environ, SPECIALIZE_WORKSPACE=str(workspace)))

    async def go():
        async with Client(params) as client:
            tools = await client.list_tools()
            started = await client.call_tool("selftest_job", {"steps": 3, "seconds_per_step": 0.01})
            job_id = started.structured_content["job_id"]
            for _ in range(100):
                status = await client.call_tool("job_status", {"job_id": job_id})
                if status.structured_content["state"] == "succeeded":
                    break
                await asyncio.sleep(0.1)
            resources = await client.list_resources()
            return tools, status, resources

    tools, status, resources = run(go())
    assert {"job_status", "selftest_job"} <= {t.name for t in tools.tools}
    assert status.structured_content["state"] == "succeeded"
    assert status.structured_content["result"]["steps"] == 3
    assert any(str(r.uri).startswith("reference://") or str(r.uri).startswith("skill://")
               for r in resources.resources) or not resources.resources


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_http_needs_token_and_refuses_foreign_origin(workspace):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "specialize", "mcp", "--http", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, SPECIALIZE_WORKSPACE=str(workspace), SPECIALIZE_MCP_TOKEN=""))
    try:
        token = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and token is None:
            line = proc.stderr.readline()
            if "token" in line:
                token = line.rsplit(":", 1)[1].strip()
        assert token, "the generated token is printed to stderr"
        url = f"http://127.0.0.1:{port}/mcp"
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                           "clientInfo": {"name": "t", "version": "0"}}}
        headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        for _ in range(50):
            try:
                no_token = httpx.post(url, json=init, headers=headers, timeout=5)
                break
            except httpx.ConnectError:
                time.sleep(0.2)
        assert no_token.status_code == 401
        wrong = httpx.post(url, json=init, headers={**headers, "Authorization": "Bearer nope"}, timeout=5)
        assert wrong.status_code == 401
        foreign = httpx.post(url, json=init, timeout=5,
                             headers={**headers, "Authorization": f"Bearer {token}", "Origin": "http://evil.example"})
        assert foreign.status_code == 403

        async def go():
            import httpx2
            from mcp.client.streamable_http import streamable_http_client

            transport = streamable_http_client(url, http_client=httpx2.AsyncClient(
                headers={"Authorization": f"Bearer {token}"}, timeout=30))
            async with Client(transport) as client:
                return await client.list_tools()

        tools = run(go())
        assert "job_status" in {t.name for t in tools.tools}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
