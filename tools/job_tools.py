"""Tools that follow long work: job_status, job_logs, job_cancel, list_jobs, and a small self-test job.

Long tools (training, export, large generation or judging runs) return ``{job_id, run_dir}`` at once; these
tools are how an agent or a person follows them afterwards.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import Field

from specialize.runtime import jobs
from specialize.runtime.catalog import tool
from specialize.runtime.schema import Params, Result

JobState = Literal["queued", "running", "cancelling", "succeeded", "failed", "cancelled"]


class JobHandle(Result):
    """What every job-starting tool returns, at once."""

    job_id: str = Field(description="Id to pass to job_status, job_logs and job_cancel.")
    run_dir: str = Field(description="Folder holding the job's config, logs, metrics and artifacts.")
    kind: str = Field(description="What sort of job this is (train_qlora, export_gguf, ...).")
    state: JobState = Field(description="State when the call returned (normally 'queued').")


class InlineOrJob(Result):
    """The result of a tool that does small work in the call and starts a job for big work: the job fields are
    filled only when it started one."""

    job_id: str | None = Field(None, description="Set when the work runs as a job; follow it with job_status.")
    run_dir: str | None = Field(None, description="The job's folder, when the work runs as a job.")
    kind: str = Field(description="Job kind (the tool's name).")
    state: str = Field("succeeded", description="'succeeded' for work done in the call; the job's state otherwise.")


class JobStatus(Result):
    job_id: str = Field(description="The job's id.")
    kind: str = Field(description="What sort of job this is.")
    state: JobState = Field(description="queued, running, cancelling, succeeded, failed or cancelled.")
    progress: float | None = Field(None, description="Fraction done, 0..1, when the job knows its total.")
    step: float | None = Field(None, description="Steps (or rows, requests) done so far.")
    total: float | None = Field(None, description="Steps planned in all.")
    eta_seconds: float | None = Field(None, description="Estimated seconds left, from the pace so far.")
    metrics: dict[str, int | float | str | bool | None] = Field(
        default_factory=dict, description="Latest value of each metric the job reports (loss, learning_rate, "
                                          "tokens_per_second, eval_*...); the names depend on the job kind.")
    message: str | None = Field(None, description="The job's latest human-readable message.")
    error: str | None = Field(None, description="Why the job failed, when it did.")
    log_tail: list[str] = Field(default_factory=list, description="Last log lines, filled when the job failed.")
    result: dict[str, Any] | None = Field(None, description="The job's result once it succeeded: the result "
                                          "object of the tool that started it (run_eval, validate_rows, "
                                          "generate_batch, run_pairwise_judge), or the run record of a training "
                                          "or export job; it is left open because its shape depends on the kind.")
    run_dir: str = Field(description="The job's folder.")
    created_at: str | None = Field(None, description="When the job was started (UTC).")
    started_at: str | None = Field(None, description="When its worker began (UTC).")
    finished_at: str | None = Field(None, description="When it ended (UTC).")
    attempts: int = Field(1, description="How many times this run folder was started (resumes count).")


def to_status(raw: dict[str, Any]) -> JobStatus:
    fields = JobStatus.model_fields
    return JobStatus(**{k: v for k, v in raw.items() if k in fields and v is not None})


def to_handle(raw: dict[str, Any]) -> JobHandle:
    return JobHandle(**{k: raw[k] for k in ("job_id", "run_dir", "kind", "state")})


class JobIdParams(Params):
    job_id: str = Field(description="The job id returned when the job was started (see list_jobs).")


@tool(read_only=True, idempotent=True)
def job_status(params: JobIdParams, *, progress=None) -> JobStatus:
    """State of a job: progress (step/total), latest metrics, ETA, error and, once done, its result.

    A job whose worker process died is reported 'failed' with its last log lines.
    """
    return to_status(jobs.read_status(params.job_id))


class JobLogsParams(Params):
    job_id: str = Field(description="The job id.")
    lines: int = Field(50, ge=1, le=2000, description="How many of the last log lines to return.")


class JobLogs(Result):
    job_id: str = Field(description="The job id.")
    state: JobState = Field(description="The job's state now.")
    lines: list[str] = Field(description="The last lines of the job's log, oldest first.")
    log_path: str = Field(description="Path of the full log file.")


@tool(read_only=True, idempotent=True)
def job_logs(params: JobLogsParams, *, progress=None) -> JobLogs:
    """The tail of a job's log file."""
    run_dir = jobs.find_run_dir(params.job_id)
    state = jobs.read_status(params.job_id)["state"]
    return JobLogs(job_id=params.job_id, state=state, lines=jobs.tail(run_dir / "job.log", params.lines),
                   log_path=str(run_dir / "job.log"))


@tool(destructive=True, idempotent=True)
def job_cancel(params: JobIdParams, *, progress=None) -> JobStatus:
    """Cancel a queued or running job (its checkpoints and logs are kept; training can resume later).

    Cancelling a job that already ended changes nothing and returns its status.
    """
    return to_status(jobs.cancel(params.job_id))


class ListJobsParams(Params):
    state: JobState | None = Field(None, description="Only jobs in this state.")
    kind: str | None = Field(None, description="Only jobs of this kind (e.g. train_qlora).")


class JobList(Result):
    jobs: list[JobStatus] = Field(description="Every job in the workspace, oldest first.")


@tool(read_only=True, idempotent=True)
def list_jobs(params: ListJobsParams, *, progress=None) -> JobList:
    """Every job the workspace knows, with its state; survives server restarts."""
    out = [to_status(s) for s in jobs.list_all()]
    if params.state:
        out = [s for s in out if s.state == params.state]
    if params.kind:
        out = [s for s in out if s.kind == params.kind]
    return JobList(jobs=out)


class SelftestJobParams(Params):
    steps: int = Field(20, ge=1, le=100_000, description="How many steps the job counts through.")
    seconds_per_step: float = Field(0.05, ge=0, le=60, description="Pause per step, in seconds.")
    fail_at_step: int | None = Field(None, ge=1, description="Raise an error at this step (to test failures).")


@tool(starts_job=True)
def selftest_job(params: SelftestJobParams, *, progress=None) -> JobHandle:
    """Start a small built-in job that counts steps: checks that the job runner works on this machine."""
    return to_handle(jobs.start_job("selftest", "specialize.tools.job_tools:selftest_worker", params))


def selftest_worker(raw: dict[str, Any], ctx: jobs.JobContext) -> dict[str, Any]:
    p = SelftestJobParams.model_validate(raw)
    started = time.monotonic()
    for step in range(1, p.steps + 1):
        time.sleep(p.seconds_per_step)
        if p.fail_at_step == step:
            raise RuntimeError(f"self-test failure planted at step {step}")
        ctx.progress(step, p.steps, metrics={"value": step * step}, message=f"step {step}/{p.steps}")
    return {"steps": p.steps, "seconds": round(time.monotonic() - started, 3)}
