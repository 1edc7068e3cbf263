"""Walk the playbooks: every step block of the four playbooks, in order, made against the real MCP stdio server,
each step reading what the earlier steps wrote. A step that names a path no earlier step wrote, a field an
earlier answer lacks, or arguments a tool refuses fails the walk (the convention: project-layout.md, "Reading
the call blocks"; the walker: tests/helpers/playbook.py).

The by-hand steps (task card, schema, prompts, eval sets, seeds, preference pairs, people's verdicts) are done
up front from the bundled support-triage task, with small eval sets. Teacher, judge, frontier and prompted
API models are a scripted OpenAI-compatible server on 127.0.0.1; the base-model baselines are the shipped
SmolLM2-135M GGUF through llama.cpp.

The default run walks economics -> data -> judge. There the fine-tuning playbook's export is stood in for by
the shipped GGUF, placed where export_gguf puts its files; the slow walk trains the tiny test model through
train_qlora, exports it, DPO-tunes the merged model and hands the real exported file to the judge playbook.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import re
import shutil
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from specialize.runtime.workspace import references_root
from tests.helpers.fake_openai import FakeOpenAIServer
from tests.helpers.playbook import ORDER, Block, StepFailed, Walker, blocks, hand_on_paths, steps

TASK = references_root() / "tasks" / "support-triage"
VOCAB = ("invoice parcel courier receipt tracking charge address plan login password crash export screen reader "
         "order delivery card payment tablet shift roster schedule token webhook error dashboard printer label "
         "van box refund terminal report calendar sync backup settings upgrade discount warehouse").split()


def scripted(body: dict) -> str:
    """Teacher rows, pairwise verdicts, or a triage answer, depending on what the prompt asks for."""
    prompt = "\n".join(str(m.get("content", "")) for m in body["messages"])
    if "[RESPONSE A]" in prompt:
        a = re.search(r"\[RESPONSE A\]\n(.*?)\n\[END RESPONSE A\]", prompt, re.S).group(1)
        b = re.search(r"\[RESPONSE B\]\n(.*?)\n\[END RESPONSE B\]", prompt, re.S).group(1)
        qa, qb = (5 if '"category"' in s else 2 for s in (a, b))
        dims = re.findall(r"^- (\w+) \(weight", prompt, re.M) or ["overall"]
        verdict = "A_better" if qa > qb else "B_better" if qb > qa else "tie"
        return json.dumps({"a_scores": {d: qa for d in dims}, "b_scores": {d: qb for d in dims},
                           "reasoning": "scripted", "verdict": verdict})
    asked = re.search(r"Write (\d+) new examples for category \"([^\"]+)\"", prompt)
    if asked:
        rng = random.Random(hashlib.sha256(prompt.encode()).hexdigest())
        rows = []
        for _ in range(int(asked.group(1))):
            words = " ".join(rng.sample(VOCAB, 9))
            # regular answers, so that the tiny model learns to end them within a short training run
            answer = {"category": asked.group(2), "priority": "normal", "product": None,
                      "needs_human": asked.group(2) == "refund"}
            rows.append(json.dumps({"input": f"Ticket {rng.randrange(10 ** 6)}: {words}, please look at it",
                                    "output": answer}))
        return "\n".join(rows)
    return json.dumps({"category": "billing", "priority": "normal", "product": None, "needs_human": False})


def _rows(path: Path, keep) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for i, r in enumerate(rows) if keep(i)]


def _write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def by_hand(ws: Path) -> None:
    """The steps the playbooks give to people: task card and prompts, eval sets, seeds, pairs, verdicts."""
    (ws / "task").mkdir()
    for name in ("task.yaml", "schema.json", "task.md", "system_prompt.txt", "better_prompt.txt"):
        shutil.copy(TASK / name, ws / "task" / name)
    golden = _rows(TASK / "eval" / "golden.jsonl", lambda i: i % 10 == 0)  # 4 items, 4 categories
    _write(ws / "eval" / "golden.jsonl", golden)
    _write(ws / "eval" / "dev.jsonl", _rows(TASK / "eval" / "dev.jsonl", lambda i: i % 4 == 0))  # 10: the probe needs 10
    _write(ws / "eval" / "test.jsonl", _rows(TASK / "eval" / "test.jsonl", lambda i: i % 10 == 0))
    _write(ws / "eval" / "adversarial.jsonl", _rows(TASK / "eval" / "adversarial.jsonl", lambda i: i < 3))
    _write(ws / "data" / "seeds.jsonl", _rows(TASK / "seeds.jsonl", lambda i: i < 8))
    _write(ws / "eval" / "human_verdicts.jsonl",
           [{"id": r["id"], "model_a": "ft", "model_b": "base", "verdict": "A_better"} for r in golden])
    pairs = [{"prompt": r["messages"][0]["content"], "chosen": r["messages"][-1]["content"],
              "rejected": "I think this is about billing, maybe."} for r in golden]
    _write(ws / "data" / "prefs" / "pairs.jsonl", pairs)


def stand_in_export(ws: Path, walker: Walker) -> None:
    """What the fine-tuning playbook hands to the judge playbook, without training: the shipped GGUF where
    export_gguf writes its files, and the answer fields the judge playbook's steps read."""
    from specialize.runtime.embedded import embedded_gguf_path

    job = "export_gguf-20260101-000000-0000"
    target = ws / "runs" / job / "triage-v1.q8_0.gguf"
    target.parent.mkdir(parents=True)
    try:
        os.link(embedded_gguf_path(), target)
    except OSError:
        shutil.copy(embedded_gguf_path(), target)
    walker.answers["export_gguf"] = {"job_id": job, "recommended": "q8_0", "run_dir": f"runs/{job}"}


