"""Which schema fields the classical baseline classifies, and what it reads as the input text."""

from __future__ import annotations

import pytest

from specialize.evaluation.classical import categorical_fields, user_text
from specialize.runtime.errors import InvalidInput


def test_enums_booleans_and_nullable_strings_are_classes_free_text_is_left_out_with_a_reason():
    schema = {"properties": {"category": {"type": "string", "enum": ["a", "b"]},
                             "score": {"type": "integer", "enum": [1, 2, 3]},
                             "urgent": {"type": "boolean"},
                             "product": {"type": ["string", "null"]},
                             "summary": {"type": "string"},
                             "count": {"type": "integer"}}}
    fields, left_out = categorical_fields(schema)
    assert fields == ["category", "score", "urgent", "product"]
    assert set(left_out) == {"summary", "count"} and "free-form" in left_out["summary"]


def test_a_schema_without_a_categorical_field_is_refused():
    with pytest.raises(InvalidInput, match="no categorical field"):
        categorical_fields({"properties": {"summary": {"type": "string"}}})
    with pytest.raises(InvalidInput, match="no 'properties'"):
        categorical_fields({"type": "object"})


def test_input_is_every_user_turn_without_the_system_prompt():
    msgs = [{"role": "system", "content": "You triage."}, {"role": "user", "content": "first"},
            {"role": "assistant", "content": "{}"}, {"role": "user", "content": "second"}]
    assert user_text(msgs) == "first\n\nsecond"
