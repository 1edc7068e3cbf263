"""Base classes for every tool's params and result: one pydantic schema serves MCP, the CLI and Python.

``Params`` forbids unknown fields so a misspelt argument is an error, never silently ignored, and refuses
Infinity and NaN in every number field (they would turn sums and verdicts into nonsense); a test checks
that every field of every tool carries a description (it becomes the MCP input schema and the CLI help).
"""

from __future__ import annotations


from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer


class Params(BaseModel):
    """Base for tool parameters."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)


class Result(BaseModel):
    """Base for tool results (the MCP output schema and structured content)."""

    model_config = ConfigDict(extra="forbid")


class SparseResult(Result):
    """Base for a nested record whose keys depend on the case (the metrics a task type reports, the numbers a
    criterion has): every possible key is a described field, and only the keys that were given appear in the
    dump, so the JSON keeps the shape it had as a plain dict."""

    @model_serializer(mode="wrap")
    def _only_given(self, handler: SerializerFunctionWrapHandler):  # no return type: the schema stays the model's
        data = handler(self)
        given = self.model_fields_set
        return {k: v for k, v in data.items() if k in given}
