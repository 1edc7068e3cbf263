"""Exports of a review's answers: JSONL (also the ``human_labels`` file ``run_pairwise_judge`` reads), CSV, a
Hugging Face ``datasets`` folder, and Argilla records.

One row per item and annotator. Judge queue: ``{id, model_a, model_b, verdict}`` first (the judge tool's
human-label format, verdicts A_better / B_better / tie / both_bad with A = the pair's first model), then the
annotator, the order the page showed the two answers in, the reason, the judge's verdicts in both orders, the
rubric version and the hash of the judged data. Row queue: the decision, the reject reason, the corrected
answer. Failure queue: the causes with the reference and the prediction.

The ``datasets`` export is ``Dataset.save_to_disk`` of the same rows (``datasets.load_from_disk`` reads it).
The Argilla export is one record per item with the parts an Argilla 2 record has (``id``, ``external_id``,
``fields``, ``metadata``, and ``suggestions`` / ``responses`` keyed by question name), beside a settings file
naming those fields and questions, so a team that runs Argilla can create the dataset and log the records with
its own client (``rg.Suggestion(question, value, agent=...)``, ``rg.Response(question, value, user_id=...)``).
``user_id`` holds the annotator's name here: Argilla wants its own user ids, so map the names first.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from specialize.review import store

COLUMNS = ("id", "model_a", "model_b", "verdict", "annotator", "shown_left", "reason", "judge_verdict",
           "judge_a_first", "judge_b_first", "judge_consistent", "rubric", "rubric_sha256", "judgments_sha256",
           "answered_at", "review_id", "item_key")


ROW_COLUMNS = ("id", "decision", "reason", "annotator", "note", "answer", "original_answer", "line", "category",
               "answered_at", "review_id", "item_key", "source_sha256")
FAILURE_COLUMNS = ("id", "causes", "annotator", "note", "error_type", "category", "reference", "prediction",
                   "answered_at", "review_id", "item_key", "eval_results_sha256")


def columns(kind: str) -> tuple[str, ...]:
    return {"judge": COLUMNS, "rows": ROW_COLUMNS, "failures": FAILURE_COLUMNS}[kind]


def label_rows(review_id: str) -> list[dict[str, Any]]:
    review = store.load_review(review_id)
    if review["kind"] == "rows":
        return _row_rows(review_id, review)
    if review["kind"] == "failures":
        return _failure_rows(review_id, review)
    items = {it["key"]: it for it in store.load_items(review_id)}
    judged_hash = next((s["sha256"] for s in review.get("sources", []) if s["role"] == "judgments"), None)
    rows = []
    for (key, annotator), a in sorted(store.latest_answers(review_id).items()):
        it = items.get(key)
        if it is None:
            continue
        rows.append({
            "id": it["id"], "model_a": it["model_a"], "model_b": it["model_b"], "verdict": a["verdict"],
            "annotator": annotator, "shown_left": it["model_a"] if it["shown_order"][0] == "A" else it["model_b"],
            "reason": a.get("reason"), "judge_verdict": it["judge_verdict"],
            "judge_a_first": it["judge_verdicts_by_order"].get("a_first"),
            "judge_b_first": it["judge_verdicts_by_order"].get("b_first"),
            "judge_consistent": it.get("judge_consistent"), "rubric": review.get("rubric"),
            "rubric_sha256": review.get("rubric_sha256"), "judgments_sha256": judged_hash,
            "answered_at": a["at"], "review_id": review_id, "item_key": key,
        })
    return rows


def _answered(review_id: str) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(item key, annotator, latest answer, queued item) for every answered item, in key order."""
    items = {it["key"]: it for it in store.load_items(review_id)}
    return [(key, annotator, a, items[key]) for (key, annotator), a in sorted(store.latest_answers(review_id).items())
            if key in items]


