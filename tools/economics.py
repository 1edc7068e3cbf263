"""estimate_break_even: when a specialist model pays back against a frontier API.

Pure arithmetic over the caller's figures and the dated tables in ``references/pricing/`` (read through
``specialize.assess.pricing``); every default it falls back on is listed in the result's ``assumptions`` and every
table figure in its ``sources``. The training-cost arithmetic is ``tools/training_cost.py``; the rich tables for
the CLI live in ``specialize/assess/render.py``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from specialize.tools.training_cost import (
    METHOD_LABEL,
    SourceRef,
    TrainingCostParams,
    training_cost,
)

from specialize.assess import pricing
from specialize.assess.render import render_break_even
from specialize.assess.thresholds import threshold
from specialize.runtime.catalog import tool
from specialize.runtime.errors import InvalidInput
from specialize.runtime.schema import Params, Result

HOURS_PER_MONTH = 730.0
# The decision thresholds live once, in references/economics/thresholds.yaml (quoted by the playbook).
SPEND_WEAK_BELOW = threshold("spend_weak_below_usd")
SPEND_STRONG_FROM = threshold("spend_strong_from_usd")
SPEND_CERTAIN_FROM = threshold("spend_certain_from_usd")
PAYBACK_LIMIT_MONTHS = threshold("payback_limit_months")

# --------------------------------------------------------------------------------------------------------------
# estimate_break_even


class BreakEvenParams(Params):
    monthly_api_spend_usd: float | None = Field(None, ge=0, description="What the task costs on the frontier API "
                                                "now, US dollars per month. Give this, or monthly_requests with "
                                                "token averages and a frontier model.")
    monthly_requests: float | None = Field(None, ge=0, description="Requests per month for this task.")
    avg_input_tokens: float | None = Field(None, ge=0, description="Average input (prompt) tokens per request.")
    avg_output_tokens: float | None = Field(None, ge=0, description="Average output tokens per request.")
    frontier_model: str | None = Field(None, description="Frontier model priced from "
                                       "references/pricing/frontier_models.yaml (e.g. claude-sonnet-4.5).")
    frontier_input_price_per_m: float | None = Field(None, ge=0, description="Explicit frontier input price, "
                                                     "US dollars per million tokens (overrides the table).")
    frontier_output_price_per_m: float | None = Field(None, ge=0, description="Explicit frontier output price, "
                                                      "US dollars per million tokens (overrides the table).")
    specialist_params_b: float = Field(8, gt=0, le=2000, description="Specialist model size, billions of "
                                       "parameters (sets reference serving throughput and training FLOPs).")
    serving_monthly_usd: float | None = Field(None, ge=0, description="Flat monthly hosting cost of the "
                                              "specialist (replaces the per-token and GPU serving estimates).")
    serving_price_per_m: float | None = Field(None, ge=0, description="Specialist serving price, US dollars per "
                                              "million tokens (input and output alike), e.g. a hosted endpoint.")
    serving_gpu: str | None = Field(None, description="GPU serving the specialist (default A100-80GB when no "
                                    "other serving option is given).")
    serving_gpu_provider: str | None = Field(None, description="Provider whose hourly rate to use for serving_gpu.")
    serving_gpu_hourly_usd: float | None = Field(None, gt=0, description="Explicit serving price per GPU-hour.")
    serving_tokens_per_second: float | None = Field(None, gt=0, description="Measured serving throughput, tokens "
                                                    "per second (default: the reference range for that GPU).")
    serving_num_gpus: int | None = Field(None, ge=1, le=64, description="GPUs serving one replica (default: from "
                                         "the reference row, else 1).")
    serving_min_gpu_hours: float = Field(0, ge=0, le=100_000, description="GPU-hours paid per month however "
                                         "little traffic there is: 0 for per-second serverless billing, 730 "
                                         "for one GPU kept on all month.")
    training_cost_usd: float | None = Field(None, ge=0, description="Training cost if known; otherwise estimated "
                                            "as in estimate_training_cost.")
    training_examples: int = Field(5000, gt=0, description="Examples to train on (for the training estimate).")
    training_tokens_per_example: float = Field(1000, gt=0, description="Tokens per training example.")
    training_epochs: float = Field(3, gt=0, le=100, description="Training epochs.")
    training_gpu: str = Field("A100-80GB", description="GPU used for training.")
    training_method: Literal["lora", "qlora"] = Field("lora", description="lora or qlora.")
    data_cost_usd: float = Field(0, ge=0, description="One-off data cost: teacher generation, labelling, review.")
    engineering_hours: float = Field(40, ge=0, description="Engineering hours to build and ship the pipeline.")
    engineering_rate_usd: float = Field(100, ge=0, description="Cost of one engineering hour, US dollars.")
    monthly_maintenance_usd: float = Field(0, ge=0, description="Monthly upkeep of the specialist: retraining, "
                                           "monitoring, on-call (US dollars).")
    frontier_share: float = Field(0, ge=0, lt=1, description="Share of requests still routed to the frontier "
                                  "model (hybrid routing), 0 to below 1.")


class TimelineMonth(Result):
    month: int = Field(description="Month after launch (0 = the upfront spend).")
    frontier_cost_usd: float = Field(description="What staying on the frontier model costs that month.")
    specialist_cost_usd: float = Field(description="What the specialist route costs that month (month 0: upfront).")
    cumulative_savings_usd: float = Field(description="Savings to date, net of the upfront cost.")


class Scenario(Result):
    name: str = Field(description="half_volume, double_volume, throughput_low or throughput_high.")
    description: str = Field(description="What was changed.")
    monthly_savings_usd: float = Field(description="Monthly savings in this scenario.")
    break_even_months: float | None = Field(description="Months to pay back; null when it never does.")


class BreakEvenResult(Result):
    viable: bool = Field(description="Whether the specialist saves money each month at all.")
    verdict: Literal["strong", "weak", "hybrid"] = Field(description="The decision framework's call on the "
                                                         "economics: strong, weak, or hybrid (routing).")
    reasons: list[str] = Field(description="Why the verdict, in plain words.")
    monthly_frontier_cost_usd: float = Field(description="Monthly cost of the task on the frontier model alone.")
    monthly_specialist_cost_usd: float = Field(description="Monthly cost after switching: serving + frontier "
                                               "share + maintenance.")
    monthly_serving_cost_usd: float = Field(description="Monthly cost of serving the specialist.")
    monthly_frontier_remainder_usd: float = Field(description="Monthly cost of the requests still sent to the "
                                                  "frontier model.")
    monthly_maintenance_usd: float = Field(description="Monthly upkeep included.")
    monthly_savings_usd: float = Field(description="Frontier cost minus specialist cost, per month.")
    monthly_tokens: float | None = Field(description="Tokens per month (input + output), when known.")
    serving_cost_per_m_tokens: float | None = Field(description="Specialist serving cost per million tokens, when "
                                                    "serving is priced per token or per GPU-hour.")
    training_cost_usd: float = Field(description="Training cost (given or estimated).")
    data_cost_usd: float = Field(description="One-off data cost.")
    engineering_cost_usd: float = Field(description="Engineering hours x rate.")
    upfront_cost_usd: float = Field(description="Training + data + engineering.")
    break_even_months: float | None = Field(description="Upfront cost / monthly savings, unrounded; null when "
                                            "savings are zero or negative.")
    year1_savings_usd: float = Field(description="12 months of savings minus the upfront cost.")
    year2_savings_usd: float = Field(description="Savings in the second year (upfront already paid).")
    timeline: list[TimelineMonth] = Field(description="Months 0..12, cumulative.")
    sensitivity: list[Scenario] = Field(description="Break-even at half and double the volume and at the low and "
                                        "high end of the serving throughput range.")
    assumptions: list[str] = Field(description="Every default, derivation and rule used.")
    sources: list[SourceRef] = Field(description="Table figures used, with source and as-of date.")


def break_even_months(upfront: float, monthly_savings: float) -> float | None:
    """Months until cumulative savings cover the upfront cost; None when savings never accrue."""
    if monthly_savings <= 0:
        return None
    return upfront / monthly_savings


def cumulative_timeline(upfront: float, frontier: float, specialist: float, months: int = 12) -> list[TimelineMonth]:
    rows = [TimelineMonth(month=0, frontier_cost_usd=0.0, specialist_cost_usd=upfront,
                          cumulative_savings_usd=-upfront)]
    for month in range(1, months + 1):
        rows.append(TimelineMonth(month=month, frontier_cost_usd=frontier, specialist_cost_usd=specialist,
                                  cumulative_savings_usd=month * (frontier - specialist) - upfront))
    return rows


def _money(x: float) -> str:
    return f"-${-x:,.2f}" if x < 0 else f"${x:,.2f}"


class _Volume:
    """The frontier model's monthly cost and the monthly token volume, at today's traffic."""

    tier: str | None = None  # price tier of a table model (budget-tier APIs are hard to undercut)

    def __init__(self, p: BreakEvenParams, assumptions: list[str], sources: list[SourceRef]) -> None:
        self.p = p
        price_in, price_out = self._prices(assumptions, sources)
        per_request = None
        if price_in is not None and p.avg_input_tokens is not None and p.avg_output_tokens is not None:
            per_request = (p.avg_input_tokens * price_in + p.avg_output_tokens * price_out) / 1e6
        requests = p.monthly_requests
        if p.monthly_api_spend_usd is not None:
            self.frontier = p.monthly_api_spend_usd
            if requests is None and per_request:
                requests = p.monthly_api_spend_usd / per_request
                assumptions.append(f"Monthly requests derived from the spend and the frontier price per request "
                                   f"({_money(per_request)}): {requests:,.0f}.")
            elif requests is not None and per_request is not None:
                assumptions.append(f"Frontier cost taken from monthly_api_spend_usd; the token counts and prices "
                                   f"would give {_money(requests * per_request)}.")
        elif requests is not None and per_request is not None:
            self.frontier = requests * per_request
        else:
            missing = [f for f in ("monthly_requests", "avg_input_tokens", "avg_output_tokens")
                       if getattr(p, f) is None]
            if price_in is None:
                missing.append("frontier_model (or frontier_input_price_per_m and frontier_output_price_per_m)")
            raise InvalidInput("The current frontier cost is unknown: 'monthly_api_spend_usd' is missing and so is "
                               f"{', '.join(missing)}.",
                               fix="Pass monthly_api_spend_usd, or monthly_requests with avg_input_tokens, "
                                   "avg_output_tokens and frontier_model (or explicit prices).")
        self.tokens = None
        if requests is not None and p.avg_input_tokens is not None and p.avg_output_tokens is not None:
            self.tokens = requests * (p.avg_input_tokens + p.avg_output_tokens)

    def _prices(self, assumptions: list[str], sources: list[SourceRef]) -> tuple[float | None, float | None]:
        p = self.p
        given = (p.frontier_input_price_per_m, p.frontier_output_price_per_m)
        if (given[0] is None) != (given[1] is None):
            raise InvalidInput("Only one of 'frontier_input_price_per_m' and 'frontier_output_price_per_m' was "
                               "given.", fix="Pass both explicit prices, or neither and name frontier_model.")
        if given[0] is not None:
            assumptions.append(f"Frontier prices given: ${given[0]:g} in / ${given[1]:g} out per million tokens.")
            return given
        if p.frontier_model is None:
            return None, None
        m = pricing.frontier_model(p.frontier_model)
        self.tier = m.tier
        for what, value in (("input", m.input_per_m), ("output", m.output_per_m)):
            sources.append(SourceRef(what=f"{m.name} {what} price", value=value, unit="USD per million tokens",
                                     source=m.source, as_of=m.as_of))
        return m.input_per_m, m.output_per_m


class _Serving:
    """How the specialist's serving is priced: flat, per million tokens, or GPU-hours from throughput."""

    def __init__(self, p: BreakEvenParams, vol: _Volume, assumptions: list[str], sources: list[SourceRef]) -> None:
        self.p, self.vol = p, vol
        self.tps_range: tuple[float, float] | None = None
        self.per_m: float | None = None
        gpu_args = [f for f in ("serving_gpu", "serving_gpu_hourly_usd", "serving_tokens_per_second")
                    if getattr(p, f) is not None]
        chosen = [f for f in ("serving_monthly_usd", "serving_price_per_m") if getattr(p, f) is not None]
        if len(chosen) + bool(gpu_args) > 1:
            raise InvalidInput(f"Serving is priced more than one way ({', '.join(chosen + gpu_args)}).",
                               fix="Give one of: serving_monthly_usd (flat), serving_price_per_m (per token), or "
                                   "serving_gpu with its hourly price/throughput.")
        self.mode = "flat" if p.serving_monthly_usd is not None else (
            "per_token" if p.serving_price_per_m is not None else "gpu")
        if self.mode == "flat":
            return
        if vol.tokens is None:
            raise InvalidInput("Serving the specialist per token or per GPU-hour needs the monthly token volume, "
                               "and 'monthly_requests' / 'avg_input_tokens' / 'avg_output_tokens' are not all known.",
                               fix="Pass monthly_requests, avg_input_tokens and avg_output_tokens (or pass the spend "
                                   "with token averages and frontier_model), or give serving_monthly_usd.")
        if self.mode == "per_token":
            self.per_m = p.serving_price_per_m
            return
        if p.serving_gpu is None:
            assumptions.append("No serving option given: assumed the specialist runs on A100-80GB.")
        card, rate = pricing.gpu_rate(p.serving_gpu or "A100-80GB", p.serving_gpu_provider, arg="serving_gpu")
        self.gpu = card.name
        if p.serving_gpu_hourly_usd is not None:
            self.rate = p.serving_gpu_hourly_usd
        else:
            self.rate = rate.usd_per_hour
            sources.append(SourceRef(what=f"{card.name} hourly rate ({rate.provider})", value=rate.usd_per_hour,
                                     unit="USD per GPU-hour", source=rate.source, as_of=rate.as_of))
        self.num_gpus = p.serving_num_gpus or 1
        if p.serving_tokens_per_second is not None:
            self.tps = p.serving_tokens_per_second
        else:
            tp = pricing.serving_throughput(p.specialist_params_b, card.name)
            self.tps_range = (tp.low, tp.high)
            self.tps = (tp.low + tp.high) / 2
            self.num_gpus = p.serving_num_gpus or tp.num_gpus
            sources.append(SourceRef(what=f"{tp.row.model_params_b:g}B on {tp.num_gpus} x {card.name}, tokens/s "
                                          f"{tp.row.tokens_per_second[0]:g}-{tp.row.tokens_per_second[1]:g}",
                                     value=tp.row.tokens_per_second[0], unit="tokens/s (low end)",
                                     source=tp.row.source, as_of=tp.row.as_of))
            scaled = (f", scaled from the {tp.scaled_from_b:g}B row by {tp.scaled_from_b:g}/"
                      f"{p.specialist_params_b:g} (throughput taken as inversely proportional to size)"
                      if tp.scaled_from_b else "")
            assumptions.append(f"Serving throughput: midpoint {self.tps:,.0f} tokens/s of the reference range "
                               f"{tp.low:,.0f}-{tp.high:,.0f}{scaled}; pass serving_tokens_per_second once measured.")
        assumptions.append("Every token (input and output) is counted against the serving throughput; prefill is "
                           "faster than decoding, so this leans towards overstating the serving cost.")
        self.per_m = self.num_gpus * self.rate / (self.tps * 3600) * 1e6
        self.hours_needed = vol.tokens * (1 - p.frontier_share) / (self.tps * 3600)

    def monthly(self, volume_factor: float = 1.0, tps: float | None = None) -> float:
        p = self.p
        if self.mode == "flat":
            return p.serving_monthly_usd
        tokens = self.vol.tokens * volume_factor * (1 - p.frontier_share)
        if self.mode == "per_token":
            return tokens / 1e6 * self.per_m
        hours = max(tokens / ((tps or self.tps) * 3600), p.serving_min_gpu_hours)
        return hours * self.num_gpus * self.rate


