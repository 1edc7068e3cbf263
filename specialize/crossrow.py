"""Cross-row gates of validate_rows, over whole-file columns: eval leakage, exact duplicates and label conflicts,
near-duplicate clusters.

Each function takes ``fail`` (one entry per input line: None while the row is still in, else
``(gate, reason, details)``) and fills in the rows it rejects; the order of the calls is the gate order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Fail = list[Any]


def still_in(fail: Fail) -> np.ndarray:
    return np.asarray([i for i, f in enumerate(fail) if f is None], dtype=np.int64)


def eval_leaks(fail: Fail, input_hash: np.ndarray, eval_meta: list[tuple[str, int]],
               eval_inputs: dict[int, tuple[str, int]], share: np.ndarray, match: np.ndarray,
               ngram: int, min_share: float) -> None:
    """Exact copies of an eval input, then rows sharing at least ``min_share`` of their word n-grams with one."""
    live = still_in(fail)
    keys = np.fromiter(eval_inputs, dtype=np.uint64, count=len(eval_inputs))
    for i in live[np.isin(input_hash[live], keys)].tolist():
        name, line = eval_inputs[int(input_hash[i])]
        fail[i] = ("eval_leak", "exact_eval_match", {"eval_set": name, "eval_line": line})
    for i in np.nonzero(share >= min_share)[0].tolist():
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


def near_duplicates(fail: Fail, shingles: Any, eval_shingles: Any, eval_meta: list[tuple[str, int]],
                    output_hash: np.ndarray, *, near_dup_threshold: float, leak_threshold: float,
                    label_threshold: float, action: str, num_perm: int) -> list[tuple[int, int]]:
    """MinHash LSH over the rows still in (and the eval rows): near copies of an eval row are leaks; within
    the rows, one row is kept per cluster of near duplicates (the earliest) and the others name it; similar
    inputs with different outputs are label conflicts above ``label_threshold``. Returns flagged conflicts."""
    from specialize.dedupe import TokenTable, similar_pairs

    live = still_in(fail)
    rows = shingles.take(live)
    table = TokenTable.concat([rows, eval_shingles]) if eval_meta else rows
    threshold = min(near_dup_threshold, leak_threshold if eval_meta else 1.0)
    pairs, sims = similar_pairs(table, threshold=threshold, num_perm=num_perm)
    out_hash = output_hash.tolist()
    m = len(live)
    edges: dict[int, list[tuple[int, float, bool]]] = {}
    flagged: list[tuple[int, int]] = []
    for (a, b), sim in zip(pairs.tolist(), sims.tolist()):
        if b >= m:  # a train row against an eval row
            if a < m and sim >= leak_threshold:
                i = int(live[a])
                if fail[i] is None:
                    name, line = eval_meta[b - m]
                    fail[i] = ("eval_leak", "minhash_match", {"eval_set": name, "eval_line": line,
                                                              "similarity": round(sim, 3)})
            continue
        i, j = int(live[a]), int(live[b])
        conflict = out_hash[i] != out_hash[j]
        if conflict:
            if sim < label_threshold:
                continue  # similar inputs with different answers: a deliberate contrast
            if action == "flag":
                flagged.append((i, j))
                continue
        elif sim < near_dup_threshold:
            continue
        edges.setdefault(j, []).append((i, sim, conflict))
    _keep_one_per_cluster(fail, edges)
    return flagged


def _keep_one_per_cluster(fail: Fail, edges: dict[int, list[tuple[int, float, bool]]]) -> None:
    """Union-find over the edges (rows leaked from the eval sets take no part); in each cluster the earliest
    row survives and every later row is rejected, naming its most similar earlier partner."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.get(x, x) != x:
            parent[x] = parent.get(parent[x], parent[x])
            x = parent[x]
        return x

    def leaked(x: int) -> bool:
        return fail[x] is not None and fail[x][0] == "eval_leak"

    for j, lst in edges.items():
        for i, _, _ in lst:
            if leaked(i) or leaked(j):
                continue
            ri, rj = find(i), find(j)
            if ri != rj:
                parent[max(ri, rj)] = min(ri, rj)
    for j in sorted(edges):
        if fail[j] is not None:
            continue
        rep = find(j)
        if rep == j:
            continue
        earlier = [(i, s, c) for i, s, c in edges[j] if i < j and not leaked(i)]
        if not earlier:
            continue
        i, sim, conflict = max(earlier, key=lambda e: e[1])
        if conflict:
            fail[j] = ("label_consistency", "conflicting_label", {"conflicts_with_line": i + 1,
                                                                 "similarity": round(sim, 3),
                                                                 "cluster_kept_line": rep + 1})
        else:
            fail[j] = ("near_dup", "near_duplicate", {"duplicate_of_line": i + 1, "similarity": round(sim, 3),
                                                      "cluster_kept_line": rep + 1})
