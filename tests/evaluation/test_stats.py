"""Statistics against scipy and against simulations with a known truth."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from specialize.evaluation import stats


def test_bootstrap_ci_agrees_with_scipy():
    rng = np.random.default_rng(3)
    scores = rng.choice([0.0, 0.5, 1.0], size=400, p=[0.3, 0.2, 0.5])
    ours = stats.bootstrap_ci(scores, n_resamples=5000, seed=11)
    ref = sps.bootstrap((scores,), np.mean, n_resamples=5000, method="percentile", confidence_level=0.95,
                        random_state=np.random.default_rng(12)).confidence_interval
    assert ours["estimate"] == pytest.approx(scores.mean())
    assert ours["low"] == pytest.approx(ref.low, abs=0.01)
    assert ours["high"] == pytest.approx(ref.high, abs=0.01)
    assert ours["low"] < scores.mean() < ours["high"]


def test_bootstrap_is_seeded():
    x = np.arange(50, dtype=float)
    assert stats.bootstrap_ci(x, seed=5) == stats.bootstrap_ci(x, seed=5)
    assert stats.bootstrap_ci(x, seed=5) != stats.bootstrap_ci(x, seed=6)


def test_win_rate_ci_coverage_is_near_nominal():
    """Seeded simulation: the 95% CI must cover the true win rate 93-97% of the time."""
    rng = np.random.default_rng(2024)
    p_win, p_tie = 0.45, 0.2
    truth = p_win + p_tie / 2
    covered, trials = 0, 400
    for t in range(trials):
        outcomes = rng.choice(["win", "tie", "loss"], size=200, p=[p_win, p_tie, 1 - p_win - p_tie])
        r = stats.win_rate(list(outcomes), n_resamples=1000, seed=t)
        covered += r["ci_low"] <= truth <= r["ci_high"]
    rate = covered / trials
    assert 0.93 <= rate <= 0.97, rate


def test_win_rate_counts_and_sign_test():
    r = stats.win_rate(["win"] * 30 + ["loss"] * 10 + ["tie"] * 10)
    assert r["wins"] == 30 and r["losses"] == 10 and r["ties"] == 10
    assert r["win_rate_ties_half"] == pytest.approx((30 + 5) / 50)
    assert r["sign_test_p"] == pytest.approx(sps.binomtest(30, 40, 0.5).pvalue)
    assert r["sign_test_p"] < 0.05


def test_paired_t_matches_scipy():
    rng = np.random.default_rng(1)
    a = rng.normal(3.5, 0.7, 100)
    b = a - rng.normal(0.2, 0.5, 100)
    r = stats.paired_t(a, b)
    ref = sps.ttest_rel(a, b)
    assert r["p_value"] == pytest.approx(ref.pvalue)
    assert r["mean_diff"] == pytest.approx((a - b).mean())


def test_bradley_terry_recovers_order_and_odds():
    rng = np.random.default_rng(0)
    true = {"a": 1.0, "b": 0.0, "c": -1.0}
    comps = []
    for _ in range(3000):
        i, j = rng.choice(list(true), 2, replace=False)
        p = 1 / (1 + np.exp(true[j] - true[i]))
        comps.append((str(i), str(j), float(rng.random() < p)))
    est = stats.bradley_terry(comps)
    assert est["a"] > est["b"] > est["c"]
    assert est["a"] - est["c"] == pytest.approx(2.0, abs=0.25)
    ci = stats.bradley_terry_ci(comps[:600], n_resamples=200, seed=1)
    assert ci["a"]["low"] <= ci["a"]["strength"] <= ci["a"]["high"]


def test_cohen_kappa_known_values():
    assert stats.cohen_kappa(list("aabb"), list("aabb"))["kappa"] == pytest.approx(1.0)
    # classic example: po = 0.7, pe = 0.5 -> kappa 0.4
    a = ["y"] * 20 + ["y"] * 5 + ["n"] * 10 + ["n"] * 15
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    r = stats.cohen_kappa(a, b)
    assert r["agreement"] == pytest.approx(0.7)
    assert r["kappa"] == pytest.approx(0.4)


def test_plan_sample_size_matches_textbook_and_simulation():
    r = stats.plan_sample_size(kind="win_rate", baseline=0.5, target=0.6, alpha=0.05, power=0.8)
    assert 190 <= r["n"] <= 200  # the usual ~194 for 50% -> 60%
    acc = stats.plan_sample_size(kind="accuracy", baseline=0.80, target=0.85)
    assert 850 <= acc["n"] <= 920
    paired = stats.plan_sample_size(kind="accuracy", baseline=0.80, target=0.85, paired_discordance=0.10)
    assert paired["n"] < acc["n"]
    # a simulation at the planned size reaches roughly the asked power
    rng = np.random.default_rng(9)
    hits = 0
    for _ in range(300):
        k = rng.binomial(r["n"], 0.6)
        hits += sps.binomtest(k, r["n"], 0.5).pvalue < 0.05
    assert 0.72 <= hits / 300 <= 0.88
    with pytest.raises(ValueError):
        stats.plan_sample_size(kind="win_rate", baseline=0.5, target=0.5)
