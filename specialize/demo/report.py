"""The demo's report.md: the answer first, then the evidence.

The first screen answers the question a reader comes with — should this fine-tuned model ship, and against
what? — in one sentence, followed by the fine-tuned model's difference from the strongest baseline with a
paired CI, whether the judge earned trust, and what the run cost. Below it: every baseline on the same golden
items, each paired difference, the judge's validation, the gate's criteria, what ran, and the stage timings.
Numbers are rounded for people here; the JSON files keep full precision.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from specialize.runtime.workspace import rel

PER_ITEM = {
    "critical_field_accuracy": lambda e: bool(e.get("critical_ok")),
    "accuracy": lambda e: e.get("pred_label") is not None and e.get("pred_label") == e.get("ref_label"),
    "category_exact_match": lambda e: e.get("pred_label") is not None and e.get("pred_label") == e.get("ref_label"),
    "exact_match": lambda e: bool(e.get("exact_match")),
    "schema_pass_rate": lambda e: bool(e.get("schema_valid")),
    "parse_rate": lambda e: bool(e.get("parsed")),
}


def per_item(doc: dict[str, Any], metric: str) -> dict[str, float]:
    fn = PER_ITEM.get(metric, lambda e: bool(e.get("correct")))
    return {str(e["id"]): float(fn(e)) for e in doc["examples"]}


def paired_comparison(a_doc: dict[str, Any], b_doc: dict[str, Any], metric: str, seed: int = 0) -> dict[str, Any]:
    """mean(a - b) over the items both runs scored, with its 95% paired interval (the method is in the result:
    exact unconditional for pass/fail items, percentile bootstrap for graded ones)."""
    from specialize.evaluation.stats import paired_bootstrap_diff

    a, b = per_item(a_doc, metric), per_item(b_doc, metric)
    ids = sorted(set(a) & set(b))
    res = paired_bootstrap_diff([a[i] for i in ids], [b[i] for i in ids], n_resamples=2000, seed=seed)
    return {"metric": metric, "n": len(ids), "a": sum(a[i] for i in ids) / max(1, len(ids)),
            "b": sum(b[i] for i in ids) / max(1, len(ids)), **res}


def _method_name(result: dict[str, Any]) -> str:
    """The interval's method without its parenthesised detail (kept in the JSON)."""
    return (result.get("method") or "method not recorded").split(" (")[0]


def _load(path: str | None, ws: Path) -> dict[str, Any] | None:
    if not path:
        return None
    p = Path(path)
    p = p if p.is_absolute() else ws / p
    return json.loads(p.read_text()) if p.exists() else None


def _pct(x: Any) -> str:
    return "n/a" if x is None else f"{100 * float(x):.1f}%"


def _metric_cell(doc: dict[str, Any] | None) -> str:
    if not doc:
        return "n/a"
    m = doc["metrics"].get(doc["primary_metric"])
    if isinstance(m, dict):
        return f"{_pct(m.get('value'))} [{_pct(m.get('ci_low'))}, {_pct(m.get('ci_high'))}]"
    return _pct(m)


def _rate(doc: dict[str, Any], name: str) -> str:
    m = doc["metrics"].get(name)
    return _pct(m.get("value") if isinstance(m, dict) else m)


def _money(x: float | None) -> str:
    return "n/a" if x is None else f"${x:,.2f}"


def _run_cost(demo: Any) -> tuple[float | None, str]:
    """API dollars spent by the run (teacher and judge calls; local models cost nothing per call) and a
    sentence with the compute time."""
    r = demo.r
    spent, known = 0.0, True
    hosted = {"generate": bool(demo.teacher_model), "judge": bool(demo.judge_model)}
    for key in ("generate", "judge"):
        if not hosted[key]:
            continue  # a local llama.cpp model: no per-call price, its cost is the machine time below
        part = (r.get(key) or {}).get("usage" if key == "generate" else "calls") or {}
        cost = part.get("cost_usd")
        if isinstance(cost, (int, float)):
            spent += cost
        if part.get("cost_known") is False or cost is None:
            known = False
    seconds = sum(st.seconds for st in demo.stages)
    cores = getattr(demo.s, "threads", 1)
    text = (f"{_money(spent) if known else 'unknown'} in API calls (teacher and judge"
            f"{' are local, so nothing' if not (demo.teacher_model or demo.judge_model) else ''}); "
            f"{seconds / 60:.1f} minutes of wall time on {cores} CPU cores")
    return (spent if known else None), text


