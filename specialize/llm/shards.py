"""Spread one batch of chat requests over several worker processes.

litellm spends several milliseconds of CPU on every call (request building, response objects, logging and
pricing), so one Python process tops out at roughly a hundred calls per second whatever the concurrency. For
big generation and judging runs ``LLMClient.chat_many`` therefore forks workers: each takes an interleaved
share of the uncached requests and a share of the concurrency (the total in flight never exceeds the
caller's limit), runs them with its own event loop, retries and cache connection, and streams every result
back as soon as it has it, so progress callbacks and incremental writes in the parent keep working.

Nothing is lost: a worker that dies leaves its unanswered requests as ``UpstreamError`` results in their
slots, with the reason. Workers are forked only from a single-threaded parent (a fork copies one thread and
any lock another thread holds); otherwise the batch runs in-process as before.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
from multiprocessing.connection import wait
from typing import TYPE_CHECKING, Any, Callable

from specialize.llm.types import ChatRequest, ChatResponse, UsageStats
from specialize.runtime.errors import UpstreamError

if TYPE_CHECKING:
    from specialize.llm.client import LLMClient

MIN_REQUESTS_PER_PROCESS = 64
MAX_AUTO_PROCESSES = 4
# Imported lazily by litellm's first call (the OpenAI SDK's resources: about a second of CPU). Importing them
# before the fork means each worker inherits them instead of paying that second again.
FIRST_CALL_IMPORTS = ("openai.resources", "litellm._service_logger", "jiter")


def plan_processes(requested: int | None, pending: int, concurrency: int) -> int:
    """How many worker processes a batch of ``pending`` uncached requests should use (1 = in-process)."""
    if requested is None:
        env = os.environ.get("SPECIALIZE_LLM_PROCESSES")
        requested = int(env) if env and env.strip().isdigit() else min(os.cpu_count() or 1, MAX_AUTO_PROCESSES)
    n = min(max(1, requested), concurrency, pending // MIN_REQUESTS_PER_PROCESS)
    if n <= 1 or "fork" not in mp.get_all_start_methods() or threading.active_count() > 1:
        return 1
    return n


def _encode(res: ChatResponse | UpstreamError) -> tuple[str, Any]:
    if isinstance(res, UpstreamError):
        return "error", (res.problem, res.fix)
    return "ok", res.model_dump()


def _worker(client_cls: type, client_kwargs: dict[str, Any], reqs: list[ChatRequest], slots: list[int],
            conn: Any, parent_pid: int | None = None) -> None:
    import signal

    from specialize.runtime.procs import die_with_parent

    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a job's cancel (SIGTERM to its group) stops workers at once
    die_with_parent(parent_pid)  # a parent killed on its own takes its shards with it: no unread provider calls
    client = client_cls(**client_kwargs)  # its own cache connection: a SQLite handle must not cross a fork
    client.processes = 1

    def on_done(j: int, res: ChatResponse | UpstreamError) -> None:
        try:
            conn.send(("result", slots[j], _encode(res)))
        except OSError:  # the parent is gone: stop spending calls nobody will read
            os._exit(1)

    client.chat_many(reqs, on_done)
    conn.send(("stats", client.stats.model_dump(), None))
    conn.close()


def chat_sharded(
    client: LLMClient, reqs: list[ChatRequest], slots: list[int], processes: int,
    deliver: Callable[[int, ChatResponse | UpstreamError], None],
) -> None:
    """Run ``reqs`` (whose positions in the caller's list are ``slots``) over ``processes`` forked workers and
    call ``deliver(slot, result)`` in this process for each result as it arrives."""
    import gc
    import importlib

    for name in FIRST_CALL_IMPORTS:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    ctx = mp.get_context("fork")
    per_worker = [client.concurrency // processes + (1 if k < client.concurrency % processes else 0)
                  for k in range(processes)]
    readers: dict[Any, tuple[Any, set[int]]] = {}
    gc.freeze()  # objects that exist now stay out of the workers' collections: fewer copy-on-write pages
    for k in range(processes):
        share = list(range(k, len(reqs), processes))
        recv, send = ctx.Pipe(duplex=False)
        kwargs = {**client.settings(), "concurrency": per_worker[k]}
        proc = ctx.Process(target=_worker, args=(type(client), kwargs, [reqs[j] for j in share],
                                                       [slots[j] for j in share], send, os.getpid()),
                           daemon=True, name=f"llm-shard-{k}")
        proc.start()
        send.close()
        readers[recv] = (proc, {slots[j] for j in share})
    gc.unfreeze()

    merged = UsageStats()
    while readers:
        for conn in wait(list(readers)):
            proc, open_slots = readers[conn]
            try:
                kind, a, b = conn.recv()
            except (EOFError, OSError):
                proc.join()
                merged.failures += len(open_slots)
                for slot in sorted(open_slots):  # the worker died: report what it never answered
                    deliver(slot, UpstreamError(
                        f"The worker process running this request exited (code {proc.exitcode}) before answering.",
                        fix="Re-run: answers already received are cached. Lower 'processes' if workers are killed "
                            "for memory."))
                del readers[conn]
                continue
            if kind == "result":
                status, payload = b
                open_slots.discard(a)
                deliver(a, ChatResponse(**payload) if status == "ok" else UpstreamError(payload[0], fix=payload[1]))
            elif kind == "stats":
                merged.merge(UsageStats(**a))
    with client._lock:
        client.stats.merge(merged)
