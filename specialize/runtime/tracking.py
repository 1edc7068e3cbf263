"""Experiment tracking: training runs, evaluations, judgments, data batches, exports and gate decisions, mirrored
into MLflow so they can be browsed, compared and plotted across versions.

The workspace registry (``registry/*.jsonl``) stays the source of truth; the tracker is a second copy made for
looking at. Where it lives:

- by default a SQLite store in ``<workspace>/tracking/mlflow.db`` with the artifacts beside it in
  ``<workspace>/tracking/artifacts/`` — offline, nothing to start; ``mlflow ui --backend-store-uri
  sqlite:///<workspace>/tracking/mlflow.db`` shows it;
- a tracking server when ``SPECIALIZE_TRACKING_URI`` (or MLflow's own ``MLFLOW_TRACKING_URI``) names one;
- nowhere when ``SPECIALIZE_TRACKING=off``, or when mlflow is not installed: every call here then returns None
  and the tools work as before.

The experiment is ``SPECIALIZE_TRACKING_EXPERIMENT`` (else ``MLFLOW_EXPERIMENT_NAME``, else ``specialize``). A
failure of the tracker never fails the tool that called it — the registry already holds the record — and is
reported on stderr with the run it concerns. Tools log through the client API (no process-global active run);
training logs through transformers' own ``report_to="mlflow"`` into a run opened here (``training_run``).

Lives in runtime because every stage that runs something (training, which may import only runtime, and the tools)
logs through it; it imports nothing of specialize beyond the workspace.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import importlib.util
import json
import logging
import math
import os
import re
from pathlib import Path
from typing import Any, Iterator

from specialize.runtime.workspace import make_dirs, workspace_root

ENV_TRACKING = "SPECIALIZE_TRACKING"
ENV_URI = "SPECIALIZE_TRACKING_URI"
ENV_EXPERIMENT = "SPECIALIZE_TRACKING_EXPERIMENT"
DEFAULT_EXPERIMENT = "specialize"
KIND_TAG = "specialize.kind"
OFF_VALUES = {"0", "off", "false", "no", "none", "disabled"}
MAX_PARAM_CHARS = 6000  # MLflow's limit on one parameter value since 2.x
_BATCH = {"metrics": 1000, "params": 100, "tags": 100}  # MLflow's per-call limits of log_batch

log = logging.getLogger("specialize.tracking")


def installed() -> bool:
    return importlib.util.find_spec("mlflow") is not None


def enabled() -> bool:
    """True when tracking is switched on (the default) and mlflow is importable."""
    return os.environ.get(ENV_TRACKING, "on").strip().lower() not in OFF_VALUES and installed()


def store_dir(root: Path | None = None) -> Path:
    return (root or workspace_root()) / "tracking"


def tracking_uri(root: Path | None = None) -> str:
    """Where runs go: a configured server or database, else the SQLite store in the workspace."""
    configured = os.environ.get(ENV_URI) or os.environ.get("MLFLOW_TRACKING_URI")
    if configured:
        return configured
    return f"sqlite:///{store_dir(root) / 'mlflow.db'}"


def shown_uri(uri: str | None = None) -> str:
    """The tracking URI as results and messages show it: a password or token in it is replaced by ***."""
    from urllib.parse import urlsplit, urlunsplit

    uri = uri or tracking_uri()
    parts = urlsplit(uri)
    if parts.password is None and "@" not in parts.netloc:
        return uri
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


def experiment_name() -> str:
    return os.environ.get(ENV_EXPERIMENT) or os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT


def describe() -> dict[str, Any]:
    """What the tracker is doing, for results and reports."""
    switched_off = os.environ.get(ENV_TRACKING, "on").strip().lower() in OFF_VALUES
    reason = ("switched off (SPECIALIZE_TRACKING=off)" if switched_off else
              None if installed() else "mlflow is not installed (pip install mlflow-skinny sqlalchemy alembic)")
    return {"enabled": reason is None, "uri": shown_uri() if reason is None else None,
            "experiment": experiment_name() if reason is None else None, "reason": reason}


def _client():
    """An MLflow client on the configured store and the id of our experiment (created on first use)."""
    uri = tracking_uri()
    local = uri == f"sqlite:///{store_dir() / 'mlflow.db'}"
    if local:
        _new_store(store_dir() / "mlflow.db")
    # A tracking server that is down should cost seconds, not MLflow's default minutes of retries.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    name = experiment_name()
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return client, exp.experiment_id
    artifacts = None
    if local:
        artifacts = (store_dir() / "artifacts").as_uri()  # beside the database, not in the process's cwd
    try:
        return client, client.create_experiment(name, artifact_location=artifacts)
    except Exception:  # another process created it between the look-up and here
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return client, exp.experiment_id


def _new_store(db: Path) -> None:
    """Give a workspace its SQLite store. MLflow builds an empty store by running its whole chain of schema
    migrations (seconds of CPU); that is done once per MLflow version into a template in the user's cache, and each
    new workspace gets a copy of it."""
    if db.exists():
        return
    import shutil
    import uuid

    import mlflow
    from mlflow.tracking import MlflowClient

    make_dirs(db.parent, arg="tracking")  # refuses a tracking/ folder that is a symlink out of the workspace
    cache = (Path(os.environ["SPECIALIZE_CACHE_DIR"]) if os.environ.get("SPECIALIZE_CACHE_DIR") else
             Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "specialize") / "tracking"
    template = cache / f"mlflow-{mlflow.__version__}-empty.db"
    try:
        if not template.exists():
            cache.mkdir(parents=True, exist_ok=True)
            scratch = cache / f".{uuid.uuid4().hex}.db"
            MlflowClient(tracking_uri=f"sqlite:///{scratch}").search_experiments(max_results=1)  # migrates it
            os.replace(scratch, template)
        part = db.with_name(f".{uuid.uuid4().hex}.db")
        shutil.copyfile(template, part)
        os.replace(part, db) if not db.exists() else part.unlink()
    except OSError as exc:  # no writable cache: MLflow builds the store in place, which only takes longer
        log.info("tracking: no template store (%s); building %s in place", exc, db)


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value


def flatten(data: dict[str, Any] | None) -> dict[str, Any]:
    """Nested dicts as dotted keys: {"a": {"b": 1}} -> {"a.b": 1}."""
    out: dict[str, Any] = {}
    _flat("", data or {}, out)
    return out


def _key(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_\-. :/]", "_", name)[:250]


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def metrics_of(data: dict[str, Any] | None) -> dict[str, float]:
    """The finite numbers in a (nested) dict as metrics; a [low, high] interval under ``x_ci`` becomes
    ``x_ci_low`` and ``x_ci_high``. Text, lists and nulls are left to the params, tags and the result file."""
    out: dict[str, float] = {}
    for key, value in flatten(data).items():
        num = _number(value)
        if num is not None:
            out[_key(key)] = num
        elif key.endswith("_ci") and isinstance(value, (list, tuple)) and len(value) == 2:
            for end, v in zip(("low", "high"), value):
                if (n := _number(v)) is not None:
                    out[_key(f"{key}_{end}")] = n
    return out


def params_of(data: dict[str, Any] | None) -> dict[str, str]:
    """Every non-null leaf as a parameter string (lists as JSON); over-long values are cut to MLflow's limit with a
    marker — the whole value is kept in the run's params.json artifact."""
    out: dict[str, str] = {}
    for key, value in flatten(data).items():
        if value is None or value == [] or value == {}:
            continue
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        if len(text) > MAX_PARAM_CHARS:
            note = f"... [cut: {len(text)} characters, see params.json]"
            text = text[:MAX_PARAM_CHARS - len(note)] + note
        out[_key(key)] = text
    return out


