"""The ``specialize`` command line: the same tools as the MCP server, for people.

Every tool in the catalog is a sub-command (``specialize estimate-break-even --help``); the hand-written
commands here start the MCP server, run the demo, install the skills and serve a GGUF model.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # litellm must not fetch prices at import

import typer  # noqa: E402  (not imported on the 'specialize mcp' path: see specialize/cli/entry.py)

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Turn a narrow LLM task into a small specialist model, and decide whether it pays.")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []})
def mcp(ctx: typer.Context) -> None:
    """Run the MCP server: stdio by default, --http for streamable HTTP on 127.0.0.1 (see 'specialize mcp --help')."""
    from specialize.server.app import main as serve  # its options live there, parsed without this framework

    serve(ctx.args)


@app.command("tools")
def list_tools() -> None:
    """List the tools (the same list the MCP server offers)."""
    from rich.console import Console
    from rich.table import Table

    from specialize.runtime.catalog import load_all

    table = Table("tool", "kind", "what it does")
    for spec in load_all().values():
        kind = "job" if spec.starts_job else ("read-only" if spec.read_only else "writes")
        table.add_row(spec.name, kind, spec.description.split("\n")[0])
    Console().print(table)


@app.command()
def demo(
    fast: bool = typer.Option(False, help="Smaller numbers everywhere (for a quick look)."),
) -> None:
    """Run the whole workflow offline on the embedded small model and write a report."""
    from specialize.demo.run import run_demo

    run_demo(fast=fast)


skills_app = typer.Typer(help="The skill playbooks (Agent Skills format).", no_args_is_help=True)
app.add_typer(skills_app, name="skills")


@skills_app.command("install")
def skills_install(
    target: str = typer.Option(..., help="Which agent: claude (.claude/skills) or codex (.agents/skills)."),
    scope: str = typer.Option("user", help="user (your home folder) or project (the current folder)."),
) -> None:
    """Copy the playbooks where Claude Code or Codex look for skills."""
    from specialize.cli.skills_install import install_skills
    from specialize.runtime.errors import SpecializeError

    try:
        paths = install_skills(target, scope)  # type: ignore[arg-type]
    except SpecializeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    for path in paths:
        typer.echo(f"installed {path}")


@skills_app.command("list")
def skills_list() -> None:
    """List the bundled playbooks."""
    from specialize.cli.skills_install import bundled_skills

    for path in bundled_skills():
        typer.echo(f"{path.name}\t{path / 'SKILL.md'}")


@app.command()
def serve(
    model: str = typer.Argument(..., help="Path of an exported .gguf file."),
    port: int = typer.Option(8080, help="Port on 127.0.0.1."),
    alias: str = typer.Option(None, help="Model name clients ask for (default: the file name)."),
    n_ctx: int = typer.Option(2048, help="Context size."),
) -> None:
    """Serve a GGUF model with llama.cpp's OpenAI-compatible server on 127.0.0.1."""
    from specialize.export.serving import serve_foreground

    raise typer.Exit(serve_foreground(model, port=port, alias=alias, n_ctx=n_ctx))


@app.command()
def review(
    source: str = typer.Argument(None, help="What to review: a run_pairwise_judge judgments.json (--kind judge), "
                                            "a generate_batch / validate_rows JSONL (--kind rows) or a run_eval "
                                            "results JSON (--kind failures). Leave out to reopen --review-id."),
    kind: str = typer.Option("judge", help="judge: validate the judge; rows: accept, reject or correct rows; "
                                           "failures: tag failed eval items with causes."),
    review_id: str = typer.Option(None, help="Reopen this review (answers are kept), or the id for a new one."),
    sample: int = typer.Option(40, help="Items in the queue, stratified (0 = every item)."),
    schema_path: str = typer.Option(None, help="--kind rows: the task's JSON Schema corrected answers must satisfy."),
    seed: int = typer.Option(0, help="Seed for the sample and the blinded left/right order."),
    annotator: str = typer.Option(None, help="Your name, prefilled in the page."),
    port: int = typer.Option(0, help="Port on 127.0.0.1 (0 = any free port)."),
    threshold: float = typer.Option(0.8, help="Judge-people agreement needed to pass."),
    min_labels: int = typer.Option(20, help="Answers needed before pass/fail is decided."),
) -> None:
    """Serve a human-review page on 127.0.0.1 in the foreground and print its URL (Ctrl-C stops it; the answers
    stay in the workspace). The MCP tools open_review / review_progress / review_results / export_review do
    the same for an agent, with the page as a background job."""
    import secrets
    from urllib.parse import quote

    from specialize.review import app as review_app
    from specialize.review import store
    from specialize.runtime.errors import SpecializeError

    try:
        if source:
            rid = store.create_review(kind, source, sample=sample or None, seed=seed, threshold=threshold,
                                      min_labels=min_labels, review_id=review_id,
                                      schema_path=schema_path)["review_id"]
        elif review_id:
            rid = store.load_review(review_id)["review_id"]
        else:
            raise typer.BadParameter("pass a judgments.json to review, or --review-id to reopen a review")
        suffix = f"&annotator={quote(annotator)}" if annotator else ""

        def announce(info: dict) -> None:
            typer.echo(f"review {rid}: {len(store.load_items(rid))} items, answers in "
                       f"{store.review_dir(rid)}/answers.jsonl", err=True)
            typer.echo(f"open {info['url']}{suffix}", err=True)

        review_app.serve(rid, token=secrets.token_urlsafe(24), port=port, on_ready=announce)
    except SpecializeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)


@app.command()
def version() -> None:
    """Print the version."""
    from specialize import __version__

    typer.echo(__version__)


# The hand-written commands; anything else on the command line is a tool sub-command.
BUILT_IN = {"mcp", "tools", "demo", "skills", "serve", "review", "version"}


def build_cli(argv: list[str] | None = None) -> typer.Typer:
    """The app with every tool as a sub-command, unless ``argv`` names a built-in command (``specialize mcp``
    must not import the tool modules: the server lists them from the cached manifest)."""
    if argv and argv[0] in BUILT_IN and "--help" not in argv:
        return app
    from specialize.cli.commands import add_command
    from specialize.runtime.catalog import load_all

    for spec in load_all().values():
        add_command(app, spec)
    return app


def main() -> None:
    from specialize.runtime.errors import SpecializeError

    try:
        build_cli(sys.argv[1:])(prog_name="specialize")
    except SpecializeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
