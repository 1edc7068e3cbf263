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


def _grid_plan(**kw):
    from specialize.tools.generate import GenerateBatchParams

    base = dict(model="openai/teacher", task_description="Sort support tickets.", categories=["billing"],
                difficulties=["easy"], api_base="http://127.0.0.1:9", max_retries=0)
    return GenerateBatchParams(**{**base, **kw})


def test_a_huge_generation_plan_is_refused_at_once_naming_the_limit(workspace):
    import time

    from specialize.tools.generate import MAX_PLAN_REQUESTS, generate_batch

    from specialize.runtime.errors import InvalidInput

    started = time.monotonic()
    with pytest.raises(InvalidInput) as err:  # the reported case: 1,000,000 requests of one row
        generate_batch(_grid_plan(rows_per_cell=1_000_000, rows_per_request=1))
    assert time.monotonic() - started < 2
    text = str(err.value)
    assert "1,000,000 requests" in text and f"{MAX_PLAN_REQUESTS:,}" in text, text
    assert "rows_per_request" in text and "rows_per_cell" in text and "Split the plan" in text
    with pytest.raises(InvalidInput) as err:  # a grid of many cells is refused before it is built
        generate_batch(_grid_plan(categories=[f"c{i}" for i in range(5000)], difficulties=["a", "b", "c"],
                                  rows_per_cell=1))
    assert "15,000 cells" in str(err.value)
    assert time.monotonic() - started < 4
    assert not list(workspace.rglob("batch_*"))  # nothing was written for a refused plan


def test_the_largest_plan_allowed_returns_its_job_within_a_second_or_two(workspace):
    import time

    from specialize.tools.generate import MAX_PLAN_REQUESTS, generate_batch

    from specialize.runtime import jobs

    started = time.monotonic()
    handle = generate_batch(_grid_plan(categories=["billing", "shipping"], rows_per_cell=MAX_PLAN_REQUESTS // 2,
                                       rows_per_request=1))
    took = time.monotonic() - started
    try:
        assert handle.job_id and handle.requests == MAX_PLAN_REQUESTS == handle.planned_rows
        assert took < 2.5, f"the call blocked {took:.1f} s"
    finally:
        jobs.cancel(handle.job_id)


def test_run_eval_refuses_a_label_field_the_references_lack(workspace):
    from specialize.tools.evaluate import RunEvalParams, run_eval

    from specialize.runtime.errors import InvalidInput
    from tests.helpers.fake_openai import FakeOpenAIServer
    from tests.tools.test_evaluate import _responder, _write_set

    _write_set(workspace, extra_bad=False)
    with FakeOpenAIServer(_responder) as server:
        common = dict(model="openai/scripted", api_base=server.url, eval_set="eval.jsonl", task_type="extraction")
        with pytest.raises(InvalidInput) as err:  # the reported case: no row has the field
            run_eval(RunEvalParams(label_field="label", **common))
        text = str(err.value)
        assert "'label_field'" in text and "none of the" in text and "'category'" in text and "Fix:" in text
        assert server.counters.requests == 0  # refused before any answer was generated
        # one reference without the field is named too, instead of being scored as a match
        rows = (workspace / "eval.jsonl").read_text().splitlines()
        row = json.loads(rows[2])
        row["messages"][-1]["content"] = json.dumps({"priority": "high", "needs_human": False})
        rows[2] = json.dumps(row)
        (workspace / "eval.jsonl").write_text("\n".join(rows) + "\n")
        with pytest.raises(InvalidInput) as err:
            run_eval(RunEvalParams(label_field="category", **common))
        assert "1 of the 6" in str(err.value) and "t2" in str(err.value)
        ok = run_eval(RunEvalParams(label_field="priority", **common))  # a field every reference holds
        assert ok.metrics.accuracy is not None and ok.metrics.accuracy < 1.0


def test_a_resume_retries_unusable_answers_and_counts_only_what_is_current(workspace):
    """Issue 14, item 13: answers with no usable row are not cached as done, and the counts after a resume hold
    no stale failure records (neither upstream errors nor malformed answers that were then asked again)."""
    from specialize.tools.generate import GenerateBatchParams, generate_batch

    from tests.helpers.fake_openai import FakeOpenAIServer, FaultPlan
    from tests.tools.test_generate import SCHEMA, teacher

    (workspace / "schema.json").write_text(json.dumps(SCHEMA))

    def sloppy(body):  # every shipping request gets prose with no JSON in it
        return "I am not sure what you want." if 'category "shipping"' in body["messages"][-1]["content"] \
            else teacher(body)

    args = dict(model="openai/teacher", task_description="Sort support tickets.", schema_path="schema.json",
                categories=["billing", "shipping"], difficulties=["easy", "hard"], rows_per_cell=6,
                rows_per_request=3, max_retries=0, processes=1)
    with FakeOpenAIServer(sloppy, FaultPlan(p_500=0.3, seed=3)) as bad:
        first = generate_batch(GenerateBatchParams(api_base=bad.url, **args))
    rej_file = workspace / first.rejected_path
    reasons = [json.loads(x)["reason"] for x in rej_file.read_text().splitlines()]
    assert "no_json_rows_in_answer" in reasons and "upstream_error" in reasons, reasons
    assert first.failed_requests >= 4 and first.rejected == len(reasons)  # the four shipping requests at least
    with FakeOpenAIServer(teacher) as good:
        second = generate_batch(GenerateBatchParams(api_base=good.url, resume_batch=first.batch_path, **args))
        # every unfinished request reached the teacher again: the unusable answers were not served from the cache
        assert good.counters.requests == first.failed_requests
    assert second.failed_requests == 0 and second.rows == second.planned_rows == 24
    assert second.rejected == 0 and rej_file.read_text() == ""  # the stale failure records are gone
    rows = [json.loads(x) for x in (workspace / second.batch_path).read_text().splitlines()]
    assert len(rows) == 24 and len({r["id"] for r in rows}) == 24
    with FakeOpenAIServer(teacher) as again:  # a third run finds everything done
        third = generate_batch(GenerateBatchParams(api_base=again.url, resume_batch=first.batch_path, **args))
        assert again.counters.requests == 0
    assert (third.rows, third.rejected, third.skipped_requests) == (24, 0, third.requests)
