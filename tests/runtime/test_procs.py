"""Helpers die with the process that started them (issue 14, item 12): a job worker killed on its own (SIGKILL,
not a cancel) takes its LLM shards with it, and they stop sending provider requests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest


def _gone(pids, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return []
        time.sleep(0.1)
    return alive


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_a_child_that_asked_dies_with_its_parent_and_one_that_did_not_survives():
    code = ("import os, sys, time\n"
            "from specialize.runtime.procs import die_with_parent\n"
            "for tie in (True, False):\n"
            "    parent = os.getpid()\n"
            "    pid = os.fork()\n"
            "    if pid == 0:\n"
            "        if tie: die_with_parent(parent)\n"
            "        time.sleep(60); os._exit(0)\n"
            "    print(pid, flush=True)\n"
            "time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    tied, free = int(proc.stdout.readline()), int(proc.stdout.readline())
    try:
        proc.kill()
        proc.wait()
        assert _gone([tied], 10) == []
        time.sleep(0.5)
        assert psutil.pid_exists(free)  # the control: without the request the orphan lives on
    finally:
        if psutil.pid_exists(free):
            os.kill(free, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_killing_a_generate_worker_ends_its_shards_and_their_requests(workspace):
    from specialize.tools.generate import GenerateBatchParams, generate_batch

    from specialize.runtime import jobs
    from tests.helpers.fake_openai import FakeOpenAIServer, FaultPlan
    from tests.tools.test_generate import SCHEMA, teacher

    (workspace / "schema.json").write_text(json.dumps(SCHEMA))
    with FakeOpenAIServer(teacher, FaultPlan(latency_s=0.5)) as server:
        handle = generate_batch(GenerateBatchParams(
            model="openai/teacher", api_base=server.url, task_description="Sort support tickets.",
            schema_path="schema.json", categories=["billing", "shipping"], difficulties=["easy"],
            rows_per_cell=80, rows_per_request=1, processes=2, concurrency=4, max_retries=0))
        run_dir = workspace / handle.run_dir  # an absolute run_dir stays itself under '/'
        try:
            _watch_and_kill(run_dir, server)
        finally:
            jobs.cancel(handle.job_id)  # whatever the outcome, nothing of this job keeps running
    status = jobs.read_status(handle.job_id)
    assert status["state"] != "running"


def _watch_and_kill(run_dir, server):
    worker, shards = None, []
    deadline = time.monotonic() + 120  # a loaded machine takes a while to import litellm and fork
    while time.monotonic() < deadline and len(shards) < 2:
        state = json.loads((run_dir / "state.json").read_text()) if (run_dir / "state.json").exists() else {}
        if state.get("state") in ("failed", "succeeded"):
            pytest.fail(f"the job ended before its shards were seen: {state}")
        worker = state.get("pid")
        if worker and psutil.pid_exists(worker):
            shards = [c.pid for c in psutil.Process(worker).children() if "python" in c.name().lower()]
        time.sleep(0.2)
    assert len(shards) == 2, "the worker never forked its two LLM shards"
    while server.counters.requests < 4 and time.monotonic() < deadline:  # the shards are calling
        time.sleep(0.1)
    os.kill(worker, signal.SIGKILL)  # the worker alone, not its process group
    assert _gone(shards, 10) == [], "the shards outlived their worker"
    time.sleep(1.0)  # answers already on the wire may still land
    settled = server.counters.requests
    time.sleep(2.0)
    assert server.counters.requests == settled, "requests went on after the worker was killed"
    assert settled < 160


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_a_llama_server_ends_with_the_process_that_started_it(workspace):
    """The demo (or any caller) starts llama.cpp's server and is then killed outright: the server must not be
    left running on its port."""
    pytest.importorskip("llama_cpp")
    from specialize.runtime.embedded import embedded_gguf_path

    code = ("import sys\n"
            "from pathlib import Path\n"
            "from specialize.export.serving import start_server\n"
            "proc, base = start_server(Path(sys.argv[1]), n_ctx=256, n_threads=1)\n"
            "print(proc.pid, base, flush=True)\n"
            "import time; time.sleep(120)\n")
    starter = subprocess.Popen([sys.executable, "-c", code, str(embedded_gguf_path())], stdout=subprocess.PIPE,
                               text=True)
    line = starter.stdout.readline().split()
    assert line, "the server did not start"
    server = int(line[0])
    try:
        assert psutil.pid_exists(server)
        assert psutil.Process(server).ppid() == starter.pid  # the server itself, not a shell in between
        starter.kill()
        starter.wait()
        assert _gone([server], 15) == []
    finally:
        if psutil.pid_exists(server):
            os.kill(server, signal.SIGKILL)
