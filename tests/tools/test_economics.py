"""estimate_break_even and estimate_training_cost: pure arithmetic, checked by hand-computed figures."""

from __future__ import annotations

import asyncio

import pytest
from specialize.tools.economics import (
    BreakEvenParams,
    TrainingCostParams,
    break_even,
    break_even_months,
    cumulative_timeline,
    training_cost,
)

from specialize.runtime.errors import InvalidInput, NotFound

# The seed's worked example: $5,000/month on the API, $500 training, $200/month serving, 40 h x $100.
SEED = dict(monthly_api_spend_usd=5000, training_cost_usd=500, serving_monthly_usd=200,
            engineering_hours=40, engineering_rate_usd=100)


def test_seed_worked_example_exact():
    r = break_even(BreakEvenParams(**SEED))
    assert r.engineering_cost_usd == 4000
    assert r.upfront_cost_usd == 4500
    assert r.monthly_savings_usd == 4800
    # 4,500 / 4,800 = 15/16 of a month. The seed rounds this to "~1.1 months", which is wrong.
    assert r.break_even_months == 0.9375
    assert r.break_even_months != pytest.approx(1.1, abs=0.05)
    # 12 x 4,800 - 4,500 = 53,100 (the seed says "$52K"), and 57,600 in year 2.
    assert r.year1_savings_usd == 53_100
    assert r.year2_savings_usd == 57_600
    cum = {m.month: m.cumulative_savings_usd for m in r.timeline}
    assert [cum[m] for m in (0, 1, 2, 3, 6, 12)] == [-4500, 300, 5100, 9900, 24300, 53100]
    assert len(r.timeline) == 13
    assert r.viable and r.verdict == "strong"


def test_pure_helpers():
    assert break_even_months(4500, 4800) == 0.9375
    assert break_even_months(4500, 0) is None
    assert break_even_months(4500, -10) is None
    rows = cumulative_timeline(100, 50, 10, months=3)
    assert [r.cumulative_savings_usd for r in rows] == [-100, -60, -20, 20]


def test_frontier_cost_from_requests_and_table_price():
    # claude-sonnet-4.5 at $3 in / $15 out per M: 100k x (1000 x 3 + 200 x 15) / 1e6 = $600.
    p = dict(monthly_requests=100_000, avg_input_tokens=1000, avg_output_tokens=200, serving_monthly_usd=50,
             training_cost_usd=0)
    r = break_even(BreakEvenParams(frontier_model="Claude Sonnet 4.5", **p))
    assert r.monthly_frontier_cost_usd == pytest.approx(600)
    assert r.monthly_tokens == 120_000_000
    assert {s.what for s in r.sources} >= {"claude-sonnet-4.5 input price", "claude-sonnet-4.5 output price"}
    assert all(s.as_of and s.source for s in r.sources)
    explicit = break_even(BreakEvenParams(frontier_input_price_per_m=3, frontier_output_price_per_m=15, **p))
    assert explicit.monthly_frontier_cost_usd == pytest.approx(600)


def test_requests_derived_from_spend_and_price():
    # $600 of spend at $0.006 a request is 100k requests, 120M tokens.
    r = break_even(BreakEvenParams(monthly_api_spend_usd=600, avg_input_tokens=1000, avg_output_tokens=200,
                                   frontier_model="claude-sonnet-4.5", serving_price_per_m=0.1, training_cost_usd=0))
    assert r.monthly_tokens == pytest.approx(120_000_000)
    assert r.monthly_serving_cost_usd == pytest.approx(12.0)
    assert any("derived" in a for a in r.assumptions)


def test_gpu_serving_priced_from_reference_throughput():
    # 8B on A100-80GB: 3,000-5,000 tok/s, midpoint 4,000, at $1.60/h -> 1.6 / (4000 x 3600) x 1e6 $/M tokens.
    r = break_even(BreakEvenParams(monthly_requests=1_000_000, avg_input_tokens=400, avg_output_tokens=100,
                                   frontier_model="gpt-5.2-chat", training_cost_usd=10))
    per_m = 1.6 / (4000 * 3600) * 1e6
    assert r.serving_cost_per_m_tokens == pytest.approx(per_m)
    assert r.monthly_serving_cost_usd == pytest.approx(500 * per_m)  # 500M tokens
    # gpt-5.2-chat: 1e6 x (400 x 1.75 + 100 x 14) / 1e6 = $2,100.
    assert r.monthly_frontier_cost_usd == pytest.approx(2100)
    names = [s.name for s in r.sensitivity]
    assert names == ["half_volume", "double_volume", "throughput_low", "throughput_high"]
    sens = {s.name: s for s in r.sensitivity}
    assert sens["throughput_low"].break_even_months > r.break_even_months > sens["throughput_high"].break_even_months
    assert sens["half_volume"].break_even_months > r.break_even_months > sens["double_volume"].break_even_months
    # Savings scale exactly with volume when serving is billed per second.
    assert sens["half_volume"].monthly_savings_usd == pytest.approx(r.monthly_savings_usd / 2)
    assert sens["throughput_low"].monthly_savings_usd == pytest.approx(2100 - 500 * 1.6 / (3000 * 3600) * 1e6)


