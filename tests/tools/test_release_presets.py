"""release_gate's per-task presets: a preset fills the thresholds a call leaves out, adds floors on the
candidate's real run_eval metrics, reports what no tool measures as not_measured, and loses to explicit
arguments. The candidate is scored by run_eval over real HTTP (a scripted server on 127.0.0.1)."""

from __future__ import annotations

import json
import re

import pytest
from pydantic import ValidationError

from specialize.evaluation.gate_presets import PRESET_NAMES, load_presets
from specialize.runtime.workspace import references_root, skills_root
from specialize.tools.evaluate import RunEvalParams, run_eval
from specialize.tools.release import ReleaseGateParams, release_gate
from tests.helpers.fake_openai import FakeOpenAIServer

GOLDEN = references_root() / "tasks" / "support-triage" / "eval" / "golden.jsonl"
CARD = "builtin:tasks/support-triage/task.yaml"


def _scored(workspace, wrong_priority: int, name: str) -> str:
    """run_eval of a scripted model that answers every golden item right except the priority of the first
    `wrong_priority` items (priority is a critical field of the task card)."""
    rows = [json.loads(line) for line in GOLDEN.read_text().splitlines() if line.strip()]
    answers = {r["messages"][-2]["content"]: json.loads(r["messages"][-1]["content"]) for r in rows}
    spoil = {r["messages"][-2]["content"] for r in rows[:wrong_priority]}

    def reply(body: dict) -> str:
        user = body["messages"][-1]["content"]
        answer = dict(answers[user])
        if user in spoil:
            answer["priority"] = "low" if answer["priority"] != "low" else "urgent"
        return json.dumps(answer)

    with FakeOpenAIServer(reply) as server:
        res = run_eval(RunEvalParams(model=f"hosted_vllm/{name}", api_base=server.url, eval_set=str(GOLDEN),
                                     task_card=CARD, output=f"evals/{name}.json", bootstrap_resamples=200))
    return res.results_path


def _by_name(res):
    return {c.name: c for c in res.criteria}


def test_the_extraction_preset_applies_its_floors_to_measured_metrics(workspace):
    cand = _scored(workspace, 2, "cand")  # 38 of 40 items with every critical field right
    doc = json.loads((workspace / cand).read_text())
    assert doc["metrics"]["critical_field_accuracy"] == pytest.approx(38 / 40)

    res = release_gate(ReleaseGateParams(candidate=cand, preset="extraction"))
    by = _by_name(res)
    assert by["format_validity"].values.min == 0.995 and by["format_validity"].status == "pass"
    crit = by["floor:critical_field_accuracy"]
    assert crit.status == "fail" and crit.values.min == 0.98 and crit.values.candidate == pytest.approx(0.95)
    assert by["floor:field_f1"].status == "not_measured" and "target" in by["floor:field_f1"].detail
    assert res.decision == "no_ship" and res.preset.startswith("extraction (seed 003")

    # explicit arguments win over the preset: a lower floor passes, the target is set, the format bar moves
    res = release_gate(ReleaseGateParams(candidate=cand, preset="extraction", min_format_validity=0.9,
                                         floors={"critical_field_accuracy": 0.9, "field_f1": 0.9}))
    by = _by_name(res)
    assert by["format_validity"].values.min == 0.9
    assert by["floor:critical_field_accuracy"].status == "pass"
    assert by["floor:field_f1"].status == "pass" and by["floor:field_f1"].values.candidate > 0.9


def test_every_preset_reports_what_it_cannot_measure(workspace):
    cand = _scored(workspace, 0, "clean")
    worse = _scored(workspace, 6, "worse")
    tools = _by_name(release_gate(ReleaseGateParams(candidate=cand, preset="tool_calling")))
    # a triage model has no tool-call metrics: its floors are not measured rather than passed
    assert tools["floor:tool_name_accuracy"].status == "not_measured"
    assert tools["floor:argument_accuracy"].status == "not_measured"
    assert tools["unsafe_tool_calls"].status == "not_measured"
    cls = release_gate(ReleaseGateParams(candidate=cand, current=worse, preset="classification"))
    by = _by_name(cls)
    assert by["task_metric"].values.metric == "macro_f1" and by["calibration"].status == "not_measured"
    # the two differ only in priority, so the preset's metric (category macro-F1) shows no gain at all
    assert by["task_metric"].status == "fail" and by["task_metric"].values.diff == 0
    assert by["floor:macro_f1"].status == "not_measured" and by["floor:macro_f1"].values.candidate == 1.0
    chosen = _by_name(release_gate(ReleaseGateParams(candidate=cand, current=worse, preset="classification",
                                                     metric="critical_field_accuracy")))
    assert chosen["task_metric"].values.metric == "critical_field_accuracy"
    gen = _by_name(release_gate(ReleaseGateParams(candidate=cand, preset="generation")))
    assert gen["judge"].status == "not_measured"
    per_class = _by_name(release_gate(ReleaseGateParams(candidate=cand, floors={"per_class.refund.recall": 0.99,
                                                                                "per_class.nosuch.recall": 0.5})))
    assert per_class["floor:per_class.refund.recall"].status == "pass"
    assert per_class["floor:per_class.refund.recall"].values.candidate == 1.0
    assert per_class["floor:per_class.nosuch.recall"].status == "not_measured"
    with pytest.raises(ValidationError):
        ReleaseGateParams(candidate=cand, preset="summaries")


def test_the_playbook_reference_quotes_the_preset_file():
    presets = load_presets()
    assert tuple(presets) == PRESET_NAMES
    text = (skills_root() / "llm-as-judge-evaluation" / "references" / "gate-presets.md").read_text()
    assert "references/gates/presets.yaml" in text
    for name, preset in presets.items():
        section = text[text.index(f"## {name}"):]
        section = section[:section.index("\n## ", 1)] if "\n## " in section[1:] else section
        for floor in preset.floors:
            assert f"`{floor.metric}`" in section, (name, floor.metric)
            if floor.min is not None:
                assert re.search(rf"`{floor.metric}`[^\n]*>= {floor.min:g}", section), (name, floor.metric)
        for item in preset.not_measured:
            assert f"`{item.name}`" in section and "not_measured" in section, (name, item.name)
        for key, value in preset.params.items():
            assert f'"{key}": {json.dumps(value)}' in section or f"`{key}`" in section, (name, key)


def test_a_preset_over_mcp_sees_only_the_arguments_the_client_sent(workspace):
    """The MCP adapter must not hand the tool its defaults as if they were sent: the preset's 0.995 format bar
    applies when the client leaves min_format_validity out, and the client's own value wins when sent."""
    import asyncio

    from mcp import Client
    from specialize.server.app import build_server

    cand = _scored(workspace, 0, "clean")

    async def go():
        async with Client(build_server()) as client:
            out = []
            for extra in ({}, {"min_format_validity": 0.9}):
                res = await client.call_tool("release_gate", {"candidate": cand, "preset": "extraction", **extra})
                assert not res.is_error, res.content
                out.append({c["name"]: c for c in res.structured_content["criteria"]})
            return out

    preset_only, explicit = asyncio.run(go())
    assert preset_only["format_validity"]["values"]["min"] == 0.995
    assert explicit["format_validity"]["values"]["min"] == 0.9
