"""Which response format asks which server for schema-constrained output, and the schemas built for rows and
verdicts, checked with the jsonschema library."""

from __future__ import annotations

import jsonschema
import pytest

from specialize.llm import structured as st

TASK = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "builtin:x/schema.json",
        "type": "object", "additionalProperties": False, "required": ["category"],
        "properties": {"category": {"enum": ["billing", "bug"]}}}


@pytest.mark.parametrize("url,local", [("http://127.0.0.1:8080/v1", True), ("http://127.3.4.5/v1", True),
                                       ("http://localhost:9/v1", True), ("http://[::1]:8000/v1", True),
                                       ("127.0.0.1:8000", True), ("https://api.openai.com/v1", False),
                                       ("http://10.0.0.7:8000/v1", False), (None, False), ("", False)])
def test_loopback_addresses(url, local):
    assert st.is_loopback(url) is local


def test_local_llama_cpp_server_gets_a_schema_inside_json_object():
    fmt, mode = st.response_format_for("hosted_vllm/teacher", TASK, api_base="http://127.0.0.1:8000/v1")
    assert mode == st.GRAMMAR
    # llama_cpp.server only knows {"type": "json_object", "schema": ...}; the $-keys are left out
    assert fmt == {"type": "json_object", "schema": {k: v for k, v in TASK.items() if not k.startswith("$")}}


def test_hosted_models_get_what_litellm_says_they_support():
    fmt, mode = st.response_format_for("openai/gpt-4o-mini", TASK, name="triage answer!")
    assert mode == st.JSON_SCHEMA and fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "triage_answer_" and "$id" not in fmt["json_schema"]["schema"]
    fmt, mode = st.response_format_for("anthropic/claude-3-5-sonnet-20241022", TASK)
    assert (fmt, mode) == ({"type": "json_object"}, st.JSON_OBJECT)
    # a local server that is not llama.cpp (vLLM, say) can be asked in OpenAI's form
    fmt, mode = st.response_format_for("hosted_vllm/x", TASK, api_base="http://127.0.0.1:1/v1", style="json_schema")
    assert mode == st.JSON_SCHEMA


def test_rows_schema_accepts_n_good_rows_only():
    good = {"input": "card declined", "output": {"category": "billing"}, "language": "en"}
    arr = st.rows_schema(TASK, 2, top_level_array=True)
    jsonschema.validate([good, good], arr)
    for bad in ([good], [good, good, good], [good, {**good, "output": {"category": "refund"}}],
                [good, {**good, "extra": 1}], [good, {"input": "", "output": {"category": "bug"}, "language": "en"}]):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, arr)
    wrapped = st.rows_schema(TASK, 1, top_level_array=False)
    jsonschema.validate({"rows": [good]}, wrapped)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate([good], wrapped)
    free = st.rows_schema(None, 1, top_level_array=True)  # no task schema: the output is text
    jsonschema.validate([{**good, "output": "billing"}], free)


def test_verdict_schema():
    schema = st.verdict_schema(["accuracy", "tone"], ("A_better", "B_better", "tie", "both_bad"))
    ok = {"a_scores": {"accuracy": 4, "tone": 5}, "b_scores": {"accuracy": 2, "tone": 3}, "reasoning": "A is right.",
          "verdict": "A_better"}
    jsonschema.validate(ok, schema)
    for bad in ({**ok, "verdict": "A"}, {**ok, "a_scores": {"accuracy": 6, "tone": 5}},
                {**ok, "b_scores": {"accuracy": 2}}, {**ok, "reasoning": "x" * 201}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
    assert st.schema_sha256({"b": 1, "a": 2}) == st.schema_sha256({"a": 2, "b": 1})
