"""The dated price tables: every figure has a source and an as-of date, and look-ups fail helpfully."""

from __future__ import annotations

import pytest
import yaml

from specialize.assess import pricing
from specialize.runtime.errors import InvalidInput, NotFound
from specialize.runtime.workspace import references_root


def test_every_entry_is_dated_and_sourced():
    frontier = pricing.frontier_table()
    assert len(frontier.models) >= 8
    for m in frontier.models:
        assert m.source and m.as_of and m.output_per_m >= m.input_per_m
    gpus = pricing.gpu_table()
    for g in gpus.gpus:
        assert g.peak_source and g.peak_as_of
        assert all(r.source and r.as_of for r in g.rates)
    for row in gpus.serving_throughput:
        assert row.source and row.as_of and row.tokens_per_second[0] < row.tokens_per_second[1]


def test_missing_source_is_refused(tmp_path):
    raw = yaml.safe_load((references_root() / "pricing" / "frontier_models.yaml").read_text())
    del raw["models"][0]["source"]
    with pytest.raises(ValueError, match="source"):
        pricing.FrontierTable.model_validate(raw)
    raw = yaml.safe_load((references_root() / "pricing" / "frontier_models.yaml").read_text())
    raw["models"][0]["as_of"] = "early 2026"
    with pytest.raises(ValueError, match="as_of"):
        pricing.FrontierTable.model_validate(raw)


# Serving cost per million tokens that the seed's reference table states for each row (model, GPU, $/M range).
SEED_SERVING = [(8, "A100-80GB", 0.09, 0.15), (8, "H100-80GB", 0.11, 0.18), (14, "A100-80GB", 0.15, 0.30),
                (14, "H100-80GB", 0.18, 0.30), (32, "H100-80GB", 0.60, 1.10), (70, "H100-80GB", 1.80, 3.60)]


@pytest.mark.parametrize("size, gpu, low_usd, high_usd", SEED_SERVING)
def test_throughput_and_rates_reproduce_seed_serving_costs(size, gpu, low_usd, high_usd):
    tp = pricing.serving_throughput(size, gpu)
    _, rate = pricing.gpu_rate(gpu)
    per_m = [tp.num_gpus * rate.usd_per_hour / (tps * 3600) * 1e6 for tps in (tp.high, tp.low)]
    assert per_m[0] == pytest.approx(low_usd, abs=0.006)
    assert per_m[1] == pytest.approx(high_usd, abs=0.03)


def test_lookups():
    assert pricing.frontier_model("GPT 5.2 Chat").name == "gpt-5.2-chat"
    assert pricing.gpu("h100").name == "H100-80GB"
    with pytest.raises(InvalidInput, match="several"):
        pricing.gpu("a100")
    with pytest.raises(NotFound, match="Use one of") as err:
        pricing.frontier_model("gpt-3-davinci")
    assert "gpt-4.1" in err.value.fix and "frontier_input_price_per_m" in err.value.fix
    small = pricing.serving_throughput(4, "A100-80GB")  # scaled from the 8B row
    assert small.scaled_from_b == 8 and (small.low, small.high) == (6000, 10000)
    with pytest.raises(NotFound, match="rows cover"):
        pricing.serving_throughput(20, "A100-80GB")


# Every model the seeds and the playbooks name, priced by hand from the table entry's quoted source.
NAMED = {"gpt-4.1": (2.00, 8.00), "gpt-4o": (2.50, 10.00), "gpt-4o-mini": (0.15, 0.60), "gpt-4.1-mini": (0.40, 1.60),
         "claude-sonnet-4.5": (3.00, 15.00), "claude-opus-4.6": (5.00, 25.00), "claude-haiku-4.5": (1.00, 5.00),
         "gemini-2.5-pro": (1.25, 10.00), "gemini-2.5-flash": (0.30, 2.50), "llama-3.3-70b": (1.04, 1.04)}


@pytest.mark.parametrize("name, prices", NAMED.items())
def test_models_the_seeds_and_playbooks_name_are_priced(name, prices):
    m = pricing.frontier_model(name)
    assert (m.input_per_m, m.output_per_m) == prices
    assert m.as_of >= "2026-01" and len(m.source) > 20


def test_thresholds_and_defaults_are_dated_and_complete():
    from specialize.assess import thresholds as th

    for table in (th.thresholds(), th.defaults()):
        for name, entry in table.entries.items():
            assert entry.source and entry.as_of, name
    assert th.threshold("spend_weak_below_usd") < th.threshold("spend_strong_from_usd") < \
        th.threshold("spend_certain_from_usd")
    assert "worth checking" in th.spend_band(800) and "strong candidate" in th.spend_band(3000)
    assert th.defaults().get("retrain_every_months").named("often") == 1
    raw = yaml.safe_load((references_root() / "economics" / "thresholds.yaml").read_text())
    raw["payback_limit_months"]["as_of"] = "soon"
    with pytest.raises(ValueError, match="as_of"):
        th._Table(entries=raw)
