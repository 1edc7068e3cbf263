"""Near-duplicate and overlap detection over many short texts, built for a million rows on two cores.

Pipeline (all arrays, no per-pair Python in the hot path):

1. ``TokenTable`` (``specialize.data.wordtable``): each text is lower-cased and split on whitespace; the word
   hashes of a whole batch sit in one flat ``uint64`` array with row offsets.
2. Shingles are word k-grams, made by mixing k neighbouring word hashes in numpy.
3. rensa computes the MinHash signatures in bulk (``digest_matrix_from_flat_token_hashes``) and its
   ``RMinHashLSH`` index flags every row that shares an LSH band with another row.
4. Only flagged rows are banded again in numpy to name their partners; each candidate pair is then checked
   with the *exact* Jaccard of its shingle sets, so the threshold is applied to the real similarity, not to a
   MinHash estimate.

``text_pairs`` is the similarity every gate uses (near duplicates, eval leaks, label conflicts, and the
near-duplicate grouping of split_dataset): the Jaccard above, capped by how well the two rows' facts agree
(``fact_agreement``): a row stating another order id, amount or time, or naming another person, place or product
where its partner names one, states another fact; it is not a copy.

``ngram_overlap`` gives, per row, the share of its word n-grams found in a reference set (decontamination).
"""

from __future__ import annotations

from itertools import chain

import numpy as np

# the word tables live in their own module; importers of this one keep finding them here
from specialize.data.wordtable import TokenTable, sequence_hashes, tokenize, unique_ratio  # noqa: F401

_BITMAP_BITS = 22  # bits of the eval n-gram bitmap in ngram_share


def jaccard_rows(a: TokenTable, i: int, b: TokenTable, j: int) -> float:
    x = np.unique(a.flat[a.offsets[i]:a.offsets[i + 1]])
    y = np.unique(b.flat[b.offsets[j]:b.offsets[j + 1]])
    if len(x) == 0 and len(y) == 0:
        return 1.0
    inter = len(np.intersect1d(x, y, assume_unique=True))
    return inter / (len(x) + len(y) - inter)


def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows per band): the most rows per band (fewest false candidates) that still catch a pair at
    exactly ``threshold`` with probability >= 0.98; pairs above the threshold are caught even more surely."""
    best = (num_perm, 1)
    for r in range(1, num_perm + 1):
        if num_perm % r:
            continue
        b = num_perm // r
        p_hit = 1 - (1 - threshold ** r) ** b
        if p_hit >= 0.98:
            best = (b, r)  # larger r = fewer false candidates; keep the largest r that still catches
    return best


def similar_pairs(shingles: TokenTable, *, threshold: float, num_perm: int = 64,
                  seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(i, j)``, i < j, whose shingle sets have exact Jaccard >= threshold (via MinHash LSH),
    and their Jaccard values."""
    import rensa

    n = len(shingles)
    if n < 2:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0)
    bands, r = lsh_params(threshold, num_perm)
    offsets_u = shingles.offsets.astype(np.uint64)
    matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(shingles.flat, offsets_u, num_perm, seed)
    lsh = rensa.RMinHashLSH(threshold=threshold, num_perm=num_perm, num_bands=bands)
    # flags every row sharing a band with another row (both members of a pair), in one pass
    flags = np.fromiter(lsh.query_duplicate_flags_matrix_one_shot(matrix), dtype=bool, count=n)
    empty = np.diff(shingles.offsets) == 0
    flagged = np.nonzero(flags & ~empty)[0]
    if len(flagged) < 2:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0)
    sub = shingles.take(flagged)
    rows = rensa.RMinHash.digest_matrix_from_flat_token_hashes(
        sub.flat, sub.offsets.astype(np.uint64), num_perm, seed).to_rows()
    digests = np.fromiter(chain.from_iterable(rows), dtype=np.uint64,
                          count=len(rows) * num_perm).reshape(len(rows), num_perm)
    found: list[np.ndarray] = []
    big: set[tuple[int, int]] = set()
    for b in range(bands):
        block = digests[:, b * r:(b + 1) * r]
        key = np.zeros(len(block), dtype=np.uint64)
        with np.errstate(over="ignore"):
            for c in range(r):
                key = (key ^ block[:, c]) * np.uint64(0x100000001B3) + np.uint64(c + 1)
        order = np.argsort(key, kind="stable")
        ks = key[order]
        starts = np.nonzero(np.r_[True, ks[1:] != ks[:-1]])[0]
        sizes = np.diff(np.r_[starts, len(ks)])
        two = starts[sizes == 2]  # the usual bucket: one pair, handled without Python loops
        if len(two):
            a, c = flagged[order[two]], flagged[order[two + 1]]
            found.append(np.stack([np.minimum(a, c), np.maximum(a, c)], axis=1))
        for s, size in zip(starts[sizes > 2].tolist(), sizes[sizes > 2].tolist()):
            members = np.sort(flagged[order[s:s + size]]).tolist()
            if size > 50:  # a huge bucket (boilerplate): chain neighbours instead of all pairs
                big.update(zip(members[:-1], members[1:]))
                continue
            big.update((members[x], members[y]) for x in range(size) for y in range(x + 1, size))
    if big:
        found.append(np.asarray(sorted(big), dtype=np.int64).reshape(-1, 2))
    if not found:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0)
    both = np.concatenate(found).astype(np.int64)
    codes = np.unique(both[:, 0] * n + both[:, 1])  # one int per pair: a 1-D unique is far cheaper than axis=0
    first, second = codes // n, codes % n
    # exact Jaccard per candidate pair: each involved row's shingles become a Python set once
    rows = np.unique(np.r_[first, second])
    sub = shingles.take(rows)
    values, offs = sub.flat.tolist(), sub.offsets.tolist()
    sets = [set(values[offs[k]:offs[k + 1]]) for k in range(len(rows))]
    out, sims = [], []
    for i, j, a, b in zip(first.tolist(), second.tolist(), np.searchsorted(rows, first).tolist(),
                          np.searchsorted(rows, second).tolist()):
        x, y = sets[a], sets[b]
        inter = len(x & y)
        sim = inter / (len(x) + len(y) - inter) if (x or y) else 1.0
        if sim >= threshold:
            out.append((i, j))
            sims.append(sim)
    return np.asarray(out, dtype=np.int64).reshape(-1, 2), np.asarray(sims, dtype=np.float64)


