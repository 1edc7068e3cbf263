"""The review's sampling and statistics, with every expected number worked out by hand."""

from __future__ import annotations

import random

import pytest

from specialize.review import agreement, store


def test_stratified_sample_is_proportional_and_keeps_every_stratum():
    rows = [{"s": "a"}] * 30 + [{"s": "b"}] * 9 + [{"s": "c"}] * 1
    rows = [dict(r, i=i) for i, r in enumerate(rows)]
    picked = store.stratified_sample(rows, 10, lambda r: r["s"], random.Random(0))
    # exact shares 10*30/40=7.5, 10*9/40=2.25, 10*1/40=0.25 -> floors 7, 2, 0; the one left goes to the largest
    # remainder (a: .5) -> 8, 2, 0; the empty stratum c then takes one from the largest (a) -> 7, 2, 1
    counts = {s: sum(r["s"] == s for r in picked) for s in "abc"}
    assert counts == {"a": 7, "b": 2, "c": 1}
    assert len({r["i"] for r in picked}) == 10  # without replacement
    even = store.stratified_sample([dict(s="a", i=i) for i in range(20)] + [dict(s="b", i=20 + i) for i in range(20)],
                                   8, lambda r: r["s"], random.Random(1))
    assert sorted(r["s"] for r in even) == ["a"] * 4 + ["b"] * 4


def test_kappa_bootstrap_ci_brackets_and_degenerates():
    # perfect agreement on a varied sample: every resample has kappa 1 (a resample with one label is left out)
    assert agreement.kappa_bootstrap(["A_better", "B_better", "tie"] * 4, ["A_better", "B_better", "tie"] * 4,
                                     n_resamples=500) == (1.0, 1.0)
    assert agreement.kappa_bootstrap(["tie"], ["tie"]) == (None, None)
    # a judge that says "tie" to everything: kappa is 0 in every resample by construction, so no interval
    # (not a [0, 0] that reads as certainty), and cohen_kappa says why
    refs, judge = ["A_better", "B_better"] * 3, ["tie"] * 6
    assert agreement.kappa_bootstrap(refs, judge) == (None, None)
    from specialize.evaluation.stats import cohen_kappa

    k = cohen_kappa(refs, judge)
    assert k["kappa"] == 0.0 and any("gave 'tie' to all 6 items" in w for w in k["warnings"])
    lo, hi = agreement.kappa_bootstrap(["A_better", "B_better"] * 10, ["A_better", "B_better"] * 9 + ["B_better"] * 2,
                                       n_resamples=2000)
    # point estimate: po = 19/20 = .95; human .5/.5, judge .45/.55 -> pe = .5*.45+.5*.55 = .5; kappa = .45/.5 = .9
    assert lo < 0.9 <= hi <= 1.0


def test_answers_map_blinded_sides_to_models_and_latest_wins(judged):
    ws, judgments = judged
    review = store.create_review("judge", judgments, sample=None, seed=3, threshold=0.8, min_labels=4)
    rid = review["review_id"]
    items = store.load_items(rid)
    assert len(items) == 10 and review["population"] == 10
    assert {it["shown_order"][0] for it in items} == {"A", "B"}  # seed 3 shows both orders
    it = next(i for i in items if i["shown_order"] == ["B", "A"])
    assert store.record_answer(rid, it["key"], "ann", "left")["verdict"] == "B_better"  # left shows model B
    store.record_answer(rid, it["key"], "ann", "right", "changed my mind")
    store.record_answer(rid, it["key"], "bob", "both_bad")
    latest = store.latest_answers(rid)
    assert latest[(it["key"], "ann")]["verdict"] == "A_better" and latest[(it["key"], "bob")]["verdict"] == "both_bad"
    with pytest.raises(Exception, match="not a verdict"):
        store.record_answer(rid, it["key"], "ann", "A_better")
    with pytest.raises(Exception, match="annotator"):
        store.record_answer(rid, it["key"], " ", "left")
    # both answers count; judge verdict on this item is known by construction
    from tests.review.conftest import JUDGE

    res = agreement.agreement(rid)
    assert res["n"] == 2 and res["items_labelled"] == 1 and res["status"] == "not_enough_labels"
    judge = {"both_bad": "tie"}.get(JUDGE[it["id"]], JUDGE[it["id"]])
    assert res["confusion"][judge]["A_better"] == 1 and res["confusion"][judge]["tie"] == 1
    assert res["position_flip_rate"] == 0.0
