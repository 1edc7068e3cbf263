"""Benchmark generate_batch against the local OpenAI-compatible server: throughput against the concurrency
bound, then the same plan again (which must make zero HTTP calls).

    python bench/bench_generate.py                       # 200 ms latency, concurrency 32, 960 requests
    python bench/bench_generate.py --requests 320 --latency 0.2 --concurrency 32

The bound is concurrency / latency (32 / 0.2 s = 160 requests/s); the target is >= 90 % of it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def teacher(body: dict) -> str:
    prompt = body["messages"][-1]["content"]
    tag = abs(hash(prompt)) % 10**12
    return json.dumps({"input": f"ticket {tag}", "output": {"category": "billing"}})


def _serve(queue, counter, latency: float) -> None:
    """The fake server in its own process, so it does not share a GIL with the client being measured."""
    from tests.helpers.fake_openai import FakeOpenAIServer, FaultPlan

    def responder(body: dict) -> str:
        with counter.get_lock():
            counter.value += 1
        return teacher(body)

    server = FakeOpenAIServer(responder, FaultPlan(latency_s=latency)).start()
    queue.put(server.url)
    while True:
        time.sleep(3600)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=960)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--processes", type=int, default=None, help="LLM worker processes (default: automatic)")
    ap.add_argument("--model", default="hosted_vllm/bench", help="litellm model string; 'openai/bench' goes through "
                                                               "the OpenAI SDK instead of litellm's own HTTP client")
    args = ap.parse_args()
    ws = Path(tempfile.mkdtemp(prefix="bench-generate-"))
    os.environ["SPECIALIZE_WORKSPACE"] = str(ws)

    import multiprocessing as mp

    from specialize.tools.generate import GenerateBatchParams, _next_batch, run_plan

    ctx = mp.get_context("fork")
    queue, counter = ctx.Queue(), ctx.Value("i", 0)
    proc = ctx.Process(target=_serve, args=(queue, counter, args.latency), daemon=True)
    proc.start()
    url = queue.get(timeout=30)
    cats = [f"c{i}" for i in range(args.requests // 8)]
    try:
        params = GenerateBatchParams(model=args.model, api_base=url, task_description="Bench task.",
                                     categories=cats, difficulties=["easy", "hard"], rows_per_cell=4,
                                     rows_per_request=1, concurrency=args.concurrency, max_retries=3,
                                     processes=args.processes)
        # warm up litellm's import and client outside the timing
        warm = GenerateBatchParams(**{**params.model_dump(), "categories": ["warm"], "difficulties": ["x"],
                                      "rows_per_cell": 2})
        run_plan(warm, ws / "warm.jsonl")
        out = ws / "data" / "generated"
        out.mkdir(parents=True, exist_ok=True)
        from specialize.llm.shards import plan_processes

        print(f"model {args.model}; client processes: {plan_processes(args.processes, args.requests, args.concurrency)}")
        calls0 = counter.value
        t0 = time.perf_counter()
        res = run_plan(params, _next_batch(out))
        dt = time.perf_counter() - t0
        calls = counter.value - calls0
        bound = args.concurrency / args.latency
        rate = res.requests / dt
        print(f"generate_batch: {res.requests} requests, {res.rows} rows in {dt:.2f}s = {rate:.1f} requests/s; "
              f"bound {bound:.0f}/s (concurrency {args.concurrency} / latency {args.latency}s) -> "
              f"{rate / bound:.1%} of bound (target >= 90%); HTTP calls {calls}; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        before = counter.value
        t1 = time.perf_counter()
        again = run_plan(params, _next_batch(out))
        dt2 = time.perf_counter() - t1
        print(f"same plan again: {again.rows} rows in {dt2:.2f}s, HTTP calls {counter.value - before} "
              f"(client saw {again.usage.http_calls} calls, {again.usage.cache_hits} cache hits)")
    finally:
        proc.terminate()


if __name__ == "__main__":
    main()
