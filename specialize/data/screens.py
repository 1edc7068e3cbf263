"""Bulk screens for the per-row gates: which texts of a chunk *might* contain a phrase, found with a few C-level
or numpy passes over all the texts joined together instead of one Python call per text.

A screen may pick texts that turn out clean (the gate's exact check then passes them), but it never misses a
text that contains what it screens for; so verdicts are the exact checks' alone.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from itertools import accumulate

import numpy as np

_SLOT_BITS = 20
_SLOT_MUL = np.uint32(0x9E3779B1)


def _slots(windows: np.ndarray) -> np.ndarray:
    """Multiplicative hash of 4-byte windows (as uint32) down to ``_SLOT_BITS`` bits."""
    x = windows * _SLOT_MUL  # wraps mod 2**32, as intended
    x >>= np.uint32(32 - _SLOT_BITS)
    return x


class PrefixTable:
    """The first four bytes of each phrase (ASCII phrases of four or more characters), hashed into a bitmap."""

    def __init__(self, phrases: list[str]) -> None:
        heads = [p.encode("ascii")[:4] for p in phrases]
        if any(len(h) < 4 for h in heads):
            raise ValueError("prefix screens need phrases of at least four ASCII characters")
        self.bits = np.zeros(1 << _SLOT_BITS, dtype=bool)
        self.bits[_slots(np.frombuffer(b"".join(heads), dtype="<u4"))] = True


class Joined:
    """Many texts joined into one string (and its UTF-8 bytes), with the offsets to map a hit back to its text."""

    def __init__(self, texts: list[str]) -> None:
        self.blob = "\x00".join(texts)
        self.ends = list(accumulate(len(t) + 1 for t in texts))  # ends[r] = where text r + 1 starts
        self.data = self.blob.encode("utf-8", "surrogatepass")
        if len(self.data) == len(self.blob):  # all ASCII: byte offsets are character offsets
            self.byte_ends = np.asarray(self.ends, dtype=np.int64)
        else:
            sizes = [len(t) if t.isascii() else len(t.encode("utf-8", "surrogatepass")) for t in texts]
            self.byte_ends = np.fromiter(accumulate(s + 1 for s in sizes), dtype=np.int64, count=len(texts))

    def rows_with(self, needles: list[str]) -> set[int]:
        """Texts containing any of the needles (one ``str.find`` scan per needle)."""
        hits: set[int] = set()
        if not self.ends:
            return hits
        for needle in needles:
            i = self.blob.find(needle)
            while i >= 0:
                r = bisect_right(self.ends, i)
                hits.add(r)
                i = self.blob.find(needle, self.ends[r])  # this text is in; go on from the next one
        return hits

    def rows_matching(self, pattern: re.Pattern[str]) -> set[int]:
        return {bisect_right(self.ends, m.start()) for m in pattern.finditer(self.blob)}

    def rows_with_prefixes(self, table: PrefixTable) -> set[int]:
        """Texts where some 4-byte window hashes into the table: a superset of the texts containing a phrase."""
        if len(self.data) < 4:  # no room for a four-byte phrase
            return set()
        windows = np.ndarray((len(self.data) - 3,), dtype="<u4", buffer=self.data, strides=(1,))
        pos = np.flatnonzero(table.bits[_slots(windows)])
        return set(np.searchsorted(self.byte_ends, pos, side="right").tolist())
