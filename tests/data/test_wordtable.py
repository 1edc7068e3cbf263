"""Word tables and bulk screens: the numpy word hashing must see exactly the words str.split() sees, and a screen
must never miss a text that holds what it screens for."""

from __future__ import annotations

import re

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from specialize.data.screens import Joined, PrefixTable
from specialize.data.wordtable import TokenTable, sequence_hashes

# every kind of separator str.split() knows, the bytes that look like them, and multi-byte characters
ALPHABET = "ab cD\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000" \
           "\u00e9\u0130\u4e2d\U0001F600\ud800\x00"
texts = st.lists(st.text(alphabet=ALPHABET, max_size=40) | st.text(alphabet="abcdefghij ", max_size=90),
                 max_size=8)


@settings(max_examples=300, deadline=None)
@given(texts)
def test_words_are_str_split_words(batch):
    table, longest = TokenTable.from_texts_with_lengths(batch)
    words = [t.lower().split() for t in batch]
    assert np.diff(table.offsets).tolist() == [len(w) for w in words]
    one_each = TokenTable.from_texts([w for ws in words for w in ws], lower=False)
    assert one_each.flat.tolist() == table.flat.tolist()  # a word hashes the same alone or in a text
    by_word: dict[str, int] = {}
    for w, h in zip((w for ws in words for w in ws), table.flat.tolist()):
        assert by_word.setdefault(w, h) == h
    assert len(set(by_word.values())) == len(by_word)  # and different words differ
    assert longest.tolist() == [max((len(x.encode("utf-8", "surrogatepass")) for x in ws), default=0)
                                for ws in words]


def test_sequence_hash_ignores_case_and_spacing_only():
    table = TokenTable.from_texts(["Refund my  order", "refund my order\n", "order my refund", ""])
    h = sequence_hashes(table).tolist()
    assert h[0] == h[1] and h[0] != h[2] and h[3] not in h[:3]


def test_spread_undoes_take():
    table = TokenTable.from_texts(["a b", "c", "", "d e f"])
    rows = np.array([0, 3])
    back = table.take(rows).spread(rows, 4)
    assert np.diff(back.offsets).tolist() == [2, 0, 0, 3]
    assert back.flat.tolist() == table.flat[[0, 1, 3, 4, 5]].tolist()


PHRASES = ["teacher", "rubric", "told", "as an ai", "hidden rule"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="teachrubiold sn\u00e9\u4e2d\x00{\"", max_size=30)
                | st.sampled_from(PHRASES).map(lambda p: f"x {p} y"), max_size=10))
def test_screens_never_miss(batch):
    joined = Joined(batch)
    truth = {i for i, t in enumerate(batch) if any(p in t for p in PHRASES)}
    assert truth <= joined.rows_with_prefixes(PrefixTable(PHRASES))
    assert joined.rows_with(PHRASES) == truth
    brace = {i for i, t in enumerate(batch) if re.search(r'\{(?!")', t + "\x00")}
    assert joined.rows_matching(re.compile(r'\{(?!")')) == brace
