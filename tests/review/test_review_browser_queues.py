"""The row-review and failure-tagging pages in a real browser (Playwright driving Debian's chromium), keyboard
only: a correction that breaks the schema is refused in the page and nothing is saved, a good one is saved and
ends up in the dataset version save_reviewed_rows registers; failures tagged with the cause keys show up in
review_results with their ids."""

from __future__ import annotations

import json
import re

import pytest
from specialize.tools.review import (OpenReviewParams, ReviewResultsParams, SaveReviewedRowsParams, open_review,
                                     review_results, save_reviewed_rows)

from specialize.review import store
from specialize.runtime import jobs, registry
from tests.review.conftest import TICKETS

pytestmark = pytest.mark.browser


def _start(page, url: str, name: str) -> None:
    page.goto(url)
    page.fill("#annotator", name)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert re.search(r"/item/0000$", page.url), page.content()


def _retype_answer(page, text: str) -> None:
    page.keyboard.press("e")  # focuses the answer box
    assert page.evaluate("document.activeElement.id") == "answer"
    page.keyboard.press("Control+a")
    page.keyboard.type(text)
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")


def test_row_page_refuses_a_schema_invalid_correction_and_saves_a_good_one(rows_validated, browser):
    ws, validated = rows_validated
    opened = open_review(OpenReviewParams(kind="rows", source=validated.accepted_path, sample=None))
    rid = opened.review_id
    context = browser.new_context()
    page = context.new_page()
    try:
        _start(page, opened.url, "ann")
        assert page.inner_text("#row-id") == "r0"
        bad = json.dumps({**TICKETS[0][2], "priority": "whenever"})  # not one of the schema's priorities
        _retype_answer(page, bad)
        assert "contract:enum_violation" in page.inner_text("#edit-error")
        assert "priority" in page.inner_text("#edit-error")
        assert page.input_value("#answer") == bad  # what the person typed is still there to fix
        assert page.locator("#your-decision").count() == 0 and store.read_answers(rid) == []
        good = json.dumps({**TICKETS[0][2], "priority": "low"})
        _retype_answer(page, good)
        assert page.get_attribute("#your-decision", "data-decision") == "edit"
        with page.expect_navigation():
            page.keyboard.press("n")
        assert page.inner_text("#row-id") == "r1"
        with page.expect_navigation():
            page.keyboard.press("1")  # reject: the answer is wrong
        assert page.get_attribute("#your-decision", "data-decision") == "reject"
        with page.expect_navigation():
            page.keyboard.press("n")
        with page.expect_navigation():
            page.keyboard.press("a")
        assert page.get_attribute("#your-decision", "data-decision") == "accept"
        page.goto(opened.url.split("?")[0] + "results")
        assert [page.inner_text(f"#{k}") for k in ("items", "accepted", "edited", "rejected", "unreviewed")] == [
            "5", "1", "1", "1", "2"]
    finally:
        context.close()
        jobs.cancel(opened.job_id)

    saved = save_reviewed_rows(SaveReviewedRowsParams(review_id=rid))
    assert (saved.accepted, saved.edited, saved.rejected, saved.rows) == (1, 1, 1, 2)
    rows = {r["id"]: r for r in map(json.loads, (ws / saved.path).read_text().splitlines())}
    assert sorted(rows) == ["r0", "r2"]
    assert rows["r0"]["messages"][-1]["content"] == good
    assert rows["r0"]["provenance"]["human_review"]["annotator"] == "ann"
    assert rows["r0"]["provenance"]["human_review"]["original_answer"] == json.dumps(TICKETS[0][2])
    entry = next(e for e in registry.datasets() if e["version"] == saved.version)
    assert entry["parents"] == [validated.version] and entry["review"]["edited_ids"] == ["r0"]
    assert entry["review"]["review_id"] == rid


def test_failures_tagged_with_the_keyboard_are_counted(evaluated, browser):
    ws, results = evaluated
    opened = open_review(OpenReviewParams(kind="failures", source=results, sample=None))
    context = browser.new_context()
    page = context.new_page()
    plan = {"t2": ["l"], "t3": ["l", "c"], "t4": ["s", "r"]}  # keys: wrong label, missing category, ...
    try:
        _start(page, opened.url, "ann")
        for want in ("t2", "t3", "t4"):
            assert page.inner_text("#item-id") == want
            for key in plan[want]:
                page.keyboard.press(key)
            with page.expect_navigation():
                page.keyboard.press("Enter")
            assert page.locator("#your-tags").is_visible()
            with page.expect_navigation():
                page.keyboard.press("n")
        assert page.inner_text("#item-id") == "t5"  # left untagged
        page.goto(opened.url.split("?")[0] + "results")
        assert page.inner_text('#cause-counts tr[data-cause="wrong_label"] td.n') == "2"
    finally:
        context.close()
        jobs.cancel(opened.job_id)
    f = review_results(ReviewResultsParams(review_id=opened.review_id)).failures
    by = {c.cause: c.example_ids for c in f.causes}
    assert by == {"wrong_label": ["t2", "t3"], "missing_category": ["t3"], "wrong_schema": ["t4"],
                  "refused_should_answer": ["t4"]}
    assert (f.items_tagged, f.untagged_ids) == (3, ["t5"])
