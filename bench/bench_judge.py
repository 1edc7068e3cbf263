"""Benchmark the pairwise judge: throughput against a local server with 100 ms latency, rerun cost, bootstrap speed.

Prints figures; asserts nothing. The scripted judge runs in a separate process so that its HTTP handling does
not compete with the client for this interpreter's GIL.

    .venv/bin/python bench/bench_judge.py [--pairs 2000] [--concurrency 32] [--latency 0.1]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

DIMS = ["accuracy", "relevance", "clarity", "conciseness"]


def _answer(body):
    import re

    text = body["messages"][0]["content"]
    qa = int(re.search(r"\[RESPONSE A\]\n.*?quality=(\d)", text, re.S).group(1))
    qb = int(re.search(r"\[RESPONSE B\]\n.*?quality=(\d)", text, re.S).group(1))
    verdict = "A_better" if qa > qb else "B_better" if qb > qa else "tie"
    return json.dumps({"a_scores": {d: qa for d in DIMS}, "b_scores": {d: qb for d in DIMS},
                       "reasoning": "scripted", "verdict": verdict})


def _serve(latency: float, q) -> None:
    from tests.helpers.fake_openai import FakeOpenAIServer, FaultPlan

    server = FakeOpenAIServer(_answer, FaultPlan(latency_s=latency)).start()
    q.put(server.url)
    while True:
        time.sleep(3600)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--processes", type=int, default=None, help="LLM worker processes (default: automatic)")
    ap.add_argument("--model", default="hosted_vllm/judge", help="litellm model string for the judge; 'openai/judge' "
                                                               "goes through the OpenAI SDK")
    args = ap.parse_args()

    ws = Path(tempfile.mkdtemp(prefix="bench-judge-"))
    os.environ["SPECIALIZE_WORKSPACE"] = str(ws)
    for name, q in (("x", lambda i: 4 if i % 5 < 3 else 2), ("y", lambda i: 3)):
        with open(ws / f"{name}.jsonl", "w") as fh:
            for i in range(args.pairs):
                fh.write(json.dumps({"id": f"q{i}", "prompt": f"question {i}",
                                     "response": f"{name} answer {i} quality={q(i)}"}) + "\n")
    queue = mp.Queue()
    proc = mp.Process(target=_serve, args=(args.latency, queue), daemon=True)
    proc.start()
    url = queue.get(timeout=30)
    from specialize.tools.judge import RunPairwiseJudgeParams, run_pairwise_judge

    from specialize.llm.client import import_litellm

    import_litellm()
    params = RunPairwiseJudgeParams(responses=["x.jsonl", "y.jsonl"], judge_model=args.model, api_base=url,
                                    concurrency=args.concurrency, background=False,
                                    processes=args.processes)
    calls = 2 * args.pairs
    bound = args.concurrency / args.latency
    import resource

    from specialize.llm.shards import plan_processes

    def cpu_now() -> float:
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    n_proc = plan_processes(args.processes, 2 * args.pairs, args.concurrency)
    load = os.getloadavg()[0]
    cpu0, t0 = cpu_now(), time.perf_counter()
    res = run_pairwise_judge(params)
    wall, cpu = time.perf_counter() - t0, cpu_now() - cpu0
    rate = res.calls["http_calls"] / wall
    print(f"judge run: {args.pairs} pairs, {res.calls['http_calls']} HTTP calls in {wall:.2f} s "
          f"= {rate:.1f} calls/s; bound {bound:.0f} calls/s (concurrency {args.concurrency} / "
          f"{args.latency * 1000:.0f} ms) -> {100 * rate / bound:.1f}% of bound")
    print(f"client: {args.model}, {n_proc} process(es); CPU {cpu:.2f} s total (parent + workers), {1000 * cpu / max(1, calls):.2f} ms "
          f"CPU per judge call -> CPU-bound ceiling ~ {os.cpu_count() * calls / max(cpu, 1e-9):.0f} calls/s on "
          f"{os.cpu_count()} cores (before the server's own CPU); load average at start {load:.1f}")
    s = res.pairs[0]
    print(f"result: win rate (ties half) {s['win_rate_ties_half']:.3f} [{s['ci_low']:.3f}, {s['ci_high']:.3f}], "
          f"consistency {s['position_consistency']:.3f}")
    t1 = time.perf_counter()
    again = run_pairwise_judge(params)
    print(f"rerun: {again.calls['http_calls']} HTTP calls, {again.calls['cache_hits']} cache hits, "
          f"{time.perf_counter() - t1:.2f} s")

    # attribution: the same server driven by bare litellm.acompletion calls, no judge code at all
    import asyncio

    litellm = import_litellm()

    async def bare(n: int) -> None:
        sem = asyncio.Semaphore(args.concurrency)

        async def one(i: int) -> None:
            async with sem:
                await litellm.acompletion(model=args.model, messages=[{"role": "user", "content": bare_prompt + str(i)}],
                                          api_base=url, api_key="sk-local", temperature=0)

        await asyncio.gather(*(one(i) for i in range(n)))

    n_bare = 1000
    bare_prompt = "[RESPONSE A]\na quality=3\n[END RESPONSE A]\n[RESPONSE B]\nb quality=2\n[END RESPONSE B]\n"
    cpu3, t3 = time.process_time(), time.perf_counter()
    asyncio.run(bare(n_bare))
    wall3, cpu_b = time.perf_counter() - t3, time.process_time() - cpu3
    print(f"bare litellm.acompletion, same server and concurrency: {n_bare / wall3:.1f} calls/s, "
          f"{1000 * cpu_b / n_bare:.2f} ms CPU per call (share of the judge's per-call CPU: "
          f"{100 * (cpu_b / n_bare) / (cpu / max(1, calls)):.0f}%)")

    import numpy as np

    from specialize.evaluation import stats

    scores = np.random.default_rng(0).choice([0.0, 0.5, 1.0], size=2000)
    stats.bootstrap_ci(scores, n_resamples=100, seed=0)  # warm up
    t2 = time.perf_counter()
    ci = stats.bootstrap_ci(scores, n_resamples=10_000, seed=1)
    print(f"bootstrap: 10,000 resamples over 2,000 items in {time.perf_counter() - t2:.3f} s "
          f"(CI {ci['low']:.3f}-{ci['high']:.3f})")
    proc.terminate()


if __name__ == "__main__":
    main()
