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


def test_win_rate_interval_is_the_paired_difference_interval_mapped():
    """A win rate with ties as half is 0.5 + (wins - losses) / 2n: its interval is the paired one, halved."""
    one = stats.win_rate(["win"] * 9 + ["tie"] * 6 + ["loss"] * 5)
    d = stats.paired_proportion_diff(9, 5, 20)
    assert (one["ci_low"], one["ci_high"]) == (pytest.approx(0.5 + d["low"] / 2), pytest.approx(0.5 + d["high"] / 2))
    assert one["win_rate_ties_half"] == pytest.approx(12 / 20) and "exact" in one["ci_method"]


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
    # the exact power of the two-sided binomial test at the planned size comes out near the asked 0.8
    k = np.arange(r["n"] + 1)
    p_two = np.minimum(1.0, 2 * np.minimum(sps.binom.cdf(k, r["n"], 0.5), sps.binom.sf(k - 1, r["n"], 0.5)))
    power = sps.binom.pmf(k, r["n"], 0.6)[p_two < 0.05].sum()
    assert 0.75 <= power <= 0.85, power
    with pytest.raises(ValueError):
        stats.plan_sample_size(kind="win_rate", baseline=0.5, target=0.5)


# --- intervals at the edges, the margin test, multiple comparisons, degenerate inputs (issue 15) ---

def _trinomial_cells(n):
    w, l = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    keep = w + l <= n
    return w[keep], l[keep]


def test_pass_rate_interval_is_clopper_pearson_from_beta_quantiles():
    for k, n in [(0, 20), (19, 20), (20, 20), (7, 13), (49, 50)]:
        r = stats.proportion_ci(k, n)
        low = 0.0 if k == 0 else sps.beta.ppf(0.025, k, n - k + 1)
        high = 1.0 if k == n else sps.beta.ppf(0.975, k + 1, n - k)
        assert (r["low"], r["high"]) == (pytest.approx(low), pytest.approx(high))
    # the old bootstrap gave [1, 1] here; all 20 passing leaves a lower end of 0.025^(1/20)
    r = stats.bootstrap_ci([1.0] * 20)
    assert r["low"] == pytest.approx(0.025 ** (1 / 20)) and r["high"] == 1.0
    assert "Clopper-Pearson" in r["method"] and r["warnings"]


def test_pass_rate_interval_coverage_at_every_rate_including_the_edges():
    """Exact coverage (binomial sums, no simulation) of the 95% interval, 0.95-1.0 included."""
    for n in (10, 20, 30, 50, 100):
        k = np.arange(n + 1)
        ci = [stats.proportion_ci(int(x), n) for x in k]
        low, high = np.array([c["low"] for c in ci]), np.array([c["high"] for c in ci])
        for p in (0.02, 0.1, 0.3, 0.5, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 1.0):
            coverage = sps.binom.pmf(k, n, p)[(low <= p) & (p <= high)].sum()
            assert coverage >= 0.95 - 1e-9, (n, p, coverage)


def _tango_reference(b, c, n, level=0.95):
    """Tango's interval built independently: restricted MLE by numerical maximisation, limits by brentq."""
    from scipy.optimize import brentq, minimize_scalar

    def z(delta):
        lo, hi = max(0.0, -delta) + 1e-12, min(1.0, (1 - delta) / 2) - 1e-12

        def nll(q):
            return -(b * np.log(q + delta) + c * np.log(q) + (n - b - c) * np.log(1 - 2 * q - delta))
        q = minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-13}).x if c or b else lo
        return (b - c - n * delta) / np.sqrt(n * (2 * q + delta * (1 - delta)))

    crit = sps.norm.ppf(1 - (1 - level) / 2)
    est, edge = (b - c) / n, 1 - 1e-9
    low = -1.0 if z(-edge) <= crit else brentq(lambda d: z(d) - crit, -edge, min(est + 1e-12, edge))
    high = 1.0 if z(edge) >= -crit else brentq(lambda d: z(d) + crit, max(est - 1e-12, -edge), edge)
    return low, high


