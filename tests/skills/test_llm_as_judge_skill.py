"""The llm-as-judge-evaluation playbook: a valid Agent Skill whose example calls validate against the tools."""

from __future__ import annotations

import json
import re
from pathlib import Path

from specialize.runtime.catalog import load_all
from tests.skills.test_skills import PENDING_TOOLS
from specialize.runtime.workspace import SHAPE_ONLY, skills_root

FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```", re.S | re.M)
SKILL = skills_root() / "llm-as-judge-evaluation"


def test_agent_skill_format():
    from skills_ref import read_properties, validate

    assert validate(SKILL) == [], validate(SKILL)
    props = read_properties(SKILL)
    assert props.name == "llm-as-judge-evaluation"
    assert 0 < len(props.description) <= 1024
    text = (SKILL / "SKILL.md").read_text()
    assert len(text.split("---", 2)[2].splitlines()) < 500
    for name in ("scoring-rubrics.md", "pairwise-comparison.md"):
        assert (SKILL / "references" / name).is_file()
        assert f"references/{name}" in text
    assert all(p.parent == SKILL / "references" for p in (SKILL / "references").rglob("*") if p.is_file())


def test_example_calls_validate_and_cover_its_tools():
    tools = load_all()
    text = (SKILL / "SKILL.md").read_text()
    blocks = FENCE.findall(text)
    calls = [(info.split("tool=", 1)[1].strip().removesuffix(" alt"), body) for info, body in blocks
             if info.startswith("json tool=")]
    for name, body in calls:
        tools[name].params.model_validate(json.loads(body), context={SHAPE_ONLY: True})
    assert {n for n, _ in calls} == {"run_eval", "run_classical_baseline", "run_pairwise_judge", "plan_eval_size",
                                     "release_gate", "compare_models", "open_review", "export_review",
                                     "task_history"}
    bash = [body for info, body in blocks if info == "bash"]
    commands = {line.split()[1] for body in bash for line in body.splitlines() if line.startswith("specialize ")}
    assert commands <= {t.replace("_", "-") for t in tools}
    for name in re.findall(r"`([a-z]+(?:_[a-z0-9]+)+)`", text):
        if name.startswith(("run_", "plan_", "release_", "compare_", "job_")):
            fields = {f for spec in tools.values() for f in spec.params.model_fields}
            assert name in tools or name in fields or name in PENDING_TOOLS, name


def test_bundled_rubrics_load_and_weights_match_the_reference_table():
    from specialize.evaluation.judging import BUILTIN_RUBRICS, load_rubric

    table = (SKILL / "references" / "scoring-rubrics.md").read_text()
    for name in BUILTIN_RUBRICS:
        r = load_rubric(name)
        assert abs(sum(d["weight"] for d in r["dimensions"]) - 1) < 1e-9
        assert all(set(d["anchors"]) == {1, 2, 3, 4, 5} for d in r["dimensions"])
        assert f"| {name} |" in table
    assert load_rubric("customer-support")["name"] == "customer_support"
    assert Path(load_rubric("code")["_path"]).name == "code.yaml"
