"""The paired interval above EXACT_CI_MAX_N items: the restricted exact test, its coverage at the edges, its names.

Coverage here is exact (trinomial probabilities of the outcomes, from scipy), over every outcome whose
probability is not negligible; the mass left out counts as not covered, so each figure is a lower bound.
``bench/bench_stats.py --only-large`` measures the same over a full grid of rates at n = 2,000-100,000.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

from specialize.evaluation import stats
from specialize.runtime.errors import InvalidInput


def _brute_restricted_p(b0, c0, n, delta, grid=400):
    """The restricted exact p built independently: statsmodels' Clopper-Pearson set for the discordance,
    scipy's multinomial over every outcome, a fine uniform grid of discordances inside the set."""
    gamma = stats.BERGER_BOOS_GAMMA
    ci_lo, ci_hi = proportion_confint(b0 + c0, n, alpha=gamma, method="beta")
    lo = max(abs(delta), ci_lo)
    if lo > ci_hi:
        return gamma
    b, c = (a.ravel() for a in np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij"))
    keep = b + c <= n
    b, c = b[keep], c[keep]
    extreme = stats._tango_z(b, c, n, delta) >= stats._tango_z(b0, c0, n, delta) - 1e-9
    best = 0.0
    for psi in np.linspace(lo, ci_hi, grid):
        probs = [(psi + delta) / 2, (psi - delta) / 2, 1 - psi]
        best = max(best, sps.multinomial.pmf(np.stack([b, c, n - b - c], 1), n, probs)[extreme].sum())
    return best + gamma


def test_restricted_p_matches_an_independent_construction():
    for b0, c0, n, delta in [(3, 0, 60, -0.01), (5, 2, 80, 0.0), (0, 0, 50, -0.05), (6, 1, 60, 0.02),
                             (2, 4, 70, -0.08)]:
        ours = float(stats._restricted_upper_p(np.array([b0]), np.array([c0]), n, np.array([delta]))[0])
        brute = _brute_restricted_p(b0, c0, n, delta)
        # the library's 32-point grid can only sit under the brute force's 400-point sup, and by little
        assert brute - 2e-3 <= ours <= brute + 1e-9, (b0, c0, n, delta, ours, brute)


def test_restricted_limits_invert_the_test_and_the_upper_limit_mirrors():
    n = 5000
    for b, c in [(3, 0), (0, 0), (12, 5), (60, 40)]:
        r = stats.paired_proportion_diff(b, c, n)
        assert r["method"] == stats.EXACT_RESTRICTED and r["low"] <= (b - c) / n <= r["high"]
        p = stats._restricted_upper_p(np.full(3, b), np.full(3, c), n,
                                      np.array([r["low"] - 0.02 / n, r["low"] + 0.02 / n, r["low"] - 3 / n]))
        assert p[0] <= 0.025 < p[1] and p[2] <= 0.025, (b, c, p)
        mirror = stats.paired_proportion_diff(c, b, n)
        assert mirror["low"] == pytest.approx(-r["high"]) and mirror["high"] == pytest.approx(-r["low"])


def _outcomes(n, g, l, floor):
    """(gains, losses) outcomes with trinomial probability above ``floor`` under true rates (g, l)."""
    top_b, top_c = int(sps.binom.isf(1e-12, n, g)), int(sps.binom.isf(1e-12, n, l))
    b, c = (a.ravel() for a in np.meshgrid(np.arange(top_b + 1), np.arange(top_c + 1), indexing="ij"))
    p = sps.multinomial.pmf(np.stack([b, c, n - b - c], 1), n, [g, l, 1 - g - l])
    keep = p > floor
    return b[keep], c[keep], p[keep]


def _edge_coverage(n, rates):
    """Worst exact coverage over ``rates`` (items of gain, items of loss, probability floor) of the shipped
    interval and of Tango's; outcomes left out (below the floor) count as covered for Tango, not for ours."""
    worst, worst_tango = 1.0, 1.0
    for items_g, items_l, floor in rates:
        g, l = items_g / n, items_l / n
        b, c, p = _outcomes(n, g, l, floor)
        r = stats.paired_proportion_diff(b, c, np.full(b.shape, n))
        t = stats.paired_proportion_diff(b, c, np.full(b.shape, n), method="tango")
        d = g - l
        worst = min(worst, p[(r["low"] <= d + 1e-12) & (d - 1e-12 <= r["high"])].sum())
        worst_tango = min(worst_tango, p[(t["low"] <= d + 1e-12) & (d - 1e-12 <= t["high"])].sum()
                          + (1 - p.sum()))
    return worst, worst_tango


def test_large_n_edge_coverage_is_at_least_nominal_where_tango_falls_short():
    """Exact coverage at n = 20,000 at rates a few items from 0 and one item from a gain of 1 (mirrored
    outcomes have mirrored intervals, so these stand for the other edges too).

    With no losses the outcomes lie on one line and are enumerated to 1e-12; with 5 gains and 1 loss
    expected, the outcomes above 1e-5 carry all but about 2e-4 of the probability, and that shortfall is
    charged against our interval (so its figure is a lower bound) and credited to Tango's (an upper bound).
    Tango's interval covers about 0.93 at (5, 1), 0.944 at (20, 0) and 0.92 one item from a gain of 1,
    so the check fails if the restricted exact method stops being used at large n.
    """
    n = 20_000
    worst, worst_tango = _edge_coverage(n, [(3, 0, 0.0), (20, 0, 0.0), (5, 1, 1e-5), (n - 1, 0, 1e-12)])
    assert worst >= 0.95, worst
    assert worst_tango < 0.945, worst_tango


@pytest.mark.slow
@pytest.mark.parametrize("n", [5000, 100_000])
def test_large_n_edge_coverage_at_more_rates(n):
    """As above at more rates, with outcomes above 1e-6 (a few seconds of CPU per n)."""
    worst, worst_tango = _edge_coverage(n, [(1, 0, 0.0), (3, 0, 0.0), (20, 0, 0.0), (60, 0, 0.0),
                                            (5, 1, 1e-6), (3, 3, 1e-6), (10, 2, 1e-6), (n - 3, 0, 1e-12),
                                            (n - 10, 0, 1e-12)])
    assert worst >= 0.95, (n, worst)
    assert worst_tango < 0.945, (n, worst_tango)


@pytest.mark.slow
def test_large_n_seeded_monte_carlo_coverage_on_the_edge():
    """Seeded Monte Carlo at n = 20,000, true gain 10 items and no losses to 2 items' worth of losses.

    4,000 draws per rate: if the true coverage were 0.95 the estimate's standard error is
    sqrt(0.95 * 0.05 / 4000) = 0.0034, so a floor of 0.95 - 3 SE = 0.940 fails a correct interval with
    probability about 0.1% (and, seeded, never flakes); an interval that covered 0.93 would be caught
    with probability about 0.998.
    """
    n, draws = 20_000, 4000
    rng = np.random.default_rng(15)
    floor = 0.95 - 3 * np.sqrt(0.95 * 0.05 / draws)
    for items_g, items_l in [(10, 0), (10, 2)]:
        g, l = items_g / n, items_l / n
        counts = rng.multinomial(n, [g, l, 1 - g - l], size=draws)
        r = stats.paired_proportion_diff(counts[:, 0], counts[:, 1], np.full(draws, n))
        covered = np.mean((r["low"] <= g - l + 1e-12) & (g - l - 1e-12 <= r["high"]))
        assert covered >= floor, (items_g, items_l, covered)


def test_method_names_say_which_interval_was_used():
    cap = stats.SUPPORT_MAX_DISCORDANT
    assert stats.paired_proportion_diff(3, 0, 5000)["method"] == stats.EXACT_RESTRICTED
    assert stats.paired_proportion_diff(cap, 1, 5000)["method"] == stats.TANGO
    # few unchanged items (a difference near 1) is the other edge: 4,998 gains, 2 unchanged
    near_one = stats.paired_proportion_diff(4998, 0, 5000)
    assert near_one["method"] == stats.EXACT_RESTRICTED and near_one["low"] < 4998 / 5000 < near_one["high"]
    assert stats.paired_proportion_diff(3, 0, 1000)["method"] == stats.EXACT_CI
    mixed = stats.paired_proportion_diff(np.array([3, cap + 1]), np.array([0, 0]), np.array([5000, 5000]))
    assert stats.EXACT_RESTRICTED in mixed["method"] and stats.TANGO in mixed["method"]
    assert f"at most {cap}" in mixed["method"]
    wr = stats.win_rate(["win"] * 4 + ["tie"] * 3000)
    assert stats.EXACT_RESTRICTED in wr["ci_method"] and wr["ci_low"] < wr["win_rate_ties_half"] < wr["ci_high"]
    with pytest.raises(InvalidInput, match="restricted"):
        stats.paired_proportion_diff(3, 0, 5000, method="bogus")


def test_the_gate_margin_test_keeps_its_level_above_the_exact_range():
    """Type-I error of the one-sided margin test at n = 5,000 (above EXACT_MAX_N) with the true gain exactly at
    the margin and few changed items: every outcome is enumerated with its multinomial probability (scipy).
    The normal approximation runs over alpha at these rates (the control); the shipped test stays at or under."""
    from scipy.stats import multinomial

    from specialize.evaluation.stats import EXACT_MAX_N, paired_margin_test

    n = 5000
    assert n > EXACT_MAX_N
    for p_gain, p_loss in ((0.0012, 0.0002), (0.0006, 0.0)):
        margin = p_gain - p_loss
        size = {True: 0.0, False: 0.0}
        for b in range(40):
            for c in range(40):
                prob = multinomial.pmf([b, c, n - b - c], n, [p_gain, p_loss, 1 - p_gain - p_loss])
                if prob < 1e-12:
                    continue
                for exact in (True, False):
                    size[exact] += prob * (paired_margin_test(b, c, n, margin, exact=exact)["p_value"] < 0.05)
        assert size[True] <= 0.05, (p_gain, p_loss, size)
        assert size[False] > 0.06, (p_gain, p_loss, size)  # the approximation alone would not hold
    assert "restricted" in paired_margin_test(3, 0, n, 0.0)["method"]
