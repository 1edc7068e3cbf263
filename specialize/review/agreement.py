"""Agreement between people and the judge on a judge-validation review.

Verdicts are compared the way ``run_pairwise_judge`` compares its ``human_labels``: A better, B better, or
tie, with "both bad" counted as a tie on both sides. Every answer (item x annotator) is one comparison.
Reported: n, raw agreement, Cohen's kappa with a percentile bootstrap CI, the judge x human confusion
matrix, the judge's position-flip rate on the labelled items, and pass/fail against the threshold.
"""

from __future__ import annotations

from typing import Any


from specialize.evaluation import stats
from specialize.review import store

LABELS = ("A_better", "B_better", "tie")
FOLD = {"A_better": "A_better", "B_better": "B_better", "tie": "tie", "both_bad": "tie"}


def kappa_bootstrap(human: list[str], judge: list[str], *, n_resamples: int = 2000, seed: int = 0,
                    level: float = 0.95) -> tuple[float | None, float | None]:
    """Percentile bootstrap CI of Cohen's kappa, resampling the labelled comparisons."""
    from specialize.evaluation.stats import kappa_bootstrap_ci

    return kappa_bootstrap_ci(human, judge, n_resamples=n_resamples, seed=seed, level=level)


def agreement(review_id: str, *, n_resamples: int = 2000, seed: int = 0) -> dict[str, Any]:
    review = store.load_review(review_id)
    items = {it["key"]: it for it in store.load_items(review_id)}
    answers = [a for a in store.latest_answers(review_id).values() if a["key"] in items]
    answers.sort(key=lambda a: (a["key"], a["annotator"]))
    human = [FOLD[a["verdict"]] for a in answers]
    judge = [FOLD[items[a["key"]]["judge_verdict"]] for a in answers]
    matrix = {jl: {hl: 0 for hl in LABELS} for jl in LABELS}
    for hv, jv in zip(human, judge):
        matrix[jv][hv] += 1
    labelled = sorted({a["key"] for a in answers})
    flips = [items[k] for k in labelled if items[k].get("judge_consistent") is not None]
    flip_rate = (sum(1 for it in flips if not it["judge_consistent"]) / len(flips)) if flips else None
    per_annotator = {}
    for name in sorted({a["annotator"] for a in answers}):
        hs = [h for a, h in zip(answers, human) if a["annotator"] == name]
        js = [j for a, j in zip(answers, judge) if a["annotator"] == name]
        k = stats.cohen_kappa(hs, js)
        per_annotator[name] = {"n": len(hs), "agreement": k["agreement"], "kappa": k["kappa"]}
    threshold = float(review.get("agreement_threshold", 0.8))
    min_labels = int(review.get("min_labels", 20))
    out: dict[str, Any] = {
        "review_id": review_id, "n": len(answers), "items_labelled": len(labelled), "items": len(items),
        "agreement": None, "kappa": None, "kappa_ci_low": None, "kappa_ci_high": None,
        "confusion": matrix, "position_flip_rate": flip_rate, "per_annotator": per_annotator,
        "threshold": threshold, "min_labels": min_labels, "status": "not_enough_labels",
        "judge_model": review.get("judge_model"), "rubric": review.get("rubric"),
        "rubric_sha256": review.get("rubric_sha256"),
    }
    if answers:
        k = stats.cohen_kappa(human, judge)
        lo, hi = kappa_bootstrap(human, judge, n_resamples=n_resamples, seed=seed)
        out.update(agreement=k["agreement"], kappa=k["kappa"], kappa_ci_low=lo, kappa_ci_high=hi)
        if len(answers) >= min_labels:
            out["status"] = "pass" if k["agreement"] >= threshold else "fail"
    return out