def _row_rows(review_id: str, review: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for key, annotator, a, it in _answered(review_id):
        out.append({"id": it["id"], "decision": a["decision"], "reason": a.get("reason"), "annotator": annotator,
                    "note": a.get("note"), "answer": a.get("answer"),
                    "original_answer": it["answer"] if a["decision"] == "edit" else None, "line": it["line"],
                    "category": it.get("category"), "answered_at": a["at"], "review_id": review_id,
                    "item_key": key, "source_sha256": review["sources"][0]["sha256"]})
    return out


def _failure_rows(review_id: str, review: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for key, annotator, a, it in _answered(review_id):
        out.append({"id": it["id"], "causes": list(a["causes"]), "annotator": annotator, "note": a.get("note"),
                    "error_type": it.get("error_type"), "category": it.get("category"),
                    "reference": it.get("reference"), "prediction": it.get("prediction"), "answered_at": a["at"],
                    "review_id": review_id, "item_key": key, "eval_results_sha256": review["sources"][0]["sha256"]})
    return out


def to_jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def to_csv(rows: list[dict[str, Any]], cols: tuple[str, ...] = COLUMNS) -> str:
    """CSV of the rows; a list (the failure causes) is written as its items joined by ';'."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if r.get(k) is None else ";".join(r[k]) if isinstance(r.get(k), list) else r.get(k))
                         for k in cols})
    return buf.getvalue()


def save_hf(rows: list[dict[str, Any]], cols: tuple[str, ...], folder: Any) -> None:
    """The rows as a Hugging Face ``datasets`` folder (``save_to_disk``), with every column typed up front so an
    all-empty column still gets a type."""
    from datasets import Dataset, Features, Sequence, Value

    kinds = {"causes": Sequence(Value("string")), "judge_consistent": Value("bool"), "line": Value("int64")}
    features = Features({c: kinds.get(c, Value("string")) for c in cols})
    table = {c: [r.get(c) if c in kinds or r.get(c) is None else str(r.get(c)) for r in rows] for c in cols}
    Dataset.from_dict(table, features=features).save_to_disk(str(folder))


def argilla_export(review_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(settings, records) in Argilla 2's layout: one record per item, every annotator's answer a response."""
    review = store.load_review(review_id)
    kind = review["kind"]
    answers: dict[str, list[dict[str, Any]]] = {}
    for (key, _), a in sorted(store.latest_answers(review_id).items()):
        answers.setdefault(key, []).append(a)
    records = []
    if kind == "judge":
        settings = {"guidelines": "Which answer is better for the prompt? A is the pair's first model.",
                    "fields": [{"name": n, "type": "text"} for n in ("prompt", "response_a", "response_b")],
                    "questions": [{"name": "verdict", "type": "label_selection",
                                   "labels": ["A_better", "B_better", "tie", "both_bad"]},
                                  {"name": "reason", "type": "text", "required": False}],
                    "metadata": [{"name": n, "type": "terms"} for n in ("model_a", "model_b", "stratum")]}
    elif kind == "rows":
        from specialize.review import rows as rows_mod

        settings = {"guidelines": "Accept the row, reject it with a reason, or correct the assistant answer.",
                    "fields": [{"name": "conversation", "type": "text"}, {"name": "answer", "type": "text"}],
                    "questions": [{"name": "decision", "type": "label_selection", "labels": ["accept", "reject",
                                                                                               "edit"]},
                                  {"name": "reason", "type": "label_selection", "required": False,
                                   "labels": [r["code"] for r in rows_mod.reject_reasons()]},
                                  {"name": "corrected_answer", "type": "text", "required": False}],
                    "metadata": [{"name": "category", "type": "terms"}]}
    else:
        from specialize.review import failures

        settings = {"guidelines": "Tag every cause of this failure.",
                    "fields": [{"name": n, "type": "text"} for n in ("input", "reference", "prediction")],
                    "questions": [{"name": "causes", "type": "multi_label_selection",
                                   "labels": [c["code"] for c in failures.causes()]},
                                  {"name": "note", "type": "text", "required": False}],
                    "metadata": [{"name": n, "type": "terms"} for n in ("category", "error_type")]}
    for it in store.load_items(review_id):
        given = answers.get(it["key"], [])
        if kind == "judge":
            fields = {"prompt": str(it["prompt"]), "response_a": it["response_a"], "response_b": it["response_b"]}
            metadata = {"model_a": it["model_a"], "model_b": it["model_b"], "stratum": it["stratum"]}
            suggestions = {"verdict": {"value": it["judge_verdict"], "agent": review.get("judge_model")}}
            responses = {"verdict": [{"value": a["verdict"], "user_id": a["annotator"]} for a in given],
                         "reason": [{"value": a["reason"], "user_id": a["annotator"]} for a in given if a.get("reason")]}
        elif kind == "rows":
            fields = {"conversation": "\n\n".join(f"[{m.get('role')}] {m.get('content')}"
                                                   for m in it["row"]["messages"][:-1]), "answer": it["answer"]}
            metadata = {"category": it.get("category")}
            suggestions = ({"reason": {"value": f"{it['gate_verdict']['gate']}:{it['gate_verdict']['reason']}",
                                       "agent": "validate_rows"}} if it.get("gate_verdict") else {})
            responses = {"decision": [{"value": a["decision"], "user_id": a["annotator"]} for a in given],
                         "reason": [{"value": a["reason"], "user_id": a["annotator"]} for a in given if a.get("reason")],
                         "corrected_answer": [{"value": a["answer"], "user_id": a["annotator"]} for a in given
                                              if a.get("answer")]}
        else:
            fields = {"input": it["prompt"], "reference": str(it.get("reference")),
                      "prediction": str(it.get("prediction"))}
            metadata = {"category": it.get("category"), "error_type": it.get("error_type")}
            suggestions = {}
            responses = {"causes": [{"value": list(a["causes"]), "user_id": a["annotator"]} for a in given],
                         "note": [{"value": a["note"], "user_id": a["annotator"]} for a in given if a.get("note")]}
        records.append({"id": f"{review_id}-{it['key']}", "external_id": it["id"], "fields": fields,
                        "metadata": {k: v for k, v in metadata.items() if v is not None},
                        "suggestions": suggestions, "responses": {q: r for q, r in responses.items() if r},
                        "status": "completed" if given else "pending"})
    return settings, records
