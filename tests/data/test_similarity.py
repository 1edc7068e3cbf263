"""The similarity every gate shares (specialize.data.dedupe.text_pairs / similar_texts): shingle Jaccard capped by
how well the numbers agree. Expected values are worked out by hand in the comments."""

from __future__ import annotations

import numpy as np
import pytest

from specialize.data.dedupe import number_agreement, similar_texts
from specialize.data.normalize import normalize_texts, number_table


def _numbers(texts):
    return number_table(normalize_texts(texts))


def test_number_agreement_is_the_jaccard_of_number_sets():
    left = _numbers(["order 48213 for $1,250.00", "no numbers", "order 48213", "at 9am and 10am"])
    right = _numbers(["order 48213 for 1250 dollars", "none here", "order 48213, 1250 and 7", "at 9 am"])
    a = b = np.arange(4)
    # {48213, 1250} vs the same -> 1; no numbers on either side -> 1; {48213} vs {48213, 1250, 7} -> 1/3;
    # {9, 10} vs {9} -> 1/2
    assert number_agreement(left, a, right, b).tolist() == pytest.approx([1.0, 1.0, 1 / 3, 1 / 2])
    # contained: the share of the left row's numbers the right row states -> 1, 1 (none), 1, 1/2
    assert number_agreement(left, a, right, b, contained=True).tolist() == pytest.approx([1.0, 1.0, 1.0, 0.5])
    # a row with numbers against one without: nothing agrees (0), unless only the left side's are asked for
    lone = _numbers(["refund 12 please", "refund please"])
    assert number_agreement(lone, [0], lone, [1]).tolist() == [0.0]
    assert number_agreement(lone, [1], lone, [0], contained=True).tolist() == [1.0]


def test_another_number_is_another_row_even_when_the_words_agree():
    texts = ["I was charged $89.99 twice for order #48213, please refund one of them.",
             "I was charged $89,99 twice for order no. 48213 - please refund one of them!",  # same facts
             "I was charged $89.99 twice for order #77120, please refund one of them."]  # another order
    pairs, sims = similar_texts(texts, threshold=0.7)
    assert pairs.tolist() == [[0, 1]]
    # by hand: normalised words of 0: i was charged 89 99 twice for order 48213 please refund one of them
    # (14 distinct words, 13 pairs: 41 entries); 1 adds "no" between "order" and "48213": 15 words, 14 pairs
    # (44 entries); shared: 14 words (28 entries) + 12 pairs = 40 -> 40 / (41 + 44 - 40) = 40 / 45
    assert sims.tolist() == pytest.approx([40 / 45])
    # rows 0 and 2: the words differ in one (26 + 11 = 37 shared of 41 + 41 - 37 = 45 -> 0.82), but of the numbers
    # {89, 99, 48213} and {89, 99, 77120} only two of four agree: the similarity is 0.5
    pairs, sims = similar_texts(texts, threshold=0.45)
    assert dict(zip(map(tuple, pairs.tolist()), sims.tolist()))[(0, 2)] == pytest.approx(0.5)
