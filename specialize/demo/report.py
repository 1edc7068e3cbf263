"""The demo's report.md: what ran, what it showed, and what a 135M local teacher and judge cannot show.

The headline question — did the fine-tuned model beat the base model on the golden set? — is answered with a
paired bootstrap CI of the per-item difference; when it did not, the report says so and lists the failure
buckets that a targeted data repair should start from.
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
    """mean(a - b) over the items both runs scored, with a 95% paired bootstrap CI."""
    from specialize.evaluation.stats import paired_bootstrap_diff

    a, b = per_item(a_doc, metric), per_item(b_doc, metric)
    ids = sorted(set(a) & set(b))
    res = paired_bootstrap_diff([a[i] for i in ids], [b[i] for i in ids], n_resamples=2000, seed=seed)
    return {"metric": metric, "n": len(ids), "a": sum(a[i] for i in ids) / max(1, len(ids)),
            "b": sum(b[i] for i in ids) / max(1, len(ids)), **res}


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


def write_report(demo: Any) -> Path:
    ws, r = demo.ws, demo.r
    out_dir = ws / demo.out / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    docs = {k: _load(r.get(k, {}).get("results_path"), ws) for k in ("base_plain", "base_prompted", "tuned")}
    tuned, base = docs["tuned"], docs["base_plain"]
    metric = (tuned or base or {}).get("primary_metric", "correct")

    compare = demo.call("compare_models", results=[r[k]["results_path"] for k in ("base_plain", "base_prompted", "tuned")
                                                   if r.get(k, {}).get("results_path")],
                        names=[n for k, n in (("base_plain", "base"), ("base_prompted", "base + better prompt"),
                                              ("tuned", "fine-tuned")) if r.get(k, {}).get("results_path")],
                        judgments=(r.get("judge") or {}).get("judgments_path"),
                        hosting={"base": "local CPU (llama.cpp)", "base + better prompt": "local CPU (llama.cpp)",
                                 "fine-tuned": "local CPU"},
                        title="specialize demo: support-ticket triage", output_dir=rel(out_dir / "compare"))

    lines = ["# specialize demo — support-ticket triage on SmolLM2-135M-Instruct", ""]
    teacher = demo.teacher_model or "SmolLM2-135M-Instruct (local, llama.cpp on 127.0.0.1)"
    judge = demo.judge_model or "SmolLM2-135M-Instruct (local, llama.cpp on 127.0.0.1)"
    lines += [f"Workspace: `{ws}` — outputs under `{demo.out}/`. Teacher: {teacher}. Judge: {judge}.", ""]

    lines += ["## Did the fine-tuned model beat the base model on the golden set?", ""]
    if tuned and base:
        cmp_ = paired_comparison(tuned, base, metric)
        lo, hi = cmp_.get("low"), cmp_.get("high")
        verdict = ("**Yes**: the gain's 95% CI lies above zero." if lo is not None and lo > 0 else
                   "**No**: the fine-tuned model is worse, and the CI excludes zero." if hi is not None and hi < 0
                   else "**Not shown**: the 95% CI of the difference includes zero, so this run cannot claim a gain.")
        lines += [f"{verdict} On {cmp_['n']} golden items, `{metric}` was {_pct(cmp_['a'])} for the fine-tuned "
                  f"model and {_pct(cmp_['b'])} for the base model: difference {_pct(cmp_.get('estimate'))} "
                  f"(95% paired bootstrap CI {_pct(lo)} to {_pct(hi)}).", ""]
        fmt = paired_comparison(tuned, base, "parse_rate")
        lines += [f"Output format, for comparison: the share of answers that parse as JSON went from "
                  f"{_pct(fmt['b'])} (base) to {_pct(fmt['a'])} (fine-tuned), a difference of "
                  f"{_pct(fmt.get('estimate'))} (95% paired bootstrap CI {_pct(fmt.get('low'))} to "
                  f"{_pct(fmt.get('high'))}). A format gain without a task-metric gain means the model learned the "
                  "shape of the answer but not yet its content.", ""]
        r["headline"] = cmp_
        if not (lo is not None and lo > 0):
            lines += ["Where the fine-tuned model fails most (start the targeted data repair here):", ""]
            lines += ["| dimension | bucket | items | failures |", "|---|---|---|---|"]
            buckets = [dict(b, dimension=dim) for dim, rows in tuned.get("failure_buckets", {}).items()
                       for b in rows if b.get("failures")]
            for b in sorted(buckets, key=lambda b: -b["failures"])[:8]:
                lines.append(f"| {b['dimension']} | {b['bucket']} | {b['n']} | {b['failures']} |")
            lines.append("")
    else:
        lines += ["The comparison could not be made (an evaluation is missing).", ""]

    lines += ["## Results on the golden set", "",
              f"| model | {metric} (95% CI) | JSON parse rate | schema pass rate | latency p95 | tokens/s |",
              "|---|---|---|---|---|---|"]
    for key, name in (("base_plain", "base"), ("base_prompted", "base + better prompt"), ("tuned", "fine-tuned")):
        d = docs[key]
        if d:
            lines.append(f"| {name} | {_metric_cell(d)} | {_rate(d, 'parse_rate')} | {_rate(d, 'schema_pass_rate')} | "
                         f"{d['latency_s'].get('p95') or 0:.2f} s | "
                         f"{d.get('tokens_per_s') or 0:.1f} |")
    lines.append("")

    j = r.get("judge") or {}
    if j.get("pairs"):
        p = j["pairs"][0]
        lines += ["## Pairwise judge (fine-tuned vs base, positions swapped)", "",
                  f"On {p.get('n_items')} golden items the judge preferred the fine-tuned model {p.get('wins')} times "
                  f"and the base model {p.get('losses')} times ({p.get('ties')} ties, {p.get('judge_failures')} judge "
                  f"failures). Win rate with ties as half: {_pct(p.get('win_rate_ties_half'))} (95% bootstrap CI "
                  f"{_pct(p.get('ci_low'))} to {_pct(p.get('ci_high'))}); sign test p = {p.get('sign_test_p')}; "
                  f"position consistency {_pct(p.get('position_consistency'))}.", ""]
        for w in j.get("warnings", []):
            lines.append(f"- ⚠ {w}")
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
        data.append(f"- train_qlora: method {t['method']['name']} ({t['method'].get('reason', '')}); metrics "
                    f"{json.dumps(t.get('metrics', {}))}.")
    if (r.get("export") or {}).get("error"):
        failed = next((st.note for st in demo.stages if st.name.startswith("export") and not st.ok), "")
        data.append(f"- export_gguf: no exported file passed its checks — {failed[:400]} (a model that has not "
                    "learned to stop at EOS fails the export's stop check; that is the check doing its job).")
    elif r.get("export"):
        data.append(f"- export_gguf: {json.dumps({k: v for k, v in r['export'].items() if k in ('recommended', 'modelfile', 'model_card')})}")
    if data:
        lines += ["## What ran", "", *data, ""]

    g = r.get("gate") or {}
    if g:
        lines += ["## Release gate", "", f"Decision: **{g['decision']}**", "", "| criterion | status | detail |",
                  "|---|---|---|"]
        for c in g.get("criteria", []):
            lines.append(f"| {c['name']} | {c['status']} | {c['detail']} |")
        lines.append("")

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
    card = (r.get("export") or {}).get("model_card")
    if card:
        lines += [f"Model card: `{card}`", ""]

    lines += ["## What this demo can and cannot show", "",
              "- The teacher and the judge are the same 135M-parameter model that is being fine-tuned. A model that "
              "small writes few usable training rows and judges poorly: expect most generated rows to be rejected "
              "by the gates, and read the judge's verdicts as a test of the protocol (position swap, consistency, "
              "CIs), not as a measure of quality.",
              f"- The training data is mostly the hand-written seed set. The locked golden set has 40 items and this "
              f"run scored a category-balanced subset of {r.get('golden_n', 'n/a')} (to stay within 15 minutes on "
              "2 cores), so confidence intervals are wide and only large differences can be claimed.",
              "- Training runs for a few dozen LoRA steps on CPU. It shows the pipeline end to end; it is not a "
              "tuned model. Set SPECIALIZE_TEACHER / SPECIALIZE_JUDGE to a strong model (e.g. a hosted frontier "
              "model with its key in the environment) for data and verdicts worth acting on.",
              "- Every number above comes from this run's files; nothing is estimated.", ""]

    lines += ["## Stage timings", "", "| stage | seconds | note |", "|---|---|---|"]
    for st in demo.stages:
        lines.append(f"| {st.name} | {st.seconds:.1f} | {st.note.replace('|', '/')[:160]} |")
    lines.append("")
    path = out_dir / "report.md"
    path.write_text("\n".join(lines))
    return path
