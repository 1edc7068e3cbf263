"""decide_specialization: hand-computed scenarios (serverless vs dedicated, hybrid, not viable, ranges, flips,
measured quality), the open questions, and bad input.

The base scenario, by hand: 1,000,000 requests x (500 in x $2 + 100 out x $8) / 1e6 = $1,800 a month on the
frontier. 600M tokens at 5,000 tokens/s = 600e6 / (5,000 x 3,600) = 33.333 GPU-hours, x $2 = $66.667 serverless;
a dedicated GPU kept on 730 h costs 730 x $2 = $1,460. Upfront: training $100 + data $900 + evaluation
(300 items x 6 calls x $0.0018 = $3.24) + 40 h x $100 = $5,003.24. Upkeep $300 a month.
"""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from specialize.tools.decide import DecideParams, decide

from specialize.runtime.errors import InvalidInput, NotFound

BASE = dict(monthly_requests=1_000_000, avg_input_tokens=500, avg_output_tokens=100, frontier_model="gpt-4.1",
            frontier_input_price_per_m=2, frontier_output_price_per_m=8, serving_tokens_per_second=5000,
            serving_gpu_hourly_usd=2.0, training_cost_usd=100, data_cost_usd=900, monthly_upkeep_usd=300,
            engineering_hours=40, engineering_rate_usd=100, quality_bar="near_frontier", quality_retained=1.0,
            dedicated_hours_per_month=730, task_type="classification", write_memo=False)
FRONTIER = 1_000_000 * (500 * 2 + 100 * 8) / 1e6  # 1,800
SERVERLESS = 600e6 / (5000 * 3600) * 2.0  # 66.667
UPFRONT = 100 + 900 + 300 * 6 * 0.0018 + 40 * 100  # 5,003.24


def run(**over):
    return decide(DecideParams(**{**BASE, **over}))


def test_serverless_beats_dedicated_and_pays_back():
    r = run()
    assert r.central["frontier"] == pytest.approx(FRONTIER)
    assert r.hosting.serverless_monthly_usd == pytest.approx(SERVERLESS)
    assert r.hosting.dedicated_monthly_usd == pytest.approx(730 * 2.0) and r.hosting.dedicated_gpus == 1
    assert r.hosting.chosen == "serverless" and "cheaper" in r.hosting.why
    assert r.central["upfront"] == pytest.approx(UPFRONT)
    savings = FRONTIER - SERVERLESS - 300
    assert r.central["savings"] == pytest.approx(savings)
    assert r.central["payback"] == pytest.approx(UPFRONT / savings)  # 3.49 months
    # Every input is a point, so every percentile is the central answer.
    assert r.payback_months.p10 == r.payback_months.p50 == r.payback_months.p90 == pytest.approx(UPFRONT / savings)
    assert r.verdict == "specialize" and r.confidence == "medium" and r.quality_basis == "stated"


def test_dedicated_gpu_kept_on_all_month_is_not_viable():
    r = run(hosting="dedicated")
    savings = FRONTIER - 1460 - 300  # $40 a month
    assert r.central["savings"] == pytest.approx(savings)
    assert r.payback_months.p50 == pytest.approx(UPFRONT / savings)  # 125 months
    assert r.verdict == "dont" and r.confidence == "high"
    assert r.next_tool is None and "Stay on the frontier" in r.next_step


def test_dedicated_needs_more_gpus_when_traffic_exceeds_half_their_throughput():
    # 20x the traffic: 666.67 GPU-hours against 730 x 0.5 = 365 usable per GPU -> 2 GPUs, $2,920.
    r = run(monthly_requests=20_000_000, hosting="dedicated")
    assert r.hosting.dedicated_gpus == 2 and r.hosting.dedicated_monthly_usd == pytest.approx(2 * 730 * 2.0)
    assert r.hosting.serverless_monthly_usd == pytest.approx(20 * SERVERLESS)


