"""A real training job of the tiny model with tracking on: transformers' own MLflow integration logs the loss
curve into the job's run, and the run also carries our recipe, dataset version and final numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from specialize.runtime import jobs, registry, tracking
from specialize.runtime.catalog import get
from tests.tools.test_train import chat_rows, tiny_params, write_jsonl


@pytest.mark.slow
def test_training_logs_its_loss_curve_and_recipe_to_the_tracker(workspace, tiny_model_dir, monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.setenv("SPECIALIZE_TRACKING", "on")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("SPECIALIZE_READ_ROOTS", str(Path(tiny_model_dir).parent))
    write_jsonl(workspace / "train.jsonl", chat_rows(16))
    handle = get("train_qlora").run(tiny_params(tiny_model_dir, max_steps=6, save_steps=3, eval_steps=3))
    status = jobs.wait(handle.job_id, timeout=600)
    assert status["state"] == "succeeded", status.get("log_tail")
    run_dir = Path(handle.run_dir)
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    losses = {r["step"]: r["loss"] for r in rows if "loss" in r}
    assert len(losses) == 6

    [tracked] = tracking.runs("train_qlora")
    assert tracked["name"] == handle.job_id and tracked["status"] == "FINISHED"
    assert tracked["tags"]["job_id"] == handle.job_id
    assert tracked["tags"]["dataset.train"] == registry.find_dataset("train.jsonl")["version"]
    # transformers' MLflowCallback logged TrainingArguments and the per-step loss ...
    assert float(tracked["params"]["learning_rate"]) == pytest.approx(3e-3)
    from mlflow.tracking import MlflowClient

    history = MlflowClient(tracking_uri=tracking.tracking_uri()).get_metric_history(tracked["run_id"], "loss")
    assert {m.step: m.value for m in history} == pytest.approx(losses)
    # ... and our own params and the final numbers went into the same run
    assert tracked["params"]["recipe.max_steps"] == "6" and tracked["params"]["kind"] == "train_qlora"
    assert tracked["params"]["dataset.version"] == tracked["tags"]["dataset.train"]
    assert tracked["metrics"]["final.steps"] == 6
    run = json.loads((run_dir / "run.json").read_text())
    assert tracked["metrics"]["final.train_loss_last"] == pytest.approx(run["metrics"]["train_loss_last"])
    assert tracked["tags"]["artifact.adapter"] == str(run_dir / "adapter")
