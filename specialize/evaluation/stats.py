"""Statistics for evaluation: intervals, paired tests, margin tests, Bradley-Terry, agreement and sample sizes.

Which interval where, chosen by measured coverage (``bench/bench_stats.py`` prints the tables):

* a pass/fail rate (accuracy, parse rate, schema pass rate): Clopper-Pearson, the exact binomial interval
  (statsmodels ``proportion_confint(method="beta")``). It is the one method whose coverage stays at or above
  nominal at every rate, 0 and 1 included; Wilson dips to about 85% next to the edges at n = 10-50.
* a difference between two systems' pass/fail rates on the same items, and a pairwise win rate (ties as
  half): the exact unconditional interval for paired proportions, which inverts two one-sided exact tests
  ordered by Tango's score statistic (the release gate's margin test is one of them). Its exact coverage
  stays at or above 95% over the whole grid of true rates at n = 10-50, edges included. Tango's asymptotic
  interval dips to about 86-93% within a few items of the edges at any n. Above EXACT_CI_MAX_N items the
  full exact computation is too slow, so: where the changed items (gains + losses) or the unchanged ones
  number at most SUPPORT_MAX_DISCORDANT, the same two tests with the nuisance (the discordance) maximised
  only over a 99.99% confidence set for it and that 1e-4 added to each p (Berger and Boos 1994), summed
  over the discordant counts the set makes likely (a fraction of a CPU second at any n); elsewhere, with
  many items both changed and unchanged, Tango's interval, whose coverage there wavers by up to about
  three thousandths around 95% (worst on the bench grid 0.9488 at n = 2,000, 0.9471 at n = 5,000, with no
  losses and a few hundred gains; ``bench/bench_stats.py --only-large`` prints the rule's exact coverage).
  A win rate with ties as half is 0.5 + (W - L) / 2n, the same quantity as a paired difference whose
  gains are wins and whose losses are losses.
* any other statistic (macro-F1, mean judge scores): the percentile bootstrap, vectorised over an index matrix
  (what ``scipy.stats.bootstrap(..., method="percentile")`` computes).

Results name their method, and carry ``warnings`` for small samples and for inputs that leave a statistic
undefined (those give ``nan`` rather than a confident-looking number). Everything is seeded.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from specialize.runtime.errors import InvalidInput

VERDICT_SCORE = {"win": 1.0, "tie": 0.5, "loss": 0.0}
SMALL_N = 30  # below this many items a result carries a small-sample warning
CLOPPER_PEARSON = "Clopper-Pearson exact binomial interval"
TANGO = "Tango score interval for paired proportions"
EXACT_CI = ("exact unconditional interval for paired proportions (two one-sided Tango-ordered exact tests, "
            "nuisance maximised)")
EXACT_RESTRICTED = ("exact unconditional interval for paired proportions (two one-sided Tango-ordered exact "
                    "tests, nuisance maximised over a 99.99% confidence set for the discordance, Berger-Boos)")
EXACT_CI_MAX_N = 1000  # above this many items the nuisance is restricted to a confidence set, or Tango (speed)
EXACT_MAX_N = 2000  # above this many items the margin test uses the normal approximation
_NUISANCE_GRID = 200  # discordance values over which exact p-values take their maximum
PERCENTILE = "percentile bootstrap"


def small_n_warning(n: int) -> list[str]:
    """A warning for results built on fewer than SMALL_N items (none otherwise)."""
    if 0 < n < SMALL_N:
        return [f"only {n} items (fewer than {SMALL_N}): one item moves the estimate by {100 / n:.1f} points and "
                "intervals are wide; add items before trusting a close call"]
    return []


def proportion_ci(successes: int, n: int, *, confidence: float = 0.95, method: str = "beta") -> dict[str, Any]:
    """Interval for a pass/fail rate from its counts (statsmodels ``proportion_confint``).

    ``method`` is any of statsmodels' names; the default ``beta`` is Clopper-Pearson, whose coverage never
    falls below ``confidence`` (it is conservative in exchange).
    """
    from statsmodels.stats.proportion import proportion_confint

    if n == 0:
        return {"estimate": float("nan"), "low": float("nan"), "high": float("nan"), "n": 0,
                "confidence": confidence, "method": CLOPPER_PEARSON if method == "beta" else method,
                "warnings": ["no items: the rate is undefined"]}
    low, high = proportion_confint(int(successes), int(n), alpha=1 - confidence, method=method)
    return {"estimate": successes / n, "low": float(max(0.0, low)), "high": float(min(1.0, high)), "n": int(n),
            "confidence": confidence, "method": CLOPPER_PEARSON if method == "beta" else method,
            "warnings": small_n_warning(int(n))}


def _tango_z(gains: Any, losses: Any, n: Any, delta: Any) -> np.ndarray:
    """Tango's score statistic for H0: p(gain) - p(loss) = delta, vectorised over every argument.

    The nuisance p(loss) is replaced by its maximum-likelihood value under H0 (the root of a quadratic).
    """
    b, c, n, d = (np.asarray(v, dtype=float) for v in (gains, losses, n, delta))
    w = -b - c + (2 * n - b + c) * d
    q = (np.sqrt(np.maximum(w * w + 8 * n * c * d * (1 - d), 0.0)) - w) / (4 * n)
    var = n * (2 * q + d * (1 - d))
    num = b - c - n * d
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(var > 0, num / np.sqrt(var), np.sign(num) * np.inf)
        return np.where(num == 0, 0.0, z)


def _tango_root(gains: Any, losses: Any, n: Any, target: float, iters: int = 60) -> np.ndarray:
    """The delta in [-1, 1] where Tango's statistic (decreasing in delta) equals ``target``, by bisection."""
    shape = np.broadcast(np.asarray(gains), np.asarray(losses), np.asarray(n)).shape
    lo, hi = np.full(shape, -1.0), np.full(shape, 1.0)
    for _ in range(iters):
        mid = (lo + hi) / 2
        right = _tango_z(gains, losses, n, mid) > target
        lo, hi = np.where(right, mid, lo), np.where(right, hi, mid)
    return (lo + hi) / 2


