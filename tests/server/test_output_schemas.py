"""Every tool's published output schema says what is inside it, all the way down.

The walk follows the MCP output schema of each tool (``$ref``s, arrays, unions, maps) and fails on an object
that names no properties and leaves its values open, on an untyped value, and on a field without a
description. The few objects that are open on purpose are listed below, each with the reason.
"""

from __future__ import annotations

from typing import Any

from specialize.server.adapters import to_mcp_tool

from specialize.runtime.catalog import load_all

OPEN_ON_PURPOSE = {
    "assess_task.next_tools[].arguments": "arguments for another tool; that tool's own input schema types them",
    "decide_specialization.next_tool.arguments": "arguments for another tool; that tool's own input schema types them",
    "job_status.result": "a finished job's result; its shape is that of the job kind's tool or run record",
    "job_cancel.result": "the same job result as job_status",
    "list_jobs.jobs[].result": "the same job result as job_status",
    "train_qlora.launch.config": "accelerate's own config file, whose sections depend on the distributed mode",
    "train_dpo.launch.config": "the same accelerate config as train_qlora",
    "validate_rows.samples[].details": "each gate's own evidence, different from gate to gate",
}


def _untyped(schema: dict[str, Any]) -> bool:
    """An open object (no properties, any values) or a value with no type at all."""
    if not schema or set(schema) <= {"title", "description", "default"}:
        return True
    if schema.get("type") == "object" and not schema.get("properties"):
        extra = schema.get("additionalProperties", True)
        return extra is True or extra == {}
    return schema.get("type") == "array" and not schema.get("items")


def walk(schema: dict[str, Any], path: str, defs: dict[str, Any], found: dict[str, list[str]],
         seen: frozenset[str] = frozenset()) -> None:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name not in seen:
            walk(defs[name], path, defs, found, seen | {name})
        return
    if _untyped(schema):
        found["untyped"].append(path)
        return
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            walk(option, path, defs, found, seen)
    for field, sub in (schema.get("properties") or {}).items():
        if not sub.get("description"):
            found["undescribed"].append(f"{path}.{field}")
        walk(sub, f"{path}.{field}", defs, found, seen)
    if isinstance(schema.get("additionalProperties"), dict):
        walk(schema["additionalProperties"], f"{path}{{}}", defs, found, seen)
    if isinstance(schema.get("items"), dict):
        walk(schema["items"], f"{path}[]", defs, found, seen)


def _findings() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {"untyped": [], "undescribed": []}
    for name, spec in load_all().items():
        schema = to_mcp_tool(spec).output_schema
        walk(schema, name, schema.get("$defs", {}), found)
    # a job's result reaches job_status untyped, but the kinds that have their own model are held to it too
    from specialize.tools.export import ExportGgufResult

    schema = ExportGgufResult.model_json_schema()
    walk(schema, "export_gguf(job result)", schema.get("$defs", {}), found)
    return found


def test_every_output_field_is_typed_and_described():
    found = _findings()
    untyped = sorted(set(found["untyped"]) - set(OPEN_ON_PURPOSE))
    assert not untyped, f"untyped objects in output schemas (give each a model, or allow-list it): {untyped}"
    assert not found["undescribed"], f"output fields without a description: {sorted(set(found['undescribed']))}"


def test_the_allow_list_holds_only_fields_that_are_still_open():
    stale = sorted(set(OPEN_ON_PURPOSE) - set(_findings()["untyped"]))
    assert not stale, f"these are typed now; drop them from OPEN_ON_PURPOSE: {stale}"


def test_the_walk_catches_an_open_dict_inside_a_list():
    from pydantic import Field

    from specialize.runtime.schema import Result

    class Inner(Result):
        ok: int = Field(description="A typed number.")
        loose: dict[str, Any] = Field(description="An open object.")

    class Outer(Result):
        items: list[Inner] = Field(description="Rows.")
        anything: Any = Field(None)

    schema = Outer.model_json_schema()
    found: dict[str, list[str]] = {"untyped": [], "undescribed": []}
    walk(schema, "outer", schema.get("$defs", {}), found)
    assert found == {"untyped": ["outer.items[].loose", "outer.anything"], "undescribed": ["outer.anything"]}
