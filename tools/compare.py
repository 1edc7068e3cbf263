"""compare_models: a markdown report comparing N models from their run_eval results (and pairwise judgments).

The report has an Executive Summary, Key Findings, Detailed Analysis (comparison matrix with cost per 1M
tokens, latency p95 and hosting; metric tables with 95% CIs; pairwise win rates; an error taxonomy with
three representative failures per category), Recommendations and Next Steps, and links three PNG plots:
win rate with CI bars per model pair, cost against quality, and the latency distribution.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field

from specialize.runtime.catalog import tool
from specialize.runtime.errors import InvalidInput
from specialize.runtime.schema import Params, Result
from specialize.runtime.workspace import InputFile, OutputDir, make_dirs, open_write, rel, resolve_path, write_text


class CompareModelsParams(Params):
    results: list[InputFile] = Field(min_length=1, description="run_eval results JSON files, one per model, on "
                                     "the same eval set.")
    names: list[str] | None = Field(None, description="Display names in the same order (default: model refs).")
    judgments: InputFile | None = Field(None, description="judgments.json from run_pairwise_judge over these models.")
    hosting: dict[str, str] = Field(default_factory=dict, description="Hosting per model name (e.g. 'API', "
                                                                      "'self-hosted on 1x L4'); guessed if absent.")
    title: str = Field("Model comparison", description="Report title.")
    output_dir: OutputDir = Field("reports/compare", description="Folder for report.md and the plots.")


class CompareModelsResult(Result):
    report_path: str = Field(description="The markdown report.")
    plots: list[str] = Field(description="PNG files linked from the report.")
    best_model: str | None = Field(description="Highest primary metric.")
    summary: list[str] = Field(description="The key findings, one line each.")


def _pct(x: Any) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _ci(m: dict[str, Any], key: str) -> str:
    ci = m.get(f"{key}_ci")
    return f"{_pct(m.get(key))} [{_pct(ci[0])}, {_pct(ci[1])}]" if ci else _pct(m.get(key))


def _money(x: Any, digits: int = 4) -> str:
    return "unknown" if x is None else f"${x:,.{digits}f}"


def _hosting(doc: dict[str, Any]) -> str:
    m = doc["model"]
    if m.get("kind") == "litellm":
        return "self-hosted (OpenAI-compatible server)" if m.get("api_base") else "API"
    return f"self-hosted ({m.get('kind')})"


def _cost_per_1m(doc: dict[str, Any]) -> float | None:
    ok = [e for e in doc["examples"] if e.get("cost_usd") is not None]
    tokens = sum(e.get("prompt_tokens", 0) + e.get("completion_tokens", 0) for e in ok)
    if not ok or tokens == 0 or doc.get("cost_per_request_usd") is None:
        return None
    return sum(e["cost_usd"] for e in ok) / tokens * 1e6


def _snip(text: Any, n: int = 160) -> str:
    s = " ".join(str(text if text is not None else "").split())
    s = s.replace("|", "\\|")
    return s if len(s) <= n else s[: n - 1] + "…"


def _prompt_of(ex: dict[str, Any]) -> str:
    p = ex.get("prompt") or []
    users = [m.get("content", "") for m in p if isinstance(m, dict) and m.get("role") == "user"]
    return users[-1] if users else str(p)


def _plots(out: Path, names: list[str], docs: list[dict[str, Any]], primary: str,
           judged: dict[str, Any] | None) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths: list[Path] = []

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        paths.append(out / name)
        with open_write(paths[-1], "wb", arg="output_dir") as fh:
            fig.savefig(fh, dpi=110, format="png")
        plt.close(fig)

    if judged and judged.get("pairs"):
        fig, ax = plt.subplots(figsize=(7, 0.6 * len(judged["pairs"]) + 1.5))
        labels = [f"{s['model_a']} vs {s['model_b']}" for s in judged["pairs"]]
        wr = [s["win_rate_ties_half"] for s in judged["pairs"]]
        err = [[w - s["ci_low"] for w, s in zip(wr, judged["pairs"])],
               [s["ci_high"] - w for w, s in zip(wr, judged["pairs"])]]
        ax.errorbar(wr, range(len(wr)), xerr=err, fmt="o", capsize=4)
        ax.axvline(0.5, color="grey", ls="--", lw=1)
        ax.set_yticks(range(len(wr)), labels)
        ax.set_xlim(0, 1)
        ax.set_xlabel("win rate of the first model (ties = ½), 95% bootstrap CI")
        save(fig, "win_rates.png")
    fig, ax = plt.subplots(figsize=(6, 4))
    for n, d in zip(names, docs):
        q = d["metrics"].get(primary)
        c = d.get("cost_per_1k_requests_usd")
        if q is None or c is None:
            continue
        ci = d["metrics"].get(f"{primary}_ci") or [q, q]
        ax.errorbar([c], [q], yerr=[[q - ci[0]], [ci[1] - q]], fmt="o", capsize=4)
        ax.annotate(n, (c, q), textcoords="offset points", xytext=(5, 5))
    ax.set_xlabel("cost per 1,000 requests (USD)")
    ax.set_ylabel(primary)
    ax.set_title("cost against quality")
    save(fig, "cost_quality.png")
    fig, ax = plt.subplots(figsize=(6, 4))
    series = [[e["latency_s"] for e in d["examples"]
               if "latency_s" in e and not e.get("cached") and not e.get("warmup")] or [0.0]
              for d in docs]
    ax.boxplot(series, showfliers=True)
    ax.set_xticks(range(1, len(names) + 1), names, rotation=15)
    ax.set_ylabel("latency per request (s)")
    ax.set_title("latency distribution")
    save(fig, "latency.png")
    return paths


def _paired_against_best(ranked: list[tuple[str, dict[str, Any]]],
                         primary: str) -> list[tuple[str, dict[str, Any] | None]]:
    """Two-sided paired test of the best model against each other one, Holm-adjusted over the comparisons."""
    from specialize.evaluation.paired import gain_test
    from specialize.evaluation.stats import adjust_pvalues

    best = ranked[0][1]
    tests = [(n, gain_test(best, d, primary, two_sided=True)) for n, d in ranked[1:]]
    adjusted = adjust_pvalues([t["p_value"] if t else float("nan") for _, t in tests])
    for (_, t), pa in zip(tests, adjusted):
        if t is not None:
            t["p_adjusted"] = pa
    return tests


def build_report(p: CompareModelsParams) -> CompareModelsResult:
    docs = []
    for r in p.results:
        doc = json.loads(resolve_path(r, arg="results", must_exist=True).read_text())
        if doc.get("kind") != "eval_results":
            raise InvalidInput(f"{r} is not a run_eval results file.", fix="Pass the JSON files run_eval wrote.")
        docs.append(doc)
    names = p.names or [d["model"]["ref"] for d in docs]
    if len(names) != len(docs):
        raise InvalidInput("names must match results one to one.", fix="Give one name per results file.")
    shas = {d["eval_set"]["sha256"] for d in docs}
    primary = docs[0]["primary_metric"]
    judged = json.loads(resolve_path(p.judgments, arg="judgments", must_exist=True).read_text()) \
        if p.judgments else None
    out = resolve_path(p.output_dir, arg="output_dir", for_write=True)
    make_dirs(out, arg="output_dir")
    plots = _plots(out, names, docs, primary, judged)

    ranked = sorted(zip(names, docs), key=lambda nd: -(nd[1]["metrics"].get(primary) or -1))
    best_name, best = ranked[0]
    findings = []
    for n, d in ranked:
        findings.append(f"{n}: {primary} {_ci(d['metrics'], primary)}, p95 latency "
                        f"{(d['latency_s'].get('p95') or 0) * 1000:.0f} ms, cost per 1k requests "
                        f"{_money(d.get('cost_per_1k_requests_usd'))}.")
    paired = _paired_against_best(ranked, primary) if len(shas) == 1 else []
    tied = [n for n, t in paired if t is None or not t["p_adjusted"] < 0.05]
    if tied:
        findings.append(f"Paired tests on the shared items (Holm-adjusted over {len(paired)} comparisons with "
                        f"{best_name}) find no significant difference between {best_name} and {', '.join(tied)} on "
                        f"{primary}: the lead is not established at this eval size.")
    for n, d in ranked:
        for w in d["metrics"].get("stats_warnings", []):
            findings.append(f"{n}: {w}.")
    if len(shas) > 1:
        findings.append("Warning: the results come from different eval sets (sha256 differ); the comparison is "
                        "not like for like.")
    if judged:
        for w in judged.get("warnings", []):
            findings.append(f"Judge: {w}")

    lines = [f"# {p.title}", "", "## Executive Summary", ""]
    lines.append(f"{best_name} scores highest on {primary} ({_ci(best['metrics'], primary)}) over "
                 f"{best['n']} items of `{best['eval_set']['path']}`"
                 + (f", but its lead over {', '.join(tied)} is not significant in a paired test." if tied else
                    ", ahead of every other model in paired tests (Holm-adjusted)." if paired else
                    ", but the models were scored on different eval sets, so no paired test was made."
                    if len(ranked) > 1 else "."))
    cheapest = min((nd for nd in zip(names, docs) if nd[1].get("cost_per_1k_requests_usd") is not None),
                   key=lambda nd: nd[1]["cost_per_1k_requests_usd"], default=None)
    if cheapest:
        lines.append(f"The cheapest model to run is {cheapest[0]} at {_money(cheapest[1]['cost_per_1k_requests_usd'])}"
                     " per 1,000 requests.")
    lines += ["", "## Key Findings", ""] + [f"- {f}" for f in findings]
    lines += ["", "## Detailed Analysis", "", "### Comparison matrix", "",
              "| Model | Cost / 1M tok | Cost / 1k requests | Latency p50 | Latency p95 | Tokens/s | Hosted |",
              "|---|---|---|---|---|---|---|"]
    for n, d in zip(names, docs):
        lat = d["latency_s"]
        lines.append(f"| {n} | {_money(_cost_per_1m(d), 2)} | {_money(d.get('cost_per_1k_requests_usd'))} | "
                     f"{(lat.get('p50') or 0) * 1000:.0f} ms | {(lat.get('p95') or 0) * 1000:.0f} ms | "
                     f"{(d.get('tokens_per_s') or 0):.1f} | {p.hosting.get(n, _hosting(d))} |")
    keys = [k for k in docs[0]["metrics"] if f"{k}_ci" in docs[0]["metrics"]]
    lines += ["", "### Task metrics (95% bootstrap CI)", "", "| Model | n | " + " | ".join(keys) + " |",
              "|---|---|" + "---|" * len(keys)]
    for n, d in zip(names, docs):
        lines.append(f"| {n} | {d['n']} | " + " | ".join(_ci(d["metrics"], k) for k in keys) + " |")
    if paired:
        lines += ["", f"### Paired tests against {best_name} on {primary}", "",
                  "Two-sided tests on the items both models scored; p-values Holm-adjusted over the comparisons.", "",
                  "| Model | shared items | gain of best | 95% CI | p | Holm p | test |", "|---|---|---|---|---|---|---|"]
        for n, t in paired:
            if t is None:
                lines.append(f"| {n} | | | | | | no paired test for {primary} |")
                continue
            lines.append(f"| {n} | {t['n_shared']} | {100 * t['diff']:+.1f} pts | [{100 * t['ci_low']:+.1f}, "
                         f"{100 * t['ci_high']:+.1f}] | {t['p_value']:.3g} | {t['p_adjusted']:.3g} | {t['method']} |")
    if judged:
        lines += ["", "### Pairwise judge (each pair judged in both orders)", "",
                  "| A | B | n | A wins | ties | B wins | win rate (ties ½) [95% CI] | position consistency |",
                  "|---|---|---|---|---|---|---|---|"]
        for s in judged["pairs"]:
            lines.append(f"| {s['model_a']} | {s['model_b']} | {s['n_items']} | {_pct(s['win_rate'])} | "
                         f"{_pct(s['tie_rate'])} | {_pct(s['loss_rate'])} | {_pct(s['win_rate_ties_half'])} "
                         f"[{_pct(s['ci_low'])}, {_pct(s['ci_high'])}] | {_pct(s['position_consistency'])} |")
    lines += ["", "### Error taxonomy", ""]
    for n, d in zip(names, docs):
        fails = [e for e in d["examples"] if not e.get("correct")]
        groups: dict[str, list[dict[str, Any]]] = {}
        for e in fails:
            groups.setdefault(e.get("error_type") or "incorrect", []).append(e)
        lines.append(f"#### {n}: {len(fails)} failures of {d['n']}")
        lines.append("")
        if not groups:
            lines.append("No failures.")
        for cat, exs in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            lines += ["", f"**{cat}** ({len(exs)})", "", "| id | input | output | reference |", "|---|---|---|---|"]
            for e in exs[:3]:
                lines.append(f"| {e['id']} | {_snip(_prompt_of(e))} | {_snip(e.get('prediction') or e.get('error'))} | "
                             f"{_snip(e.get('reference'))} |")
        lines.append("")
    lines += ["### Plots", ""] + [f"![{pth.stem}]({pth.name})" for pth in plots]
    lines += ["", "## Recommendations", ""]
    if tied:
        lines.append(f"- Do not pick between {best_name} and {', '.join(tied)} on {primary} alone: enlarge the eval "
                     "set (plan_eval_size) or decide on cost and latency, where the gap is clearer.")
    else:
        lines.append(f"- {best_name} is the quality choice on this set; confirm with release_gate before shipping.")
    if cheapest and cheapest[0] != best_name:
        q_best = best["metrics"].get(primary) or 0
        q_cheap = cheapest[1]["metrics"].get(primary) or 0
        lines.append(f"- {cheapest[0]} reaches {100 * q_cheap / q_best if q_best else 0:.0f}% of {best_name}'s "
                     f"{primary} at lower cost; weigh that against the quality gap.")
    lines += ["", "## Next Steps", ""]
    worst = []
    for b in best.get("failure_buckets", {}).get("category", [])[:3]:
        if b["failures"]:
            worst.append(f"{b['bucket']} ({b['failures']}/{b['n']} failed)")
    if worst:
        lines.append(f"- Repair data for the weakest categories of {best_name}: {', '.join(worst)}.")
    if not judged:
        lines.append("- Run run_pairwise_judge on the open-ended outputs and validate the judge on human labels.")
    elif not judged.get("judge_validation"):
        lines.append("- Validate the judge against a few dozen human labels before trusting its verdicts.")
    lines.append("- Run release_gate on the candidate with the regression, capability, safety and format sets.")
    report = out / "report.md"
    write_text(report, "\n".join(lines) + "\n", arg="output_dir")
    return CompareModelsResult(report_path=rel(report), plots=[rel(x) for x in plots], best_model=best_name,
                               summary=findings)


@tool(idempotent=True)
def compare_models(params: CompareModelsParams, *, progress=None) -> CompareModelsResult:
    """Write a comparison report (report.md + PNG plots) for N models from their run_eval results.

    Sections: Executive Summary, Key Findings, Detailed Analysis (comparison matrix with cost per 1M tokens,
    latency p95 and hosting; metric tables with 95% CIs; pairwise win rates when judgments are given; an error
    taxonomy with three representative failures per category), Recommendations, Next Steps. Plots: win rate
    with CI bars per model pair, cost against quality, latency distribution.
    """
    return build_report(params)