def _nuisance_grid(delta: Any) -> np.ndarray:
    """Discordance values (share of items where exactly one system passes) allowed under gain = delta.

    The discordance runs from |delta| (no item goes the other way) to 1; the grid, one row per delta, is
    denser near |delta|, where tail probabilities change fastest, and includes |delta| itself.
    """
    a = np.abs(np.asarray(delta, dtype=float))[..., None]
    return a + (1 - a) * np.linspace(0.0, 1.0, _NUISANCE_GRID + 1) ** 2


def _exact_upper_p(gains: np.ndarray, losses: np.ndarray, n: int, delta: np.ndarray) -> np.ndarray:
    """Exact unconditional p of H0 gain <= delta for each (gains, losses, delta) row, vectorised over rows.

    The outcomes at least as extreme as the observed one are those with Tango's statistic at least as large.
    For a fixed discordant count k the statistic grows with the gains, so that set is gains >= b_min(k)
    (found by binary search); given k the gains are binomial with p = p(gain) / discordance, and k is
    binomial in n with p = discordance. The p-value is the largest tail probability over the nuisance grid.
    """
    from scipy.special import betainc, gammaln, xlogy

    b0, c0, d = (np.asarray(v, dtype=float).reshape(-1) for v in (gains, losses, delta))
    k = np.arange(n + 1, dtype=float)
    z0 = _tango_z(b0, c0, n, d)[:, None] - 1e-9
    lo, hi = np.zeros((len(d), n + 1)), np.tile(k + 1, (len(d), 1))
    for _ in range(int(np.ceil(np.log2(n + 2))) + 1):
        mid = np.minimum(np.floor((lo + hi) / 2), k)
        ok = _tango_z(mid, k - mid, n, d[:, None]) >= z0
        busy = lo < hi
        hi, lo = np.where(busy & ok, mid, hi), np.where(busy & ~ok, mid + 1, lo)
    b_min = lo[:, None, :]  # k + 1 where no split of k discordant items is as extreme
    psi = _nuisance_grid(d)[:, :, None]
    log_k = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
    pmf_k = np.exp(log_k + xlogy(k, psi) + xlogy(n - k, 1 - psi))
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.clip(np.where(psi > 0, (psi + d[:, None, None]) / (2 * psi), 0.5), 0.0, 1.0)
    shape = np.broadcast_shapes(pmf_k.shape, b_min.shape)
    b_min, share = np.broadcast_to(b_min, shape), np.broadcast_to(share, shape)
    tail = (b_min <= 0).astype(float)
    # P(Binomial(k, share) >= b_min) = I_share(b_min, k - b_min + 1); skipped where k itself is negligible
    todo = (b_min >= 1) & (b_min <= k) & (pmf_k > 1e-16)
    kk = np.broadcast_to(k, shape)[todo]
    tail[todo] = betainc(b_min[todo], kk - b_min[todo] + 1, share[todo])
    return np.minimum((pmf_k * tail).sum(axis=-1).max(axis=-1), 1.0)


BERGER_BOOS_GAMMA = 1e-4  # share of each one-sided alpha spent on the confidence set for the discordance
SUPPORT_MAX_DISCORDANT = 100  # above EXACT_CI_MAX_N items: the restricted exact interval when this few items
# changed (gains + losses) or this few did not; Tango's otherwise
_SUPPORT_GRID = 32  # discordance values inside the confidence set over which the restricted p is maximised
_SUPPORT_EPS = 1e-11  # binomial mass left out at each end of the summed discordant counts (added back to p)