def _row_sets(table: TokenTable, rows: np.ndarray) -> dict[int, set[int]]:
    rows = np.unique(rows)
    sub = table.take(rows)
    values, offs = sub.flat.tolist(), sub.offsets.tolist()
    return {r: set(values[offs[k]:offs[k + 1]]) for k, r in enumerate(rows.tolist())}


def fact_agreement(left: TokenTable, a: np.ndarray, right: TokenTable, b: np.ndarray, *,
                   contained: bool = False) -> np.ndarray:
    """Per pair (row ``a[k]`` of ``left``, row ``b[k]`` of ``right``; fact tables from
    ``specialize.data.normalize.fact_table``): how well the two rows' facts agree, the lower of two values.

    Numbers: the Jaccard of the two rows' sets of numbers, 1.0 when neither states a number; with
    ``contained=True``, the share of the left row's numbers that the right row also states (1.0 when the left row
    has none), for a row that may hold only part of its partner.

    Names: 1.0 unless *each* row holds a name the other lacks (a name swapped for another); then the Jaccard of
    the two name sets (``contained``: the share of the left row's names in the right row). A row that only adds
    or only drops names (a casing edit, a name written in small letters, a capitalised word inserted) keeps 1.0.
    A number table alone (``number_table``) has no names and gives the numbers' value."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    out = np.ones(len(a))
    has_a, has_b = np.diff(left.offsets)[a] > 0, np.diff(right.offsets)[b] > 0
    todo = np.flatnonzero(has_a | has_b)
    if len(todo) == 0:
        return out
    xs, ys = _row_sets(left, a[todo]), _row_sets(right, b[todo])
    bit = 1 << 63
    for k, i, j in zip(todo.tolist(), a[todo].tolist(), b[todo].tolist()):
        x, y = xs[i], ys[j]
        xn, yn = {v for v in x if v >= bit}, {v for v in y if v >= bit}
        value = 1.0
        if xn - yn and yn - xn:
            inter = len(xn & yn)
            value = inter / len(xn) if contained else inter / (len(xn) + len(yn) - inter)
        if xn or yn:
            x, y = x - xn, y - yn
        if x or (y and not contained):
            inter = len(x & y)
            value = min(value, inter / len(x) if contained else inter / (len(x) + len(y) - inter))
        out[k] = value
    return out


number_agreement = fact_agreement  # the earlier name, from when numbers were the only facts


def text_pairs(shingles: TokenTable, facts: TokenTable, *, threshold: float, num_perm: int = 64,
               seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(i, j)``, i < j, whose similarity is at least ``threshold``, and that similarity: the exact
    Jaccard of their shingle sets (``similar_pairs``), or their facts' agreement (``fact_agreement``: numbers and
    names) when that is lower. ``facts`` has one row per row of ``shingles``."""
    pairs, sims = similar_pairs(shingles, threshold=threshold, num_perm=num_perm, seed=seed)
    if len(pairs) == 0:
        return pairs, sims
    sims = np.minimum(sims, fact_agreement(facts, pairs[:, 0], facts, pairs[:, 1]))
    keep = sims >= threshold
    return pairs[keep], sims[keep]


