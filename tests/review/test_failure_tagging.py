"""Failure tagging without a browser, on a real run_eval output: the queue holds exactly the items the scripted
model got wrong, tags are checked against the taxonomy, and review_results counts them per cause; then the
exports (Hugging Face datasets, Argilla records, CSV) carry the same answers."""

from __future__ import annotations

import csv
import io
import json

import pytest
from specialize.tools.review import ExportReviewParams, ReviewResultsParams, export_review, review_results

from specialize.review import failures, store
from specialize.runtime.errors import InvalidInput


def test_failures_are_queued_tagged_and_counted(evaluated):
    ws, results = evaluated
    review = store.create_review("failures", results, sample=None, seed=0)
    rid = review["review_id"]
    items = {it["id"]: it for it in store.load_items(rid)}
    # the scripted model (tests/tools/test_evaluate.py) is wrong on t2, t3, t4 and t5 by construction
    assert sorted(items) == ["t2", "t3", "t4", "t5"] and review["scored"] == 6 and review["population"] == 4
    assert items["t4"]["prediction"] == "Sorry, I cannot help with that."
    assert json.loads(items["t3"]["reference"])["category"] == "account"

    with pytest.raises(InvalidInput, match="not in the failure taxonomy"):
        failures.record_tags(rid, items["t2"]["key"], "ann", ["bad_vibes"])
    with pytest.raises(InvalidInput, match="at least one cause"):
        failures.record_tags(rid, items["t2"]["key"], "ann", [])
    with pytest.raises(InvalidInput, match="needs a note"):
        failures.record_tags(rid, items["t2"]["key"], "ann", ["other"])
    failures.record_tags(rid, items["t2"]["key"], "ann", ["wrong_label"])
    failures.record_tags(rid, items["t3"]["key"], "ann", ["wrong_label"])
    failures.record_tags(rid, items["t3"]["key"], "bob", ["missing_category", "wrong_label"])
    failures.record_tags(rid, items["t4"]["key"], "ann", ["wrong_schema", "refused_should_answer"])
    failures.record_tags(rid, items["t5"]["key"], "ann", ["too_verbose"])
    failures.record_tags(rid, items["t5"]["key"], "ann", ["hallucinated_field"], note="adds a key 'x'")  # changed

    res = review_results(ReviewResultsParams(review_id=rid))
    assert res.kind == "failures" and res.judge is None and res.rows is None
    f = res.failures
    assert (f.items, f.items_tagged, f.tags, f.untagged_ids) == (4, 4, 5, [])
    by = {c.cause: c for c in f.causes}
    # by hand: wrong_label on t2 (ann) and t3 (ann, bob): 2 items, 3 tags; the rest one item each; too_verbose
    # was replaced by ann's later answer on t5
    assert (by["wrong_label"].items, by["wrong_label"].tags, by["wrong_label"].example_ids) == (2, 3, ["t2", "t3"])
    assert by["wrong_label"].categories == {"bug": 1, "account": 1}  # t2 is a bug ticket, t3 an account one
    assert {c: by[c].example_ids for c in ("missing_category", "wrong_schema", "refused_should_answer",
                                            "hallucinated_field")} == {
        "missing_category": ["t3"], "wrong_schema": ["t4"], "refused_should_answer": ["t4"],
        "hallucinated_field": ["t5"]}
    assert "too_verbose" not in by and f.causes[0].cause == "wrong_label"
    assert by["hallucinated_field"].notes == ["adds a key 'x'"] and by["wrong_label"].repair

    # exports: a datasets folder, Argilla records, CSV, all with the five latest answers
    from datasets import load_from_disk

    hf = export_review(ExportReviewParams(review_id=rid, format="hf"))
    ds = load_from_disk(str(ws / hf.path))
    assert hf.rows == 5 and len(ds) == 5 and hf.validation_path is None
    got = {(r["id"], r["annotator"]): r["causes"] for r in ds}
    assert got[("t3", "bob")] == ["missing_category", "wrong_label"] and got[("t5", "ann")] == ["hallucinated_field"]
    arg = export_review(ExportReviewParams(review_id=rid, format="argilla"))
    records = [json.loads(line) for line in (ws / arg.path / "records.jsonl").read_text().splitlines()]
    settings = json.loads((ws / arg.path / "settings.json").read_text())
    assert len(records) == 4 and settings["questions"][0]["type"] == "multi_label_selection"
    t3 = next(r for r in records if r["external_id"] == "t3")
    assert sorted((r["user_id"], tuple(r["value"])) for r in t3["responses"]["causes"]) == [
        ("ann", ("wrong_label",)), ("bob", ("missing_category", "wrong_label"))]
    assert set(t3["fields"]) == {q["name"] for q in settings["fields"]}
    out = export_review(ExportReviewParams(review_id=rid, format="csv"))
    table = list(csv.DictReader(io.StringIO((ws / out.path).read_text())))
    assert {(r["id"], r["annotator"]): r["causes"] for r in table}[("t4", "ann")] == "wrong_schema;refused_should_answer"


def test_a_results_file_with_no_failure_is_refused(evaluated):
    ws, results = evaluated
    doc = json.loads((ws / results).read_text())
    doc["examples"] = [e for e in doc["examples"] if e["correct"]]
    (ws / "evals" / "clean.json").write_text(json.dumps(doc))
    with pytest.raises(InvalidInput, match="no failed item"):
        store.create_review("failures", "evals/clean.json", sample=None, seed=0)
    with pytest.raises(InvalidInput, match="run_eval"):
        store.create_review("failures", "eval.jsonl", sample=None, seed=0)
