"""assess_task: each branch of the decision tree, labelled assumptions, and next tools that validate."""

from __future__ import annotations

import asyncio

import pytest
from specialize.tools.assess import AssessParams, assess

from specialize.runtime.catalog import load_all

# A stable, narrow, high-volume extraction task with labelled production data: the textbook fine-tune.
IDEAL = dict(monthly_api_spend_usd=5000, task_type="extraction", task_scope="single_task",
             production_data="logs_with_feedback", quality_bar="task_metric", task_changes="rarely",
             knowledge_gap=False, num_examples=5000, latency_or_cost_pressure=True, teacher_performs_well=True,
             sft_quality_gap=False, preference_data=False, ml_capacity=True)


def run(**overrides):
    return assess(AssessParams(**{**IDEAL, **overrides}))


def test_ideal_case_is_lora_sft_with_no_assumptions():
    r = run()
    assert r.recommendation == "fine_tune" and r.case == "strong"
    assert (r.model_size_min_b, r.model_size_max_b) == (1, 4)
    assert r.assumptions == []
    assert [t.tool for t in r.next_tools][:2] == ["estimate_break_even", "estimate_training_cost"]


@pytest.mark.parametrize("overrides, expected", [
    ({"knowledge_gap": True, "task_type": "domain_qa"}, "rag"),
    ({"knowledge_gap": True}, "hybrid"),  # strict extraction format + cost pressure: RAG plus SFT
    ({"task_changes": "often"}, "prompting"),
    ({"task_changes": "often", "knowledge_gap": True}, "rag"),
    ({"task_scope": "many_diverse"}, "prompting"),
    ({"task_type": "open_ended"}, "prompting"),
    ({"sft_quality_gap": True, "preference_data": True}, "preference_optimisation"),
    ({"ml_capacity": False}, "prompting"),
    ({"num_examples": 10, "production_data": "none", "teacher_performs_well": False}, "prompting"),
    ({"monthly_api_spend_usd": 200, "latency_or_cost_pressure": False}, "prompting"),
    ({"quality_bar": "match_frontier"}, "hybrid"),
    ({"task_type": "multi_step_reasoning"}, "hybrid"),
    ({"production_data": "logs_without_feedback"}, "distillation"),
    ({"production_data": "none", "num_examples": 100}, "distillation"),
])
def test_decision_tree_branches(overrides, expected):
    assert run(**overrides).recommendation == expected


def test_weak_and_mixed_cases():
    weak = run(monthly_api_spend_usd=300)
    assert weak.case == "weak" and "under $500" in weak.reasons[0]
    assert run(task_scope="many_diverse").case == "weak"
    mixed = run(production_data="none", task_changes="sometimes", quality_bar="near_frontier",
                task_type="rewriting")
    assert mixed.case == "mixed"


def test_preference_without_pairs_says_to_collect_them():
    r = run(sft_quality_gap=True, preference_data=False)
    assert r.recommendation == "preference_optimisation"
    assert any("preference pairs" in reason for reason in r.reasons)


def test_missing_answers_become_labelled_assumptions():
    r = assess(AssessParams())
    labelled = " ".join(r.assumptions)
    for field in AssessParams.model_fields:
        assert field in labelled, field
    assert r.recommendation == "prompting"  # nothing known: prompt first
    unfilled = {k for k, v in r.answers_used.model_dump().items() if v is None}
    assert unfilled == {"monthly_api_spend_usd", "task_type"}  # every other question got an assumed answer
    assert (r.model_size_min_b, r.model_size_max_b) == (1, 9)
    given = assess(AssessParams(task_scope="single_task"))
    assert not any(a.startswith("task_scope") for a in given.assumptions)


def test_logs_imply_examples_and_spend_implies_teacher():
    r = assess(AssessParams(monthly_api_spend_usd=3000, production_data="logs_without_feedback",
                            task_type="classification"))
    assert r.answers_used.num_examples == 1000
    assert r.answers_used.teacher_performs_well is True
    assert r.answers_used.latency_or_cost_pressure is True
    assert r.recommendation == "distillation"
    assert (r.model_size_min_b, r.model_size_max_b) == (0.5, 3)


@pytest.mark.parametrize("overrides", [{}, {"quality_bar": "match_frontier"}, {"monthly_api_spend_usd": None},
                                       {"production_data": "none", "num_examples": 100}])
def test_next_tool_arguments_validate_against_the_catalog(overrides):
    tools = load_all()
    for nxt in run(**overrides).next_tools:
        assert nxt.tool in tools, nxt.tool
        fields = tools[nxt.tool].params.model_fields
        assert set(nxt.arguments) <= set(fields), nxt.arguments
        if not nxt.missing:  # complete arguments must validate and run
            tools[nxt.tool].run(nxt.arguments)
        else:  # what is missing is named by the tool's own field names
            for item in nxt.missing:
                assert item.split()[0] in fields or "(or" in item or "," in item, item


def test_through_mcp(workspace):
    from mcp import Client
    from specialize.server.app import build_server

    async def go():
        async with Client(build_server()) as client:
            good = await client.call_tool("assess_task", {"task_type": "classification", "knowledge_gap": True,
                                                          "task_changes": "often"})
            bad = await client.call_tool("assess_task", {"task_scope": "everything"})
            return good, bad

    good, bad = asyncio.run(go())
    assert not good.is_error and good.structured_content["recommendation"] == "rag"
    assert bad.is_error and "task_scope" in bad.content[0].text


def test_spend_bands_come_from_the_one_threshold_table():
    from specialize.assess.thresholds import threshold

    weak, strong = threshold("spend_weak_below_usd"), threshold("spend_strong_from_usd")
    assert (weak, strong) == (500, 2000)
    # $800 a month with every other sign in favour: worth checking, not yet strong (the contradiction).
    r = run(monthly_api_spend_usd=800)
    assert r.case == "mixed" and "$500-2,000 band" in r.reasons[0]
    assert run(monthly_api_spend_usd=1999).case == "mixed"
    assert run(monthly_api_spend_usd=2000).case == "strong"
    assert run(monthly_api_spend_usd=499).case == "weak"