def test_sensitivity_with_flat_serving_and_measured_throughput():
    r = break_even(BreakEvenParams(**SEED))
    sens = {s.name: s for s in r.sensitivity}
    assert set(sens) == {"half_volume", "double_volume"}  # no throughput range to vary
    assert sens["half_volume"].monthly_savings_usd == 2500 - 200
    assert sens["half_volume"].break_even_months == 4500 / 2300
    assert sens["double_volume"].break_even_months == 4500 / 9800
    measured = break_even(BreakEvenParams(monthly_requests=10_000, avg_input_tokens=500, avg_output_tokens=500,
                                          frontier_model="claude-opus-4.6", serving_gpu="h100",
                                          serving_tokens_per_second=2000, training_cost_usd=0))
    assert measured.serving_cost_per_m_tokens == pytest.approx(3.25 / (2000 * 3600) * 1e6)
    assert [s.name for s in measured.sensitivity] == ["half_volume", "double_volume"]


def test_hybrid_share_routes_part_of_traffic_to_frontier():
    base = dict(monthly_requests=1_000_000, avg_input_tokens=400, avg_output_tokens=100,
                frontier_model="gpt-5.2-chat", serving_price_per_m=0.2, training_cost_usd=0)
    full = break_even(BreakEvenParams(**base))
    hybrid = break_even(BreakEvenParams(frontier_share=0.1, **base))
    assert hybrid.monthly_frontier_remainder_usd == pytest.approx(210)
    assert hybrid.monthly_serving_cost_usd == pytest.approx(0.9 * full.monthly_serving_cost_usd)
    assert hybrid.monthly_specialist_cost_usd == pytest.approx(210 + 0.9 * 100)
    assert hybrid.monthly_savings_usd == pytest.approx(2100 - 300)
    assert hybrid.verdict == "hybrid" and full.verdict == "strong"
    assert any("Hybrid routing" in reason for reason in hybrid.reasons)


def test_not_viable_says_why():
    # Budget-tier API: 100k x (500 x 0.5 + 100 x 3) / 1e6 = $55/month, against an A100 kept on all month.
    r = break_even(BreakEvenParams(monthly_requests=100_000, avg_input_tokens=500, avg_output_tokens=100,
                                   frontier_model="gemini-3-flash", serving_min_gpu_hours=730))
    assert r.monthly_frontier_cost_usd == pytest.approx(55)
    assert r.monthly_serving_cost_usd == pytest.approx(730 * 1.6)
    assert not r.viable and r.break_even_months is None and r.verdict == "weak"
    assert r.monthly_savings_usd < 0 and r.year2_savings_usd < 0
    text = " ".join(r.reasons)
    assert "Not viable" in text and "730" in text and "budget" in text
    cum = [m.cumulative_savings_usd for m in r.timeline]
    assert cum == sorted(cum, reverse=True)


def test_low_spend_is_weak_even_when_it_pays_back():
    r = break_even(BreakEvenParams(monthly_api_spend_usd=300, serving_monthly_usd=20, training_cost_usd=0,
                                   engineering_hours=1))
    assert r.viable and r.break_even_months == 100 / 280
    assert r.verdict == "weak" and "below $500.00" in r.reasons[0]


def test_slow_payback_is_weak():
    r = break_even(BreakEvenParams(monthly_api_spend_usd=2500, serving_monthly_usd=2000, training_cost_usd=0,
                                   engineering_hours=80))
    assert r.break_even_months == 8000 / 500 and r.verdict == "weak"


def test_training_cost_estimated_when_not_given():
    r = break_even(BreakEvenParams(**{**SEED, "training_cost_usd": None}))
    est = training_cost(TrainingCostParams(model_params_b=8, num_examples=5000, tokens_per_example=1000, epochs=3))
    assert r.training_cost_usd == pytest.approx(est.cost_usd)
    assert r.upfront_cost_usd == pytest.approx(4000 + est.cost_usd)
    assert any("Training cost estimated" in a for a in r.assumptions)


