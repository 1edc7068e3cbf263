"""Scale-out: the job worker that runs ``accelerate launch``, and the per-rank entry point it starts.

The job process (``run_launched``) starts the launch command written in ``launch.sh`` and waits for it,
stopping it on cancel. Each rank runs ``python -m specialize.training.launch RUN_DIR``; only rank 0 reports
progress and writes the adapter and run.json.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from specialize.runtime.errors import JobError
from specialize.runtime.jobs import JobCancelled, JobContext
from specialize.runtime.procs import die_with_parent, preexec_die_with_parent


def run_launched(raw: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    commands = (ctx.run_dir / "launch.sh").read_text().splitlines()
    command = next(c for c in commands if c and not c.startswith("#"))
    env = dict(os.environ, SPECIALIZE_JOB_RESUME="1" if ctx.resume else "0")
    ctx.log(f"launching: {command}")
    # its own session, so a cancel can stop the whole launch tree; and SIGTERM when this worker dies, so a worker
    # killed on its own does not leave the ranks training
    proc = subprocess.Popen(shlex.split(command), env=env, start_new_session=True,
                            preexec_fn=preexec_die_with_parent())
    try:
        while proc.poll() is None:
            if ctx.cancel_requested():
                raise JobCancelled()
            time.sleep(1.0)
    except BaseException:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
        raise
    if proc.returncode != 0:
        raise JobError(f"accelerate launch exited with status {proc.returncode}.", fix="Read job_logs for the rank errors.")
    return json.loads((ctx.run_dir / "run.json").read_text())


class _QuietContext(JobContext):
    """Ranks other than 0 train but do not write the job's state."""

    def progress(self, *a: Any, **k: Any) -> None:
        if self.cancel_requested():
            raise JobCancelled()

    def log_metrics(self, row: dict[str, Any]) -> None:
        return None


def main(run_dir: str) -> None:
    die_with_parent(sig=signal.SIGTERM)  # a rank ends with the launcher that started it
    path = Path(run_dir)
    job = json.loads((path / "job.json").read_text())
    job["resume"] = os.environ.get("SPECIALIZE_JOB_RESUME") == "1"
    rank = int(os.environ.get("RANK", "0"))
    ctx = (JobContext if rank == 0 else _QuietContext)(path, job)
    kind = job["kind"]
    if kind == "train_dpo":
        from specialize.training.dpo import run_dpo

        run_dpo(job["params"], ctx)
    else:
        from specialize.training.sft import run_sft

        run_sft(job["params"], ctx)


if __name__ == "__main__":
    main(sys.argv[1])
