"""Words of many texts as hashes, in flat numpy arrays: the shared input of the duplicate and overlap checks.

``TokenTable`` holds, for a batch of texts, the 64-bit hashes of their lower-cased whitespace-separated words
(exactly the words ``str.split()`` gives) in one flat array with row offsets. Word k-grams (shingles,
n-grams), per-row sequence hashes and unique-word ratios are computed from it for all rows at once.
"""

from __future__ import annotations

from dataclasses import dataclass

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
