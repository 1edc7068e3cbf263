"""Turn a catalog ``ToolSpec`` into an MCP tool: the params model is the input schema, the result model the
output schema, the hints become ToolAnnotations. No logic lives here.
"""

from __future__ import annotations

import inspect
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools.base import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase
from mcp.types import ToolAnnotations
from pydantic import ValidationError

from specialize.runtime.catalog import ToolSpec
from specialize.runtime.errors import SpecializeError


class _ReadableRefusals:
    """Mixed into the argument model: a typed refusal raised while the arguments are validated (a path argument
    that leaves the workspace) becomes a validation error on that field, which the SDK shows the agent word for
    word (any other exception during validation it reports as a bare crash)."""

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().model_validate(obj, *args, **kwargs)  # type: ignore[misc]
        except SpecializeError as exc:
            field = exc.details.get("field")
            raise ValidationError.from_exception_data(cls.__name__, [{
                "type": "value_error", "loc": (str(field),) if field else (), "input": None,
                "ctx": {"error": str(exc)}}]) from exc


def _sent_fields_only(self: Any) -> dict[str, Any]:
    """The arguments the client sent, without the defaults it left out. The SDK's own version hands every field
    to the tool, and a tool that fills unset fields from elsewhere (run_eval from a task card, release_gate
    from a preset) would then see every field as given."""
    return {name: getattr(self, name) for name in self.model_fields_set}


def to_mcp_tool(spec: ToolSpec) -> Tool:
    def call(**kwargs: Any) -> Any:
        try:
            return spec.run(spec.params.model_validate(kwargs))
        except (SpecializeError, ValidationError) as exc:
            # Deliberate, explained failures reach the agent word for word; anything else is a crash whose
            # text the SDK keeps on the server side.
            raise ToolError(str(exc)) from exc

    # A flat signature (one argument per params field) gives the SDK the right output schema; the argument
    # model is then swapped for the params model itself, so unknown fields are refused and every field keeps
    # its description, bounds and enum values.
    call.__name__ = spec.name
    call.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, annotation=f.annotation)
         for n, f in spec.params.model_fields.items()],
        return_annotation=spec.result,
    )
    annotations = ToolAnnotations(
        title=spec.name.replace("_", " "),
        read_only_hint=spec.read_only,
        destructive_hint=spec.destructive,
        idempotent_hint=spec.idempotent,
        open_world_hint=spec.open_world,
    )
    mcp_tool = Tool.from_function(call, name=spec.name, description=spec.description,
                                  annotations=annotations, structured_output=True)
    args_model = type(f"{spec.params.__name__}Arguments", (_ReadableRefusals, spec.params, ArgModelBase),
                      {"__module__": spec.params.__module__, "model_dump_one_level": _sent_fields_only})
    mcp_tool.fn_metadata.arg_model = args_model
    mcp_tool.parameters = spec.params.model_json_schema(by_alias=True)
    return mcp_tool
