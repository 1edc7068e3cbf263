"""The catalog of tools: every function in ``specialize.tools`` decorated with ``@tool``.

The MCP server and the CLI are both built from this one list, so a tool has one schema, one description and
one set of behaviour hints (read-only, destructive, idempotent, open-world) wherever it is exposed.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass
from typing import Any, Callable, get_type_hints

from specialize.runtime.schema import Params, Result


@dataclass(frozen=True)
class ToolSpec:
    name: str
    fn: Callable[..., Result]
    params: type[Params]
    result: type[Result]
    description: str
    read_only: bool
    destructive: bool
    idempotent: bool
    open_world: bool
    starts_job: bool
    render: Callable[[Any], Any] | None = None

    def run(self, params: Params | dict[str, Any], progress: Callable[..., None] | None = None) -> Result:
        if not isinstance(params, self.params):
            params = self.params.model_validate(params)
        return self.fn(params, progress=progress)


_REGISTRY: dict[str, ToolSpec] = {}


def tool(
    *,
    read_only: bool = False,
    destructive: bool = False,
    idempotent: bool = False,
    open_world: bool = False,
    starts_job: bool = False,
    name: str | None = None,
    render: Callable[[Any], Any] | None = None,
) -> Callable[[Callable[..., Result]], Callable[..., Result]]:
    """Register ``fn(params: XParams, *, progress=None) -> XResult`` as a tool.

    The docstring is the tool's description. Hints must be honest: ``read_only`` means nothing on disk or
    elsewhere changes; ``open_world`` means it talks to something outside this machine (an LLM provider).
    """

    def decorate(fn: Callable[..., Result]) -> Callable[..., Result]:
        hints = get_type_hints(fn)
        sig = inspect.signature(fn)
        first = next(iter(sig.parameters))
        params_t, result_t = hints[first], hints["return"]
        if not (isinstance(params_t, type) and issubclass(params_t, Params)):
            raise TypeError(f"{fn.__name__}: first parameter must be a specialize Params model")
        if not (isinstance(result_t, type) and issubclass(result_t, Result)):
            raise TypeError(f"{fn.__name__}: return type must be a specialize Result model")
        spec = ToolSpec(
            name=name or fn.__name__,
            fn=fn,
            params=params_t,
            result=result_t,
            description=inspect.cleandoc(fn.__doc__ or "").strip(),
            read_only=read_only,
            destructive=destructive,
            idempotent=idempotent,
            open_world=open_world,
            starts_job=starts_job,
            render=render,
        )
        if spec.name in _REGISTRY and _REGISTRY[spec.name].fn is not fn:
            raise ValueError(f"tool name {spec.name!r} registered twice")
        _REGISTRY[spec.name] = spec
        return fn

    return decorate

TOOLS_PACKAGE = "specialize.tools"


def load_all() -> dict[str, ToolSpec]:
    """Import every module of ``specialize.tools`` (cheap: heavy libraries load lazily) and return the tools.

    The package is found by name: the runtime sits below the tools and never imports them statically."""
    pkg = importlib.import_module(TOOLS_PACKAGE)

    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{pkg.__name__}.{info.name}")
    return dict(sorted(_REGISTRY.items()))


def get(name: str) -> ToolSpec:
    tools = load_all()
    if name not in tools:
        from specialize.runtime.errors import NotFound

        raise NotFound(f"No tool named '{name}'.", fix=f"Known tools: {', '.join(tools)}.")
    return tools[name]
