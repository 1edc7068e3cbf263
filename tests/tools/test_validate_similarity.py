"""validate_rows's similarity gates on short tickets: near duplicates, edited eval items and relabelled near copies
that word-3-shingles let through are caught after normalisation, each naming its partner and the similarity;
tickets from the same template with other facts are kept. Expected similarities are worked out by hand in the
comments (normalised words; set = every word twice + neighbouring word pairs; Jaccard = shared / union; a pair
whose numbers differ is capped at the Jaccard of its number sets)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from tests.tools.test_validate import chat, reasons, run, write

T = 0.75  # thresholds are passed explicitly: these tests do not depend on the calibrated default
LABEL = {"category": "bug_report", "priority": "high"}
CRASH = "The app crashes every time I open it on Android 14."
# + "single": A = 11 words x 2 + 10 pairs = 32, B = 12 x 2 + 11 = 35; shared 22 + 9 pairs = 31; union 32 + 35 - 31
CRASH_EDIT = "The app crashes every single time I open it on Android 14!"
DOWN = "Since 9am UTC, production is down and the checkout returns errors."
DOWN_EDIT = "Since 9 am UTC - production is down and the checkout returns errors."  # same normalised words: 1.0
CHARTS = "Dashboard charts only show yesterday's data, nothing from Monday or Tuesday."
# moved "only": same 11 words (22 entries), 7 of 10 pairs shared: 29 / (32 + 32 - 29) = 29 / 35
CHARTS_EDIT = "Dashboard charts show yesterday's data only, nothing from Monday or Tuesday."
# other facts (iOS 17 for Android 14): words agree in 9 of 11, but the numbers {14} and {17} not at all -> 0, kept
CRASH_OTHER = "The app crashes every time I open it on iOS 17."


def _details(rej):
    return {r["line"]: r["details"] for r in rej}


def test_issue_tickets_are_near_duplicates_with_their_similarity(workspace):
    rows = [chat(t, LABEL) for t in (CRASH, DOWN, CHARTS, CRASH_EDIT, DOWN_EDIT, CHARTS_EDIT, CRASH_OTHER)]
    _, _, rej = run(workspace, rows, near_dup_threshold=T, leak_threshold=T, label_threshold=T)
    assert reasons(rej) == {4: "near_dup:near_duplicate", 5: "near_dup:near_duplicate", 6: "near_dup:near_duplicate"}
    d = _details(rej)
    assert (d[4]["duplicate_of_line"], d[4]["similarity"]) == (1, round(31 / 36, 3))
    assert (d[5]["duplicate_of_line"], d[5]["similarity"]) == (2, 1.0)
    assert (d[6]["duplicate_of_line"], d[6]["similarity"]) == (3, round(29 / 35, 3))


def test_old_word_3_shingles_missed_them(workspace):
    """The same rows under the former scheme (3-word shingles) pass at the same threshold: the regression the
    new default fixes."""
    rows = [chat(t, LABEL) for t in (CRASH, DOWN, CHARTS, CRASH_EDIT, DOWN_EDIT, CHARTS_EDIT)]
    res, _, rej = run(workspace, rows, near_dup_threshold=T, leak_threshold=T, label_threshold=T, shingles="words_3")
    # DOWN_EDIT normalises to DOWN exactly, so even 3-word shingles of normalised words catch it; the others pass
    assert reasons(rej) == {5: "near_dup:near_duplicate"}


def test_relabelled_near_copy_is_a_label_conflict(workspace):
    rows = [chat(CRASH, LABEL), chat(CRASH_EDIT, {"category": "other", "priority": "low"}),
            chat(CRASH_OTHER, {"category": "other", "priority": "low"})]
    _, _, rej = run(workspace, rows, near_dup_threshold=T, leak_threshold=T, label_threshold=T)
    assert reasons(rej) == {2: "label_consistency:conflicting_label"}
    d = _details(rej)[2]
    assert d["conflicts_with_line"] == 1 and d["similarity"] == round(31 / 36, 3)


def test_edited_eval_item_is_a_leak_naming_the_eval_row(workspace):
    write(workspace / "golden.jsonl", [chat(DOWN, LABEL), chat(CRASH, LABEL)])
    rows = [chat(CRASH_EDIT, LABEL), chat(CRASH_OTHER, LABEL), chat(CHARTS, LABEL)]
    _, _, rej = run(workspace, rows, eval_sets=["golden.jsonl"], near_dup_threshold=T, leak_threshold=T,
                    label_threshold=T)
    assert reasons(rej) == {1: "eval_leak:minhash_match"}
    d = _details(rej)[1]
    assert (d["eval_set"], d["eval_line"], d["similarity"]) == ("golden.jsonl", 2, round(31 / 36, 3))


def test_ngram_leak_names_the_one_eval_row_it_overlaps(workspace):
    """A row whose 8-grams are spread over several eval rows (shared phrases) is not a leak; a row that holds
    most of one eval row's 8-grams is, and that row is named."""
    w = [f"{chr(97 + i // 26)}{chr(97 + i % 26)}q" for i in range(32)]  # letters only: digits would split words
    x = [f"{chr(97 + i // 26)}{chr(97 + i % 26)}z" for i in range(20)]
    write(workspace / "ev.jsonl", [chat(" ".join(w[:20]), "e"), chat(" ".join(w[12:32]), "e"), chat(" ".join(x), "e")])
    # row 1 = w[0:32]: 25 8-grams, all in eval row 1 or 2 together, but 13 in each alone: 13/25 = 0.52
    # row 2 = x + 2 words: 15 8-grams, 13 of them in eval row 3: 13/15 = 0.867
    rows = [chat(" ".join(w), "y"), chat(" ".join(x + ["gamma", "delta"]), "y")]
    _, _, rej = run(workspace, rows, eval_sets=["ev.jsonl"], leak_ngram_share=0.8, near_dup_threshold=0.95,
                    leak_threshold=0.95, label_threshold=0.95)
    assert reasons(rej) == {2: "eval_leak:ngram_overlap"}
    d = _details(rej)[2]
    assert d["eval_line"] == 3 and d["share"] == round(13 / 15, 3)


