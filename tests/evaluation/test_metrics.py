"""Scoring: a failed generation is an error in its item's true class."""

from __future__ import annotations

import pytest

from specialize.evaluation.metrics import aggregate, score_example


def test_failed_generation_counts_in_its_true_class():
    refs = ["a", "a", "a", "a", "b", "b", "b"]
    preds = ["a", "a", "a", None, "b", "b", "b"]  # six right, one generation failed on an 'a' item
    recs = [score_example("classification", p, r, label_field=None, critical_fields=[]) for p, r in zip(preds, refs)]
    m = aggregate("classification", recs, label_field=None, critical_fields=[], n_resamples=200)
    # by hand: class a recall 3/4, precision 1, F1 = 2 * 0.75 / 1.75; class b F1 = 1
    assert m["macro_f1"] == pytest.approx((2 * 0.75 / 1.75 + 1) / 2)
    assert "None" not in m["confusion_matrix"]["labels"]
    assert m["ci_methods"]["accuracy"].startswith("Clopper-Pearson") and m["stats_warnings"]
