"""LLMClient against a real local HTTP server through litellm: retries, Retry-After, cache, failures kept."""

from __future__ import annotations

from specialize.llm.client import ChatRequest, LLMClient
from specialize.runtime.errors import UpstreamError
from tests.helpers.fake_openai import FakeOpenAIServer, FaultPlan


def _reqs(n: int) -> list[ChatRequest]:
    return [ChatRequest(model="openai/fake", messages=[{"role": "user", "content": f"item {i}"}]) for i in range(n)]


def test_faults_are_retried_and_cache_makes_rerun_free(workspace):
    faults = FaultPlan(p_500=0.3, p_429=0.1, p_timeout=0.05, stall_s=2.0, seed=7)
    with FakeOpenAIServer(faults=faults) as server:
        client = LLMClient(api_base=server.url, concurrency=8, max_retries=10, timeout_s=1.0,
                           backoff_base_s=0.01, backoff_max_s=0.1)
        out = client.chat_many(_reqs(40))
        assert len(out) == 40
        assert all(not isinstance(r, UpstreamError) for r in out)
        assert [r.text for r in out] == [f"echo: item {i}" for i in range(40)]
        assert server.counters.http_500 + server.counters.http_429 + server.counters.timeouts > 0
        assert client.stats.retries >= server.counters.http_500 + server.counters.http_429
        calls_before = server.counters.requests

        again = LLMClient(api_base=server.url, concurrency=8).chat_many(_reqs(40))
        assert server.counters.requests == calls_before  # every answer came from the cache
        assert all(r.cached for r in again)


def test_permanent_failure_is_reported_in_its_slot(workspace):
    with FakeOpenAIServer(faults=FaultPlan(p_500=1.0)) as server:
        client = LLMClient(api_base=server.url, max_retries=2, backoff_base_s=0.01, cache=False)
        out = client.chat_many(_reqs(3))
        assert all(isinstance(r, UpstreamError) for r in out)
        assert "after 3 attempts" in str(out[0])
        assert client.stats.failures == 3
        assert server.counters.requests == 9


def test_retry_after_is_honoured(workspace):
    import time

    with FakeOpenAIServer(faults=FaultPlan(p_429=1.0, retry_after_s=0.4)) as server:
        client = LLMClient(api_base=server.url, max_retries=1, backoff_base_s=0.0, cache=False)
        started = time.perf_counter()
        out = client.chat_many(_reqs(1))
        assert isinstance(out[0], UpstreamError)
        assert time.perf_counter() - started >= 0.35


def test_cost_is_known_for_a_priced_model_and_unknown_for_a_local_one(workspace):
    with FakeOpenAIServer() as server:
        local = LLMClient(api_base=server.url, cache=False)
        out = local.chat_many(_reqs(3))
        assert all(r.cost_usd is None for r in out)
        assert local.stats.cost_known is False and local.stats.cost_usd == 0
        # a model in litellm's price table is priced from it, even when served from this local server
        priced = LLMClient(api_base=server.url, cache=False)
        res = priced.chat(ChatRequest(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]))
        assert res.cost_usd is not None and res.cost_usd > 0
        assert priced.stats.cost_known is True