BELL = "the courier left the parcel at the wrong door in the rain and nobody answered the bell for order {}"


def test_rows_stating_other_numbers_are_not_copies_or_leaks(workspace):
    """A sentence of an eval item is a leak (all of its 8-grams are in that item); the same sentence about
    another order is not, although 12 of its 13 8-grams are (only the last holds the number). Likewise two
    rows that differ only in the order number are not near duplicates."""
    write(workspace / "ev.jsonl", [chat(BELL.format("48213") + ". Thanks.", LABEL)])
    rows = [chat(BELL.format("48213"), LABEL), chat(BELL.format("77120"), LABEL), chat(BELL.format("51006"), LABEL)]
    _, _, rej = run(workspace, rows, eval_sets=["ev.jsonl"], near_dup_threshold=T, leak_threshold=T,
                    label_threshold=T)
    assert reasons(rej) == {1: "eval_leak:ngram_overlap"}
    assert _details(rej)[1]["share"] == 1.0


def test_label_threshold_below_the_near_dup_threshold_is_applied(workspace):
    """Two inputs at similarity 31/36 = 0.861 (CRASH, CRASH_EDIT) with different outputs: a conflict at
    label_threshold 0.8 even though near_dup_threshold (0.95) is above their similarity."""
    rows = [chat(CRASH, LABEL), chat(CRASH_EDIT, {"category": "other", "priority": "low"})]
    _, _, rej = run(workspace, rows, near_dup_threshold=0.95, leak_threshold=0.95, label_threshold=0.8)
    assert reasons(rej) == {2: "label_consistency:conflicting_label"}
    assert _details(rej)[2]["similarity"] == round(31 / 36, 3)


FIXTURE = Path(__file__).resolve().parents[1] / "data" / "fixtures" / "neardup"
GATES = {"near_dup": ("near_dup", "exact_dup"), "label_conflict": ("label_consistency",), "eval_leak": ("eval_leak",)}
KEY = {"near_dup": "duplicate_of_line", "exact_dup": "duplicate_of_line", "label_consistency": "conflicts_with_line",
       "eval_leak": "eval_line"}


def test_labelled_fixture_recall_and_precision(workspace):
    """The small labelled corpus (bench/neardup_corpus.py, seed 11, English, German and Chinese, one copy per
    language x length x family):
    planted pairs are caught naming their partner, with few wrong rejections; printed per gate."""
    rows = FIXTURE.joinpath("rows.jsonl").read_text(encoding="utf-8").splitlines()
    (workspace / "eval.jsonl").write_text(FIXTURE.joinpath("eval.jsonl").read_text(encoding="utf-8"),
                                          encoding="utf-8")
    _, _, rej = run(workspace, rows, eval_sets=["eval.jsonl"])  # default thresholds: the calibrated ones
    meta = [json.loads(r)["meta"] for r in rows]
    eval_meta = [json.loads(r)["meta"] for r in FIXTURE.joinpath("eval.jsonl").read_text().splitlines()]
    by_line = {r["line"]: r for r in rej}
    planted = {i + 1: m["kind"] for i, m in enumerate(meta) if m["kind"] in GATES}
    for i, m in enumerate(meta):  # the original of a training pair takes part in it too
        if m["kind"] == "original":
            kinds = {meta[j]["kind"] for j in range(len(meta)) if meta[j]["group"] == m["group"] and j != i}
            planted.update({i + 1: k for k in kinds if k in GATES})

    def right(r, kind) -> bool:
        if r is None or r["gate"] not in GATES[kind]:
            return False
        other = r["details"].get(KEY[r["gate"]])
        pool = eval_meta if r["gate"] == "eval_leak" else meta
        return other is not None and pool[other - 1]["group"] == meta[r["line"] - 1]["group"]

    hits, totals, correct, flagged = defaultdict(int), defaultdict(int), defaultdict(int), defaultdict(int)
    groups = defaultdict(list)
    for line, kind in planted.items():
        groups[(kind, meta[line - 1]["group"])].append(line)
    for (kind, _), lines in groups.items():
        totals[kind] += 1
        hits[kind] += any(right(by_line.get(x), kind) for x in lines)
    for r in rej:
        kind = next((k for k, g in GATES.items() if r["gate"] in g), None)
        if kind:
            flagged[kind] += 1
            correct[kind] += planted.get(r["line"]) == kind and right(r, kind)
    for kind in GATES:
        print(f"{kind}: recall {hits[kind]}/{totals[kind]}, precision {correct[kind]}/{flagged[kind]}")
    recall = sum(hits.values()) / sum(totals.values())
    precision = sum(correct.values()) / sum(flagged.values())
    assert sum(totals.values()) == 270  # 3 languages x 3 lengths x 10 families x (copy, conflict, leak)
    assert recall >= 0.9 and precision >= 0.98, (recall, precision)


@pytest.mark.parametrize("bad", [{"shingles": "chars_5"}, {"near_dup_threshold": 0.1}])
def test_similarity_params_are_checked(workspace, bad):
    from pydantic import ValidationError

    from specialize.tools.validate import ValidateRowsParams

    (workspace / "in.jsonl").write_text("")
    with pytest.raises(ValidationError):
        ValidateRowsParams(input_path="in.jsonl", **bad)
