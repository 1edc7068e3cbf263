"""MCP tools built from the cached manifest: listed at once, made real on their first call.

A lazy tool publishes the manifest's input and output schemas. Its first call imports the tool's module and
builds the same ``Tool`` that ``to_mcp_tool`` builds; argument validation, the call and the result conversion
are then delegated to that real tool, so a lazy tool behaves exactly like an eager one (unknown fields
refused, JSON-string arguments pre-parsed, output validated against the result model).
"""

from __future__ import annotations

import threading
from typing import Any

from mcp.server.mcpserver.tools.base import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp.types import ToolAnnotations
from pydantic import ConfigDict, PrivateAttr

_LOCK = threading.Lock()


class _PassThroughArguments(ArgModelBase):
    """Placeholder argument model; the real params model validates on the first call."""

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)

    def model_dump_one_level(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class LazyFuncMetadata(FuncMetadata):
    tool_name: str
    _real: Tool | None = PrivateAttr(default=None)

    def real_tool(self) -> Tool:
        if self._real is None:
            with _LOCK:
                if self._real is None:
                    from specialize.server.adapters import to_mcp_tool

                    from specialize.runtime.catalog import get

                    self._real = to_mcp_tool(get(self.tool_name))
        return self._real

    def validate_arguments(self, arguments_to_validate: dict[str, Any]) -> dict[str, Any]:
        return self.real_tool().fn_metadata.validate_arguments(arguments_to_validate)

    def convert_result(self, result: Any) -> Any:
        return self.real_tool().fn_metadata.convert_result(result)


def lazy_tool(entry: dict[str, Any]) -> Tool:
    metadata = LazyFuncMetadata(arg_model=_PassThroughArguments, output_schema=entry["output_schema"],
                                tool_name=entry["name"])

    def call(**kwargs: Any) -> Any:
        return metadata.real_tool().fn(**kwargs)

    call.__name__ = entry["name"]
    annotations = entry.get("annotations")
    return Tool(fn=call, name=entry["name"], title=entry.get("title"), description=entry["description"],
                parameters=entry["input_schema"], fn_metadata=metadata, is_async=False, context_kwarg=None,
                annotations=ToolAnnotations(**annotations) if annotations else None)
