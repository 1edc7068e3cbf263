"""Normalisation and shingles of the similarity gates: outputs checked against hand-written expectations, and the
Jaccard of shingle sets checked against sets built independently from the hand-normalised words."""

from __future__ import annotations

import numpy as np
import pytest

from specialize.data.normalize import (name_strings, normalize_text, normalize_texts, normalized_tables,
                                       normalized_words, number_table, shingle_table)


@pytest.mark.parametrize("text,words", [
    ("The app crashes every single time on Android 14!", "the app crashes every single time on android 14"),
    ("Since 9am UTC, production is down.", "since 9 am utc production is down"),
    ("Dashboard charts show yesterday's data only…", "dashboard charts show yesterdays data only"),
    ("Total: $1,250.00, or 3,50 € each", "total 1250 or 3 50 each"),  # a zero fraction says nothing
    ("Gesamt 1.250,00 € um 10:00 Uhr", "gesamt 1250 um 10 uhr"),  # the same in German, Unicode path
    ("ＦＵＬＬ width ﬁle in der Straße", "full width file in der strasse"),  # NFKC, then case folding
    ("Order no. 48213 / v2", "order no 48213 v 2"),
    ("订单还没有到，请查一下。", "订 单 还 没 有 到 请 查 一 下"),
    ("tabs\tand\nnewlines  and_underscores", "tabs and newlines and underscores"),
])
def test_normalized_words(text, words):
    assert normalize_text(text).split() == words.split()


def test_batch_matches_one_by_one_even_with_the_batch_separator_inside_a_text():
    texts = ["Since 9am UTC, production is down.", "a\x1fb", "", "ÉCOLE d'été", "x"]
    assert normalize_texts(texts) == [normalize_text(t) for t in texts]
    assert [t.split() for t in normalize_texts(texts)] == [["since", "9", "am", "utc", "production", "is", "down"],
                                                           ["a", "b"], [], ["école", "dété"], ["x"]]


def _hand_set(words: str) -> set[str]:
    """Each word twice (the second copy marked), and each pair of neighbouring words."""
    w = words.split()
    return set(w) | {x + "'" for x in w} | {f"{a} {b}" for a, b in zip(w, w[1:])}


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b)


def test_shingle_sets_have_the_words_twice_and_their_neighbour_pairs():
    texts = ["Dashboard charts only show yesterday's data, nothing from Monday or Tuesday.",
             "Dashboard charts show yesterday's data only, nothing from Monday or Tuesday.",
             "one", "", "repeat repeat repeat"]
    table = shingle_table(normalized_words(texts))
    sets = [set(table.flat[table.offsets[i]:table.offsets[i + 1]].tolist()) for i in range(len(texts))]
    # 11 distinct words twice + 10 pairs; a one-word text is its word twice; an empty text has nothing;
    # repeats collapse to one word (twice) and one pair
    assert [len(s) for s in sets] == [32, 32, 2, 0, 3]
    got = len(sets[0] & sets[1]) / len(sets[0] | sets[1])
    # by hand: the same 11 words (22 entries), 7 of the 10 pairs shared -> 29 / (32 + 32 - 29) = 29 / 35
    want = _jaccard(_hand_set("dashboard charts only show yesterdays data nothing from monday or tuesday"),
                    _hand_set("dashboard charts show yesterdays data only nothing from monday or tuesday"))
    assert want == 29 / 35 and got == pytest.approx(want)


def test_a_moved_word_costs_less_than_a_replaced_one():
    base = "the courier left the parcel at the wrong door today"
    moved = "the courier left the parcel at the door wrong today"
    replaced = "the courier left the parcel at the green door today"
    table = shingle_table(normalized_words([base, moved, replaced]))
    sets = [set(table.flat[table.offsets[i]:table.offsets[i + 1]].tolist()) for i in range(3)]
    sim = [len(sets[0] & s) / len(sets[0] | s) for s in sets[1:]]
    # by hand (8 distinct words, 9 distinct pairs): moved keeps every word and 6 pairs -> 22 / (25 + 25 - 22);
    # replaced loses one word and 2 pairs -> (14 + 7) / (25 + 25 - 21)
    assert sim == [pytest.approx(22 / 28), pytest.approx(21 / 29)]
    assert sim == [pytest.approx(_jaccard(_hand_set(base), _hand_set(t))) for t in (moved, replaced)]


def test_number_table_holds_the_numbers_after_normalisation():
    texts = ["Order #48213: charged $1,250.00 at 9am", "订单48213扣款1250元", "no digits here", "",
             "v2 build 0017"]
    numbers = number_table(normalize_texts(texts))
    rows = [numbers.flat[numbers.offsets[i]:numbers.offsets[i + 1]].tolist() for i in range(len(texts))]
    # the same numbers (48213, 1250) in both languages hash alike; "9" is the third number of the first text
    assert rows[0][:2] == rows[1] and len(rows[0]) == 3
    assert rows[2] == [] and rows[3] == [] and len(rows[4]) == 2
    assert all(h < 1 << 63 for h in numbers.flat.tolist())  # the top bit is kept for names


def test_fact_table_holds_each_rows_numbers_then_its_names():
    texts = ["Order #48213 for Maria Lopez", "order 48213 for maria lopez", "Refund Kenji", ""]
    words, facts = normalized_tables(texts)
    numbers = number_table(normalize_texts(texts))
    rows = [facts.flat[facts.offsets[i]:facts.offsets[i + 1]].tolist() for i in range(len(texts))]
    num = [numbers.flat[numbers.offsets[i]:numbers.offsets[i + 1]].tolist() for i in range(len(texts))]
    names = [[h for h in r if h >= 1 << 63] for r in rows]
    assert [r[:len(n)] for r, n in zip(rows, num)] == num  # the numbers first, unchanged
    assert [len(n) for n in names] == [2, 0, 1, 0]  # small letters are no names; a text's first word is none
    assert names[0][0] != names[2][0] and len(words) == len(texts)
    # all capitals are no name; a capitalised word after a comma is one
    assert [t.split() for t in name_strings(["Ask Maria", "ask MARIA, then Maria"])] == [["maria"], ["maria"]]


def test_words_3_keeps_the_old_three_word_shingles():
    table = normalized_words(["a b c d", "a b"])
    three = shingle_table(table, "words_3")
    assert np.diff(three.offsets).tolist() == [2, 1]
    with pytest.raises(ValueError, match="unknown shingle scheme"):
        shingle_table(table, "chars_5")
