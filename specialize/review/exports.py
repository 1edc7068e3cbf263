"""Exports of a review's answers: JSONL (also the ``human_labels`` file ``run_pairwise_judge`` reads) and CSV.

One row per item and annotator: ``{id, model_a, model_b, verdict}`` first (the judge tool's human-label
format, verdicts A_better / B_better / tie / both_bad with A = the pair's first model), then the annotator,
the order the page showed the two answers in, the reason, the judge's verdicts in both orders, the rubric
version and the hash of the judged data.
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


def label_rows(review_id: str) -> list[dict[str, Any]]:
    review = store.load_review(review_id)
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


def to_jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in COLUMNS})
    return buf.getvalue()
