"""Row review: a person accepts a teacher-written row, rejects it with a reason from the gate vocabulary, or
corrects its assistant answer; the reviewed rows then become a new dataset version.

The queue comes from a ``generate_batch`` batch file, ``validate_rows``' accepted.jsonl, or its rejected.jsonl
(the gate's verdict is shown beside the row; lines the JSON gate refused have no row to show and are counted
as skipped). An edited answer goes through the per-row gates ``validate_rows`` runs (row shape, the output
contract against the task's schema, leaked instructions, trivial rows, length) before it is recorded; a refused
edit is not saved and the page shows why. ``save_dataset`` writes the accepted and corrected rows, each with its
review provenance, registers them as a dataset version whose parent is the reviewed file, and writes the rows
people rejected beside it in rejected.jsonl's layout (line, gate, reason, details, row).
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
from pathlib import Path
from typing import Any

from specialize.review import store
from specialize.runtime.errors import InvalidInput
from specialize.runtime.jsonl import iter_lines
from specialize.runtime.registry import sha256_file
from specialize.runtime.workspace import rel, resolve_path

DECISIONS = ("accept", "reject", "edit")
# the gate settings of validate_rows that an edited row is checked with, when its registry entry names them
GATE_KEYS = {"expected_format": "expected_format", "output_is_json": "output_is_json",
             "min_input_chars": "min_input_chars", "max_tokens": "max_tokens", "leak_phrases": "extra_leak_phrases"}


def reject_reasons() -> list[dict[str, str]]:
    return list(store.vocabulary()["row_reject_reasons"])


def _chat_answer(row: Any) -> str | None:
    """The final assistant message's text of a chat row, or None when the row has no such answer."""
    msgs = row.get("messages") if isinstance(row, dict) else None
    if not isinstance(msgs, list) or not msgs or not isinstance(msgs[-1], dict):
        return None
    last = msgs[-1]
    if last.get("role") != "assistant" or not isinstance(last.get("content"), str):
        return None
    return last["content"]


def _gate_settings(src: Path, schema_path: str | None) -> tuple[dict[str, Any], dict[str, Any] | None, str]:
    """The per-row gate settings for edits, the schema and where it came from: the schema_path given, else the
    schema validate_rows recorded for this file in the registry, else none."""
    from specialize.runtime import registry

    digest = sha256_file(src)
    entry = next((e for e in reversed(registry.datasets()) if e.get("sha256") == digest), None)
    config = (entry or {}).get("config") or {}
    gate = {dst: config[k] for k, dst in GATE_KEYS.items() if config.get(k) is not None}
    if schema_path:
        path = resolve_path(schema_path, arg="schema_path", must_exist=True)
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise InvalidInput(f"schema_path {schema_path} is not valid JSON ({exc}).",
                               fix="Pass the task's JSON Schema file.") from exc
        return gate, schema, rel(path)
    if isinstance(config.get("schema"), dict):
        return gate, config["schema"], f"registry:{entry['version']}"
    return gate, None, "none"