def test_tango_interval_matches_an_independent_construction_and_mcnemar():
    for b, c, n in [(3, 7, 20), (12, 4, 50), (30, 0, 30), (5, 1, 200)]:
        r = stats.paired_proportion_diff(b, c, n, method="tango")
        low, high = _tango_reference(b, c, n)
        assert r["low"] == pytest.approx(low, abs=2e-4) and r["high"] == pytest.approx(high, abs=2e-4), (b, c, n)
    mirrored = stats.paired_proportion_diff(7, 3, 20, method="tango")
    assert mirrored["low"] == pytest.approx(-stats.paired_proportion_diff(3, 7, 20, method="tango")["high"])
    # at a margin of 0 the statistic is McNemar's: z^2 equals statsmodels' uncorrected chi-square
    from statsmodels.stats.contingency_tables import mcnemar

    t = stats.paired_margin_test(40, 25, 300, 0.0, exact=False)
    assert t["z"] ** 2 == pytest.approx(mcnemar([[200, 40], [25, 35]], exact=False, correction=False).statistic)
    # the old bootstrap gave [1, 1] for 30 gains out of 30 items
    assert stats.paired_bootstrap_diff([1] * 30, [0] * 30)["low"] < 0.95


def _brute_upper_p(b0, c0, n, delta, grid=301):
    """Exact unconditional p of gain <= delta, by brute force: scipy's multinomial over every outcome, the
    discordance on a fine uniform grid (an independent construction of what the library computes)."""
    b, c = _trinomial_cells(n)
    z = stats._tango_z(b, c, n, delta)
    extreme = z >= stats._tango_z(b0, c0, n, delta) - 1e-9
    best = 0.0
    for psi in np.linspace(abs(delta), 1, grid):
        probs = [(psi + delta) / 2, (psi - delta) / 2, 1 - psi]
        best = max(best, sps.multinomial.pmf(np.stack([b, c, n - b - c], 1), n, probs)[extreme].sum())
    return best


def test_exact_paired_interval_inverts_two_one_sided_exact_tests():
    """Each limit is where the one-sided exact test at 2.5% stops rejecting, checked by brute force."""
    for b, c, n in [(20, 0, 20), (18, 1, 20), (3, 7, 20), (0, 0, 12)]:
        r = stats.paired_proportion_diff(b, c, n)
        assert "exact unconditional" in r["method"] and r["low"] <= (b - c) / n <= r["high"]
        assert _brute_upper_p(b, c, n, r["low"] - 2e-3) <= 0.025 + 1e-6, (b, c, n)
        assert _brute_upper_p(b, c, n, r["low"] + 1e-4) > 0.025, (b, c, n)
        if r["high"] < 1:  # the upper limit is the lower limit of the mirrored outcome, negated
            assert _brute_upper_p(c, b, n, -r["high"] - 2e-3) <= 0.025 + 1e-6, (b, c, n)
    # all n items gained: only that outcome is as extreme, its probability ((1 + delta) / 2)^n is largest when
    # every item is discordant, so the limit solves ((1 + delta) / 2)^n = 0.025: as a win rate (1 + delta) / 2,
    # 0.025^(1/n), the Clopper-Pearson bound for n wins out of n
    assert stats.win_rate(["win"] * 20)["ci_low"] == pytest.approx(0.025 ** (1 / 20), abs=1e-5)


# true (p_gain, p_loss) at and near the edges (win rates 0.95-1.0) and a few inside
_EDGE_GRID = [(g, l) for g in (0.8, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 1.0) for l in (0.0, 0.01, 0.02, 0.05)
              if g + l <= 1] + [(0.3, 0.1), (0.1, 0.1), (0.02, 0.0), (0.3, 0.0), (0.45, 0.35)]