def _upfront(p: BreakEvenParams, assumptions: list[str], sources: list[SourceRef]) -> float:
    if p.training_cost_usd is not None:
        return p.training_cost_usd
    est = training_cost(TrainingCostParams(
        model_params_b=p.specialist_params_b, num_examples=p.training_examples,
        tokens_per_example=p.training_tokens_per_example, epochs=p.training_epochs, gpu=p.training_gpu,
        method=p.training_method))
    assumptions.append(f"Training cost estimated: {p.specialist_params_b:g}B {METHOD_LABEL[p.training_method]}, "
                       f"{p.training_examples:,} examples x {p.training_tokens_per_example:g} tokens x "
                       f"{p.training_epochs:g} epochs on {est.gpu} = {est.gpu_hours:.2f} GPU-hours, "
                       f"{_money(est.cost_usd)} (see estimate_training_cost).")
    assumptions.extend(est.assumptions)
    sources.extend(s for s in est.sources if s not in sources)
    return est.cost_usd


def _verdict(p: BreakEvenParams, frontier: float, savings: float, months: float | None, vol: _Volume,
             serving: _Serving, specialist: float, sensitivity: list[Scenario]) -> tuple[str, list[str]]:
    reasons: list[str] = []
    weak = False
    if savings <= 0:
        reasons.append(f"Not viable: the specialist route costs {_money(specialist)} a month against "
                       f"{_money(frontier)} on the frontier model, so every month loses {_money(-savings)}.")
        if serving.mode == "gpu" and p.serving_min_gpu_hours > serving.hours_needed:
            reasons.append(f"The traffic needs only {serving.hours_needed:,.1f} GPU-hours a month but "
                           f"{p.serving_min_gpu_hours:g} are paid for; per-second serverless billing or a "
                           "cheaper GPU would cut the serving cost.")
        if vol.tier == "budget":
            reasons.append("The frontier model is in the budget price tier, which is hard to undercut: "
                           "specialise for quality or latency, not cost.")
        if p.frontier_share > 0:
            reasons.append(f"{p.frontier_share:.0%} of requests still go to the frontier model.")
        if p.monthly_maintenance_usd > 0:
            reasons.append(f"Monthly maintenance of {_money(p.monthly_maintenance_usd)} is included.")
        return "weak", reasons
    if frontier < SPEND_WEAK_BELOW:
        weak = True
        reasons.append(f"The frontier spend of {_money(frontier)} a month is below {_money(SPEND_WEAK_BELOW)}: "
                       "the upfront work rarely pays back at this volume.")
    elif frontier < SPEND_STRONG_FROM:
        reasons.append(f"A frontier spend of {_money(frontier)} a month is worth investigating "
                       f"({_money(SPEND_WEAK_BELOW)}-{_money(SPEND_STRONG_FROM)} band).")
    elif frontier < SPEND_CERTAIN_FROM:
        reasons.append(f"A frontier spend of {_money(frontier)} a month makes this a strong candidate.")
    else:
        reasons.append(f"A frontier spend of {_money(frontier)} a month: specialising almost certainly pays.")
    if months > PAYBACK_LIMIT_MONTHS:
        weak = True
        reasons.append(f"Break-even takes {months:.2f} months, longer than {PAYBACK_LIMIT_MONTHS:g}.")
    else:
        reasons.append(f"The upfront cost is paid back in {months:.2f} months; savings are "
                       f"{_money(savings)} a month ({savings / frontier:.0%} of the frontier cost).")
    fragile = [s.name for s in sensitivity if s.break_even_months is None or s.break_even_months > PAYBACK_LIMIT_MONTHS]
    if fragile:
        weak = True
        reasons.append(f"Fragile: it does not pay back within {PAYBACK_LIMIT_MONTHS:g} months under "
                       f"{', '.join(fragile)}; a small change in traffic or throughput erases the case.")
    if weak:
        return "weak", reasons
    if p.frontier_share > 0:
        reasons.append(f"Hybrid routing: {1 - p.frontier_share:.0%} of requests to the specialist, "
                       f"{p.frontier_share:.0%} to the frontier model keeps frontier quality on the hard cases.")
        return "hybrid", reasons
    reasons.append("Economics alone favour the specialist; confirm quality against the frontier baseline before "
                   "switching, and keep a frontier fallback for hard cases if quality falls short.")
    return "strong", reasons


