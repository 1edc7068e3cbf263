"""decision.md: the decide_specialization answer as a memo a person can forward, with a tornado and a payback plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

LABEL = {"volume": "volume (x today's)", "quality_retained": "quality retained",
         "frontier_share": "planned frontier share", "engineering_hours": "engineering hours",
         "tokens_per_second": "serving tokens/s",
         "data_cost_usd": "data work ($)", "monthly_upkeep_usd": "upkeep ($/month)"}


def _m(x: float | None) -> str:
    return "never" if x is None or x == float("inf") else f"{x:.1f}"


def _usd(x: float) -> str:
    return f"-${-x:,.0f}" if x < 0 else f"${x:,.0f}"


def _plots(r: Any, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    limit = r.payback_limit_months
    cap = 2 * limit
    rows = [t for t in r.tornado if t.low != t.high or t.flip_value is not None][::-1]
    paths: list[Path] = []
    if rows:
        fig, ax = plt.subplots(figsize=(7.5, 0.55 * len(rows) + 1.6))
        centre = min(r.central["payback"], cap)
        for i, t in enumerate(rows):
            ends = [min(x, cap) if x is not None else cap for x in (t.payback_at_low, t.payback_at_high)]
            ax.barh(i, ends[0] - centre, left=centre, color="#4c72b0", height=0.6)
            ax.barh(i, ends[1] - centre, left=centre, color="#dd8452", height=0.6)
        ax.axvline(centre, color="black", lw=1)
        ax.axvline(limit, color="red", ls="--", lw=1, label=f"{limit:g}-month limit")
        ax.set_yticks(range(len(rows)), [f"{LABEL.get(t.input, t.input)}\n{t.low:,.3g} / {t.high:,.3g}" for t in rows],
                      fontsize=8)
        ax.set_xlabel(f"payback, months (blue: low end, orange: high end; {cap:g} = never)")
        ax.set_xlim(0, cap)
        ax.legend(loc="lower right", fontsize=8)
        ax.set_title("What moves the payback")
        fig.tight_layout()
        paths.append(out / "tornado.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    p = r.payback_months
    for q, name in ((p.p10, "P10"), (p.p50, "P50"), (p.p90, "P90")):
        x = min(q, cap) if q is not None else cap
        ax.axvline(x, color="#4c72b0", ls="-" if name == "P50" else ":", lw=1.5)
        ax.text(x, 0.9, f" {name} {_m(q)}", transform=ax.get_xaxis_transform(), fontsize=8)
    ax.axvspan(0, limit, color="#55a868", alpha=0.12, label=f"pays back within {limit:g} months")
    months = list(range(0, 13))
    cum = [m * r.central["savings"] - r.central["upfront"] for m in months]
    ax2 = ax.twinx()
    ax2.plot(months, cum, color="#dd8452", marker="o", ms=3, label="cumulative savings, likely values")
    ax2.axhline(0, color="grey", lw=0.8)
    ax2.set_ylabel("USD")
    ax.set_xlim(0, max(cap, 12))
    ax.set_yticks([])
    ax.set_xlabel("months")
    ax.set_title(f"Payback range ({r.share_paying_back:.0%} of draws within {limit:g} months)")
    ax.legend(loc="upper left", fontsize=8)
    ax2.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    paths.append(out / "payback.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths


def render_memo(r: Any, plot_names: list[str]) -> str:
    """The memo's Markdown (rounded for people; the result JSON keeps the floats)."""
    c, h = r.central, r.hosting
    lines = [f"# Should we specialize? {r.verdict.replace('_', ' ').upper()} ({r.confidence} confidence)", "",
             r.answer, "", "## Why", *[f"- {x}" for x in r.reasons], "",
             "## The numbers (likely values)", "", "| | per month |", "|---|---:|",
             f"| frontier model today | {_usd(c['frontier'])} |", f"| specialist serving ({h.chosen}) | "
             f"{_usd(c['serving'])} |", f"| kept on the frontier ({c['share']:.0%}) | {_usd(c['remainder'])} |",
             f"| upkeep | {_usd(c['upkeep'])} |", f"| **savings** | **{_usd(c['savings'])}** |", "",
             "| upfront | USD |", "|---|---:|",
             *[f"| {k} | {_usd(v)} |" for k, v in r.upfront_parts_usd.items()],
             f"| **total** | **{_usd(c['upfront'])}** |",
             "", f"Payback: P10 {_m(r.payback_months.p10)}, P50 {_m(r.payback_months.p50)}, P90 "
             f"{_m(r.payback_months.p90)} months; limit {r.payback_limit_months:g} months.", "",
             f"Hosting: {h.why}", "", "## What flips the verdict", "",
             "| input | low | likely | high | payback at low | payback at high | flip |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for t in r.tornado:
        lines.append(f"| {LABEL.get(t.input, t.input)} | {t.low:,.3g} | {t.likely:,.3g} | {t.high:,.3g} | "
                     f"{_m(t.payback_at_low)} | {_m(t.payback_at_high)} | {t.flip} |")
    lines += ["", *[f"![{n}]({n})" for n in plot_names], "", "## Quality", "", r.quality_note, ""]
    if r.open_questions:
        lines += ["## Questions still open", "", "| question | why it matters | assumed meanwhile |", "|---|---|---|",
                  *[f"| {q.question} (`{q.field}`) | {q.why} | {q.default_used} |" for q in r.open_questions], ""]
    lines += ["## Assumptions", "", *[f"- {a}" for a in r.assumptions], "", "## Sources", "",
              *[f"- {s.what}: {s.value:g} {s.unit} ({s.source}, as of {s.as_of})" for s in r.sources], "",
              "## Next", "", r.next_step, ""]
    if r.next_tool is not None:
        lines.append(f"Next call: `{r.next_tool.tool}` {r.next_tool.arguments} (still needed: "
                     f"{'; '.join(r.next_tool.missing) or 'nothing'}).")
    return "\n".join(lines) + "\n"


def write_memo(r: Any, out: Path) -> tuple[Path, list[Path]]:
    """Write decision.md and its plots into ``out``; returns the memo path and the plot paths."""
    out.mkdir(parents=True, exist_ok=True)
    plots = _plots(r, out)
    memo = out / "decision.md"
    memo.write_text(render_memo(r, [p.name for p in plots]), encoding="utf-8")
    return memo, plots