def build_queue(source: str, *, sample: int | None, seed: int,
                schema_path: str | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The review settings and the items for a file of rows (a batch, accepted.jsonl or rejected.jsonl)."""
    from specialize.runtime import registry

    src = resolve_path(source, arg="source", must_exist=True)
    candidates: list[dict[str, Any]] = []
    skipped: dict[str, int] = {}
    from_rejected = False
    for line in iter_lines(src):
        line_no, obj = line.lineno, line.obj
        if line.error:
            skipped["not JSON"] = skipped.get("not JSON", 0) + 1
            continue
        verdict = None
        if isinstance(obj, dict) and "gate" in obj and "reason" in obj and "line" in obj:  # rejected.jsonl
            from_rejected = True
            verdict = {"gate": obj["gate"], "reason": obj["reason"], "details": obj.get("details") or {}}
            if "row" not in obj:
                skipped["refused by the json gate: no row to show"] = skipped.get(
                    "refused by the json gate: no row to show", 0) + 1
                continue
            line_no, obj = int(obj["line"]), obj["row"]
        answer = _chat_answer(obj)
        if answer is None:
            skipped["not a chat row ending in an assistant answer"] = skipped.get(
                "not a chat row ending in an assistant answer", 0) + 1
            continue
        meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else {}
        candidates.append({"id": str(obj.get("id") or f"line-{line_no}"), "line": line_no, "row": obj,
                           "answer": answer, "gate_verdict": verdict,
                           "category": None if meta.get("category") is None else str(meta["category"])})
    if not candidates:
        raise InvalidInput(f"{source} holds no chat row to review ({skipped or 'it is empty'}).",
                           fix="Pass a generate_batch batch file or validate_rows' accepted.jsonl / rejected.jsonl.")
    rng = random.Random(seed)
    picked = (store.stratified_sample(candidates, sample, lambda c: str(c["category"]), rng) if sample
              else candidates)
    picked.sort(key=lambda c: c["line"])
    items = [{"key": f"{n:04d}", **c} for n, c in enumerate(picked)]
    gate, schema, schema_from = _gate_settings(src, schema_path)
    parent = registry.find_dataset(src)["version"]
    meta = {"kind": "rows", "sources": [{"role": "rows", "path": rel(src), "sha256": sha256_file(src),
                                         "version": parent}],
            "from_rejected": from_rejected, "population": len(candidates), "skipped": skipped,
            "sample": len(items), "seed": seed, "schema": schema, "schema_from": schema_from, "gate": gate}
    return meta, items


# ---------------------------------------------------------------------------------------------------
# answers


def edited_row(item: dict[str, Any], answer: str) -> dict[str, Any]:
    row = copy.deepcopy(item["row"])
    row["messages"][-1]["content"] = answer
    return row


def check_edit(review: dict[str, Any], item: dict[str, Any], answer: str) -> str | None:
    """None when the row with this answer passes the per-row gates, else what is wrong, in words."""
    from specialize.data.gates import GateConfig, RowChecker

    schema = review.get("schema")
    gate = dict(review.get("gate") or {})
    gate.setdefault("output_is_json", schema is not None)
    checker = RowChecker(GateConfig(schema=schema, **gate))
    failure = checker.check_lines([json.dumps(edited_row(item, answer), ensure_ascii=False).encode()]).fail[0]
    if failure is None:
        return None
    name, reason, details = failure
    detail = details.get("error") or details.get("match") or details.get("output_head") or ""
    where = f" at '{details['path']}'" if details.get("path") else ""
    return f"{name}:{reason}{where}" + (f": {detail}" if detail else "")


def record_decision(review_id: str, key: str, annotator: str, decision: str, *, reason: str | None = None,
                    answer: str | None = None, note: str | None = None) -> dict[str, Any]:
    """Record accept / reject (with a vocabulary reason) / edit (with the corrected answer, gate-checked)."""
    annotator = store.check_annotator(annotator)
    review = store.load_review(review_id)
    if review["kind"] != "rows":
        raise InvalidInput(f"Review '{review_id}' is a {review['kind']} review, not a row review.",
                           fix="Record row decisions on a review opened with kind='rows'.")
    if decision not in DECISIONS:
        raise InvalidInput(f"'{decision}' is not a row decision.", fix=f"Use one of {', '.join(DECISIONS)}.")
    item = store.find_item(review_id, key)
    row: dict[str, Any] = {"key": key, "id": item["id"], "annotator": annotator, "decision": decision,
                           "reason": None, "answer": None, "note": (note or "").strip()[:2000] or None,
                           "at": store.now_iso()}
    if decision == "reject":
        codes = [r["code"] for r in reject_reasons()]
        if reason not in codes:
            raise InvalidInput(f"'{reason}' is not a reject reason.", fix=f"Use one of {', '.join(codes)}.")
        row["reason"] = reason
    elif decision == "edit":
        if answer is None or not answer.strip():
            raise InvalidInput("An edit needs the corrected answer.", fix="Type the corrected assistant answer.")
        answer = answer.replace("\r\n", "\n")
        if answer == item["answer"]:
            row["decision"] = "accept"  # saved unchanged: that is an acceptance
        else:
            problem = check_edit(review, item, answer)
            if problem:
                raise InvalidInput(f"The corrected answer was not saved: it fails the row gates ({problem}).",
                                   fix="Change the answer so that it fits the task's output contract"
                                       + (" (the schema shown on the page)" if review.get("schema") else "")
                                       + ", then save again.")
            row["answer"] = answer
    return store.append_answer(review_id, row)


# ---------------------------------------------------------------------------------------------------
# results


def decisions(review_id: str) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The decision that counts per item (the newest answer by anyone) and the ids of items whose reviewers'
    latest answers disagree."""
    final: dict[str, dict[str, Any]] = {}
    for ans in store.read_answers(review_id):
        final[ans["key"]] = ans
    by_item: dict[str, set[tuple[Any, ...]]] = {}
    for (key, _), ans in store.latest_answers(review_id).items():
        by_item.setdefault(key, set()).add((ans["decision"], ans.get("reason"), ans.get("answer")))
    conflicts = sorted(final[k]["id"] for k, seen in by_item.items() if len(seen) > 1)
    return final, conflicts


def summary(review_id: str) -> dict[str, Any]:
    items = store.load_items(review_id)
    final, conflicts = decisions(review_id)
    counts = {"accept": 0, "edit": 0, "reject": 0}
    reasons: dict[str, int] = {}
    for ans in final.values():
        counts[ans["decision"]] += 1
        if ans["decision"] == "reject":
            reasons[ans["reason"]] = reasons.get(ans["reason"], 0) + 1
    return {"items": len(items), "accepted": counts["accept"], "edited": counts["edit"],
            "rejected": counts["reject"], "unreviewed": len(items) - len(final),
            "reject_reasons": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
            "edited_ids": sorted(final[k]["id"] for k, a in final.items() if a["decision"] == "edit"),
            "conflicts": conflicts,
            "annotators": sorted({a["annotator"] for a in store.read_answers(review_id)})}


def save_dataset(review_id: str, *, keep_unreviewed: bool = False, output: str | None = None) -> dict[str, Any]:
    """Write the accepted and corrected rows as a new registered dataset version (see the module docstring)."""
    from specialize.data.formats import dumps_line
    from specialize.runtime import registry
    from specialize.runtime.workspace import make_dirs, open_write

    review = store.load_review(review_id)
    if review["kind"] != "rows":
        raise InvalidInput(f"Review '{review_id}' is a {review['kind']} review; only a row review makes a dataset.",
                           fix="Pass the id of a review opened with kind='rows'.")
    source = review["sources"][0]
    if keep_unreviewed and review.get("from_rejected"):
        raise InvalidInput("keep_unreviewed would put rows a gate rejected back into the data unseen.",
                           fix="Leave keep_unreviewed off for a review of rejected.jsonl.")
    items = store.load_items(review_id)
    final, conflicts = decisions(review_id)
    by_line = {it["line"]: it for it in items}
    folder = store.review_dir(review_id)
    out = resolve_path(output or f"{rel(folder)}/reviewed.jsonl", arg="output", for_write=True)
    rejected_out = out.with_name(out.stem + ".rejected.jsonl")

    def provenance(ans: dict[str, Any], decision: str, original: str | None = None) -> dict[str, Any]:
        prov = {"review_id": review_id, "decision": decision, "annotator": ans["annotator"], "at": ans["at"]}
        if ans.get("note"):
            prov["note"] = ans["note"]
        if original is not None:
            prov["original_answer"] = original
            prov["original_answer_sha256"] = hashlib.sha256(original.encode()).hexdigest()
        return prov

    kept: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    counts = {"accepted": 0, "edited": 0, "rejected": 0, "unreviewed": 0, "kept_unreviewed": 0}

    def take(item: dict[str, Any]) -> None:
        ans = final.get(item["key"])
        if ans is None:
            counts["unreviewed"] += 1
            if keep_unreviewed:
                counts["kept_unreviewed"] += 1
                kept.append(item["row"])
            return
        if ans["decision"] == "reject":
            counts["rejected"] += 1
            gate, _, reason = ans["reason"].partition(":")
            rejected.append({"line": item["line"], "gate": gate, "reason": reason,
                             "details": {"by": "human_review", "review_id": review_id, "annotator": ans["annotator"],
                                         "note": ans.get("note"), "at": ans["at"]}, "row": item["row"]})
            return
        row = edited_row(item, ans["answer"]) if ans["decision"] == "edit" else copy.deepcopy(item["row"])
        prov = row["provenance"] if isinstance(row.get("provenance"), dict) else {}
        row["provenance"] = {**prov, "human_review": provenance(
            ans, "edited" if ans["decision"] == "edit" else "accepted",
            item["answer"] if ans["decision"] == "edit" else None)}
        counts["edited" if ans["decision"] == "edit" else "accepted"] += 1
        kept.append(row)

    if keep_unreviewed:
        src = resolve_path(source["path"], arg="source", must_exist=True)
        if sha256_file(src) != source["sha256"]:
            raise InvalidInput(f"{source['path']} changed since the review was opened, so its unreviewed rows are "
                               "not the ones the sample was drawn from.",
                               fix="Save without keep_unreviewed, or open a new review of the current file.")
        with open(src, encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, 1):
                if line_no in by_line:
                    take(by_line[line_no])
                elif line.strip():
                    counts["unreviewed"] += 1
                    counts["kept_unreviewed"] += 1
                    kept.append(json.loads(line))
    else:
        for item in items:
            take(item)
    make_dirs(out.parent, arg="output")
    for path, rows in ((out, kept), (rejected_out, rejected)):
        with open_write(path, "w", arg="output", encoding="utf-8") as fh:
            fh.writelines(dumps_line(r) + "\n" for r in rows)
    summ = summary(review_id)
    entry = registry.record_dataset(out, kind="reviewed", parents=[source["version"]], config={
        "review_id": review_id, "source": source["path"], "source_sha256": source["sha256"],
        "keep_unreviewed": keep_unreviewed, "schema_from": review.get("schema_from")},
        extra={"review": {"review_id": review_id, "annotators": summ["annotators"],
                          "edited_ids": summ["edited_ids"], "rejected_ids": sorted(r["row"].get("id") or
                                                                                   f"line-{r['line']}"
                                                                                   for r in rejected),
                          "conflicts": conflicts, **counts}})
    return {"path": rel(out), "rejected_path": rel(rejected_out), "version": entry["version"],
            "parent": source["version"], "rows": len(kept), "sha256": entry["sha256"], "conflicts": conflicts,
            "edited_ids": summ["edited_ids"], **counts}
