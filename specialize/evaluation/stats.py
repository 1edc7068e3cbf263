"""Statistics for evaluation: intervals, paired tests, margin tests, Bradley-Terry, agreement and sample sizes.

Which interval where, chosen by measured coverage (``bench/bench_stats.py`` prints the tables):

* a pass/fail rate (accuracy, parse rate, schema pass rate): Clopper-Pearson, the exact binomial interval
  (statsmodels ``proportion_confint(method="beta")``). It is the one method whose coverage stays at or above
  nominal at every rate, 0 and 1 included; Wilson dips to about 85% next to the edges at n = 10-50.
* a difference between two systems' pass/fail rates on the same items, and a pairwise win rate (ties as
  half): Tango's score interval for paired proportions. A win rate with ties as half is 0.5 + (W - L) / 2n,
  the same quantity as a paired difference whose gains are wins and whose losses are losses.
* any other statistic (macro-F1, mean judge scores): the percentile bootstrap, vectorised over an index matrix
  (what ``scipy.stats.bootstrap(..., method="percentile")`` computes).

Results name their method, and carry ``warnings`` for small samples and for inputs that leave a statistic
undefined (those give ``nan`` rather than a confident-looking number). Everything is seeded.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

VERDICT_SCORE = {"win": 1.0, "tie": 0.5, "loss": 0.0}
SMALL_N = 30  # below this many items a result carries a small-sample warning
CLOPPER_PEARSON = "Clopper-Pearson exact binomial interval"
TANGO = "Tango score interval for paired proportions"
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


def paired_proportion_diff(gains: Any, losses: Any, n: Any, *, confidence: float = 0.95) -> dict[str, Any]:
    """Tango's score interval for the difference of two paired pass rates, (gains - losses) / n.

    ``gains``: items only the first system passes; ``losses``: items only the second passes; ``n``: all
    paired items. Arrays work too (every value then becomes an array), which the coverage checks use.
    """
    from scipy.stats import norm

    z = norm.ppf(1 - (1 - confidence) / 2)
    b, c, m = (np.asarray(v) for v in (gains, losses, n))
    if np.any(m <= 0):
        return {"estimate": float("nan"), "low": float("nan"), "high": float("nan"), "n": 0, "gains": 0,
                "losses": 0, "confidence": confidence, "method": TANGO,
                "warnings": ["no paired items: the difference is undefined"]}
    low, high = _tango_root(b, c, m, z), _tango_root(b, c, m, -z)
    est = (b - c) / m
    if est.ndim == 0:
        return {"estimate": float(est), "low": float(low), "high": float(high), "n": int(m), "gains": int(b),
                "losses": int(c), "confidence": confidence, "method": TANGO, "warnings": small_n_warning(int(m))}
    return {"estimate": est, "low": low, "high": high, "n": m, "confidence": confidence, "method": TANGO}


EXACT_MAX_N = 2000  # above this many items the margin test uses the normal approximation
_NUISANCE_GRID = 200


def _cells(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (gains, losses) outcome possible with n paired items."""
    b, c = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    keep = b + c <= n
    return b[keep], c[keep]


def _null_cell_logpmf(b: np.ndarray, c: np.ndarray, n: int, margin: float) -> Any:
    """Log-probability of each (gains, losses) cell under H0 gain = margin, one row per discordance value.

    The discordance (share of items where exactly one system passes) is the nuisance; its grid is denser
    near its smallest possible value, the margin itself, where the normal approximation is worst.
    """
    from scipy.special import gammaln, xlogy

    u = np.linspace(0, 1, _NUISANCE_GRID + 1)[1:]
    for psi in margin + (1 - margin) * u ** 2:
        p_gain, p_loss = (psi + margin) / 2, (psi - margin) / 2
        yield (gammaln(n + 1) - gammaln(b + 1) - gammaln(c + 1) - gammaln(n - b - c + 1)
               + xlogy(b, p_gain) + xlogy(c, p_loss) + xlogy(n - b - c, 1 - psi))


