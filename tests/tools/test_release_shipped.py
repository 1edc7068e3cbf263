"""release_gate and the shipped version: a ship decision is recorded (with copies of its results), the next gate
compares against it when no current results are given, and lists the items that regressed since it by id."""

from __future__ import annotations

import json

import pytest
from specialize.tools.release import CapabilityCheck, ReleaseGateParams, SafetyRates, release_gate

from specialize.runtime import registry
from tests.helpers.results_files import GOLDEN_SHA, REG_SHA, three_versions

PASSING_EXTRAS = dict(capability_checks=[CapabilityCheck(name="MMLU", candidate=61.0, baseline=61.5)],
                      safety=SafetyRates(harmful_refusal_candidate=0.97, harmful_refusal_baseline=0.95,
                                         benign_refusal_candidate=0.02, benign_refusal_baseline=0.03),
                      max_cost_per_request_usd=0.0005)


def _ship_v2(files):
    res = release_gate(ReleaseGateParams(candidate=files["v2-golden"], current=files["v1-golden"],
                                         regression_candidate=files["v2-reg"], regression_current=files["v1-reg"],
                                         approved_regressions=["r1"], version="v2", **PASSING_EXTRAS))
    assert res.decision == "ship", [(c.name, c.detail) for c in res.criteria if c.status != "pass"]
    return res


def test_a_ship_is_recorded_and_the_next_gate_compares_against_it(workspace):
    files = three_versions(workspace)
    first = _ship_v2(files)
    assert first.recorded_ship == "ship-001" and first.shipped is None
    [entry] = registry.shipped()
    assert entry["version"] == "v2" and entry["model"]["ref"] == "openai/tuned-v2"
    assert {r["eval_set_sha256"] for r in entry["results"]} == {GOLDEN_SHA, REG_SHA}
    # run_eval's default output path can be reused by a later version: the ship keeps its own copy
    (workspace / files["v2-golden"]).write_text((workspace / files["v3-golden"]).read_text())

    res = release_gate(ReleaseGateParams(candidate=files["v3-golden"], regression_candidate=files["v3-reg"],
                                         version="v3", record_ship=False, **PASSING_EXTRAS))
    assert res.shipped.version == "v2" and res.shipped.ship_id == "ship-001"
    assert res.shipped.used_as_current == "registry/shipped/ship-001/candidate.json"
    assert res.shipped.used_as_regression_current == "registry/shipped/ship-001/regression_candidate.json"
    tm = {c.name: c for c in res.criteria}["task_metric"]
    # v3 36/40 against the shipped v2 33/40 on the same 40 items
    assert tm.values.candidate == pytest.approx(36 / 40) and tm.values.current == pytest.approx(33 / 40)
    assert tm.values.diff == pytest.approx(3 / 40) and tm.values.n_shared == 40
    reg = {c.name: c for c in res.criteria}["regression_suite"]
    assert reg.values.regressions == ["r3"]  # r1 failed in v2 already, so only r3 regressed since the ship
    since = {s.eval_set: s for s in res.regressed_since_shipped}
    assert since["golden.jsonl"].ids == ["g10"] and since["golden.jsonl"].n_shared == 40
    assert since["regression.jsonl"].ids == ["r3"] and since["regression.jsonl"].n_shared == 4
    assert res.recorded_ship is None and len(registry.shipped()) == 1  # a dry run records nothing

    # the same gate with the shipped copy passed by hand gives the same test
    explicit = release_gate(ReleaseGateParams(candidate=files["v3-golden"], current=res.shipped.used_as_current,
                                              compare_to_shipped=False, record_ship=False))
    tm2 = {c.name: c for c in explicit.criteria}["task_metric"]
    assert (tm2.values.diff, tm2.values.p_value, tm2.status) == (tm.values.diff, tm.values.p_value, tm.status)
    assert explicit.shipped is None and explicit.regressed_since_shipped == []


def test_explicit_current_wins_and_shipping_twice_records_once(workspace):
    files = three_versions(workspace)
    _ship_v2(files)
    _ship_v2(files)  # same candidate results again: still one record
    assert [s["ship_id"] for s in registry.shipped()] == ["ship-001"]
    res = release_gate(ReleaseGateParams(candidate=files["v3-golden"], current=files["v1-golden"], record_ship=False))
    tm = {c.name: c for c in res.criteria}["task_metric"]
    assert tm.values.current == pytest.approx(20 / 40)  # the given current, not the shipped v2
    assert res.shipped.used_as_current is None
    assert [s.ids for s in res.regressed_since_shipped] == [["g10"]]  # still flagged against the shipped v2


def test_without_a_ship_nothing_changes(workspace):
    files = three_versions(workspace)
    res = release_gate(ReleaseGateParams(candidate=files["v3-golden"]))
    assert res.shipped is None and res.regressed_since_shipped == [] and res.recorded_ship is None
    assert {c.name: c.status for c in res.criteria}["task_metric"] == "not_measured"
    assert not (workspace / "registry" / "shipped.jsonl").exists()


def test_the_gate_decision_is_in_the_tracker(workspace, monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.setenv("SPECIALIZE_TRACKING", "on")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    from specialize.runtime import tracking

    files = three_versions(workspace)
    res = _ship_v2(files)
    [run] = tracking.runs("release_gate")
    assert run["tags"]["decision"] == "ship" and run["tags"]["ship_id"] == res.recorded_ship
    tm = {c.name: c for c in res.criteria}["task_metric"]
    assert run["params"]["version"] == "v2"
    logged = json.loads(run["params"]["approved_regressions"])
    assert logged == ["r1"]
    assert run["tags"]["dataset.eval_set"] == GOLDEN_SHA
    assert tm.values.p_value is not None
