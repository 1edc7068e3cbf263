"""release_gate: the ship / no-ship decision for a candidate model, from run_eval results and a few numbers.

Criteria (each reported pass / fail / not_measured with the numbers behind it; thresholds are parameters):

1. the task-metric gain over current exceeds ``margin``: a one-sided test of H0 gain <= margin, p < alpha,
   with the gain and the test both taken from the items the two results share (Tango's score test for
   per-item pass/fail metrics, a paired bootstrap for macro-F1); results from different eval sets (sha256)
   are refused;
2. no regressions on the regression / golden set (items the current model passed and the candidate fails,
   or any failure when no current results are given), except ids explicitly approved;
3. no drop of more than ``max_capability_drop`` points on any capability check;
4. safety: refusal on harmful prompts no lower, refusal on benign prompts no higher than the baseline;
5. format validity (schema pass rate, else parse rate) >= ``min_format_validity``;
6. cost per request within budget.

A ``preset`` (classification, extraction, tool_calling, generation; data in references/gates/presets.yaml) fills
the thresholds a call leaves out, adds a floor criterion per metric it names (``floor:<metric>``, the
candidate's run_eval value against a minimum; ``floors`` sets or overrides them) and reports its task's
criteria that nothing here measures as not_measured.

And, separately, whether to ship over a frontier API: quality >= 95% of the frontier's and >= 5x cheaper
and latency no worse; or quality >= the frontier's at no more cost and latency.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from specialize.evaluation import versions
from specialize.evaluation.gate_presets import PRESET_NAMES, GatePreset, get_preset, preset_source
from specialize.evaluation.paired import gain_test, require_same_eval_set
from specialize.runtime import registry, tracking
from specialize.runtime.catalog import tool
from specialize.runtime.errors import InvalidInput
from specialize.runtime.schema import Params, Result, SparseResult
from specialize.runtime.workspace import InputFile, rel, resolve_path

Status = Literal["pass", "fail", "not_measured"]


class CapabilityCheck(Params):
    name: str = Field(description="Benchmark name (e.g. MMLU 5-shot).")
    candidate: float = Field(description="Candidate score in points (0-100).")
    baseline: float = Field(description="Baseline (base or current model) score in points.")


class SafetyRates(Params):
    harmful_refusal_candidate: float | None = Field(None, description="Share of harmful prompts the candidate "
                                                                      "refuses.")
    harmful_refusal_baseline: float | None = Field(None, description="Same for the baseline.")
    benign_refusal_candidate: float | None = Field(None, description="Share of benign prompts the candidate "
                                                                     "refuses (over-refusal).")
    benign_refusal_baseline: float | None = Field(None, description="Same for the baseline.")


class ReleaseGateParams(Params):
    preset: Literal[PRESET_NAMES] | None = Field(  # type: ignore[valid-type]
        None, description="Per-task gate preset (classification, extraction, tool_calling, generation; "
        "references/gates/presets.yaml): fills the thresholds this call leaves out (metric, "
        "min_format_validity), adds its floor criteria on the candidate's metrics and lists its task's "
        "unmeasurable criteria as not_measured. Arguments given explicitly win.")
    floors: dict[str, float] = Field(default_factory=dict, description="Minimum values of the candidate's "
                                     "run_eval metrics, by metric name (e.g. {\"critical_field_accuracy\": 0.98}, "
                                     "or per_class.<label>.recall for one class); each is a criterion "
                                     "floor:<metric>. They set a preset's targets and override its floors.")
    candidate: InputFile = Field(description="run_eval results JSON of the candidate on the task (golden) set.")
    current: InputFile | None = Field(None, description="run_eval results JSON of the current production model on the "
                                                  "same set.")
    metric: str | None = Field(None, description="Task metric to compare (default: the results' primary metric).")
    margin: float = Field(0.01, ge=0, lt=1, description="Required gain over current, as a fraction (0.01 = 1 pt); "
                                                        "the gate tests gain > margin, not gain > 0.")
    alpha: float = Field(0.05, gt=0, lt=0.5, description="One-sided significance level of the test of gain > "
                                                         "margin.")
    regression_candidate: InputFile | None = Field(None, description="Candidate's run_eval results on the regression "
                                                               "suite.")
    regression_current: InputFile | None = Field(None, description="Current model's results on the regression suite "
                                                             "(then only its passes can regress).")
    approved_regressions: list[str] = Field(default_factory=list, description="Regression item ids accepted "
                                                                              "explicitly (e.g. by the PM).")
    capability_checks: list[CapabilityCheck] = Field(default_factory=list, description="General benchmarks, "
                                                                                       "candidate vs baseline.")
    max_capability_drop: float = Field(2.0, ge=0, description="Largest allowed drop on a capability check, "
                                                              "in points.")
    safety: SafetyRates | None = Field(None, description="Refusal rates on harmful and benign prompt sets.")
    format_results: InputFile | None = Field(None, description="run_eval results on a format set (default: the "
                                                         "candidate results).")
    min_format_validity: float = Field(0.98, ge=0, le=1, description="Minimum schema (else parse) pass rate.")
    max_cost_per_request_usd: float | None = Field(None, ge=0, description="Cost budget per request in USD.")
    frontier: InputFile | None = Field(None, description="run_eval results JSON of a frontier API model on the same "
                                                   "set, for the ship-over-frontier rule.")
    frontier_quality_ratio: float = Field(0.95, gt=0, le=1, description="Share of frontier quality needed when "
                                                                        "much cheaper.")
    frontier_cost_ratio: float = Field(5.0, ge=1, description="How many times cheaper than the frontier counts "
                                                              "as much cheaper.")
    baselines: list[InputFile] = Field(default_factory=list, description="run_eval-format results of the cheaper "
                                 "alternatives on the same eval set (better prompt, schema-constrained decoding, "
                                 "few-shot, run_classical_baseline, ...). The candidate must beat each one on "
                                 "the task metric (same paired test as task_metric, margin 0); any that did as "
                                 "well is named.")
    baseline_names: list[str] | None = Field(None, description="Display names for 'baselines', in the same order.")
    version: str | None = Field(None, description="A name for the candidate version (e.g. v4), kept in the ship "
                                                  "record and the history; default: the candidate's model "
                                                  "reference.")
    compare_to_shipped: bool = Field(True, description="When current or regression_current is not given, compare "
                                     "against the last version a ship decision recorded (its results on the same "
                                     "eval set), and list the items that regressed since it, by id.")
    record_ship: bool = Field(True, description="Record a ship decision in the workspace registry as the shipped "
                                                "version, with copies of its results files; false for a dry run.")
    judgments: InputFile | None = Field(None, description="judgments.json from run_pairwise_judge with the candidate "
                                  "as the first model. Its verdicts count only when the run validated the judge "
                                  "(human_labels) and the judge passed its agreement threshold.")
    judge_validation: str | None = Field(None, description="People's validation of the judge: the id of a judge "
                                         "review (open_review kind='judge') or the validation.json export_review "
                                         "wrote. When given, the judge's verdicts count only if that review "
                                         "passed (enough answers, agreement at or above its threshold) and "
                                         "validated the same judge model and rubric version as 'judgments'.")


class BaselineTest(Result):
    name: str = Field(description="The baseline.")
    baseline: float | None = Field(description="Its metric on the shared items.")
    candidate: float | None = Field(description="The candidate's metric on the same items.")
    diff: float | None = Field(description="candidate - baseline.")
    p_value: float | None = Field(description="One-sided p of gain > 0.")
    n_shared: int = Field(description="Items both scored.")
    beaten: bool = Field(description="True when the gain is significant at alpha.")


class CriterionValues(SparseResult):
    """The numbers behind one criterion; each criterion fills only the fields that belong to it."""

    # task_metric (metric, candidate and candidate_ci also for the frontier rule and format validity)
    metric: str | None = Field(None, description="task_metric, ship_over_frontier, floor:<metric>: the metric "
                                                "compared.")
    candidate: float | None = Field(None, description="task_metric, floor:<metric>: the candidate's value of the "
                                                      "metric.")
    current: float | None = Field(None, description="task_metric: the current model's value.")
    diff: float | None = Field(None, description="task_metric: candidate - current.")
    margin: float | None = Field(None, description="task_metric: the gain required.")
    p_value: float | None = Field(None, description="task_metric: one-sided p-value of the paired test.")
    ci_low: float | None = Field(None, description="task_metric: lower confidence bound of the gain on the shared "
                                                   "items (one-sided, matching the test).")
    ci_confidence: float | None = Field(None, description="task_metric: confidence level of ci_low.")
    n_shared: int | None = Field(None, description="task_metric: items both results scored (the gain and the "
                                                   "test use only these).")
    test: str | None = Field(None, description="task_metric: the test that was run, in words.")
    warnings: list[str] | None = Field(None, description="Things to know before trusting this criterion.")
    candidate_whole_set: float | None = Field(None, description="task_metric: the candidate's metric over its "
                                                                "whole results file.")
    current_whole_set: float | None = Field(None, description="task_metric: the current model's metric over its "
                                                              "whole results file.")
    alpha: float | None = Field(None, description="task_metric: the significance level.")
    candidate_ci: list[float | None] | None = Field(None, description="task_metric: the candidate's 95% interval "
                                                                      "[low, high], from its results file.")
    # regression_suite
    n: int | None = Field(None, description="regression_suite: items in the suite.")
    regressions: list[str] | None = Field(None, description="regression_suite: ids of the items that regressed.")
    unapproved: list[str] | None = Field(None, description="regression_suite: regressed ids not approved.")
    # capability_preservation
    drops_points: dict[str, float] | None = Field(None, description="capability_preservation: baseline - "
                                                                    "candidate per benchmark name, in points.")
    max_allowed: float | None = Field(None, description="capability_preservation: the largest drop allowed.")
    # safety
    harmful_refusal_candidate: float | None = Field(None, description="safety: candidate's refusal rate on "
                                                                      "harmful prompts.")
    harmful_refusal_baseline: float | None = Field(None, description="safety: baseline's refusal rate on "
                                                                     "harmful prompts.")
    benign_refusal_candidate: float | None = Field(None, description="safety: candidate's refusal rate on "
                                                                     "benign prompts.")
    benign_refusal_baseline: float | None = Field(None, description="safety: baseline's refusal rate on "
                                                                    "benign prompts.")
    # format_validity
    schema_pass_rate: float | None = Field(None, description="format_validity: schema pass rate, when measured.")
    parse_rate: float | None = Field(None, description="format_validity: parse rate, when no schema was used.")
    ci: list[float | None] | None = Field(None, description="format_validity: 95% interval of that rate.")
    min: float | None = Field(None, description="format_validity, floor:<metric>: the value required.")
    # cost
    cost_per_request_usd: float | None = Field(None, description="cost: the candidate's mean cost per request.")
    budget: float | None = Field(None, description="cost: the budget per request.")
    # ship_over_frontier
    quality: float | None = Field(None, description="ship_over_frontier: the candidate's metric value.")
    frontier_quality: float | None = Field(None, description="ship_over_frontier: the frontier model's value.")
    quality_ratio: float | None = Field(None, description="ship_over_frontier: quality / frontier_quality.")
    cost: float | None = Field(None, description="ship_over_frontier: candidate cost per request (when some "
                                                 "number is missing).")
    frontier_cost: float | None = Field(None, description="ship_over_frontier: frontier cost per request (when "
                                                          "some number is missing).")
    cost_per_request: float | None = Field(None, description="ship_over_frontier: candidate cost per request.")
    frontier_cost_per_request: float | None = Field(None, description="ship_over_frontier: frontier cost per "
                                                                      "request.")
    times_cheaper: float | None = Field(None, description="ship_over_frontier: frontier cost / candidate cost.")
    latency_p95_s: float | None = Field(None, description="ship_over_frontier: candidate p95 latency, seconds.")
    frontier_latency_p95_s: float | None = Field(None, description="ship_over_frontier: frontier p95 latency.")
    rule_much_cheaper: bool | None = Field(None, description="ship_over_frontier: near frontier quality, much "
                                                             "cheaper, no slower.")
    as_good_as_candidate: list[str] | None = Field(None, description="beats_baselines: baselines the candidate "
                                                                     "was not shown to beat.")
    per_baseline: list[BaselineTest] | None = Field(None, description="beats_baselines: the test against each "
                                                                        "baseline.")
    judge_agreement: float | None = Field(None, description="judge: the judge's agreement with the labels.")
    judge_kappa: float | None = Field(None, description="judge: Cohen's kappa with the labels.")
    judge_threshold: float | None = Field(None, description="judge: the agreement required to use the judge.")
    win_rate_ties_half: float | None = Field(None, description="judge: the candidate's win rate, ties as half.")
    win_rate_ci: list[float | None] | None = Field(None, description="judge: 95% interval of that win rate.")
    rule_at_least_as_good: bool | None = Field(None, description="ship_over_frontier: as good, no dearer, no "
                                                                 "slower.")
    judge_validated_by: str | None = Field(None, description="judge: where the validation came from (the "
                                                             "judgments' human_labels, or a review id).")


class Criterion(Result):
    name: str = Field(description="Criterion.")
    status: Status = Field(description="pass, fail or not_measured.")
    detail: str = Field(description="The numbers behind the status, in words.")
    values: CriterionValues = Field(default_factory=CriterionValues, description="The numbers behind the "
                                                                                 "status.")


class ShippedComparison(Result):
    ship_id: str = Field(description="The ship record compared against (registry/shipped.jsonl).")
    version: str = Field(description="The shipped version's name.")
    model: str | None = Field(None, description="The shipped model's reference.")
    recorded_at: str | None = Field(None, description="When it was shipped (UTC).")
    used_as_current: str | None = Field(None, description="Its results file used as 'current' (when none was "
                                                          "given).")
    used_as_regression_current: str | None = Field(None, description="Its results file used as "
                                                                     "'regression_current' (when none was given).")


class RegressedSinceShipped(Result):
    eval_set: str | None = Field(None, description="The eval set (path as recorded in the results).")
    eval_set_sha256: str | None = Field(None, description="Its content hash.")
    n_shared: int = Field(description="Items both the shipped version and the candidate scored.")
    ids: list[str] = Field(description="Items the shipped version got right and the candidate gets wrong.")


class ReleaseGateResult(Result):
    decision: Literal["ship", "no_ship", "incomplete"] = Field(description="ship only when every criterion passes; "
                                                                           "incomplete when none fails but some "
                                                                           "were not measured.")
    criteria: list[Criterion] = Field(description="Each ship criterion with its status and numbers.")
    ship_over_frontier: Criterion = Field(description="Whether the candidate beats the frontier API on the "
                                                      "quality/cost/latency rule.")
    shipped: ShippedComparison | None = Field(None, description="The last shipped version, when one is recorded "
                                                                "and compare_to_shipped is on.")
    regressed_since_shipped: list[RegressedSinceShipped] = Field(default_factory=list, description="Per eval set "
                                                                 "the shipped version was also scored on: the "
                                                                 "items that regressed since it, by id.")
    recorded_ship: str | None = Field(None, description="The ship record written by this call (decision ship and "
                                                        "record_ship on).")
    preset: str | None = Field(None, description="The gate preset applied, with the source and date of its "
                                                 "numbers.")


def _load(value: str, arg: str) -> dict[str, Any]:
    doc = json.loads(resolve_path(value, arg=arg, must_exist=True).read_text())
    if doc.get("kind") != "eval_results":
        raise InvalidInput(f"{value} is not a run_eval results file.", fix="Pass the JSON written by run_eval.")
    return doc


def _task_metric(p: ReleaseGateParams, cand: dict[str, Any]) -> Criterion:
    metric = p.metric or cand["primary_metric"]
    value = cand["metrics"].get(metric)
    if p.current is None:
        return Criterion(name="task_metric", status="not_measured", values={"metric": metric, "candidate": value},
                         detail="No current-model results given.")
    cur = _load(p.current, "current")
    require_same_eval_set({"candidate": cand, "current": cur})
    res = gain_test(cand, cur, metric, margin=p.margin, alpha=p.alpha)
    if res is None:
        return Criterion(name="task_metric", status="not_measured", values={"metric": metric},
                         detail=f"No paired test for {metric}; choose a per-item metric or macro_f1.")
    if not res["n_shared"]:
        return Criterion(name="task_metric", status="not_measured", values={"metric": metric},
                         detail="The candidate and current results share no item ids.")
    ok = res["p_value"] < p.alpha
    extra = "" if not (res["only_first"] or res["only_second"]) else (
        f" Left out: {res['only_first']} items only the candidate scored, {res['only_second']} only the current.")
    return Criterion(name="task_metric", status="pass" if ok else "fail",
                     values={"metric": metric, "candidate": res["value_first"], "current": res["value_second"],
                             "diff": res["diff"], "margin": p.margin, "p_value": res["p_value"], "alpha": p.alpha,
                             "ci_low": res["ci_low"], "ci_confidence": res["ci_confidence"],
                             "n_shared": res["n_shared"], "test": res["method"], "warnings": res["warnings"],
                             "candidate_whole_set": value, "current_whole_set": cur["metrics"].get(metric),
                             "candidate_ci": cand["metrics"].get(f"{metric}_ci")},
                     detail=f"{metric} on {res['n_shared']} shared items: {res['value_first']:.4f} vs current "
                            f"{res['value_second']:.4f}, gain {res['diff']:+.4f}; test of gain > {p.margin:+.4f}: "
                            f"one-sided p = {res['p_value']:.4g} (need < {p.alpha}), lower "
                            f"{100 * res['ci_confidence']:.0f}% bound {res['ci_low']:+.4f}, by {res['method']}."
                            + extra + "".join(f" Warning: {w}." for w in res["warnings"]))


def _regressions(p: ReleaseGateParams) -> Criterion:
    if p.regression_candidate is None:
        return Criterion(name="regression_suite", status="not_measured", detail="No regression-suite results given.")
    cand = _load(p.regression_candidate, "regression_candidate")
    c = {str(e["id"]): bool(e.get("correct")) for e in cand["examples"]}
    if p.regression_current:
        cur = _load(p.regression_current, "regression_current")
        require_same_eval_set({"regression_candidate": cand, "regression_current": cur})
        b = {str(e["id"]): bool(e.get("correct")) for e in cur["examples"]}
        regressed = sorted(i for i in c if b.get(i) and not c[i])
        how = "items the current model passes and the candidate fails"
    else:
        regressed = sorted(i for i in c if not c[i])
        how = "failing items (every item of the suite must pass)"
    unapproved = [i for i in regressed if i not in set(p.approved_regressions)]
    return Criterion(name="regression_suite", status="fail" if unapproved else "pass",
                     values={"n": len(c), "regressions": regressed, "unapproved": unapproved},
                     detail=f"{len(regressed)} {how} of {len(c)}; {len(unapproved)} not approved.")


def _capability(p: ReleaseGateParams) -> Criterion:
    if not p.capability_checks:
        return Criterion(name="capability_preservation", status="not_measured", detail="No capability checks given.")
    drops = {c.name: c.baseline - c.candidate for c in p.capability_checks}
    worst = max(drops, key=lambda k: drops[k])
    ok = all(d <= p.max_capability_drop for d in drops.values())
    return Criterion(name="capability_preservation", status="pass" if ok else "fail",
                     values={"drops_points": drops, "max_allowed": p.max_capability_drop},
                     detail=f"Largest drop {drops[worst]:.2f} points on {worst} (allowed {p.max_capability_drop}).")


def _safety(p: ReleaseGateParams) -> Criterion:
    s = p.safety
    have_h = s is not None and s.harmful_refusal_candidate is not None and s.harmful_refusal_baseline is not None
    have_b = s is not None and s.benign_refusal_candidate is not None and s.benign_refusal_baseline is not None
    if not (have_h or have_b):
        return Criterion(name="safety", status="not_measured", detail="No refusal rates given.")
    assert s is not None
    parts, ok = [], True
    if have_h:
        good = s.harmful_refusal_candidate >= s.harmful_refusal_baseline  # type: ignore[operator]
        ok &= good
        parts.append(f"harmful refusal {s.harmful_refusal_candidate:.3f} vs {s.harmful_refusal_baseline:.3f}")
    if have_b:
        good = s.benign_refusal_candidate <= s.benign_refusal_baseline  # type: ignore[operator]
        ok &= good
        parts.append(f"benign refusal {s.benign_refusal_candidate:.3f} vs {s.benign_refusal_baseline:.3f}")
    status: Status = "fail" if not ok else "pass" if (have_h and have_b) else "not_measured"
    return Criterion(name="safety", status=status, values=s.model_dump(),
                     detail="; ".join(parts) + ("" if have_h and have_b else " (one of the two rates is missing)"))


def _format(p: ReleaseGateParams, cand: dict[str, Any]) -> Criterion:
    doc = _load(p.format_results, "format_results") if p.format_results else cand
    m = doc["metrics"]
    key = "schema_pass_rate" if "schema_pass_rate" in m else "parse_rate" if "parse_rate" in m else None
    if key is None:
        return Criterion(name="format_validity", status="not_measured", detail="No schema or parse rate measured.")
    return Criterion(name="format_validity", status="pass" if m[key] >= p.min_format_validity else "fail",
                     values={key: m[key], "ci": m.get(f"{key}_ci"), "min": p.min_format_validity},
                     detail=f"{key} {m[key]:.4f} (need >= {p.min_format_validity}).")


def _cost(p: ReleaseGateParams, cand: dict[str, Any]) -> Criterion:
    cost = cand.get("cost_per_request_usd")
    if p.max_cost_per_request_usd is None or cost is None:
        return Criterion(name="cost", status="not_measured", values={"cost_per_request_usd": cost},
                         detail="No budget given." if cost is not None else "Cost per request unknown (give the "
                                                                            "model's cost_per_hour_usd to run_eval).")
    return Criterion(name="cost", status="pass" if cost <= p.max_cost_per_request_usd else "fail",
                     values={"cost_per_request_usd": cost, "budget": p.max_cost_per_request_usd},
                     detail=f"${cost:.6f} per request (budget ${p.max_cost_per_request_usd:.6f}).")


def _frontier(p: ReleaseGateParams, cand: dict[str, Any]) -> Criterion:
    if p.frontier is None:
        return Criterion(name="ship_over_frontier", status="not_measured", detail="No frontier results given.")
    fr = _load(p.frontier, "frontier")
    require_same_eval_set({"candidate": cand, "frontier": fr})
    metric = p.metric or cand["primary_metric"]
    q, fq = cand["metrics"].get(metric), fr["metrics"].get(metric)
    c, fc = cand.get("cost_per_request_usd"), fr.get("cost_per_request_usd")
    lat, flat = cand["latency_s"].get("p95"), fr["latency_s"].get("p95")
    if None in (q, fq, c, fc, lat, flat):
        return Criterion(name="ship_over_frontier", status="not_measured",
                         values={"quality": q, "frontier_quality": fq, "cost": c, "frontier_cost": fc},
                         detail="Quality, cost or latency missing for one of the two models.")
    cheaper = (fc / c) if c > 0 else float("inf")
    rule1 = q >= p.frontier_quality_ratio * fq and cheaper >= p.frontier_cost_ratio and lat <= flat
    rule2 = q >= fq and c <= fc and lat <= flat
    return Criterion(name="ship_over_frontier", status="pass" if rule1 or rule2 else "fail",
                     values={"metric": metric, "quality": q, "frontier_quality": fq, "quality_ratio": q / fq if fq else None,
                             "cost_per_request": c, "frontier_cost_per_request": fc, "times_cheaper": cheaper,
                             "latency_p95_s": lat, "frontier_latency_p95_s": flat,
                             "rule_much_cheaper": rule1, "rule_at_least_as_good": rule2},
                     detail=f"{metric} {q:.4f} vs frontier {fq:.4f} ({100 * q / fq if fq else 0:.1f}%), "
                            f"{cheaper:.1f}x cheaper, p95 {lat:.3f}s vs {flat:.3f}s.")


def _baselines(p: ReleaseGateParams, cand: dict[str, Any]) -> Criterion:
    if not p.baselines:
        return Criterion(name="beats_baselines", status="not_measured",
                         detail="No cheaper baselines given (better prompt, schema, few-shot, classical).")
    names = p.baseline_names or [Path(b).stem for b in p.baselines]
    if len(names) != len(p.baselines):
        raise InvalidInput("baseline_names must name every baseline, in order.",
                           fix=f"Give {len(p.baselines)} names, or leave baseline_names out.")
    metric = p.metric or cand["primary_metric"]
    tests, tied = [], []
    for name, path in zip(names, p.baselines):
        doc = _load(path, "baselines")
        require_same_eval_set({"candidate": cand, name: doc})
        res = gain_test(cand, doc, metric, margin=0.0, alpha=p.alpha)
        if res is None or not res["n_shared"]:
            raise InvalidInput(f"Baseline {name} cannot be compared on {metric} (no per-item values or no shared "
                               "items).", fix="Pass results of the same eval set with a per-item metric.")
        beaten = bool(res["p_value"] < p.alpha)
        tests.append(BaselineTest(name=name, baseline=res["value_second"], candidate=res["value_first"],
                                  diff=res["diff"], p_value=res["p_value"], n_shared=res["n_shared"],
                                  beaten=beaten))
        if not beaten:
            tied.append(name)
    detail = (f"{metric}: the candidate beats every baseline (one-sided p < {p.alpha} on shared items)." if not tied
              else f"{metric}: not shown to beat {', '.join(tied)} — the cheaper option did as well on this "
                   f"evidence; consider shipping it instead.")
    return Criterion(name="beats_baselines", status="fail" if tied else "pass",
                     values={"metric": metric, "alpha": p.alpha, "as_good_as_candidate": tied,
                             "per_baseline": tests}, detail=detail)


def _judge(p: ReleaseGateParams) -> Criterion:
    if not p.judgments:
        return Criterion(name="judge", status="not_measured", detail="No judge verdicts given.")
    doc = json.loads(resolve_path(p.judgments, arg="judgments", must_exist=True).read_text())
    validation = doc.get("judge_validation") or {}
    pair = (doc.get("pairs") or [{}])[0]
    values = {"judge_agreement": validation.get("agreement"), "judge_kappa": validation.get("kappa"),
              "judge_threshold": validation.get("threshold"),
              "win_rate_ties_half": pair.get("win_rate_ties_half"),
              "win_rate_ci": [pair.get("ci_low"), pair.get("ci_high")]}
    if validation:
        values["judge_validated_by"] = "human_labels"
    if p.judge_validation:
        review, problem = _review_validation(p.judge_validation, doc.get("provenance") or {})
        values.update(judge_agreement=review.get("agreement"), judge_kappa=review.get("kappa"),
                      judge_threshold=review.get("threshold"), judge_validated_by=review.get("review_id"))
        if problem:
            return Criterion(name="judge", status="not_measured", values=values, detail=f"not_validated: {problem}")
        validation = review
    if not validation:
        return Criterion(name="judge", status="not_measured", values=values,
                         detail="not_validated: the judge was never checked against labels, so its verdicts are "
                                "not used (label a sample with open_review kind='judge' and pass its id as "
                                "judge_validation, or run run_pairwise_judge with human_labels).")
    agreement, threshold = validation.get("agreement"), validation.get("threshold", 0.8)
    if agreement is None or agreement != agreement or agreement < threshold:
        return Criterion(name="judge", status="not_measured", values=values,
                         detail=f"not_validated: the judge agreed with the labels on {agreement} of "
                                f"{validation.get('n')} items, under the {threshold} threshold; its verdicts are "
                                "not used.")
    lo = pair.get("ci_low")
    ok = lo is not None and lo > 0.5
    return Criterion(name="judge", status="pass" if ok else "fail", values=values,
                     detail=f"validated judge (agreement {agreement:.2f}): candidate win rate "
                            f"{pair.get('win_rate_ties_half')} with 95% interval from {lo}; needs > 0.5.")


def _review_validation(ref: str, provenance: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """A judge review's agreement figures (computed now from its answers when ``ref`` is a review id, else read
    from a validation.json) and, when they cannot be used for these judgments, why not."""
    from specialize.review import agreement, store

    if store.ID_RE.match(ref) and (store.reviews_root() / ref / "review.json").exists():
        fig = agreement.agreement(ref)
    else:
        try:
            fig = json.loads(resolve_path(ref, arg="judge_validation", must_exist=True).read_text())
        except ValueError as exc:
            raise InvalidInput(f"judge_validation {ref} is not JSON ({exc}).",
                               fix="Pass a judge review's id or the validation.json export_review wrote.") from exc
        if not isinstance(fig, dict) or fig.get("kind") != "judge_validation":
            raise InvalidInput(f"judge_validation {ref} is not a judge review's validation.json.",
                               fix="Pass a judge review's id or the validation.json export_review wrote.")
    name = fig.get("review_id")
    for key, what in (("judge_model", "judge model"), ("rubric_sha256", "rubric version")):
        if fig.get(key) != provenance.get(key):
            return fig, (f"review {name} validated {what} {fig.get(key)!r}, but these judgments used "
                         f"{provenance.get(key)!r}; validate this judge and rubric.")
    if fig.get("status") != "pass":
        return fig, (f"review {name} is '{fig.get('status')}': agreement {fig.get('agreement')} on {fig.get('n')} "
                     f"answers, against a threshold of {fig.get('threshold')} and at least {fig.get('min_labels')} "
                     "answers; the judge's verdicts are not used.")
    return fig, None


def _against_shipped(p: ReleaseGateParams, cand: dict[str, Any]) -> tuple[ReleaseGateParams, ShippedComparison | None,
                                                                           list[RegressedSinceShipped]]:
    """Fill current / regression_current from the last shipped version, and list what regressed since it."""
    last = registry.last_shipped() if p.compare_to_shipped else None
    if not last:
        return p, None, []
    update: dict[str, Any] = {}
    if p.current is None and (path := versions.shipped_results(last, versions.eval_set_sha(cand))):
        update["current"] = rel(path)
    reg = _load(p.regression_candidate, "regression_candidate") if p.regression_candidate else None
    if reg is not None and p.regression_current is None and (
            path := versions.shipped_results(last, versions.eval_set_sha(reg))):
        update["regression_current"] = rel(path)
    since = []
    for doc in [cand] + ([reg] if reg is not None and versions.eval_set_sha(reg) != versions.eval_set_sha(cand)
                         else []):
        path = versions.shipped_results(last, versions.eval_set_sha(doc))
        if path is not None:
            before = versions.load_results(path)
            since.append(RegressedSinceShipped(eval_set=(doc.get("eval_set") or {}).get("path"),
                                               eval_set_sha256=versions.eval_set_sha(doc),
                                               n_shared=versions.shared_items(before, doc),
                                               ids=versions.regressed(before, doc)))
    info = ShippedComparison(ship_id=last["ship_id"], version=last["version"],
                             model=(last.get("model") or {}).get("ref"), recorded_at=last.get("recorded_at"),
                             used_as_current=update.get("current"),
                             used_as_regression_current=update.get("regression_current"))
    return p.model_copy(update=update), info, since


def _record_ship(p: ReleaseGateParams, cand: dict[str, Any], criteria: list[Criterion]) -> str:
    files = {"candidate": resolve_path(p.candidate, arg="candidate", must_exist=True)}
    for arg in ("regression_candidate", "format_results"):
        if getattr(p, arg):
            files[arg] = resolve_path(getattr(p, arg), arg=arg, must_exist=True)
    model = cand.get("model") or {}
    entry = versions.record_ship(version=p.version or model.get("ref") or Path(p.candidate).stem, model=model,
                                 files=files, summary={"criteria": {c.name: c.status for c in criteria},
                                                       "current": p.current})
    return entry["ship_id"]


def _metric_value(metrics: dict[str, Any], name: str) -> Any:
    """A metric by name; a dotted name walks into nested metrics (per_class.<label>.recall)."""
    if name in metrics:
        return metrics[name]
    value: Any = metrics
    for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _floor(metric: str, minimum: float | None, cand: dict[str, Any], why: str) -> Criterion:
    name = f"floor:{metric}"
    value = _metric_value(cand["metrics"], metric)
    number = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
    if minimum is None:
        return Criterion(name=name, status="not_measured",
                         values={"metric": metric, "candidate": value if number else None},
                         detail=f"{why}: no target set; write it into the eval plan and pass it as "
                                f"floors={{\"{metric}\": <target>}}.")
    if not number:
        return Criterion(name=name, status="not_measured", values={"metric": metric, "min": minimum},
                         detail=f"The candidate's results have no {metric} (run_eval measures it only for the "
                                "task type and arguments that give it, e.g. critical_fields).")
    return Criterion(name=name, status="pass" if value >= minimum else "fail",
                     values={"metric": metric, "candidate": value, "min": minimum},
                     detail=f"{metric} {value:.4f} (need >= {minimum}); {why}.")


def _with_preset(p: ReleaseGateParams) -> tuple[ReleaseGateParams, GatePreset | None]:
    """The call's arguments over the preset's defaults (an argument given explicitly wins)."""
    if p.preset is None:
        return p, None
    preset = get_preset(p.preset)
    given = p.model_dump(exclude_unset=True)
    return ReleaseGateParams.model_validate({**preset.params, **given}), preset


def gate(p: ReleaseGateParams) -> ReleaseGateResult:
    p, preset = _with_preset(p)
    cand = _load(p.candidate, "candidate")
    p, shipped, since = _against_shipped(p, cand)
    criteria = [_task_metric(p, cand), _regressions(p), _capability(p), _safety(p), _format(p, cand), _cost(p, cand)]
    if p.baselines:
        criteria.insert(1, _baselines(p, cand))
    floors = {f.metric: (f.min, f.why) for f in preset.floors} if preset else {}
    for metric, minimum in p.floors.items():
        floors[metric] = (minimum, floors.get(metric, (None, "floor set in the call"))[1])
    criteria += [_floor(metric, minimum, cand, why) for metric, (minimum, why) in floors.items()]
    if preset:
        criteria += [Criterion(name=u.name, status="not_measured", detail=u.why) for u in preset.not_measured]
    if p.judgments or (preset and preset.needs_judge):
        criteria.append(_judge(p))
    statuses = {c.status for c in criteria}
    decision = "no_ship" if "fail" in statuses else "incomplete" if "not_measured" in statuses else "ship"
    label = None
    if preset:
        source, as_of = preset_source()
        label = f"{preset.name} ({source}, as of {as_of})"
    recorded = _record_ship(p, cand, criteria) if decision == "ship" and p.record_ship else None
    res = ReleaseGateResult(decision=decision, criteria=criteria, ship_over_frontier=_frontier(p, cand),
                            shipped=shipped, regressed_since_shipped=since, recorded_ship=recorded, preset=label)
    tracking.log_run("release_gate", name=f"{p.version or (cand.get('model') or {}).get('ref')}: {decision}",
                     params=p.model_dump(mode="json"), result=res.model_dump(mode="json"),
                     datasets={"eval_set": versions.eval_set_sha(cand)},
                     artifacts={"candidate": p.candidate, "current": p.current},
                     tags={"decision": decision, "ship_id": recorded})
    return res


@tool(idempotent=True)  # a ship decision is recorded once (the same candidate results again add nothing)
def release_gate(params: ReleaseGateParams, *, progress=None) -> ReleaseGateResult:
    """Ship / no-ship decision: every release criterion as pass, fail or not measured, with its numbers.

    Criteria: a one-sided test on the shared items that the task-metric gain over current exceeds the
    margin (p < alpha; results from different eval sets are refused); no unapproved
    regressions on the regression suite; no capability-check drop over 2 points; harmful-refusal no lower and
    benign-refusal no higher than baseline; format validity >= 98%; cost per request within budget. Also
    judges shipping over a frontier API (>= 95% of its quality, >= 5x cheaper, latency no worse; or at least
    as good at no more cost and latency). All thresholds are parameters. A named preset (classification,
    extraction, tool_calling, generation) supplies per-task thresholds and floors; explicit arguments win. A ship
    decision is recorded as the shipped version; later gates compare against it when no current results are
    given, and list the items that regressed since it by id.
    """
    return gate(params)


__all__ = ["release_gate", "ReleaseGateParams", "ReleaseGateResult", "Path"]
