"""The model-economics playbook: valid Agent Skill, every example call valid and runnable, prose figures current."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from specialize.runtime.catalog import load_all
from specialize.runtime.workspace import skills_root

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
    assert {name for name, _ in TOOL_CALLS} == {"assess_task", "estimate_training_cost", "estimate_break_even"}


@pytest.mark.parametrize("name, body", TOOL_CALLS, ids=[n for n, _ in TOOL_CALLS])
def test_example_calls_validate_and_run(name, body, workspace):
    spec = load_all()[name]
    params = spec.params.model_validate(json.loads(body))
    spec.run(params)


@pytest.mark.parametrize("line", CLI_LINES)
def test_cli_commands_run(line, workspace):
    from typer.testing import CliRunner

    from specialize.cli.app import build_cli

    result = CliRunner().invoke(build_cli(), shlex.split(line)[1:] + ["--json"])
    assert result.exit_code == 0, result.output


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
