"""``specialize demo``: the whole workflow, offline, on the embedded small model.

Stages are filled in as the tools land; each stage reports progress and the demo ends by printing where
its report is.
"""

from __future__ import annotations

from rich.console import Console


def run_demo(fast: bool = False) -> None:
    from specialize.catalog import load_all

    console = Console()
    tools = load_all()
    console.rule("specialize demo")
    console.print(f"{len(tools)} tools available: {', '.join(tools)}")
    if "assess_task" in tools:
        result = tools["assess_task"].run({})
        console.print(result.model_dump())
    console.print("[yellow]The end-to-end workflow is not wired up yet; only the stages above ran.[/]")
