"""run_pairwise_judge against a scripted judge served over real HTTP (litellm -> 127.0.0.1)."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from specialize.tools.judge import PlanEvalSizeParams, RunPairwiseJudgeParams, plan_eval_size, run_pairwise_judge

from specialize.runtime import jobs
from tests.helpers.fake_openai import FakeOpenAIServer

DIMS = ["accuracy", "relevance", "clarity", "conciseness"]


def scripted_judge(bias: float):
    """Truthful judge (compares the planted quality=N) that, with probability `bias`, just picks response A."""

    def respond(body):
        msgs = body["messages"]
        text = msgs[0]["content"]
        a = re.search(r"\[RESPONSE A\]\n(.*?)\n\[END RESPONSE A\]", text, re.S).group(1)
        b = re.search(r"\[RESPONSE B\]\n(.*?)\n\[END RESPONSE B\]", text, re.S).group(1)
        if "ALWAYS_BAD" in a + b or ("FLAKY" in a + b and len(msgs) == 1):
            return "I think A is better overall."  # not JSON: must be retried / recorded
        qa, qb = (int(re.search(r"quality=(\d)", s).group(1)) for s in (a, b))
        u = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 2**32
        if u < bias:
            qa, qb = 5, 2
        verdict = "A_better" if qa > qb else "B_better" if qb > qa else "tie"
        return json.dumps({"a_scores": {d: qa for d in DIMS}, "b_scores": {d: qb for d in DIMS},
                           "reasoning": "scripted", "verdict": verdict})

    return respond


def _write(ws, name, qualities, tag=""):
    with open(ws / f"{name}.jsonl", "w") as fh:
        for i, q in enumerate(qualities):
            fh.write(json.dumps({"id": f"q{i}", "prompt": f"question {i}", "model": name,
                                 "response": f"{name} answer {i}{tag if i == 0 else ''} quality={q}"}) + "\n")
    return f"{name}.jsonl"


def _params(server, files, **kw):
    return RunPairwiseJudgeParams(responses=files, judge_model="openai/judge", api_base=server.url,
                                  concurrency=8, background=False, **kw)


def test_position_bias_is_exposed_and_neutralised(workspace):
    n = 50
    x = _write(workspace, "x", [4 if i % 5 < 4 else 2 for i in range(n)])  # x truly better on 80% of items
    y = _write(workspace, "y", [3] * n)
    with FakeOpenAIServer(scripted_judge(bias=0.6)) as server:
        fwd = run_pairwise_judge(_params(server, [x, y]))
        rev = run_pairwise_judge(_params(server, [y, x]))
    s, r = fwd.pairs[0], rev.pairs[0]
    assert s.n_items == n and s.judge_failures == 0
    assert s.position_consistency < 0.6  # the planted bias shows up as inconsistency ...
    assert s.position_a_preference > 0.7  # ... and as a preference for whatever is shown first
    assert any("position bias" in w for w in fwd.warnings)
    report = (workspace / fwd.report_path).read_text()
    assert "position consistency" in report and "Warning" in report
    # swapped protocol: listing order does not move the verdict, and the truly better model still leads
    assert s.win_rate_ties_half + r.win_rate_ties_half == pytest.approx(1.0)
    assert s.win_rate_ties_half > 0.5
    # while a single-order judge would have been badly biased toward the first position
    recs = json.loads((workspace / fwd.judgments_path).read_text())["records"]
    first_only = [c["outcome"] for rec in recs for c in rec["calls"] if c["first_is_a"]]
    assert first_only.count("win") / n > 0.75
    assert s.ci_low < s.win_rate_ties_half < s.ci_high


def test_equal_models_are_a_coin_flip_and_rerun_is_free(workspace):
    n = 40
    x = _write(workspace, "x", [4 if i % 2 else 2 for i in range(n)])
    y = _write(workspace, "y", [2 if i % 2 else 4 for i in range(n)])
    with FakeOpenAIServer(scripted_judge(bias=0.3)) as server:
        res = run_pairwise_judge(_params(server, [x, y]))
        calls = server.counters.requests
        assert calls == 2 * n
        again = run_pairwise_judge(_params(server, [x, y]))
        assert server.counters.requests == calls  # every judgment came from the cache
    assert again.calls.http_calls == 0 and again.calls.cache_hits == 2 * n
    s = res.pairs[0]
    assert s.ci_low <= 0.5 <= s.ci_high
    assert s.sign_test_p > 0.05
    assert again.pairs == res.pairs


def test_malformed_output_is_retried_then_recorded(workspace):
    x = _write(workspace, "x", [4, 4, 4, 4], tag=" FLAKY")
    y = _write(workspace, "y", [2, 2, 2, 2])
    with open(workspace / "y.jsonl", "a") as fh:  # item q4 exists in both; y's answer always breaks the judge
        fh.write(json.dumps({"id": "q4", "prompt": "q", "response": "ALWAYS_BAD quality=1"}) + "\n")
    with open(workspace / "x.jsonl", "a") as fh:
        fh.write(json.dumps({"id": "q4", "prompt": "q", "response": "fine quality=3"}) + "\n")
    with FakeOpenAIServer(scripted_judge(bias=0.0)) as server:
        res = run_pairwise_judge(_params(server, [x, y], retries=2))
    s = res.pairs[0]
    assert s.n_items == 5  # nothing dropped
    assert s.judge_failures == 1 and s.wins == 4
    assert res.calls.malformed_retries == 2 + 2 * 2  # FLAKY: one re-ask each order; ALWAYS_BAD: two each
    assert any("judge failure" in w for w in res.warnings)


def test_three_models_bradley_terry_and_human_validation(workspace):
    n = 15
    files = [_write(workspace, "strong", [5] * n), _write(workspace, "mid", [3] * n),
             _write(workspace, "weak", [1 if i % 3 else 4 for i in range(n)])]
    with open(workspace / "human.jsonl", "w") as fh:
        for i in range(n):
            fh.write(json.dumps({"id": f"q{i}", "model_a": "weak", "model_b": "strong", "verdict": "B_better"}) + "\n")
    with FakeOpenAIServer(scripted_judge(bias=0.0)) as server:
        res = run_pairwise_judge(_params(server, files, human_labels="human.jsonl"))
    bt = res.bradley_terry
    assert bt["strong"].strength > bt["mid"].strength > bt["weak"].strength
    assert bt["strong"].low <= bt["strong"].strength <= bt["strong"].high
    assert res.judge_validation.agreement == 1.0 and res.judge_validation.n == n
    assert not any("human labels" in w for w in res.warnings)
    # a biased judge disagrees with the same humans, and every report says so
    with FakeOpenAIServer(scripted_judge(bias=0.9)) as server:
        res2 = run_pairwise_judge(_params(server, files[::2], human_labels="human.jsonl",
                                          output_dir="judgments/biased"))
    assert res2.judge_validation.agreement < 0.8
    assert "human labels" in (workspace / res2.report_path).read_text()


def test_large_run_is_a_job(workspace):
    x = _write(workspace, "x", [4] * 10)
    y = _write(workspace, "y", [2] * 10)
    with FakeOpenAIServer(scripted_judge(bias=0.0)) as server:
        res = run_pairwise_judge(RunPairwiseJudgeParams(responses=[x, y], judge_model="openai/judge",
                                                        api_base=server.url, job_threshold=5))
        assert res.job is not None
        final = jobs.wait(res.job.job_id, timeout=120)
    assert final["state"] == "succeeded", final
    assert final["result"]["pairs"][0]["wins"] == 10


def test_bulky_response_files_start_a_job_without_being_read_in_the_call(workspace):
    """Counting judge calls means parsing every response file; past COUNT_INLINE_MAX_BYTES in all, the call hands
    the work to a job at once, even when the few items inside would be judged in the call."""
    from specialize.tools import judge as judge_mod

    big = "x" * (judge_mod.COUNT_INLINE_MAX_BYTES // 6 + 1)  # 3 rows per file, 2 files: just over the limit
    files = []
    for name in ("a", "b"):
        with open(workspace / f"{name}.jsonl", "w") as fh:
            for i in range(3):
                fh.write(json.dumps({"id": f"q{i}", "prompt": "p", "response": f"{name}{i}{big}"}) + "\n")
        files.append(f"{name}.jsonl")
    assert sum((workspace / f).stat().st_size for f in files) > judge_mod.COUNT_INLINE_MAX_BYTES
    assert 2 * 3 < RunPairwiseJudgeParams.model_fields["job_threshold"].default  # few calls: not why it is a job
    with FakeOpenAIServer(scripted_judge(bias=0.0)) as server:
        res = run_pairwise_judge(RunPairwiseJudgeParams(responses=files, judge_model="openai/judge",
                                                        api_base=server.url))
        assert res.job is not None and res.pairs == []
        jobs.cancel(res.job.job_id)
        assert jobs.wait(res.job.job_id, timeout=60)["state"] in ("cancelled", "succeeded")


def test_plan_eval_size():
    r = plan_eval_size(PlanEvalSizeParams(kind="win_rate", target=0.6))
    assert 190 <= r.n <= 200
    big = plan_eval_size(PlanEvalSizeParams(kind="win_rate", target=0.55))
    assert big.n > 3.5 * r.n


def test_no_shared_items_is_a_clear_error(workspace):
    from specialize.runtime.errors import InvalidInput

    x = _write(workspace, "x", [4, 4])
    (workspace / "z.jsonl").write_text(json.dumps({"id": "other", "prompt": "p", "response": "r quality=1"}) + "\n")
    with pytest.raises(InvalidInput, match="share no item ids"):
        run_pairwise_judge(RunPairwiseJudgeParams(responses=[x, "z.jsonl"], judge_model="openai/judge",
                                                  api_base="http://127.0.0.1:9/v1", background=False))


def test_local_judge_is_constrained_to_the_verdict_schema_and_raw_answers_are_kept(workspace):
    import jsonschema

    x = _write(workspace, "x", [4, 4])
    y = _write(workspace, "y", [2, 2], tag=" ALWAYS_BAD")  # item q0 always gets a non-JSON verdict
    with FakeOpenAIServer(scripted_judge(bias=0.0), keep_bodies=True) as server:
        res = run_pairwise_judge(_params(server, [x, y], retries=0))
        constrained = [b.get("response_format") for b in server.counters.bodies]
        run_pairwise_judge(_params(server, [x, y], retries=0, json_mode=False,
                                   output_dir="judgments/free"))
        free = [b.get("response_format") for b in server.counters.bodies[len(constrained):]]
    assert len(constrained) == 4 and free == [None] * 4
    fmt = constrained[0]
    assert all(f == fmt for f in constrained) and fmt["type"] == "json_object"  # llama.cpp's form, on loopback
    dims = DIMS  # the general rubric's
    good = {"a_scores": {d: 4 for d in dims}, "b_scores": {d: 2 for d in dims}, "reasoning": "A solves it.",
            "verdict": "A_better"}
    jsonschema.validate(good, fmt["schema"])
    for bad in ({**good, "verdict": "A"}, {**good, "b_scores": {d: 2 for d in dims[:3]}},
                {**good, "a_scores": {**good["a_scores"], "accuracy": 0}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, fmt["schema"])
    doc = json.loads((workspace / res.judgments_path).read_text())
    assert doc["provenance"]["output_mode"] == "schema_grammar"
    failed = [c for r in doc["records"] for c in r["calls"] if c["error"]]
    assert len(failed) == 2 and all(c["raw"] == "I think A is better overall." for c in failed)
    assert all(c["raw"] is None for r in doc["records"] for c in r["calls"] if not c["error"])
