"""Cross-row gates of validate_rows, over whole-file columns: eval leakage, exact duplicates and label conflicts,
near-duplicate clusters.

Each function takes ``fail`` (one entry per input line: None while the row is still in, else
``(gate, reason, details)``) and fills in the rows it rejects; the order of the calls is the gate order.
"""

from __future__ import annotations

import json
from itertools import repeat
from operator import is_
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from specialize.data.formats import detect_format, input_text
from specialize.data.normalize import normalized_tables
from specialize.data.wordtable import TokenTable, sequence_hashes
from specialize.runtime.workspace import rel

Fail = list[Any]


def still_in(fail: Fail) -> np.ndarray:
    """Indices of the rows not rejected yet."""
    return np.flatnonzero(np.fromiter(map(is_, fail, repeat(None)), dtype=bool, count=len(fail)))


def load_eval_sets(paths: list[Path]) -> tuple[list[tuple[str, int]], TokenTable, TokenTable,
                                                dict[int, tuple[str, int]]]:
    """The eval rows' inputs: ``(name, line)`` per row, their normalised word table and fact table (numbers and
    names: ``specialize.data.normalize``, as the similarity gates compare training rows), and input hash -> first such
    row.
    Lines that do not parse, or hold no recognisable row, are skipped (they cannot leak into training data)."""
    meta: list[tuple[str, int]] = []
    texts: list[str] = []
    for path in paths:
        name = rel(path)
        with open(path, encoding="utf-8", errors="replace") as fh:
            for lineno, line in enumerate(fh, 1):
                try:
                    row = orjson.loads(line)
                except orjson.JSONDecodeError:
                    try:
                        row = json.loads(line)
                    except (ValueError, RecursionError):
                        continue
                if not isinstance(row, dict) or detect_format(row) is None:
                    continue
                try:
                    text = input_text(row)
                except (TypeError, AttributeError, IndexError):  # a malformed message list: no usable input
                    continue
                meta.append((name, lineno))
                texts.append(text)
    exact: dict[int, tuple[str, int]] = {}
    for h, m in zip(sequence_hashes(TokenTable.from_texts(texts)).tolist(), meta):
        exact.setdefault(h, m)
    return (meta, *normalized_tables(texts), exact)


def eval_leaks(fail: Fail, input_hash: np.ndarray, eval_meta: list[tuple[str, int]],
               eval_inputs: dict[int, tuple[str, int]], share: np.ndarray, match: np.ndarray,
               ngram: int, min_share: float, numbers: TokenTable, eval_numbers: TokenTable) -> None:
    """Exact copies of an eval input, then rows sharing at least ``min_share`` of their word n-grams with one eval
    row, unless the row states facts that eval row does not (the share is capped by the share of the row's
    numbers found in it, and by that of its names when the two rows name different people or places:
    ``specialize.data.dedupe.fact_agreement``; ``numbers`` and ``eval_numbers`` are fact tables)."""
    from specialize.data.dedupe import fact_agreement

    live = still_in(fail)
    keys = np.fromiter(eval_inputs, dtype=np.uint64, count=len(eval_inputs))
    for i in live[np.isin(input_hash[live], keys)].tolist():
        name, line = eval_inputs[int(input_hash[i])]
        fail[i] = ("eval_leak", "exact_eval_match", {"eval_set": name, "eval_line": line})
    cand = np.flatnonzero(share >= min_share)
    if len(cand):
        share = share.copy()
        share[cand] = np.minimum(share[cand], fact_agreement(numbers, cand, eval_numbers, match[cand],
                                                               contained=True))
    for i in cand[share[cand] >= min_share].tolist():
        if fail[i] is None:
            name, line = eval_meta[int(match[i])]
            fail[i] = ("eval_leak", "ngram_overlap", {"eval_set": name, "eval_line": line, "ngram": ngram,
                                                       "share": round(float(share[i]), 3)})