def _verdict(tuned_name: str, rival_name: str, cmp_: dict[str, Any], gate: dict[str, Any]) -> str:
    lo, hi = cmp_.get("low"), cmp_.get("high")
    decision = gate.get("decision", "not run")
    if lo is not None and lo > 0:
        what = (f"the {tuned_name} model beats the strongest baseline ({rival_name}) on the locked golden set, "
                f"and the 95% CI of the gain lies above zero")
    elif hi is not None and hi < 0:
        what = f"the strongest baseline ({rival_name}) beats the {tuned_name} model, and the CI excludes zero"
    else:
        what = (f"the {tuned_name} model is not shown to beat the strongest baseline ({rival_name}): the 95% CI "
                f"of the difference includes zero, so the cheaper baseline does as well on this evidence")
    ship = {"ship": "Ship", "no_ship": "Don't ship", "incomplete": "Not decided"}.get(decision, decision)
    crit = gate.get("criteria") or []
    failed = [c["name"] for c in crit if c.get("status") == "fail"]
    missing = [c["name"] for c in crit if c.get("status") == "not_measured"]
    why = ""
    if failed:
        why = f" The gate fails on: {', '.join(failed)}."
    if missing and decision != "ship":
        why += f" Not measured in this run: {', '.join(missing)}."
    return f"**{ship}** (release gate: `{decision}`): {what}.{why}"