def _server(ws: Path) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=["-m", "specialize", "mcp"],
                                 env=dict(os.environ, SPECIALIZE_WORKSPACE=str(ws)))


def _check_hand_on(ws: Path, skill: str) -> None:
    for path in hand_on_paths(skill):
        assert (ws / path).exists(), f"{skill} says it hands on {path}, which the walk did not produce"


def _walk(ws: Path, skills: list[str], *, tiny_model: str | None = None) -> Walker:
    by_hand(ws)
    with FakeOpenAIServer(scripted) as server:
        async def go() -> Walker:
            async with Client(_server(ws)) as client:
                walker = Walker(client, ws, server.url, tiny_model=tiny_model)
                for skill in ORDER:
                    if skill not in skills:
                        if skill == "small-model-finetuning":
                            stand_in_export(ws, walker)
                        continue
                    await walker.walk(skill)
                    if skill != "llm-as-judge-evaluation":
                        _check_hand_on(ws, skill)
                return walker

        return asyncio.run(go())


def _made(walker: Walker, skill: str) -> list[str]:
    return [tool for s, tool, _ in walker.made if s == skill]


def test_every_playbook_block_follows_the_convention():
    for skill in ORDER:
        found = blocks(skill)
        assert steps(skill), f"{skill} has no step"
        for b in found:
            assert b.kind == "shell" or b.args, f"{skill}: empty call block"
    # the recovery and alternative calls are marked, so a walk never cancels or resumes a finished job
    alt = {(b.skill, b.tool) for s in ORDER for b in blocks(s) if b.alt}
    assert {("small-model-finetuning", "job_cancel"), ("small-model-finetuning", "train_resume")} <= alt


