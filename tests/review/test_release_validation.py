"""release_gate and the judge-validation review: the judge criterion says not_validated until the review passes,
then uses the judge's verdicts; a review of another judge or rubric never validates these judgments."""

from __future__ import annotations

import json

from specialize.tools.release import ReleaseGateParams, release_gate
from specialize.tools.review import ExportReviewParams, export_review

from specialize.review import store
from tests.review.conftest import JUDGE
from tests.tools.test_release import _write


def _judge_criterion(ws, judgments, validation):
    cand = _write(ws, "cand", [True] * 10)
    res = release_gate(ReleaseGateParams(candidate=cand, judgments=judgments, judge_validation=validation))
    return {c.name: c for c in res.criteria}["judge"]


def _agree(rid, item, who, agree=True):
    """Answer on the blinded page's terms: the side that shows the model the judge preferred (or the other)."""
    verdict = JUDGE[item["id"]]
    if verdict == "tie":
        shown = "tie" if agree else "left"
    else:
        side = "left" if item["shown_order"][0] == verdict[0] else "right"
        shown = side if agree else {"left": "right", "right": "left"}[side]
    store.record_answer(rid, item["key"], who, shown)


def test_the_judge_counts_only_after_its_review_passed(judged):
    ws, judgments = judged
    rid = store.create_review("judge", judgments, sample=None, seed=1, threshold=0.8, min_labels=6)["review_id"]
    items = store.load_items(rid)

    crit = _judge_criterion(ws, judgments, rid)
    assert crit.status == "not_measured" and crit.detail.startswith("not_validated")
    assert "not_enough_labels" in crit.detail and crit.values.judge_validated_by == rid

    # 5 of 6 answers agree with the judge: agreement 5/6 = 0.833 >= 0.8 with 6 >= 6 answers, so it passes
    for n, it in enumerate(items[:6]):
        _agree(rid, it, "ann", agree=n != 0)
    crit = _judge_criterion(ws, judgments, rid)
    assert crit.detail.startswith("validated judge") and crit.status in ("pass", "fail")
    assert abs(crit.values.judge_agreement - 5 / 6) < 1e-12

    # the exported validation.json says the same
    out = export_review(ExportReviewParams(review_id=rid))
    crit_file = _judge_criterion(ws, judgments, out.validation_path)
    assert crit_file.status == crit.status and crit_file.values.judge_agreement == crit.values.judge_agreement

    # a validation of another judge model does not carry over
    other = json.loads((ws / out.validation_path).read_text())
    other["judge_model"] = "openai/another-judge"
    (ws / "other_validation.json").write_text(json.dumps(other))
    crit = _judge_criterion(ws, judgments, "other_validation.json")
    assert crit.status == "not_measured" and "judge model" in crit.detail

    # a second person who disagrees everywhere pulls agreement to 5/12 < 0.8: no longer validated
    for it in items[:6]:
        _agree(rid, it, "bob", agree=False)
    crit = _judge_criterion(ws, judgments, rid)
    assert crit.status == "not_measured" and "'fail'" in crit.detail