def similar_texts(texts: list[str], *, threshold: float, num_perm: int = 64,
                  scheme: str = "words_1_2") -> tuple[np.ndarray, np.ndarray]:
    """``text_pairs`` for texts held in memory (split_dataset's grouping and golden-set check): the texts are
    normalised, shingled and their facts (numbers, names) read exactly as validate_rows does for its rows."""
    from specialize.data.normalize import normalized_tables, shingle_table

    words, facts = normalized_tables(texts)
    return text_pairs(shingle_table(words, scheme), facts, threshold=threshold, num_perm=num_perm)


def ngram_reference(reference: TokenTable, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The reference rows' word n-grams, sorted, and the reference row owning each (for ``ngram_share``)."""
    ref = reference.kgrams(n)
    owner = np.repeat(np.arange(len(ref)), np.diff(ref.offsets))
    order = np.argsort(ref.flat, kind="stable")
    return ref.flat[order], owner[order]


def ngram_share(grams: TokenTable, ref_sorted: np.ndarray, ref_owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``grams`` (its n-grams): the share found in the reference, and one reference row holding such
    an n-gram (-1 when none)."""
    nrows = len(grams)
    if len(ref_sorted) == 0 or len(grams.flat) == 0:
        return np.zeros(nrows), np.full(nrows, -1, dtype=np.int64)
    # most n-grams are in no eval row: a bitmap of the reference's top hash bits rules them out with one
    # lookup each, and only the rest get a binary search
    bitmap = np.zeros(1 << _BITMAP_BITS, dtype=bool)
    bitmap[ref_sorted >> np.uint64(64 - _BITMAP_BITS)] = True
    maybe = np.flatnonzero(bitmap[grams.flat >> np.uint64(64 - _BITMAP_BITS)])
    queries = grams.flat[maybe]
    pos = np.minimum(np.searchsorted(ref_sorted, queries), len(ref_sorted) - 1)
    found = ref_sorted[pos] == queries
    hit_idx, pos = maybe[found], pos[found]
    lens = np.diff(grams.offsets)
    owner_row = np.repeat(np.arange(nrows), lens)
    hits = np.bincount(owner_row[hit_idx], minlength=nrows)
    share = np.divide(hits, lens, out=np.zeros(nrows), where=lens > 0)
    match = np.full(nrows, -1, dtype=np.int64)
    match[owner_row[hit_idx]] = ref_owner[pos]
    return share, match


def partner_share(grams: TokenTable, ref_sorted: np.ndarray, ref_owner: np.ndarray, rows: np.ndarray,
                  max_owners: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """For the given rows of ``grams``: the one reference row holding the largest share of the row's n-grams,
    and that share. ``ngram_share`` measures a row against all reference rows at once, so a row made of phrases
    that many different eval rows use (a shared template) can reach a high share without copying any one of
    them; this names the single eval row it overlaps most. An n-gram held by more than ``max_owners`` reference
    rows is boilerplate and gives no partner."""
    sub = grams.take(rows)
    lens = np.diff(sub.offsets)
    share = np.zeros(len(rows))
    best = np.full(len(rows), -1, dtype=np.int64)
    if len(sub.flat) == 0 or len(ref_sorted) == 0:
        return share, best
    left = np.searchsorted(ref_sorted, sub.flat, side="left")
    cnt = np.searchsorted(ref_sorted, sub.flat, side="right") - left
    cnt[cnt > max_owners] = 0
    total = int(cnt.sum())
    if total == 0:
        return share, best
    gram = np.repeat(np.arange(len(sub.flat)), cnt)
    owner = ref_owner[np.repeat(left - (np.cumsum(cnt) - cnt), cnt) + np.arange(total)].astype(np.int64)
    m = int(ref_owner.max()) + 1
    gram_owner = np.unique(gram * m + owner)  # an eval row holding an n-gram twice counts it once
    row_of_gram = np.repeat(np.arange(len(rows)), lens)
    codes, counts = np.unique(row_of_gram[gram_owner // m] * m + gram_owner % m, return_counts=True)
    r, o = codes // m, codes % m
    order = np.lexsort((o, -counts, r))  # per row: the most shared n-grams first, then the earliest eval row
    first = order[np.r_[True, r[order][1:] != r[order][:-1]]]
    share[r[first]] = counts[first] / lens[r[first]]
    best[r[first]] = o[first]
    return share, best


def ngram_overlap(rows: TokenTable, reference: TokenTable, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``rows``: the share of its word n-grams present in ``reference``, and one reference row
    holding such an n-gram (-1 when none)."""
    ref_sorted, ref_owner = ngram_reference(reference, n)
    return ngram_share(rows.kgrams(n), ref_sorted, ref_owner)
