"""The model-economics playbook: valid Agent Skill, every example call valid and runnable, prose figures current."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from specialize.runtime.catalog import load_all
from specialize.runtime.workspace import SHAPE_ONLY, skills_root

SKILL = skills_root() / "model-economics"
TEXT = (SKILL / "SKILL.md").read_text()
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```", re.S | re.M)
BLOCKS = FENCE.findall(TEXT)
TOOL_CALLS = [(info.split("tool=", 1)[1], body) for info, body in BLOCKS if info.startswith("json tool=")]
CLI_LINES = [line for info, body in BLOCKS if info == "bash" for line in body.splitlines()
             if line.startswith("specialize ")]


def test_agent_skill_format():
    from skills_ref import validate

    assert validate(Path(SKILL)) == []
    body = TEXT.split("---", 2)[2]
    assert len(body.splitlines()) < 500
    for link in re.findall(r"\]\((references/[^)]+)\)", TEXT):
        assert (SKILL / link).is_file(), link
        assert "/" not in link.removeprefix("references/")  # one level deep


def test_info_strings_are_exact():
    for info, _ in BLOCKS:
        if "tool=" in info:
            assert re.fullmatch(r"json tool=[a-z_]+", info), info
    assert {name for name, _ in TOOL_CALLS} == {"assess_task", "estimate_training_cost", "estimate_break_even",
                                                 "decide_specialization", "run_eval"}


@pytest.mark.parametrize("name, body", TOOL_CALLS, ids=[n for n, _ in TOOL_CALLS])
def test_example_calls_validate_and_run(name, body, workspace):
    write_probe(workspace)
    spec = load_all()[name]
    params = spec.params.model_validate(json.loads(body), context={SHAPE_ONLY: True})
    if name == "run_eval":
        return  # the probe calls a frontier API; tests/skills/test_walks.py makes it against a local server
    spec.run(params)


@pytest.mark.parametrize("line", CLI_LINES)
def test_cli_commands_run(line, workspace):
    from typer.testing import CliRunner

    from specialize.cli.app import build_cli

    result = CliRunner().invoke(build_cli(), shlex.split(line)[1:] + ["--json"])
    assert result.exit_code == 0, result.output


def write_probe(workspace):
    """The worked conversation's 50-item probe: gpt-4.1 right on items 0-45, the small model on items 0-40."""
    (workspace / "evals").mkdir(exist_ok=True)
    for name, right in (("gpt-4.1", 46), ("qwen3-1.7b-prompted", 41)):
        examples = [{"id": f"t{i:02d}", "correct": i < right} for i in range(50)]
        (workspace / "evals" / f"{name}.json").write_text(json.dumps(
            {"kind": "eval_results", "model": {"ref": name}, "examples": examples}))


def _run(name, **args):
    return load_all()[name].run(args)


def test_prose_figures_match_the_tools():
    seed = _run("estimate_break_even", monthly_api_spend_usd=5000, training_cost_usd=500, serving_monthly_usd=200,
                engineering_hours=40, engineering_rate_usd=100)
    assert seed.break_even_months == 0.9375 and "0.9375" in TEXT
    assert f"{seed.year1_savings_usd:,.0f}" in TEXT and f"{seed.year2_savings_usd:,.0f}" in TEXT
    traffic = dict(monthly_requests=300000, avg_input_tokens=800, avg_output_tokens=200,
                   frontier_model="claude-sonnet-4.5")
    sonnet = _run("estimate_break_even", specialist_params_b=8, **traffic)
    assert f"{sonnet.break_even_months:.2f} months" in TEXT and f"${sonnet.year1_savings_usd:,.2f}" in TEXT
    hybrid = _run("estimate_break_even", frontier_share=0.1, **traffic)
    assert f"{hybrid.break_even_months:.2f}" in TEXT and f"${hybrid.monthly_savings_usd:,.0f}" in TEXT
    always_on = _run("estimate_break_even", serving_min_gpu_hours=730, **traffic)
    assert always_on.verdict == "weak" and f"{always_on.break_even_months:.2f} months" in TEXT
    train = _run("estimate_training_cost", model_params_b=8, num_examples=5000, epochs=3, gpu="A100-80GB")
    assert f"`gpu_hours` {train.gpu_hours:.2f}" in TEXT and f"`cost_usd` {train.cost_usd:.2f}" in TEXT
    qlora = _run("estimate_training_cost", model_params_b=4, num_examples=2000, method="qlora", gpu="A100-80GB")
    assert f"{qlora.gpu_hours:.2f} GPU-hours and ${qlora.cost_usd:.2f}" in TEXT
    assessed = _run("assess_task", monthly_api_spend_usd=5000, task_type="extraction", task_scope="single_task",
                    production_data="logs_without_feedback", quality_bar="task_metric", task_changes="rarely")
    assert assessed.recommendation == "distillation" and assessed.case == "strong"


