"""assess_task: should this task be prompted, retrieved, fine-tuned, distilled, preference-tuned, or routed?

It walks the quick-assessment questions (spend, how constrained the task is, data, quality bar, how often the
task changes, whether knowledge is the gap, examples on hand, latency/cost pressure) through the decision tree,
and says which route to take, what model size to start from, why, and which tool to call next. A question left
unanswered gets a stated assumption, never a silent default.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from specialize.assess.render import render_assessment
from specialize.assess.thresholds import threshold
from specialize.runtime.catalog import tool
from specialize.runtime.schema import Params, Result

TaskType = Literal["classification", "extraction", "json_formatting", "rewriting", "domain_qa", "tool_use",
                   "code_review", "multi_step_reasoning", "open_ended"]

# Starting sizes (billions of parameters) per task type: start at the low end, move up only when evals say so.
MODEL_SIZES: dict[str, tuple[float, float]] = {
    "classification": (0.5, 3), "extraction": (1, 4), "json_formatting": (1, 4), "rewriting": (1, 7),
    "domain_qa": (3, 9), "tool_use": (3, 9), "code_review": (4, 14), "multi_step_reasoning": (8, 32),
    "open_ended": (8, 32),
}
UNKNOWN_SIZE = (1.0, 9.0)
STRUCTURED = {"classification", "extraction", "json_formatting", "tool_use"}
MEASURABLE = STRUCTURED | {"code_review"}
MIN_EXAMPLES_FOR_TRAINING = 50  # below this, prompt first
# Spend bands from references/economics/thresholds.yaml (the same values estimate_break_even and the playbook use).
SPEND_WEAK_BELOW = threshold("spend_weak_below_usd")
SPEND_STRONG_FROM = threshold("spend_strong_from_usd")
FIRST_RUN_EXAMPLES = 2000  # top of the first-SFT-run band (500-2,000)


class AssessParams(Params):
    monthly_api_spend_usd: float | None = Field(None, ge=0, description="Q1: monthly frontier API spend on this "
                                                "task, US dollars.")
    task_type: TaskType | None = Field(None, description="What the task is (sets the model-size range).")
    task_scope: Literal["single_task", "few_related", "many_diverse"] | None = Field(
        None, description="Q2: how constrained the task is: one task, a few related ones, or many diverse ones.")
    production_data: Literal["logs_with_feedback", "logs_without_feedback", "none"] | None = Field(
        None, description="Q3: production data on hand: API logs with user feedback, logs without it, or none.")
    quality_bar: Literal["match_frontier", "near_frontier", "task_metric"] | None = Field(
        None, description="Q4: must match the frontier model exactly, ~90% of frontier quality is fine, or a "
                          "task-specific metric (accuracy, format validity) decides.")
    task_changes: Literal["rarely", "sometimes", "often"] | None = Field(
        None, description="How often the task's instructions, labels or output format change.")
    knowledge_gap: bool | None = Field(None, description="Is missing or changing knowledge the main problem (answers "
                                       "must come from a private or changing corpus)?")
    num_examples: int | None = Field(None, ge=0, description="High-quality input/output examples already on hand.")
    latency_or_cost_pressure: bool | None = Field(None, description="Is prompting a large model too slow, too "
                                                  "expensive or too inconsistent for this task?")
    teacher_performs_well: bool | None = Field(None, description="Does a strong (frontier) model already do the task "
                                               "well enough to act as a teacher?")
    sft_quality_gap: bool | None = Field(None, description="Is there already a fine-tuned model that gets the task "
                                         "right but is weak on ranking, tone, safety or preference?")
    preference_data: bool | None = Field(None, description="Are there preference pairs, rejected outputs or a "
                                         "verifiable reward to learn from?")
    ml_capacity: bool | None = Field(None, description="Can the team build and maintain a training and evaluation "
                                     "pipeline?")


class NextTool(Result):
    tool: str = Field(description="Tool to call next.")
    why: str = Field(description="What it will tell you.")
    arguments: dict[str, Any] = Field(description="Arguments filled in from your answers: a subset of the named "
                                                  "tool's own parameters, so that tool's input schema describes "
                                                  "them.")
    missing: list[str] = Field(description="What you still have to add before the call can run.")


class AssessResult(Result):
    recommendation: Literal["prompting", "rag", "fine_tune", "distillation", "preference_optimisation", "hybrid"] = \
        Field(description="The route to take first.")
    route: str = Field(description="The route in one sentence.")
    case: Literal["strong", "mixed", "weak"] = Field(description="How strong the case for a specialist model is.")
    model_size_min_b: float = Field(description="Smallest model to try first, billions of parameters.")
    model_size_max_b: float = Field(description="Largest model worth trying for this task, billions of parameters.")
    reasons: list[str] = Field(description="Why this route, answer by answer.")
    assumptions: list[str] = Field(description="Answers that were missing and what was assumed instead.")
    answers_used: AssessParams = Field(description="Every answer the decision used, given or assumed (an "
                                                   "answer still null was neither given nor needed).")
    next_tools: list[NextTool] = Field(description="Tools to call next, in order.")


def _answers(p: AssessParams) -> tuple[dict[str, Any], list[str]]:
    """Fill every unanswered question with a stated assumption."""
    a = p.model_dump()
    notes: list[str] = []

    def assume(field: str, value: Any, why: str) -> None:
        if a[field] is None:
            a[field] = value
            notes.append(f"{field} not given: assumed {value!r} ({why}).")

    if a["monthly_api_spend_usd"] is None:
        notes.append("monthly_api_spend_usd not given: the economics were not assessed; run estimate_break_even.")
    assume("task_scope", "few_related", "the middle answer")
    assume("production_data", "none", "the cautious answer: plan a synthetic bootstrap")
    assume("quality_bar", "near_frontier", "about 90% of frontier quality is acceptable")
    assume("task_changes", "sometimes", "the middle answer")
    assume("knowledge_gap", False, "the model's own knowledge suffices")
    has_logs = a["production_data"] != "none"
    assume("num_examples", 1000 if has_logs else 0,
           "production logs can be turned into examples" if has_logs else "no examples yet")
    spend = a["monthly_api_spend_usd"]
    assume("latency_or_cost_pressure", spend is not None and spend >= SPEND_WEAK_BELOW,
           "derived from the monthly spend" if spend is not None else "no spend given")
    assume("teacher_performs_well", bool(spend), "a frontier model already serves the task" if spend
           else "no frontier model is known to do the task")
    assume("sft_quality_gap", False, "no fine-tuned model yet")
    assume("preference_data", False, "none mentioned")
    assume("ml_capacity", True, "the team is running this tool")
    return a, notes


def _case(a: dict[str, Any]) -> tuple[str, list[str]]:
    spend = a["monthly_api_spend_usd"]
    weak = []
    if spend is not None and spend < SPEND_WEAK_BELOW:
        weak.append(f"monthly spend ${spend:,.0f} is under ${SPEND_WEAK_BELOW:,.0f}")
    if a["task_scope"] == "many_diverse" or a["task_type"] == "open_ended":
        weak.append("the task is diverse and open-ended")
    if a["production_data"] == "none" and not a["teacher_performs_well"]:
        weak.append("no production data and no teacher that does the task")
    if a["task_type"] == "multi_step_reasoning":
        weak.append("the task needs frontier-level reasoning")
    if not a["ml_capacity"]:
        weak.append("the team has no ML engineering capacity")
    if a["task_changes"] == "often":
        weak.append("the task changes often")
    strong = [s for s, ok in (
        (f"monthly spend of ${SPEND_STRONG_FROM:,.0f} or more", spend is not None and spend >= SPEND_STRONG_FROM),
        ("a constrained task", a["task_scope"] in ("single_task", "few_related")),
        ("production data on hand", a["production_data"] != "none"),
        ("a measurable quality bar", a["quality_bar"] == "task_metric" or a["task_type"] in MEASURABLE),
        ("a stable task", a["task_changes"] == "rarely"),
    ) if ok]
    if weak:
        return "weak", [f"Weak case for specialising: {', '.join(weak)}."]
    # A strong case needs the spend to be in the strong band: below it the numbers decide (estimate_break_even).
    spend_strong = spend is not None and spend >= SPEND_STRONG_FROM
    if spend_strong and len(strong) >= 4:
        return "strong", [f"Strong case for specialising: {', '.join(strong)}."]
    band = ("the spend is not known" if spend is None else
            f"a spend of ${spend:,.0f} a month is in the ${SPEND_WEAK_BELOW:,.0f}-{SPEND_STRONG_FROM:,.0f} band, "
            "worth checking with the numbers" if not spend_strong else "fewer than four signs in favour")
    return "mixed", [f"Mixed case ({band}): in favour, {', '.join(strong) or 'nothing decisive'}."]


def assess(p: AssessParams) -> AssessResult:
    """The decision tree behind assess_task."""
    a, assumptions = _answers(p)
    case, reasons = _case(a)
    lo, hi = MODEL_SIZES.get(a["task_type"], UNKNOWN_SIZE) if a["task_type"] else UNKNOWN_SIZE
    if a["task_type"] is None:
        assumptions.append(f"task_type not given: size range {lo:g}-{hi:g}B covers most narrow tasks.")
    structured = a["task_type"] in STRUCTURED
    spend = a["monthly_api_spend_usd"]
    few_examples = a["num_examples"] < MIN_EXAMPLES_FOR_TRAINING

    if a["task_scope"] == "many_diverse" or a["task_type"] == "open_ended":
        rec, route = "prompting", "Prompt a strong general model; carve out a narrow, high-volume slice before specialising."
        reasons.append("Many diverse or open-ended tasks are hard to compile into a small model.")
    elif a["task_changes"] == "often":
        rec = "rag" if a["knowledge_gap"] else "prompting"
        route = ("Retrieve the changing documents at answer time." if a["knowledge_gap"]
                 else "Keep the behaviour in the prompt, where a change costs an edit, not a retrain.")
        reasons.append("The task changes often: a fine-tune would go stale between retrains.")
    elif a["knowledge_gap"]:
        if structured and (a["latency_or_cost_pressure"] or (spend or 0) >= SPEND_STRONG_FROM):
            rec, route = "hybrid", "RAG for the knowledge, plus a LoRA SFT model for the strict output format."
            reasons.append("Knowledge is the gap, so retrieval supplies it; the strict format and the cost "
                           "pressure favour compiling the output behaviour into a small model.")
        else:
            rec, route = "rag", "Retrieve from the corpus and let a strong model answer with the context."
            reasons.append("The main gap is knowledge: fine-tuning teaches behaviour, retrieval supplies facts.")
    elif a["sft_quality_gap"]:
        rec, route = "preference_optimisation", "DPO (or a reward-based method) on top of the existing SFT model."
        reasons.append("SFT already gets the task right; preference optimisation targets ranking, tone and "
                       "preference, which imitation alone does not fix.")
        if not a["preference_data"]:
            reasons.append("Collect preference pairs first (chosen/rejected outputs from a judge, users or a "
                           "verifier).")
    elif not a["ml_capacity"]:
        rec, route = "prompting", "Stay on a prompted API model until someone can own a training pipeline."
        reasons.append("A specialist model needs someone to build, evaluate and retrain it.")
    elif (few_examples and a["production_data"] == "none" and not a["teacher_performs_well"]) or (
            not a["latency_or_cost_pressure"] and (spend is None or spend < SPEND_WEAK_BELOW)):
        rec, route = "prompting", "Prompt first, build the eval set, and revisit once examples or volume grow."
        if few_examples:
            reasons.append(f"Fewer than {MIN_EXAMPLES_FOR_TRAINING} examples and no teacher or logs to make more.")
        if not a["latency_or_cost_pressure"]:
            reasons.append("Latency and cost are not pressing, so prompting's flexibility wins.")
    elif a["quality_bar"] == "match_frontier" or a["task_type"] in ("multi_step_reasoning", "code_review"):
        rec, route = "hybrid", ("Route the easy majority of requests to a fine-tuned specialist and the hard "
                                "cases to the frontier model.")
        reasons.append("Matching the frontier on every request is hard for a small model; routing keeps frontier "
                       "quality on the hard cases while most traffic gets cheaper.")
    elif a["teacher_performs_well"] and (a["num_examples"] < FIRST_RUN_EXAMPLES
                                         or a["production_data"] != "logs_with_feedback"):
        rec, route = "distillation", ("Have the strong model label realistic inputs, verify the labels, and "
                                      "LoRA-train a small student on them.")
        reasons.append("A strong model already does the task, and the data on hand is too thin or unlabelled to "
                       "train on directly: its outputs become the training set.")
    else:
        rec, route = "fine_tune", "LoRA/QLoRA SFT of a small model on the examples and logs on hand."
        reasons.append("A stable, constrained task with examples on hand: compile the behaviour into weights.")

    if rec in ("fine_tune", "distillation", "hybrid"):
        if structured:
            reasons.append("The output format is strict, which fine-tuning makes consistent.")
        if a["quality_bar"] == "match_frontier":
            reasons.append(f"To match the frontier, expect to need the top of the {lo:g}-{hi:g}B range or more.")
        elif a["quality_bar"] == "near_frontier":
            reasons.append("About 90% of frontier quality is usually within reach of an 8B-or-smaller LoRA.")
    if case == "weak" and rec in ("fine_tune", "distillation"):
        reasons.append("The case is weak: check the economics with estimate_break_even before investing.")
    return AssessResult(recommendation=rec, route=route, case=case, model_size_min_b=lo, model_size_max_b=hi,
                        reasons=reasons, assumptions=assumptions, answers_used=a,
                        next_tools=_next_tools(rec, a, hi))


def _next_tools(rec: str, a: dict[str, Any], size_max: float) -> list[NextTool]:
    spend = a["monthly_api_spend_usd"]
    out: list[NextTool] = []
    specialise = rec in ("fine_tune", "distillation", "hybrid", "preference_optimisation")
    if specialise or spend:
        args: dict[str, Any] = {"specialist_params_b": size_max}
        missing = ["monthly_requests, avg_input_tokens and avg_output_tokens (or serving_monthly_usd) to price serving"]
        if spend:
            args["monthly_api_spend_usd"] = spend
        else:
            missing.insert(0, "monthly_api_spend_usd, or a frontier_model to price the requests")
        if rec == "hybrid":
            args["frontier_share"] = 0.1
        out.append(NextTool(tool="estimate_break_even", arguments=args, missing=missing,
                            why="Whether and when the specialist pays back, with a 12-month timeline."))
    if specialise:
        n = a["num_examples"] if a["num_examples"] >= 500 else FIRST_RUN_EXAMPLES
        out.append(NextTool(tool="estimate_training_cost",
                            arguments={"model_params_b": size_max, "num_examples": n, "method": "qlora"},
                            missing=[],
                            why=f"GPU-hours and dollars for a first run on {n:,} examples at the top of the size "
                                "range (the smaller sizes cost less)."))
        if rec == "distillation" or a["production_data"] != "logs_with_feedback":
            out.append(NextTool(tool="generate_batch", arguments={}, missing=["model (the teacher, a litellm string)", "plan_path or cells (the generation plan)"],
                                why="Have the teacher model produce examples; then validate_rows to gate them."))
        out.append(NextTool(tool="run_eval", arguments={}, missing=["model (each model to compare, one call each)", "eval_set (a dev set JSONL)"],
                            why="Baselines first: base model, prompted base and the frontier model on a dev set."))
    else:
        out.append(NextTool(tool="run_eval", arguments={}, missing=["model (the prompted model)", "eval_set (a dev set JSONL)", "system_prompt (your prompt)"],
                            why="Measure the prompted model on a dev set, so a later specialist has a bar to beat."))
    return out


@tool(read_only=True, idempotent=True, render=render_assessment)
def assess_task(params: AssessParams, *, progress=None) -> AssessResult:
    """Should we fine-tune? Recommends prompting, RAG, LoRA SFT, distillation, preference optimisation or hybrid.

    Takes the quick-assessment answers (monthly spend, how constrained the task is, production data, quality
    bar, how often the task changes, whether knowledge is the gap, examples on hand, latency/cost pressure) and
    returns the route, a starting model-size range, the reasons, the next tools to call, and an explicit
    assumption for every question left unanswered.
    """
    return assess(params)