def test_quality_below_the_bar_routes_traffic_back_to_the_frontier():
    # q = 0.8 against a bar of 0.9: (1 - h) 0.8 + h = 0.9 -> h = 0.1 / 0.2 = 0.5.
    r = run(quality_retained=0.8)
    assert r.central["share"] == pytest.approx(0.5)
    savings = FRONTIER - 0.5 * FRONTIER - 0.5 * SERVERLESS - 300
    assert r.central["savings"] == pytest.approx(savings)
    assert r.central["payback"] == pytest.approx(UPFRONT / savings)  # 8.83 months
    assert r.verdict == "hybrid" and any("quality bar" in x for x in r.reasons)


def test_planned_hybrid_share():
    r = run(frontier_share=0.1)
    savings = FRONTIER - 0.1 * FRONTIER - 0.9 * SERVERLESS - 300  # 1,260
    assert r.central["savings"] == pytest.approx(savings)
    assert r.verdict == "hybrid" and r.central["remainder"] == pytest.approx(180)


def test_ranges_give_percentiles_of_payback():
    # Engineering hours triangular(20, 40, 60): its 10th percentile solves (x-20)^2 / (40 x 20) = 0.1, x = 28.944;
    # the 90th is 60 - 8.944 = 51.056. Payback rises with hours, so its percentiles follow.
    r = run(engineering_hours={"low": 20, "high": 60})
    savings = FRONTIER - SERVERLESS - 300
    fixed = UPFRONT - 4000
    for got, hours in ((r.payback_months.p10, 20 + 80 ** 0.5), (r.payback_months.p50, 40),
                       (r.payback_months.p90, 60 - 80 ** 0.5)):
        assert got == pytest.approx((fixed + hours * 100) / savings, rel=0.02)
    assert r.monthly_savings_usd.p50 == pytest.approx(savings)


def test_flip_points_by_hand():
    r = run()
    rows = {t.input: t for t in r.tornado}
    # Engineering hours: pays within 12 months while (1,003.24 + 100 h) / 1,433.33 <= 12 -> h <= 161.97.
    savings = FRONTIER - SERVERLESS - 300
    assert rows["engineering_hours"].flip_value == pytest.approx((12 * savings - (UPFRONT - 4000)) / 100, rel=1e-6)
    assert "below" in rows["engineering_hours"].flip
    # Volume factor v: 5,003.24 / ((1,800 - 66.667) v - 300) <= 12 -> v >= (5,003.24 / 12 + 300) / 1,733.33.
    v = (UPFRONT / 12 + 300) / (FRONTIER - SERVERLESS)
    assert rows["volume"].flip_value == pytest.approx(v, rel=1e-6) and "above" in rows["volume"].flip
    assert f"${v * FRONTIER:,.0f} a month" in rows["volume"].flip


def test_unmeasured_quality_that_decides_the_answer_means_not_yet():
    # Default quality triangular(0.80, 0.95, 1.0), bar 0.9, 120 engineering hours: upfront 13,003.24.
    r = run(quality_retained=None, engineering_hours=120)
    upfront = UPFRONT + 80 * 100
    full = FRONTIER - SERVERLESS  # 1,733.33 before upkeep
    # Median quality: (x - 0.8)^2 = 0.5 x 0.2 x 0.15 -> x = 0.9225, above the bar, so no traffic stays back.
    assert r.payback_months.p50 == pytest.approx(upfront / (full - 300), rel=1e-6)
    # 10th percentile of quality: (x - 0.8)^2 = 0.1 x 0.03 -> x = 0.85477; h = (0.9 - x) / (1 - x).
    q10 = 0.8 + 0.003 ** 0.5
    h = (0.9 - q10) / (1 - q10)
    assert r.payback_months.p90 == pytest.approx(upfront / (full * (1 - h) - 300), rel=0.03)  # 14.6 months
    assert r.verdict == "not_yet" and r.confidence == "low" and r.quality_basis == "unverified_default"
    assert r.next_tool.tool == "run_eval" and r.next_tool.arguments["limit"] == 50
    # Quality flips it at h = 1 - (upfront / 12 + 300) / full, i.e. q = (0.9 - h) / (1 - h) = 0.8747.
    h_flip = 1 - (upfront / 12 + 300) / full
    q_flip = (0.9 - h_flip) / (1 - h_flip)
    row = next(t for t in r.tornado if t.input == "quality_retained")
    assert row.flip_value == pytest.approx(q_flip, rel=1e-6) and row.flips_inside_range
    assert r.deciding_inputs[0] == "quality retained"
    assert any(q.field == "frontier_eval" for q in r.open_questions)


