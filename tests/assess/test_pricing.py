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
    with pytest.raises(NotFound, match="Use one of"):
        pricing.frontier_model("gpt-4o")
    small = pricing.serving_throughput(4, "A100-80GB")  # scaled from the 8B row
    assert small.scaled_from_b == 8 and (small.low, small.high) == (6000, 10000)
    with pytest.raises(NotFound, match="rows cover"):
        pricing.serving_throughput(20, "A100-80GB")
