"""Issue 14's quiet wrong answers, reproduced and now handled: Infinity in numeric arguments, a UTF-8 byte order
mark before the first row, a lone surrogate that passed validation and then crashed the split."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from specialize.tools.economics import BreakEvenParams
from specialize.tools.split import SplitDatasetParams, split_dataset
from specialize.tools.validate import ValidateRowsParams, validate_rows

from specialize.runtime.catalog import get, load_all


def _rows(n):
    return [json.dumps({"id": f"r{i}", "messages": [
        {"role": "user", "content": f"ticket number {i} asks for a refund of order {i * 7919} placed last week"},
        {"role": "assistant", "content": "refund"}]}) for i in range(n)]


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), "Infinity", "NaN"])
def test_non_finite_numbers_are_refused_naming_the_field(value):
    with pytest.raises(ValidationError) as err:
        BreakEvenParams(monthly_api_spend_usd=value)
    assert "monthly_api_spend_usd" in str(err.value) and "finite" in str(err.value)


def test_every_tool_refuses_infinity_in_its_number_fields():
    checked = 0
    for spec in load_all().values():
        for name, field in spec.params.model_fields.items():
            kind = str(field.annotation)
            if "float" not in kind:
                continue
            value = [float("inf")] if kind.startswith("list") else {"k": float("inf")} if kind.startswith("dict") \
                else float("inf")
            with pytest.raises(ValidationError) as err:
                spec.params.model_validate({name: value})
            assert any(e["loc"][:1] == (name,) and e["type"] == "finite_number" for e in err.value.errors()), \
                (spec.name, name)
            checked += 1
    assert checked > 20


def test_assess_task_with_infinity_is_an_error_not_a_strong_verdict():
    assess = get("assess_task")
    field = next(n for n, f in assess.params.model_fields.items() if "float" in str(f.annotation))
    with pytest.raises(ValidationError):
        assess.run({field: float("inf")})


def test_a_byte_order_mark_before_the_first_row_is_not_a_broken_row(workspace):
    rows = _rows(6)
    (workspace / "in.jsonl").write_bytes(b"\xef\xbb\xbf" + ("\n".join(rows) + "\n").encode())
    res = validate_rows(ValidateRowsParams(input_path="in.jsonl", out_dir="v", record_version=False))
    assert (res.accepted, res.rejected) == (6, 0)
    assert (workspace / "v" / "accepted.jsonl").read_text().splitlines() == rows
    split = split_dataset(SplitDatasetParams(input_path="in.jsonl", out_dir="s"))
    assert sum(split.counts.values()) == 6 and not split.excluded_path


def test_a_lone_surrogate_row_survives_validation_and_split(workspace):
    rows = _rows(20)
    rows[3] = ('{"id": "r3", "messages": [{"role": "user", "content": "lone \\ud800 surrogate in a ticket about a '
               'refund"}, {"role": "assistant", "content": "refund"}]}')
    (workspace / "in.jsonl").write_text("\n".join(rows) + "\n")
    res = validate_rows(ValidateRowsParams(input_path="in.jsonl", out_dir="v", record_version=False))
    split = split_dataset(SplitDatasetParams(input_path="v/accepted.jsonl", out_dir="s"))
    assert sum(split.counts.values()) == res.accepted == 20
    written = "".join((workspace / "s" / f"{n}.jsonl").read_text() for n in ("train", "dev", "test"))
    assert "\\ud800" in written  # the row is kept byte for byte