def exact_duplicates(fail: Fail, row_hash: np.ndarray, input_hash: np.ndarray, output_hash: np.ndarray,
                     action: str) -> list[tuple[int, int]]:
    """Later copies of a row are exact duplicates of its first copy. Among first copies, a later row with the
    same input as an earlier one but another output is a label conflict: rejected, or with ``action="flag"``
    kept and returned as an (earlier, later) pair."""
    live = still_in(fail)
    if len(live) == 0:
        return []
    _, first, inv = np.unique(row_hash[live], return_index=True, return_inverse=True)
    first_row = live[first[inv.reshape(-1)]]
    for i, j in zip(live[first_row != live].tolist(), first_row[first_row != live].tolist()):
        fail[i] = ("exact_dup", "exact_duplicate", {"duplicate_of_line": j + 1})
    firsts = live[first_row == live]
    _, first, inv = np.unique(input_hash[firsts], return_index=True, return_inverse=True)
    prev = firsts[first[inv.reshape(-1)]]
    clash = (prev != firsts) & (output_hash[prev] != output_hash[firsts])
    flagged: list[tuple[int, int]] = []
    for i, p in zip(firsts[clash].tolist(), prev[clash].tolist()):
        if action == "reject":
            fail[i] = ("label_consistency", "conflicting_label", {"conflicts_with_line": p + 1, "similarity": 1.0})
        else:
            flagged.append((p, i))
    return flagged


def near_duplicates(fail: Fail, shingles: TokenTable, numbers: TokenTable, eval_shingles: TokenTable | None,
                    eval_numbers: TokenTable | None, eval_meta: list[tuple[str, int]], output_hash: np.ndarray, *,
                    near_dup_threshold: float, leak_threshold: float, label_threshold: float, action: str,
                    num_perm: int) -> list[tuple[int, int]]:
    """MinHash LSH over the rows still in (and the eval rows), with the similarity of
    ``specialize.data.dedupe.text_pairs``: near copies of an eval row are leaks; within the rows, one row is
    kept per cluster of near duplicates (the earliest) and the others name it; similar inputs with different
    outputs are label conflicts above ``label_threshold``. Returns flagged conflicts."""
    from specialize.data.dedupe import text_pairs

    live = still_in(fail)
    rows, row_numbers = shingles.take(live), numbers.take(live)
    if eval_meta:
        table = TokenTable.concat([rows, eval_shingles])
        table_numbers = TokenTable.concat([row_numbers, eval_numbers])
    else:
        table, table_numbers = rows, row_numbers
    threshold = min(near_dup_threshold, leak_threshold if eval_meta else 1.0, label_threshold)
    pairs, sims = text_pairs(table, table_numbers, threshold=threshold, num_perm=num_perm)
    m = len(live)
    a, b = pairs[:, 0], pairs[:, 1]
    # a row close to an eval row is a leak (the first such eval row in pair order is named)
    to_eval = (b >= m) & (a < m) & (sims >= leak_threshold)
    _, first = np.unique(a[to_eval], return_index=True)
    for k in np.flatnonzero(to_eval)[first].tolist():
        i = int(live[a[k]])
        if fail[i] is None:
            name, line = eval_meta[int(b[k]) - m]
            fail[i] = ("eval_leak", "minhash_match", {"eval_set": name, "eval_line": line,
                                                      "similarity": round(float(sims[k]), 3)})
    # row pairs: near duplicates, or label conflicts when the outputs differ
    rr = b < m
    i, j, sim = live[a[rr]], live[b[rr]], sims[rr]
    conflict = output_hash[i] != output_hash[j]
    flag = conflict & (sim >= label_threshold) & (action == "flag")
    edge = np.where(conflict, (sim >= label_threshold) & (action != "flag"), sim >= near_dup_threshold)
    flagged = list(zip(i[flag].tolist(), j[flag].tolist()))
    _keep_one_per_cluster(fail, i[edge], j[edge], sim[edge], conflict[edge])
    return flagged


