"""run_eval end to end: a scripted model behind a real local HTTP server, real files, hand-checked numbers."""

from __future__ import annotations

import hashlib
import json

import pytest
from specialize.tools.evaluate import RunEvalParams, run_eval

from specialize.runtime import jobs
from tests.helpers.fake_openai import FakeOpenAIServer

SCHEMA = {"type": "object", "required": ["category", "priority", "needs_human"],
          "properties": {"category": {"enum": ["billing", "bug", "account"]},
                         "priority": {"enum": ["low", "normal", "high"]}, "needs_human": {"type": "boolean"}},
          "additionalProperties": False}


def _ref(cat, pri, human):
    return {"category": cat, "priority": pri, "needs_human": human}


# (ticket, reference, what the scripted model answers)
CASES = [
    ("charged twice", _ref("billing", "high", True), json.dumps(_ref("billing", "high", True))),
    ("refund please", _ref("billing", "normal", False), "```json\n" + json.dumps(_ref("billing", "normal", False)) + "\n```"),
    ("app crashes", _ref("bug", "high", False), json.dumps(_ref("bug", "normal", False))),  # wrong priority
    ("login fails", _ref("account", "normal", True), json.dumps(_ref("bug", "normal", True))),  # wrong category
    ("export broken", _ref("bug", "low", False), "Sorry, I cannot help with that."),  # not JSON
    ("password reset", _ref("account", "low", False), json.dumps({**_ref("account", "low", False), "x": 1})),  # schema
]


def _write_set(ws, name="eval.jsonl", extra_bad=True):
    path = ws / name
    with open(path, "w") as fh:
        for i, (ticket, ref, _) in enumerate(CASES):
            fh.write(json.dumps({"id": f"t{i}", "messages": [
                {"role": "system", "content": "Triage the ticket as JSON."},
                {"role": "user", "content": ticket}, {"role": "assistant", "content": json.dumps(ref)}],
                "meta": {"category": ref["category"], "difficulty": "easy" if i < 3 else "hard"}}) + "\n")
        if extra_bad:
            fh.write('{"id": "bad", "messages": [{"role": "user", "content": "no reference"}]}\n')
            fh.write("not json at all\n")
    (ws / "schema.json").write_text(json.dumps(SCHEMA))
    return path


def _responder(body):
    ticket = body["messages"][-1]["content"]
    return {t: answer for t, _, answer in CASES}[ticket]


def test_extraction_metrics_buckets_and_provenance(workspace):
    _write_set(workspace)
    with FakeOpenAIServer(_responder, keep_bodies=True) as server:
        res = run_eval(RunEvalParams(model="openai/scripted", api_base=server.url, eval_set="eval.jsonl",
                                     task_type="extraction", schema_path="schema.json", label_field="category",
                                     critical_fields=["category", "needs_human"], cost_per_hour_usd=36.0,
                                     system_prompt="You are a careful triage assistant."))
        # the system_prompt parameter replaced the row's own system message
        assert server.counters.bodies[0]["messages"][0]["content"] == "You are a careful triage assistant."
        assert server.counters.bodies[0]["temperature"] == 0.0
    assert res.n == 6 and res.rejected == 2
    m = res.metrics.model_dump()
    assert m["parse_rate"] == pytest.approx(5 / 6)
    assert m["schema_pass_rate"] == pytest.approx(4 / 6)
    assert m["exact_match"] == pytest.approx(2 / 6)
    assert m["critical_field_accuracy"] == pytest.approx(4 / 6)  # t0, t1, t2, t5 (extra key, critical ones right)
    assert m["accuracy"] == pytest.approx(4 / 6)  # category right on t0, t1, t2, t5
    assert m["accuracy_ci"][0] <= m["accuracy"] <= m["accuracy_ci"][1]
    doc = json.loads((workspace / res.results_path).read_text())
    # the typed headline dumps to exactly the file's flat metrics (less the per-class and per-field tables)
    assert m == {k: v for k, v in doc["metrics"].items() if not isinstance(v, dict) and k != "error_types"}
    assert doc["eval_set"]["sha256"] and doc["model"]["ref"] == "openai/scripted"
    assert doc["latency_s"]["p95"] > 0 and doc["tokens_per_s"] > 0
    assert all(e["cost_usd"] == pytest.approx(36 / 3600 * e["latency_s"]) for e in doc["examples"])
    assert doc["cost_per_1k_requests_usd"] == pytest.approx(1000 * sum(e["cost_usd"] for e in doc["examples"]) / 6)
    assert doc["examples"][0]["warmup"] and doc["latency_s"]["n_timed"] == 5
    per = {e["id"]: e["error_type"] for e in doc["examples"]}
    assert per == {"t0": None, "t1": None, "t2": "wrong_priority", "t3": "wrong_category", "t4": "parse_error",
                   "t5": "schema_error"}
    cm = doc["metrics"]["confusion_matrix"]
    assert cm["matrix"][cm["labels"].index("account")][cm["labels"].index("bug")] == 1
    assert doc["metrics"]["per_class"]["billing"]["recall"] == 1.0
    fb = doc["failure_buckets"]
    assert {b["bucket"]: b["failures"] for b in fb["difficulty"]} == {"hard": 3, "easy": 1}
    assert {b["bucket"] for b in fb["error_type"]} >= {"parse_error", "schema_error", "wrong_category"}
    assert all(b["n"] for b in fb["input_length"])
    assert [r["reason"] for r in doc["rejected"]][0].startswith("no assistant")