def _tags(kind: str, datasets: dict[str, Any] | None, artifacts: dict[str, Any] | None,
          tags: dict[str, Any] | None) -> dict[str, str]:
    out = {KIND_TAG: kind, "specialize.workspace": str(workspace_root())}
    out.update({f"dataset.{k}": str(v) for k, v in (datasets or {}).items() if v is not None})
    out.update({f"artifact.{k}": str(v) for k, v in (artifacts or {}).items() if v is not None})
    out.update({_key(k): str(v) for k, v in (tags or {}).items() if v is not None})
    return out


def _log_batch(client, run_id: str, *, params: dict[str, str], metrics: dict[str, float],
               tags: dict[str, str], step: int = 0) -> None:
    from mlflow.entities import Metric, Param, RunTag

    now = int(_dt.datetime.now(_dt.timezone.utc).timestamp() * 1000)
    items = {"params": [Param(k, v) for k, v in params.items()],
             "metrics": [Metric(k, v, now, step) for k, v in metrics.items()],
             "tags": [RunTag(k, v) for k, v in tags.items()]}
    for what, batch in items.items():
        size = _BATCH[what]
        for i in range(0, len(batch), size):
            client.log_batch(run_id, **{what: batch[i:i + size]})


def log_run(kind: str, *, name: str | None = None, params: dict[str, Any] | None = None,
            metrics: dict[str, Any] | None = None, result: dict[str, Any] | None = None,
            datasets: dict[str, Any] | None = None, artifacts: dict[str, Any] | None = None,
            tags: dict[str, Any] | None = None) -> str | None:
    """Log one finished tool run; returns its MLflow run id, or None when tracking is off or failed.

    ``params`` are the tool's inputs (flattened to dotted strings), ``metrics`` and the numbers of ``result`` become
    metrics, ``datasets`` (name -> version or sha256) and ``artifacts`` (name -> workspace path) become tags, and
    ``params``/``result`` are also stored whole as params.json / result.json artifacts.
    """
    if not enabled():
        return None
    try:
        client, exp_id = _client()
        run = client.create_run(exp_id, run_name=name or kind, tags=_tags(kind, datasets, artifacts, tags))
        run_id = run.info.run_id
        try:
            _log_batch(client, run_id, params=params_of(params), metrics={**metrics_of(result),
                                                                          **metrics_of(metrics)}, tags={})
            if params:
                client.log_dict(run_id, json.loads(json.dumps(params, default=str)), "params.json")
            if result:
                client.log_dict(run_id, json.loads(json.dumps(result, default=str)), "result.json")
        except Exception:
            client.set_terminated(run_id, status="FAILED")
            raise
        client.set_terminated(run_id)
        return run_id
    except Exception as exc:  # the registry holds the record; say what the tracker missed and why
        log.warning("tracking: could not log the %s run '%s' to %s: %s: %s", kind, name or kind, shown_uri(),
                    type(exc).__name__, exc)
        return None


