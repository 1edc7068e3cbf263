"""The experiment tracker against a real MLflow SQLite store in the test's workspace (no mocks): what a tool logs
reads back with the same numbers, through our reader and through MLflow's own client; stdout stays clean for the
MCP stdio protocol; and with mlflow absent or tracking switched off, the tools work and the registry still records.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from specialize.runtime import registry, tracking

pytest.importorskip("mlflow")


@pytest.fixture()
def tracked(workspace, monkeypatch):
    monkeypatch.setenv("SPECIALIZE_TRACKING", "on")
    monkeypatch.delenv("SPECIALIZE_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("SPECIALIZE_TRACKING_EXPERIMENT", "test-history")
    return workspace


def test_a_logged_run_reads_back_with_the_same_numbers(tracked):
    params = {"model": "openai/scripted", "limit": 40, "recipe": {"lora_r": 16, "learning_rate": 0.0002},
              "critical_fields": ["category", "needs_human"], "system_prompt": None}
    result = {"n": 40, "metrics": {"accuracy": 0.825, "accuracy_ci": [0.7, 0.925], "per_class": {"bug": {"f1": 0.5}}},
              "latency_s": {"p95": 0.125}, "cost_per_1k_requests_usd": None, "primary_metric": "accuracy"}
    run_id = tracking.log_run("run_eval", name="scripted on golden", params=params, result=result,
                              metrics={"extra": 3}, datasets={"eval_set": "ab" * 32},
                              artifacts={"results": "evals/scripted-golden.json"})
    assert run_id
    assert (tracked / "tracking" / "mlflow.db").is_file()

    runs = tracking.runs("run_eval")
    assert [r["run_id"] for r in runs] == [run_id]
    got = runs[0]
    assert got["status"] == "FINISHED" and got["name"] == "scripted on golden"
    assert got["metrics"] == {"n": 40.0, "metrics.accuracy": 0.825, "metrics.accuracy_ci_low": 0.7,
                              "metrics.accuracy_ci_high": 0.925, "metrics.per_class.bug.f1": 0.5,
                              "latency_s.p95": 0.125, "extra": 3.0}
    assert got["params"] == {"model": "openai/scripted", "limit": "40", "recipe.lora_r": "16",
                             "recipe.learning_rate": "0.0002", "critical_fields": '["category", "needs_human"]'}
    assert got["tags"]["dataset.eval_set"] == "ab" * 32
    assert got["tags"]["artifact.results"] == "evals/scripted-golden.json"

    # read once more with MLflow's own client, straight from the database file
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tracked / 'tracking' / 'mlflow.db'}")
    run = client.get_run(run_id)
    assert run.data.metrics["metrics.accuracy"] == 0.825
    assert run.data.params["recipe.lora_r"] == "16"
    local = Path(run.info.artifact_uri.removeprefix("file://"))
    assert local.is_relative_to(tracked / "tracking" / "artifacts")
    assert json.loads((local / "params.json").read_text()) == params
    assert json.loads((local / "result.json").read_text()) == result


def test_overlong_params_are_cut_with_a_marker_and_kept_whole_in_the_artifact(tracked):
    long = "x" * 7000
    run_id = tracking.log_run("validate_rows", params={"note": long})
    got = tracking.runs("validate_rows")[0]
    assert got["run_id"] == run_id
    assert len(got["params"]["note"]) == tracking.MAX_PARAM_CHARS
    assert got["params"]["note"].endswith("[cut: 7000 characters, see params.json]")
    local = Path(got["artifact_uri"].removeprefix("file://"))
    assert json.loads((local / "params.json").read_text())["note"] == long


def test_logging_writes_nothing_to_stdout(tracked):
    """In stdio mode stdout belongs to MCP: MLflow's store set-up and logging must stay on stderr."""
    code = ("from specialize.runtime import tracking\n"
            "assert tracking.log_run('run_eval', params={'a': 1}, metrics={'m': 0.5})\n"
            "assert len(tracking.runs()) == 1\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, "SPECIALIZE_WORKSPACE": str(tracked)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == ""


def test_an_unreachable_server_costs_a_warning_not_the_tool(workspace, monkeypatch, caplog):
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("SPECIALIZE_TRACKING", "on")
    monkeypatch.setenv("SPECIALIZE_TRACKING_URI", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    with caplog.at_level("WARNING", logger="specialize.tracking"):
        assert tracking.log_run("run_eval", metrics={"m": 1.0}) is None
    assert "could not log the run_eval run" in caplog.text and f"127.0.0.1:{port}" in caplog.text
    assert not (workspace / "tracking").exists()


def test_switched_off_or_absent_means_no_store_and_no_error(workspace, monkeypatch):
    monkeypatch.setenv("SPECIALIZE_TRACKING", "off")
    assert tracking.log_run("run_eval", metrics={"m": 1.0}) is None
    assert tracking.describe()["reason"].startswith("switched off")
    monkeypatch.setenv("SPECIALIZE_TRACKING", "on")
    # mlflow missing from the interpreter: the import system answers None for it, as for any absent package
    monkeypatch.setitem(sys.modules, "mlflow", None)
    assert not tracking.installed() and not tracking.enabled()
    assert tracking.log_run("run_eval", metrics={"m": 1.0}) is None
    assert tracking.runs() == [] and tracking.report_to() == "none"
    assert "not installed" in tracking.describe()["reason"]
    assert not (workspace / "tracking").exists()
    assert registry.runs() == []


def test_a_password_in_the_server_uri_is_not_shown(monkeypatch):
    monkeypatch.setenv("SPECIALIZE_TRACKING_URI", "https://alice:s3cret@mlflow.example.org/")
    assert tracking.shown_uri() == "https://***@mlflow.example.org/"
    assert tracking.shown_uri("sqlite:////tmp/ws/tracking/mlflow.db") == "sqlite:////tmp/ws/tracking/mlflow.db"


def test_a_tracking_folder_linked_out_of_the_workspace_is_refused(tracked, tmp_path, caplog):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (tracked / "tracking").symlink_to(outside)
    with caplog.at_level("WARNING", logger="specialize.tracking"):
        assert tracking.log_run("run_eval", metrics={"m": 1.0}) is None
    assert "PathEscape" in caplog.text and list(outside.iterdir()) == []
