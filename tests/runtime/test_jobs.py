"""The job runner: start returns at once, progress shows, cancel works, dead workers are reported failed,
and the state on disk outlives the process that started the job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from specialize.tools.job_tools import (
    JobIdParams,
    JobLogsParams,
    ListJobsParams,
    SelftestJobParams,
    job_cancel,
    job_logs,
    job_status,
    list_jobs,
    selftest_job,
)

from specialize.runtime import jobs
from specialize.runtime.errors import NotFound


def _wait_for(pred, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def test_start_returns_at_once_and_reports_progress(workspace):
    started = time.perf_counter()
    handle = selftest_job(SelftestJobParams(steps=30, seconds_per_step=0.1))
    assert time.perf_counter() - started < 1.0
    assert handle.state == "queued" and os.path.isdir(handle.run_dir)
    mid = _wait_for(lambda: (s := job_status(JobIdParams(job_id=handle.job_id))).step and s.step >= 5 and s)
    assert mid.state == "running"
    assert mid.total == 30 and 0 < mid.progress < 1
    assert mid.metrics["value"] >= 25
    final = jobs.wait(handle.job_id, timeout=60)
    assert final["state"] == "succeeded"
    assert final["result"]["steps"] == 30
    status = job_status(JobIdParams(job_id=handle.job_id))
    assert status.progress == 1.0
    logs = job_logs(JobLogsParams(job_id=handle.job_id, lines=5))
    assert logs.lines and "attempt 1" in "\n".join(job_logs(JobLogsParams(job_id=handle.job_id, lines=50)).lines)


def test_failure_is_reported_with_error_and_log(workspace):
    handle = selftest_job(SelftestJobParams(steps=10, seconds_per_step=0.01, fail_at_step=3))
    final = jobs.wait(handle.job_id, timeout=60)
    assert final["state"] == "failed"
    assert "planted at step 3" in final["error"]
    assert any("RuntimeError" in line for line in final["log_tail"])


def test_cancel_stops_a_running_job(workspace):
    handle = selftest_job(SelftestJobParams(steps=1000, seconds_per_step=0.05))
    _wait_for(lambda: job_status(JobIdParams(job_id=handle.job_id)).state == "running")
    status = job_cancel(JobIdParams(job_id=handle.job_id))
    assert status.state == "cancelled"
    assert status.step < 1000
    # cancelling again is harmless
    assert job_cancel(JobIdParams(job_id=handle.job_id)).state == "cancelled"


def test_killed_worker_is_reported_failed_not_running(workspace):
    handle = selftest_job(SelftestJobParams(steps=1000, seconds_per_step=0.05))
    running = _wait_for(lambda: (s := jobs.read_status(handle.job_id))["state"] == "running" and s.get("pid") and s)
    os.killpg(running["pid"], signal.SIGKILL)
    final = _wait_for(lambda: (s := job_status(JobIdParams(job_id=handle.job_id))).state != "running" and s)
    assert final.state == "failed"
    assert "ended without reporting" in final.error
    assert final.log_tail


def test_state_survives_a_new_process(workspace):
    handle = selftest_job(SelftestJobParams(steps=3, seconds_per_step=0.01))
    jobs.wait(handle.job_id, timeout=60)
    # a different Python process (a restarted server) sees the same jobs
    code = ("from specialize.tools.job_tools import list_jobs, ListJobsParams;"
            "print([j.state for j in list_jobs(ListJobsParams()).jobs])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, SPECIALIZE_WORKSPACE=str(workspace)))
    assert "succeeded" in out.stdout
    listed = list_jobs(ListJobsParams(state="succeeded", kind="selftest")).jobs
    assert [j.job_id for j in listed] == [handle.job_id]


def test_unknown_job_is_a_clear_error(workspace):
    with pytest.raises(NotFound) as err:
        job_status(JobIdParams(job_id="nope-123"))
    assert "list_jobs" in str(err.value)
    with pytest.raises(NotFound):
        job_status(JobIdParams(job_id="../../etc"))


def _child_of(handle):
    path = jobs.find_run_dir(handle["job_id"]) / "child.pid"
    return int(_wait_for(lambda: path.exists() and path.read_text()))


def _gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    import psutil

    return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_helpers_of_a_killed_worker_are_ended_when_it_is_found_dead(workspace):
    handle = jobs.start_job("helpers", "tests.helpers.job_entries:spawn_helper_and_wait", {})
    child = _child_of(handle)
    running = _wait_for(lambda: (s := jobs.read_status(handle["job_id"]))["state"] == "running" and s.get("pid") and s)
    os.kill(running["pid"], signal.SIGKILL)  # the worker alone, as an out-of-memory kill would
    final = _wait_for(lambda: (s := jobs.read_status(handle["job_id"]))["state"] != "running" and s)
    assert final["state"] == "failed"
    _wait_for(lambda: _gone(child), timeout=5)


def test_cancel_ends_the_helpers_too(workspace):
    handle = jobs.start_job("helpers", "tests.helpers.job_entries:spawn_helper_and_wait", {})
    child = _child_of(handle)
    assert jobs.cancel(handle["job_id"])["state"] == "cancelled"
    _wait_for(lambda: _gone(child), timeout=5)
