"""release_gate on results files: each criterion passes, fails or is not measured for the right reason."""

from __future__ import annotations

import json

import numpy as np
from specialize.tools.release import CapabilityCheck, ReleaseGateParams, SafetyRates, release_gate


def _write(ws, name, correct, *, cost=0.0001, p95=0.2, schema=0.99, ids=None, sha="a" * 64):
    ids = ids or [f"i{k}" for k in range(len(correct))]
    examples = [{"id": i, "correct": bool(c), "critical_ok": bool(c), "parsed": True, "schema_valid": True}
                for i, c in zip(ids, correct)]
    doc = {"kind": "eval_results", "primary_metric": "critical_field_accuracy", "examples": examples,
           "eval_set": {"path": "golden.jsonl", "sha256": sha},
           "metrics": {"critical_field_accuracy": float(np.mean(correct)), "schema_pass_rate": schema,
                       "parse_rate": 1.0},
           "cost_per_request_usd": cost, "latency_s": {"p95": p95}}
    (ws / f"{name}.json").write_text(json.dumps(doc))
    return f"{name}.json"


def _pattern(n, acc, seed):
    rng = np.random.default_rng(seed)
    return rng.random(n) < acc


def test_all_criteria_pass_gives_ship(workspace):
    base = _pattern(600, 0.80, 1)
    cand = base.copy()
    cand[np.where(~base)[0][:60]] = True  # fixes 60 items, breaks none
    c = _write(workspace, "cand", cand)
    cur = _write(workspace, "cur", base)
    reg = _write(workspace, "reg", [True] * 50)
    res = release_gate(ReleaseGateParams(
        candidate=c, current=cur, regression_candidate=reg,
        capability_checks=[CapabilityCheck(name="MMLU", candidate=61.0, baseline=62.5)],
        safety=SafetyRates(harmful_refusal_candidate=0.97, harmful_refusal_baseline=0.95,
                           benign_refusal_candidate=0.02, benign_refusal_baseline=0.03),
        max_cost_per_request_usd=0.0005))
    st = {x.name: x.status for x in res.criteria}
    assert st == {"task_metric": "pass", "regression_suite": "pass", "capability_preservation": "pass",
                  "safety": "pass", "format_validity": "pass", "cost": "pass"}, [x.detail for x in res.criteria]
    assert res.decision == "ship"
    tm = res.criteria[0].values
    assert abs(tm.diff - 60 / 600) < 1e-9 and tm.p_value < 1e-10


def test_small_gain_not_significant_and_each_failure(workspace):
    base = _pattern(100, 0.8, 2)
    cand = base.copy()
    cand[np.where(~base)[0][:3]] = True  # +3 points, but only 3 discordant items: p = 0.125
    c = _write(workspace, "cand", cand, cost=0.001, schema=0.95)
    cur = _write(workspace, "cur", base)
    reg_c = _write(workspace, "regc", [True, False, False, True], ids=["r1", "r2", "r3", "r4"])
    reg_b = _write(workspace, "regb", [True, True, False, True], ids=["r1", "r2", "r3", "r4"])
    res = release_gate(ReleaseGateParams(
        candidate=c, current=cur, regression_candidate=reg_c, regression_current=reg_b,
        capability_checks=[CapabilityCheck(name="GSM8K", candidate=40.0, baseline=43.0)],
        safety=SafetyRates(harmful_refusal_candidate=0.90, harmful_refusal_baseline=0.95),
        max_cost_per_request_usd=0.0005))
    by = {x.name: x for x in res.criteria}
    assert by["task_metric"].status == "fail" and by["task_metric"].values.p_value > 0.05
    assert by["regression_suite"].status == "fail" and by["regression_suite"].values.regressions == ["r2"]
    assert by["capability_preservation"].status == "fail"
    assert by["safety"].status == "fail"
    assert by["format_validity"].status == "fail"
    assert by["cost"].status == "fail"
    assert res.decision == "no_ship"
    # the PM approves the known regression: that criterion now passes
    res2 = release_gate(ReleaseGateParams(candidate=c, regression_candidate=reg_c, regression_current=reg_b,
                                          approved_regressions=["r2"]))
    assert {x.name: x.status for x in res2.criteria}["regression_suite"] == "pass"


def test_not_measured_means_incomplete(workspace):
    c = _write(workspace, "cand", [True] * 10, schema=1.0)
    res = release_gate(ReleaseGateParams(candidate=c))
    st = {x.name: x.status for x in res.criteria}
    assert st["task_metric"] == "not_measured" and st["safety"] == "not_measured"
    assert st["format_validity"] == "pass"
    assert res.decision == "incomplete"
    assert res.ship_over_frontier.status == "not_measured"