def test_economics_data_and_judge_playbooks_walk_end_to_end(workspace):
    ws = workspace
    walker = _walk(ws, ["model-economics", "training-data-pipeline", "llm-as-judge-evaluation"])
    for skill in ("model-economics", "training-data-pipeline", "llm-as-judge-evaluation"):
        assert _made(walker, skill) == [b.tool for b in steps(skill) if b.kind == "call"], skill
    # the second generate_batch ran as a job and was followed through job_status to its end
    assert walker.polls and all(n >= 1 for n in walker.polls.values())
    gen = walker.answers["generate_batch"]
    assert gen["rows"] > 0 and (ws / gen["batch_path"]).is_file()
    # the shell step joined only batches: every joined line is a row the validator saw
    joined = (ws / "data" / "generated" / "all.jsonl").read_text().splitlines()
    val = walker.answers["validate_rows"]
    assert val["total"] == len(joined) == val["accepted"] + val["rejected"] and val["accepted"] > 0
    rejected = [json.loads(x) for x in (ws / val["rejected_path"]).read_text().splitlines()]
    assert not [r for r in rejected if r.get("gate") in ("json", "format")], "the join took in lines that are not rows"
    split = walker.answers["split_dataset"]
    assert split["paths"]["train"] == "data/splits/all/train.jsonl" and split["counts"]["train"] >= 8
    # the judge playbook's steps read the baselines they wrote, and the gate applied the preset
    gate = walker.answers["release_gate"]
    names = {c["name"]: c["status"] for c in gate["criteria"]}
    assert gate["preset"].startswith("extraction") and "floor:critical_field_accuracy" in names
    assert "beats_baselines" in names and names["capability_preservation"] == "not_measured"
    assert gate["decision"] in ("no_ship", "incomplete")
    assert (ws / "reports" / "baselines" / "report.md").is_file()
    assert (ws / walker.answers["compare_models"]["report_path"]).is_file()
    few = json.loads((ws / "evals" / "fewshot-golden.json").read_text())
    assert few["n"] == len(few["examples"]) == 4 and few["provenance"]["params"]["few_shot_k"] == 4


def test_a_broken_handoff_fails_the_walk(workspace):
    """The walker refuses a step whose input no earlier step wrote, and a placeholder no earlier step filled."""
    by_hand(workspace)

    async def go():
        async with Client(_server(workspace)) as client:
            walker = Walker(client, workspace, "http://127.0.0.1:9/v1")
            with pytest.raises(StepFailed, match=r"(?s)failed: .*accepted\.jsonl"):
                await walker.step(Block("x", 0, "call", tool="split_dataset",
                                        args={"input_path": "data/validated/all/accepted.jsonl"}))
            with pytest.raises(StepFailed, match="no earlier step"):
                await walker.step(Block("x", 1, "call", tool="job_status", args={"job_id": "<train_qlora.job_id>"}))
            with pytest.raises(StepFailed, match="failed"):
                await walker.step(Block("x", 2, "shell", command="cat data/generated/batch_[0-9][0-9][0-9].jsonl"))

    asyncio.run(go())


@pytest.mark.slow
def test_all_four_playbooks_walk_with_real_training_and_export(workspace, tiny_model_dir):
    ws = workspace
    shutil.copytree(tiny_model_dir, ws / "models" / "tiny")
    walker = _walk(ws, ORDER, tiny_model="models/tiny")
    assert _made(walker, "small-model-finetuning") == [b.tool for b in steps("small-model-finetuning")]
    train, export = walker.answers["train_qlora"], walker.answers["export_gguf"]
    assert (ws / "runs" / train["job_id"] / "adapter" / "adapter_config.json").is_file()
    # DPO started from the folder export_gguf merged, and the judge playbook scored the file it exported
    dpo_run = json.loads((ws / "runs" / walker.answers["train_dpo"]["job_id"] / "run.json").read_text())
    assert Path(dpo_run["base_model_path"]).resolve() == (ws / export["merged_dir"]).resolve()
    ft = json.loads((ws / "evals" / "ft-golden.json").read_text())
    assert ft["model"]["ref"].endswith(f"triage-v1.{export['recommended']}.gguf")
    assert export["job_id"] in ft["model"]["ref"]
    for polled in (train["job_id"], export["job_id"], walker.answers["train_dpo"]["job_id"]):
        assert walker.polls.get(polled, 0) >= 1
