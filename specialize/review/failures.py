"""Failure tagging: each item a ``run_eval`` run got wrong, with its reference and the model's prediction side
by side, tagged by a person with one or more causes from the error-analysis taxonomy
(``references/review/vocabulary.yaml``). The counts per cause, with the ids of the items behind them and their
categories, say where targeted data repair should go.
"""

from __future__ import annotations

import json
import random
from typing import Any

from specialize.review import store
from specialize.runtime.errors import InvalidInput
from specialize.runtime.registry import sha256_file
from specialize.runtime.workspace import rel, resolve_path


def causes() -> list[dict[str, str]]:
    return list(store.vocabulary()["failure_causes"])


def _prompt_text(prompt: Any) -> str:
    if isinstance(prompt, list):
        return "\n\n".join(f"[{m.get('role')}] {m.get('content')}" for m in prompt if isinstance(m, dict))
    return str(prompt)


def build_queue(source: str, *, sample: int | None, seed: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The review settings and the items for a ``run_eval`` results JSON: every example not scored correct."""
    path = resolve_path(source, arg="source", must_exist=True)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{source} is not a JSON file ({exc}).",
                           fix="Pass the results JSON that run_eval wrote (its results_path).") from exc
    if not isinstance(doc, dict) or doc.get("kind") != "eval_results":
        raise InvalidInput(f"{source} is not a run_eval results file.",
                           fix="Pass the results JSON that run_eval wrote (its results_path).")
    failed = [ex for ex in doc.get("examples", []) if not ex.get("correct")]
    if not failed:
        raise InvalidInput(f"{source} has no failed item to tag ({doc.get('n')} scored, all correct).",
                           fix="Tag the failures of a run that got some items wrong.")
    rng = random.Random(seed)

    def stratum(ex: dict[str, Any]) -> str:
        return f"{ex.get('error_type')}|{(ex.get('meta') or {}).get('category')}"

    picked = store.stratified_sample(failed, sample, stratum, rng) if sample else list(failed)
    order = {id(ex): n for n, ex in enumerate(doc["examples"])}
    picked.sort(key=lambda ex: order[id(ex)])
    items = []
    for n, ex in enumerate(picked):
        meta = ex.get("meta") or {}
        items.append({"key": f"{n:04d}", "id": str(ex["id"]), "prompt": _prompt_text(ex.get("prompt")),
                      "reference": ex.get("reference"), "prediction": ex.get("prediction"),
                      "generation_error": ex.get("error"), "error_type": ex.get("error_type"),
                      "category": None if meta.get("category") is None else str(meta["category"]),
                      "input_chars": ex.get("input_chars"), "length_bucket": ex.get("length_bucket")})
    eval_set = doc.get("eval_set") or {}
    meta = {"kind": "failures", "sources": [{"role": "eval_results", "path": rel(path), "sha256": sha256_file(path)},
                                            {"role": "eval_set", "path": eval_set.get("path"),
                                             "sha256": eval_set.get("sha256")}],
            "model": (doc.get("model") or {}).get("ref"), "task_type": doc.get("task_type"),
            "scored": doc.get("n"), "population": len(failed), "sample": len(items), "seed": seed}
    return meta, items


def record_tags(review_id: str, key: str, annotator: str, tags: list[str], note: str | None = None) -> dict[str, Any]:
    annotator = store.check_annotator(annotator)
    review = store.load_review(review_id)
    if review["kind"] != "failures":
        raise InvalidInput(f"Review '{review_id}' is a {review['kind']} review, not a failure-tagging one.",
                           fix="Tag failures on a review opened with kind='failures'.")
    codes = [c["code"] for c in causes()]
    unknown = [t for t in tags if t not in codes]
    if unknown:
        raise InvalidInput(f"{', '.join(map(repr, unknown))} not in the failure taxonomy.",
                           fix=f"Use any of {', '.join(codes)}.")
    tags = [c for c in codes if c in tags]  # taxonomy order, each once
    if not tags:
        raise InvalidInput("Tag at least one cause.", fix="Press the key of each cause that applies, then Enter.")
    note = (note or "").strip()[:2000] or None
    if "other" in tags and not note:
        raise InvalidInput("'other' needs a note saying what went wrong.", fix="Type the cause in the note.")
    item = store.find_item(review_id, key)
    return store.append_answer(review_id, {"key": key, "id": item["id"], "annotator": annotator, "causes": tags,
                                           "note": note, "at": store.now_iso()})


def summary(review_id: str) -> dict[str, Any]:
    """Per cause: items tagged with it by anyone, tags (item x annotator), the item ids and their categories."""
    items = {it["key"]: it for it in store.load_items(review_id)}
    latest = [a for a in store.latest_answers(review_id).values() if a["key"] in items]
    out = []
    for cause in causes():
        answers = [a for a in latest if cause["code"] in a["causes"]]
        keys = sorted({a["key"] for a in answers})
        cats: dict[str, int] = {}
        for k in keys:
            cat = str(items[k]["category"])
            cats[cat] = cats.get(cat, 0) + 1
        if keys:
            out.append({"cause": cause["code"], "label": cause["label"], "items": len(keys), "tags": len(answers),
                        "example_ids": [items[k]["id"] for k in keys], "categories": cats,
                        "repair": cause["repair"],
                        "notes": [a["note"] for a in answers if a.get("note")][:20]})
    out.sort(key=lambda c: (-c["items"], c["cause"]))
    tagged = {a["key"] for a in latest}
    return {"items": len(items), "items_tagged": len(tagged), "tags": len(latest), "causes": out,
            "untagged_ids": [it["id"] for k, it in items.items() if k not in tagged],
            "annotators": sorted({a["annotator"] for a in latest})}
