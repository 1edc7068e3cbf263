"""Paired comparisons of two run_eval results: same eval set, same items, one test for the gain.

The release gate and compare_models both compare systems scored on one eval set. Here the two results files
must carry the same eval-set sha256, the difference and its test are computed on the items both scored, and
the question asked is the one the decision needs: is the gain larger than a margin (one-sided), or do two
systems differ at all (two-sided).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from specialize.evaluation import stats
from specialize.runtime.errors import InvalidInput

# metrics scored pass/fail per item, and how to read the flag from one example of a results file
PER_ITEM: dict[str, Callable[[dict[str, Any]], bool]] = {
    "accuracy": lambda e: "ref_label" in e and e.get("pred_label") == e.get("ref_label"),
    "critical_field_accuracy": lambda e: bool(e.get("critical_ok")),
    "exact_match": lambda e: bool(e.get("exact_match")), "exact_key_match": lambda e: bool(e.get("key_match")),
    "schema_pass_rate": lambda e: bool(e.get("schema_valid")), "parse_rate": lambda e: bool(e.get("parsed")),
    "tool_name_accuracy": lambda e: bool(e.get("tool_name_ok")),
    "argument_accuracy": lambda e: bool(e.get("args_ok")), "correct_rate": lambda e: bool(e.get("correct")),
}
BOOTSTRAP_RESAMPLES = 2000


def eval_set_sha(doc: dict[str, Any]) -> str | None:
    return (doc.get("eval_set") or {}).get("sha256")


def require_same_eval_set(docs: dict[str, dict[str, Any]]) -> str:
    """The shared eval-set sha256 of the named results files; InvalidInput when one lacks it or they differ."""
    shas = {name: eval_set_sha(doc) for name, doc in docs.items()}
    missing = [name for name, sha in shas.items() if not sha]
    if missing:
        raise InvalidInput(f"Results {', '.join(missing)} do not say which eval set they scored (no eval_set.sha256), "
                           "so a paired comparison cannot be checked as like for like.",
                           fix="Pass results files written by run_eval, which records the eval set's sha256.")
    if len(set(shas.values())) > 1:
        listing = "; ".join(f"{name}: {(docs[name].get('eval_set') or {}).get('path', '?')} sha256 {sha[:12]}…"
                            for name, sha in shas.items())
        raise InvalidInput(f"The results come from different eval sets ({listing}); their scores are not comparable "
                           "item for item.",
                           fix="Run run_eval for every model on the same eval-set file and pass those results.")
    return next(iter(shas.values()))


def _shared(a: dict[str, Any], b: dict[str, Any]) -> tuple[list[str], dict[str, Any], dict[str, Any], int, int]:
    ax = {str(e["id"]): e for e in a["examples"]}
    bx = {str(e["id"]): e for e in b["examples"]}
    ids = sorted(set(ax) & set(bx))
    return ids, ax, bx, len(set(ax) - set(bx)), len(set(bx) - set(ax))


def _macro_f1_boot(ids: list[str], ax: dict[str, Any], bx: dict[str, Any],
                   seed: int) -> tuple[float, float, np.ndarray]:
    from specialize.evaluation.metrics import _macro_f1

    labels = sorted({str(ax[i].get("ref_label")) for i in ids})
    k = len(labels)
    idx = {lab: n for n, lab in enumerate(labels)}
    yt = np.array([idx[str(ax[i].get("ref_label"))] for i in ids])
    ya = np.array([idx.get(str(ax[i].get("pred_label")), k) for i in ids])
    yb = np.array([idx.get(str(bx[i].get("pred_label")), k) for i in ids])
    res = np.random.default_rng(seed).integers(0, len(ids), size=(BOOTSTRAP_RESAMPLES, len(ids)))
    boots = _macro_f1(yt[res], ya[res], k) - _macro_f1(yt[res], yb[res], k)
    return float(_macro_f1(yt, ya, k)[0]), float(_macro_f1(yt, yb, k)[0]), boots


def gain_test(a: dict[str, Any], b: dict[str, Any], metric: str, *, margin: float = 0.0, alpha: float = 0.05,
              two_sided: bool = False, seed: int = 0) -> dict[str, Any] | None:
    """Gain of ``a`` over ``b`` on ``metric`` and its test, both on the items the two results share.

    One-sided (default): H0 gain <= margin against H1 gain > margin; ``ci_low`` is the matching one-sided
    lower bound (for pass/fail metrics ``ci_low`` > margin implies p <= ``alpha``; the exact p is not monotone
    in the margin, so an outcome with p just under ``alpha`` can still have ``ci_low`` a little below it). Two-sided (margin 0 only):
    H0 no difference. Pass/fail metrics use the exact test ordered by Tango's statistic and the exact paired
    interval built from the same tests; macro_f1 a paired bootstrap (p = share of resampled gains at or below
    the margin). Returns None for a metric with neither.
    The caller checks the eval sets first (``require_same_eval_set``).
    """
    if metric not in PER_ITEM and metric != "macro_f1":
        return None
    ids, ax, bx, only_a, only_b = _shared(a, b)
    out: dict[str, Any] = {"metric": metric, "n_shared": len(ids), "only_first": only_a, "only_second": only_b,
                           "margin": margin, "alpha": alpha, "two_sided": two_sided}
    if not ids:
        return {**out, "diff": float("nan"), "p_value": float("nan"), "ci_low": float("nan"),
                "ci_high": float("nan"), "value_first": float("nan"), "value_second": float("nan"),
                "method": "none", "warnings": ["the two results share no item ids"]}
    if metric in PER_ITEM:
        fa = np.array([PER_ITEM[metric](ax[i]) for i in ids])
        fb = np.array([PER_ITEM[metric](bx[i]) for i in ids])
        gains, losses, n = int((fa & ~fb).sum()), int((fb & ~fa).sum()), len(ids)
        level = 1 - alpha if two_sided else 1 - 2 * alpha
        ci = stats.paired_proportion_diff(gains, losses, n, confidence=level)
        test = stats.paired_margin_test(gains, losses, n, margin)
        p = test["p_value"]
        if two_sided:
            rev = stats.paired_margin_test(losses, gains, n, 0.0)["p_value"]
            p = min(1.0, 2 * min(p, rev))
        out.update(value_first=float(fa.mean()), value_second=float(fb.mean()), gains=gains, losses=losses,
                   diff=ci["estimate"], ci_low=ci["low"], ci_high=ci["high"], ci_confidence=level, p_value=p,
                   method=("two-sided test (twice the smaller one-sided exact unconditional p, McNemar's "
                           "statistic)" if two_sided else test["method"])
                   + f" on {n} shared items ({gains} gained, {losses} lost)",
                   warnings=ci["warnings"] + test["warnings"])
        return out
    va, vb, boots = _macro_f1_boot(ids, ax, bx, seed)
    if two_sided:
        p = min(1.0, 2 * min(float((boots <= 0).mean()), float((boots >= 0).mean())))
        low, high = np.quantile(boots, [alpha / 2, 1 - alpha / 2])
    else:
        p = float((boots <= margin).mean())
        low, high = np.quantile(boots, [alpha, 1 - alpha])
    out.update(diff=va - vb, ci_low=float(low), ci_high=float(high),
               ci_confidence=1 - alpha if two_sided else 1 - 2 * alpha, p_value=p, value_first=va, value_second=vb,
               method=f"paired percentile bootstrap ({BOOTSTRAP_RESAMPLES:,} resamples) on {len(ids)} shared items",
               warnings=stats.small_n_warning(len(ids)))
    return out