def _restricted_upper_p(gains: np.ndarray, losses: np.ndarray, n: int, delta: np.ndarray,
                        gamma: float = BERGER_BOOS_GAMMA) -> np.ndarray:
    """Exact p of H0 gain <= delta with the nuisance confined to a confidence set (Berger and Boos 1994).

    The tail probability (outcomes with Tango's statistic at least the observed one) is maximised only over
    discordance values inside a 1 - ``gamma`` Clopper-Pearson interval from the observed discordant count,
    and ``gamma`` is added to the result, which keeps the test's level at every discordance. The sum over
    the discordant count k runs over the counts that interval makes likely; the binomial mass of the counts
    left out (at most 2 * _SUPPORT_EPS, computed exactly) is added as if every one of them were extreme. So
    the work grows with the fewer of the changed and unchanged items, not with n, and nothing dropped makes
    p smaller.
    """
    from scipy.special import betainc, gammaln, xlogy
    from scipy.stats import beta, binom

    b0, c0, d = (np.asarray(v, dtype=float).reshape(-1) for v in (gains, losses, delta))
    k0 = b0 + c0
    ci_lo = np.where(k0 > 0, beta.ppf(gamma / 2, np.maximum(k0, 1), n - k0 + 1), 0.0)
    ci_hi = np.where(k0 < n, beta.ppf(1 - gamma / 2, k0 + 1, np.maximum(n - k0, 1)), 1.0)
    lo = np.maximum(np.abs(d), ci_lo)
    empty = lo > ci_hi  # no discordance both allowed by H0 and inside the set: the sup is 0
    hi = np.maximum(ci_hi, lo)
    psi = lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, _SUPPORT_GRID) ** 2
    k_lo = np.maximum(binom.ppf(_SUPPORT_EPS, n, lo), 0.0)
    k_hi = np.minimum(binom.isf(_SUPPORT_EPS, n, hi), n)
    dropped = binom.cdf(k_lo[:, None] - 1, n, psi) + binom.sf(k_hi[:, None], n, psi)
    k = k_lo[:, None] + np.arange(int(np.max(k_hi - k_lo)) + 1)
    valid = k <= k_hi[:, None]
    k = np.minimum(k, k_hi[:, None])
    z0 = _tango_z(b0, c0, n, d)[:, None] - 1e-9
    b_lo, b_hi = np.zeros(k.shape), k + 1
    for _ in range(int(np.ceil(np.log2(np.max(k) + 2))) + 1):
        mid = np.minimum(np.floor((b_lo + b_hi) / 2), k)
        ok = _tango_z(mid, k - mid, n, d[:, None]) >= z0
        busy = b_lo < b_hi
        b_hi, b_lo = np.where(busy & ok, mid, b_hi), np.where(busy & ~ok, mid + 1, b_lo)
    b_min = np.broadcast_to(b_lo[:, None, :], (len(d), _SUPPORT_GRID, k.shape[1]))
    kk = np.broadcast_to(k[:, None, :], b_min.shape)
    log_k = (gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1))[:, None, :]
    pmf_k = np.exp(log_k + xlogy(kk, psi[:, :, None]) + xlogy(n - kk, 1 - psi[:, :, None]))
    pmf_k = np.where(valid[:, None, :], pmf_k, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.clip(np.where(psi > 0, (psi + d[:, None]) / (2 * psi), 0.5), 0.0, 1.0)
    share = np.broadcast_to(share[:, :, None], b_min.shape)
    # a k of negligible probability counts as wholly extreme (an upper bound on its share of the tail)
    tail = ((b_min <= 0) | (pmf_k <= _SUPPORT_EPS / 10)).astype(float)
    todo = (b_min >= 1) & (b_min <= kk) & (pmf_k > _SUPPORT_EPS / 10)
    tail[todo] = betainc(b_min[todo], kk[todo] - b_min[todo] + 1, share[todo])
    p = (pmf_k * tail).sum(axis=-1) + dropped
    return np.minimum(np.where(empty, 0.0, p.max(axis=-1)) + gamma, 1.0)


_BISECT_STEPS = 18  # halvings of [-1, estimate]: limits to within 8e-6, rounded outward
_SCAN, _SCAN_STEP = 16, 0.0025  # probes below a limit for gains the test still keeps (its p is not monotone)


def _exact_lower_limit(gains: np.ndarray, losses: np.ndarray, n: int, tail: float,
                       restricted: bool = False) -> np.ndarray:
    """The smallest gain the one-sided exact test at level ``tail`` keeps, per row.

    Bisection finds a point where the test switches from rejecting to keeping. The exact p-value is not
    monotone in the gain, so the kept gains can have gaps just below that point; the limit then moves down to
    the lowest kept gain found by probing ``_SCAN`` points below it, and the search repeats from there.
    ``restricted`` uses ``_restricted_upper_p``: its search starts just below minus the top of the
    discordance's confidence set (every gain below that is rejected), halves down to a hundredth of an item
    and probes half as many points, 1.5 / n apart.
    """
    est = (gains - losses) / n
    if restricted:
        from scipy.stats import beta

        k0 = gains + losses
        top = np.where(k0 < n, beta.ppf(1 - BERGER_BOOS_GAMMA / 2, k0 + 1, np.maximum(n - k0, 1)), 1.0)
        start = np.maximum(-top * (1 + 1e-9) - 1e-12, -1.0)
        steps = int(np.ceil(np.log2(max(float(np.max(est - start)), 1e-12) * n / 1e-2)))
        pfun, scan, scan_step = _restricted_upper_p, _SCAN // 2, 1.5 / n
    else:
        start, steps, pfun, scan, scan_step = (np.full(est.shape, -1.0), _BISECT_STEPS, _exact_upper_p, _SCAN,
                                               _SCAN_STEP)

    def bisect(rows: np.ndarray, lo: np.ndarray, hi: np.ndarray, count: int) -> np.ndarray:
        for _ in range(count):  # lo stays rejected, hi kept
            mid = (lo + hi) / 2
            kept = pfun(gains[rows], losses[rows], n, mid) > tail
            lo, hi = np.where(kept, lo, mid), np.where(kept, mid, hi)
        return lo

    rows = np.arange(len(est))
    low = bisect(rows, start.astype(float), est.astype(float), steps)
    for _ in range(5):
        probe = np.maximum(low[rows, None] - scan_step * np.arange(1, scan + 1), start[rows, None])
        kept = (pfun(np.repeat(gains[rows], scan), np.repeat(losses[rows], scan), n, probe.ravel())
                > tail).reshape(probe.shape) & (probe > start[rows, None])
        again = kept.any(axis=1)
        if not again.any():
            break
        rows, probe, kept = rows[again], probe[again], kept[again]
        deepest = probe[np.arange(len(rows)), scan - 1 - np.argmax(kept[:, ::-1], axis=1)]
        low[rows] = bisect(rows, np.maximum(deepest - scan_step, start[rows]), deepest, 10)
    return np.where(est <= -1, -1.0, low)  # low is never inside the kept region: rounding widens


def exact_paired_interval(gains: Any, losses: Any, n: int, *, confidence: float = 0.95,
                          restricted: bool = False) -> tuple[Any, Any]:
    """Exact unconditional interval for p(gain) - p(loss), inverting two one-sided tests at (1 - level) / 2.

    Each limit is where the Tango-ordered exact test (the margin test's own construction) stops rejecting;
    its coverage cannot fall below the level except through the finite nuisance grid. ``restricted`` takes
    each test's p from ``_restricted_upper_p`` (nuisance maximised over a confidence set for the
    discordance, Berger-Boos), whose cost grows with the fewer of the changed and unchanged items, not
    with n. Arrays of outcomes with one ``n`` work too; each distinct outcome is computed once.
    """
    b, c = np.asarray(gains), np.asarray(losses)
    tail = (1 - confidence) / 2
    if restricted and tail <= BERGER_BOOS_GAMMA:
        raise InvalidInput(f"confidence {confidence} leaves no room for the restricted exact interval, which spends "
                           f"{BERGER_BOOS_GAMMA:g} of each tail on the discordance",
                           f"ask for a confidence below {1 - 2 * BERGER_BOOS_GAMMA:g}, or method='tango'")
    pairs, inverse = np.unique(np.stack([b.reshape(-1), c.reshape(-1)]), axis=1, return_inverse=True)
    pb, pc = pairs[0].astype(float), pairs[1].astype(float)
    rows_b, rows_c = np.r_[pb, pc], np.r_[pc, pb]  # the upper limit is minus the mirrored outcome's lower one
    if restricted:  # the summed discordant counts span about the fewer of the changed and unchanged items
        top = float(np.max(np.minimum(pb + pc, n - pb - pc)))  # plus a dozen standard deviations
        width = min(int(n) + 1, int(top + 16 * math.sqrt(top + 1) + 40))
        chunk = max(1, 2_000_000 // (_SUPPORT_GRID * width))
    else:
        chunk = max(1, 2_000_000 // ((_NUISANCE_GRID + 1) * (int(n) + 1)))  # bounds the working arrays' memory
    limits = np.concatenate([_exact_lower_limit(rows_b[i:i + chunk], rows_c[i:i + chunk], int(n), tail, restricted)
                             for i in range(0, len(rows_b), chunk)])
    low, high = limits[:len(pb)][inverse.reshape(-1)], -limits[len(pb):][inverse.reshape(-1)]
    if b.ndim == 0:
        return float(low[0]), float(high[0])
    return low.reshape(b.shape), high.reshape(b.shape)


def paired_proportion_diff(gains: Any, losses: Any, n: Any, *, confidence: float = 0.95,
                           method: str = "auto") -> dict[str, Any]:
    """Interval for the difference of two paired pass rates, (gains - losses) / n.

    ``gains``: items only the first system passes; ``losses``: items only the second passes; ``n``: all
    paired items. ``method``:

    * ``exact``: the exact unconditional interval (``exact_paired_interval``), nuisance over its whole range;
    * ``restricted``: the same tests with the nuisance confined to a confidence set (Berger-Boos), whose
      cost depends on the fewer of the changed and unchanged items, not on n;
    * ``tango``: Tango's asymptotic score interval;
    * ``auto``: ``exact`` up to EXACT_CI_MAX_N items; above that ``restricted`` when the changed items
      (gains + losses) or the unchanged ones number at most SUPPORT_MAX_DISCORDANT, ``tango`` otherwise.

    Tango's interval alone covers only about 86-93% at some rates within a few items of the edges, at any
    n; with many changed items it stays within a few thousandths of nominal (``bench/bench_stats.py``
    measures the whole ``auto`` rule). Arrays work too (every value then becomes an array, and ``method``
    names the rule), which the coverage checks use; the exact method then needs one common n.
    """
    from scipy.stats import norm

    b, c, m = (np.asarray(v) for v in (gains, losses, n))
    if method not in ("auto", "exact", "restricted", "tango"):
        raise InvalidInput(f"unknown paired-interval method {method!r}",
                           "use 'auto' (the default), 'exact', 'restricted' or 'tango'")
    if np.any(m <= 0):
        return {"estimate": float("nan"), "low": float("nan"), "high": float("nan"), "n": 0, "gains": 0,
                "losses": 0, "confidence": confidence, "method": EXACT_CI if method != "tango" else TANGO,
                "warnings": ["no paired items: the difference is undefined"]}
    b, c, m = np.broadcast_arrays(b, c, m)
    n_max = int(np.max(m))
    if method == "auto" and n_max <= EXACT_CI_MAX_N:
        method = "exact"
    if method == "exact":
        if np.ptp(m) != 0:
            raise ValueError("the exact paired interval takes one common n for an array of outcomes")
        low, high = exact_paired_interval(b, c, n_max, confidence=confidence)
        name = EXACT_CI
    else:
        z = norm.ppf(1 - (1 - confidence) / 2)
        low, high = (np.array(_tango_root(b, c, m, s), dtype=float) for s in (z, -z))
        few = np.minimum(b + c, m - b - c) <= SUPPORT_MAX_DISCORDANT  # changed, or unchanged, items are few
        use = few if method == "auto" else np.full(b.shape, method == "restricted")
        for size in np.unique(m[use]):  # the exact computation takes one n at a time
            at = use & (m == size)
            low[at], high[at] = exact_paired_interval(b[at], c[at], int(size), confidence=confidence,
                                                      restricted=True)
        if method == "auto":
            name = (EXACT_RESTRICTED if use.all() else TANGO if not use.any() else
                    f"{EXACT_RESTRICTED} where gains + losses or the unchanged items number at most "
                    f"{SUPPORT_MAX_DISCORDANT}, {TANGO} elsewhere")
        else:
            name = EXACT_RESTRICTED if method == "restricted" else TANGO
    est = (b - c) / m
    if est.ndim == 0:
        return {"estimate": float(est), "low": float(low), "high": float(high), "n": int(m), "gains": int(b),
                "losses": int(c), "confidence": confidence, "method": name, "warnings": small_n_warning(int(m))}
    return {"estimate": est, "low": low, "high": high, "n": m, "confidence": confidence, "method": name}


def _cells(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (gains, losses) outcome possible with n paired items."""
    b, c = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    keep = b + c <= n
    return b[keep], c[keep]


def exact_tail_pvalues(n: int, delta: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Both one-sided exact unconditional p-values at gain = ``delta`` for every outcome with n items.

    Outcomes are ordered by Tango's statistic; the upper p of an outcome is the largest probability, over the
    nuisance grid, of an outcome with a statistic at least as large under gain = delta (Suissa-Shuster), the
    lower p the same for at least as small. An outcome lies in the exact interval at ``confidence`` exactly
    when both exceed (1 - confidence) / 2, so one table gives the interval's exact coverage at ``delta``.
    Returns (gains, losses, p_upper, p_lower).
    """
    from scipy.special import gammaln, xlogy

    b, c = _cells(n)
    z = _tango_z(b, c, n, delta)
    order = np.argsort(-z, kind="stable")
    zs, bs, cs = z[order], b[order], c[order]
    with np.errstate(invalid="ignore"):  # inf - inf between equal infinite statistics: same run
        step = np.diff(zs) < -1e-9  # a new run of equal statistics starts after each True
    group = np.cumsum(np.r_[0, step.astype(int)])
    ends, starts = np.flatnonzero(np.r_[step, True]), np.flatnonzero(np.r_[True, step])
    log_cells = gammaln(n + 1) - gammaln(bs + 1) - gammaln(cs + 1) - gammaln(n - bs - cs + 1)
    upper, lower = np.zeros(len(zs)), np.zeros(len(zs))
    for psi in _nuisance_grid(delta):
        pmf = np.exp(log_cells + xlogy(bs, (psi + delta) / 2) + xlogy(cs, (psi - delta) / 2)
                     + xlogy(n - bs - cs, 1 - psi))
        csum = np.cumsum(pmf)
        upper = np.maximum(upper, csum[ends][group])
        lower = np.maximum(lower, (csum[-1] - np.r_[0.0, csum][starts])[group])
    p_up, p_low = np.empty(len(zs)), np.empty(len(zs))
    p_up[order], p_low[order] = np.minimum(upper, 1.0), np.minimum(lower, 1.0)
    return b, c, p_up, p_low


def exact_margin_pvalues(n: int, margin: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The margin test's exact one-sided p-values (H1: gain > margin) for every outcome with n items.

    Returns (gains, losses, p) arrays; used for planning and exact type-I checks.
    """
    b, c, p, _ = exact_tail_pvalues(n, margin)
    return b, c, p


def paired_margin_test(gains: Any, losses: Any, n: Any, margin: float = 0.0, *,
                       exact: bool = True) -> dict[str, Any]:
    """One-sided test of H0: gain <= margin against H1: gain > margin on paired pass/fail items.

    The gain is p(first passes, second fails) - p(second passes, first fails); the statistic is Tango's score
    (at margin 0, McNemar's (b - c) / sqrt(b + c)). For one outcome with n <= EXACT_MAX_N (``exact``) the
    p-value is exact and unconditional (its type-I error stays at or under alpha where the normal
    approximation runs over, with few discordant items); above that, where the changed or the unchanged items
    number at most SUPPORT_MAX_DISCORDANT, the exact p with the nuisance confined to a confidence set
    (``_restricted_upper_p``); otherwise, and for arrays, it is the normal approximation, which agrees with the Tango interval: p < alpha exactly when the lower end of the
    two-sided 1 - 2 alpha interval lies above the margin.
    """
    from scipy.stats import norm

    z = _tango_z(gains, losses, n, margin)
    p = norm.sf(z)
    b, c = np.asarray(gains), np.asarray(losses)
    if p.ndim == 0:
        warnings = []
        m = int(np.asarray(n))
        if margin == 0 and b + c == 0:
            warnings.append("no item changed between the two systems: no evidence of a gain")
            p = np.float64(1.0)
        elif exact and m <= EXACT_MAX_N:
            p = float(_exact_upper_p(b, c, m, np.asarray(margin))[0])
        restricted = exact and m > EXACT_MAX_N and min(b + c, m - b - c) <= SUPPORT_MAX_DISCORDANT
        if restricted:  # few changed (or unchanged) items at large n: where the normal approximation runs over
            p = float(min(1.0, _restricted_upper_p(b, c, m, np.asarray([margin], dtype=float))[0]))
        how = ("exact unconditional" if exact and m <= EXACT_MAX_N else
               "exact unconditional (nuisance restricted to a confidence set, Berger-Boos)" if restricted else
               "normal-approximation")
        return {"z": float(z), "p_value": float(p), "margin": margin, "gains": int(b), "losses": int(c),
                "n": m, "method": f"one-sided {how} test of gain > {margin:g} (Tango's statistic)",
                "warnings": warnings}
    return {"z": z, "p_value": np.where((b + c == 0) & (margin == 0), 1.0, p), "margin": margin}


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment: the i-th smallest of m p-values times (m - i), made non-decreasing."""
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, np.maximum.accumulate(p[order] * np.arange(len(p), 0, -1)))
    out = np.empty(len(p))
    out[order] = stepped
    return out


def adjust_pvalues(p_values: Sequence[float], *, method: str = "holm") -> list[float]:
    """Family-wise adjusted p-values, Holm by default (other methods: statsmodels ``multipletests``).

    nan stays nan. Holm is computed here: statsmodels' Holm branch calls ``gc.collect()`` on every call, which
    costs tens of milliseconds to seconds in a process holding many objects.
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(len(p), np.nan)
    ok = ~np.isnan(p)
    if ok.any() and method == "holm":
        out[ok] = _holm(p[ok])
    elif ok.any():
        from statsmodels.stats.multitest import multipletests

        out[ok] = multipletests(p[ok], method=method)[1]
    return [float(x) for x in out]


def _resample_idx(n: int, n_resamples: int, seed: int, chunk: int = 2000) -> Any:
    rng = np.random.default_rng(seed)
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        yield rng.integers(0, n, size=(size, n), dtype=np.int32 if n < 2**31 else np.int64)


def _is_binary(x: np.ndarray) -> bool:
    return bool(len(x)) and bool(np.isin(x, (0.0, 1.0)).all())


def bootstrap_ci(values: Sequence[float] | np.ndarray, *, statistic: Callable[[np.ndarray], np.ndarray] | None = None,
                 n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """CI of a statistic over items (default: the mean).

    The mean of 0/1 values is a pass rate and gets the Clopper-Pearson interval (the bootstrap collapses to a
    point when every item passes). Anything else gets the percentile bootstrap; ``statistic`` then receives a
    2-D array (resamples x items) and returns one value per row.
    """
    x = np.asarray(values, dtype=float)
    n = len(x)
    if statistic is None and _is_binary(x):
        return {**proportion_ci(int(x.sum()), n, confidence=confidence), "n_resamples": 0}
    if n == 0:
        return {"estimate": float("nan"), "low": float("nan"), "high": float("nan"), "n": 0,
                "n_resamples": n_resamples, "confidence": confidence, "method": PERCENTILE,
                "warnings": ["no items: the statistic is undefined"]}
    stat = statistic or (lambda a: a.mean(axis=-1))
    boots = np.concatenate([stat(x[idx]) for idx in _resample_idx(n, n_resamples, seed)])
    alpha = (1 - confidence) / 2
    low, high = np.quantile(boots, [alpha, 1 - alpha])
    warnings = small_n_warning(n)
    if np.ptp(boots) == 0:
        warnings.append("every resample gave the same value: the bootstrap cannot measure the spread of this "
                        "statistic (all items alike), so the interval is a point, not a certainty")
    return {"estimate": float(stat(x[None, :])[0]), "low": float(low), "high": float(high), "n": n,
            "n_resamples": n_resamples, "confidence": confidence, "method": PERCENTILE, "warnings": warnings}


def win_rate(outcomes: Sequence[str], *, n_resamples: int = 1000, seed: int = 0,
             confidence: float = 0.95) -> dict[str, Any]:
    """Win / tie / loss rates and the win rate with ties as half, with the paired-difference interval.

    ``outcomes`` holds 'win', 'tie' or 'loss' from the first model's point of view; anything else
    (e.g. 'both_bad', 'judge_failure') counts as a tie for the win rate and is also tallied on its own.
    The win rate with ties as half equals 0.5 + (wins - losses) / 2n, so its interval is
    ``paired_proportion_diff``'s for that paired difference, mapped back. ``n_resamples`` and ``seed`` are
    kept for callers; the interval needs no resampling.
    """
    n = len(outcomes)
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o] = counts.get(o, 0) + 1
    wins, losses = counts.get("win", 0), counts.get("loss", 0)
    d = paired_proportion_diff(wins, losses, n, confidence=confidence)
    return {
        "n": n,
        "wins": wins, "losses": losses, "ties": n - wins - losses, "counts": counts,
        "win_rate": wins / n if n else float("nan"),
        "loss_rate": losses / n if n else float("nan"),
        "tie_rate": (n - wins - losses) / n if n else float("nan"),
        "win_rate_ties_half": 0.5 + d["estimate"] / 2,
        "ci_low": 0.5 + d["low"] / 2, "ci_high": 0.5 + d["high"] / 2, "confidence": confidence,
        "ci_method": f"{d['method']} (wins as gains, losses as losses)", "n_resamples": 0,
        "sign_test_p": sign_test(wins, losses)["p_value"],
        "warnings": d["warnings"],
    }


def sign_test(wins: int, losses: int) -> dict[str, float]:
    """Two-sided exact sign test on decisive pairs (ties dropped, as the test requires)."""
    from scipy.stats import binomtest

    k = wins + losses
    if k == 0:
        return {"p_value": 1.0, "n_decisive": 0}
    return {"p_value": float(binomtest(wins, k, 0.5).pvalue), "n_decisive": k}


def paired_t(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """Paired t-test on per-item scores of two systems over the same items (scipy.stats.ttest_rel).

    With fewer than two items, or differences that are all equal, t is 0/0: the p-value is nan and a
    warning names the cause.
    """
    from scipy.stats import ttest_rel

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(x) != len(y):
        raise ValueError("paired_t needs the same items for both systems")
    diff = x - y
    mean = float(diff.mean()) if len(diff) else float("nan")
    if len(x) < 2:
        return {"mean_diff": mean, "t": float("nan"), "p_value": float("nan"), "n": len(x),
                "warnings": [f"{len(x)} paired item(s): a t-test needs at least two"]}
    if np.allclose(diff, diff[0]):
        return {"mean_diff": mean, "t": float("nan"), "p_value": float("nan"), "n": len(x),
                "warnings": [f"every one of the {len(x)} differences equals {diff[0]:g}: their spread is zero, so "
                             "t is undefined (use a test for counts, such as the sign test, instead)"]}
    res = ttest_rel(x, y)
    return {"mean_diff": mean, "t": float(res.statistic), "p_value": float(res.pvalue), "n": len(x),
            "warnings": small_n_warning(len(x))}


def paired_bootstrap_diff(a: Sequence[float], b: Sequence[float], *, n_resamples: int = 1000, seed: int = 0,
                          confidence: float = 0.95) -> dict[str, Any]:
    """CI of mean(a - b) over paired items, plus the one-sided p that the gain is not positive.

    Pass/fail scores (0/1 on both sides) get ``paired_proportion_diff``'s interval and the exact margin test
    at 0; other scores the percentile
    bootstrap, with the share of resampled gains <= 0 as the p-value.
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(x) != len(y):
        raise ValueError("paired_bootstrap_diff needs the same items for both systems")
    if _is_binary(x) and _is_binary(y):
        gains, losses = int(((x == 1) & (y == 0)).sum()), int(((x == 0) & (y == 1)).sum())
        ci = paired_proportion_diff(gains, losses, len(x), confidence=confidence)
        test = paired_margin_test(gains, losses, len(x), 0.0)
        return {**ci, "n_resamples": 0, "p_not_better": test["p_value"],
                "warnings": ci["warnings"] + test["warnings"]}
    d = x - y
    ci = bootstrap_ci(d, statistic=lambda r: r.mean(axis=-1), n_resamples=n_resamples, seed=seed,
                      confidence=confidence)
    boots = np.concatenate([d[idx].mean(axis=1) for idx in _resample_idx(len(d), n_resamples, seed)]) if len(d) \
        else np.array([np.nan])
    ci["p_not_better"] = float((boots <= 0).mean()) if len(d) else float("nan")
    return ci


def _bt_fit(wins: np.ndarray, prior: float, iters: int = 1000, tol: float = 1e-10) -> np.ndarray:
    """MM iterations (Hunter 2004) on a k x k matrix of (fractional) wins; returns centred log strengths."""
    k = len(wins)
    wins = wins + prior / 2 * (1 - np.eye(k))  # one virtual tie per pair keeps every strength finite
    n = wins + wins.T
    w = wins.sum(axis=1)
    p = np.ones(k)
    for _ in range(iters):
        new = w / (n / (p[:, None] + p[None, :])).sum(axis=1)
        new /= np.exp(np.log(new).mean())
        done = np.max(np.abs(np.log(new) - np.log(p))) < tol
        p = new
        if done:
            break
    logp = np.log(p)
    return logp - logp.mean()


def _bt_arrays(comparisons: Sequence[tuple[str, str, float]]) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    models = sorted({m for c in comparisons for m in c[:2]})
    pos = {m: i for i, m in enumerate(models)}
    ia = np.array([pos[c[0]] for c in comparisons])
    ib = np.array([pos[c[1]] for c in comparisons])
    sc = np.array([float(c[2]) for c in comparisons])
    return models, ia, ib, sc


def _bt_wins(k: int, ia: np.ndarray, ib: np.ndarray, sc: np.ndarray) -> np.ndarray:
    wins = np.bincount(ia * k + ib, weights=sc, minlength=k * k).reshape(k, k)
    wins += np.bincount(ib * k + ia, weights=1 - sc, minlength=k * k).reshape(k, k)
    return wins


def bradley_terry(comparisons: Sequence[tuple[str, str, float]], *, prior: float = 1.0) -> dict[str, float]:
    """Bradley-Terry strengths; ties count half a win to each side.

    ``comparisons`` holds (model_i, model_j, score_i) with score_i in {1, 0.5, 0}. Strengths are on a log
    scale centred at 0, so exp(s_i - s_j) is the odds that i beats j. ``prior`` virtual ties per pair keep a
    model that won (or lost) everything at a finite strength.
    """
    models, ia, ib, sc = _bt_arrays(comparisons)
    logp = _bt_fit(_bt_wins(len(models), ia, ib, sc), prior)
    return {m: float(v) for m, v in zip(models, logp)}


def bradley_terry_ci(comparisons: Sequence[tuple[str, str, float]], *, n_resamples: int = 1000, seed: int = 0,
                     confidence: float = 0.95, prior: float = 1.0) -> dict[str, dict[str, float]]:
    """Bradley-Terry strengths with percentile bootstrap CIs (resampling comparisons)."""
    models, ia, ib, sc = _bt_arrays(comparisons)
    k = len(models)
    base = _bt_fit(_bt_wins(k, ia, ib, sc), prior)
    rng = np.random.default_rng(seed)
    draws = np.empty((n_resamples, k))
    for r in range(n_resamples):
        idx = rng.integers(0, len(sc), size=len(sc))
        draws[r] = _bt_fit(_bt_wins(k, ia[idx], ib[idx], sc[idx]), prior, iters=300, tol=1e-8)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(draws, alpha, axis=0), np.quantile(draws, 1 - alpha, axis=0)
    return {m: {"strength": float(base[i]), "low": float(low[i]), "high": float(high[i])}
            for i, m in enumerate(models)}


def cohen_kappa(a: Sequence[Any], b: Sequence[Any]) -> dict[str, Any]:
    """Raw agreement and Cohen's kappa between two raters over the same items.

    When chance agreement is 1 (both raters used one and the same label throughout) kappa is 0/0: it is
    reported as nan with a warning, not as perfect agreement.
    """
    if len(a) != len(b):
        raise ValueError("cohen_kappa needs the same number of labels from both raters")
    n = len(a)
    if n == 0:
        return {"agreement": float("nan"), "kappa": float("nan"), "n": 0, "warnings": ["no items to compare"]}
    labels = sorted({str(x) for x in a} | {str(x) for x in b})
    ia = np.array([labels.index(str(x)) for x in a])
    ib = np.array([labels.index(str(x)) for x in b])
    po = float((ia == ib).mean())
    pa = np.bincount(ia, minlength=len(labels)) / n
    pb = np.bincount(ib, minlength=len(labels)) / n
    pe = float((pa * pb).sum())
    warnings = small_n_warning(n)
    if pe >= 1.0:
        kappa = float("nan")
        warnings.append(f"both raters gave the label {labels[0]!r} to all {n} items: chance agreement is 1 and "
                        "kappa is 0/0; label items of more than one class to measure agreement")
    else:
        kappa = (po - pe) / (1 - pe)
        for who, idx in (("first", ia), ("second", ib)):
            if len(set(idx.tolist())) == 1:
                warnings.append(f"the {who} rater gave {labels[int(idx[0])]!r} to all {n} items: kappa is 0 "
                                "whatever the other rater did (no agreement beyond chance can be measured), "
                                "and it has no interval")
    return {"agreement": po, "kappa": float(kappa), "n": n, "warnings": warnings}


def _restricted_loss_rate(p_gain: float, p_loss: float, margin: float) -> float:
    """Tango's maximum-likelihood loss rate under H0: gain = margin, evaluated at population rates."""
    w = -p_gain - p_loss + (2 - p_gain + p_loss) * margin
    return (math.sqrt(w * w + 8 * p_loss * margin * (1 - margin)) - w) / 4


def plan_sample_size(*, kind: str, baseline: float, target: float, alpha: float = 0.05,
                     power: float = 0.8, paired_discordance: float | None = None,
                     margin: float | None = None) -> dict[str, Any]:
    """Items needed to detect a change from ``baseline`` to ``target``.

    * ``win_rate``: two-sided one-sample test of a win rate against ``baseline`` (0.5 = no preference).
    * ``accuracy``: two systems on separate samples (two-sided two-proportion z-test), or, when
      ``paired_discordance`` (share of items where exactly one system is right) is given, the same items
      for both systems (two-sided McNemar, Connor 1987).
    * ``accuracy`` with ``margin`` (and ``paired_discordance``): the release gate's test, one-sided at level
      ``alpha``, of gain > margin on paired items (Tango's score test; sample size after Nam 1997).
    """
    from scipy.stats import norm

    if not (0 < baseline < 1 and 0 < target < 1) or baseline == target:
        raise ValueError("baseline and target must be distinct proportions strictly between 0 and 1")
    za, zb = norm.ppf(1 - alpha / 2), norm.ppf(power)
    delta = abs(target - baseline)
    if margin is not None:
        if kind != "accuracy" or paired_discordance is None:
            raise ValueError("a margin plan is for paired accuracy: give kind='accuracy' and paired_discordance")
        gain, pd = target - baseline, float(paired_discordance)
        if gain <= margin:
            raise ValueError("target - baseline must exceed the margin the gate tests")
        if pd <= abs(gain):
            raise ValueError("paired_discordance must exceed the accuracy difference")
        p_gain, p_loss = (pd + gain) / 2, (pd - gain) / 2
        sd0 = math.sqrt(2 * _restricted_loss_rate(p_gain, p_loss, margin) + margin * (1 - margin))
        sd1 = math.sqrt(pd - gain ** 2)
        n = (norm.ppf(1 - alpha) * sd0 + zb * sd1) ** 2 / (gain - margin) ** 2
        method = f"one-sided Tango score test of gain > {margin:g} on paired items (the release gate's test)"
    elif kind == "win_rate":
        n = ((za * math.sqrt(baseline * (1 - baseline)) + zb * math.sqrt(target * (1 - target))) / delta) ** 2
        method = "one-sample proportion test (normal approximation)"
    elif kind == "accuracy" and paired_discordance is None:
        pbar = (baseline + target) / 2
        n = ((za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(baseline * (1 - baseline)
                                                                   + target * (1 - target))) / delta) ** 2
        method = "two-proportion z-test, independent samples (n per system)"
    elif kind == "accuracy":
        pd = float(paired_discordance)
        if pd <= delta:
            raise ValueError("paired_discordance must exceed the accuracy difference")
        n = (za * math.sqrt(pd) + zb * math.sqrt(pd - delta ** 2)) ** 2 / delta ** 2
        method = "McNemar test on paired items (Connor 1987)"
    else:
        raise ValueError("kind must be 'win_rate' or 'accuracy'")
    return {"n": int(math.ceil(n)), "method": method, "alpha": alpha, "power": power, "margin": margin,
            "baseline": baseline, "target": target, "min_detectable_effect": round(delta, 6)}


def percentiles(values: Sequence[float], qs: Sequence[float] = (50, 95, 99)) -> dict[str, float | None]:
    if not len(values):
        return {f"p{int(q)}": None for q in qs}
    arr = np.asarray(values, dtype=float)
    return {f"p{int(q)}": float(np.percentile(arr, q)) for q in qs}


def kappa_bootstrap_ci(a: Sequence[Any], b: Sequence[Any], *, n_resamples: int = 2000, seed: int = 0,
                       level: float = 0.95) -> tuple[float | None, float | None]:
    """Percentile bootstrap interval of Cohen's kappa between two raters, resampling the rated items.

    None, None below two items, and when either rater gave one label to every item: kappa is then 0 whatever
    the other rater did, in every resample too, and a [0, 0] interval would read as certainty about a number
    that measures nothing (``cohen_kappa`` warns). A resample in which both raters used one label has no
    kappa (0/0) and is left out of the quantiles."""
    n = len(a)
    if n != len(b):
        raise ValueError("kappa_bootstrap_ci needs the same number of labels from both raters")
    if n < 2 or len({str(x) for x in a}) < 2 or len({str(x) for x in b}) < 2:
        return None, None
    labels = sorted({str(x) for x in a} | {str(x) for x in b})
    ia = np.array([labels.index(str(x)) for x in a])
    ib = np.array([labels.index(str(x)) for x in b])
    idx = np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))
    xa, xb = ia[idx], ib[idx]
    po = (xa == xb).mean(axis=1)
    pa = np.stack([(xa == k).mean(axis=1) for k in range(len(labels))], axis=1)
    pb = np.stack([(xb == k).mean(axis=1) for k in range(len(labels))], axis=1)
    pe = (pa * pb).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        kap = np.where(pe >= 1.0, np.nan, (po - pe) / (1.0 - pe))
    if np.isnan(kap).all():
        return None, None
    tail = (1 - level) / 2
    return float(np.nanquantile(kap, tail)), float(np.nanquantile(kap, 1 - tail))