def test_classification_and_tool_call(workspace):
    rows = [("hi", "greeting", "Greeting"), ("bye", "farewell", "greeting"), ("yo", "greeting", "greeting")]
    with open(workspace / "cls.jsonl", "w") as fh:
        for i, (u, ref, _) in enumerate(rows):
            fh.write(json.dumps({"id": i, "messages": [{"role": "user", "content": u},
                                                       {"role": "assistant", "content": ref}]}) + "\n")
    answers = {u: a for u, _, a in rows}
    with FakeOpenAIServer(lambda b: answers[b["messages"][-1]["content"]]) as server:
        res = run_eval(RunEvalParams(model="openai/x", api_base=server.url, eval_set="cls.jsonl",
                                     task_type="classification"))
    assert res.metrics.accuracy == pytest.approx(2 / 3)
    assert res.metrics.macro_f1 == pytest.approx((0.8 + 0.0) / 2)

    tool_rows = [("weather in Paris", {"name": "get_weather", "arguments": {"city": "Paris"}},
                  {"name": "get_weather", "arguments": {"city": "paris"}}),
                 ("weather in Rome", {"name": "get_weather", "arguments": {"city": "Rome"}},
                  {"name": "get_weather", "arguments": {"city": "Milan"}}),
                 ("book a flight", {"name": "book_flight", "arguments": {"to": "NYC"}},
                  {"tool_calls": [{"function": {"name": "get_weather", "arguments": "{\"to\": \"NYC\"}"}}]})]
    with open(workspace / "tools.jsonl", "w") as fh:
        for i, (u, ref, _) in enumerate(tool_rows):
            fh.write(json.dumps({"id": i, "messages": [{"role": "user", "content": u},
                                                       {"role": "assistant", "content": json.dumps(ref)}]}) + "\n")
    tanswers = {u: json.dumps(a) for u, _, a in tool_rows}
    with FakeOpenAIServer(lambda b: tanswers[b["messages"][-1]["content"]]) as server:
        res = run_eval(RunEvalParams(model="openai/x", api_base=server.url, eval_set="tools.jsonl",
                                     task_type="tool_call"))
    assert res.metrics.tool_name_accuracy == pytest.approx(2 / 3)
    assert res.metrics.argument_accuracy == pytest.approx(1 / 3)


def test_large_set_runs_as_job(workspace):
    _write_set(workspace, extra_bad=False)
    # the job's worker is another process: it needs a server that outlives this call
    with FakeOpenAIServer(_responder) as server:
        res = run_eval(RunEvalParams(model="openai/scripted", api_base=server.url, eval_set="eval.jsonl",
                                     task_type="json", schema_path="schema.json", job_threshold=3))
        assert res.job is not None and res.n == 0
        final = jobs.wait(res.job.job_id, timeout=120)
    assert final["state"] == "succeeded", final
    assert final["result"]["metrics"]["schema_pass_rate"] == pytest.approx(4 / 6)