def _trinomial_pmf(n, g, l, b, c):
    return sps.multinomial.pmf(np.stack([b, c, n - b - c], 1), n, [g, l, max(0.0, 1 - g - l)])


def test_paired_difference_and_win_rate_coverage_at_the_edges_is_at_least_nominal():
    """Exact coverage (multinomial sums over every outcome, no simulation) of the 95% paired interval.

    The interval holds every gain d at which both one-sided exact p-values exceed 2.5%, so one table per d
    gives a lower bound of its coverage; at n = 20 the outcomes that carry the probability at the edges are
    checked against the intervals the library returns. Tango's interval, on the same grid, falls far short.
    (``bench/bench_stats.py`` measures the returned intervals directly over a dense grid.)
    """
    worst_tango = 1.0
    for n in (10, 20, 30, 50):
        b, c = _trinomial_cells(n)
        tango = stats.paired_proportion_diff(b, c, np.full(b.shape, n), method="tango")
        likely = np.zeros(len(b), dtype=bool)
        for g, l in _EDGE_GRID:
            d = g - l
            _, _, p_up, p_low = stats.exact_tail_pvalues(n, d)
            pmf = _trinomial_pmf(n, g, l, b, c)
            coverage = pmf[(p_up > 0.025) & (p_low > 0.025)].sum()
            assert coverage >= 0.95, (n, g, l, coverage)
            worst_tango = min(worst_tango, pmf[(tango["low"] <= d + 1e-12) & (d - 1e-12 <= tango["high"])].sum())
            if n == 20 and g >= 0.95:
                likely |= pmf > 0.01
        if n == 20:  # the returned intervals hold every kept gain where the edge probability lies
            ours = stats.paired_proportion_diff(b[likely], c[likely], np.full(likely.sum(), n))
            for g, l in _EDGE_GRID:
                _, _, p_up, p_low = stats.exact_tail_pvalues(n, g - l)
                inside = (ours["low"] <= g - l) & (g - l <= ours["high"])
                assert inside[((p_up > 0.025) & (p_low > 0.025))[likely]].all(), (n, g, l)
    assert worst_tango < 0.9, worst_tango
    r = stats.win_rate(["win"] * 15)
    assert r["ci_low"] < 0.9 and r["ci_high"] == pytest.approx(1.0) and r["warnings"]


def test_gate_lower_bound_and_exact_margin_test_agree():
    """A 90% exact lower bound above the margin means the exact test rejects at 5%.

    The converse holds except next to the decision: the exact p is not monotone in the margin, and the bound
    is the lowest gain any test keeps, so an outcome with p just under 5% can keep a gain below the margin.
    """
    n, margin = 60, 0.02
    b, c, p = stats.exact_margin_pvalues(n, margin)
    pick = np.argsort(np.abs(p - 0.05))[:8]  # the outcomes nearest the decision, on both sides of it
    r = stats.paired_proportion_diff(b[pick], c[pick], np.full(len(pick), n), confidence=0.9)
    assert (p[pick] <= 0.05).any() and (p[pick] > 0.05).any()
    above, rejects = r["low"] > margin, p[pick] <= 0.05
    assert (rejects[above]).all() and above.any()
    assert (np.abs(p[pick][above != rejects] - 0.05) < 0.005).all()


def test_margin_test_type_one_error_at_the_margin_is_at_most_alpha():
    """Exact rejection rate when the true gain equals the margin: the old rule shipped far more often."""
    n = 120
    for margin in (0.0, 0.02, 0.05):
        b, c, p = stats.exact_margin_pvalues(n, margin)
        for discordance in (0.06, 0.1, 0.3):
            probs = [(discordance + margin) / 2, (discordance - margin) / 2, 1 - discordance]
            pmf = sps.multinomial.pmf(np.stack([b, c, n - b - c], 1), n, probs)
            assert pmf[p < 0.05].sum() <= 0.05, (margin, discordance)
    # the old rule (point gain >= margin and an exact McNemar test against 0) at margin 0.05, discordance 0.06
    k = b + c
    old = ((b - c) / n >= 0.05) & (np.where(k > 0, sps.binom.sf(b - 1, np.maximum(k, 1), 0.5), 1.0) < 0.05)
    pmf = sps.multinomial.pmf(np.stack([b, c, n - b - c], 1), n, [0.055, 0.005, 0.94])
    assert pmf[old].sum() > 0.2


