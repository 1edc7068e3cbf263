"""The job runner: long work runs in its own process, and its state lives on disk.

``start_job`` writes ``job.json`` into a run folder, spawns ``python -m specialize.runtime.jobs RUN_DIR`` in a new
process session, and returns at once. The worker imports the job's entry point (``module:function``), calls
it with the params and a ``JobContext``, and keeps ``state.json`` current (state, step/total, metrics,
message). ``read_status`` trusts the file only while the recorded process is alive: a worker that died
without saying so is reported failed with the last lines of its log, so no job stays "running" forever.
A restarted server finds every job again by scanning ``runs/``.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel

from specialize.runtime.errors import JobError, NotFound
from specialize.runtime.workspace import workspace_root, write_text

ACTIVE = ("queued", "running", "cancelling")
FINAL = ("succeeded", "failed", "cancelled")
CANCEL_FLAG = "cancel.requested"
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def runs_root(root: Path | None = None) -> Path:
    path = (root or workspace_root()) / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write_text(tmp, json.dumps(data, indent=2, default=str), arg=path.name)
    os.replace(tmp, path)  # a rename replaces a planted symlink itself, never the file it points to


def _read_json(path: Path) -> dict[str, Any]:
    for _ in range(5):  # a writer may be mid-replace on some filesystems
        try:
            return json.loads(path.read_text())
        except (json.JSONDecodeError, FileNotFoundError):
            time.sleep(0.02)
    return json.loads(path.read_text())


class JobCancelled(BaseException):
    """Raised inside a worker when a cancel was requested (BaseException so broad excepts let it through)."""


class JobContext:
    """What a job function receives: its run folder, progress reporting, metrics, and the cancel flag."""

    def __init__(self, run_dir: Path, job: dict[str, Any]) -> None:
        self.run_dir = run_dir
        self.job = job
        self.resume = bool(job.get("resume"))
        self._last_write = 0.0
        self._state = _read_json(run_dir / "state.json")

    # -- progress -------------------------------------------------------------------------------
    def progress(
        self,
        step: float | None = None,
        total: float | None = None,
        *,
        metrics: dict[str, Any] | None = None,
        message: str | None = None,
        force: bool = False,
    ) -> None:
        """Record progress; cheap enough to call every step (writes at most 5 times a second)."""
        st = self._state
        if step is not None:
            st["step"] = step
        if total is not None:
            st["total"] = total
        if metrics:
            st.setdefault("metrics", {}).update(metrics)
        if message is not None:
            st["message"] = message
        if st.get("total"):
            st["progress"] = max(0.0, min(1.0, float(st.get("step") or 0) / float(st["total"])))
        now = time.monotonic()
        if force or now - self._last_write >= 0.2:
            st["updated_at"] = now_iso()
            write_json_atomic(self.run_dir / "state.json", st)
            self._last_write = now
        if self.cancel_requested():
            raise JobCancelled()

    def log_metrics(self, row: dict[str, Any]) -> None:
        """Append one row to ``metrics.jsonl`` and show it as the latest metrics in ``job_status``."""
        row = {"time": now_iso(), **row}
        with open(self.run_dir / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps(row, default=str) + "\n")
        self.progress(metrics={k: v for k, v in row.items() if k != "time"})

    def log(self, message: str) -> None:
        print(f"{now_iso()} {message}", file=sys.stderr, flush=True)

    def cancel_requested(self) -> bool:
        return (self.run_dir / CANCEL_FLAG).exists()

    def flush(self) -> None:
        self.progress(force=True)


# ---------------------------------------------------------------------------------------------------
# starting and following jobs


def _process_alive(pid: int | None, create_time: float | None) -> bool:
    if not pid:
        return False
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        return False
    import psutil

    try:
        proc = psutil.Process(pid)
        if create_time is not None and abs(proc.create_time() - create_time) > 1.0:
            return False  # the pid was reused by another process
        return proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def end_group(pgid: int | None, started_at: float | None = None) -> int:
    """Kill whatever is left of a job's process group once its worker is gone; returns how many were killed.

    The worker leads its own process group (``start_new_session``), so helpers it forked (LLM shards, data
    loaders) share its group id. Only processes created no earlier than the worker are touched, so a recycled
    id never reaches an unrelated process.
    """
    import psutil

    if not pgid:
        return 0
    killed = 0
    for proc in psutil.process_iter(["pid", "create_time"]):
        try:
            if proc.pid == os.getpid() or os.getpgid(proc.pid) != pgid:
                continue
            if started_at is not None and proc.info["create_time"] + 1.0 < started_at:
                continue
            proc.kill()
            killed += 1
        except (ProcessLookupError, psutil.NoSuchProcess, psutil.AccessDenied, PermissionError):
            continue
    return killed


def start_job(
    kind: str,
    entry: str,
    params: BaseModel | dict[str, Any],
    *,
    run_dir: Path | None = None,
    resume: bool = False,
    label: str | None = None,
) -> dict[str, Any]:
    """Start ``entry`` (``"package.module:function"``) in its own process; return ``{job_id, run_dir, ...}``."""
    payload = params.model_dump(mode="json") if isinstance(params, BaseModel) else dict(params)
    root = workspace_root()
    if run_dir is None:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        job_id = f"{kind}-{stamp}-{secrets.token_hex(2)}"
        run_dir = runs_root(root) / job_id
        run_dir.mkdir(parents=True, exist_ok=False)
        attempts = 0
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        old = run_dir / "job.json"
        job_id = _read_json(old)["job_id"] if old.exists() else run_dir.name
        attempts = _read_json(old).get("attempts", 0) if old.exists() else 0
        if old.exists():
            status = read_status(job_id)
            if status["state"] in ACTIVE:
                raise JobError(f"Job {job_id} is still {status['state']}.",
                               fix="Wait for it or cancel it with job_cancel before resuming.")
    (run_dir / CANCEL_FLAG).unlink(missing_ok=True)
    (run_dir / "launcher.json").unlink(missing_ok=True)
    job = {
        "job_id": job_id,
        "kind": kind,
        "entry": entry,
        "label": label or kind,
        "params": payload,
        "created_at": now_iso(),
        "resume": resume,
        "attempts": attempts + 1,
        "workspace": str(root),
    }
    write_json_atomic(run_dir / "job.json", job)
    write_json_atomic(run_dir / "state.json", {"job_id": job_id, "kind": kind, "state": "queued",
                                               "created_at": job["created_at"], "step": 0, "total": None})
    env = dict(os.environ, SPECIALIZE_WORKSPACE=str(root), PYTHONUNBUFFERED="1")
    log = open(run_dir / "job.log", "ab")
    log.write(f"--- attempt {job['attempts']} started {job['created_at']} ---\n".encode())
    log.flush()
    proc = subprocess.Popen(
        [sys.executable, "-m", "specialize.runtime.jobs", str(run_dir)],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )
    log.close()
    _CHILDREN[proc.pid] = proc
    import psutil

    try:
        ctime = psutil.Process(proc.pid).create_time()
    except psutil.NoSuchProcess:
        ctime = None
    # The launcher records the pid in its own file: state.json belongs to the worker once it starts.
    write_json_atomic(run_dir / "launcher.json", {"pid": proc.pid, "pid_create_time": ctime})
    return {"job_id": job_id, "run_dir": str(run_dir), "kind": kind, "state": "queued"}


def _is_real_run_dir(path: Path, runs: Path) -> bool:
    """A job folder is a real folder directly under ``runs/`` (itself inside the workspace): never a symlink,
    and its job.json and state.json are plain files, so no job tool reads or acts on anything elsewhere."""
    if path.is_symlink() or not path.is_dir() or path.resolve().parent != runs:
        return False
    return all(not (path / f).is_symlink() for f in ("job.json", "state.json", "launcher.json", "job.log"))


def find_run_dir(job_id: str) -> Path:
    if not job_id or len(job_id) > 200 or "/" in job_id or "\\" in job_id or "\x00" in job_id \
            or job_id.startswith("."):
        shown = job_id if len(job_id) <= 80 else job_id[:80] + "..."
        raise NotFound(f"Argument 'job_id' ({shown!r}) is not a job id.", fix="Use an id from list_jobs.")
    ws = workspace_root()
    runs = runs_root(ws).resolve()
    if not str(runs).startswith(str(ws) + os.sep):
        raise JobError(f"The runs folder {runs_root(ws)} is a symlink that leads out of the workspace {ws}.",
                       fix="Replace runs/ with a real folder inside the workspace.")
    path = runs / job_id
    if os.path.lexists(path) and not _is_real_run_dir(path, runs):
        raise JobError(f"Argument 'job_id': runs/{job_id} is a symlink (or holds one), not a job folder; job tools "
                       "only act on real folders under runs/.", fix="Remove the link and use an id from list_jobs.")
    if not (path / "job.json").exists():
        raise NotFound(f"No job with id '{job_id}' in {runs}.", fix="Call list_jobs to see the known jobs.")
    return path


def tail(path: Path, lines: int) -> list[str]:
    if not path.exists():
        return []
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        block = min(size, max(4096, lines * 400))
        fh.seek(size - block)
        data = fh.read().decode("utf-8", errors="replace")
    return data.splitlines()[-lines:] if lines > 0 else []


def read_status(job_id: str) -> dict[str, Any]:
    """The job's state from disk, with dead workers detected and recorded as failed."""
    run_dir = find_run_dir(job_id)
    state = _read_json(run_dir / "state.json")
    job = _read_json(run_dir / "job.json")
    if state.get("state") in ACTIVE:
        if not state.get("pid") and (run_dir / "launcher.json").exists():
            state.update(_read_json(run_dir / "launcher.json"))
        pid = state.get("pid")
        alive = _process_alive(pid, state.get("pid_create_time"))
        if not alive and (pid or _age_seconds(state.get("created_at")) > 30):
            state = _read_json(run_dir / "state.json")  # it may have finished in between
            if state.get("state") in ACTIVE:
                was_cancelling = state.get("state") == "cancelling" or (run_dir / CANCEL_FLAG).exists()
                state["state"] = "cancelled" if was_cancelling else "failed"
                state["error"] = None if was_cancelling else (
                    "The job's worker process ended without reporting a result (killed, out of memory, or crashed)."
                )
                state["log_tail"] = tail(run_dir / "job.log", 20)
                state["finished_at"] = now_iso()
                write_json_atomic(run_dir / "state.json", state)
                end_group(pid, state.get("pid_create_time"))  # its helpers die with it, not 30 s later
    state["run_dir"] = str(run_dir)
    state["label"] = job.get("label")
    state["attempts"] = job.get("attempts", 1)
    if state.get("state") == "running" and state.get("progress") and state.get("started_at"):
        frac = float(state["progress"])
        elapsed = _age_seconds(state["started_at"])
        state["eta_seconds"] = round(elapsed * (1 - frac) / frac, 1) if frac > 0 else None
    return state


