"""Statistics for evaluation: bootstrap CIs, paired tests, Bradley-Terry, agreement and sample-size planning.

Everything is seeded so the same inputs give the same numbers. scipy does the tests it has (paired t-test,
binomial sign test, normal quantiles); the bootstrap is vectorised numpy (index matrix of resamples) and
uses the percentile method, which is what ``scipy.stats.bootstrap(..., method="percentile")`` computes.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

VERDICT_SCORE = {"win": 1.0, "tie": 0.5, "loss": 0.0}


def _resample_idx(n: int, n_resamples: int, seed: int, chunk: int = 2000) -> Any:
    rng = np.random.default_rng(seed)
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        yield rng.integers(0, n, size=(size, n), dtype=np.int32 if n < 2**31 else np.int64)


def bootstrap_ci(values: Sequence[float] | np.ndarray, *, statistic: Callable[[np.ndarray], np.ndarray] | None = None,
                 n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0) -> dict[str, float]:
    """Percentile bootstrap CI of a statistic over items (default: the mean).

    ``statistic`` receives a 2-D array (resamples x items) and returns one value per row.
    """
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 0:
        return {"estimate": float("nan"), "low": float("nan"), "high": float("nan"), "n": 0,
                "n_resamples": n_resamples}
    stat = statistic or (lambda a: a.mean(axis=-1))
    boots = np.concatenate([stat(x[idx]) for idx in _resample_idx(n, n_resamples, seed)])
    alpha = (1 - confidence) / 2
    low, high = np.quantile(boots, [alpha, 1 - alpha])
    return {"estimate": float(stat(x[None, :])[0]), "low": float(low), "high": float(high), "n": n,
            "n_resamples": n_resamples, "confidence": confidence}


def win_rate(outcomes: Sequence[str], *, n_resamples: int = 1000, seed: int = 0,
             confidence: float = 0.95) -> dict[str, Any]:
    """Win / tie / loss rates and the win rate with ties as half, with a bootstrap CI.

    ``outcomes`` holds 'win', 'tie' or 'loss' from the first model's point of view; anything else
    (e.g. 'both_bad', 'judge_failure') counts as a tie for the win rate and is also tallied on its own.
    """
    n = len(outcomes)
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o] = counts.get(o, 0) + 1
    scores = np.array([VERDICT_SCORE.get(o, 0.5) for o in outcomes], dtype=float)
    ci = bootstrap_ci(scores, n_resamples=n_resamples, seed=seed, confidence=confidence)
    wins, losses = counts.get("win", 0), counts.get("loss", 0)
    return {
        "n": n,
        "wins": wins, "losses": losses, "ties": n - wins - losses, "counts": counts,
        "win_rate": wins / n if n else float("nan"),
        "loss_rate": losses / n if n else float("nan"),
        "tie_rate": (n - wins - losses) / n if n else float("nan"),
        "win_rate_ties_half": ci["estimate"],
        "ci_low": ci["low"], "ci_high": ci["high"], "confidence": confidence, "n_resamples": n_resamples,
        "sign_test_p": sign_test(wins, losses)["p_value"],
    }


def sign_test(wins: int, losses: int) -> dict[str, float]:
    """Two-sided exact sign test on decisive pairs (ties dropped, as the test requires)."""
    from scipy.stats import binomtest

    k = wins + losses
    if k == 0:
        return {"p_value": 1.0, "n_decisive": 0}
    return {"p_value": float(binomtest(wins, k, 0.5).pvalue), "n_decisive": k}


def paired_t(a: Sequence[float], b: Sequence[float]) -> dict[str, float]:
    """Paired t-test on per-item scores of two systems over the same items (scipy.stats.ttest_rel)."""
    from scipy.stats import ttest_rel

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(x) != len(y):
        raise ValueError("paired_t needs the same items for both systems")
    diff = x - y
    if len(x) < 2 or np.allclose(diff, diff[0]):
        # no spread in the differences: the t statistic is undefined
        mean = float(diff.mean()) if len(diff) else 0.0
        certain = len(x) >= 2 and mean != 0.0  # every item moved by the same non-zero amount
        return {"mean_diff": mean, "t": float("nan"), "p_value": 0.0 if certain else 1.0, "n": len(x)}
    res = ttest_rel(x, y)
    return {"mean_diff": float(diff.mean()), "t": float(res.statistic), "p_value": float(res.pvalue), "n": len(x)}


def paired_bootstrap_diff(a: Sequence[float], b: Sequence[float], *, n_resamples: int = 1000, seed: int = 0,
                          confidence: float = 0.95) -> dict[str, float]:
    """Bootstrap CI of mean(a - b) over paired items, plus the one-sided p that the gain is not positive."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    ci = bootstrap_ci(d, n_resamples=n_resamples, seed=seed, confidence=confidence)
    boots = np.concatenate([d[idx].mean(axis=1) for idx in _resample_idx(len(d), n_resamples, seed)]) if len(d) \
        else np.array([0.0])
    ci["p_not_better"] = float((boots <= 0).mean())
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


def cohen_kappa(a: Sequence[Any], b: Sequence[Any]) -> dict[str, float]:
    """Raw agreement and Cohen's kappa between two raters over the same items."""
    if len(a) != len(b):
        raise ValueError("cohen_kappa needs the same number of labels from both raters")
    n = len(a)
    if n == 0:
        return {"agreement": float("nan"), "kappa": float("nan"), "n": 0}
    labels = sorted({str(x) for x in a} | {str(x) for x in b})
    ia = np.array([labels.index(str(x)) for x in a])
    ib = np.array([labels.index(str(x)) for x in b])
    po = float((ia == ib).mean())
    pa = np.bincount(ia, minlength=len(labels)) / n
    pb = np.bincount(ib, minlength=len(labels)) / n
    pe = float((pa * pb).sum())
    kappa = 1.0 if pe >= 1.0 else (po - pe) / (1 - pe)
    return {"agreement": po, "kappa": float(kappa), "n": n}


def plan_sample_size(*, kind: str, baseline: float, target: float, alpha: float = 0.05,
                     power: float = 0.8, paired_discordance: float | None = None) -> dict[str, Any]:
    """Items needed to detect a change from ``baseline`` to ``target`` with a two-sided test.

    * ``win_rate``: one-sample test of a win rate against ``baseline`` (0.5 = no preference).
    * ``accuracy``: two systems on separate samples (two-proportion z-test), or, when
      ``paired_discordance`` (share of items where exactly one system is right) is given, the same items
      for both systems (McNemar, Connor 1987).
    """
    from scipy.stats import norm

    if not (0 < baseline < 1 and 0 < target < 1) or baseline == target:
        raise ValueError("baseline and target must be distinct proportions strictly between 0 and 1")
    za, zb = norm.ppf(1 - alpha / 2), norm.ppf(power)
    delta = abs(target - baseline)
    if kind == "win_rate":
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
    return {"n": int(math.ceil(n)), "method": method, "alpha": alpha, "power": power,
            "baseline": baseline, "target": target, "min_detectable_effect": round(delta, 6)}


def percentiles(values: Sequence[float], qs: Sequence[float] = (50, 95, 99)) -> dict[str, float | None]:
    if not len(values):
        return {f"p{int(q)}": None for q in qs}
    arr = np.asarray(values, dtype=float)
    return {f"p{int(q)}": float(np.percentile(arr, q)) for q in qs}
