"""run_pairwise_judge and plan_eval_size: pairwise LLM-as-judge comparison with its statistics.

The judge (any litellm model) scores both responses 1-5 on the rubric's dimensions and gives a verdict;
each pair is judged in both orders (see ``specialize.evaluation.judging``). Reported per model pair: win/tie/loss
rates, win rate with ties as half and its bootstrap CI, a sign test, a paired t-test on weighted composite
scores, the position-consistency rate and judge failures; Bradley-Terry strengths with CIs when more than
two models are compared; agreement and Cohen's kappa against human labels when given. Judgments are cached
on disk (a rerun makes no calls) and costed; big runs are jobs.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from typing import Any, Literal

from pydantic import Field
from specialize.tools.job_tools import JobHandle, to_handle

from specialize.runtime import jobs, registry, tracking
from specialize.runtime.catalog import tool
from specialize.runtime.errors import InvalidInput
from specialize.runtime.schema import Params, Result
from specialize.runtime.workspace import InputFile, NameOrFile, OutputDir, make_dirs, rel, resolve_path, write_text

COUNT_INLINE_MAX_BYTES = 16 * 1024 * 1024  # response files read in the call to count judge calls; above: a job


class RunPairwiseJudgeParams(Params):
    responses: list[InputFile] = Field(min_length=2, description="Two or more response files, one per model: run_eval "
                                                           "results JSON, or JSONL rows {id, prompt, response}.")
    names: list[str] | None = Field(None, description="Display names for the models, in the same order "
                                                      "(default: the model refs in the files).")
    judge_model: str = Field(description="Judge model as a litellm string (e.g. openai/gpt-4.1, or openai/NAME "
                                         "with api_base for a local server).")
    api_base: str | None = Field(None, description="Base URL of an OpenAI-compatible server for the judge.")
    rubric: NameOrFile = Field("general", description="Bundled rubric (general, code, customer_support, summarization) "
                                               "or a path to a rubric YAML.")
    task: str | None = Field(None, description="One line naming the task, shown to the judge.")
    pairs: Literal["all", "vs_first"] = Field("all", description="Compare every pair of models, or each model "
                                                                 "against the first only.")
    retries: int = Field(2, ge=0, le=10, description="Re-asks after a malformed judge answer before it is "
                                                     "recorded as a judge failure.")
    concurrency: int = Field(16, ge=1, le=512, description="Parallel judge requests.")
    processes: int | None = Field(None, ge=1, le=64, description="Worker processes sharing the LLM calls "
                                  "(litellm costs milliseconds of CPU per call): null = one per core, up to 4, "
                                  "for batches of 128+ uncached requests; 1 = all in this process.")
    json_mode: bool = Field(True, description="Ask for JSON output: a local llama.cpp judge (api_base on this "
                                              "machine) is constrained to the verdict schema, a hosted judge "
                                              "gets JSON-schema or JSON-object mode where litellm supports it.")
    max_tokens: int = Field(512, ge=16, le=8192, description="Completion token limit per judgment.")
    human_labels: InputFile | None = Field(None, description="JSONL of human verdicts {id, model_a, model_b, verdict} "
                                                       "for a subset, to validate the judge.")
    agreement_threshold: float = Field(0.8, ge=0, le=1, description="Judge-human agreement below this adds a "
                                                                    "warning to the report.")
    bootstrap_resamples: int = Field(1000, ge=1000, le=100_000, description="Bootstrap resamples for CIs.")
    seed: int = Field(0, description="Seed for the bootstrap.")
    output_dir: OutputDir | None = Field(None, description="Folder for judgments.json and report.md "
                                                     "(default judgments/<hash>).")
    background: bool | None = Field(None, description="Run as a job: true; false = in the call however many judge "
                                    "calls (the call blocks until done); null = as a job when more than "
                                    "job_threshold judge calls are needed or the response files pass 16 MB.")
    job_threshold: int = Field(400, ge=1, description="Judge calls above which a null 'background' starts a job.")


class PairedT(Result):
    mean_diff: float | None = Field(description="Mean of (composite A - composite B) over the items.")
    t: float | None = Field(description="The t statistic (null when every difference is the same).")
    p_value: float | None = Field(description="Two-sided p-value of the paired t-test.")
    n: int = Field(description="Items both responses were scored on.")
    warnings: list[str] = Field(default_factory=list, description="Why the test could not be run or trusted "
                                                                  "(e.g. every difference equal).")


class PairStats(Result):
    """One model pair, from the first model's (A's) point of view; each item judged in both orders."""

    model_a: str = Field(description="The first model of the pair.")
    model_b: str = Field(description="The second model of the pair.")
    n_items: int = Field(description="Shared items judged.")
    wins: int = Field(description="Items A won (same verdict in both orders).")
    losses: int = Field(description="Items B won.")
    ties: int = Field(description="Ties, including inconsistent verdicts, both_bad and judge failures.")
    win_rate: float | None = Field(description="wins / n_items.")
    loss_rate: float | None = Field(description="losses / n_items.")
    tie_rate: float | None = Field(description="ties / n_items.")
    win_rate_ties_half: float | None = Field(description="A's win rate with ties counted as half a win.")
    ci_low: float | None = Field(description="Lower end of the 95% bootstrap interval of win_rate_ties_half.")
    ci_high: float | None = Field(description="Upper end of that interval.")
    sign_test_p: float = Field(description="Two-sided sign test on wins against losses.")
    sign_test_p_adjusted: float | None = Field(None, description="The sign test's p adjusted for the number of "
                                                                 "model pairs compared (see p_adjust_method).")
    p_adjust_method: str | None = Field(None, description="How p was adjusted for multiple pairs (e.g. holm).")
    ci_method: str | None = Field(None, description="How the interval of win_rate_ties_half was computed.")
    warnings: list[str] = Field(default_factory=list, description="Things to know before trusting this pair's "
                                                                  "numbers.")
    both_bad: int = Field(description="Items where the judge found both responses bad.")
    judge_failures: int = Field(description="Items with no usable verdict after the re-asks (counted as ties).")
    position_consistency: float | None = Field(description="Share of judged items with the same verdict in both "
                                                           "orders; low means position bias.")
    position_a_preference: float | None = Field(description="Among decisive calls, the share that preferred the "
                                                            "response shown first.")
    mean_composite_a: float | None = Field(description="Mean weighted rubric score (1-5) of A.")
    mean_composite_b: float | None = Field(description="Mean weighted rubric score (1-5) of B.")
    composite_paired_t: PairedT | None = Field(description="Paired t-test on the composites (two or more items).")
    composite_diff_ci: list[float | None] | None = Field(description="95% bootstrap interval [low, high] of the "
                                                                     "mean composite difference A - B.")


class Strength(Result):
    strength: float = Field(description="Bradley-Terry strength on a log scale (higher is better).")
    low: float = Field(description="Lower end of its 95% bootstrap interval.")
    high: float = Field(description="Upper end of that interval.")


class JudgeValidation(Result):
    agreement: float | None = Field(description="Share of human-labelled items where the judge agrees.")
    kappa: float | None = Field(description="Cohen's kappa between the judge and the human labels.")
    n: int = Field(description="Human labels matched to a judged item.")
    unmatched_labels: int = Field(description="Human labels with no judged item (or a judge failure) to compare.")
    threshold: float = Field(description="Agreement below this adds a warning.")
    kappa_ci_low: float | None = Field(None, description="Lower end of the 95% bootstrap interval of kappa "
                                                         "(items resampled).")
    kappa_ci_high: float | None = Field(None, description="Upper end of that interval.")
    passed: bool | None = Field(None, description="Agreement at or above the threshold: the judge may be used.")
    warnings: list[str] = Field(default_factory=list, description="Why kappa may be undefined or unreliable.")


class JudgeCalls(Result):
    judge_requests: int = Field(description="Judge requests made (cached ones included).")
    http_calls: int = Field(description="Calls that went out over HTTP (transport retries included).")
    cache_hits: int = Field(description="Requests answered from the on-disk cache.")
    transport_retries: int = Field(description="Retries after 429/5xx/timeouts.")
    failures: int = Field(description="Requests that still failed after their retries.")
    malformed_retries: int = Field(description="Re-asks after an answer that could not be parsed.")
    cost_usd: float | None = Field(description="Cost of the calls made now; null when a price is unknown.")
    prompt_tokens: int = Field(description="Prompt tokens.")
    completion_tokens: int = Field(description="Completion tokens.")


class RunPairwiseJudgeResult(Result):
    judgments_path: str | None = Field(None, description="Every judgment and the statistics (JSON).")
    report_path: str | None = Field(None, description="A short markdown report.")
    pairs: list[PairStats] = Field(default_factory=list, description="Per model pair: rates, CI, tests, "
                                                                     "position consistency, failures.")
    bradley_terry: dict[str, Strength] | None = Field(None, description="Strength with CI per model name (more "
                                                                        "than two models).")
    judge_validation: JudgeValidation | None = Field(None, description="Agreement and kappa against human "
                                                                       "labels.")
    warnings: list[str] = Field(default_factory=list, description="Things the reader must know before trusting "
                                                                  "the numbers.")
    calls: JudgeCalls | None = Field(None, description="Judge requests, HTTP calls, cache hits, retries, cost "
                                                       "in USD.")
    job: JobHandle | None = Field(None, description="Set when the run was started as a job.")


def _human_validation(path_value: str, records: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    from specialize.evaluation import stats

    judged: dict[tuple[str, str, str], str] = {}
    for r in records:
        i, j = r["pair"]
        o = r["outcome"]
        judged[(names[i], names[j], r["item"])] = o
        judged[(names[j], names[i], r["item"])] = {"win": "loss", "loss": "win"}.get(o, o)
    label_of = {"A_better": "win", "B_better": "loss", "tie": "tie", "both_bad": "tie"}
    human, judge, missing = [], [], 0
    path = resolve_path(path_value, arg="human_labels", must_exist=True)
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        key = (str(row.get("model_a")), str(row.get("model_b")), str(row.get("id")))
        verdict = label_of.get(str(row.get("verdict")))
        if verdict is None or key not in judged or judged[key] == "judge_failure":
            missing += 1
            continue
        human.append(verdict)
        judge.append({"both_bad": "tie"}.get(judged[key], judged[key]))
    if not human:
        raise InvalidInput("None of the human labels matches a judged item.",
                           fix="Use {id, model_a, model_b, verdict} with model names as in the run.")
    lo, hi = stats.kappa_bootstrap_ci(human, judge)
    return {**stats.cohen_kappa(human, judge), "unmatched_labels": missing, "kappa_ci_low": lo, "kappa_ci_high": hi}


def judge_run(p: RunPairwiseJudgeParams, progress: Any = None) -> dict[str, Any]:
    from specialize.evaluation import judging, stats
    from specialize.llm.client import LLMClient

    loaded = [judging.load_responses(r) for r in p.responses]
    names = p.names or [n for n, _ in loaded]
    if len(names) != len(loaded) or len(set(names)) != len(names):
        raise InvalidInput("Model names must be unique, one per responses file.", fix="Pass distinct 'names'.")
    rubric = judging.load_rubric(p.rubric)
    models = list(zip(names, [items for _, items in loaded]))
    pairs = judging.all_pairs(len(models), p.pairs)
    for i, j in pairs:
        if not set(models[i][1]) & set(models[j][1]):
            raise InvalidInput(f"{names[i]} and {names[j]} share no item ids, so there is nothing to compare.",
                               fix="Judge responses to the same eval set (items are matched by id).")
    client = LLMClient(api_base=p.api_base, concurrency=p.concurrency,
                       processes=p.processes)
    response_format, output_mode = judging.verdict_response_format(p.judge_model, rubric, api_base=p.api_base,
                                                                   json_mode=p.json_mode)
    records = judging.judge_pairs(models=models, pairs=pairs, client=client, judge_model=p.judge_model,
                                  rubric=rubric, task=p.task, retries=p.retries, response_format=response_format,
                                  max_tokens=p.max_tokens, progress=progress)
    summaries = []
    for i, j in pairs:
        recs = [r for r in records if r["pair"] == (i, j)]
        summaries.append(judging.summarise_pair(recs, (names[i], names[j]), n_resamples=p.bootstrap_resamples,
                                                seed=p.seed))
    warnings: list[str] = judging.adjust_pairs(summaries)  # Holm over the pairs, and the pairs' own warnings
    bt = None
    if len(models) > 2:
        comps = [(names[r["pair"][0]], names[r["pair"][1]], stats.VERDICT_SCORE.get(r["outcome"], 0.5))
                 for r in records]
        bt = stats.bradley_terry_ci(comps, n_resamples=min(p.bootstrap_resamples, 1000), seed=p.seed)
    validation = None
    if p.human_labels:
        validation = _human_validation(p.human_labels, records, names)
        validation["threshold"] = p.agreement_threshold
        validation["passed"] = bool(validation["agreement"] >= p.agreement_threshold)
        if validation["agreement"] < p.agreement_threshold:
            warnings.append(f"Judge agrees with the human labels on only {validation['agreement']:.0%} of "
                            f"{validation['n']} items (kappa {validation['kappa']:.2f}), under the "
                            f"{p.agreement_threshold:.0%} threshold: treat these verdicts as unreliable.")
    else:
        warnings.append("The judge has not been validated against human labels in this run (pass human_labels).")
    for s in summaries:
        if s["position_consistency"] is not None and s["position_consistency"] < 0.8:
            warnings.append(f"{s['model_a']} vs {s['model_b']}: the judge gave the same verdict in both orders on "
                            f"only {s['position_consistency']:.0%} of items (position bias; inconsistent items "
                            "count as ties).")
        if s["judge_failures"]:
            warnings.append(f"{s['model_a']} vs {s['model_b']}: {s['judge_failures']} items had a judge failure "
                            "(counted as ties).")
    st = client.stats
    calls = {"judge_requests": st.requests, "http_calls": st.http_calls, "cache_hits": st.cache_hits,
             "transport_retries": st.retries, "failures": st.failures,
             "malformed_retries": sum(max(0, c["attempts"] - 1) for r in records for c in r["calls"]),
             "cost_usd": st.cost_usd if st.cost_known else None,
             "prompt_tokens": st.prompt_tokens, "completion_tokens": st.completion_tokens}
    tpl = judging.template_text()
    provenance = {"judge_model": p.judge_model, "api_base": p.api_base, "rubric": rubric.get("name", p.rubric),
                  "rubric_sha256": rubric["_sha256"], "template": judging.TEMPLATE, "output_mode": output_mode,
                  "template_sha256": hashlib.sha256(tpl.encode()).hexdigest(),
                  "params": p.model_dump(mode="json"),
                  "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    key = hashlib.sha256(json.dumps(provenance["params"], sort_keys=True).encode()).hexdigest()[:10]
    out_dir = resolve_path(p.output_dir or f"judgments/{key}", arg="output_dir", for_write=True)
    make_dirs(out_dir, arg="output_dir")
    doc = {"kind": "pairwise_judgments", "models": names, "pairs": summaries, "bradley_terry": bt,
           "judge_validation": validation, "warnings": warnings, "calls": calls, "provenance": provenance,
           "records": [{**r, "pair": [names[r["pair"][0]], names[r["pair"][1]]]} for r in records]}
    write_text(out_dir / "judgments.json", json.dumps(doc, indent=1, default=str), arg="output_dir")
    write_text(out_dir / "report.md", render_report(doc), arg="output_dir")
    registry.record_run({"kind": "pairwise_judge", "judgments": rel(out_dir / "judgments.json"), "models": names,
                         "responses": list(p.responses), "judge_model": p.judge_model})
    tracking.log_run("run_pairwise_judge", name=" vs ".join(names), params=p.model_dump(mode="json"),
                     result={"pairs": {f"{s['model_a']} vs {s['model_b']}": s for s in summaries},
                             "judge_validation": validation, "calls": calls},
                     artifacts={"judgments": rel(out_dir / "judgments.json")})
    doc["_dir"] = str(out_dir)
    return doc


def _pct(x: Any) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def render_report(doc: dict[str, Any]) -> str:
    lines = ["# Pairwise judge report", ""]
    for w in doc["warnings"]:
        lines.append(f"> **Warning:** {w}")
    lines += ["", f"Judge: `{doc['provenance']['judge_model']}`, rubric `{doc['provenance']['rubric']}` "
              f"(template sha256 {doc['provenance']['template_sha256'][:12]}). Each pair judged in both orders.", "",
              "| A | B | n | A wins | ties | B wins | win rate (ties ½) | 95% CI | sign p | composite A | composite B "
              "| paired t p | position consistency | judge failures |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in doc["pairs"]:
        t = s["composite_paired_t"] or {}
        ca, cb = s["mean_composite_a"], s["mean_composite_b"]
        lines.append(f"| {s['model_a']} | {s['model_b']} | {s['n_items']} | {_pct(s['win_rate'])} | "
                     f"{_pct(s['tie_rate'])} | {_pct(s['loss_rate'])} | {_pct(s['win_rate_ties_half'])} | "
                     f"{_pct(s['ci_low'])}–{_pct(s['ci_high'])} | {s['sign_test_p']:.3g} "
                     f"(Holm {s.get('sign_test_p_adjusted', float('nan')):.3g}) | "
                     f"{'n/a' if ca is None else f'{ca:.2f}'} | {'n/a' if cb is None else f'{cb:.2f}'} | "
                     f"{t.get('p_value', float('nan')):.3g} | {_pct(s['position_consistency'])} | "
                     f"{s['judge_failures']} |")
    if doc.get("bradley_terry"):
        lines += ["", "## Bradley-Terry strengths (log scale)", "", "| model | strength | 95% CI |", "|---|---|---|"]
        for m, v in sorted(doc["bradley_terry"].items(), key=lambda kv: -kv[1]["strength"]):
            lines.append(f"| {m} | {v['strength']:.3f} | {v['low']:.3f} – {v['high']:.3f} |")
    if doc.get("judge_validation"):
        v = doc["judge_validation"]
        lines += ["", f"Judge vs human labels: agreement {_pct(v['agreement'])}, Cohen's kappa {v['kappa']:.2f} "
                      f"over {v['n']} items."]
    c = doc["calls"]
    cost = "unknown" if c["cost_usd"] is None else f"${c['cost_usd']:.4f}"
    lines += ["", f"Calls: {c['judge_requests']} judge requests, {c['http_calls']} over HTTP, {c['cache_hits']} from "
                  f"cache; cost {cost}."]
    return "\n".join(lines) + "\n"


def _result(doc: dict[str, Any]) -> RunPairwiseJudgeResult:
    from pathlib import Path

    d = Path(doc["_dir"])
    return RunPairwiseJudgeResult(judgments_path=rel(d / "judgments.json"), report_path=rel(d / "report.md"),
                                  pairs=doc["pairs"], bradley_terry=doc["bradley_terry"],
                                  judge_validation=doc["judge_validation"], warnings=doc["warnings"],
                                  calls=doc["calls"])


@tool(open_world=True)
def run_pairwise_judge(params: RunPairwiseJudgeParams, *, progress=None) -> RunPairwiseJudgeResult:
    """Compare models pairwise with an LLM judge, each pair judged in both orders; win rates with bootstrap CIs.

    The judge scores both responses 1-5 on the rubric's weighted dimensions and says A_better, B_better, tie
    or both_bad. Verdicts that differ between the two orders count as ties; the position-consistency rate is
    reported. Malformed judge output is re-asked, then recorded as a judge failure (never dropped). Reports
    win/tie/loss, win rate with ties as half and its 95% CI, sign test, paired t-test on composite scores,
    Bradley-Terry strengths for 3+ models, and agreement/kappa against human labels when given. Judgments are
    cached, so a rerun makes no calls. Large runs start a job.
    """
    background = params.background
    if background is None:  # counting the calls means reading every file: bulky inputs go to a job at once
        sizes = [resolve_path(r, arg="responses", must_exist=True).stat().st_size for r in params.responses]
        background = True if sum(sizes) > COUNT_INLINE_MAX_BYTES else None
    if background is None:
        from specialize.evaluation import judging

        loaded = [judging.load_responses(r)[1] for r in params.responses]
        n_calls = sum(2 * len(set(loaded[i]) & set(loaded[j]))
                      for i, j in judging.all_pairs(len(loaded), params.pairs))
        background = n_calls > params.job_threshold
    if background:
        payload = params.model_copy(update={"background": False})
        return RunPairwiseJudgeResult(job=to_handle(jobs.start_job("pairwise_judge",
                                                                   "specialize.tools.judge:judge_worker", payload)))
    return _result(judge_run(params, progress))


def judge_worker(raw: dict[str, Any], ctx: jobs.JobContext) -> dict[str, Any]:
    p = RunPairwiseJudgeParams.model_validate(raw)
    doc = judge_run(p, lambda step, total: ctx.progress(step, total, message=f"{step}/{total} judge calls"))
    return _result(doc).model_dump(mode="json")


class PlanEvalSizeParams(Params):
    kind: Literal["win_rate", "accuracy"] = Field(description="win_rate: a pairwise win rate against 'baseline' "
                                                              "(0.5 = no preference); accuracy: a difference "
                                                              "between two systems' accuracy.")
    baseline: float = Field(0.5, gt=0, lt=1, description="The rate under no change (0.5 for a win rate, the current "
                                                         "model's accuracy otherwise).")
    target: float = Field(gt=0, lt=1, description="The rate you want to be able to detect (e.g. 0.6 win rate, or "
                                                  "baseline accuracy + 0.02).")
    alpha: float = Field(0.05, gt=0, lt=0.5, description="Significance level (two-sided; one-sided "
                                                          "with a margin, as the release gate tests).")
    power: float = Field(0.8, gt=0.5, lt=1, description="Chance of detecting the effect when it is real.")
    paired_discordance: float | None = Field(None, gt=0, lt=1, description="For accuracy on the same items: share "
                                                                           "of items where exactly one system is "
                                                                           "right (enables the paired McNemar plan).")
    margin: float | None = Field(None, ge=0, lt=1, description="The release gate's margin: plan for its one-sided test "
                                                               "of gain > margin on paired items (needs "
                                                               "kind='accuracy' and paired_discordance; alpha is "
                                                               "then one-sided, as in the gate).")


class PlanEvalSizeResult(Result):
    n: int = Field(description="Items needed (per system for an unpaired accuracy comparison).")
    method: str = Field(description="The test the plan assumes.")
    min_detectable_effect: float = Field(description="|target - baseline|.")
    note: str = Field(description="How to read the number.")


@tool(read_only=True, idempotent=True)
def plan_eval_size(params: PlanEvalSizeParams, *, progress=None) -> PlanEvalSizeResult:
    """How many eval items are needed to detect a given win-rate or accuracy difference at a given power.

    Uses the normal approximation (one-sample test for win rates, two-proportion or McNemar for accuracy).
    """
    from specialize.evaluation import stats

    try:
        r = stats.plan_sample_size(kind=params.kind, baseline=params.baseline, target=params.target,
                                   alpha=params.alpha, power=params.power,
                                   paired_discordance=params.paired_discordance, margin=params.margin)
    except ValueError as exc:
        raise InvalidInput(str(exc), fix="Give a target different from the baseline, both strictly in (0, 1); for a "
                                         "margin plan also kind='accuracy', paired_discordance, and a target - "
                                         "baseline gain above the margin.") from exc
    note = (f"With {r['n']} items a true change from {params.baseline:.3f} to {params.target:.3f} is found "
            f"{params.power:.0%} of the time at alpha {params.alpha}.")
    if params.margin is not None:
        note += (f" This sizes the release gate's own test: a one-sided test on the same items that the gain exceeds "
                 f"the margin {params.margin:g}, at one-sided alpha {params.alpha}.")
    elif params.kind == "win_rate":
        note += " Ties dilute a pairwise effect: plan on the win rate with ties counted as half."
    elif params.paired_discordance is None:
        note += (" Both models run on the same items? Give paired_discordance (share of items where exactly one "
                 "is right) for the smaller paired plan.")
    return PlanEvalSizeResult(n=r["n"], method=r["method"], min_detectable_effect=r["min_detectable_effect"],
                              note=note)