def _keep_one_per_cluster(fail: Fail, i: np.ndarray, j: np.ndarray, sim: np.ndarray, conflict: np.ndarray) -> None:
    """Edges (i < j, in pair order) join rows into clusters (rows leaked from the eval sets take no part); in
    each cluster the earliest row survives and every later row is rejected, naming its most similar earlier
    partner (the first one on a tie) and the row kept."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if len(i) == 0:
        return
    nodes = np.unique(np.r_[i, j])
    leaked = np.asarray([fail[x] is not None and fail[x][0] == "eval_leak" for x in nodes.tolist()], dtype=bool)
    ci, cj = np.searchsorted(nodes, i), np.searchsorted(nodes, j)
    ok = ~leaked[ci] & ~leaked[cj]
    graph = coo_matrix((np.ones(int(ok.sum())), (ci[ok], cj[ok])), shape=(len(nodes), len(nodes)))
    _, label = connected_components(graph, directed=False)
    kept = np.full(label.max() + 1, len(nodes))
    np.minimum.at(kept, label, np.arange(len(nodes)))  # nodes are sorted: the smallest index is the earliest row
    # per later row, its best edge: highest similarity, then the earliest partner (a stable sort keeps pair order)
    order = np.flatnonzero(ok)
    order = order[np.lexsort((-sim[order], cj[order]))]
    best = order[np.r_[True, cj[order][1:] != cj[order][:-1]]]
    for e in best.tolist():
        row, other = int(j[e]), int(i[e])
        if fail[row] is not None:
            continue
        rep = int(nodes[kept[label[cj[e]]]])
        details = {"similarity": round(float(sim[e]), 3), "cluster_kept_line": rep + 1}
        if conflict[e]:
            fail[row] = ("label_consistency", "conflicting_label", {"conflicts_with_line": other + 1, **details})
        else:
            fail[row] = ("near_dup", "near_duplicate", {"duplicate_of_line": other + 1, **details})


def semantic_duplicates(fail: Fail, texts: dict[int, str], eval_texts: list[str], eval_meta: list[tuple[str, int]],
                        output_hash: np.ndarray, *, threshold: float, model: str, action: str) -> tuple[int, float]:
    """Embedding pass over the rows still in (``texts``: line index -> input text): a row whose input is as
    close as ``threshold`` to an eval row is a leak; among the rows, a row close to an earlier row that is still
    in is a semantic duplicate (same output) or a label conflict (another output; kept with action="flag").
    Closeness is the cosine of the two embeddings capped by the agreement of the two texts' facts (numbers and
    names, ``fact_agreement``), as for the word gates: an embedding scores a template filled with other facts
    almost as close as a rewording. Each rejection names its partner, the similarity and the raw cosine.
    Returns (rows embedded, seconds)."""
    import time

    from specialize.data import semantic
    from specialize.data.dedupe import fact_agreement
    from specialize.data.normalize import normalized_tables

    started = time.perf_counter()
    idx = np.asarray(sorted(texts), dtype=np.int64)
    if len(idx) == 0:
        return 0, 0.0
    row_texts = [texts[i] for i in idx.tolist()]
    vectors = semantic.embed(row_texts, model)
    facts = normalized_tables(row_texts)[1]
    if eval_texts:
        # a few nearest eval rows each: the closest by cosine may state other facts and be capped below
        hits, cos = semantic.similar_pairs(semantic.embed(eval_texts, model), threshold, k=5, queries=vectors)
        sims = np.minimum(cos, fact_agreement(facts, hits[:, 0], normalized_tables(eval_texts)[1], hits[:, 1]))
        order = np.lexsort((-sims, hits[:, 0])) if len(hits) else np.zeros(0, dtype=np.int64)
        for e in order.tolist():  # per row, its most similar eval row first
            q, k, s = int(hits[e, 0]), int(hits[e, 1]), float(sims[e])
            row = int(idx[q])
            if fail[row] is None and s >= threshold:
                name, line = eval_meta[k]
                fail[row] = ("eval_leak", "semantic_match", {"eval_set": name, "eval_line": line,
                                                             "similarity": round(s, 3),
                                                             "cosine": round(float(cos[e]), 3), "model": model})
    pairs, cos = semantic.similar_pairs(vectors, threshold)
    sims = np.minimum(cos, fact_agreement(facts, pairs[:, 0], facts, pairs[:, 1])) if len(pairs) else cos
    order = np.lexsort((-sims, pairs[:, 1])) if len(pairs) else np.zeros(0, dtype=np.int64)
    for e in order.tolist():  # later rows in file order, the closest earlier partner first
        a, b = int(idx[pairs[e, 0]]), int(idx[pairs[e, 1]])
        if fail[a] is not None or fail[b] is not None or sims[e] < threshold:
            continue
        details = {"similarity": round(float(sims[e]), 3), "cosine": round(float(cos[e]), 3), "model": model}
        if output_hash[a] == output_hash[b]:
            fail[b] = ("semantic_dup", "semantic_duplicate", {"duplicate_of_line": a + 1, **details})
        elif action == "reject":
            fail[b] = ("label_consistency", "semantic_conflict", {"conflicts_with_line": a + 1, **details})
    return len(idx), time.perf_counter() - started
