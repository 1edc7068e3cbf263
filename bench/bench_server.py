"""Benchmark: MCP server start to `tools/list` answered (stdio, a real subprocess), and the round trip of
`estimate_break_even` through the SDK's in-memory client. Prints the figures; targets: ≤ 1.5 s and ≤ 50 ms.

    .venv/bin/python bench/bench_server.py
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time

from mcp import Client, StdioServerParameters

ARGS = {"monthly_requests": 200_000, "avg_input_tokens": 600, "avg_output_tokens": 200,
        "frontier_model": "claude-sonnet-4.5", "serving_gpu": "A100-80GB", "specialist_params_b": 1, "engineering_hours": 40, "engineering_rate_usd": 100}


async def start_to_list(env: dict[str, str]) -> float:
    params = StdioServerParameters(command=sys.executable, args=["-m", "specialize", "mcp"], env=env)
    started = time.perf_counter()
    async with Client(params) as client:
        await client.list_tools()
        return time.perf_counter() - started


async def in_memory_round_trips(n: int) -> list[float]:
    from specialize.server.app import build_server

    out = []
    async with Client(build_server()) as client:
        first = await client.call_tool("estimate_break_even", ARGS)
        assert not first.is_error, first.content
        for _ in range(n):
            t = time.perf_counter()
            result = await client.call_tool("estimate_break_even", ARGS)
            out.append(time.perf_counter() - t)
            assert not result.is_error
    return out


def sdk_import(env: dict[str, str]) -> float:
    """The floor: a bare interpreter importing the SDK's server package, nothing of ours."""
    import subprocess

    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import os, mcp.server.mcpserver; os._exit(0)"], env=env,
                   check=True)  # _exit: interpreter teardown is not part of a start
    return time.perf_counter() - started


def main() -> None:
    ws = tempfile.mkdtemp(prefix="bench-ws-")
    env = dict(os.environ, SPECIALIZE_WORKSPACE=ws)
    asyncio.run(start_to_list(env))  # warm the OS file cache (and the tool manifest) once
    starts, floors = [], []
    for _ in range(7):  # interleaved, so both see the same machine
        starts.append(asyncio.run(start_to_list(env)))
        floors.append(sdk_import(env))
    os.environ["SPECIALIZE_WORKSPACE"] = ws
    trips = asyncio.run(in_memory_round_trips(200))
    print(f"server start -> tools/list answered (stdio subprocess, 7 runs): median {statistics.median(starts):.3f} s, "
          f"min {min(starts):.3f} s, max {max(starts):.3f} s   target <= 1.5 s")
    print(f"  floor, 'python -c \"import mcp.server.mcpserver\"' (7 runs, interleaved): median "
          f"{statistics.median(floors):.3f} s, min {min(floors):.3f} s -> ours on top of the SDK import: "
          f"{statistics.median(starts) - statistics.median(floors):+.3f} s (median), "
          f"{min(starts) - min(floors):+.3f} s (min); load average {os.getloadavg()[0]:.1f}")
    q = statistics.quantiles(trips, n=100)
    print(f"estimate_break_even in-memory round trip (200 calls): median {statistics.median(trips) * 1000:.2f} ms, "
          f"p95 {q[94] * 1000:.2f} ms   target <= 50 ms")


if __name__ == "__main__":
    main()