def break_even(p: BreakEvenParams) -> BreakEvenResult:
    """The arithmetic behind estimate_break_even."""
    assumptions: list[str] = []
    sources: list[SourceRef] = []
    vol = _Volume(p, assumptions, sources)
    serving = _Serving(p, vol, assumptions, sources)
    training = _upfront(p, assumptions, sources)
    engineering = p.engineering_hours * p.engineering_rate_usd
    for field, text in (("engineering_hours", f"{p.engineering_hours:g} engineering hours"),
                        ("engineering_rate_usd", f"{_money(p.engineering_rate_usd)} per engineering hour")):
        if field not in p.model_fields_set:
            assumptions.append(f"Assumed {text} (default).")
    for field, text in (("data_cost_usd", "data work (teacher generation, labelling, review)"),
                        ("monthly_maintenance_usd", "monthly upkeep (retraining, monitoring, on-call)")):
        if field not in p.model_fields_set:
            assumptions.append(f"{field} not given: {text} counted as $0, which flatters the case; pass it, or "
                               "use decide_specialization, which estimates it.")
    if serving.mode == "gpu" and p.serving_min_gpu_hours == 0:
        assumptions.append("Serving billed per second of GPU use (serverless); set serving_min_gpu_hours=730 for "
                           "a GPU kept on all month.")
    upfront = training + p.data_cost_usd + engineering

    def monthly(volume_factor: float = 1.0, tps: float | None = None) -> tuple[float, float, float]:
        frontier = vol.frontier * volume_factor
        remainder = frontier * p.frontier_share
        served = serving.monthly(volume_factor, tps)
        return frontier, served, remainder

    frontier, served, remainder = monthly()
    specialist = served + remainder + p.monthly_maintenance_usd
    savings = frontier - specialist
    months = break_even_months(upfront, savings)

    scenarios = [("half_volume", "half the monthly requests", 0.5, None),
                 ("double_volume", "double the monthly requests", 2.0, None)]
    if serving.tps_range:
        scenarios += [("throughput_low", f"serving at {serving.tps_range[0]:,.0f} tokens/s", 1.0, serving.tps_range[0]),
                      ("throughput_high", f"serving at {serving.tps_range[1]:,.0f} tokens/s", 1.0, serving.tps_range[1])]
    sensitivity = []
    for name, text, factor, tps in scenarios:
        f, s, r = monthly(factor, tps)
        sav = f - (s + r + p.monthly_maintenance_usd)
        sensitivity.append(Scenario(name=name, description=text, monthly_savings_usd=sav,
                                    break_even_months=break_even_months(upfront, sav)))

    verdict, reasons = _verdict(p, frontier, savings, months, vol, serving, specialist, sensitivity)
    return BreakEvenResult(
        viable=savings > 0, verdict=verdict, reasons=reasons, monthly_frontier_cost_usd=frontier,
        monthly_specialist_cost_usd=specialist, monthly_serving_cost_usd=served,
        monthly_frontier_remainder_usd=remainder, monthly_maintenance_usd=p.monthly_maintenance_usd,
        monthly_savings_usd=savings, monthly_tokens=vol.tokens, serving_cost_per_m_tokens=serving.per_m,
        training_cost_usd=training, data_cost_usd=p.data_cost_usd, engineering_cost_usd=engineering,
        upfront_cost_usd=upfront, break_even_months=months, year1_savings_usd=12 * savings - upfront,
        year2_savings_usd=12 * savings, timeline=cumulative_timeline(upfront, frontier, specialist),
        sensitivity=sensitivity, assumptions=assumptions, sources=sources)


@tool(read_only=True, idempotent=True, render=render_break_even)
def estimate_break_even(params: BreakEvenParams, *, progress=None) -> BreakEvenResult:
    """When a specialist model pays back against a frontier API: monthly costs, break-even, 12-month timeline.

    Frontier cost comes from the current spend, or from requests x tokens x a dated price (or explicit prices).
    Specialist cost is a flat hosting fee, a price per million tokens, or GPU-hours at a measured or reference
    throughput; plus any share still routed to the frontier (hybrid) and monthly maintenance. Upfront cost is
    training (given or estimated) + data + engineering hours x rate. Returns the exact break-even in months,
    year-1 and year-2 savings, a strong/weak/hybrid verdict with reasons, sensitivity to volume and throughput,
    and every assumption used.
    """
    return break_even(params)
