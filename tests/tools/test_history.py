"""task_history over three versions: numbers from hand-built results and judgments files (tests/helpers), the
frontier and the regression timeline worked out by hand, and the registry path through real run_eval calls."""

from __future__ import annotations

import json

import pytest
from specialize.tools.evaluate import RunEvalParams, run_eval
from specialize.tools.history import TaskHistoryParams, task_history
from specialize.tools.release import ReleaseGateParams, release_gate

from specialize.runtime.errors import InvalidInput
from tests.helpers.fake_openai import FakeOpenAIServer
from tests.helpers.results_files import GOLDEN_SHA, three_versions
from tests.tools.test_release_shipped import PASSING_EXTRAS


def _judgments(ws, name, models, responses, pair):
    doc = {"kind": "pairwise_judgments", "models": models, "pairs": [pair],
           "provenance": {"params": {"responses": responses}}}
    (ws / name).mkdir()
    (ws / name / "judgments.json").write_text(json.dumps(doc))
    return f"{name}/judgments.json"


def test_three_versions_by_hand(workspace):
    f = three_versions(workspace)
    ship = release_gate(ReleaseGateParams(candidate=f["v2-golden"], current=f["v1-golden"],
                                          regression_candidate=f["v2-reg"], regression_current=f["v1-reg"],
                                          approved_regressions=["r1"], version="v2", **PASSING_EXTRAS))
    assert ship.decision == "ship"
    j1 = _judgments(workspace, "j1", ["old", "mid"], [f["v1-golden"], f["v2-golden"]],
                    {"model_a": "old", "model_b": "mid", "win_rate_ties_half": 0.3, "ci_low": 0.2, "ci_high": 0.4,
                     "n_items": 40})
    j2 = _judgments(workspace, "j2", ["new", "mid"], [f["v3-golden"], f["v2-golden"]],
                    {"model_a": "new", "model_b": "mid", "win_rate_ties_half": 0.65, "ci_low": 0.55,
                     "ci_high": 0.75, "n_items": 40})
    order = ["v1-golden", "v1-reg", "v2-golden", "v2-reg", "v3-golden", "v3-reg"]
    res = task_history(TaskHistoryParams(results=[f[k] for k in order], names=[k[:2] for k in order],
                                         judgments=[j1, j2]))
    assert res.eval_set == "golden.jsonl" and res.eval_set_sha256 == GOLDEN_SHA  # the shipped gate's set
    assert res.metric == "correct_rate" and res.shipped == "v2"
    rows = {r.version: r for r in res.versions}
    assert [r.version for r in res.versions] == ["v1", "v2", "v3"]
    assert [rows[v].value for v in ("v1", "v2", "v3")] == pytest.approx([20 / 40, 33 / 40, 36 / 40])
    assert rows["v2"].ci == [0.7, 0.925] and rows["v3"].cost_per_1k_requests_usd == 0.20
    assert rows["v1"].latency_p95_s == 0.30 and rows["v2"].shipped == ["ship-001"] and rows["v3"].shipped == []
    # win rates: v2 over v1 is 1 - 0.3 with the interval mirrored; v3 over v2 as judged
    assert rows["v1"].win_vs_previous is None
    assert rows["v2"].win_vs_previous.win_rate == pytest.approx(0.7)
    assert rows["v2"].win_vs_previous.ci == pytest.approx([0.6, 0.8])
    assert rows["v2"].win_vs_shipped is None  # it is the shipped version
    assert rows["v3"].win_vs_previous.win_rate == 0.65 and rows["v3"].win_vs_shipped.ci == [0.55, 0.75]
    assert rows["v1"].win_vs_shipped.win_rate == 0.3
    # cost/quality: v1 (0.40, 0.5) is beaten by v2 (0.10, 0.825); v2 is cheapest and v3 best
    assert res.frontier.on_frontier == ["v2", "v3"] and res.frontier.left_out == []
    timeline = {(t.version, t.eval_set): t for t in res.regression_timeline}
    assert timeline[("v2", "golden.jsonl")].regressed == ["g03"]
    assert timeline[("v2", "golden.jsonl")].fixed == [f"g{k}" for k in range(20, 34)]
    assert timeline[("v3", "golden.jsonl")].regressed == ["g10"]
    assert timeline[("v3", "golden.jsonl")].fixed == ["g34", "g35", "g36", "g37"]
    assert timeline[("v2", "regression.jsonl")].regressed == ["r1"]
    assert (timeline[("v3", "regression.jsonl")].regressed, timeline[("v3", "regression.jsonl")].fixed) == (["r3"],
                                                                                                             ["r1"])
    for plot in (res.quality_plot, res.frontier_plot):
        assert (workspace / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((workspace / res.history_path).read_text())
    assert saved["frontier"]["on_frontier"] == ["v2", "v3"] and len(saved["versions"]) == 3
    assert res.tracker.enabled is False and "switched off" in res.tracker.reason

    with pytest.raises(InvalidInput, match="names for 6 results files"):
        task_history(TaskHistoryParams(results=[f[k] for k in order], names=["v1", "v2", "v3"]))


ITEMS = [("t0", "billing"), ("t1", "bug"), ("t2", "account"), ("t3", "billing"), ("t4", "bug")]
WRONG = {"m1": {"t1", "t2", "t4"}, "m2": {"t2"}, "m3": {"t0"}}  # by model: the items it answers wrongly


def _eval_set(ws):
    with open(ws / "golden.jsonl", "w") as fh:
        for i, label in ITEMS:
            fh.write(json.dumps({"id": i, "messages": [{"role": "user", "content": f"ticket {i}"},
                                                       {"role": "assistant", "content": label}]}) + "\n")


def _responder(body):
    item = body["messages"][-1]["content"].split()[-1]
    label = dict(ITEMS)[item]
    return "other" if item in WRONG[body["model"].split("/")[-1]] else label


def test_history_from_the_registry_after_real_run_eval_calls(workspace, monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.setenv("SPECIALIZE_TRACKING", "on")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    _eval_set(workspace)
    with FakeOpenAIServer(_responder) as server:
        for model in ("m1", "m2", "m3"):
            run_eval(RunEvalParams(model=f"openai/{model}", api_base=server.url, eval_set="golden.jsonl",
                                   task_type="classification", bootstrap_resamples=200))
        res = task_history(TaskHistoryParams(plots=False))
        assert [r.version for r in res.versions] == ["v1", "v2", "v3"]
        assert [r.model for r in res.versions] == ["openai/m1", "openai/m2", "openai/m3"]
        assert res.metric == "accuracy"
        assert [r.value for r in res.versions] == pytest.approx([2 / 5, 4 / 5, 4 / 5])
        timeline = [(t.version, t.regressed, t.fixed) for t in res.regression_timeline]
        assert timeline == [("v2", [], ["t1", "t4"]), ("v3", ["t0"], ["t2"])]
        assert res.tracker.enabled and res.tracker.runs_by_kind == {"run_eval": 3}
        assert res.quality_plot is None and res.notes == []
        # m1 again with other answers into the same default output file: the first m1 run is gone from disk
        WRONG["m1"] = set()
        try:
            run_eval(RunEvalParams(model="openai/m1", api_base=server.url, eval_set="golden.jsonl",
                                   task_type="classification", bootstrap_resamples=200))
        finally:
            WRONG["m1"] = {"t1", "t2", "t4"}
    res = task_history(TaskHistoryParams(plots=False))
    assert [(r.model, r.value) for r in res.versions] == [("openai/m2", 4 / 5), ("openai/m3", 4 / 5),
                                                          ("openai/m1", 1.0)]
    assert len(res.notes) == 1 and "now holds a later run" in res.notes[0]
