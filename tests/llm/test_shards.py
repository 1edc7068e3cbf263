"""A batch spread over forked worker processes: same answers in the same order, faults retried, usage merged,
a rerun served from the cache without workers, a dead worker's requests reported rather than lost."""

from __future__ import annotations

import os
import threading

import pytest

from specialize.llm.client import ChatRequest, LLMClient
from specialize.llm import shards as llm_shards
from specialize.runtime.errors import UpstreamError
from tests.helpers.fake_openai import FaultPlan, ServerProcess


@pytest.fixture(autouse=True)
def single_threaded():
    """Workers are forked only from a single-threaded process: let earlier tests' server threads finish."""
    for t in threading.enumerate():
        if t.name == "tqdm_monitor" and hasattr(t, "exit"):
            t.exit()  # the progress-bar monitor that loading a model with transformers leaves running
        elif t is not threading.main_thread():
            t.join(timeout=10)
    assert threading.active_count() == 1, [t.name for t in threading.enumerate()]


def _reqs(n: int, tag: str = "item") -> list[ChatRequest]:
    return [ChatRequest(model="openai/fake", messages=[{"role": "user", "content": f"{tag} {i}"}]) for i in range(n)]


def test_plan_processes_rules(monkeypatch):
    monkeypatch.delenv("SPECIALIZE_LLM_PROCESSES", raising=False)
    real_count = threading.active_count
    # Earlier tests in the same process may leave a library's helper thread running; the rules below are for a
    # single-threaded parent, and the threaded case is exercised for real at the end.
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    assert llm_shards.plan_processes(4, 1000, 32) == 4
    assert llm_shards.plan_processes(4, 100, 32) == 1          # too few requests to pay for a fork
    assert llm_shards.plan_processes(4, 1000, 2) == 2          # never more workers than requests in flight
    assert llm_shards.plan_processes(1, 1000, 32) == 1
    monkeypatch.setenv("SPECIALIZE_LLM_PROCESSES", "3")
    assert llm_shards.plan_processes(None, 1000, 32) == 3
    monkeypatch.setattr(threading, "active_count", real_count)
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert llm_shards.plan_processes(4, 1000, 32) == 1     # a threaded parent never forks
    finally:
        stop.set()
        t.join()


def test_sharded_batch_matches_and_survives_faults(workspace, monkeypatch):
    used: list[int] = []
    real = llm_shards.chat_sharded
    monkeypatch.setattr(llm_shards, "chat_sharded", lambda c, r, s, n, d: (used.append(n), real(c, r, s, n, d)))
    faults = FaultPlan(p_500=0.2, p_429=0.1, retry_after_s=0.01, seed=3)
    with ServerProcess(faults=faults) as server:
        client = LLMClient(api_base=server.url, concurrency=8, max_retries=10, backoff_base_s=0.01,
                           backoff_max_s=0.05, processes=2)
        seen: list[int] = []
        out = client.chat_many(_reqs(200), on_done=lambda i, res: seen.append(i))
        counts = server.counters()
        assert used == [2]
        assert [r.text for r in out] == [f"echo: item {i}" for i in range(200)]
        assert sorted(seen) == list(range(200))
        assert counts["http_500"] + counts["http_429"] > 0
        assert client.stats.requests == 200 and client.stats.failures == 0
        assert client.stats.http_calls == counts["requests"]  # the workers' usage reached the parent
        assert client.stats.retries == counts["http_500"] + counts["http_429"]

        again = LLMClient(api_base=server.url, concurrency=8, processes=2)
        rerun = again.chat_many(_reqs(200))
        assert server.counters()["requests"] == counts["requests"]  # all from the cache, no worker started
        assert all(r.cached for r in rerun) and again.stats.cache_hits == 200 and used == [2]


def test_a_dead_worker_leaves_errors_in_its_slots(workspace, monkeypatch):
    real = LLMClient._call_once

    async def dies_on_poison(self, req):
        if req.messages[0]["content"] == "item 7":
            os._exit(3)  # the worker holding this request dies mid-batch
        return await real(self, req)

    monkeypatch.setattr(LLMClient, "_call_once", dies_on_poison)  # the forked workers inherit the patch
    with ServerProcess() as server:
        client = LLMClient(api_base=server.url, concurrency=4, processes=2, cache=False)
        out = client.chat_many(_reqs(160))
    assert len(out) == 160 and all(r is not None for r in out)
    errors = [i for i, r in enumerate(out) if isinstance(r, UpstreamError)]
    assert 7 in errors and all(i % 2 == 1 for i in errors)  # only the dead worker's (odd) share
    assert "exited (code 3)" in str(out[7])
    assert all(r.text == f"echo: item {i}" for i, r in enumerate(out) if i not in errors)
    assert client.stats.failures == len(errors)
