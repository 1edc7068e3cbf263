"""Row review without a browser: corrections are checked by the row gates and the task's schema before they are
saved, and the reviewed rows become a registered dataset version that names its parent and its reviewers.
Every expected count is worked out by hand from the decisions below."""

from __future__ import annotations

import json

import pytest
from specialize.tools.review import SaveReviewedRowsParams, save_reviewed_rows
from specialize.tools.validate import ValidateRowsParams, validate_rows

from specialize.review import rows, store
from specialize.runtime import registry
from specialize.runtime.errors import InvalidInput
from tests.review.conftest import SCHEMA, TICKETS


def _answer(**changes):
    base = dict(TICKETS[0][2])
    base.update(changes)
    return json.dumps(base)


def test_corrections_are_gate_checked_and_saved_as_a_dataset_version(rows_validated):
    ws, validated = rows_validated
    review = store.create_review("rows", validated.accepted_path, sample=None, seed=0)
    rid = review["review_id"]
    # no schema_path given: the one validate_rows used comes from the registry entry of accepted.jsonl
    assert review["schema_from"] == f"registry:{validated.version}" and review["schema"]["title"]
    items = {it["id"]: it for it in store.load_items(rid)}
    assert sorted(items) == ["r0", "r1", "r2", "r3", "r4"]

    # corrections that break the contract are refused with the gate's reason, and nothing is recorded
    with pytest.raises(InvalidInput, match="contract:enum_violation at 'category'"):
        rows.record_decision(rid, items["r0"]["key"], "ann", "edit", answer=_answer(category="invoice"))
    with pytest.raises(InvalidInput, match="contract:schema_violation"):
        rows.record_decision(rid, items["r0"]["key"], "ann", "edit", answer=_answer(urgent=True))
    with pytest.raises(InvalidInput, match="contract:prose_around_json"):
        rows.record_decision(rid, items["r0"]["key"], "ann", "edit", answer="Sure! " + _answer())
    with pytest.raises(InvalidInput, match="not a reject reason"):
        rows.record_decision(rid, items["r1"]["key"], "ann", "reject", reason="looks odd")
    assert store.read_answers(rid) == []

    fixed = _answer(priority="low", needs_human=True)
    rows.record_decision(rid, items["r0"]["key"], "ann", "edit", answer=fixed, note="an invoice copy is routine")
    rows.record_decision(rid, items["r1"]["key"], "ann", "reject", reason="judge:correctness")
    rows.record_decision(rid, items["r2"]["key"], "ann", "accept")
    rows.record_decision(rid, items["r2"]["key"], "bob", "reject", reason="judge:realism")  # newest counts
    # by hand: r0 corrected, r1 and r2 rejected (r2 by bob, after ann accepted it), r3 and r4 not reviewed
    saved = save_reviewed_rows(SaveReviewedRowsParams(review_id=rid))
    assert (saved.accepted, saved.edited, saved.rejected, saved.unreviewed, saved.rows) == (0, 1, 2, 2, 1)
    assert saved.conflicts == ["r2"] and saved.edited_ids == ["r0"]
    out = [json.loads(line) for line in (ws / saved.path).read_text().splitlines()]
    assert [r["id"] for r in out] == ["r0"]
    assert out[0]["messages"][-1]["content"] == fixed
    human = out[0]["provenance"]["human_review"]
    assert human["review_id"] == rid and human["annotator"] == "ann" and human["decision"] == "edited"
    assert human["original_answer"] == json.dumps(TICKETS[0][2]) and human["note"] == "an invoice copy is routine"
    assert out[0]["provenance"]["teacher"] == "openai/teacher"  # the generation provenance is kept
    rejected = [json.loads(line) for line in (ws / saved.rejected_path).read_text().splitlines()]
    assert [(r["row"]["id"], r["gate"], r["reason"], r["details"]["annotator"]) for r in rejected] == [
        ("r1", "judge", "correctness", "ann"), ("r2", "judge", "realism", "bob")]

    entry = next(e for e in registry.datasets() if e["version"] == saved.version)
    assert entry["kind"] == "reviewed" and entry["parents"] == [validated.version]
    assert entry["sha256"] == registry.sha256_file(ws / saved.path) and entry["rows"] == 1
    assert entry["review"]["edited_ids"] == ["r0"] and entry["review"]["annotators"] == ["ann", "bob"]
    assert entry["review"]["rejected_ids"] == ["r1", "r2"]

    # keep_unreviewed: r3 and r4 come along unchanged; 1 corrected + 2 unreviewed = 3 rows
    whole = save_reviewed_rows(SaveReviewedRowsParams(review_id=rid, keep_unreviewed=True,
                                                      output="data/reviewed/all.jsonl"))
    kept = [json.loads(line) for line in (ws / whole.path).read_text().splitlines()]
    assert [r["id"] for r in kept] == ["r0", "r3", "r4"] and whole.kept_unreviewed == 2
    assert "human_review" not in kept[1].get("provenance", {})
    # an independent check of the corrected data: validate_rows, with the same schema, accepts every row
    again = validate_rows(ValidateRowsParams(input_path=whole.path, schema_path=SCHEMA, out_dir="data/recheck",
                                             record_version=False))
    assert (again.accepted, again.rejected) == (3, 0)


def test_a_review_of_rejected_rows_shows_the_gate_and_never_keeps_unseen_rows(rows_validated):
    ws, validated = rows_validated
    review = store.create_review("rows", validated.rejected_path, sample=None, seed=0, schema_path=SCHEMA)
    (item,) = store.load_items(review["review_id"])
    assert item["id"] == "r5" and item["line"] == 6
    assert (item["gate_verdict"]["gate"], item["gate_verdict"]["reason"]) == ("contract", "enum_violation")
    assert review["schema"]["title"] == "Support ticket triage"
    # the person fixes the category; the corrected row passes the gates the original failed
    fixed = json.dumps({**TICKETS[5][2], "category": "shipping"})
    rows.record_decision(review["review_id"], item["key"], "ann", "edit", answer=fixed)
    with pytest.raises(InvalidInput, match="keep_unreviewed"):
        save_reviewed_rows(SaveReviewedRowsParams(review_id=review["review_id"], keep_unreviewed=True))
    saved = save_reviewed_rows(SaveReviewedRowsParams(review_id=review["review_id"]))
    assert (saved.edited, saved.rows) == (1, 1)
    with pytest.raises(InvalidInput, match="not a row decision"):
        rows.record_decision(store.create_review("rows", validated.accepted_path, sample=None, seed=0)["review_id"],
                             "0000", "ann", "maybe")