def test_scalar_exact_margin_p_agrees_with_the_all_outcomes_table():
    b, c, p = stats.exact_margin_pvalues(40, 0.05)
    for i in np.random.default_rng(0).choice(len(b), 25, replace=False):
        assert stats.paired_margin_test(int(b[i]), int(c[i]), 40, 0.05)["p_value"] == pytest.approx(p[i], abs=1e-9)


def test_holm_keeps_family_wise_error_with_five_equal_models():
    """Seeded simulation: 10 pairs of equally good models, exact sign test per pair, 2,000 families."""
    rng = np.random.default_rng(15)
    decisive = 60
    wins = rng.binomial(decisive, 0.5, size=(2000, 10))
    p = np.minimum(1.0, 2 * np.minimum(sps.binom.cdf(wins, decisive, 0.5), sps.binom.sf(wins - 1, decisive, 0.5)))
    raw = (p < 0.05).any(axis=1).mean()
    holm = np.mean([min(stats.adjust_pvalues(row)) < 0.05 for row in p])
    assert raw > 0.15 and holm <= 0.05, (raw, holm)
    # Holm's definition, step by step: the j-th smallest of m p-values times (m - j + 1), then running maxima
    for row in p[:5]:
        order = np.argsort(row, kind="stable")
        expected, running = np.empty(len(row)), 0.0
        for j, i in enumerate(order):
            running = max(running, min(1.0, (len(row) - j) * row[i]))
            expected[i] = running
        assert stats.adjust_pvalues(row) == pytest.approx(expected)
    # Holm by hand: sorted 0.01, 0.03, 0.04 -> 3 x 0.01, max(0.03, 2 x 0.03), max(0.06, 1 x 0.04)
    assert stats.adjust_pvalues([0.01, 0.04, 0.03, float("nan")])[:3] == pytest.approx([0.03, 0.06, 0.06])


def test_degenerate_inputs_give_nan_and_name_the_cause():
    k = stats.cohen_kappa(["a"] * 12, ["a"] * 12)
    assert np.isnan(k["kappa"]) and any("0/0" in w for w in k["warnings"])
    t = stats.paired_t([1, 1], [0, 0])
    assert np.isnan(t["p_value"]) and "spread is zero" in t["warnings"][0]
    assert np.isnan(stats.paired_t([1.0], [0.0])["p_value"])


def test_margin_plan_reduces_to_connor_and_reaches_its_power():
    # at margin 0 and one-sided alpha 0.025 the plan is Connor's two-sided 0.05 formula, by hand
    za, zb, pd, d = sps.norm.ppf(0.975), sps.norm.ppf(0.8), 0.10, 0.05
    connor = (za * np.sqrt(pd) + zb * np.sqrt(pd - d ** 2)) ** 2 / d ** 2
    plan0 = stats.plan_sample_size(kind="accuracy", baseline=0.8, target=0.85, paired_discordance=pd, margin=0.0,
                                   alpha=0.025)
    assert plan0["n"] == int(np.ceil(connor))
    plan = stats.plan_sample_size(kind="accuracy", baseline=0.80, target=0.88, paired_discordance=0.12, margin=0.02)
    b, c, p = stats.exact_margin_pvalues(plan["n"], 0.02)
    pmf = sps.multinomial.pmf(np.stack([b, c, plan["n"] - b - c], 1), plan["n"], [0.10, 0.02, 0.88])
    assert 0.72 <= pmf[p < 0.05].sum() <= 0.88, plan
