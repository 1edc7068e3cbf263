"""A review on disk: building the judge-validation queue, recording answers, reading them back.

Layout of ``reviews/<review_id>/``: ``review.json`` (kind, sources with their sha256, rubric version, sample
settings), ``items.jsonl`` (the queue, fixed when the review is made: blinding order and the judge's hidden
verdicts included), ``answers.jsonl`` (append-only; the latest answer of an annotator on an item counts).
The row-review and failure-tagging queues are built in ``rows.py`` and ``failures.py`` and kept the same way.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import random
import re
import secrets
from pathlib import Path
from typing import Any

from specialize.runtime.errors import InvalidInput, NotFound
from specialize.runtime.registry import sha256_file
from specialize.runtime.workspace import rel, resolve_path, workspace_root

REVIEWS = "reviews"
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
# what a person can answer in the judge queue, in the blinded terms of the page
SHOWN_VERDICTS = ("left", "right", "tie", "both_bad")
# the judge's outcome for the first model of its pair, as a verdict in run_pairwise_judge's human-label terms
OUTCOME_TO_VERDICT = {"win": "A_better", "loss": "B_better", "tie": "tie", "both_bad": "both_bad"}


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def reviews_root() -> Path:
    path = workspace_root() / REVIEWS
    path.mkdir(parents=True, exist_ok=True)
    return path


def review_dir(review_id: str) -> Path:
    if not ID_RE.match(review_id or ""):
        raise InvalidInput(f"'{review_id}' is not a review id.",
                           fix="Use letters, digits, '-', '_' or '.', as returned by open_review.")
    path = resolve_path(f"{REVIEWS}/{review_id}", arg="review_id", for_write=True)
    return path


def load_review(review_id: str) -> dict[str, Any]:
    path = review_dir(review_id) / "review.json"
    if not path.exists():
        raise NotFound(f"No review '{review_id}' in {reviews_root()}.",
                       fix="Open one with open_review (or `specialize review`); ids are the folder names under reviews/.")
    return json.loads(path.read_text())


def load_items(review_id: str) -> list[dict[str, Any]]:
    path = review_dir(review_id) / "items.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ---------------------------------------------------------------------------------------------------
# building the judge-validation queue


def stratified_sample(records: list[dict[str, Any]], k: int, stratum: Any, rng: random.Random) -> list[dict[str, Any]]:
    """``k`` records drawn without replacement, each stratum in proportion to its size (largest remainders),
    with every stratum represented once ``k`` reaches the number of strata."""
    groups: dict[Any, list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault(stratum(r), []).append(r)
    n = len(records)
    k = min(k, n)
    keys = sorted(groups, key=str)
    exact = {g: k * len(groups[g]) / n for g in keys}
    alloc = {g: int(exact[g]) for g in keys}
    for g in sorted(keys, key=lambda g: (-(exact[g] - alloc[g]), str(g)))[: k - sum(alloc.values())]:
        alloc[g] += 1
    if k >= len(keys):
        for g in keys:
            if alloc[g] == 0:
                donor = max(keys, key=lambda h: (alloc[h], str(h)))
                alloc[donor] -= 1
                alloc[g] += 1
    picked = [r for g in keys for r in rng.sample(groups[g], alloc[g])]
    rng.shuffle(picked)
    return picked


def _stratum(rec: dict[str, Any]) -> str:
    return f"{rec['outcome']}|{'consistent' if rec.get('consistent') else 'flipped'}"


def build_judge_queue(judgments_path: str, *, sample: int | None, seed: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The review settings and the blinded items for a ``run_pairwise_judge`` output (``judgments.json``)."""
    from specialize.evaluation import judging

    path = resolve_path(judgments_path, arg="source", must_exist=True)
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{judgments_path} is not a JSON file ({exc}).",
                           fix="Pass the judgments.json that run_pairwise_judge wrote.") from exc
    if doc.get("kind") != "pairwise_judgments":
        raise InvalidInput(f"{judgments_path} is not a run_pairwise_judge output (kind={doc.get('kind')!r}).",
                           fix="Pass the judgments.json that run_pairwise_judge wrote.")
    prov = doc.get("provenance", {})
    files = prov.get("params", {}).get("responses") or []
    names = doc["models"]
    if len(files) != len(names):
        raise InvalidInput("The judgments file does not name one responses file per model.",
                           fix="Rerun run_pairwise_judge; its provenance lists the response files.")
    answers = {}
    sources = [{"role": "judgments", "path": rel(path), "sha256": sha256_file(path)}]
    for name, f in zip(names, files):
        answers[name] = judging.load_responses(f)[1]
        fp = resolve_path(f, arg="responses", must_exist=True)
        sources.append({"role": f"responses:{name}", "path": rel(fp), "sha256": sha256_file(fp)})
    usable = [r for r in doc.get("records", []) if r.get("outcome") in OUTCOME_TO_VERDICT]
    if not usable:
        raise InvalidInput("The judgments file holds no judged item to review (all are judge failures).",
                           fix="Fix the judge run first: see its report's judge failures.")
    rng = random.Random(seed)
    picked = stratified_sample(usable, sample or len(usable), _stratum, rng)
    items = []
    for n, rec in enumerate(picked):
        a, b = rec["pair"]
        item = str(rec["item"])
        if item not in answers[a] or item not in answers[b]:
            continue
        by_order = {("a_first" if c.get("first_is_a") else "b_first"): OUTCOME_TO_VERDICT.get(c.get("outcome"))
                    for c in rec.get("calls", [])}
        items.append({
            "key": f"{n:04d}", "id": item, "model_a": a, "model_b": b,
            "prompt": answers[a][item]["prompt"],
            "response_a": "" if answers[a][item]["response"] is None else str(answers[a][item]["response"]),
            "response_b": "" if answers[b][item]["response"] is None else str(answers[b][item]["response"]),
            "shown_order": ["A", "B"] if rng.random() < 0.5 else ["B", "A"],
            "judge_verdict": OUTCOME_TO_VERDICT[rec["outcome"]],
            "judge_verdicts_by_order": by_order,
            "judge_consistent": rec.get("consistent"),
            "stratum": _stratum(rec),
        })
    strata: dict[str, int] = {}
    for r in usable:
        strata[_stratum(r)] = strata.get(_stratum(r), 0) + 1
    meta = {"kind": "judge", "sources": sources, "rubric": prov.get("rubric"), "rubric_sha256": prov.get("rubric_sha256"),
            "judge_model": prov.get("judge_model"), "population": len(usable), "population_strata": strata,
            "sample": len(items), "seed": seed}
    return meta, items