def _age_seconds(iso: str | None) -> float:
    if not iso:
        return 0.0
    then = _dt.datetime.fromisoformat(iso)
    return (_dt.datetime.now(_dt.timezone.utc) - then).total_seconds()


def cancel(job_id: str, wait_seconds: float = 5.0) -> dict[str, Any]:
    """Ask the worker to stop (flag file + SIGTERM to its process group); SIGKILL if it does not."""
    run_dir = find_run_dir(job_id)
    state = read_status(job_id)
    if state["state"] in FINAL:
        return state
    (run_dir / CANCEL_FLAG).write_text(now_iso())
    pid = state.get("pid")
    if pid and _process_alive(pid, state.get("pid_create_time")):
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline and _process_alive(pid, state.get("pid_create_time")):
            time.sleep(0.1)
        if _process_alive(pid, state.get("pid_create_time")):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            time.sleep(0.2)
        end_group(pid, state.get("pid_create_time"))  # helpers that ignored SIGTERM or outlived the worker
    return read_status(job_id)


def list_all() -> list[dict[str, Any]]:
    out = []
    for path in sorted(runs_root().iterdir()):
        if not path.is_symlink() and (path / "job.json").exists() and (path / "state.json").exists():
            try:
                out.append(read_status(path.name))
            except (OSError, json.JSONDecodeError, NotFound, JobError):
                continue
    return out


