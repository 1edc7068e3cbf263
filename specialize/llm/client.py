"""One way to call an LLM: litellm with bounded concurrency, retries, an on-disk cache and cost accounting.

Every teacher, judge and baseline call goes through ``LLMClient``. Any litellm model string works (a hosted
provider, or ``openai/NAME`` with ``api_base`` pointing at an OpenAI-compatible server such as llama.cpp's).
API keys come from the environment only: they are never arguments, never cached, never logged.

* Cache: SQLite under the workspace (``cache/llm.sqlite``), keyed by sha256 of model + messages + sampling
  parameters, so re-running a plan costs no calls.
* Retries: tenacity, exponential backoff with jitter on 429, 5xx, timeouts and connection errors; a
  ``Retry-After`` header from the server is honoured. Other errors (400, 401, 404) fail at once.
* Results are returned in request order; a request that still fails after its retries comes back as an
  ``UpstreamError`` in its slot, so no row is lost.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Callable

from specialize.llm import shards
from specialize.llm.types import ChatRequest, ChatResponse, UsageStats
from specialize.runtime.errors import UpstreamError
from specialize.runtime.workspace import workspace_root

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

_REGISTERED_UNPRICED: set[str] = set()  # models this process registered with litellm without a price

RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524}


class ResponseCache:
    """A small SQLite key-value store; safe across threads and processes."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._local = threading.local()
        with self._conn() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL stays consistent; no fsync per cached answer
            self._local.conn = conn
        return conn

    def get(self, key: str) -> dict[str, Any] | None:
        row = self._conn().execute("SELECT value FROM responses WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        self._conn().execute("INSERT OR REPLACE INTO responses (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def forget(self, key: str) -> None:
        self._conn().execute("DELETE FROM responses WHERE key = ?", (key,))


def _status_of(exc: BaseException) -> int | None:
    code = getattr(exc, "status_code", None)
    if isinstance(code, int):
        return code
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _retry_after(exc: BaseException) -> float | None:
    for source in (getattr(exc, "litellm_response_headers", None), getattr(exc, "headers", None),
                   getattr(getattr(exc, "response", None), "headers", None)):
        if not source:
            continue
        value = source.get("retry-after") or source.get("Retry-After")
        if value:
            try:
                return max(0.0, float(value))
            except ValueError:
                return None
    return None


def import_litellm() -> Any:
    """Import litellm quietly: no price download, and no banners on stdout (stdout is the MCP channel)."""
    import litellm

    litellm.suppress_debug_info = True
    litellm.set_verbose = False
    return litellm


def is_retryable(exc: BaseException) -> bool:
    litellm = import_litellm()

    if isinstance(exc, (litellm.Timeout, litellm.APIConnectionError, litellm.RateLimitError,
                        litellm.InternalServerError, litellm.ServiceUnavailableError, litellm.BadGatewayError,
                        asyncio.TimeoutError)):
        return True
    status = _status_of(exc)
    return status in RETRYABLE_STATUS


class LLMClient:
    """Concurrent, retrying, caching chat completions through litellm."""

    def __init__(
        self,
        *,
        api_base: str | None = None,
        concurrency: int = 8,
        max_retries: int = 6,
        timeout_s: float = 60.0,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        cache: bool = True,
        cache_path: Path | None = None,
        processes: int | None = None,
    ) -> None:
        self.api_base = api_base
        self.processes = processes  # None: decided per batch (see specialize.llm.shards.plan_processes)
        self.concurrency = max(1, concurrency)
        self.max_retries = max_retries
        self.timeout_s = timeout_s
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.cache_path = (cache_path or workspace_root() / "cache" / "llm.sqlite") if cache else None
        self.cache = ResponseCache(self.cache_path) if self.cache_path is not None else None
        self.stats = UsageStats()
        self._lock = threading.Lock()
        self._unpriced: set[str] = set()
        self._seen_models: set[str] = set()

    def settings(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this client (in a worker process)."""
        return {"api_base": self.api_base, "concurrency": self.concurrency, "max_retries": self.max_retries,
                "timeout_s": self.timeout_s, "backoff_base_s": self.backoff_base_s,
                "backoff_max_s": self.backoff_max_s, "cache": self.cache is not None, "cache_path": self.cache_path,
                "processes": self.processes}

    # -- one request ------------------------------------------------------------------------------------
    def _cached(self, req: ChatRequest, key: str) -> ChatResponse | None:
        """The cached answer, counted as a request and a hit; None (and nothing counted) on a miss."""
        hit = self.cache.get(key) if self.cache is not None else None
        if hit is None:
            return None
        resp = ChatResponse(**{**hit, "cached": True, "latency_s": 0.0})
        with self._lock:
            self.stats.requests += 1
            self.stats.cache_hits += 1
            self.stats.add(resp)
        return resp

    async def achat(self, req: ChatRequest) -> ChatResponse:
        key = req.cache_key(self.api_base)
        hit = self._cached(req, key)
        if hit is not None:
            return hit
        with self._lock:
            self.stats.requests += 1
        resp = await self._call_with_retries(req)
        if self.cache is not None:
            self.cache.put(key, resp.model_dump(exclude={"cached"}))
        with self._lock:
            self.stats.add(resp)
        return resp

    async def _call_with_retries(self, req: ChatRequest) -> ChatResponse:
        from tenacity import AsyncRetrying, RetryError, retry_if_exception, stop_after_attempt

        def wait(state: Any) -> float:
            exc = state.outcome.exception() if state.outcome else None
            hinted = _retry_after(exc) if exc else None
            if hinted is not None:
                return min(hinted, self.backoff_max_s)
            expo = self.backoff_base_s * (2 ** (state.attempt_number - 1))
            return min(self.backoff_max_s, expo) * (0.5 + random.random() / 2)

        def before_sleep(state: Any) -> None:
            with self._lock:
                self.stats.retries += 1

        attempts = 0
        try:
            async for attempt in AsyncRetrying(stop=stop_after_attempt(self.max_retries + 1), wait=wait,
                                               retry=retry_if_exception(is_retryable), before_sleep=before_sleep,
                                               reraise=False):
                with attempt:
                    attempts += 1
                    resp = await self._call_once(req)
                    resp.attempts = attempts
                    return resp
        except RetryError as exc:
            last = exc.last_attempt.exception()
            raise UpstreamError(
                f"{req.model}: still failing after {attempts} attempts ({type(last).__name__}: {_short(last)}).",
                fix="Check the provider's status or lower the concurrency; re-running reuses the cache.",
            ) from last
        except Exception as exc:  # not retryable: auth, bad request, unknown model
            raise UpstreamError(f"{req.model}: {type(exc).__name__}: {_short(exc)}",
                                fix=_fix_for(exc)) from exc
        raise AssertionError("unreachable")

    def _note_model(self, litellm: Any, model: str) -> None:
        """Once per model: a model litellm has no price for (a local server's) is registered without one, so
        litellm stops searching its whole price map on every call (about a tenth of its CPU per call); its cost
        is reported as unknown."""
        if model in self._seen_models:
            return
        self._seen_models.add(model)
        if model in _REGISTERED_UNPRICED:
            self._unpriced.add(model)
            return
        try:
            litellm.get_model_info(model)
        except Exception:  # litellm raises a plain Exception for a model it does not know
            if model not in litellm.model_cost:
                provider = model.split("/", 1)[0] if "/" in model else "openai"
                litellm.register_model({model: {"litellm_provider": provider, "mode": "chat"}})
                _REGISTERED_UNPRICED.add(model)
            self._unpriced.add(model)

    async def _call_once(self, req: ChatRequest) -> ChatResponse:
        litellm = import_litellm()
        self._note_model(litellm, req.model)

        with self._lock:
            self.stats.http_calls += 1
        kwargs: dict[str, Any] = {"temperature": req.temperature, "timeout": self.timeout_s, "num_retries": 0}
        if req.max_tokens is not None:
            kwargs["max_tokens"] = req.max_tokens
        if req.seed is not None:
            kwargs["seed"] = req.seed
        if req.response_format is not None:
            kwargs["response_format"] = req.response_format
        if req.stop:
            kwargs["stop"] = req.stop
        if self.api_base:
            kwargs["api_base"] = self.api_base
            kwargs.setdefault("api_key", os.environ.get("SPECIALIZE_LOCAL_API_KEY", "sk-local-no-key"))
        started = time.perf_counter()
        raw = await asyncio.wait_for(litellm.acompletion(model=req.model, messages=req.messages, **kwargs),
                                     timeout=self.timeout_s + 5)
        latency = time.perf_counter() - started
        choice = raw.choices[0]
        text = (getattr(choice.message, "content", None) or "") if hasattr(choice, "message") else ""
        usage = getattr(raw, "usage", None)
        cost: float | None = None
        hidden = getattr(raw, "_hidden_params", None) or {}
        if req.model in self._unpriced:
            cost = None
        elif isinstance(hidden.get("response_cost"), (int, float)):
            cost = float(hidden["response_cost"])  # litellm already priced it while logging the call
        else:
            try:
                cost = float(litellm.completion_cost(completion_response=raw))
            except Exception:  # unknown price (local model, new model): do not ask again for this model
                self._unpriced.add(req.model)
        return ChatResponse(text=text, model=req.model, latency_s=latency,
                            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0), cost_usd=cost)

    # -- many requests -----------------------------------------------------------------------------------
    async def achat_many(
        self, reqs: list[ChatRequest],
        on_done: Callable[[int, ChatResponse | UpstreamError], None] | None = None,
    ) -> list[ChatResponse | UpstreamError]:
        sem = asyncio.Semaphore(self.concurrency)
        out: list[ChatResponse | UpstreamError | None] = [None] * len(reqs)

        async def one(i: int, req: ChatRequest) -> None:
            async with sem:
                try:
                    res: ChatResponse | UpstreamError = await self.achat(req)
                except UpstreamError as exc:
                    with self._lock:
                        self.stats.failures += 1
                    res = exc
            out[i] = res
            if on_done is not None:
                on_done(i, res)

        await asyncio.gather(*(one(i, r) for i, r in enumerate(reqs)))
        return out  # type: ignore[return-value]

    def chat_many(
        self, reqs: list[ChatRequest],
        on_done: Callable[[int, ChatResponse | UpstreamError], None] | None = None,
    ) -> list[ChatResponse | UpstreamError]:
        """Blocking: runs the requests with bounded concurrency and returns the results in request order.

        A big batch is spread over forked worker processes (``specialize.llm.shards``); cached answers are
        served here first, so a rerun starts no worker at all."""

        if shards.plan_processes(self.processes, len(reqs), self.concurrency) <= 1:
            return _run_sync(self.achat_many(reqs, on_done))
        out: list[ChatResponse | UpstreamError | None] = [None] * len(reqs)

        def deliver(i: int, res: ChatResponse | UpstreamError) -> None:
            out[i] = res
            if on_done is not None:
                on_done(i, res)

        pending = []
        for i, req in enumerate(reqs):
            hit = self._cached(req, req.cache_key(self.api_base))
            if hit is None:
                pending.append(i)
            else:
                deliver(i, hit)
        n = shards.plan_processes(self.processes, len(pending), self.concurrency)
        if n <= 1:
            rest = _run_sync(self.achat_many([reqs[i] for i in pending],
                                             lambda j, res: on_done(pending[j], res) if on_done else None))
            for i, res in zip(pending, rest):
                out[i] = res
        else:
            shards.chat_sharded(self, [reqs[i] for i in pending], pending, n, deliver)
        return out  # type: ignore[return-value]

    def chat(self, req: ChatRequest) -> ChatResponse:
        return _run_sync(self.achat(req))

    def forget(self, req: ChatRequest) -> None:
        """Drop a request's cached answer (one the caller found unusable), so asking again reaches the model."""
        if self.cache is not None:
            self.cache.forget(req.cache_key(self.api_base))


def _run_sync(coro: Any) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # called from inside a running loop (e.g. a notebook): run in a helper thread
    box: dict[str, Any] = {}

    def runner() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001
            box["error"] = exc

    thread = threading.Thread(target=runner)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def _short(exc: BaseException | None, limit: int = 300) -> str:
    text = str(exc) if exc is not None else ""
    for name, value in os.environ.items():  # never echo a secret that a provider reflected back
        if value and len(value) >= 12 and ("KEY" in name or "TOKEN" in name or "SECRET" in name):
            text = text.replace(value, "***")
    return text[:limit]


def _fix_for(exc: BaseException) -> str:
    status = _status_of(exc)
    if status in (401, 403):
        return "Set the provider's API key in the environment (e.g. OPENAI_API_KEY); keys are never arguments."
    if status == 404:
        return "Check the model string (litellm format, e.g. 'openai/gpt-4o-mini') and the api_base."
    return "Check the model string, api_base and the request; see the job log for details."
