"""Normalisation and shingles of the similarity gates: outputs checked against hand-written expectations, and the
Jaccard of shingle sets checked against sets built independently from the hand-normalised words."""

from __future__ import annotations

import numpy as np
import pytest

from specialize.data.normalize import normalize_text, normalize_texts, normalized_words, shingle_table


@pytest.mark.parametrize("text,words", [
    ("The app crashes every single time on Android 14!", "the app crashes every single time on android 14"),
    ("Since 9am UTC, production is down.", "since 9 am utc production is down"),
    ("Dashboard charts show yesterday's data only…", "dashboard charts show yesterdays data only"),
    ("Total: $1,250.00, or 3,50 € each", "total 1250 00 or 3 50 each"),
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
    w = words.split()
    return set(w) | {f"{a} {b}" for a, b in zip(w, w[1:])}


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b)


def test_shingle_sets_have_the_words_and_their_neighbour_pairs():
    texts = ["Dashboard charts only show yesterday's data, nothing from Monday or Tuesday.",
             "Dashboard charts show yesterday's data only, nothing from Monday or Tuesday.",
             "one", "", "repeat repeat repeat"]
    table = shingle_table(normalized_words(texts))
    sets = [set(table.flat[table.offsets[i]:table.offsets[i + 1]].tolist()) for i in range(len(texts))]
    # 11 distinct words + 10 pairs; a one-word text is its word; an empty text has nothing; repeats collapse
    assert [len(s) for s in sets] == [21, 21, 1, 0, 2]
    got = len(sets[0] & sets[1]) / len(sets[0] | sets[1])
    # by hand: same 11 words, 7 of the 10 pairs shared -> 18 / (21 + 21 - 18) = 0.75
    want = _jaccard(_hand_set("dashboard charts only show yesterdays data nothing from monday or tuesday"),
                    _hand_set("dashboard charts show yesterdays data only nothing from monday or tuesday"))
    assert want == 18 / 24 and got == pytest.approx(want)


def test_words_3_keeps_the_old_three_word_shingles():
    table = normalized_words(["a b c d", "a b"])
    three = shingle_table(table, "words_3")
    assert np.diff(three.offsets).tolist() == [2, 1]
    with pytest.raises(ValueError, match="unknown shingle scheme"):
        shingle_table(table, "chars_5")
