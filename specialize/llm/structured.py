"""Asking a model for output that follows a JSON Schema, in the form each kind of server understands.

Three ways exist, and which one applies depends on who runs the model:

* llama.cpp (in process, or its ``llama_cpp.server`` on this machine) turns the schema into a grammar and
  samples only tokens the grammar allows, so every answer parses and fits the schema (up to the token limit).
  Its request form is ``{"type": "json_object", "schema": ...}``; the Python server refuses ``json_schema``.
* A provider that litellm knows supports response schemas gets OpenAI's ``{"type": "json_schema", ...}``.
* A provider with only a JSON mode gets ``{"type": "json_object"}``: the answer is JSON, but the schema is
  only in the prompt.

``response_format_for`` picks the form and names the mode, so a results file can say exactly how each
answer was decoded. A local server is recognised by an ``api_base`` on a loopback address; one that is not
llama.cpp (vLLM, say) can be asked for another form with ``style``.
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import json
from typing import Any, Literal
from urllib.parse import urlparse

# The decoding modes a results file may record.
GRAMMAR = "schema_grammar"  # llama.cpp samples under a grammar built from the schema
JSON_SCHEMA = "json_schema"  # the provider enforces the schema
JSON_OBJECT = "json_object"  # the provider only promises a JSON object
UNCONSTRAINED = "unconstrained"

Style = Literal["auto", "llama_cpp", "json_schema", "json_object"]


def is_loopback(api_base: str | None) -> bool:
    """True when the URL points at this machine (127.0.0.0/8, ::1 or localhost)."""
    if not api_base:
        return False
    host = urlparse(api_base if "://" in api_base else f"http://{api_base}").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def provider_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema without its top-level ``$schema``/``$id`` keys, which some providers reject and none need."""
    return {k: v for k, v in schema.items() if k not in ("$schema", "$id")}


def response_format_for(model: str, schema: dict[str, Any], *, api_base: str | None = None, name: str = "answer",
                        style: Style = "auto") -> tuple[dict[str, Any] | None, str]:
    """``(response_format, mode)`` for asking ``model`` (a litellm string) for output matching ``schema``.

    ``style`` "auto" chooses: a loopback ``api_base`` is taken to be llama.cpp's server (grammar); otherwise
    litellm is asked whether the model supports response schemas (json_schema) or at least a JSON mode
    (json_object); failing both, nothing is sent and the mode is "unconstrained"."""
    clean = provider_schema(schema)
    if style == "auto":
        style = "llama_cpp" if is_loopback(api_base) else _hosted_style(model)  # type: ignore[assignment]
    if style == "llama_cpp":
        return {"type": "json_object", "schema": clean}, GRAMMAR
    if style == "json_schema":
        safe = "".join(c if c.isalnum() or c in "_-" else "_" for c in name)[:64] or "answer"
        return {"type": "json_schema", "json_schema": {"name": safe, "schema": clean}}, JSON_SCHEMA
    if style == "json_object":
        return {"type": "json_object"}, JSON_OBJECT
    return None, UNCONSTRAINED


def _hosted_style(model: str) -> str:
    from specialize.llm.client import import_litellm

    litellm = import_litellm()
    try:
        if litellm.supports_response_schema(model=model):
            return "json_schema"
        params = litellm.get_supported_openai_params(model=model) or []
    except Exception:  # noqa: BLE001 - a model litellm cannot place: ask for nothing special
        return "none"
    return "json_object" if "response_format" in params else "none"


def schema_sha256(schema: dict[str, Any]) -> str:
    """A stable hash of a schema (keys sorted), for provenance."""
    return hashlib.sha256(json.dumps(schema, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def rows_schema(output_schema: dict[str, Any] | None, n: int, *, top_level_array: bool) -> dict[str, Any]:
    """The schema of a teacher's answer of ``n`` rows ``{input, output, language}`` whose ``output`` follows
    ``output_schema`` (a plain string when there is none).

    llama.cpp's grammar can start with an array, which the row parser reads directly; providers want an
    object at the top, so there the rows sit under ``"rows"``."""
    output = provider_schema(copy.deepcopy(output_schema)) if output_schema else {"type": "string", "minLength": 1}
    row = {"type": "object", "additionalProperties": False, "required": ["input", "output", "language"],
           "properties": {"input": {"type": "string", "minLength": 1}, "output": output,
                          "language": {"type": "string", "minLength": 2, "maxLength": 8}}}
    array = {"type": "array", "items": row, "minItems": n, "maxItems": n}
    if top_level_array:
        return array
    return {"type": "object", "additionalProperties": False, "required": ["rows"], "properties": {"rows": array}}


def verdict_schema(dimensions: list[str], verdicts: tuple[str, ...]) -> dict[str, Any]:
    """The schema of one pairwise judgment: 1-5 scores per rubric dimension for both answers, a short reason
    and a verdict."""
    scores = {"type": "object", "additionalProperties": False, "required": list(dimensions),
              "properties": {d: {"type": "integer", "enum": [1, 2, 3, 4, 5]} for d in dimensions}}
    return {"type": "object", "additionalProperties": False,
            "required": ["a_scores", "b_scores", "reasoning", "verdict"],
            "properties": {"a_scores": scores, "b_scores": copy.deepcopy(scores),
                           "reasoning": {"type": "string", "maxLength": 200},
                           "verdict": {"type": "string", "enum": list(verdicts)}}}
