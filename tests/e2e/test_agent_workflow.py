"""The whole workflow driven only through the MCP server over stdio, the way a coding agent drives it:
call a tool, read its structured result, start jobs and poll job_status until they end, then check the
artifacts on disk. Teacher and judge are a scripted OpenAI-compatible server on 127.0.0.1 (real HTTP through
litellm); the student is the tiny local Llama, trained for real and exported to a real GGUF file."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.helpers.cpu import expected_cpu_method
from tests.helpers.fake_openai import FakeOpenAIServer
from tests.helpers.tiny_model import build_tiny_model

pytestmark = pytest.mark.slow

CATEGORIES = ["billing", "shipping"]
SCHEMA = {"type": "object", "additionalProperties": False, "required": ["category"],
          "properties": {"category": {"enum": CATEGORIES}}}
WORDS = {"billing": ["invoice", "charge", "refund", "card", "payment", "receipt", "price", "plan"],
         "shipping": ["parcel", "courier", "tracking", "delivery", "box", "address", "arrival", "truck"]}


def teacher(body: dict) -> str:
    """A scripted teacher: the rows it writes are varied, valid and labelled, wrapped in chatter."""
    prompt = "\n".join(str(m.get("content", "")) for m in body["messages"])
    if "RESPONSE A" in prompt:  # the same server also plays the judge
        return judge(prompt)
    n = int(re.search(r"Write (\d+) new examples", prompt).group(1))
    cat = re.search(r'category "([^"]+)"', prompt).group(1)
    seed = int(hashlib.sha1(prompt.encode()).hexdigest()[:8], 16)
    rows = []
    for k in range(n):
        w = WORDS[cat]
        a, b, c = w[(seed + k) % 8], w[(seed // 7 + 3 * k) % 8], w[(seed // 13 + 5 * k) % 8]
        rows.append(json.dumps({"input": f"Ticket {seed % 997}-{k}: my {a} and the {b}, {c} question "
                                         f"number {seed % 89 + k}", "output": {"category": cat}}))
    return "Sure, here are the rows:\n```jsonl\n" + "\n".join(rows) + "\n```"


def judge(prompt: str) -> str:
    a = re.search(r"\[RESPONSE A\]\n(.*?)\n\[END RESPONSE A\]", prompt, re.S).group(1)
    b = re.search(r"\[RESPONSE B\]\n(.*?)\n\[END RESPONSE B\]", prompt, re.S).group(1)
    qa, qb = (5 if '"category"' in s else 2 for s in (a, b))
    verdict = "A_better" if qa > qb else "B_better" if qb > qa else "tie"
    dims = re.findall(r"^- (\w+) \(weight", prompt, re.M) or ["overall"]
    return json.dumps({"a_scores": {d: qa for d in dims}, "b_scores": {d: qb for d in dims},
                       "reasoning": "scripted", "verdict": verdict})


async def call(client: Client, name: str, args: dict) -> dict:
    res = await client.call_tool(name, args)
    assert not res.is_error, f"{name}: {res.content[0].text if res.content else res}"
    assert isinstance(res.structured_content, dict)
    return res.structured_content


async def wait_job(client: Client, job_id: str, timeout: float = 900) -> dict:
    seen_running = False
    for _ in range(int(timeout * 2)):
        st = await call(client, "job_status", {"job_id": job_id})
        seen_running |= st["state"] == "running"
        if st["state"] in ("succeeded", "failed", "cancelled"):
            assert st["state"] == "succeeded", (st.get("error"), st.get("log_tail"))
            return st
        await asyncio.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish")


def test_agent_drives_the_whole_workflow_over_stdio(workspace):
    ws = workspace
    (ws / "task").mkdir()
    (ws / "task" / "schema.json").write_text(json.dumps(SCHEMA))
    golden = [{"id": f"g{i}", "messages": [{"role": "user", "content": f"Ticket {i}: the {w} is wrong"},
                                            {"role": "assistant", "content": json.dumps({"category": cat})}],
               "meta": {"category": cat}}
              for i, (cat, w) in enumerate([("billing", "invoice"), ("shipping", "parcel"), ("billing", "charge"),
                                            ("shipping", "courier"), ("billing", "payment"), ("shipping", "box")])]
    (ws / "task" / "golden.jsonl").write_text("".join(json.dumps(r) + "\n" for r in golden))
    build_tiny_model(ws / "models" / "tiny")

    with FakeOpenAIServer(teacher) as server:
        params = StdioServerParameters(command=sys.executable, args=["-m", "specialize", "mcp"],
                                       env=dict(os.environ, SPECIALIZE_WORKSPACE=str(ws)))

        async def agent() -> dict:
            out: dict = {}
            async with Client(params) as c:
                names = {t.name for t in (await c.list_tools()).tools}
                assert {"assess_task", "estimate_break_even", "generate_batch", "validate_rows", "split_dataset",
                        "train_qlora", "job_status", "run_eval", "run_pairwise_judge", "export_gguf",
                        "release_gate", "compare_models"} <= names

                a = await call(c, "assess_task", {"monthly_api_spend_usd": 4000, "task_type": "classification",
                                                  "num_examples": 200})
                assert a["recommendation"] and a["next_tools"]
                be = await call(c, "estimate_break_even", {"monthly_api_spend_usd": 5000, "training_cost_usd": 500,
                                                           "serving_monthly_usd": 200, "engineering_hours": 40})
                assert abs(be["break_even_months"] - 4500 / 4800) < 1e-9

                gen = await call(c, "generate_batch", {
                    "model": "openai/teacher", "api_base": server.url, "task_description": "Route tickets.",
                    "schema_path": "task/schema.json", "categories": CATEGORIES, "difficulties": ["easy", "hard"],
                    "rows_per_cell": 12, "rows_per_request": 6, "concurrency": 4})
                if gen.get("job_id"):
                    gen = (await wait_job(c, gen["job_id"]))["result"]
                assert gen["rows"] == 48 and gen["rejected"] == 0
                out["gen"] = gen

                val = await call(c, "validate_rows", {"input_path": gen["batch_path"], "expected_format": "chat",
                                                      "schema_path": "task/schema.json",
                                                      "eval_sets": ["task/golden.jsonl"]})
                assert val["accepted"] + val["rejected"] == val["total"] == 48
                assert val["accepted"] >= 24 and val["version"].startswith("ds-")
                out["val"] = val

                split = await call(c, "split_dataset", {"input_path": val["accepted_path"], "seed": 1,
                                                        "golden_path": "task/golden.jsonl"})
                assert sum(split["counts"].values()) == val["accepted"] - split["golden_excluded"]
                out["split"] = split

                handle = await call(c, "train_qlora", {
                    "dataset": split["paths"]["train"], "base_model": "models/tiny", "label": "e2e",
                    "overrides": {"max_steps": 40, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1,
                                  "learning_rate": 3e-3, "max_seq_length": 128, "packing": False,
                                  "save_steps": 20, "early_stopping": False, "lora_r": 8, "lora_alpha": 16}})
                assert handle["job_id"] and handle["state"] == "queued"
                trained = await wait_job(c, handle["job_id"])
                run = trained["result"]
                assert run["method"]["name"] == expected_cpu_method()
                assert run["metrics"]["train_loss_last"] < run["metrics"]["train_loss_first"]
                out["run"] = run

                tuned = await call(c, "run_eval", {"model": run["base_model_path"],
                                                   "adapter": str(Path(trained["run_dir"]) / "adapter"),
                                                   "eval_set": "task/golden.jsonl", "task_type": "classification",
                                                   "label_field": "category", "schema_path": "task/schema.json",
                                                   "max_tokens": 16, "output": "evals/tuned.json"})
                base = await call(c, "run_eval", {"model": run["base_model_path"], "eval_set": "task/golden.jsonl",
                                                  "task_type": "classification", "label_field": "category",
                                                  "schema_path": "task/schema.json", "max_tokens": 16,
                                                  "output": "evals/base.json"})
                assert tuned["n"] == base["n"] == 6 and "latency_s" in tuned
                out["tuned"], out["base"] = tuned, base

                verdict = await call(c, "run_pairwise_judge", {
                    "responses": [tuned["results_path"], base["results_path"]], "names": ["tuned", "base"],
                    "judge_model": "openai/judge", "api_base": server.url, "concurrency": 4})
                pair = verdict["pairs"][0]
                assert pair["n_items"] == 6 and 0 <= pair["win_rate_ties_half"] <= 1
                assert pair["position_consistency"] is not None
                out["judge"] = verdict

                exp = await call(c, "export_gguf", {"source": handle["job_id"], "quants": ["q8_0"],
                                                    "golden_path": "task/golden.jsonl", "max_new_tokens": 16})
                exported = (await wait_job(c, exp["job_id"]))["result"]
                out["export"] = exported

                gate = await call(c, "release_gate", {"candidate": tuned["results_path"],
                                                      "current": base["results_path"]})
                assert gate["decision"] in ("ship", "no_ship", "incomplete") and gate["criteria"]
                report = await call(c, "compare_models", {"results": [base["results_path"], tuned["results_path"]],
                                                          "names": ["base", "tuned"],
                                                          "judgments": verdict["judgments_path"],
                                                          "output_dir": "reports/e2e"})
                out["report"] = report
                jobs = await call(c, "list_jobs", {})
                assert {j["kind"] for j in jobs["jobs"]} >= {"train_qlora", "export_gguf"}
            return out

        out = asyncio.run(agent())

    # the artifacts an agent was pointed at are really there
    assert (ws / out["gen"]["batch_path"]).exists()
    assert sum(1 for _ in open(ws / out["val"]["accepted_path"])) == out["val"]["accepted"]
    run_dir = Path(out["run"]["run_dir"]) if "run_dir" in out["run"] else ws / "runs" / out["run"]["job_id"]
    assert (run_dir / "adapter" / "adapter_config.json").exists() and (run_dir / "run.json").exists()
    assert (ws / out["tuned"]["results_path"]).exists() and (ws / "evals" / "base.json").exists()
    ggufs = list(ws.rglob("*.gguf"))
    assert any("q8_0" in p.name.lower() for p in ggufs), ggufs
    assert list(ws.rglob("Modelfile")) and list(ws.rglob("MODEL_CARD.md"))
    assert (ws / out["report"]["report_path"]).exists()
    assert all((ws / p).exists() or Path(p).exists() for p in out["report"]["plots"])
    datasets = (ws / "registry" / "datasets.jsonl").read_text()
    assert out["val"]["version"] in datasets
    runs = [json.loads(line) for line in (ws / "registry" / "runs.jsonl").read_text().splitlines()]
    assert any(r.get("kind") == "train_qlora" for r in runs)
