"""Coverage and error rates of the evaluation statistics, before (percentile bootstrap, old gate rule) and after.

Prints tables; asserts nothing. Coverage is computed exactly where the interval depends only on counts
(binomial and multinomial sums over every outcome); the old bootstrap intervals are computed once per
outcome with the same code the project used, so those figures are exact for that seed too.

    nice -n 15 .venv/bin/python bench/bench_stats.py [--n 20 50] [--resamples 1000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _old_percentile(values: np.ndarray, resamples: int) -> tuple[float, float]:
    from specialize.evaluation import stats

    r = stats.bootstrap_ci(values, statistic=lambda a: a.mean(axis=-1), n_resamples=resamples, seed=0)
    return r["low"], r["high"]


def pass_rates(ns: list[int], resamples: int) -> None:
    from scipy.stats import binom
    from statsmodels.stats.proportion import proportion_confint

    from specialize.evaluation import stats

    rates = [0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 1.0]
    print("\nPass rate, 95% interval: exact coverage by true rate")
    print(f"{'n':>4} {'method':<28}" + "".join(f"{p:>7}" for p in rates))
    for n in ns:
        k = np.arange(n + 1)
        old = np.array([_old_percentile(np.r_[np.ones(x), np.zeros(n - x)], resamples) for x in k])
        wl, wh = proportion_confint(k, n, method="wilson")
        new = np.array([(r["low"], r["high"]) for r in (stats.proportion_ci(int(x), n) for x in k)])
        for name, (lo, hi) in (("before: percentile bootstrap", old.T), ("Wilson", (wl, wh)),
                               ("after: Clopper-Pearson", new.T)):
            cov = [binom.pmf(k, n, p)[(lo <= p + 1e-12) & (p - 1e-12 <= hi)].sum() for p in rates]
            print(f"{n:>4} {name:<28}" + "".join(f"{c:>7.3f}" for c in cov))


def _cells(n: int) -> tuple[np.ndarray, np.ndarray]:
    w, l = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    keep = w + l <= n
    return w[keep], l[keep]


def win_rates(ns: list[int], resamples: int) -> None:
    from scipy.stats import multinomial

    from specialize.evaluation import stats

    grid = [(0.45, 0.35), (0.7, 0.1), (0.9, 0.05), (0.95, 0.0), (0.98, 0.0), (0.9, 0.0)]
    print("\nWin rate (ties as half) and paired pass-rate difference, 95% interval: exact coverage")
    print(f"{'n':>4} {'method':<28}" + "".join(f"{f'{w}/{t}':>10}" for w, t in grid) + "   (p_win/p_loss)")
    for n in ns:
        w, l = _cells(n)
        old = np.array([_old_percentile(np.r_[np.ones(a), np.zeros(b), np.full(n - a - b, 0.5)], resamples)
                        for a, b in zip(w, l)])
        new = stats.paired_proportion_diff(w, l, np.full(w.shape, n))
        for name, lo, hi in (("before: percentile bootstrap", old[:, 0], old[:, 1]),
                             ("after: Tango score", 0.5 + new["low"] / 2, 0.5 + new["high"] / 2)):
            row = []
            for pw, pl in grid:
                pmf = multinomial.pmf(np.stack([w, l, n - w - l], 1), n, [pw, pl, 1 - pw - pl])
                truth = 0.5 + (pw - pl) / 2
                row.append(pmf[(lo <= truth + 1e-12) & (truth - 1e-12 <= hi)].sum())
            print(f"{n:>4} {name:<28}" + "".join(f"{c:>10.3f}" for c in row))


def gate_type_one(n: int) -> None:
    from scipy.stats import binom, multinomial

    from specialize.evaluation import stats

    print(f"\nRelease gate, n = {n}: exact chance of shipping when the true gain equals the margin (want <= 0.05)")
    print(f"{'margin':>7} {'discordance':>12} {'before':>8} {'Tango asympt.':>14} {'after: exact':>13}")
    for margin in (0.0, 0.01, 0.03):
        b, c, p = stats.exact_margin_pvalues(n, margin)
        k = b + c
        old = ((b - c) / n >= margin) & (np.where(k > 0, binom.sf(b - 1, np.maximum(k, 1), 0.5), 1.0) < 0.05)
        asym = stats.paired_margin_test(b, c, np.full(b.shape, n), margin)["p_value"] < 0.05
        for psi in (0.05, 0.1, 0.2, 0.4):
            pmf = multinomial.pmf(np.stack([b, c, n - k], 1), n, [(psi + margin) / 2, (psi - margin) / 2, 1 - psi])
            print(f"{margin:>7} {psi:>12} {pmf[old].sum():>8.3f} {pmf[asym].sum():>14.3f} {pmf[p < 0.05].sum():>13.3f}")


def family_wise(models: int, items: int, families: int) -> None:
    from scipy.stats import binom

    from specialize.evaluation import stats

    rng = np.random.default_rng(15)
    pairs = models * (models - 1) // 2
    wins = rng.binomial(items, 0.5, size=(families, pairs))  # decisive verdicts per pair, equal models
    p = np.minimum(1.0, 2 * np.minimum(binom.cdf(wins, items, 0.5), binom.sf(wins - 1, items, 0.5)))
    raw = (p < 0.05).any(axis=1).mean()
    holm = np.mean([min(stats.adjust_pvalues(row)) < 0.05 for row in p])
    print(f"\nAll pairs of {models} equal models ({pairs} sign tests, {items} decisive items, {families} seeded "
          f"families): family-wise error unadjusted {raw:.3f}, Holm {holm:.3f}")


def ties(n: int, trials: int) -> None:
    from specialize.evaluation import stats

    rng = np.random.default_rng(7)
    overlap = found = 0
    for _ in range(trials):
        shared = rng.random(n)
        a, b = shared < 0.7, shared < 0.6  # correlated: b's passes are a subset of a's, gap 0.1
        flip = rng.random(n) < 0.1
        a = np.where(flip, rng.random(n) < 0.7, a)
        ca, cb = stats.proportion_ci(int(a.sum()), n), stats.proportion_ci(int(b.sum()), n)
        overlap += cb["high"] >= ca["low"]
        gains, losses = int((a & ~b).sum()), int((b & ~a).sum())
        two = 2 * min(stats.paired_margin_test(gains, losses, n, exact=False)["p_value"],
                      stats.paired_margin_test(losses, gains, n, exact=False)["p_value"])
        found += two < 0.05
    print(f"\n0.7 vs 0.6 on the same {n} items ({trials} seeded trials): 'tied' by overlapping intervals "
          f"{overlap / trials:.2f}; gap found by the paired test {found / trials:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, nargs="+", default=[20, 50])
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--gate-n", type=int, default=300)
    a = ap.parse_args()
    pass_rates(a.n, a.resamples)
    win_rates(a.n, a.resamples)
    gate_type_one(a.gate_n)
    family_wise(3, 60, 2000)
    family_wise(5, 60, 2000)
    ties(200, 400)


if __name__ == "__main__":
    main()
