"""decide_specialization: "should we specialize?" answered once, with numbers, ranges and what flips it.

It composes assess_task (is a specialist the right route at all?), estimate_training_cost (the training run)
and the break-even arithmetic of estimate_break_even, extended: both hosting modes priced, data work,
evaluation, retraining and upkeep counted, uncertain inputs taken as ranges and sampled, a flip point for
every input, and quality tied to run_eval results when there are any. Every default comes from
``references/economics/decision_defaults.yaml`` and every threshold from ``thresholds.yaml``; each default used
is listed in ``assumptions`` and each unanswered question in ``open_questions``.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, model_validator

from specialize.assess import decision as dm
from specialize.assess import pricing
from specialize.assess.memo import LABEL
from specialize.assess.thresholds import default, defaults, spend_band, threshold
from specialize.runtime.catalog import tool
from specialize.runtime.errors import InvalidInput
from specialize.runtime.schema import Params, Result
from specialize.runtime.workspace import InputFile, OutputDir, rel, resolve_path
from specialize.tools.assess import MODEL_SIZES, AssessParams, NextTool, TaskType, assess
from specialize.tools.training_cost import SourceRef, TrainingCostParams, training_cost


class Range(Params):
    low: float = Field(ge=0, description="Lowest plausible value.")
    high: float = Field(ge=0, description="Highest plausible value.")
    likely: float | None = Field(None, ge=0, description="Most likely value (default: the midpoint).")

    @model_validator(mode="after")
    def _ordered(self) -> "Range":
        if self.low > self.high:
            raise ValueError(f"low ({self.low:g}) is above high ({self.high:g}): swap them, or give one number")
        if self.likely is not None and not self.low <= self.likely <= self.high:
            raise ValueError(f"likely ({self.likely:g}) lies outside low..high ({self.low:g}..{self.high:g}): "
                             "give a likely value inside the range, or leave it out")
        return self


Num = float | Range


class DecideParams(Params):
    monthly_api_spend_usd: Num | None = Field(None, description="What the task costs on the frontier API now, USD "
                                              "per month: a number, or {low, high, likely}.")
    monthly_requests: Num | None = Field(None, description="Requests per month for this task: a number, or "
                                         "{low, high, likely} when traffic is uncertain or growing.")
    avg_input_tokens: float | None = Field(None, ge=0, description="Average input (prompt) tokens per request.")
    avg_output_tokens: float | None = Field(None, ge=0, description="Average output tokens per request.")
    frontier_model: str | None = Field(None, description="The model serving the task now, priced from "
                                       "references/pricing/frontier_models.yaml (e.g. gpt-4.1, claude-sonnet-4.5).")
    frontier_input_price_per_m: float | None = Field(None, ge=0, description="Explicit frontier input price, USD "
                                                     "per million tokens (with the output price; overrides the table).")
    frontier_output_price_per_m: float | None = Field(None, ge=0, description="Explicit frontier output price, USD "
                                                      "per million tokens.")
    task_type: TaskType | None = Field(None, description="What the task is (sets the specialist size).")
    task_scope: Literal["single_task", "few_related", "many_diverse"] | None = Field(
        None, description="One task, a few related ones, or many diverse ones.")
    task_changes: Literal["rarely", "sometimes", "often"] | None = Field(
        None, description="How often instructions, labels or format change (sets how often to retrain).")
    knowledge_gap: bool | None = Field(None, description="Is missing or changing knowledge the main problem?")
    ml_capacity: bool | None = Field(None, description="Can the team build and maintain a training pipeline?")
    quality_bar: Literal["match_frontier", "near_frontier", "task_metric"] | None = Field(
        None, description="How close to the frontier model the routed system must be (thresholds.yaml).")
    quality_needed: float | None = Field(None, gt=0, le=1, description="Explicit quality bar: share of the frontier "
                                         "model's task metric the routed system must keep (overrides quality_bar).")
    quality_retained: Num | None = Field(None, description="Your estimate of the specialist's quality as a share of "
                                         "the frontier's (0-1), when there are no eval results.")
    frontier_eval: InputFile | None = Field(None, description="run_eval results JSON of the frontier model on a "
                                            "dev set.")
    small_eval: InputFile | None = Field(None, description="run_eval results JSON of a small model (prompted, or the "
                                   "trained specialist) on the same items; with frontier_eval, measures quality.")
    frontier_share: Num | None = Field(None, description="Share of requests you plan to keep on the frontier "
                                       "model (hybrid routing), 0-1; the quality bar can raise it.")
    specialist_params_b: float | None = Field(None, gt=0, le=2000, description="Specialist size, billions of "
                                              "parameters (default: top of the task type's range, else 8).")
    hosting: Literal["auto", "serverless", "dedicated"] = Field(
        "auto", description="serverless (billed per GPU-second of use), dedicated (GPUs kept on), or auto: the "
                            "cheaper of the two.")
    serving_gpu: str = Field("A100-80GB", description="GPU serving the specialist (references/pricing/gpus.yaml).")
    serving_gpu_hourly_usd: float | None = Field(None, gt=0, description="Explicit price per GPU-hour.")
    serving_tokens_per_second: Num | None = Field(None, description="Measured serving throughput, tokens/s "
                                                  "(default: the reference range for the size and GPU).")
    serverless_price_per_m: float | None = Field(None, ge=0, description="A hosted endpoint's price per million "
                                                 "tokens, replacing the GPU-second estimate of serverless.")
    dedicated_hours_per_month: float | None = Field(None, gt=0, le=744, description="Hours a dedicated GPU is "
                                                    "kept on per month (730 = all month; 264 = 12 h x 22 days).")
    training_cost_usd: float | None = Field(None, ge=0, description="Training cost of one run, if known.")
    training_examples: int | None = Field(None, gt=0, description="Examples in the training set.")
    data_cost_usd: Num | None = Field(None, description="One-off data work: teacher generation, labelling, review.")
    monthly_upkeep_usd: Num | None = Field(None, description="Monthly upkeep: retraining, monitoring, on-call.")
    engineering_hours: Num | None = Field(None, description="Engineering hours to build and ship the pipeline.")
    engineering_rate_usd: float | None = Field(None, ge=0, description="Cost of one engineering hour, USD.")
    samples: int = Field(4000, ge=200, le=100_000, description="Draws for the payback range.")
    seed: int = Field(0, description="Seed for the draws and the bootstrap.")
    write_memo: bool = Field(True, description="Write decision.md and its plots under output_dir.")
    output_dir: OutputDir = Field("decisions", description="Workspace folder for decision.md and the plots.")


class OpenQuestion(Result):
    field: str = Field(description="The parameter that answers it.")
    question: str = Field(description="The question to ask, in plain words.")
    why: str = Field(description="How the answer moves the verdict.")
    default_used: str = Field(description="What was assumed meanwhile (also listed in assumptions).")


class Percentiles(Result):
    p10: float | None = Field(description="10th percentile (null: never).")
    p50: float | None = Field(description="Median (null: never).")
    p90: float | None = Field(description="90th percentile (null: never).")


class Hosting(Result):
    chosen: Literal["serverless", "dedicated"] = Field(description="The hosting mode the answer uses.")
    serverless_monthly_usd: float = Field(description="Serving per month, billed per GPU-second (or per token).")
    dedicated_monthly_usd: float = Field(description="Serving per month on GPUs kept on dedicated_hours.")
    dedicated_gpus: int = Field(description="GPUs the dedicated mode needs for the traffic.")
    gpu_hours_needed: float = Field(description="GPU-hours the specialist's traffic takes per month.")
    why: str = Field(description="Why this mode.")


class TornadoRow(Result):
    input: str = Field(description="The uncertain input.")
    low: float = Field(description="Low end of its range.")
    likely: float = Field(description="Value used for the central answer.")
    high: float = Field(description="High end of its range.")
    payback_at_low: float | None = Field(description="Payback in months at the low end (null: never).")
    payback_at_high: float | None = Field(description="Payback in months at the high end (null: never).")
    flip_value: float | None = Field(description="Value at which 'pays back within the limit' changes, the rest "
                                     "held at likely values (null: no flip in the searched domain).")
    flips_inside_range: bool = Field(description="Whether the flip lies inside the stated range.")
    flip: str = Field(description="The flip in words.")


class Evidence(Result):
    n: int = Field(description="Items scored by both models.")
    frontier_model: str = Field(description="Frontier model evaluated.")
    small_model: str = Field(description="Small model evaluated.")
    frontier_rate: float = Field(description="Share of items the frontier model got right.")
    small_rate: float = Field(description="Share of items the small model got right.")
    quality_retained: float = Field(description="small_rate / frontier_rate.")
    retained_p10: float = Field(description="P10 of the paired bootstrap of quality_retained.")
    retained_p90: float = Field(description="P90 of the paired bootstrap.")
    oracle_frontier_share: float = Field(description="Share of items the small model fails and the frontier gets "
                                         "right: what a perfect router would have to keep on the frontier.")


class DecideResult(Result):
    verdict: Literal["specialize", "dont", "hybrid", "not_yet"] = Field(description="The answer: specialize, "
                                                                     "don't, hybrid routing, or not yet (measure "
                                                                     "first).")
    confidence: Literal["high", "medium", "low"] = Field(description="How firm the verdict is.")
    answer: str = Field(description="The answer in three or four sentences, with the numbers.")
    reasons: list[str] = Field(description="Why the verdict.")
    quality_basis: Literal["measured", "stated", "unverified_default"] = Field(
        description="Where quality_retained came from: run_eval results, the person's estimate, or the default.")
    quality_note: str = Field(description="What the quality figure rests on and what it does to the verdict.")
    evidence: Evidence | None = Field(description="The measured quality, when eval results were given.")
    route: str = Field(description="assess_task's recommendation for the task's shape.")
    hosting: Hosting = Field(description="Both hosting modes priced, and the one chosen.")
    payback_months: Percentiles = Field(description="Payback over the sampled ranges.")
    monthly_savings_usd: Percentiles = Field(description="Monthly savings over the sampled ranges.")
    share_paying_back: float = Field(description="Share of draws that pay back within the payback limit.")
    payback_limit_months: float = Field(description="The limit (thresholds.yaml).")
    central: dict[str, float] = Field(description="The answer at the likely values: frontier, serving, remainder, "
                                      "upkeep, specialist, savings (per month), upfront, payback (months; inf "
                                      "never), share (kept on the frontier).")
    upfront_parts_usd: dict[str, float] = Field(description="training, data, evaluation, engineering (likely).")
    upkeep_parts_usd: dict[str, float] = Field(description="monitoring and retraining per month (likely).")
    quality_needed: float = Field(description="Share of frontier quality the routed system must keep.")
    tornado: list[TornadoRow] = Field(description="Each uncertain input: payback at its ends and its flip point.")
    deciding_inputs: list[str] = Field(description="The two or three inputs that decide it.")
    open_questions: list[OpenQuestion] = Field(description="Questions still open, each with its default.")
    assumptions: list[str] = Field(description="Every default and rule used.")
    sources: list[SourceRef] = Field(description="Table figures used, with source and as-of date.")
    next_tool: NextTool | None = Field(description="The call to make next (null when the answer is to stop).")
    next_step: str = Field(description="What to do next, in words.")
    memo_path: str | None = Field(description="decision.md, when written.")
    plots: list[str] = Field(description="Plot files of the memo.")


def _span(value: Any, name: str) -> dm.Span | None:
    if value is None:
        return None
    if isinstance(value, Range):
        likely = value.likely if value.likely is not None else (value.low + value.high) / 2
        return dm.Span(value.low, likely, value.high)
    if value < 0:
        raise InvalidInput(f"Argument '{name}' is negative ({value:g}).", fix=f"Give {name} as a number of 0 or more.")
    return dm.Span.point(float(value))


def _money(x: float) -> str:
    return "never" if x == float("inf") else (f"-${-x:,.0f}" if x < 0 else f"${x:,.0f}")


def _months(x: float | None) -> str:
    return "never" if x is None or x == float("inf") else f"{x:.1f} months"


def _fin(x: float) -> float | None:
    return None if x == float("inf") else x


class _Builder:
    """Fills every input from the params or a listed default, then runs the model."""

    def __init__(self, p: DecideParams) -> None:
        self.p = p
        self.assumptions: list[str] = []
        self.questions: list[OpenQuestion] = []
        self.sources: list[SourceRef] = []

    def ask(self, field: str, question: str, why: str, default_used: str) -> None:
        self.questions.append(OpenQuestion(field=field, question=question, why=why, default_used=default_used))
        self.assumptions.append(f"{field} not given: {default_used}.")

    def _default_src(self, name: str) -> str:
        e = defaults().get(name)
        return f"{e.source}, {e.as_of}"

    def frontier(self) -> None:
        p = self.p
        if (p.frontier_input_price_per_m is None) != (p.frontier_output_price_per_m is None):
            raise InvalidInput("Only one of 'frontier_input_price_per_m' and 'frontier_output_price_per_m' was given.",
                               fix="Pass both explicit prices, or neither and name frontier_model.")
        if p.frontier_input_price_per_m is not None:
            self.price_in, self.price_out = p.frontier_input_price_per_m, p.frontier_output_price_per_m
            self.tier = None
            self.model_name = p.frontier_model or "the frontier model (explicit prices)"
        else:
            name = p.frontier_model
            if name is None:
                name = defaults().get("frontier_model").model_extra["name"]
                self.ask("frontier_model", "Which model serves the task today?",
                         "Its price per token sets the frontier cost and, with the spend, the traffic volume.",
                         f"{name} ({self._default_src('frontier_model')})")
            m = pricing.frontier_model(name)
            self.price_in, self.price_out, self.tier, self.model_name = m.input_per_m, m.output_per_m, m.tier, m.name
            for what, value in (("input", m.input_per_m), ("output", m.output_per_m)):
                self.sources.append(SourceRef(what=f"{m.name} {what} price", value=value, unit="USD per million tokens",
                                              source=m.source, as_of=m.as_of))
        for field, q in (("avg_input_tokens", "How many tokens does a request send (prompt, instructions, input)?"),
                         ("avg_output_tokens", "How many tokens does an answer take?")):
            if getattr(p, field) is None:
                self.ask(field, q, "Tokens per request set the serving GPU-hours, and with the spend, the volume.",
                         f"{default(field):g} tokens ({self._default_src(field)})")
        self.tin = p.avg_input_tokens if p.avg_input_tokens is not None else default("avg_input_tokens")
        self.tout = p.avg_output_tokens if p.avg_output_tokens is not None else default("avg_output_tokens")
        self.per_request = (self.tin * self.price_in + self.tout * self.price_out) / 1e6
        spend, reqs = _span(p.monthly_api_spend_usd, "monthly_api_spend_usd"), _span(p.monthly_requests,
                                                                                        "monthly_requests")
        if spend is None and reqs is None:
            raise InvalidInput("The traffic is unknown: neither 'monthly_api_spend_usd' nor 'monthly_requests' was "
                               "given, and every cost in the answer scales with it.",
                               fix="Ask: what does the task cost a month on the API today, or how many requests a "
                                   "month does it serve? Pass monthly_api_spend_usd or monthly_requests.")
        if reqs is not None and reqs.likely <= 0:
            raise InvalidInput("Argument 'monthly_requests' is 0: there is no traffic to move.",
                               fix="Give the requests per month the task serves (more than 0).")
        if spend is not None and spend.likely <= 0:
            raise InvalidInput("Argument 'monthly_api_spend_usd' is 0: there is no spend to save.",
                               fix="Give today's monthly spend on the task (more than 0).")
        self.frontier_monthly = spend.likely if spend is not None else reqs.likely * self.per_request
        self.requests = reqs.likely if reqs is not None else spend.likely / self.per_request
        if reqs is None:
            self.assumptions.append(f"Monthly requests derived from the spend at {_money(self.per_request * 1000)} per "
                                    f"1,000 requests ({self.model_name}): {self.requests:,.0f}.")
        elif spend is not None:
            self.assumptions.append(f"Frontier cost taken from the spend; requests x tokens x prices would give "
                                    f"{_money(reqs.likely * self.per_request)}.")
        ranged = reqs if reqs is not None and reqs.is_range else spend if spend is not None and spend.is_range else None
        self.volume = (dm.Span(ranged.low / ranged.likely, 1.0, ranged.high / ranged.likely) if ranged
                       else dm.Span.point(1.0))
        if ranged is None:
            self.assumptions.append("Volume taken as known (a single number); give a {low, high} range for "
                                    "uncertain or growing traffic.")

    def specialist(self) -> None:
        p = self.p
        if p.specialist_params_b is not None:
            self.size = p.specialist_params_b
        elif p.task_type is not None:
            self.size = MODEL_SIZES[p.task_type][1]
            self.assumptions.append(f"Specialist size {self.size:g}B: the top of the {p.task_type} range.")
        else:
            self.size = default("specialist_params_b")
            self.ask("task_type", "What kind of task is it (classification, extraction, ...)?",
                     "It sets the specialist's size, which sets serving throughput and training cost.",
                     f"an {self.size:g}B specialist ({self._default_src('specialist_params_b')})")
        card, rate = pricing.gpu_rate(p.serving_gpu, arg="serving_gpu")
        self.gpu = card.name
        if p.serving_gpu_hourly_usd is not None:
            self.rate = p.serving_gpu_hourly_usd
        else:
            self.rate = rate.usd_per_hour
            self.sources.append(SourceRef(what=f"{card.name} hourly rate ({rate.provider})", value=rate.usd_per_hour,
                                          unit="USD per GPU-hour", source=rate.source, as_of=rate.as_of))
        tps = _span(p.serving_tokens_per_second, "serving_tokens_per_second")
        self.gpus_per_replica = 1
        if tps is None:
            tp = pricing.serving_throughput(self.size, card.name)
            self.gpus_per_replica = tp.num_gpus
            tps = dm.Span(tp.low, (tp.low + tp.high) / 2, tp.high)
            scaled = f", scaled from the {tp.scaled_from_b:g}B row" if tp.scaled_from_b else ""
            self.sources.append(SourceRef(what=f"{tp.row.model_params_b:g}B on {tp.num_gpus} x {card.name} tokens/s "
                                               f"(low end)", value=tp.row.tokens_per_second[0], unit="tokens/s",
                                          source=tp.row.source, as_of=tp.row.as_of))
            self.assumptions.append(f"Serving throughput {tps.low:,.0f}-{tps.high:,.0f} tokens/s (likely "
                                    f"{tps.likely:,.0f}) for {self.size:g}B on {card.name}{scaled}; every token, input "
                                    "and output, counts against it, which leans towards overstating the cost.")
        elif tps.likely <= 0:
            raise InvalidInput("Argument 'serving_tokens_per_second' is 0.", fix="Give the measured tokens/s (> 0).")
        self.tps = tps
        self.on_hours = p.dedicated_hours_per_month or default("dedicated_hours_per_month")
        if p.dedicated_hours_per_month is None:
            self.ask("dedicated_hours_per_month", "If the model runs on its own GPU, is it on all month or only in "
                     "working hours?", "A GPU kept on all month costs the same at any traffic; fewer hours cut the "
                     "dedicated price.", f"{self.on_hours:g} hours, a GPU kept on all month")
        self.max_util = default("dedicated_max_utilisation")
        if p.hosting == "auto":
            self.ask("hosting", "Where would the specialist run: serverless GPUs billed per second, or a GPU of "
                     "your own kept on?", "Serverless costs scale with traffic; a dedicated GPU is a fixed monthly "
                     "bill that small traffic cannot fill.", "both priced, the cheaper one chosen")

    def quality(self) -> None:
        p = self.p
        if p.quality_needed is not None:
            self.needed = p.quality_needed
        else:
            bar = p.quality_bar or "near_frontier"
            self.needed = threshold(f"quality_needed_{bar}")
            if p.quality_bar is None:
                self.ask("quality_bar", "Must the answers match the frontier model, or is about 90% of its quality "
                         "fine?", "The bar sets how much traffic must stay on the frontier model when the "
                         "specialist falls short.", f"near_frontier: keep {self.needed:.0%} of frontier quality")
        self.evidence: dm.Evidence | None = None
        if (p.frontier_eval is None) != (p.small_eval is None):
            raise InvalidInput("Only one of 'frontier_eval' and 'small_eval' was given: quality is measured as the "
                               "small model's score over the frontier model's on the same items.",
                               fix="Pass both run_eval results files, or neither.")
        if p.frontier_eval is not None:
            f_name, f = _load_eval(p.frontier_eval, "frontier_eval")
            s_name, s = _load_eval(p.small_eval, "small_eval")
            shared = set(f) & set(s)
            if len(shared) < 10:
                raise InvalidInput(f"'frontier_eval' and 'small_eval' share {len(shared)} item ids; at least 10 "
                                   "are needed to measure a quality gap.",
                                   fix="Run run_eval for both models on the same eval set (the same limit).")
            ev = dm.paired_evidence(f, s, f_name, s_name, seed=p.seed)
            if ev.frontier_rate == 0:
                raise InvalidInput("The frontier model got no item right in 'frontier_eval', so quality retained "
                                   "cannot be measured against it.", fix="Check the eval set and the scoring.")
            self.evidence = ev
            likely = min(ev.retained, 1.0)  # a small model better than the frontier still retains at most all
            self.q = dm.Span(min(ev.retained_low, likely), likely, max(min(ev.retained_high, 1.0), likely))
            self.basis = "measured"
        elif p.quality_retained is not None:
            q = _span(p.quality_retained, "quality_retained")
            if q.high > 1:
                raise InvalidInput("Argument 'quality_retained' is above 1.",
                                   fix="Give it as a share of the frontier model's quality, 0 to 1.")
            self.q, self.basis = q, "stated"
        else:
            e = defaults().get("quality_retained")
            self.q, self.basis = dm.Span(e.low, e.likely, e.high), "unverified_default"
            self.ask("frontier_eval", "Can we score the frontier model and a small prompted model on the same 50 "
                     "items (run_eval with limit=50)?", "Without it the break-even rests on an assumed quality; a "
                     "measured gap can move traffic back to the frontier or confirm parity.",
                     f"quality retained {e.low:g}-{e.high:g} (likely {e.likely:g}), unverified")

    def costs(self) -> None:
        p = self.p
        rate = p.engineering_rate_usd if p.engineering_rate_usd is not None else default("engineering_rate_usd")
        if p.engineering_rate_usd is None:
            self.ask("engineering_rate_usd", "What does an engineering hour cost you?", "It prices the build, the "
                     "review and the upkeep hours.", f"${rate:g} an hour ({self._default_src('engineering_rate_usd')})")
        self.eng_rate = rate
        eng = _span(p.engineering_hours, "engineering_hours")
        if eng is None:
            e = defaults().get("engineering_hours")
            eng = dm.Span(e.low, e.likely, e.high)
            self.ask("engineering_hours", "How many engineering hours would building and shipping it take?",
                     "The largest upfront cost for most small tasks.",
                     f"{e.low:g}-{e.high:g} hours (likely {e.likely:g})")
        self.eng = eng
        examples = p.training_examples or int(default("training_examples"))
        if p.training_examples is None:
            self.assumptions.append(f"training_examples not given: {examples:,} (first-run data budget).")
        if p.training_cost_usd is not None:
            self.training = p.training_cost_usd
        else:
            est = training_cost(TrainingCostParams(model_params_b=self.size, num_examples=examples,
                                                   tokens_per_example=self.tin + self.tout, epochs=3))
            self.training = est.cost_usd
            self.assumptions.append(f"Training estimated: {self.size:g}B LoRA, {examples:,} examples x "
                                    f"{self.tin + self.tout:g} tokens x 3 epochs on {est.gpu} = "
                                    f"{est.gpu_hours:.2f} GPU-hours, {_money(est.cost_usd)}.")
            self.sources.extend(s for s in est.sources if s not in self.sources)
        self.evaluation = default("eval_items") * default("eval_calls_per_item") * self.per_request
        self.assumptions.append(f"Evaluation: {default('eval_items'):g} items x {default('eval_calls_per_item'):g} "
                                f"frontier-priced calls = {_money(self.evaluation)}.")
        data = _span(p.data_cost_usd, "data_cost_usd")
        self.data_parts = None
        if data is None:
            generated = examples / default("teacher_acceptance_rate")
            teacher = generated * self.per_request
            review = default("review_rows") * default("review_minutes_per_row") / 60 * rate
            self.data_parts = (teacher, review)
            data = dm.Span(0.5 * (teacher + review), teacher + review, 2 * (teacher + review))
            self.ask("data_cost_usd", "What will the training data cost: labelled logs on hand, or a teacher model "
                     "generating examples plus a person reviewing them?", "Data work is upfront cost; labelled "
                     "logs make it nearly free, hand labelling makes it the largest item.",
                     f"{_money(data.likely)} ({generated:,.0f} teacher calls {_money(teacher)} + review of "
                     f"{default('review_rows'):g} rows {_money(review)}), ranged x0.5-x2")
        self.data = data
        every = defaults().get("retrain_every_months").named(p.task_changes or "sometimes")
        upkeep = _span(p.monthly_upkeep_usd, "monthly_upkeep_usd")
        self.upkeep_parts = {}
        if upkeep is None:
            monitoring = default("monitoring_hours_per_month") * rate
            retrain = (self.training + default("retrain_engineering_hours") * rate + self.evaluation) / every
            self.upkeep_parts = {"monitoring": monitoring, "retraining": retrain}
            likely = monitoring + retrain
            upkeep = dm.Span(0.5 * likely, likely, 2 * likely)
            changes = p.task_changes or "sometimes"
            self.ask("monthly_upkeep_usd", "Who keeps it running, and how often will it need retraining?",
                     "Upkeep is paid every month and comes straight off the savings.",
                     f"{_money(likely)} a month ({default('monitoring_hours_per_month'):g} h monitoring + a retrain "
                     f"every {every:g} months for a task that changes {changes}), ranged x0.5-x2")
            if p.task_changes is None:
                self.assumptions.append("task_changes not given: 'sometimes' (retrain every "
                                        f"{every:g} months).")
        self.upkeep = upkeep
        share = _span(p.frontier_share, "frontier_share")
        if share is not None and share.high >= 1:
            raise InvalidInput("Argument 'frontier_share' reaches 1: every request would stay on the frontier.",
                               fix="Give the planned frontier share below 1 (e.g. 0.1 for 10%).")
        self.share = share or dm.Span.point(0.0)
        if share is None:
            self.assumptions.append("frontier_share not given: 0 planned (the quality bar may still keep some "
                                    "traffic on the frontier).")


def _load_eval(path: str, arg: str) -> tuple[str, dict[str, bool]]:
    file = resolve_path(path, arg=arg, must_exist=True)
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"Argument '{arg}': {path} is not JSON ({exc.msg}).",
                           fix="Pass the results_path that run_eval returned.") from exc
    if not isinstance(doc, dict) or doc.get("kind") != "eval_results" or not isinstance(doc.get("examples"), list):
        raise InvalidInput(f"Argument '{arg}': {path} is not a run_eval results file (kind eval_results).",
                           fix="Pass the results_path that run_eval returned.")
    model = doc.get("model") or {}
    name = model.get("ref", str(model)) if isinstance(model, dict) else str(model)
    return name, {str(e["id"]): bool(e.get("correct")) for e in doc["examples"] if "id" in e}


INPUT_LABEL = LABEL


def _flip_words(f: dm.Flip, limit: float, frontier: float) -> str:
    if f.flip_value is None:
        return "does not flip the answer anywhere in the searched domain"
    side = "above" if f.pays_above_flip else "below"
    where = (("inside" if f.flips_inside_range else "outside") + f" the range {f.low:,.3g}-{f.high:,.3g}"
             if f.low != f.high else f"given as {f.likely:,.3g}")
    extra = f", i.e. {_money(f.flip_value * frontier)} a month of frontier spend" if f.name == "volume" else ""
    return f"pays back within {limit:g} months only {side} {f.flip_value:,.3g}{extra} ({where})"


def decide(p: DecideParams) -> DecideResult:
    """The work of decide_specialization, without the memo."""
    b = _Builder(p)
    b.frontier()
    b.specialist()
    b.quality()
    b.costs()
    limit = threshold("payback_limit_months")
    model = dm.Model(frontier_monthly=b.frontier_monthly, tokens_monthly=b.requests * (b.tin + b.tout),
                     quality_needed=b.needed, hosting="serverless", gpu_rate=b.rate,
                     gpus_per_replica=b.gpus_per_replica, on_hours=b.on_hours, max_util=b.max_util,
                     serverless_price_per_m=p.serverless_price_per_m, training_usd=b.training,
                     evaluation_usd=b.evaluation, engineering_rate=b.eng_rate,
                     spans={"volume": b.volume, "quality_retained": b.q, "frontier_share": b.share,
                            "engineering_hours": b.eng, "tokens_per_second": b.tps, "data_cost_usd": b.data,
                            "monthly_upkeep_usd": b.upkeep})
    base = model.central()
    sv, dd = model.scalar(base, "serverless"), model.scalar(base, "dedicated")
    chosen = p.hosting if p.hosting != "auto" else ("serverless" if sv["serving"] <= dd["serving"] else "dedicated")
    model.hosting = chosen
    why = (f"The traffic takes {sv['gpu_hours']:,.1f} GPU-hours a month: serverless costs {_money(sv['serving'])}, "
           f"{dd['gpus']:.0f} dedicated {b.gpu} kept on {b.on_hours:g} h costs {_money(dd['serving'])}")
    why += (": you chose " + chosen + "." if p.hosting != "auto" else
            f"; {chosen} is cheaper by {_money(abs(sv['serving'] - dd['serving']))} a month.")
    hosting = Hosting(chosen=chosen, serverless_monthly_usd=sv["serving"], dedicated_monthly_usd=dd["serving"],
                      dedicated_gpus=int(dd["gpus"]), gpu_hours_needed=sv["gpu_hours"], why=why)
    c = model.scalar(base)
    draws = dm.sample(model, p.samples, p.seed)
    pay = dm.percentiles(draws["payback"])
    sav = dm.percentiles(draws["savings"])
    share_ok = float((draws["payback"] <= limit).mean())
    flips = dm.flip_points(model, limit)
    ranked = sorted(flips, key=lambda f: (not f.flips_inside_range, -dm.swing(f, limit)))
    deciding = [INPUT_LABEL[f.name] for f in ranked if f.flips_inside_range or dm.swing(f, limit) > 0][:3]

    route = assess(AssessParams(task_type=p.task_type, task_scope=p.task_scope, task_changes=p.task_changes,
                                knowledge_gap=p.knowledge_gap, ml_capacity=p.ml_capacity,
                                quality_bar=p.quality_bar, latency_or_cost_pressure=True,
                                teacher_performs_well=True))
    reasons = [f"Today's spend: {_money(b.frontier_monthly)} a month ({spend_band(b.frontier_monthly)})."]
    p10, p50, p90 = pay
    evidence_ok = b.evidence is not None and b.evidence.n >= threshold("evidence_min_items")
    if route.recommendation in ("prompting", "rag"):
        verdict, confidence = "dont", "medium"
        reasons.append(f"assess_task: {route.route} ({route.reasons[-1] if route.reasons else ''})")
    elif p50 > limit:
        verdict = "dont"
        confidence = "high" if p10 > limit else "medium"
        reasons.append(f"The median payback is {_months(_fin(p50))}, beyond the {limit:g}-month limit"
                       + (" even in the optimistic tenth of draws." if p10 > limit else "."))
    elif b.basis == "unverified_default" and p90 > limit:
        verdict, confidence = "not_yet", "low"
        reasons.append(f"It pays back in {_months(_fin(p50))} at the median, but not within {limit:g} months in "
                       f"the pessimistic tenth ({_months(_fin(p90))}), and the quality it rests on is unmeasured.")
    else:
        verdict = "hybrid" if c["share"] > 0.005 else "specialize"
        confidence = ("high" if evidence_ok and p90 <= limit else
                      "low" if b.basis == "unverified_default" else "medium")
        reasons.append(f"It pays back in {_months(_fin(p50))} at the median ({_months(_fin(p10))}-"
                       f"{_months(_fin(p90))} from P10 to P90); {share_ok:.0%} of draws pay back within {limit:g} "
                       "months.")
        if verdict == "hybrid":
            reasons.append(f"{c['share']:.0%} of requests stay on the frontier model "
                           + ("to keep the quality bar." if c["quality_share"] >= c["share"] - 1e-9 else "as planned."))
    if b.tier == "budget":
        reasons.append("The frontier model is budget-tier: hard to undercut on cost; specialise for quality, "
                       "latency or privacy.")
    reasons.append(f"Hosting: {why}")

    if b.basis == "measured":
        ev = b.evidence
        quality_note = (f"Measured on {ev.n} shared items: {ev.small_model} got {ev.small_rate:.0%} right, "
                        f"{ev.frontier_model} {ev.frontier_rate:.0%}, so quality retained is {ev.retained:.2f} "
                        f"(P10-P90 {ev.retained_low:.2f}-{ev.retained_high:.2f}); the bar is {b.needed:.2f}. "
                        + ("A probe this small gives medium confidence at best. " if not evidence_ok else "")
                        + "A prompted small model is a lower bound on the specialist it will become.")
    elif b.basis == "stated":
        quality_note = (f"Quality retained {b.q.likely:.2f} is your estimate, not a measurement; the verdict's "
                        "confidence is capped at medium until run_eval measures it.")
    else:
        quality_note = (f"Quality is not measured: retained quality is assumed {b.q.low:g}-{b.q.high:g} (likely "
                        f"{b.q.likely:g}) against a bar of {b.needed:.2f}, so parity is an unverified assumption and "
                        "the confidence is low.")
    reasons.append(quality_note)

    if verdict == "not_yet" or (b.basis != "measured" and verdict in ("specialize", "hybrid")):
        next_tool = NextTool(tool="run_eval", arguments={"model": b.model_name, "limit": 50},
                             missing=["eval_set (a dev set JSONL of the task)", "then the same call for a small "
                                      "prompted model", "then decide_specialization with frontier_eval and small_eval"],
                             why="Measure the quality gap on 50 items before anyone builds a dataset.")
        next_step = "Run the 50-item quality probe (frontier and small model), then rerun this decision with it."
    elif verdict == "dont":
        next_tool = None
        vol = next((f for f in flips if f.name == "volume"), None)
        grow = (f" Rerun when the volume passes {vol.flip_value:,.2f}x today's."
                if vol and vol.flip_value and vol.pays_above_flip else "")
        next_step = "Stay on the frontier model; improve the prompt, or move to a cheaper model tier." + grow
    else:
        next_tool = NextTool(tool="generate_batch", arguments={}, missing=["model (the teacher)", "plan_path or cells"],
                             why="Build the training set from the teacher; then validate_rows and train.")
        next_step = "Write the task spec and eval sets, generate and validate the training data, then train."
    verdict_words = {"specialize": "Specialize", "dont": "Don't specialize", "hybrid": "Specialize with hybrid "
                     "routing", "not_yet": "Not yet: measure quality first"}[verdict]
    answer = (f"{verdict_words} ({confidence} confidence). Payback {_months(_fin(p10))} / {_months(_fin(p50))} / "
              f"{_months(_fin(p90))} (P10/P50/P90), saving {_money(sav[1])} a month at the median "
              f"({_money(sav[0])}-{_money(sav[2])}) on a {_money(b.frontier_monthly)} bill, {chosen} hosting. "
              f"Decided by: {', '.join(deciding) or 'nothing in the ranges given'}. {next_step}")
    tornado = [TornadoRow(input=f.name, low=f.low, likely=f.likely, high=f.high, payback_at_low=_fin(f.payback_low),
                          payback_at_high=_fin(f.payback_high), flip_value=f.flip_value,
                          flips_inside_range=f.flips_inside_range, flip=_flip_words(f, limit, b.frontier_monthly))
               for f in ranked]
    upfront_parts = {"training": b.training, "data": b.data.likely, "evaluation": b.evaluation,
                     "engineering": b.eng.likely * b.eng_rate}
    evidence = None
    if b.evidence is not None:
        ev = b.evidence
        evidence = Evidence(n=ev.n, frontier_model=ev.frontier_model, small_model=ev.small_model,
                            frontier_rate=ev.frontier_rate, small_rate=ev.small_rate, quality_retained=ev.retained,
                            retained_p10=ev.retained_low, retained_p90=ev.retained_high,
                            oracle_frontier_share=ev.oracle_share)
    return DecideResult(
        verdict=verdict, confidence=confidence, answer=answer, reasons=reasons, quality_basis=b.basis,
        quality_note=quality_note, evidence=evidence, route=route.recommendation, hosting=hosting,
        payback_months=Percentiles(p10=_fin(p10), p50=_fin(p50), p90=_fin(p90)),
        monthly_savings_usd=Percentiles(p10=sav[0], p50=sav[1], p90=sav[2]), share_paying_back=share_ok,
        payback_limit_months=limit,
        central={k: c[k] for k in ("frontier", "serving", "remainder", "upkeep", "specialist", "savings", "upfront",
                                   "payback", "share")},
        upfront_parts_usd=upfront_parts, upkeep_parts_usd=b.upkeep_parts, quality_needed=b.needed,
        tornado=tornado, deciding_inputs=deciding, open_questions=b.questions, assumptions=b.assumptions,
        sources=b.sources, next_tool=next_tool, next_step=next_step, memo_path=None, plots=[])


@tool(idempotent=True)
def decide_specialization(params: DecideParams, *, progress=None) -> DecideResult:
    """Should we specialize? One firm, numbers-backed answer: specialize, don't, hybrid, or not yet (measure first).

    Takes whatever is known (spend or requests, tokens, frontier model, hosting, data cost, upkeep, engineering
    hours, quality evidence from run_eval), with ranges for the uncertain ones. Prices serverless and dedicated
    hosting and picks the cheaper; counts data work, evaluation, retraining and upkeep; samples the ranges for a
    P10/P50/P90 payback; finds, for each input, the value that flips the answer; ties quality to run_eval results
    when given. Returns the verdict, confidence, the deciding inputs, the open questions with the defaults used,
    every assumption, the next tool call, and writes decision.md with plots.
    """
    result = decide(params)
    if params.write_memo:
        from specialize.assess.memo import write_memo

        out = resolve_path(params.output_dir, arg="output_dir", for_write=True)
        memo, plots = write_memo(result, out)
        result = result.model_copy(update={"memo_path": rel(memo), "plots": [rel(x) for x in plots]})
    return result