@pytest.mark.parametrize("params, field", [
    ({}, "monthly_api_spend_usd"),
    ({"monthly_requests": 1000, "avg_input_tokens": 100}, "avg_output_tokens"),
    ({"monthly_requests": 1000, "avg_input_tokens": 100, "avg_output_tokens": 10}, "frontier_model"),
    ({"monthly_api_spend_usd": 100, "frontier_input_price_per_m": 1}, "frontier_output_price_per_m"),
    ({"monthly_api_spend_usd": 100, "serving_monthly_usd": 5, "serving_price_per_m": 1}, "serving_price_per_m"),
    ({"monthly_api_spend_usd": 100}, "monthly_requests"),  # GPU serving needs the token volume
])
def test_impossible_inputs_name_the_field(params, field):
    with pytest.raises(InvalidInput) as err:
        break_even(BreakEvenParams(**params))
    assert field in str(err.value) and err.value.fix


def test_unknown_model_lists_known_names_and_explicit_prices():
    with pytest.raises(NotFound) as err:
        break_even(BreakEvenParams(monthly_requests=10, avg_input_tokens=1, avg_output_tokens=1,
                                   frontier_model="gpt-3-davinci"))
    text = str(err.value)
    assert "gpt-3-davinci" in text and "gpt-4.1" in text and "claude-opus-4.6" in text and "mistral-small" in text
    assert "frontier_input_price_per_m" in text


def test_unknown_or_uncovered_serving_gpu():
    base = dict(monthly_requests=10, avg_input_tokens=1, avg_output_tokens=1, frontier_model="glm-4.7")
    with pytest.raises(NotFound, match="serving_gpu"):
        break_even(BreakEvenParams(serving_gpu="tpu-v5", **base))
    with pytest.raises(NotFound, match="serving_tokens_per_second"):
        break_even(BreakEvenParams(serving_gpu="B200", **base))  # no reference serving row for B200


# -- training cost ------------------------------------------------------------------------------------------


def test_training_cost_seed_reference_run_8b():
    # Seed: 8B LoRA, 5K examples, 3 epochs takes about 1-2 hours on an A100.
    r = training_cost(TrainingCostParams(model_params_b=8, num_examples=5000, epochs=3, gpu="A100-80GB"))
    assert r.total_flops == 4 * 8e9 * 5000 * 1000 * 3
    assert r.gpu_hours == pytest.approx(4.8e17 / (312e12 * 0.30) / 3600)
    assert 1.0 <= r.gpu_hours <= 2.0
    assert r.cost_usd == pytest.approx(r.gpu_hours * 1.60)
    assert r.fits_in_memory
    assert any("tokens per example" in a for a in r.assumptions)
    assert any("30%" in a for a in r.assumptions)


def test_training_cost_seed_reference_run_14b():
    # Seed: 14B LoRA, 10K examples, 3 epochs takes about 3-5 hours on an A100-80GB.
    r = training_cost(TrainingCostParams(model_params_b=14, num_examples=10_000, epochs=3, gpu="a100-80"))
    assert 3.0 <= r.gpu_hours <= 5.0


def test_training_cost_scaling_and_options():
    one = training_cost(TrainingCostParams(model_params_b=8, training_tokens=1e7, epochs=1, gpu="h100"))
    two = training_cost(TrainingCostParams(model_params_b=8, training_tokens=1e7, epochs=1, gpu="h100", num_gpus=2))
    assert two.wall_clock_hours == pytest.approx(one.wall_clock_hours / 2)
    assert two.gpu_hours == pytest.approx(one.gpu_hours)
    q = training_cost(TrainingCostParams(model_params_b=8, training_tokens=1e7, epochs=1, gpu="h100", method="qlora"))
    assert q.gpu_hours == pytest.approx(one.gpu_hours * 0.30 / 0.20)
    priced = training_cost(TrainingCostParams(model_params_b=8, training_tokens=1e7, gpu="h100", gpu_hourly_usd=2.0))
    assert priced.usd_per_gpu_hour == 2.0 and priced.cost_usd == pytest.approx(priced.gpu_hours * 2.0)
    tp = training_cost(TrainingCostParams(model_params_b=8, training_tokens=1e7, gpu="A100-80GB",
                                          gpu_provider="tensorpool"))
    assert tp.usd_per_gpu_hour == 1.50
    big = training_cost(TrainingCostParams(model_params_b=70, training_tokens=1e7, gpu="A100-80GB"))
    assert not big.fits_in_memory and any("QLoRA" in a for a in big.assumptions)


