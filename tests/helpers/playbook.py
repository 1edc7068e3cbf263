"""The playbooks' code blocks, read by the convention of small-model-finetuning/references/project-layout.md
("Reading the call blocks"), and a walker that makes their steps over MCP the way an agent would.

- ```json tool=<name>``` is a step, ```json tool=<name> alt``` an alternative (schema-checked, not walked),
  ```bash step``` a shell step run in the workspace; a plain ```json``` block is a data example (a row), any
  other json info string is an error; other bash blocks are CLI examples.
- ``<tool.field>`` in a value is the field of the latest answer of that tool; for a job, the job's result
  (job_status once it succeeded) over the handle.

The walker changes only what the test machine needs and says so: LLM calls go to the scripted OpenAI-compatible
server (``hosted_vllm/<name>`` with its ``api_base``), training uses the tiny test model and a few steps, local
models answer at most a few tokens, and jobs are polled every half second instead of every 10 to 30 seconds.
No path of a step is changed: a step that names a file no earlier step wrote fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from specialize.runtime.workspace import skills_root

ORDER = ["model-economics", "training-data-pipeline", "small-model-finetuning", "llm-as-judge-evaluation"]
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```", re.S | re.M)
SERVICES = {"open_review"}  # tools whose job is a server that runs until cancelled
CALL_INFO = re.compile(r"json tool=(?P<tool>[a-z_]+)(?P<alt> alt)?")
PLACEHOLDER = re.compile(r"<([a-z_]+)\.([a-z_][a-z0-9_.]*)>")
FINAL = ("succeeded", "failed", "cancelled")
# litellm providers the playbooks name; each is stood in for by the scripted server
PROVIDERS = ("openai", "anthropic", "hosted_vllm")
LLM_FIELDS = {"generate_batch": ("model",), "run_eval": ("model",), "validate_rows": ("judge_model",),
              "run_pairwise_judge": ("judge_model",)}
# a few optimizer steps on the tiny model; packing off and short rows so the run is quick on a CPU
SMALL_RUN = {"max_steps": 3, "per_device_train_batch_size": 2, "gradient_accumulation_steps": 1,
             "max_seq_length": 256, "packing": False, "save_steps": 2, "eval_steps": 2, "logging_steps": 1,
             "early_stopping": False}
# SFT trains long enough, at the tiny model's learning rate, for its answers to end at EOS: export_gguf rejects
# files whose answers run on, and that check is part of the walk
SMALL_SFT = {**SMALL_RUN, "max_steps": 200, "per_device_train_batch_size": 4, "learning_rate": 3e-3,
             "save_steps": 100, "eval_steps": 100}
LOCAL_MAX_TOKENS = 32


@dataclass
class Block:
    skill: str
    pos: int
    kind: str  # "call" or "shell"
    alt: bool = False
    tool: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    command: str = ""


def blocks(skill: str) -> list[Block]:
    """Every call block and shell step of one playbook, in order; a json block off the convention is an error."""
    text = (skills_root() / skill / "SKILL.md").read_text()
    out = []
    for m in FENCE.finditer(text):
        info, body = m.group(1).strip(), m.group(2)
        if info.startswith("json") and info != "json":  # a plain json block is a data example (a row)
            call = CALL_INFO.fullmatch(info)
            assert call, f"{skill}: json block with info string {info!r} is neither a step nor an alt call"
            out.append(Block(skill, m.start(), "call", bool(call["alt"]), call["tool"], json.loads(body)))
        elif info == "bash step":
            out.append(Block(skill, m.start(), "shell", command=body.strip()))
        else:
            assert info in ("", "json", "bash", "text", "yaml"), f"{skill}: unknown info string {info!r}"
    return out


def steps(skill: str) -> list[Block]:
    return [b for b in blocks(skill) if not b.alt]


def hand_on_paths(skill: str) -> list[str]:
    """Workspace paths named in the playbook's closing 'What this playbook hands on' section."""
    text = (skills_root() / skill / "SKILL.md").read_text()
    section = text[text.index("## What this playbook hands on"):]
    nxt = section.find("\n## ", 5)
    section = section if nxt < 0 else section[:nxt]
    top = ("task/", "eval/", "data/", "runs/", "evals/", "judgments/", "reports/", "decisions/", "registry/")
    return [p for p in re.findall(r"`([^`\s]+)`", section) if p.startswith(top) and "<" not in p]


class StepFailed(AssertionError):
    pass


