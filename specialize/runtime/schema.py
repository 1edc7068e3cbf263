"""Base classes for every tool's params and result: one pydantic schema serves MCP, the CLI and Python.

``Params`` forbids unknown fields so a misspelt argument is an error, never silently ignored, and refuses
Infinity and NaN in every number field (they would turn sums and verdicts into nonsense); a test checks
that every field of every tool carries a description (it becomes the MCP input schema and the CLI help).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Params(BaseModel):
    """Base for tool parameters."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)


class Result(BaseModel):
    """Base for tool results (the MCP output schema and structured content)."""

    model_config = ConfigDict(extra="forbid")