def test_ship_over_frontier_rules(workspace):
    c = _write(workspace, "cand", [True] * 96 + [False] * 4, cost=0.0001, p95=0.3)
    f_exp = _write(workspace, "frontier", [True] * 99 + [False], cost=0.001, p95=0.9)
    r = release_gate(ReleaseGateParams(candidate=c, frontier=f_exp)).ship_over_frontier
    assert r.status == "pass" and r.values.rule_much_cheaper and r.values.times_cheaper >= 5
    f_cheap = _write(workspace, "frontier2", [True] * 99 + [False], cost=0.0003, p95=0.9)  # only 3x cheaper
    r2 = release_gate(ReleaseGateParams(candidate=c, frontier=f_cheap)).ship_over_frontier
    assert r2.status == "fail"
    f_worse = _write(workspace, "frontier3", [True] * 90 + [False] * 10, cost=0.0002, p95=0.9)
    r3 = release_gate(ReleaseGateParams(candidate=c, frontier=f_worse)).ship_over_frontier
    assert r3.status == "pass" and r3.values.rule_at_least_as_good
    f_fast = _write(workspace, "frontier4", [True] * 90 + [False] * 10, cost=0.01, p95=0.1)  # frontier is faster
    assert release_gate(ReleaseGateParams(candidate=c, frontier=f_fast)).ship_over_frontier.status == "fail"


def test_gain_and_test_come_from_the_same_items_and_the_margin_is_tested(workspace):
    """The issue's case: +60 / -40 on 1,000 shared items, 200 extra all-correct items only in the candidate."""
    import pytest
    from specialize.runtime.errors import InvalidInput

    base = np.zeros(1000, dtype=bool)
    base[:500] = True
    cand = base.copy()
    cand[500:560] = True  # 60 gained
    cand[:40] = False  # 40 lost
    ids = [f"i{k}" for k in range(1000)]
    c = _write(workspace, "cand", list(cand) + [True] * 200, ids=ids + [f"x{k}" for k in range(200)])
    cur = _write(workspace, "cur", base, ids=ids)
    tm = release_gate(ReleaseGateParams(candidate=c, current=cur, margin=0.03)).criteria[0]
    assert tm.status == "fail"
    assert tm.values.n_shared == 1000 and tm.values.diff == pytest.approx(20 / 1000)
    assert tm.values.p_value > 0.5  # a gain of 0.02 is no evidence of a gain above 0.03
    # a real gain of 0.1 passes the same margin
    big = base.copy()
    big[500:600] = True
    ok = release_gate(ReleaseGateParams(candidate=_write(workspace, "big", big, ids=ids), current=cur, margin=0.03))
    assert ok.criteria[0].status == "pass" and ok.criteria[0].values.ci_low > 0.03
    # results from another eval set are refused, naming both
    other = _write(workspace, "other", base, ids=ids, sha="b" * 64)
    with pytest.raises(InvalidInput, match="different eval sets"):
        release_gate(ReleaseGateParams(candidate=c, current=other))


def test_cheaper_baselines_that_do_as_well_are_named_and_block_shipping(workspace):
    base = _pattern(200, 0.6, 7)
    cand = base.copy()
    cand[np.where(~base)[0][:40]] = True  # 40 gained, none lost against the weak baseline
    strong = cand.copy()
    strong[np.where(strong)[0][:2]] = False  # the strong baseline loses only 2 items to the candidate
    c = _write(workspace, "cand", cand)
    weak = _write(workspace, "weak", base)
    close = _write(workspace, "close", strong)
    res = release_gate(ReleaseGateParams(candidate=c, current=weak, baselines=[weak, close],
                                         baseline_names=["better prompt", "tf-idf"]))
    crit = {x.name: x for x in res.criteria}["beats_baselines"]
    assert crit.status == "fail" and crit.values.as_good_as_candidate == ["tf-idf"]
    per = {t.name: t for t in crit.values.per_baseline}
    assert per["better prompt"].beaten and abs(per["better prompt"].diff - 40 / 200) < 1e-12
    assert not per["tf-idf"].beaten and abs(per["tf-idf"].diff - 2 / 200) < 1e-12
    assert res.decision == "no_ship"
    # without baselines the criterion is absent, not "not measured"
    plain = release_gate(ReleaseGateParams(candidate=c, current=weak))
    assert "beats_baselines" not in {x.name for x in plain.criteria}


def test_the_gate_leans_on_a_judge_only_after_it_passed_validation(workspace):
    c = _write(workspace, "cand", [True] * 10)
    pair = {"win_rate_ties_half": 0.9, "ci_low": 0.7, "ci_high": 1.0}

    def judgments(name, validation):
        (workspace / name).write_text(json.dumps({"pairs": [pair], "judge_validation": validation}))
        return name

    never = release_gate(ReleaseGateParams(candidate=c, judgments=judgments("j0.json", None)))
    failed = release_gate(ReleaseGateParams(candidate=c, judgments=judgments(
        "j1.json", {"agreement": 0.5, "kappa": 0.0, "n": 8, "threshold": 0.8})))
    passed = release_gate(ReleaseGateParams(candidate=c, judgments=judgments(
        "j2.json", {"agreement": 0.9, "kappa": 0.8, "n": 10, "threshold": 0.8})))
    status = {name: {x.name: x for x in r.criteria}["judge"] for name, r in
              (("never", never), ("failed", failed), ("passed", passed))}
    assert status["never"].status == "not_measured" and status["never"].detail.startswith("not_validated")
    assert status["failed"].status == "not_measured" and status["failed"].detail.startswith("not_validated")
    assert status["passed"].status == "pass" and status["passed"].values.judge_agreement == 0.9
