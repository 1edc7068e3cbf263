"""The cached tool manifest: the lazy tools publish exactly what the eager adapter publishes, a stale or broken
cache is rebuilt, an unwritable cache costs only time, and a cached start imports no tool module."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

from mcp import Client
from specialize.server import manifest
from specialize.server.adapters import to_mcp_tool
from specialize.server.app import build_server

from specialize.runtime.catalog import load_all


def test_lazy_tools_publish_the_eager_schemas(tmp_path, monkeypatch):
    monkeypatch.setenv("SPECIALIZE_CACHE_DIR", str(tmp_path / "cache"))

    async def go():
        async with Client(build_server()) as client:
            return (await client.list_tools()).tools

    listed = {t.name: t for t in asyncio.run(go())}
    specs = load_all()
    assert set(listed) == set(specs)
    for name, spec in specs.items():
        eager = to_mcp_tool(spec)
        assert listed[name].input_schema == eager.parameters, name
        assert listed[name].output_schema == eager.output_schema, name
        assert listed[name].description == eager.description, name
        assert listed[name].annotations == eager.annotations, name
    assert len(list((tmp_path / "cache").glob("tool-manifest-*.json"))) == 1


def test_lazy_tool_validates_and_answers_like_the_eager_one(tmp_path, monkeypatch, workspace):
    monkeypatch.setenv("SPECIALIZE_CACHE_DIR", str(tmp_path / "cache"))
    args = {"kind": "win_rate", "baseline": 0.5, "target": 0.6}

    async def go():
        async with Client(build_server()) as client:
            ok = await client.call_tool("plan_eval_size", args)
            unknown = await client.call_tool("plan_eval_size", {**args, "typo": 1})
            wrong = await client.call_tool("plan_eval_size", {**args, "target": "lots"})
            return ok, unknown, wrong

    ok, unknown, wrong = asyncio.run(go())
    direct = load_all()["plan_eval_size"].run(args).model_dump(mode="json")
    assert not ok.is_error, ok.content
    assert ok.structured_content == direct and direct["n"] > 100
    assert unknown.is_error and "typo" in unknown.content[0].text
    assert wrong.is_error and "target" in wrong.content[0].text


def test_stale_or_broken_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("SPECIALIZE_CACHE_DIR", str(tmp_path))
    key = manifest.source_key()
    path = tmp_path / f"tool-manifest-{key}.json"
    path.write_text("{not json")
    tools = manifest.load_manifest()
    assert {t["name"] for t in tools} == set(load_all())
    assert json.loads(path.read_text())["key"] == key
    path.write_text(json.dumps({"key": "someone-else", "tools": []}))
    assert len(manifest.load_manifest()) == len(load_all())


def test_unwritable_cache_still_serves(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("SPECIALIZE_CACHE_DIR", str(blocker / "cache"))  # a path under a file: cannot be created
    assert len(manifest.load_manifest()) == len(load_all())


def test_key_changes_when_a_source_file_changes(tmp_path, monkeypatch):
    before = manifest.source_key()
    fake_root = tmp_path / "pkg"
    fake_root.mkdir()
    (fake_root / "extra.py").write_text("X = 1\n")
    roots = manifest._source_roots()
    monkeypatch.setattr(manifest, "_source_roots", lambda: roots + [fake_root])
    with_extra = manifest.source_key()
    (fake_root / "extra.py").write_text("X = 2\n")
    assert len({before, with_extra, manifest.source_key()}) == 3


def test_cached_start_imports_no_tool_module(tmp_path):
    env = dict(os.environ, SPECIALIZE_CACHE_DIR=str(tmp_path))
    code = ("import sys; from specialize.server.app import build_server; build_server();"
            "print(sorted(m for m in sys.modules if m.startswith('specialize.tools')))")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)  # fills the cache
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_specialize_mcp_imports_neither_the_cli_framework_nor_a_tool(tmp_path, workspace):
    env = dict(os.environ, SPECIALIZE_CACHE_DIR=str(tmp_path), SPECIALIZE_WORKSPACE=str(workspace))
    cmd = [sys.executable, "-X", "importtime", "-m", "specialize", "mcp"]
    subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)  # fills the cache
    out = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    imported = {line.rsplit("|", 1)[1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}
    assert "mcp.server.mcpserver" in imported  # the server did start (and stopped at the end of stdin)
    assert not {m for m in imported if m == "typer" or m.startswith("specialize.tools")}, sorted(imported)
