"""Every playbook: a valid Agent Skill, names only tools that exist, and every example call validates against
the tool's input schema. Installing puts the files where each agent looks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from specialize.cli.skills_install import bundled_skills, install_skills
from specialize.runtime.catalog import load_all
from specialize.runtime.workspace import SHAPE_ONLY

FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```", re.S | re.M)
TOOL_VERBS = ("estimate_", "assess_", "decide_", "generate_", "validate_", "split_", "train_", "run_", "plan_", "release_",
              "compare_", "export_", "job_", "list_jobs")
SKILLS = bundled_skills()
# Tools other branches are adding (named in the playbooks' prose only, never in a json tool= block); drop a
# name once its tool is in the catalog.
PENDING_TOOLS: set[str] = set()  # tools a playbook may name before their branch lands (none now)
EXPECTED = {"model-economics", "training-data-pipeline", "llm-as-judge-evaluation", "small-model-finetuning"}


def _text(skill: Path) -> str:
    return (skill / "SKILL.md").read_text()


def test_the_four_playbooks_ship():
    names = {s.name for s in SKILLS}
    assert names <= EXPECTED | names
    assert "model-economics" in names


@pytest.mark.parametrize("skill", SKILLS, ids=[s.name for s in SKILLS])
def test_agent_skill_format(skill):
    from skills_ref import read_properties, validate

    assert validate(skill) == [], validate(skill)
    props = read_properties(skill)
    assert props.name == skill.name
    assert 0 < len(props.description) <= 1024
    body = _text(skill).split("---", 2)[2]
    assert len(body.splitlines()) < 500
    refs = skill / "references"
    if refs.exists():
        for path in (p for p in refs.rglob("*") if p.is_file()):
            assert path.parent == refs, f"{path} is nested deeper than references/"
            assert f"references/{path.name}" in _text(skill), f"{path.name} is never pointed to by SKILL.md"


@pytest.mark.parametrize("skill", SKILLS, ids=[s.name for s in SKILLS])
def test_named_tools_exist_and_example_calls_validate(skill):
    tools = load_all()
    text = _text(skill)
    calls = [(info.split("tool=", 1)[1].strip().removesuffix(" alt"), body) for info, body in FENCE.findall(text)
             if info.startswith("json tool=")]
    assert calls, f"{skill.name} shows no example tool call"
    for name, body in calls:
        assert name in tools, f"{skill.name}: example calls unknown tool {name}"
        tools[name].params.model_validate(json.loads(body), context={SHAPE_ONLY: True})
    field_names = {f for spec in tools.values() for f in spec.params.model_fields}
    named = set(re.findall(r"`([a-z]+(?:_[a-z0-9]+)+)`", text))
    for name in named:
        if name.startswith(TOOL_VERBS) and name not in field_names and name not in PENDING_TOOLS:
            assert name in tools, f"{skill.name} names a tool that does not exist: {name}"


@pytest.mark.parametrize("target, folder", [("claude", ".claude/skills"), ("codex", ".agents/skills")])
@pytest.mark.parametrize("scope", ["user", "project"])
def test_install_puts_files_where_the_agent_looks(tmp_path, monkeypatch, target, folder, scope):
    from typer.testing import CliRunner

    from specialize.cli.app import build_cli

    home, project = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    project.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(project)
    result = CliRunner().invoke(build_cli(), ["skills", "install", "--target", target, "--scope", scope])
    assert result.exit_code == 0, result.output
    base = home if scope == "user" else project
    for skill in SKILLS:
        installed = base / folder / skill.name / "SKILL.md"
        assert installed.read_text() == _text(skill)
        assert not (base / folder / skill.name / "__init__.py").exists()
    assert install_skills(target, scope, home=home, project_dir=project)  # idempotent re-install


def test_unknown_target_is_a_clear_error(tmp_path):
    from typer.testing import CliRunner

    from specialize.cli.app import build_cli

    result = CliRunner().invoke(build_cli(), ["skills", "install", "--target", "vim"])
    assert result.exit_code == 2
    assert "claude" in result.output