def exact_margin_pvalues(n: int, margin: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-sided unconditional exact p-values of the margin test for every outcome with n items.

    Outcomes are ordered by Tango's statistic; a p-value is the largest probability, over the nuisance
    discordance, of an outcome at least as extreme under H0 gain = margin (the Suissa-Shuster construction).
    Returns (gains, losses, p) arrays; used for planning and exact type-I checks.
    """
    b, c = _cells(n)
    z = _tango_z(b, c, n, margin)
    order = np.argsort(-z, kind="stable")
    zs = z[order]
    ends = np.flatnonzero(np.r_[np.diff(zs) < -1e-9, True])  # last position of each run of equal statistics
    group = np.cumsum(np.r_[0, (np.diff(zs) < -1e-9).astype(int)])
    p_sorted = np.zeros(len(zs))
    for logp in _null_cell_logpmf(b[order], c[order], n, margin):
        p_sorted = np.maximum(p_sorted, np.cumsum(np.exp(logp))[ends][group])
    p = np.empty_like(p_sorted)
    p[order] = np.minimum(p_sorted, 1.0)
    return b, c, p


def _exact_margin_pvalue(gains: int, losses: int, n: int, margin: float) -> float:
    """The exact unconditional p of one outcome, summed per discordant count k (O(n) per nuisance value).

    For a fixed k = gains + losses Tango's statistic grows with the gains, so the outcomes at least as
    extreme as the observed one are gains >= b_min(k); gains given k are binomial with
    p = p(gain) / discordance, and k is binomial in n with p = discordance.
    """
    from scipy.stats import binom

    b, c = _cells(n)
    extreme = _tango_z(b, c, n, margin) >= float(_tango_z(gains, losses, n, margin)) - 1e-9
    b_min = np.full(n + 1, n + 1)
    np.minimum.at(b_min, (b + c)[extreme], b[extreme])
    k = np.arange(n + 1)
    u = np.linspace(0, 1, _NUISANCE_GRID + 1)[1:]
    best = 0.0
    for psi in margin + (1 - margin) * u ** 2:
        share = (psi + margin) / (2 * psi)
        best = max(best, float((binom.pmf(k, n, psi) * binom.sf(b_min - 1, k, share)).sum()))
    return min(1.0, best)


def paired_margin_test(gains: Any, losses: Any, n: Any, margin: float = 0.0, *,
                       exact: bool = True) -> dict[str, Any]:
    """One-sided test of H0: gain <= margin against H1: gain > margin on paired pass/fail items.

    The gain is p(first passes, second fails) - p(second passes, first fails); the statistic is Tango's score
    (at margin 0, McNemar's (b - c) / sqrt(b + c)). For one outcome with n <= EXACT_MAX_N (``exact``) the
    p-value is exact and unconditional (its type-I error stays at or under alpha where the normal
    approximation runs over, with few discordant items); otherwise, and for arrays, it is the normal
    approximation, which agrees with the Tango interval: p < alpha exactly when the lower end of the
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
            p = _exact_margin_pvalue(int(b), int(c), m, margin)
        how = "exact unconditional" if exact and m <= EXACT_MAX_N else "normal-approximation"
        return {"z": float(z), "p_value": float(p), "margin": margin, "gains": int(b), "losses": int(c),
                "n": m, "method": f"one-sided {how} test of gain > {margin:g} (Tango's statistic)",
                "warnings": warnings}
    return {"z": z, "p_value": np.where((b + c == 0) & (margin == 0), 1.0, p), "margin": margin}


def adjust_pvalues(p_values: Sequence[float], *, method: str = "holm") -> list[float]:
    """Family-wise adjusted p-values (statsmodels ``multipletests``; Holm by default); nan stays nan."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p_values, dtype=float)
    out = np.full(len(p), np.nan)
    ok = ~np.isnan(p)
    if ok.any():
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
    """Win / tie / loss rates and the win rate with ties as half, with Tango's score interval.

    ``outcomes`` holds 'win', 'tie' or 'loss' from the first model's point of view; anything else
    (e.g. 'both_bad', 'judge_failure') counts as a tie for the win rate and is also tallied on its own.
    The win rate with ties as half equals 0.5 + (wins - losses) / 2n, so its interval is Tango's interval for
    that paired difference, mapped back. ``n_resamples`` and ``seed`` are kept for callers; the interval
    needs no resampling.
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
        "ci_method": f"{TANGO} (wins as gains, losses as losses)", "n_resamples": 0,
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

    Pass/fail scores (0/1 on both sides) get Tango's score interval and test; other scores the percentile
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

    A resample where both raters used a single label has no defined kappa; like ``cohen_kappa`` it counts as
    1.0 when they agree on that label. None, None below two items."""
    n = len(a)
    if n != len(b):
        raise ValueError("kappa_bootstrap_ci needs the same number of labels from both raters")
    if n < 2:
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
        kap = np.where(pe >= 1.0, 1.0, (po - pe) / (1.0 - pe))
    tail = (1 - level) / 2
    return float(np.quantile(kap, tail)), float(np.quantile(kap, 1 - tail))
