"""generate_batch against a real OpenAI-compatible server on 127.0.0.1 (litellm over HTTP, no mocks):
parsing, provenance, faults, the cache (zero calls on a re-run), resume after failures, jobs, key hygiene."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from specialize.tools.generate import GenerateBatchParams, generate_batch

from specialize.runtime import jobs, registry
from specialize.runtime.workspace import resolve_path
from tests.helpers.fake_openai import FakeOpenAIServer, FaultPlan

SCHEMA = {"type": "object", "required": ["category"], "properties": {"category": {"type": "string"}}}


def teacher(body: dict) -> str:
    prompt = body["messages"][-1]["content"]
    n = int(re.search(r"Write (\d+) new examples", prompt).group(1))
    cat = re.search(r'category "([^"]+)"', prompt).group(1)
    tag = hashlib.sha1(prompt.encode()).hexdigest()[:10]
    lines = [json.dumps({"input": f"ticket {tag} number {k} about {cat}", "output": {"category": cat},
                         "language": "en"}) for k in range(n)]
    if cat == "messy":
        lines.insert(1, '{"input": "broken row", "output": ')
        lines.append('{"nonsense": true}')
    return "Here are the rows you asked for:\n```jsonl\n" + "\n".join(lines) + "\n```\nHope this helps!"


def plan(**kw) -> GenerateBatchParams:
    base = dict(model="openai/teacher", task_description="Sort support tickets into a category.",
                schema_path="schema.json", categories=["billing", "shipping"], difficulties=["easy", "hard"],
                rows_per_cell=6, rows_per_request=4, concurrency=8, backoff=None)
    base.pop("backoff")
    base.update(kw)
    return GenerateBatchParams(**base)


def rows_of(ws, res):
    return [json.loads(x) for x in (ws / res.batch_path).read_text().splitlines()]


def test_plan_runs_parses_and_records_provenance(workspace):
    (workspace / "schema.json").write_text(json.dumps(SCHEMA))
    with FakeOpenAIServer(teacher, keep_bodies=True) as server:
        res = generate_batch(plan(api_base=server.url, cells=[{"category": "messy", "difficulty": "easy",
                                                                "count": 3}],
                                  required_edge_cases=["a ticket in capitals"],
                                  negative_constraints=["no real company names"]))
        prompts = [b["messages"][-1]["content"] for b in server.counters.bodies]
    assert res.job_id is None and res.requests == 9 and res.planned_rows == 27
    assert res.batch_path == "data/generated/batch_001.jsonl"
    rows = rows_of(workspace, res)
    assert len(rows) == 27 == res.rows
    tpl_sha = hashlib.sha256(resolve_path("builtin:prompts/generate_rows.j2", arg="t").read_bytes()).hexdigest()
    assert res.template_sha256 == tpl_sha
    for r in rows:
        assert r["messages"][0]["role"] == "user" and r["messages"][1]["role"] == "assistant"
        assert json.loads(r["messages"][1]["content"]) == {"category": r["meta"]["category"]}
        p = r["provenance"]
        assert p["teacher"] == "openai/teacher" and p["template_sha256"] == tpl_sha
        assert {"category", "difficulty", "seed", "created_at"} <= set(p)
    cells = {(r["meta"]["category"], r["meta"]["difficulty"]) for r in rows}
    assert ("billing", "hard") in cells and ("messy", "easy") in cells
    rejected = [json.loads(x) for x in (workspace / res.rejected_path).read_text().splitlines()]
    assert {r["reason"].split(":")[0] for r in rejected} == {"invalid_json", "unrecognised_row_shape"}
    assert all(r["raw"] for r in rejected)
    assert any("a ticket in capitals" in p and "no real company names" in p and '"category"' in p for p in prompts)
    assert res.usage.prompt_tokens > 0 and res.usage.http_calls == 9
    assert registry.find_dataset(res.version)["rows"] == 27


def test_faults_lose_no_row_and_rerun_costs_no_calls(workspace, monkeypatch):
    secret = "sk-test-SECRET-4242424242"
    monkeypatch.setenv("SPECIALIZE_LOCAL_API_KEY", secret)
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    (workspace / "schema.json").write_text(json.dumps(SCHEMA))
    faults = FaultPlan(p_500=0.3, p_429=0.1, p_timeout=0.1, stall_s=1.5, retry_after_s=0.01, seed=5)
    with FakeOpenAIServer(teacher, faults) as server:
        p = plan(api_base=server.url, rows_per_cell=24, rows_per_request=2, max_retries=15, timeout_s=0.7,
                 concurrency=16)
        res = generate_batch(p)
        c = server.counters
        assert c.http_500 > 0 and c.http_429 > 0 and c.timeouts > 0
        assert res.failed_requests == 0 and res.rows == res.planned_rows == 96
        assert res.usage.retries >= c.http_500 + c.http_429
        before = c.requests
        again = generate_batch(p)
        assert server.counters.requests == before  # every answer came from the cache
    assert again.usage.http_calls == 0 and again.usage.cache_hits == 48 and again.rows == 96
    assert [r["messages"] for r in rows_of(workspace, again)] != []
    same = sorted(json.dumps(r["messages"]) for r in rows_of(workspace, res))
    assert same == sorted(json.dumps(r["messages"]) for r in rows_of(workspace, again))
    for path in (workspace / "data").rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(errors="replace")
    assert secret not in res.model_dump_json()


def test_interrupted_plan_resumes_without_repeating_requests(workspace):
    (workspace / "schema.json").write_text(json.dumps(SCHEMA))
    with FakeOpenAIServer(teacher, FaultPlan(p_500=0.5, seed=11)) as flaky:
        first = generate_batch(plan(api_base=flaky.url, max_retries=0))
    assert 0 < first.failed_requests < first.requests and first.rows < first.planned_rows
    with FakeOpenAIServer(teacher) as healthy:
        second = generate_batch(plan(api_base=healthy.url, resume_batch=first.batch_path))
        assert healthy.counters.requests == first.failed_requests
    assert second.skipped_requests == first.requests - first.failed_requests
    rows = rows_of(workspace, second)
    assert len(rows) == second.planned_rows == second.rows
    assert len({r["id"] for r in rows}) == len(rows)


def test_plan_file_like_task_yaml_and_job_mode(workspace):
    (workspace / "task").mkdir()
    (workspace / "task" / "schema.json").write_text(json.dumps(SCHEMA))
    (workspace / "task" / "task.yaml").write_text(
        "description: Triage tickets.\nschema: schema.json\n"
        "generation_plan:\n  cells:\n    - {category: refund, difficulty: easy, count: 3}\n"
        "    - {category: other, difficulty: hard, count: 2}\n"
        "  difficulty_guide: {easy: one short message, hard: long and messy}\n"
        "  languages: {en: 0.8, de: 0.2}\n"
        "  required_edge_cases: [a pasted error log]\n  negative_constraints: [no real names]\n")
    with FakeOpenAIServer(teacher, keep_bodies=True) as server:
        handle = generate_batch(GenerateBatchParams(model="openai/teacher", api_base=server.url,
                                                    plan_path="task/task.yaml", as_job=True))
        assert handle.job_id and handle.state in ("queued", "running")
        status = jobs.wait(handle.job_id, timeout=60)
        prompt = server.counters.bodies[0]["messages"][-1]["content"]
    assert status["state"] == "succeeded", status
    assert status["result"]["rows"] == 5 and status["step"] == 5 and status["total"] == 5
    assert "long and messy" in prompt or "one short message" in prompt
    assert "en 80%" in prompt and "Triage tickets." in prompt
    assert len(rows_of(workspace, handle)) == 5


STRICT = {"type": "object", "additionalProperties": False, "required": ["category"],
          "properties": {"category": {"enum": ["billing", "shipping"]}}}


def grammar_teacher(body: dict) -> str:
    """Answers the way a grammar-constrained llama.cpp teacher does: one JSON array of exactly n rows, except
    that 'shipping' answers come wrapped as {"rows": [...]} and the last one is cut off by the token limit."""
    prompt = body["messages"][-1]["content"]
    n = int(re.search(r"Write (\d+) new examples", prompt).group(1))
    cat = re.search(r'category "([^"]+)"', prompt).group(1)
    rows = [{"input": f"{cat} ticket {k} {hashlib.sha1(prompt.encode()).hexdigest()[:6]}",
             "output": {"category": cat}, "language": "en"} for k in range(n)]
    if cat == "shipping":
        return json.dumps({"rows": rows})
    return json.dumps(rows)[:-20]  # truncated inside the last row


def test_local_teacher_is_asked_for_rows_in_the_schema(workspace):
    import jsonschema

    (workspace / "schema.json").write_text(json.dumps(STRICT))
    with FakeOpenAIServer(grammar_teacher, keep_bodies=True) as server:
        res = generate_batch(plan(api_base=server.url, model="hosted_vllm/teacher", categories=["billing"],
                                  difficulties=["easy"], rows_per_cell=5, rows_per_request=3,
                                  cells=[{"category": "shipping", "difficulty": "hard", "count": 2}]))
        bodies = sorted(server.counters.bodies, key=lambda b: b["messages"][-1]["content"])
    assert res.decoding_mode == "schema_grammar"
    fmts = [b["response_format"] for b in bodies]
    assert all(f["type"] == "json_object" for f in fmts)
    sizes = sorted((f["schema"]["minItems"], f["schema"]["maxItems"]) for f in fmts)
    assert sizes == [(2, 2), (2, 2), (3, 3)]  # billing 5 = 3 + 2, shipping 2
    good = [{"input": "where is my parcel", "output": {"category": "shipping"}, "language": "en"}] * 2
    schema = next(f["schema"] for f in fmts if f["schema"]["minItems"] == 2)
    jsonschema.validate(good, schema)  # what the server was sent accepts good rows ...
    for bad in ([good[0]], [good[0], {**good[0], "output": {"category": "refund"}}],
                [good[0], {"input": "x", "output": {"category": "shipping"}}]):
        with pytest.raises(jsonschema.ValidationError):  # ... and refuses wrong counts, labels and shapes
            jsonschema.validate(bad, schema)
    rows = rows_of(workspace, res)
    # billing: 3 + 2 asked, one row lost to each truncation; shipping: both rows, unwrapped from {"rows": ...}
    assert res.rows == len(rows) == 3 + 2
    assert sorted(r["meta"]["category"] for r in rows) == ["billing"] * 3 + ["shipping"] * 2
    assert all(r["provenance"]["decoding"] == "schema_grammar" for r in rows)
    rejected = [json.loads(x) for x in (workspace / res.rejected_path).read_text().splitlines()]
    assert len(rejected) == 2 and all(r["reason"].startswith("invalid_json") and r["raw"] for r in rejected)


def test_unconstrained_teacher_gets_no_response_format(workspace):
    (workspace / "schema.json").write_text(json.dumps(STRICT))
    with FakeOpenAIServer(teacher, keep_bodies=True) as server:
        res = generate_batch(plan(api_base=server.url, categories=["billing"], difficulties=["easy"],
                                  rows_per_cell=2, rows_per_request=2, constrained=False))
        assert "response_format" not in server.counters.bodies[0]
    assert res.decoding_mode == "unconstrained" and res.rows == 2