def runs(kind: str | None = None, *, max_results: int = 10_000) -> list[dict[str, Any]]:
    """The runs of our experiment, oldest first (optionally one kind): id, name, kind, status, start time, params,
    metrics and tags. An empty list when tracking is off or the store has no such experiment yet."""
    if not enabled():
        return []
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri())
    exp = client.get_experiment_by_name(experiment_name())
    if exp is None:
        return []
    where = f"tags.`{KIND_TAG}` = '{kind}'" if kind else ""
    out: list[dict[str, Any]] = []
    token = None
    while len(out) < max_results:
        page = client.search_runs([exp.experiment_id], filter_string=where, order_by=["attributes.start_time ASC"],
                                  max_results=min(1000, max_results - len(out)), page_token=token)
        for r in page:
            out.append({"run_id": r.info.run_id, "name": r.info.run_name, "kind": r.data.tags.get(KIND_TAG),
                        "status": r.info.status, "start_time": r.info.start_time,
                        "artifact_uri": r.info.artifact_uri, "params": dict(r.data.params),
                        "metrics": dict(r.data.metrics), "tags": dict(r.data.tags)})
        token = page.token
        if not token:
            break
    return out


def report_to() -> str:
    """What transformers' ``report_to`` should be: its own MLflow integration when tracking is on."""
    return "mlflow" if enabled() else "none"


class TrainingRun:
    """The MLflow run a training job logs into (transformers' MLflowCallback finds it as the active run)."""

    def __init__(self, run_id: str | None) -> None:
        self.run_id = run_id

    def finish(self, *, params: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None,
               artifacts: dict[str, Any] | None = None) -> None:
        """Add our own params (recipe, dataset versions, base model) and the final metrics to the run."""
        if self.run_id is None:
            return
        try:
            client, _ = _client()
            # transformers' callback already logged TrainingArguments under their own names; a key logged twice
            # with another value is an error in MLflow, so ours keep their dotted, namespaced names.
            existing = client.get_run(self.run_id).data.params
            mine = {k: v for k, v in params_of(params).items() if existing.get(k, v) == v}
            _log_batch(client, self.run_id, params=mine, metrics=metrics_of(metrics),
                       tags={f"artifact.{k}": str(v) for k, v in (artifacts or {}).items() if v is not None})
            if params:
                client.log_dict(self.run_id, json.loads(json.dumps(params, default=str)), "params.json")
        except Exception as exc:
            log.warning("tracking: could not add the final numbers to training run %s: %s: %s", self.run_id,
                        type(exc).__name__, exc)


@contextlib.contextmanager
def training_run(kind: str, *, job_id: str, tags: dict[str, Any] | None = None) -> Iterator[TrainingRun]:
    """Open (or, for a resumed job, reopen) the MLflow run of a training job as the process's active run, so
    that ``report_to="mlflow"`` logs the loss curve into it; close it FINISHED, or FAILED on an exception.
    Only the main process (rank 0) opens it; elsewhere, and when tracking is off, the run id is None."""
    rank = int(os.environ.get("RANK", "0") or 0)
    if not enabled() or rank != 0:
        yield TrainingRun(None)
        return
    mlflow = None
    run_id = None
    try:
        import mlflow

        client, exp_id = _client()
        found = client.search_runs([exp_id], filter_string=f"tags.job_id = '{job_id}'", max_results=1)
        if found:
            run_id = found[0].info.run_id
        else:
            run_id = client.create_run(exp_id, run_name=job_id,
                                       tags=_tags(kind, None, None, {"job_id": job_id, **(tags or {})})).info.run_id
        mlflow.set_tracking_uri(tracking_uri())
        mlflow.start_run(run_id=run_id)
    except Exception as exc:
        log.warning("tracking: could not open a run for training job %s: %s: %s", job_id, type(exc).__name__, exc)
        run_id = None
    status = "FINISHED"
    try:
        yield TrainingRun(run_id)
    except BaseException:
        status = "FAILED"
        raise
    finally:
        if run_id is not None and mlflow is not None:
            try:
                if hasattr(mlflow, "flush_async_logging"):
                    mlflow.flush_async_logging()
                mlflow.end_run(status=status)
            except Exception as exc:
                log.warning("tracking: could not close training run %s: %s: %s", run_id, type(exc).__name__, exc)


__all__ = ["enabled", "installed", "describe", "tracking_uri", "experiment_name", "log_run", "runs", "report_to",
           "training_run", "TrainingRun", "metrics_of", "params_of", "flatten"]