@pytest.mark.slow
def test_embedded_gguf_eval(workspace):
    _write_set(workspace, extra_bad=False)
    res = run_eval(RunEvalParams(model="embedded:smollm2-135m", eval_set="eval.jsonl", task_type="extraction",
                                 label_field="category", limit=2, max_tokens=24))
    assert res.n == 2 and res.latency_s.p50 > 0 and res.tokens_per_s > 0
    assert res.cost_per_1k_requests_usd == 0.0


def test_task_card_fills_scoring_settings(workspace):
    _write_set(workspace, extra_bad=False)
    (workspace / "task").mkdir()
    (workspace / "task" / "schema.json").write_text(json.dumps(SCHEMA))
    (workspace / "task" / "task.yaml").write_text("task_type: json_extraction\nschema: schema.json\n"
                                                  "label_field: category\ncritical_fields: [category, needs_human]\n")
    with FakeOpenAIServer(_responder) as server:
        res = run_eval(RunEvalParams(model="openai/scripted", api_base=server.url, eval_set="eval.jsonl",
                                     task_card="task/task.yaml", output="evals/card.json"))
    assert res.primary_metric == "critical_field_accuracy"
    assert res.metrics.schema_pass_rate == pytest.approx(4 / 6) and res.metrics.accuracy == pytest.approx(4 / 6)
    doc = json.loads((workspace / res.results_path).read_text())
    assert doc["task_type"] == "json_extraction"


def test_limit_by_takes_each_group_in_turn(workspace):
    from specialize.tools.evaluate import load_eval_rows

    lines = []
    for cat, n in (("billing", 5), ("refund", 2), ("shipping", 3)):  # sorted by class, as golden sets often are
        for i in range(n):
            lines.append(json.dumps({"id": f"{cat}-{i}", "meta": {"category": cat},
                                     "messages": [{"role": "user", "content": "q"},
                                                  {"role": "assistant", "content": cat}]}))
    lines.insert(3, "not json")
    path = workspace / "sorted.jsonl"
    path.write_text("\n".join(lines) + "\n")
    first, _ = load_eval_rows(path, limit=4)
    assert {r["meta"]["category"] for r in first} == {"billing"}
    rows, rejected = load_eval_rows(path, limit=7, limit_by="category")
    assert [r["id"] for r in rows] == ["billing-0", "refund-0", "shipping-0", "billing-1", "refund-1",
                                       "shipping-1", "billing-2"]
    assert len(rejected) == 1 and rejected[0]["line"] == 4  # the broken line is still reported
    everything, _ = load_eval_rows(path, limit=50, limit_by="category")
    assert len(everything) == 10


def _write_shots(ws, name="train.jsonl", rows=None):
    # (id, ticket, category): sorted by class, so a plain "first k" would show billing only
    rows = rows or [("tr-b1", "invoice copy please", "billing"), ("tr-b2", "vat number missing", "billing"),
                    ("tr-b3", "card expired", "billing"), ("tr-g1", "sync fails", "bug"),
                    ("tr-g2", "report shows zero", "bug"), ("tr-a1", "locked out", "account")]
    with open(ws / name, "w") as fh:
        for rid, ticket, cat in rows:
            fh.write(json.dumps({"id": rid, "messages": [
                {"role": "system", "content": "a training-time system prompt"},
                {"role": "user", "content": ticket},
                {"role": "assistant", "content": json.dumps(_ref(cat, "low", False))}],
                "meta": {"category": cat}}) + "\n")
        fh.write("{broken\n")
    return name