def write_report(demo: Any) -> Path:  # noqa: C901 - one page, written top to bottom
    from specialize.demo.run import BASELINES, METRIC, _label

    ws, r = demo.ws, demo.r
    out_dir = ws / demo.out / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    keys = [k for k, _ in BASELINES] + ["tuned"]
    docs = {k: _load((r.get(k) or {}).get("results_path"), ws) for k in keys}
    tuned = docs.get("tuned")
    present = [k for k in keys if docs.get(k)]
    rival = r.get("gate_rival") or next((k for k in reversed([k for k, _ in BASELINES]) if docs.get(k)), None)

    compare = demo.call("compare_models", results=[r[k]["results_path"] for k in present],
                        names=[_label(k) for k in present],
                        judgments=(r.get("judge") or {}).get("judgments_path"),
                        hosting={_label(k): ("local CPU (scikit-learn)" if k == "classical" else
                                             "local CPU (llama.cpp)") for k in present},
                        title="specialize demo: support-ticket triage", output_dir=rel(out_dir / "compare"))

    lines = ["# specialize demo — support-ticket triage on SmolLM2-135M-Instruct", ""]
    gate = r.get("gate") or {}
    judge = r.get("judge") or {}
    validation = judge.get("judge_validation") or {}
    cost, cost_text = _run_cost(demo)
    comparisons: dict[str, dict[str, Any]] = {}
    if tuned:
        for k in present:
            if k != "tuned":
                comparisons[k] = paired_comparison(tuned, docs[k], METRIC)
    r["comparisons"] = comparisons

    lines += ["## The answer", ""]
    if tuned and rival and rival in comparisons:
        c = comparisons[rival]
        r["headline"] = dict(c, rival=rival)
        lines += [_verdict("fine-tuned", _label(rival), c, gate), "",
                  f"- **Fine-tuned vs strongest baseline** ({_label(rival)}), category exact match on "
                  f"{c['n']} golden items: {_pct(c['a'])} vs {_pct(c['b'])}, difference "
                  f"{_pts(c.get('estimate'))} (95% CI {_pts(c.get('low'))} to {_pts(c.get('high'))}, "
                  f"{_method_name(c)})."]
    else:
        lines += ["**Not decided**: the fine-tuned model or its baselines were not evaluated (see the stages "
                  "below).", ""]
    if validation:
        thr = validation.get("threshold", 0.8)
        trusted = (validation.get("agreement") or 0) >= thr
        lines.append(f"- **Judge**: agreed with the golden references on {_pct(validation.get('agreement'))} of "
                     f"{validation.get('n')} items whose right verdict is known (Cohen's kappa "
                     f"{_num(validation.get('kappa'))}{_kappa_ci(validation)}); "
                     + ("trusted for this comparison." if trusted else
                        f"below the {_pct(thr)} bar, so neither this report nor the gate leans on its verdicts."))
    else:
        lines.append("- **Judge**: not validated in this run, so its verdicts are not used.")
    lines.append(f"- **Cost of this run**: {cost_text}.")
    lines.append("")

    lines += ["## Every model on the same golden items", "",
              "| model | category exact match (95% CI) | all critical fields | schema-valid answers | "
              "vs fine-tuned: difference (95% CI) | latency p95 |", "|---|---|---|---|---|---|"]
    for k in present:
        d = docs[k]
        diff = ""
        if k != "tuned" and k in comparisons:
            c = comparisons[k]
            diff = f"{_pts(c.get('estimate'))} ({_pts(c.get('low'))} to {_pts(c.get('high'))})"
        lat = (d.get("latency_s") or {}).get("p95")
        lines.append(f"| {_label(k)} | {_metric_ci(d, METRIC)} | {_rate(d, 'critical_field_accuracy')} | "
                     f"{_rate(d, 'schema_pass_rate')} | {diff or '—'} | "
                     f"{'n/a' if lat is None else f'{lat:.2f} s'} |")
    methods = sorted({_method_name(c) for c in comparisons.values()})
    lines += ["", "The difference column is the fine-tuned model minus that baseline on the same items, with a "
              f"95% interval ({'; '.join(methods) or 'none computed'}); a baseline whose interval reaches zero "
              "did as well as the fine-tuned model on this evidence.", ""]
    ties = [k for k, c in comparisons.items() if not (c.get("low") is not None and c["low"] > 0)]
    if ties:
        lines += ["Baselines the fine-tuned model did **not** clearly beat: "
                  + ", ".join(f"{_label(k)}" for k in ties) + ". That is a finding: the cheaper option may be "
                  "enough.", ""]
    if tuned:
        what = tuned.get("provenance") or {}
        model = tuned.get("model")
        model_ref = str(model.get("path") or model.get("ref")) if isinstance(model, dict) else str(model)
        if model_ref.endswith(".gguf"):
            lines += [f"The fine-tuned model was scored from its exported GGUF (`{Path(model_ref).name}`) in "
                      f"llama.cpp, decoding `{what.get('decoding_mode', 'unknown')}` (answers held to the task's JSON "
                      "schema), with no system prompt, as it was trained.", ""]
        else:
            lines += ["No exported GGUF passed the export's checks, so the fine-tuned model was scored as its LoRA "
                      "adapter through transformers, without schema-constrained decoding (transformers has none "
                      "here). Read the export stage's note below for why the files were refused.", ""]

    if judge.get("pairs"):
        p = judge["pairs"][0]
        lines += [f"## Pairwise judge (fine-tuned vs {_label(r.get('judge_rival', ''))}, positions swapped)", "",
                  f"On {p.get('n_items')} items the judge preferred the fine-tuned model {p.get('wins')} times and "
                  f"the other {p.get('losses')} times ({p.get('ties')} ties, {p.get('judge_failures')} judge "
                  f"failures); win rate with ties as half {_pct(p.get('win_rate_ties_half'))} (95% CI "
                  f"{_pct(p.get('ci_low'))} to {_pct(p.get('ci_high'))}); position consistency "
                  f"{_pct(p.get('position_consistency'))}. The items were chosen to validate the judge (those "
                  "where exactly one answer is right come first), so this win rate is not a quality estimate.", ""]
        for w in dict.fromkeys(judge.get("warnings", [])):  # one line per distinct warning
            lines.append(f"- ⚠ {w}")
        lines.append("")

    if gate:
        lines += ["## Release gate", "", f"Decision: **{gate['decision']}** (candidate: fine-tuned; current: "
                  f"{_label(rival or '')})", "", "| criterion | status | detail |", "|---|---|---|"]
        for c in gate.get("criteria", []):
            lines.append(f"| {c['name']} | {c['status']} | {str(c['detail']).replace('|', '/')} |")
        lines.append("")

    data = []
    if r.get("generate"):
        g = r["generate"]
        data.append(f"- generate_batch: {g['rows']} rows parsed from {g['requests']} requests, {g['rejected']} "
                    f"unparsable answers kept with their raw text.")
    if r.get("validate"):
        v = r["validate"]
        data.append(f"- validate_rows: {v['accepted']} accepted, {v['rejected']} rejected of {v['total']} "
                    f"(seeds + generated); rejections by gate: {json.dumps(v['by_gate'])}.")
    if r.get("split"):
        data.append(f"- split_dataset: {json.dumps(r['split']['counts'])}; golden set locked.")
    if r.get("train"):
        t = r["train"]
        m = t.get("metrics", {})
        data.append(f"- train_qlora: method {t['method']['name']}; {m.get('steps')} steps, loss "
                    f"{_num(m.get('train_loss_first'))} → {_num(m.get('train_loss_last'))}, "
                    f"{_num(m.get('tokens_per_second'))} tokens/s; recipe `{_recipe_name()}`"
                    + (f" with overrides {json.dumps(demo.s.recipe_overrides)}" if demo.s.recipe_overrides else "")
                    + ".")
    if r.get("export") and not r["export"].get("error"):
        e = r["export"]
        data.append(f"- export_gguf: recommended `{e.get('recommended')}`; Modelfile and model card written "
                    f"({e.get('model_card')}).")
    if data:
        lines += ["## What ran", "", *data, ""]

    cmp_path = Path(compare.report_path)
    cmp_path = cmp_path if cmp_path.is_absolute() else ws / cmp_path
    link = cmp_path.relative_to(out_dir) if cmp_path.is_relative_to(out_dir) else cmp_path
    lines += ["## Comparison report and plots", "", f"Full comparison: [{link}]({link})", ""]
    for plot in compare.plots:
        pp = Path(plot)
        pp = pp if pp.is_absolute() else ws / pp
        try:
            link = pp.relative_to(out_dir)
        except ValueError:
            link = pp
        lines.append(f"![{pp.stem}]({link})")
    lines.append("")

    lines += ["## What this demo can and cannot show", "",
              "- The teacher and the judge are the same 135M-parameter model that is fine-tuned: it writes few "
              "usable rows and judges poorly. The judge's validation above measures exactly that.",
              f"- The golden set has {r.get('golden_n', 'n/a')} items, so intervals are wide: only large "
              "differences can be claimed.",
              "- Training is a few minutes of LoRA on a CPU, on about a hundred hand-written rows. Set "
              "SPECIALIZE_TEACHER / SPECIALIZE_JUDGE to a strong hosted model for data and verdicts worth acting on.",
              "- Every number here comes from this run's files.", ""]

    lines += ["## Stage timings", "", "| stage | seconds | note |", "|---|---|---|"]
    for st in demo.stages:
        lines.append(f"| {st.name} | {st.seconds:.1f} | {st.note.replace('|', '/')[:200]} |")
    lines.append("")
    r["run_cost_usd"] = cost
    path = out_dir / "report.md"
    path.write_text("\n".join(lines))
    (out_dir / "summary.json").write_text(json.dumps(
        {"decision": gate.get("decision"), "headline": r.get("headline"), "comparisons": comparisons,
         "judge_validation": validation, "run_cost_usd": cost,
         "stages": [{"name": st.name, "seconds": st.seconds, "ok": st.ok} for st in demo.stages]}, indent=2))
    return path