def _results(path, correct):
    path.write_text(json.dumps({"kind": "eval_results", "model": {"ref": path.stem},
                                "examples": [{"id": f"r{i}", "correct": c} for i, c in enumerate(correct)]}))
    return str(path)


def test_measured_quality_replaces_the_assumption(workspace):
    # Frontier right on 90 of 100 items; the small model on 81 of those 90 and nothing else.
    frontier = [i < 90 for i in range(100)]
    small = [i < 81 for i in range(100)]
    r = run(quality_retained=None, frontier_eval=_results(workspace / "frontier.json", frontier),
            small_eval=_results(workspace / "small.json", small))
    ev = r.evidence
    assert (ev.n, ev.frontier_rate, ev.small_rate) == (100, 0.9, 0.81)
    assert ev.quality_retained == pytest.approx(81 / 90) and ev.oracle_frontier_share == pytest.approx(9 / 100)
    assert ev.retained_p10 < 0.9 < ev.retained_p90 <= 1.0
    assert r.quality_basis == "measured" and "Measured on 100 shared items" in r.quality_note
    assert r.verdict == "specialize" and r.confidence == "high"
    probe = run(quality_retained=None, frontier_eval=_results(workspace / "f20.json", frontier[:20] + [True] * 0),
                small_eval=_results(workspace / "s20.json", [True] * 18 + [False] * 2))
    assert probe.evidence.n == 20 and probe.confidence == "medium" and "probe" in probe.quality_note


def test_defaults_are_open_questions_and_assumptions():
    r = decide(DecideParams(monthly_api_spend_usd=3000, write_memo=False))
    fields = {q.field for q in r.open_questions}
    assert {"frontier_model", "avg_input_tokens", "avg_output_tokens", "hosting", "quality_bar", "frontier_eval",
            "engineering_hours", "data_cost_usd", "monthly_upkeep_usd", "task_type"} <= fields
    text = " ".join(r.assumptions)
    for f in fields:
        assert f"{f} not given" in text
    # Data and upkeep are never silently zero: teacher calls + review, monitoring + retraining.
    assert r.upfront_parts_usd["data"] > 0 and r.central["upkeep"] > 0 and r.upfront_parts_usd["evaluation"] > 0
    assert r.upkeep_parts_usd["monitoring"] == 2 * 100  # 2 h a month at $100
    # Requests derived from the spend at gpt-4.1 prices and 500/150 tokens: 3,000 / 0.0022.
    assert any("1,363,636" in a for a in r.assumptions)


def test_bad_input_names_the_field_and_the_fix():
    with pytest.raises(InvalidInput, match="monthly_requests") as err:
        run(monthly_requests=-5)
    assert err.value.fix
    with pytest.raises(ValidationError, match="engineering_hours") as verr:
        DecideParams(**{**BASE, "engineering_hours": {"low": 80, "high": 20}})
    assert "swap them" in str(verr.value)
    with pytest.raises(NotFound, match="serving_gpu") as err:
        run(serving_gpu="tpu-v9")
    assert "A100-80GB" in err.value.fix
    with pytest.raises(InvalidInput, match="traffic is unknown"):
        decide(DecideParams(frontier_model="gpt-4.1"))
    with pytest.raises(NotFound, match="gpt-4.1"):
        run(frontier_model="gpt-2", frontier_input_price_per_m=None, frontier_output_price_per_m=None)
    with pytest.raises(InvalidInput, match="frontier_share"):
        run(frontier_share={"low": 0.5, "high": 1.0})


def test_memo_and_plots_are_written(workspace):
    r = decide_tool(**{**BASE, "write_memo": True, "engineering_hours": {"low": 20, "high": 60}})
    memo = workspace / r.memo_path
    text = memo.read_text()
    assert text.startswith("# Should we specialize? SPECIALIZE")
    assert "## What flips the verdict" in text and "![tornado.png](tornado.png)" in text
    assert all((workspace / p).stat().st_size > 1000 for p in r.plots)


def decide_tool(**args):
    from specialize.runtime.catalog import load_all

    return load_all()["decide_specialization"].run(args)
