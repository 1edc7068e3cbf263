"""Coverage and error rates of the evaluation statistics, before (percentile bootstrap, old gate rule) and after.

Prints tables; asserts nothing. Coverage is computed exactly where the interval depends only on counts
(binomial and multinomial sums over every outcome); the old bootstrap intervals are computed once per
outcome with the same code the project used, so those figures are exact for that seed too.

The paired grid (``--grid-n``) prints, per n, the worst and mean coverage over a dense grid of true
(p_gain, p_loss) and the expected width averaged over that grid, for Tango's asymptotic interval and the
exact unconditional one the library uses up to ``stats.EXACT_CI_MAX_N`` items (``secs``: CPU seconds to
compute every outcome's interval). The slow part is the exact intervals at n = 50 (about two CPU minutes).
Measured (step 0.01, 5,778 true pairs): the exact interval's worst coverage 0.9548 / 0.9517 / 0.9514 / 0.9503
at n = 10 / 20 / 30 / 50, Tango's 0.900 / 0.901 / 0.860 / 0.896; expected width 6-12% above Tango's.

Above EXACT_CI_MAX_N items (``--only-large``, ``--large-n``) it prints the exact coverage, by true rate, of
the rule the library ships there (restricted exact where few items changed or few did not, Tango elsewhere)
beside Tango's alone, and per-interval CPU times. Measured at n = 2,000 (62 true pairs): shipped worst
0.9488 at (900, 3) expected items of (gain, loss); every rate under 0.95 (0.9488-0.9499) expects more than
100 changed and 100 unchanged items, Tango's region. Tango alone: 0.9197 one item from a gain of 1, 0.9455
at (20, 0). Expected width 1.001 times Tango's on average, at most 1.054. At n = 5,000 (73 pairs): shipped
worst 0.9471 at (300, 0), again Tango's region (0.9485 at (2250, 0)); Tango alone 0.9197; width 1.000 on
average, at most 1.053. One interval costs 0.03-0.09 CPU s
at n = 2,000, 5,000 and 100,000 (0.2-0.6 s of wall time on a busy shared machine); the large-n table takes
about 3 CPU minutes per n the first time (``--cache DIR`` keeps the intervals).

    nice -n 15 .venv/bin/python bench/bench_stats.py [--n 20 50] [--resamples 1000] [--grid-n 10 20 30 50]
    nice -n 15 .venv/bin/python bench/bench_stats.py --only-large [--large-n 2000 5000 100000] [--cache DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
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


def _trinomial(n: int, g: np.ndarray, l: np.ndarray, w: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Probability of every (gains, losses) outcome (columns) under every true (p_gain, p_loss) (rows)."""
    from scipy.special import gammaln, xlogy

    log_cells = gammaln(n + 1) - gammaln(w + 1) - gammaln(t + 1) - gammaln(n - w - t + 1)
    return np.exp(log_cells[None] + xlogy(w[None], g[:, None]) + xlogy(t[None], l[:, None])
                  + xlogy((n - w - t)[None], np.maximum(1 - g - l, 0.0)[:, None]))


