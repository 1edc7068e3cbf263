"""The numbers behind decide_specialization: one monthly cost model, sampled over ranges, with flip points.

The model (every figure per month unless it says otherwise), for a volume factor ``v`` on today's traffic:

- frontier cost ``F = F0 * v``; tokens ``T = T0 * v``;
- the share still sent to the frontier ``h = max(h_planned, h_quality)``, where ``h_quality`` is the share a
  router that cannot tell hard cases from easy ones must send so that the blend reaches the quality bar ``b``:
  ``(1 - h) * q + h = b``, so ``h_quality = (b - q) / (1 - q)`` when ``q < b``, else 0;
- serving: serverless = GPU-seconds the specialist's tokens take (``T (1-h) / (tps * 3600)`` GPU-hours at the
  hourly rate), or an explicit price per million tokens; dedicated = whole GPUs kept on ``on_hours``, as many as
  the traffic needs at ``max_util`` of their throughput (at least one);
- specialist route = serving + ``F * h`` + upkeep; savings = ``F`` - specialist route;
- upfront = training + data work + evaluation + engineering hours x rate; payback = upfront / savings.

Pure numpy; the tool in ``tools/decide.py`` fills the inputs and words the answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

UNCERTAIN = ("volume", "quality_retained", "frontier_share", "engineering_hours", "tokens_per_second",
             "data_cost_usd", "monthly_upkeep_usd")


@dataclass(frozen=True)
class Span:
    """An uncertain input: low <= likely <= high (all equal when the value is known)."""

    low: float
    likely: float
    high: float

    @classmethod
    def point(cls, x: float) -> "Span":
        return cls(x, x, x)

    @property
    def is_range(self) -> bool:
        return self.high > self.low


@dataclass
class Model:
    """Everything fixed for one decision; the uncertain inputs come in as a dict of floats (or arrays)."""

    frontier_monthly: float  # F0: today's frontier cost at the likely volume
    tokens_monthly: float  # T0: input + output tokens at the likely volume
    quality_needed: float  # b
    hosting: str  # "serverless" or "dedicated"
    gpu_rate: float  # USD per GPU-hour
    gpus_per_replica: int
    on_hours: float  # dedicated: hours a GPU is kept on per month
    max_util: float  # dedicated: average share of throughput used
    serverless_price_per_m: float | None  # explicit per-token price; else GPU-seconds
    training_usd: float
    evaluation_usd: float
    engineering_rate: float
    spans: dict[str, Span] = field(default_factory=dict)

    def central(self) -> dict[str, float]:
        return {k: s.likely for k, s in self.spans.items()}

    def evaluate(self, x: dict[str, Any], hosting: str | None = None) -> dict[str, Any]:
        """Monthly costs, upfront and payback for inputs ``x`` (floats or equal-length numpy arrays)."""
        v = np.asarray(x["volume"], dtype=float)
        q = np.asarray(x["quality_retained"], dtype=float)
        b = self.quality_needed
        with np.errstate(divide="ignore", invalid="ignore"):
            h_quality = np.where(q >= b, 0.0, (b - q) / np.maximum(1 - q, 1e-12))
        share = np.clip(np.maximum(np.asarray(x["frontier_share"], dtype=float), h_quality), 0.0, 1.0)
        frontier = self.frontier_monthly * v
        tokens = self.tokens_monthly * v * (1 - share)
        tps = np.asarray(x["tokens_per_second"], dtype=float)
        gpu_hours = tokens / (tps * 3600) * self.gpus_per_replica
        mode = hosting or self.hosting
        if mode == "serverless":
            serving = (tokens / 1e6 * self.serverless_price_per_m if self.serverless_price_per_m is not None
                       else gpu_hours * self.gpu_rate)
            gpus = np.zeros_like(frontier)
        else:
            replicas = np.maximum(1, np.ceil(gpu_hours / self.gpus_per_replica / (self.on_hours * self.max_util)))
            gpus = replicas * self.gpus_per_replica
            serving = gpus * self.on_hours * self.gpu_rate
        remainder = frontier * share
        upkeep = np.asarray(x["monthly_upkeep_usd"], dtype=float) + 0 * v
        specialist = serving + remainder + upkeep
        savings = frontier - specialist
        upfront = (self.training_usd + self.evaluation_usd + np.asarray(x["data_cost_usd"], dtype=float)
                   + np.asarray(x["engineering_hours"], dtype=float) * self.engineering_rate) + 0 * v
        with np.errstate(divide="ignore", invalid="ignore"):
            payback = np.where(savings > 0, upfront / np.where(savings > 0, savings, 1), np.inf)
        return {"frontier": frontier, "serving": serving, "remainder": remainder, "upkeep": upkeep,
                "specialist": specialist, "savings": savings, "upfront": upfront, "payback": payback,
                "share": share, "quality_share": h_quality, "gpu_hours": gpu_hours, "gpus": gpus}

    def scalar(self, x: dict[str, float], hosting: str | None = None) -> dict[str, float]:
        return {k: float(v) for k, v in self.evaluate(x, hosting).items()}


def sample(model: Model, n: int, seed: int) -> dict[str, np.ndarray]:
    """Draw every ranged input from a triangular(low, likely, high) distribution and evaluate the model."""
    rng = np.random.default_rng(seed)
    draws: dict[str, Any] = {}
    for name in UNCERTAIN:
        s = model.spans[name]
        draws[name] = rng.triangular(s.low, s.likely, s.high, n) if s.is_range else np.full(n, s.likely)
    return model.evaluate(draws)


def percentiles(values: np.ndarray, qs: tuple[int, ...] = (10, 50, 90)) -> list[float]:
    """Percentiles that are actual draws (so 'never', stored as inf, survives)."""
    return [float(np.quantile(values, q / 100, method="inverted_cdf")) for q in qs]


@dataclass
class Flip:
    name: str
    low: float
    likely: float
    high: float
    payback_low: float
    payback_high: float
    flip_value: float | None
    flips_inside_range: bool
    pays_above_flip: bool | None  # True: pays back within the limit above flip_value, False: below it


def _domain(model: Model, name: str) -> tuple[float, float, bool]:
    s = model.spans[name]
    if name == "volume":
        return s.likely / 20, s.likely * 20, True
    if name == "quality_retained":
        return 0.0, 1.0, False
    if name == "frontier_share":
        return 0.0, 0.999, False
    if name == "tokens_per_second":
        return s.likely / 20, s.likely * 20, True
    if name == "engineering_hours":
        return 0.0, max(20 * s.likely, 2000.0), False
    if name == "data_cost_usd":
        return 0.0, max(20 * s.likely, 20 * model.frontier_monthly, 10_000.0), False
    return 0.0, max(2 * model.frontier_monthly, 20 * s.likely, 1_000.0), False  # monthly_upkeep_usd


def flip_points(model: Model, limit: float, grid: int = 400) -> list[Flip]:
    """For each input, payback at its low and high end (the rest at their likely values) and the value at which
    'pays back within the limit' changes, searched over a wide domain, nearest the likely value."""
    base = model.central()
    out: list[Flip] = []

    def pays(name: str, value: float) -> bool:
        return bool(model.scalar({**base, name: value})["payback"] <= limit)

    for name in UNCERTAIN:
        s = model.spans[name]
        lo, hi, log = _domain(model, name)
        xs = np.geomspace(lo, hi, grid) if log else np.linspace(lo, hi, grid)
        xs = np.unique(np.append(xs, s.likely))
        flags = [pays(name, float(x)) for x in xs]
        crossings = [i for i in range(len(xs) - 1) if flags[i] != flags[i + 1]]
        flip, above = None, None
        if crossings:
            i = min(crossings, key=lambda j: abs(math.log(max(xs[j], 1e-9) / max(s.likely, 1e-9))) if log
                    else abs(xs[j] - s.likely))
            a, b = float(xs[i]), float(xs[i + 1])
            fa = flags[i]
            for _ in range(60):
                mid = (a + b) / 2
                if pays(name, mid) == fa:
                    a = mid
                else:
                    b = mid
            flip, above = (a + b) / 2, not fa
        at = lambda value: model.scalar({**base, name: value})["payback"]  # noqa: E731
        out.append(Flip(name=name, low=s.low, likely=s.likely, high=s.high, payback_low=at(s.low),
                        payback_high=at(s.high), flip_value=flip,
                        flips_inside_range=flip is not None and s.low <= flip <= s.high and s.is_range,
                        pays_above_flip=above))
    return out


def swing(f: Flip, limit: float) -> float:
    """How far the payback moves across an input's range (never counted as twice the limit)."""
    cap = lambda m: min(m, 2 * limit)  # noqa: E731
    return abs(cap(f.payback_high) - cap(f.payback_low))