class Walker:
    """Makes a playbook's steps through an MCP client session and keeps each tool's latest answer."""

    def __init__(self, client: Any, workspace: Path, api_base: str, *, tiny_model: str | None = None,
                 poll_s: float = 0.5, job_timeout_s: float = 1800) -> None:
        self.client, self.ws, self.api_base = client, workspace, api_base
        self.tiny_model, self.poll_s, self.job_timeout_s = tiny_model, poll_s, job_timeout_s
        self.answers: dict[str, dict[str, Any]] = {}
        self.made: list[tuple[str, str, dict[str, Any]]] = []  # (skill, tool, arguments as sent)
        self.polls: dict[str, int] = {}

    # -- placeholders -----------------------------------------------------------------------------------------
    def fill(self, value: Any, where: str) -> Any:
        if isinstance(value, dict):
            return {k: self.fill(v, where) for k, v in value.items()}
        if isinstance(value, list):
            return [self.fill(v, where) for v in value]
        if not isinstance(value, str):
            return value

        def one(m: re.Match) -> str:
            tool, path = m.group(1), m.group(2)
            if tool not in self.answers:
                raise StepFailed(f"{where}: <{tool}.{path}> names a tool no earlier step called")
            got: Any = self.answers[tool]
            for part in path.split("."):
                if not isinstance(got, dict) or got.get(part) is None:
                    raise StepFailed(f"{where}: the answer of {tool} has no {path} (fields: {sorted(self.answers[tool])})")
                got = got[part]
            return str(got)

        return PLACEHOLDER.sub(one, value)

    # -- the test machine's stand-ins ---------------------------------------------------------------------------
    def adapt(self, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        args = dict(args)
        routed = False
        for key in LLM_FIELDS.get(tool, ()):
            model = args.get(key)
            if isinstance(model, str) and "/" in model and model.split("/", 1)[0] in PROVIDERS:
                args[key] = "hosted_vllm/" + model.split("/", 1)[1]
                routed = True
        if "api_base" in args:
            assert routed and "127.0.0.1" in args["api_base"], f"{tool}: api_base {args['api_base']} is not local"
        if routed:
            args["api_base"] = self.api_base
        if tool in ("train_qlora", "train_dpo"):
            if tool == "train_qlora":
                assert self.tiny_model, "training needs the tiny model"
                args["base_model"] = self.tiny_model
            args["overrides"] = {**args.get("overrides", {}), **(SMALL_SFT if tool == "train_qlora" else SMALL_RUN)}
        if tool == "run_eval" and not routed:
            args.setdefault("max_tokens", LOCAL_MAX_TOKENS)
        # export_gguf keeps its own generation limit: the tiny model's 512-token vocabulary spells one JSON answer
        # in more than 32 tokens, and a cap that cuts a right answer reads as "did not stop at EOS"
        return args

    # -- calls and jobs -------------------------------------------------------------------------------------------
    async def call(self, tool: str, args: dict[str, Any], where: str) -> dict[str, Any]:
        res = await self.client.call_tool(tool, args)
        if res.is_error:
            text = res.content[0].text if res.content else str(res)
            raise StepFailed(f"{where}: {tool} {json.dumps(args)} failed: {text}")
        assert isinstance(res.structured_content, dict), f"{where}: {tool} gave no structured content"
        return res.structured_content

    async def follow(self, job_id: str, where: str) -> dict[str, Any]:
        """The job procedure of long-jobs.md: poll job_status until a terminal state; on failure read error,
        then job_logs."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.job_timeout_s
        while True:
            status = await self.call("job_status", {"job_id": job_id}, where)
            self.polls[job_id] = self.polls.get(job_id, 0) + 1
            if status["state"] in FINAL:
                break
            if loop.time() > deadline:
                raise StepFailed(f"{where}: job {job_id} still {status['state']} after {self.job_timeout_s} s")
            await asyncio.sleep(self.poll_s)
        if status["state"] != "succeeded":
            logs = await self.call("job_logs", {"job_id": job_id, "lines": 200}, where)
            raise StepFailed(f"{where}: job {job_id} {status['state']}: {status.get('error')}\n"
                             + "\n".join(logs.get("lines", [])[-40:]))
        return status

    async def step(self, block: Block) -> dict[str, Any] | None:  # noqa: C901
        where = f"{block.skill} @{block.pos}"
        if block.kind == "shell":
            done = subprocess.run(["bash", "-c", block.command], cwd=self.ws, capture_output=True, text=True)
            if done.returncode:
                raise StepFailed(f"{where}: shell step {block.command!r} failed: {done.stderr}")
            return None
        args = self.adapt(block.tool, self.fill(block.args, where))
        answer = await self.call(block.tool, args, where)
        if block.tool in SERVICES:
            # The review page serves until it is cancelled: its "job" never reaches a terminal state. The walk
            # plays the person — one answer per queued item (a tie, an accept, the first failure cause) — then
            # closes the page, the way the playbook's reader would once the labels are in.
            from specialize.review import failures, rows, store

            old = os.environ.get("SPECIALIZE_WORKSPACE")
            os.environ["SPECIALIZE_WORKSPACE"] = str(self.ws)
            try:
                rid = answer["review_id"]
                kind = store.load_review(rid)["kind"]
                for item in store.load_items(rid):
                    if kind == "judge":
                        store.record_answer(rid, item["key"], "walker", "tie")
                    elif kind == "rows":
                        rows.record_decision(rid, item["key"], "walker", "accept")
                    else:
                        failures.record_tags(rid, item["key"], "walker", [failures.causes()[0]["code"]])
            finally:
                if old is None:
                    os.environ.pop("SPECIALIZE_WORKSPACE", None)
                else:
                    os.environ["SPECIALIZE_WORKSPACE"] = old
            await self.call("job_cancel", {"job_id": answer["job_id"]}, where)
        elif answer.get("job_id") and answer.get("state") not in FINAL:
            status = await self.follow(answer["job_id"], where)
            answer = {**answer, **(status.get("result") or {})}
        self.answers[block.tool] = answer
        self.made.append((block.skill, block.tool, args))
        return answer

    async def walk(self, skill: str) -> None:
        for block in steps(skill):
            await self.step(block)