def test_training_cost_errors():
    with pytest.raises(InvalidInput, match="num_examples"):
        training_cost(TrainingCostParams(model_params_b=8))
    with pytest.raises(InvalidInput, match="A100-40GB, A100-80GB"):
        training_cost(TrainingCostParams(model_params_b=8, training_tokens=1e6, gpu="a100"))
    with pytest.raises(NotFound, match="modal"):
        training_cost(TrainingCostParams(model_params_b=8, training_tokens=1e6, gpu="B200", gpu_provider="modal"))


# -- through the MCP server and the CLI ---------------------------------------------------------------------


def test_mcp_in_memory_call_and_errors(workspace):
    from mcp import Client
    from specialize.server.app import build_server

    async def go():
        async with Client(build_server()) as client:
            listed = {t.name: t for t in (await client.list_tools()).tools}
            for name in ("estimate_break_even", "estimate_training_cost"):
                hints = listed[name].annotations
                assert hints.read_only_hint and hints.idempotent_hint and not hints.open_world_hint
            ok = await client.call_tool("estimate_break_even", SEED)
            bad = await client.call_tool("estimate_break_even", {"monthly_requests": -5})
            unknown = await client.call_tool("estimate_break_even", {
                "monthly_requests": 10, "avg_input_tokens": 1, "avg_output_tokens": 1, "frontier_model": "gpt-3-davinci"})
            return ok, bad, unknown

    ok, bad, unknown = asyncio.run(go())
    assert not ok.is_error
    assert ok.structured_content["break_even_months"] == 0.9375
    assert ok.structured_content["year1_savings_usd"] == 53_100
    assert ok.structured_content["verdict"] == "strong"
    assert bad.is_error and "monthly_requests" in bad.content[0].text
    assert unknown.is_error
    assert "frontier_model" in unknown.content[0].text and "claude-sonnet-4.5" in unknown.content[0].text


def test_cli_json_and_table(workspace):
    import json

    from typer.testing import CliRunner

    from specialize.cli.app import build_cli

    app = build_cli()
    args = ["estimate-break-even", "--monthly-api-spend-usd", "5000", "--training-cost-usd", "500",
            "--serving-monthly-usd", "200"]
    as_json = CliRunner().invoke(app, args + ["--json"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output)["break_even_months"] == 0.9375
    table = CliRunner().invoke(app, args)
    assert table.exit_code == 0
    assert "0.9375" in table.output and "$53,100.00" in table.output and "STRONG" in table.output
    bad = CliRunner().invoke(app, ["estimate-break-even", "--frontier-model", "nope", "--monthly-requests", "1",
                                   "--avg-input-tokens", "1", "--avg-output-tokens", "1"])
    assert bad.exit_code == 2
    training = CliRunner().invoke(app, ["estimate-training-cost", "--model-params-b", "8", "--num-examples", "5000"])
    assert training.exit_code == 0 and "GPU-hours" in training.output


def test_fragile_case_is_weak():
    # An always-on A100 ($1,168/month) against $1,620 of Sonnet traffic: pays back in under 9 months at today's
    # volume, never at half of it.
    r = break_even(BreakEvenParams(monthly_requests=300_000, avg_input_tokens=800, avg_output_tokens=200,
                                   frontier_model="claude-sonnet-4.5", serving_min_gpu_hours=730))
    assert r.viable and r.break_even_months < 12
    assert {s.name: s.break_even_months for s in r.sensitivity}["half_volume"] is None
    assert r.verdict == "weak" and any(reason.startswith("Fragile") for reason in r.reasons)


def test_data_and_upkeep_defaults_are_listed_not_silently_zero():
    r = break_even(BreakEvenParams(**SEED))
    listed = " ".join(r.assumptions)
    assert "data_cost_usd not given" in listed and "monthly_maintenance_usd not given" in listed
    given = break_even(BreakEvenParams(data_cost_usd=1500, monthly_maintenance_usd=400, **SEED))
    assert not any("not given" in a for a in given.assumptions if "data_cost" in a or "maintenance" in a)
    # 4,500 + 1,500 upfront against 5,000 - 200 - 400 = 4,400 a month.
    assert given.break_even_months == pytest.approx(6000 / 4400)