def win_rates(ns: list[int], resamples: int) -> None:
    from specialize.evaluation import stats

    grid = [(0.45, 0.35), (0.7, 0.1), (0.9, 0.05), (0.95, 0.0), (0.98, 0.0), (0.99, 0.0), (0.9, 0.0)]
    print("\nWin rate (ties as half) and paired pass-rate difference, 95% interval: exact coverage at chosen cells")
    print(f"{'n':>4} {'method':<28}" + "".join(f"{f'{w}/{t}':>10}" for w, t in grid) + "   (p_win/p_loss)")
    for n in ns:
        w, l = _cells(n)
        old = np.array([_old_percentile(np.r_[np.ones(a), np.zeros(b), np.full(n - a - b, 0.5)], resamples)
                        for a, b in zip(w, l)])
        full = np.full(w.shape, n)
        tango = stats.paired_proportion_diff(w, l, full, method="tango")
        exact = stats.paired_proportion_diff(w, l, full, method="exact")
        pw, pl = np.array([g for g, _ in grid]), np.array([t for _, t in grid])
        pmf = _trinomial(n, pw, pl, w, l)
        truth = (0.5 + (pw - pl) / 2)[:, None]
        for name, lo, hi in (("before: percentile bootstrap", old[:, 0], old[:, 1]),
                             ("Tango score", 0.5 + tango["low"] / 2, 0.5 + tango["high"] / 2),
                             ("after: exact unconditional", 0.5 + exact["low"] / 2, 0.5 + exact["high"] / 2)):
            row = (pmf * ((lo[None] <= truth + 1e-12) & (truth - 1e-12 <= hi[None]))).sum(axis=1)
            print(f"{n:>4} {name:<28}" + "".join(f"{c:>10.3f}" for c in row))


def paired_grid(ns: list[int], step: float) -> None:
    """Exact coverage and expected width of Tango's and the exact interval over a dense grid of true rates."""
    from specialize.evaluation import stats

    values = np.unique(np.round(np.r_[np.arange(0, 1 + 1e-9, step), [0.001, 0.002, 0.005, 0.995, 0.998, 0.999]], 6))
    g, l = (a.ravel() for a in np.meshgrid(values, values, indexing="ij"))
    keep = g + l <= 1 + 1e-9
    g, l = g[keep], np.minimum(l[keep], 1 - g[keep])
    d = (g - l)[:, None]
    print(f"\nPaired difference (and win rate), 95% interval over {len(g)} true (p_gain, p_loss) pairs "
          f"(step {step:g} plus rates within 0.005 of the edges): exact coverage and expected width")
    print(f"{'n':>4} {'method':<28}{'min cov':>9}  {'where (p_gain, p_loss)':<24}{'mean cov':>9}{'< 0.95':>8}"
          f"{'< 0.94':>8}{'mean width':>11}{'secs':>7}")
    for n in ns:
        w, t = _cells(n)
        pmf = _trinomial(n, g, l, w, t)
        for method in ("tango", "exact"):
            start = time.process_time()
            r = stats.paired_proportion_diff(w, t, np.full(w.shape, n), method=method)
            secs = time.process_time() - start
            cov = (pmf * ((r["low"][None] <= d + 1e-12) & (d - 1e-12 <= r["high"][None]))).sum(axis=1)
            width = pmf @ (r["high"] - r["low"])
            i = int(np.argmin(cov))
            label = {"tango": "Tango score (asymptotic)", "exact": "exact unconditional"}[method]
            print(f"{n:>4} {label:<28}{cov[i]:>9.4f}  {f'({g[i]:.3f}, {l[i]:.3f})':<24}{cov.mean():>9.4f}"
                  f"{(cov < 0.95).mean():>8.3f}{(cov < 0.94).mean():>8.3f}{width.mean():>11.4f}{secs:>7.1f}")


