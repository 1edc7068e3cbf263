"""Readable rich tables for the economics and assessment tools (the CLI's output without ``--json``)."""

from __future__ import annotations

import json
from typing import Any


def _money(x: float | None) -> str:
    if x is None:
        return "—"
    return f"-${-x:,.2f}" if x < 0 else f"${x:,.2f}"


def _months(x: float | None) -> str:
    return "never" if x is None else f"{x:.4g}"


def _item_table(title: str, **value_column: Any) -> Any:
    """A headerless two-column table (item, value) under a left-aligned title."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("item", style="bold cyan")
    table.add_column("value", **value_column)
    return table


def _bullets(title: str, lines: list[str]) -> Any:
    from rich.text import Text

    text = Text(f"{title}\n", style="bold")
    for line in lines:
        text.append(f"  • {line}\n", style="")
    return text


def _sources(sources: list[Any]) -> Any:
    from rich.table import Table

    table = Table(title="Sources", title_justify="left", show_lines=False)
    for col in ("figure", "value", "source", "as of"):
        table.add_column(col, overflow="fold")
    for s in sources:
        table.add_row(s.what, f"{s.value:g} {s.unit}", s.source, s.as_of)
    return table


def render_break_even(r: Any) -> Any:
    from rich.console import Group
    from rich.table import Table

    colour = {"strong": "green", "hybrid": "yellow", "weak": "red"}[r.verdict]
    head = _item_table(f"Break-even: [bold {colour}]{r.verdict.upper()}[/]"
                       f"{'' if r.viable else ' (not viable)'}", justify="right")
    rows = [
        ("Frontier cost / month", _money(r.monthly_frontier_cost_usd)),
        ("Specialist serving / month", _money(r.monthly_serving_cost_usd)),
        ("Frontier share kept / month", _money(r.monthly_frontier_remainder_usd)),
        ("Maintenance / month", _money(r.monthly_maintenance_usd)),
        ("Specialist route / month", _money(r.monthly_specialist_cost_usd)),
        ("Savings / month", _money(r.monthly_savings_usd)),
        ("Serving cost / M tokens", _money(r.serving_cost_per_m_tokens)),
        ("Training", _money(r.training_cost_usd)),
        ("Data", _money(r.data_cost_usd)),
        ("Engineering", _money(r.engineering_cost_usd)),
        ("Upfront", _money(r.upfront_cost_usd)),
        ("Break-even (months)", _months(r.break_even_months)),
        ("Year-1 savings", _money(r.year1_savings_usd)),
        ("Year-2 savings", _money(r.year2_savings_usd)),
    ]
    for k, v in rows:
        head.add_row(k, v)
    timeline = Table(title="12-month timeline", title_justify="left")
    for col in ("month", "frontier", "specialist", "cumulative savings"):
        timeline.add_column(col, justify="right")
    for m in r.timeline:
        cum = m.cumulative_savings_usd
        timeline.add_row(str(m.month), _money(m.frontier_cost_usd) if m.month else "—",
                         _money(m.specialist_cost_usd) + (" upfront" if m.month == 0 else ""),
                         f"[{'green' if cum >= 0 else 'red'}]{_money(cum)}[/]")
    sens = Table(title="Sensitivity", title_justify="left")
    for col in ("scenario", "savings / month", "break-even (months)"):
        sens.add_column(col, justify="right" if col != "scenario" else "left")
    for s in r.sensitivity:
        sens.add_row(s.description, _money(s.monthly_savings_usd), _months(s.break_even_months))
    parts = [head, _bullets("Why", r.reasons), timeline, sens, _bullets("Assumptions", r.assumptions)]
    if r.sources:
        parts.append(_sources(r.sources))
    return Group(*parts)


def render_training_cost(r: Any) -> Any:
    from rich.console import Group

    table = _item_table(f"Training cost: {r.model_params_b:g}B {r.method} on {r.num_gpus} x {r.gpu}", justify="right")
    for k, v in (("Tokens processed", f"{r.tokens_processed:,.0f}"),
                 ("FLOPs", f"{r.total_flops:.3e}"),
                 ("Utilisation of peak", f"{r.utilisation:.0%} of {r.peak_tflops:g} TFLOPS"),
                 ("Wall clock", f"{r.wall_clock_hours:.2f} h"),
                 ("GPU-hours", f"{r.gpu_hours:.2f}"),
                 ("Price per GPU-hour", _money(r.usd_per_gpu_hour)),
                 ("Cost", _money(r.cost_usd)),
                 ("Base weights", f"{r.weights_memory_gb:g} GB ({'fits' if r.fits_in_memory else 'does NOT fit'})")):
        table.add_row(k, v)
    return Group(table, _bullets("Assumptions", r.assumptions), _sources(r.sources))


def render_assessment(r: Any) -> Any:
    from rich.console import Group
    from rich.table import Table

    colour = {"strong": "green", "mixed": "yellow", "weak": "red"}[r.case]
    head = _item_table(f"Assessment: [bold]{r.recommendation.replace('_', ' ')}[/] "
                       f"(case for a specialist: [{colour}]{r.case}[/])", overflow="fold")
    head.add_row("Route", r.route)
    head.add_row("Model size", f"{r.model_size_min_b:g}-{r.model_size_max_b:g}B (start small)")
    nxt = Table(title="Next tools", title_justify="left")
    for col in ("tool", "why", "arguments", "still needed"):
        nxt.add_column(col, overflow="fold")
    for t in r.next_tools:
        nxt.add_row(t.tool, t.why, json.dumps(t.arguments) if t.arguments else "—", "; ".join(t.missing) or "—")
    return Group(head, _bullets("Why", r.reasons), _bullets("Assumptions", r.assumptions), nxt)
