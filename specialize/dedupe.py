"""Near-duplicate and overlap detection over many short texts, built for a million rows on two cores.

Pipeline (all arrays, no per-pair Python in the hot path):

1. ``TokenTable``: each text is lower-cased and split on whitespace (the words ``str.split()`` gives); the
   words are hashed for a whole batch of texts at once in numpy (see ``_word_hashes``), and the hashes sit in
   one flat ``uint64`` array with row offsets.
2. Shingles are word k-grams, made by mixing k neighbouring word hashes in numpy.
3. rensa computes the MinHash signatures in bulk (``digest_matrix_from_flat_token_hashes``) and its
   ``RMinHashLSH`` index flags every row that shares an LSH band with another row.
4. Only flagged rows are banded again in numpy to name their partners; each candidate pair is then checked
   with the *exact* Jaccard of its shingle sets, so the threshold is applied to the real similarity, not to a
   MinHash estimate.

``ngram_overlap`` gives, per row, the share of its word n-grams found in a reference set (decontamination).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain

import numpy as np

_B = np.uint64(0x100000001B3 | 1)
_BINV = np.uint64(pow(0x100000001B3 | 1, -1, 2 ** 64))

# the ASCII characters str.split() treats as whitespace, and every non-ASCII one (mapped to a plain space
# before encoding, so that in UTF-8 only these ASCII bytes separate words)
_SPACE_BYTES = np.zeros(256, dtype=np.int8)
_SPACE_BYTES[[c for c in range(128) if chr(c).isspace()]] = 1
_OTHER_SPACES = {c: " " for c in range(128, 0x3001) if chr(c).isspace()}
_POWERS: list[np.ndarray] = []  # cached B**t and B**-t tables, grown on demand
_POWER_CACHE_MAX = 1 << 23
_BITMAP_BITS = 22


def tokenize(text: str) -> list[str]:
    """Lower-cased whitespace-separated words (the same tokens the row gates use)."""
    return text.lower().split()


def _powers(m: int) -> tuple[np.ndarray, np.ndarray]:
    if _POWERS and len(_POWERS[0]) >= m:
        return _POWERS[0], _POWERS[1]
    size = max(m, 1 << 16)
    with np.errstate(over="ignore"):
        pw = np.cumprod(np.r_[np.uint64(1), np.full(size - 1, _B, dtype=np.uint64)], dtype=np.uint64)
        ipw = np.cumprod(np.r_[np.uint64(1), np.full(size - 1, _BINV, dtype=np.uint64)], dtype=np.uint64)
    if size <= _POWER_CACHE_MAX:
        _POWERS[:] = [pw, ipw]
    return pw, ipw


_LOW_BYTES = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], dtype=np.uint64)
_LEN_MUL = np.uint64(0xD6E8FEB86659FD93)
_CHUNK_MUL = np.uint64(0x9E3779B97F4A7C15)


def _mix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser (a bijection on 64-bit values), in place."""
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def _word_hashes(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hash every word of every text with a few numpy passes: ``(hashes, words per text, bytes per word)``.

    The texts are joined with spaces and encoded once; words are the runs of non-space bytes. A word's bytes
    are read eight at a time as integers (most words fit in one read); each 8-byte piece is mixed with its
    place in the word and the word's length, and the pieces are summed. Equal words get equal hashes in any
    text and any process."""
    norm = [t if t.isascii() else t.translate(_OTHER_SPACES) for t in texts]
    joined = " ".join(norm)
    data = (" " + joined + " " * 9).encode("utf-8", "surrogatepass")  # lone surrogates (JSON escapes) survive
    raw = np.frombuffer(data, dtype=np.uint8)
    # space/word flips alternate (the data starts and ends with spaces): word starts, then word ends
    flips = np.flatnonzero(np.diff(_SPACE_BYTES[raw]))
    starts, ends = flips[0::2] + 1, flips[1::2] + 1
    wlen = ends - starts
    eight = np.ndarray((len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))  # 8 bytes from any offset
    with np.errstate(over="ignore"):
        h = _mix64((eight[starts] & _LOW_BYTES[np.minimum(wlen, 8)]) ^ (wlen.astype(np.uint64) * _LEN_MUL))
        long = np.flatnonzero(wlen > 8)
        if len(long):  # the further 8-byte pieces of longer words
            extra = (wlen[long] - 1) >> 3
            word = np.repeat(long, extra)
            piece = np.arange(len(word)) - np.repeat(np.cumsum(extra) - extra, extra) + 1
            left = wlen[word] - 8 * piece
            part = eight[starts[word] + 8 * piece] & _LOW_BYTES[np.minimum(left, 8)]
            np.add.at(h, word, _mix64(part + piece.astype(np.uint64) * _CHUNK_MUL))
    if len(data) == len(joined) + 10:  # all ASCII: a text's bytes are its characters
        sizes = np.fromiter(map(len, norm), dtype=np.int64, count=len(norm))
    else:
        sizes = np.fromiter((len(t) if t.isascii() else len(t.encode("utf-8", "surrogatepass")) for t in norm),
                            dtype=np.int64, count=len(norm))
    text_start = np.ones(len(norm) + 1, dtype=np.int64)  # byte offset of each text in ``data``
    np.cumsum(sizes + 1, out=text_start[1:])
    text_start[1:] += 1
    counts = np.diff(np.searchsorted(starts, text_start))
    return h, counts, wlen


@dataclass
class TokenTable:
    """Word hashes of many texts: ``flat[offsets[i]:offsets[i+1]]`` are the words of text ``i``."""

    flat: np.ndarray
    offsets: np.ndarray

    @classmethod
    def from_texts(cls, texts: list[str], *, lower: bool = True) -> "TokenTable":
        """Word hashes of each text (lower-cased first unless ``lower=False``)."""
        return cls.from_texts_with_lengths(texts, lower=lower)[0]

    @classmethod
    def from_texts_with_lengths(cls, texts: list[str], *, lower: bool = True) -> tuple["TokenTable", np.ndarray]:
        """``from_texts`` plus each text's longest word in UTF-8 bytes (0 for a text without words)."""
        if lower:
            texts = [t.lower() for t in texts]
        flat, counts, wlen = _word_hashes(texts)
        offsets = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        longest = np.zeros(len(texts), dtype=np.int64)
        nz = counts > 0
        if nz.any():
            longest[nz] = np.maximum.reduceat(wlen, offsets[:-1][nz])
        return cls(flat, offsets), longest

    @classmethod
    def from_tokens(cls, token_lists: list[list[str]]) -> "TokenTable":
        """Like ``from_texts`` for texts already split into (lower-cased) words."""
        return cls.from_texts([" ".join(t) for t in token_lists], lower=False)

    @classmethod
    def concat(cls, tables: list["TokenTable"]) -> "TokenTable":
        flats = [t.flat for t in tables]
        lens = np.concatenate([np.diff(t.offsets) for t in tables]) if tables else np.zeros(0, np.int64)
        offsets = np.zeros(len(lens) + 1, dtype=np.int64)
        np.cumsum(lens, out=offsets[1:])
        return cls(np.concatenate(flats) if flats else np.zeros(0, np.uint64), offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def take(self, rows: np.ndarray) -> "TokenTable":
        lens = np.diff(self.offsets)[rows]
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lens, out=offsets[1:])
        if len(rows) == 0:
            return TokenTable(np.zeros(0, np.uint64), offsets)
        idx = np.repeat(self.offsets[rows] - offsets[:-1], lens) + np.arange(offsets[-1])
        return TokenTable(self.flat[idx], offsets)

    def spread(self, rows: np.ndarray, n: int) -> "TokenTable":
        """The inverse of ``take``: an ``n``-row table where row ``rows[i]`` holds this table's row ``i`` and
        every other row is empty (``rows`` ascending)."""
        lens = np.zeros(n, dtype=np.int64)
        lens[rows] = np.diff(self.offsets)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lens, out=offsets[1:])
        return TokenTable(self.flat, offsets)

    def kgrams(self, k: int) -> "TokenTable":
        """Word k-gram hashes per row; a row shorter than k words keeps one gram of all its words.

        A rolling polynomial hash in the ring of integers mod 2**64: with prefix sums P[i] = sum h[t] * B**t,
        the gram of length L starting at i is (P[i+L] - P[i]) * B**-i (B is odd, so it has an inverse), then
        a final mix. Cost does not grow with k."""
        n = len(self)
        lens = np.diff(self.offsets)
        m = len(self.flat)
        count = np.where(lens >= k, lens - k + 1, np.minimum(lens, 1))
        new_off = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(count, out=new_off[1:])
        if n == 0 or m == 0:
            return TokenTable(np.zeros(0, np.uint64), new_off)
        starts = np.repeat(self.offsets[:-1] - new_off[:-1], count) + np.arange(new_off[-1])
        glen = np.repeat(np.minimum(lens, k), count).astype(np.int64)
        pw, ipw = _powers(m + 1)
        with np.errstate(over="ignore"):
            prefix = np.zeros(m + 1, dtype=np.uint64)
            np.cumsum(self.flat * pw[:m], out=prefix[1:])
            g = (prefix[starts + glen] - prefix[starts]) * ipw[starts]
            g = (g ^ (g >> np.uint64(31))) * np.uint64(0xBF58476D1CE4E5B9) + glen.astype(np.uint64)
            g ^= g >> np.uint64(29)
        return TokenTable(g, new_off)