def _support(n: int, g: float, l: float, eps: float = 1e-10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (gains, losses) outcomes outside which each count's binomial tails hold at most eps, and their
    trinomial probabilities under true (p_gain, p_loss); the mass left out is 1 minus their sum."""
    from scipy.special import gammaln, xlogy
    from scipy.stats import binom

    b, c = np.meshgrid(np.arange(binom.ppf(eps, n, g), binom.isf(eps, n, g) + 1),
                       np.arange(binom.ppf(eps, n, l), binom.isf(eps, n, l) + 1), indexing="ij")
    b, c = b.ravel(), c.ravel()
    keep = b + c <= n
    b, c = b[keep], c[keep]
    log_p = (gammaln(n + 1) - gammaln(b + 1) - gammaln(c + 1) - gammaln(n - b - c + 1) + xlogy(b, g) + xlogy(c, l)
             + xlogy(n - b - c, max(1 - g - l, 0.0)))
    return b.astype(int), c.astype(int), np.exp(log_p)


def large_n(ns: list[int], cache: str | None = None) -> None:
    """Exact coverage of the interval ``paired_proportion_diff`` ships above EXACT_CI_MAX_N items, by rate.

    True (p_gain, p_loss) run over counts of expected items at the edges (0, 1, 3, 10, 30, 100, 300 items),
    0-10 items from a gain of 1, 3 unchanged items with 1 or 3 losses, no unchanged item at (0.5, 0.5), and
    moderate rates. Rates with a few unchanged items and both counts near n / 2 are left out: thousands of
    likely outcomes, minutes each. p_loss <= p_gain is enough, as the intervals of mirrored outcomes are
    mirrored. Every outcome with non-negligible probability is enumerated with its trinomial probability;
    the restricted exact intervals (where gains + losses, or the unchanged items, number at most
    SUPPORT_MAX_DISCORDANT) are computed once per n for every outcome any grid point needs (``cache``: a
    folder where they are kept between runs, keyed by n and the method's settings). ``lost``: probability
    mass outside the enumerated outcomes (counted as not covered, so coverage is a lower bound).
    """
    from specialize.evaluation import stats

    cap = stats.SUPPORT_MAX_DISCORDANT
    for n in ns:
        items = [0, 1, 3, 10, 30, 100, 300]
        rates = sorted({k / n for k in items} | {0.01, 0.05, 0.2, 0.45})
        grid = [(g, l) for g in rates for l in rates if l <= g and g + l <= 1]
        grid += [(1 - k / n, 0.0) for k in (0, 1, 3, 10)] + [(0.5, 0.5)]
        grid += [(1 - 3 / n - k / n, k / n) for k in (1, 3)]
        supports = [_support(n, g, l) for g, l in grid]
        few = [(np.minimum(b + c, n - b - c) <= cap) & (p > 1e-13) for b, c, p in supports]
        need = np.unique(np.concatenate([(b * (n + 1) + c)[f] for (b, c, _), f in zip(supports, few)]))
        start = time.process_time()
        key = (f"restricted_n{n}_cap{cap}_grid{stats._SUPPORT_GRID}_gamma{stats.BERGER_BOOS_GAMMA:g}"
               f"_eps{stats._SUPPORT_EPS:g}.npz")
        saved = Path(cache) / key if cache else None
        known = dict(np.load(saved)) if saved and saved.exists() else {"key": np.zeros(0, dtype=np.int64),
                                                                    "low": np.zeros(0), "high": np.zeros(0)}
        todo = np.setdiff1d(need, known["key"])
        if len(todo):
            r = stats.paired_proportion_diff(todo // (n + 1), todo % (n + 1), np.full(len(todo), n))
            keys = np.r_[known["key"], todo]
            order = np.argsort(keys)
            known = {"key": keys[order], "low": np.r_[known["low"], r["low"]][order],
                     "high": np.r_[known["high"], r["high"]][order]}
            if saved:
                saved.parent.mkdir(parents=True, exist_ok=True)
                np.savez(saved, **known)
        secs = time.process_time() - start  # the count and time are for the intervals computed in this run
        print(f"\nPaired difference above EXACT_CI_MAX_N, n = {n}: exact coverage of the shipped 95% interval "
              f"(restricted exact where gains + losses or the unchanged items are <= {cap}, Tango elsewhere) "
              f"and of Tango's alone; {len(todo)} restricted intervals computed in {secs:.0f} CPU s "
              f"({1000 * secs / max(len(todo), 1):.0f} ms each)")
        print(f"{'p_gain*n':>10}{'p_loss*n':>10}{'shipped':>9}{'Tango':>8}{'width ratio':>12}{'lost':>9}")
        worst, worst_t, ratios = (2.0, (0.0, 0.0)), (2.0, (0.0, 0.0)), []
        for (g, l), (b, c, p) in zip(grid, supports):
            t = stats.paired_proportion_diff(b, c, np.full(b.shape, n), method="tango")
            small = np.minimum(b + c, n - b - c) <= cap
            lo, hi = t["low"].copy(), t["high"].copy()
            at = np.searchsorted(known["key"], (b * (n + 1) + c)[small])
            found = known["key"][np.minimum(at, len(known["key"]) - 1)] == (b * (n + 1) + c)[small]
            lo[small] = np.where(found, known["low"][np.minimum(at, len(known["key"]) - 1)], np.nan)
            hi[small] = np.where(found, known["high"][np.minimum(at, len(known["key"]) - 1)], np.nan)
            ok = ~np.isnan(lo)  # an outcome of probability <= 1e-13 left uncomputed counts as not covered
            d = g - l
            cov = p[ok & (lo <= d + 1e-12) & (d - 1e-12 <= hi)].sum()
            cov_t = p[(t["low"] <= d + 1e-12) & (d - 1e-12 <= t["high"])].sum()
            ratio = (p[ok] @ (hi - lo)[ok]) / (p @ (t["high"] - t["low"]))
            ratios.append(ratio)
            worst, worst_t = min(worst, (cov, (g, l))), min(worst_t, (cov_t, (g, l)))
            print(f"{g * n:>10.1f}{l * n:>10.1f}{cov:>9.4f}{cov_t:>8.4f}{ratio:>12.3f}{1 - p.sum():>9.1e}")
        print(f"worst: shipped {worst[0]:.4f} at n*(p_gain, p_loss) = ({worst[1][0] * n:.1f}, "
              f"{worst[1][1] * n:.1f}); "
              f"Tango {worst_t[0]:.4f} at ({worst_t[1][0] * n:.1f}, {worst_t[1][1] * n:.1f}); expected width over "
              f"Tango's: mean {np.mean(ratios):.3f}, max {np.max(ratios):.3f}")


def timing(ns: list[int]) -> None:
    """CPU seconds (and wall seconds, which a busy machine inflates) for one interval at a few outcomes, the
    restricted method's costliest among them (as many changed items as it takes)."""
    from specialize.evaluation import stats

    cap = stats.SUPPORT_MAX_DISCORDANT
    stats.paired_proportion_diff(3, 0, 5000)  # imports and first-call set-up out of the timings
    print("\nSeconds per paired interval (auto method), one call each, (gains, losses)")
    for n in ns:
        row = []
        for b, c in ((0, 0), (3, 0), (cap // 2, cap // 2), (cap, 0), (n // 10, n // 20)):
            start, cpu = time.perf_counter(), time.process_time()
            r = stats.paired_proportion_diff(b, c, n)
            row.append(f"({b}, {c}) {time.process_time() - cpu:.2f} CPU s / {time.perf_counter() - start:.2f} s "
                       f"{'restricted' if r['method'] == stats.EXACT_RESTRICTED else 'Tango'}")
        print(f"n = {n}: " + "; ".join(row))


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
    ap.add_argument("--grid-n", type=int, nargs="+", default=[10, 20, 30, 50])
    ap.add_argument("--grid-step", type=float, default=0.01)
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--gate-n", type=int, default=300)
    ap.add_argument("--large-n", type=int, nargs="*", default=[2000, 5000, 100000])
    ap.add_argument("--only-large", action="store_true", help="print only the large-n tables and timings")
    ap.add_argument("--cache", help="folder that keeps the large-n restricted intervals between runs")
    a = ap.parse_args()
    if a.only_large:
        timing(a.large_n)
        large_n(a.large_n, a.cache)
        return
    pass_rates(a.n, a.resamples)
    win_rates(a.n, a.resamples)
    paired_grid(a.grid_n, a.grid_step)
    gate_type_one(a.gate_n)
    family_wise(3, 60, 2000)
    family_wise(5, 60, 2000)
    ties(200, 400)
    timing(a.large_n)
    large_n(a.large_n, a.cache)


if __name__ == "__main__":
    main()