@dataclass
class Evidence:
    """Quality measured by run_eval for the frontier model and a small model on the same items."""

    n: int
    frontier_model: str
    small_model: str
    frontier_rate: float
    small_rate: float
    retained: float  # small_rate / frontier_rate
    retained_low: float  # P10 of the paired bootstrap
    retained_high: float  # P90
    oracle_share: float  # items the small model fails and the frontier gets right


def paired_evidence(frontier: dict[str, bool], small: dict[str, bool], frontier_name: str, small_name: str,
                    resamples: int = 2000, seed: int = 0) -> Evidence:
    """Quality retained on the items both results share, with a paired bootstrap P10-P90 range."""
    ids = sorted(set(frontier) & set(small))
    f = np.array([frontier[i] for i in ids], dtype=float)
    s = np.array([small[i] for i in ids], dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(ids), size=(resamples, len(ids)))
    fs, ss = f[idx].sum(axis=1), s[idx].sum(axis=1)
    ratios = ss[fs > 0] / fs[fs > 0]
    lo, hi = (float(np.quantile(ratios, q)) for q in (0.10, 0.90)) if len(ratios) else (0.0, 0.0)
    return Evidence(n=len(ids), frontier_model=frontier_name, small_model=small_name,
                    frontier_rate=float(f.mean()), small_rate=float(s.mean()),
                    retained=float(s.sum() / f.sum()) if f.sum() else 0.0, retained_low=lo, retained_high=hi,
                    oracle_share=float(((f == 1) & (s == 0)).mean()))