def _months(x):
    return f"{x:.1f}"


def test_worked_conversation_through_the_mcp_server_gives_the_stated_numbers(workspace):
    import asyncio

    from mcp import Client
    from specialize.server.app import build_server

    write_probe(workspace)
    calls = [json.loads(body) for name, body in TOOL_CALLS if name == "decide_specialization"]
    assert len(calls) == 3

    async def go():
        async with Client(build_server()) as client:
            return [await client.call_tool("decide_specialization", args) for args in calls]

    first, second, third = [r.structured_content for r in asyncio.run(go())]
    section = TEXT[TEXT.index("### A worked conversation"):TEXT.index("## Where the prices come from")]

    def stated(r):
        p = r["payback_months"]
        return f"{_months(p['p10'])} / {_months(p['p50'])} / {_months(p['p90'])} months"

    assert first["verdict"] == "specialize" and first["confidence"] == "low"
    assert stated(first) in section and f"${first['monthly_savings_usd']['p50']:,.0f} a month" in section
    assert f"${first['hosting']['serverless_monthly_usd']:,.0f} a month for {first['hosting']['gpu_hours_needed']:.1f}" \
        in section and f"${first['hosting']['dedicated_monthly_usd']:,.0f}" in section
    assert len(first["open_questions"]) == 10 and "Ten\nopen questions" in section
    assert second["verdict"] == "specialize" and second["confidence"] == "low" and stated(second) in section
    assert second["next_tool"]["tool"] == "run_eval" and second["next_tool"]["arguments"]["limit"] == 50
    assert second["deciding_inputs"] == ["quality retained", "engineering hours", "volume (x today's)"]
    assert third["verdict"] == "hybrid" and third["confidence"] == "medium"
    ev = third["evidence"]
    assert (ev["frontier_rate"], ev["small_rate"]) == (46 / 50, 41 / 50)
    assert f"retained is {ev['quality_retained']:.2f}" in section.replace("\n> ", " ")
    flat = " ".join(section.replace("> ", "").split())
    assert f"(P10-P90 {ev['retained_p10']:.2f}-{ev['retained_p90']:.2f})" in flat
    assert f"{third['central']['share']:.0%} of tickets stay on gpt-4.1" in flat
    assert f"Upfront ${third['central']['upfront']:,.0f}" in flat and f"upkeep ${third['central']['upkeep']:,.0f}" in flat
    assert stated(third) in flat
    s = third["monthly_savings_usd"]
    assert f"saving ${s['p50']:,.0f} a month at the median (${s['p10']:,.0f}-${s['p90']:,.0f})" in flat
    flips = {t["input"]: t for t in third["tornado"]}
    assert f"engineering passes {flips['engineering_hours']['flip_value']:.0f} hours" in flat
    assert f"quality falls below {flips['quality_retained']['flip_value']:.3f}" in flat
    v = flips["volume"]["flip_value"]
    assert f"below {v:.3f}x today's (${v * third['central']['frontier']:,.0f} a month" in flat
    assert not any(flips[k]["flips_inside_range"] for k in flips)
    assert (workspace / third["memo_path"]).is_file()


def test_playbook_quotes_the_thresholds_the_tools_use():
    from specialize.assess.thresholds import threshold

    table = TEXT[TEXT.index("### The thresholds"):TEXT.index("### The verdict rules")]
    for name in ("spend_weak_below_usd", "spend_strong_from_usd", "spend_certain_from_usd"):
        assert f"| `{name}` | ${threshold(name):,.0f} a month |" in table
    assert f"| `payback_limit_months` | {threshold('payback_limit_months'):g} months |" in table
    assert f"| `quality_needed_near_frontier` | {threshold('quality_needed_near_frontier'):.2f} |" in table
    assert f"| `quality_needed_match_frontier` | {threshold('quality_needed_match_frontier'):.2f} |" in table
    assert f"| `evidence_min_items` | {threshold('evidence_min_items'):g} items |" in table