def wait(job_id: str, timeout: float = 600.0, poll: float = 0.5) -> dict[str, Any]:
    """Block until the job ends (for the CLI and tests); returns the final status."""
    deadline = time.monotonic() + timeout
    while True:
        status = read_status(job_id)
        if status["state"] in FINAL:
            return status
        if time.monotonic() > deadline:
            raise JobError(f"Job {job_id} still {status['state']} after {timeout:.0f} s.",
                           fix="Keep polling job_status, or cancel it.")
        time.sleep(poll)


# ---------------------------------------------------------------------------------------------------
# the worker side


def _resolve_entry(entry: str) -> Callable[..., Any]:
    module, _, func = entry.partition(":")
    return getattr(importlib.import_module(module), func)


def _worker(run_dir: Path) -> int:
    job = _read_json(run_dir / "job.json")
    state = _read_json(run_dir / "state.json")
    import psutil

    state.update(state="running", pid=os.getpid(), pid_create_time=psutil.Process().create_time(),
                 started_at=now_iso(), error=None, finished_at=None)
    write_json_atomic(run_dir / "state.json", state)

    def on_term(signum: int, frame: Any) -> None:
        raise JobCancelled()

    signal.signal(signal.SIGTERM, on_term)
    ctx = JobContext(run_dir, job)
    try:
        fn = _resolve_entry(job["entry"])
        result = fn(job["params"], ctx)
        if isinstance(result, BaseModel):
            result = result.model_dump(mode="json")
        final = dict(ctx._state, state="succeeded", finished_at=now_iso(), result=result)
        if final.get("total"):
            final["step"], final["progress"] = final["total"], 1.0
        write_json_atomic(run_dir / "result.json", result)
        write_json_atomic(run_dir / "state.json", final)
        return 0
    except JobCancelled:
        ctx.log("job cancelled")
        write_json_atomic(run_dir / "state.json", dict(ctx._state, state="cancelled", finished_at=now_iso()))
        return 130
    except BaseException as exc:  # noqa: BLE001 - every failure is recorded, none is lost
        traceback.print_exc()
        write_json_atomic(run_dir / "state.json", dict(
            ctx._state, state="failed", finished_at=now_iso(), error=f"{type(exc).__name__}: {exc}",
            log_tail=tail(run_dir / "job.log", 20)))
        return 1


if __name__ == "__main__":
    sys.exit(_worker(Path(sys.argv[1])))
