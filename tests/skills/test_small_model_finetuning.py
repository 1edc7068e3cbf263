"""The small-model-finetuning playbook: valid Agent Skill, and every example tool call validates."""

from __future__ import annotations

import json
import re

import skills_ref

from specialize.runtime.catalog import load_all
from specialize.runtime.workspace import SHAPE_ONLY, skills_root

SKILL = skills_root() / "small-model-finetuning"
BLOCK = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```", re.S | re.M)


def test_skill_is_a_valid_agent_skill():
    assert skills_ref.validate(SKILL) == []
    props = skills_ref.read_properties(SKILL)
    assert props.name == "small-model-finetuning" and len(props.description) <= 1024
    assert len((SKILL / "SKILL.md").read_text().splitlines()) < 500


def test_example_tool_calls_validate_and_links_resolve():
    text = (SKILL / "SKILL.md").read_text()
    tools = load_all()
    seen = set()
    for m in BLOCK.finditer(text):
        info = m["info"].strip()
        if info.startswith("json tool="):
            name = info.removeprefix("json tool=").removesuffix(" alt")
            assert name in tools, name
            tools[name].params.model_validate(json.loads(m["body"]), context={SHAPE_ONLY: True})
            seen.add(name)
        elif info.startswith("json"):
            raise AssertionError(f"json block without tool=: {m['body'][:60]}")
    assert {"train_qlora", "job_status", "train_resume", "train_dpo"} <= seen
    assert "export_gguf" in text and "run_eval" in text
    assert "specialize train-qlora" in text
    for link in re.findall(r"\]\((references/[^)]+)\)", text):
        assert (SKILL / link).is_file(), link
