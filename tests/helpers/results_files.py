"""Hand-built run_eval results files: per-item outcomes the test chooses, so every expected number is hand arithmetic."""

from __future__ import annotations

import json
from pathlib import Path


def write_results(ws: Path, name: str, outcomes: dict[str, bool], *, eval_set: str, sha: str, value: float,
                  ci: list[float] | None = None, model: str = "openai/tuned", adapter: str | None = None,
                  cost_per_1k: float | None = None, p95: float | None = None, schema: float = 1.0) -> str:
    """Write ``<name>.json`` in the workspace; ``value`` is the primary metric as the test computed it by hand."""
    examples = [{"id": i, "correct": ok, "critical_ok": ok, "parsed": True, "schema_valid": True}
                for i, ok in outcomes.items()]
    doc = {"kind": "eval_results", "model": {"ref": model, "kind": "litellm", **({"adapter": adapter} if adapter else {})},
           "eval_set": {"path": eval_set, "sha256": sha, "rows": len(outcomes)},
           "primary_metric": "correct_rate", "n": len(outcomes),
           "metrics": {"correct_rate": value, "correct_rate_ci": ci, "schema_pass_rate": schema, "parse_rate": 1.0},
           "latency_s": {"p95": p95}, "cost_per_request_usd": None if cost_per_1k is None else cost_per_1k / 1000,
           "cost_per_1k_requests_usd": cost_per_1k, "examples": examples,
           "provenance": {"params": {"model": model, "adapter": adapter}}}
    (ws / f"{name}.json").write_text(json.dumps(doc))
    return f"{name}.json"


GOLDEN_SHA, REG_SHA = "9" * 64, "7" * 64


def three_versions(ws: Path) -> dict[str, str]:
    """v1, v2 and v3 of a task on a 40-item golden set and a 4-item regression set.

    golden: v1 gets g00-g19 right (20/40); v2 breaks g03 and fixes g20-g33 (33/40); v3 breaks g10 and fixes
    g34-g37 (36/40). regression: v1 passes all four; v2 fails r1; v3 passes r1 again and fails r3.
    """
    ids = [f"g{k:02d}" for k in range(40)]
    v1 = {i: k < 20 for k, i in enumerate(ids)}
    v2 = {i: (k < 34 and i != "g03") for k, i in enumerate(ids)}
    v3 = {i: k < 38 and i not in ("g03", "g10") for k, i in enumerate(ids)}  # g03 stays broken
    reg = {"v1": [True, True, True, True], "v2": [True, False, True, True], "v3": [True, True, True, False]}
    out = {}
    spec = {"v1": (v1, 20 / 40, [0.35, 0.65], 0.40, 0.30), "v2": (v2, 33 / 40, [0.7, 0.925], 0.10, 0.12),
            "v3": (v3, 36 / 40, [0.8, 0.975], 0.20, 0.15)}
    for name, (golden, value, ci, cost, p95) in spec.items():
        out[f"{name}-golden"] = write_results(ws, f"{name}-golden", golden, eval_set="golden.jsonl", sha=GOLDEN_SHA,
                                              value=value, ci=ci, model=f"openai/tuned-{name}", cost_per_1k=cost,
                                              p95=p95)
        outcomes = dict(zip(["r0", "r1", "r2", "r3"], reg[name]))
        out[f"{name}-reg"] = write_results(ws, f"{name}-reg", outcomes, eval_set="regression.jsonl", sha=REG_SHA,
                                           value=sum(outcomes.values()) / 4, model=f"openai/tuned-{name}")
    return out
