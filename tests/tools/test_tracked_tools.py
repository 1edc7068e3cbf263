"""With tracking on, the data and judge tools each leave one run in the real MLflow store with the numbers of their
result (generate_batch and run_pairwise_judge talk to a scripted model over real HTTP, validate_rows reads the batch
it produced)."""

from __future__ import annotations

import json

import pytest
from specialize.tools.generate import generate_batch
from specialize.tools.judge import run_pairwise_judge
from specialize.tools.validate import ValidateRowsParams, validate_rows

from specialize.runtime import registry, tracking
from tests.helpers.fake_openai import FakeOpenAIServer
from tests.tools.test_generate import SCHEMA, plan, teacher
from tests.tools.test_judge import _params, _write, scripted_judge


def test_generate_validate_and_judge_are_tracked(workspace, monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.setenv("SPECIALIZE_TRACKING", "on")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (workspace / "schema.json").write_text(json.dumps(SCHEMA))
    with FakeOpenAIServer(teacher) as server:
        gen = generate_batch(plan(api_base=server.url, rows_per_cell=4))
    val = validate_rows(ValidateRowsParams(input_path=gen.batch_path, out_dir="data/accepted"))
    x = _write(workspace, "x", [4] * 12)
    y = _write(workspace, "y", [2] * 12)
    with FakeOpenAIServer(scripted_judge(bias=0.0)) as server:
        judged = run_pairwise_judge(_params(server, [x, y]))

    [g] = tracking.runs("generate_batch")
    assert g["metrics"]["rows"] == gen.rows == 16 and g["metrics"]["usage.http_calls"] == gen.usage.http_calls
    assert g["tags"]["dataset.batch"] == gen.version and g["tags"]["artifact.batch"] == gen.batch_path
    assert g["params"]["model"] == "openai/teacher"
    [v] = tracking.runs("validate_rows")
    assert (v["metrics"]["total"], v["metrics"]["accepted"]) == (val.total, val.accepted)
    assert v["tags"]["dataset.accepted"] == val.version and v["tags"]["artifact.input"] == gen.batch_path
    [j] = tracking.runs("run_pairwise_judge")
    pair = judged.pairs[0]
    assert j["name"] == "x vs y"
    assert j["metrics"]["pairs.x vs y.win_rate_ties_half"] == pair.win_rate_ties_half == 1.0
    assert j["metrics"]["pairs.x vs y.n_items"] == 12
    assert j["tags"]["artifact.judgments"] == judged.judgments_path
    # the registry knows the judgment too (task_history reads win rates from it)
    [entry] = [e for e in registry.runs() if e["kind"] == "pairwise_judge"]
    assert entry["judgments"] == judged.judgments_path and entry["models"] == ["x", "y"]


def test_classical_baseline_is_tracked(workspace, monkeypatch):
    pytest.importorskip("mlflow")
    from specialize.tools.classical import run_classical_baseline

    from tests.tools.test_classical import _params, _setup

    monkeypatch.setenv("SPECIALIZE_TRACKING", "on")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    _setup(workspace)
    res = run_classical_baseline(_params())
    doc = json.loads((workspace / res.results_path).read_text())
    [c] = tracking.runs("run_classical_baseline")
    assert c["metrics"]["n"] == doc["n"] == res.n
    assert c["metrics"]["metrics.accuracy"] == pytest.approx(doc["metrics"]["accuracy"])
    assert c["tags"]["artifact.results"] == res.results_path
    assert c["tags"]["dataset.eval_set"] == doc["eval_set"]["sha256"]
