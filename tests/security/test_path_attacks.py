"""Every path argument of every tool attacked through the MCP server (issue 14).

The targets are not listed by hand: every params field whose type is a workspace path type (``path_fields``)
is attacked with '..', absolute paths, '~', NUL bytes, over-long paths and names, symlinked folders, symlinked
and dangling final files, and a folder where a file belongs (a file where a folder belongs). The other
arguments of the call are filled so that only the attacked one is wrong. Counted: escapes (files that appear
outside the workspace or in the home folder), unanswered calls, accepted attacks, refusals that do not name
the argument, slow answers. All must be zero; the counts are printed.
"""

from __future__ import annotations

import asyncio
import json
import time
import typing

from mcp import Client
from pydantic import TypeAdapter
from specialize.server.app import build_server

from specialize.runtime.catalog import load_all
from specialize.runtime.workspace import PathArg, names_a_file, path_fields
from tests.tools.test_split import make_rows

CLOSED_PORT = "http://127.0.0.1:9"  # nothing listens there: a model call that slipped through fails at once


def attacks(spec: PathArg, outside) -> dict[str, str]:
    found = {
        "dotdot": "../outside/x",
        "deep_dotdot": "a/../../../outside/x",
        "absolute": str(outside / "x"),
        "home": "~/x",
        "nul": "data/x\x00.jsonl",
        "long_5000": "x" * 5000,
        "long_1mb": "y" * 1_000_000,
        "long_component": "d/" + "n" * 300,
        "symlinked_dir": "linkdir/x",
        "symlinked_file": "plant/link.jsonl",
        "dangling_link": "plant/dangling.jsonl",
    }
    if spec.access == "write":
        found["symlinked_dir_itself"] = "linkdir"
    if spec.kind == "file":
        found["folder_for_a_file"] = "adir"
    if spec.kind == "dir" and spec.access == "write":
        found["file_for_a_folder"] = "in.jsonl"
    if spec.may_be_text:  # text or a file (a system prompt): attack it where it is read as a file
        found = {k: v if names_a_file(v) else v + ".txt" for k, v in found.items()}
    return found


def valid_value(name: str, spec: PathArg, as_list: bool):
    """A value that passes for this path argument in the prepared workspace."""
    if spec.may_be_name:
        value = "openai/x" if name == "model" else "in.jsonl" if spec.kind == "file" else "adir"
    elif spec.access == "read":
        value = "adir" if spec.kind == "dir" else "in.jsonl"
    else:
        value = "out" if spec.kind == "dir" else "out/new.json"
    return [value] if as_list else value


def min_items(field) -> int:
    return max([1] + [getattr(m, "min_length", 0) or 0 for m in field.metadata])


def base_arguments(params_model) -> dict[str, typing.Any]:
    """The smallest otherwise-valid call: required fields filled, model calls pointed at a closed port."""
    paths = path_fields(params_model)
    args: dict[str, typing.Any] = {}
    for name, field in params_model.model_fields.items():
        if name in paths:
            if field.is_required():
                spec, as_list = paths[name]
                args[name] = valid_value(name, spec, False)
                if as_list:
                    args[name] = [args[name]] * min_items(field)
        elif field.is_required():  # the first plain value the field's own type accepts
            check = TypeAdapter(field.rebuild_annotation())
            for candidate in ("openai/x", 1, 1.0, ["x"], {}, True):
                try:
                    check.validate_python(candidate)
                except ValueError:
                    continue
                args[name] = candidate
                break
        if name in ("api_base", "judge_api_base"):
            args[name] = CLOSED_PORT
        if name == "max_retries":
            args[name] = 0
    return args


def prepare(workspace, outside):
    (outside / "x").write_text(json.dumps({"secret": 1}) + "\n")
    (workspace / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in make_rows(12)))
    (workspace / "adir").mkdir()
    (workspace / "linkdir").symlink_to(outside)
    (workspace / "plant").mkdir()
    (workspace / "plant" / "link.jsonl").symlink_to(outside / "x")
    (workspace / "plant" / "dangling.jsonl").symlink_to(outside / "new.jsonl")
    (workspace / "runs").mkdir()
    (outside / "fakejob").mkdir()
    (outside / "fakejob" / "job.json").write_text('{"job_id": "link_job"}')
    (outside / "fakejob" / "state.json").write_text('{"state": "running"}')
    (workspace / "runs" / "link_job").symlink_to(outside / "fakejob")


def snapshot(*folders):
    return {str(p) for folder in folders for p in folder.rglob("*")}


def test_every_path_argument_of_every_tool_under_attack(workspace, tmp_path, monkeypatch, capsys):
    outside, home = tmp_path / "outside", tmp_path / "home"
    outside.mkdir()
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # '~' lands here, so an escape through it is seen
    monkeypatch.setenv("SPECIALIZE_CACHE_DIR", str(tmp_path / "cache"))  # the tool manifest cache is no escape
    prepare(workspace, outside)
    before = snapshot(outside, home)

    targets = []
    for spec in load_all().values():
        for name, (path_spec, as_list) in path_fields(spec.params).items():
            # a list argument gets the attack as its last item, after enough valid ones to meet its minimum
            pad = [valid_value(name, path_spec, False)] * (min_items(spec.params.model_fields[name]) - 1) \
                if as_list else None
            targets.append((spec.name, name, path_spec, pad, base_arguments(spec.params)))
    # job ids are not paths, yet they name folders under runs/: the same attacks apply to them
    for tool in ("job_status", "job_logs", "job_cancel"):
        targets.append((tool, "job_id", PathArg("read", "dir"), None, {}))
    assert len({t[:2] for t in targets}) >= 40, "the params models lost their path types"

    counts = {"tools": len({t[0] for t in targets}), "arguments": len(targets), "calls": 0, "escapes": 0,
              "unanswered": 0, "accepted": 0, "unnamed": 0, "slow": 0}
    problems = []

    async def go():
        async with Client(build_server()) as client:
            for tool, arg, spec, pad, base in targets:
                cases = attacks(spec, outside)
                if tool.startswith("job_"):
                    cases = {"dotdot": "../x", "absolute": "/etc", "nul": "a\x00b", "long_5000": "x" * 5000,
                             "symlinked_job": "link_job"}
                for label, value in cases.items():
                    counts["calls"] += 1
                    started = time.monotonic()
                    try:
                        res = await asyncio.wait_for(
                            client.call_tool(tool, {**base, arg: [*pad, value] if pad is not None else value}), 30)
                    except asyncio.TimeoutError:
                        counts["unanswered"] += 1
                        problems.append((tool, arg, label, "no answer in 30 s"))
                        continue
                    took = time.monotonic() - started
                    text = res.content[0].text if res.content else ""
                    if took > 10:  # two busy shared cores: generous, far below the 47 s once reported
                        counts["slow"] += 1
                        problems.append((tool, arg, label, f"answered after {took:.1f} s"))
                    if not res.is_error:
                        counts["accepted"] += 1
                        problems.append((tool, arg, label, "accepted"))
                    elif arg not in text:
                        counts["unnamed"] += 1
                        problems.append((tool, arg, label, text[:200]))

    started = time.monotonic()
    asyncio.run(go())
    counts["seconds"] = round(time.monotonic() - started, 1)
    escaped = snapshot(outside, home) - before
    counts["escapes"] = len(escaped)
    with capsys.disabled():
        print(f"\npath attacks through MCP: {counts}")
        for p in problems:
            print("  ", p)
    assert counts["escapes"] == 0, sorted(escaped)
    assert counts["unanswered"] == counts["unnamed"] == counts["accepted"] == counts["slow"] == 0, problems
