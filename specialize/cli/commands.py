"""CLI commands generated from the tool catalog: each params field becomes an option, so the CLI and the MCP
server share one schema. ``--params FILE`` (JSON or YAML) supplies nested or long arguments; ``--json`` prints
the structured result; jobs accept ``--wait`` to follow the job with a progress bar.
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import ValidationError

from specialize.runtime.catalog import ToolSpec
from specialize.runtime.errors import SpecializeError

_SCALARS = (int, float, str)


def _unwrap_optional(tp: Any) -> Any:
    if get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _cli_type(tp: Any) -> tuple[Any, bool]:
    """The type typer sees for a params field, and whether the value arrives as JSON text."""
    tp = _unwrap_optional(tp)
    if tp is bool or tp in _SCALARS or get_origin(tp) is Literal:
        return tp, False
    if get_origin(tp) is list:
        inner = _unwrap_optional(get_args(tp)[0])
        if inner in _SCALARS:
            return list[inner], False  # type: ignore[valid-type]
        if get_origin(inner) is Literal:  # typer cannot take list[Literal]; pydantic checks the values
            return list[str], False
    return str, True


def _load_params_file(path: str) -> dict[str, Any]:
    text = Path(path).read_text()
    if path.endswith((".yaml", ".yml")):
        import yaml

        return yaml.safe_load(text) or {}
    return json.loads(text)


def _collect(spec: ToolSpec, kwargs: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name, field in spec.params.model_fields.items():
        value = kwargs.get(name)
        if value is None or value == [] or value == ():
            continue
        _, is_json = _cli_type(field.annotation)
        if is_json:
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise SpecializeError(f"--{name.replace('_', '-')} expects JSON ({exc}).",
                                      fix="Quote the JSON, or put the arguments in a file passed with --params.")
        data[name] = value
    return data


def render_result(spec: ToolSpec, result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if spec.render is not None:
        console.print(spec.render(result))
        return
    table = Table(title=spec.name, show_header=False, title_justify="left")
    table.add_column("field", style="bold cyan")
    table.add_column("value", overflow="fold")
    for key, value in result.model_dump(mode="json").items():
        if isinstance(value, (dict, list)):
            text = json.dumps(value, indent=1)
            if len(text) > 1500:
                text = text[:1500] + " …"
        else:
            text = str(value)
        table.add_row(key, text)
    console.print(table)


def follow_job(job_id: str) -> dict[str, Any]:
    import time

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from specialize.runtime import jobs

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[msg]}"),
                  TimeElapsedColumn(), TimeRemainingColumn(), transient=False) as bar:
        task = bar.add_task(job_id, total=None, msg="")
        while True:
            status = jobs.read_status(job_id)
            total = status.get("total")
            bar.update(task, total=total, completed=status.get("step") or 0,
                       msg=(status.get("message") or status["state"])[:60])
            if status["state"] in jobs.FINAL:
                return status
            time.sleep(0.5)


def add_command(app: Any, spec: ToolSpec) -> None:
    """Register ``spec`` on the typer app with one option per params field."""
    import typer

    sig_params = []
    for name, field in spec.params.model_fields.items():
        cli_t, is_json = _cli_type(field.annotation)
        help_text = (field.description or "") + (" (JSON)" if is_json else "")
        sig_params.append(inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, annotation=typing.Optional[cli_t],  # noqa: UP007
            default=typer.Option(None, "--" + name.replace("_", "-"), help=help_text, show_default=False)))
    sig_params.append(inspect.Parameter("params_file", inspect.Parameter.KEYWORD_ONLY,
                                        annotation=typing.Optional[Path],  # noqa: UP007
                                        default=typer.Option(None, "--params", exists=True, dir_okay=False,
                                                             help="JSON or YAML file of arguments (options override it).")))
    sig_params.append(inspect.Parameter("as_json", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                                        default=typer.Option(False, "--json", help="Print the result as JSON.")))
    if spec.starts_job:
        sig_params.append(inspect.Parameter("wait", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                                            default=typer.Option(False, "--wait", help="Follow the job until it ends.")))

    def callback(**kwargs: Any) -> None:
        as_json = kwargs.pop("as_json", False)
        wait = kwargs.pop("wait", False)
        params_file = kwargs.pop("params_file", None)
        try:
            data = _load_params_file(str(params_file)) if params_file else {}
            data.update(_collect(spec, kwargs))
            result = spec.run(spec.params.model_validate(data))
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"]) or "(arguments)"
                typer.echo(f"error: --{loc.replace('_', '-')}: {err['msg']}", err=True)
            raise typer.Exit(2)
        except SpecializeError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2)
        if wait and spec.starts_job and getattr(result, "job_id", None):
            status = follow_job(result.job_id)  # type: ignore[attr-defined]
            if as_json:
                typer.echo(json.dumps(status, indent=2, default=str))
            else:
                typer.echo(f"{status['state']}: {status.get('error') or status.get('result')}")
            raise typer.Exit(0 if status["state"] == "succeeded" else 1)
        if as_json:
            typer.echo(result.model_dump_json(indent=2))
        else:
            render_result(spec, result)
            if spec.starts_job and getattr(result, "job_id", None):
                typer.echo(f"Follow it with: specialize job-status --job-id {result.job_id}")  # type: ignore

    callback.__name__ = spec.name
    callback.__doc__ = spec.description
    callback.__signature__ = inspect.Signature(sig_params)  # type: ignore[attr-defined]
    app.command(spec.name.replace("_", "-"), help=spec.description,
                short_help=spec.description.split("\n")[0], rich_help_panel="Tools")(callback)