def sequence_hashes(table: TokenTable) -> np.ndarray:
    """One 64-bit hash per row of its word sequence (order-sensitive; equal for texts that differ only in case
    and whitespace). Polynomial over the word hashes, computed for all rows at once."""
    n = len(table)
    lens = np.diff(table.offsets)
    out = np.zeros(n, dtype=np.uint64)
    if len(table.flat) == 0:
        return out
    pos = np.arange(len(table.flat)) - np.repeat(table.offsets[:-1], lens)
    with np.errstate(over="ignore"):
        powers = np.cumprod(np.full(int(lens.max()), np.uint64(0x100000001B3), dtype=np.uint64), dtype=np.uint64)
        terms = (table.flat ^ np.uint64(0x9E3779B97F4A7C15)) * powers[pos]
        nz = lens > 0
        out[nz] = np.add.reduceat(terms, table.offsets[:-1][nz])
        out = out * np.uint64(0xFF51AFD7ED558CCD) + lens.astype(np.uint64)
    return out


def unique_ratio(table: TokenTable) -> np.ndarray:
    """Distinct words / words, per row (1.0 for empty rows)."""
    n = len(table)
    lens = np.diff(table.offsets)
    if len(table.flat) == 0:
        return np.ones(n)
    rid = np.repeat(np.arange(n, dtype=np.uint64), lens)
    if n < (1 << 20):  # one sort of (row, top 44 bits of the word hash) keys
        keys = np.sort((table.flat >> np.uint64(20)) | (rid << np.uint64(44)))
        first = np.r_[True, keys[1:] != keys[:-1]]
        distinct = np.bincount((keys[first] >> np.uint64(44)).astype(np.int64), minlength=n)
    else:
        order = np.lexsort((table.flat, rid))
        f, r = table.flat[order], rid[order]
        first = np.r_[True, (f[1:] != f[:-1]) | (r[1:] != r[:-1])]
        distinct = np.bincount(r[first].astype(np.int64), minlength=n)
    return np.divide(distinct, lens, out=np.ones(n), where=lens > 0)


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
    pairs = np.stack([codes // n, codes % n], axis=1).tolist()
    out, sims = [], []
    flat, offs = shingles.flat, shingles.offsets
    cache: dict[int, set[int]] = {}

    def shingle_set(i: int) -> set[int]:
        got = cache.get(i)
        if got is None:
            got = cache[i] = set(flat[offs[i]:offs[i + 1]].tolist())
        return got

    for i, j in pairs:
        x, y = shingle_set(i), shingle_set(j)
        inter = len(x & y)
        sim = inter / (len(x) + len(y) - inter) if (x or y) else 1.0
        if sim >= threshold:
            out.append((i, j))
            sims.append(sim)
    return np.asarray(out, dtype=np.int64).reshape(-1, 2), np.asarray(sims, dtype=np.float64)


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


def ngram_overlap(rows: TokenTable, reference: TokenTable, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``rows``: the share of its word n-grams present in ``reference``, and one reference row
    holding such an n-gram (-1 when none)."""
    ref_sorted, ref_owner = ngram_reference(reference, n)
    return ngram_share(rows.kgrams(n), ref_sorted, ref_owner)