def test_few_shot_turns_come_before_each_item_in_label_turns(workspace):
    _write_set(workspace, extra_bad=False)
    _write_shots(workspace)
    with FakeOpenAIServer(_responder, keep_bodies=True) as server:
        res = run_eval(RunEvalParams(model="openai/scripted", api_base=server.url, eval_set="eval.jsonl",
                                     task_type="extraction", schema_path="schema.json", label_field="category",
                                     few_shot_k=4, few_shot_path="train.jsonl", output="evals/shots.json"))
        bodies = server.counters.bodies
    # one per class in order of first appearance, then the second billing row
    assert res.few_shot_ids == ["tr-b1", "tr-g1", "tr-a1", "tr-b2"]
    assert res.decoding_mode == "unconstrained"
    assert len(bodies) == 6
    for body, (ticket, _, _) in zip(sorted(bodies, key=lambda b: b["messages"][-1]["content"]),
                                    sorted(CASES, key=lambda c: c[0])):
        msgs = body["messages"]
        assert [m["role"] for m in msgs] == ["system"] + ["user", "assistant"] * 4 + ["user"]
        assert msgs[0]["content"] == "Triage the ticket as JSON."  # the eval row's system prompt, not the shots'
        assert [m["content"] for m in msgs[1:9:2]] == ["invoice copy please", "sync fails", "locked out",
                                                       "vat number missing"]
        assert json.loads(msgs[4]["content"])["category"] == "bug"
        assert msgs[-1]["content"] == ticket
    assert res.metrics.parse_rate == pytest.approx(5 / 6)  # scoring is unchanged by the shots
    doc = json.loads((workspace / res.results_path).read_text())
    shot = doc["provenance"]["few_shot"]
    assert shot["k"] == 4 and shot["labels"] == ["billing", "bug", "account", "billing"]
    assert shot["unusable_rows"] == 1 and shot["path"] == "train.jsonl" and len(shot["turns_sha256"]) == 64
    assert len(doc["examples"][0]["prompt"]) == 2  # examples keep the item's own prompt; the shots are above
    with FakeOpenAIServer(_responder) as server:
        res3 = run_eval(RunEvalParams(model="openai/scripted", api_base=server.url, eval_set="eval.jsonl",
                                      task_type="extraction", label_field="category", few_shot_k=3,
                                      few_shot_path="train.jsonl", output="evals/shots3.json"))
    doc3 = json.loads((workspace / res3.results_path).read_text())
    assert doc3["provenance"]["few_shot"]["turns_sha256"] != shot["turns_sha256"]


def test_few_shots_from_the_eval_set_are_refused(workspace):
    from specialize.runtime.errors import InvalidInput

    _write_set(workspace, extra_bad=False)
    base = dict(model="openai/scripted", api_base="http://127.0.0.1:9/v1", eval_set="eval.jsonl",
                task_type="extraction", label_field="category", few_shot_k=2)
    with pytest.raises(InvalidInput, match="overlaps the eval set"):
        run_eval(RunEvalParams(**base, few_shot_path="eval.jsonl"))
    _write_shots(workspace, "same_id.jsonl", [("t3", "a different ticket", "bug"), ("x1", "other", "billing")])
    with pytest.raises(InvalidInput, match=r"t3 \(same id\)"):
        run_eval(RunEvalParams(**base, few_shot_path="same_id.jsonl"))
    # the same question under another id, with different case and spacing, is the same question
    _write_shots(workspace, "same_input.jsonl", [("x0", "  App   CRASHES ", "bug"), ("x1", "other", "billing")])
    with pytest.raises(InvalidInput, match=r"x0 \(same input as t2\)"):
        run_eval(RunEvalParams(**base, few_shot_path="same_input.jsonl"))
    with pytest.raises(InvalidInput, match="needs a file"):
        run_eval(RunEvalParams(**{**base, "few_shot_k": 3}))
    _write_shots(workspace, "small.jsonl", [("x0", "one", "bug")])
    with pytest.raises(InvalidInput, match="1 usable rows"):
        run_eval(RunEvalParams(**base, few_shot_path="small.jsonl"))


def test_constrained_decoding_sends_the_schema_and_is_recorded(workspace):
    from specialize.runtime.errors import InvalidInput

    _write_set(workspace, extra_bad=False)
    with FakeOpenAIServer(_responder, keep_bodies=True) as server:
        res = run_eval(RunEvalParams(model="hosted_vllm/scripted", api_base=server.url, eval_set="eval.jsonl",
                                     task_type="extraction", schema_path="schema.json", constrained=True,
                                     output="evals/constrained.json"))
        formats = [b.get("response_format") for b in server.counters.bodies]
        with pytest.raises(InvalidInput, match="needs the answer's JSON schema"):
            run_eval(RunEvalParams(model="hosted_vllm/scripted", api_base=server.url, eval_set="eval.jsonl",
                                   constrained=True))
    assert formats == [{"type": "json_object", "schema": SCHEMA}] * 6
    assert res.decoding_mode == "schema_grammar"
    prov = json.loads((workspace / res.results_path).read_text())["provenance"]
    assert prov["decoding"] == "greedy, schema_grammar" and prov["few_shot"] is None
    assert prov["decoding_schema_sha256"] == hashlib.sha256(
        json.dumps(SCHEMA, sort_keys=True).encode()).hexdigest()