KINDS = ("judge", "rows", "failures")


def vocabulary() -> dict[str, Any]:
    """The reject reasons of the row queue and the failure causes (``references/review/vocabulary.yaml``)."""
    import yaml

    return yaml.safe_load(resolve_path("builtin:review/vocabulary.yaml", arg="vocabulary", must_exist=True)
                          .read_text(encoding="utf-8"))


def create_review(kind: str, source: str, *, sample: int | None, seed: int, threshold: float = 0.8,
                  min_labels: int = 20, review_id: str | None = None,
                  schema_path: str | None = None) -> dict[str, Any]:
    """Make a new review folder (or fail if the id is taken) and return its ``review.json``."""
    if kind == "judge":
        meta, items = build_judge_queue(source, sample=sample, seed=seed)
    elif kind == "rows":
        from specialize.review import rows

        meta, items = rows.build_queue(source, sample=sample, seed=seed, schema_path=schema_path)
    elif kind == "failures":
        from specialize.review import failures

        meta, items = failures.build_queue(source, sample=sample, seed=seed)
    else:
        raise InvalidInput(f"'{kind}' is not a review kind.", fix=f"Use one of {', '.join(KINDS)}.")
    if not items:
        raise InvalidInput(f"{source} gives nothing to review.", fix="Check that it is the right file.")
    review_id = review_id or f"{kind}-{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    folder = review_dir(review_id)
    if (folder / "review.json").exists():
        raise InvalidInput(f"Review '{review_id}' exists already.",
                           fix="Reopen it with open_review(review_id=...) and no source, or pick another id.")
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "items.jsonl", "w") as fh:
        for it in items:
            fh.write(json.dumps(it, ensure_ascii=False) + "\n")
    (folder / "answers.jsonl").touch()
    review = {"review_id": review_id, **meta, "agreement_threshold": threshold, "min_labels": min_labels,
              "created_at": now_iso()}
    (folder / "review.json").write_text(json.dumps(review, indent=1))
    return review


# ---------------------------------------------------------------------------------------------------
# answers


def record_answer(review_id: str, key: str, annotator: str, verdict: str, reason: str | None = None) -> dict[str, Any]:
    """Append one answer; the item's shown order turns the page's left/right into model A/B."""
    annotator = check_annotator(annotator)
    if verdict not in SHOWN_VERDICTS:
        raise InvalidInput(f"'{verdict}' is not a verdict.", fix=f"Use one of {', '.join(SHOWN_VERDICTS)}.")
    item = find_item(review_id, key)
    if verdict in ("left", "right"):
        model = item["shown_order"][0 if verdict == "left" else 1]
        human = "A_better" if model == "A" else "B_better"
    else:
        human = verdict
    row = {"key": key, "id": item["id"], "annotator": annotator, "shown_verdict": verdict, "verdict": human,
           "reason": (reason or "").strip()[:2000] or None, "at": now_iso()}
    return append_answer(review_id, row)


def check_annotator(annotator: str | None) -> str:
    annotator = (annotator or "").strip()
    if not annotator or len(annotator) > 80:
        raise InvalidInput("An answer needs an annotator name (1-80 characters).", fix="Enter your name first.")
    return annotator


def find_item(review_id: str, key: str) -> dict[str, Any]:
    item = next((it for it in load_items(review_id) if it["key"] == key), None)
    if item is None:
        raise NotFound(f"Review '{review_id}' has no item '{key}'.", fix="Pick an item from the queue.")
    return item


def append_answer(review_id: str, row: dict[str, Any]) -> dict[str, Any]:
    """Append one answer line (under a lock, so two people answering at once cannot interleave)."""
    with open(review_dir(review_id) / "answers.jsonl", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        fcntl.flock(fh, fcntl.LOCK_UN)
    return row


def read_answers(review_id: str) -> list[dict[str, Any]]:
    """Every answer line, oldest first (a line cut short by a crash mid-write is skipped)."""
    path = review_dir(review_id) / "answers.jsonl"
    out: list[dict[str, Any]] = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    return out


def latest_answers(review_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    """``{(item key, annotator): answer}``, the latest answer of each annotator on each item."""
    return {(row["key"], row["annotator"]): row for row in read_answers(review_id)}