def _recipe_name() -> str:
    from specialize.demo.run import DEMO_RECIPE

    return DEMO_RECIPE


def _pts(x: Any) -> str:
    return "n/a" if x is None else f"{100 * float(x):+.1f} pts"


def _num(x: Any) -> str:
    return "n/a" if not isinstance(x, (int, float)) else f"{x:.2f}"


def _kappa_ci(v: dict[str, Any]) -> str:
    lo, hi = v.get("kappa_ci_low"), v.get("kappa_ci_high")
    if lo is not None and hi is not None:
        return f", 95% CI {lo:.2f} to {hi:.2f}"
    one_label = next((w for w in v.get("warnings") or [] if "to all" in w and "rater gave" in w), None)
    if one_label:  # e.g. a judge that answers "tie" to everything: kappa is 0 by construction
        said = one_label.split(" gave ")[1].split(" to all")[0]
        return f"; the {'judge' if 'second rater' in one_label else 'reference'} gave {said} every time, so " \
               "kappa is 0 by construction and has no interval"
    return ""


def _metric_ci(doc: dict[str, Any], name: str) -> str:
    m = doc["metrics"].get(name)
    ci = doc["metrics"].get(f"{name}_ci")
    if isinstance(m, dict):
        m, ci = m.get("value"), [m.get("ci_low"), m.get("ci_high")]
    if isinstance(ci, dict):
        ci = [ci.get("low", ci.get("ci_low")), ci.get("high", ci.get("ci_high"))]
    if m is None:
        return "n/a"
    return f"{_pct(m)} [{_pct(ci[0])}, {_pct(ci[1])}]" if ci and None not in ci[:2] else _pct(m)
