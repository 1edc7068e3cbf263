"""The similarity every gate shares (specialize.data.dedupe.text_pairs / similar_texts): shingle Jaccard capped by
how well the facts agree (numbers, and names where each text names someone the other does not). Expected values
are worked out by hand in the comments."""

from __future__ import annotations

import numpy as np
import pytest

from specialize.data.dedupe import fact_agreement, number_agreement, similar_texts
from specialize.data.normalize import (german_rows, name_strings, normalize_texts, normalized_tables,
                                       normalized_words, number_table)


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


def _facts(texts):
    return normalized_tables(texts)[1]


@pytest.mark.parametrize("text,names", [
    ("My name is Tomasz Ivanova and I can't log in.", "tomasz ivanova"),  # "My" starts the text, "I" is one letter
    ("Since 9am UTC, production is down. Maria said so, Kenji too.", "kenji"),  # "UTC": all capitals; Maria: new sentence
    ("Ask Grace:\nHannah knows the API key", "grace"),  # after a line break a word starts a sentence
    ("THE ORDER FOR JOHN SMITH", ""),  # shouting: no word is a capital followed by a small letter
    ("Élodie a écrit à Zoë Núñez à Straße 5", "zoë núñez strasse"),  # case-folded like the normalised words
    ("订单还没有到，王芳请查一下 Dashboard", "dashboard"),  # Chinese has no case: only the Latin word counts
])
def test_names_are_capitalised_words_that_do_not_start_a_sentence(text, names):
    assert name_strings([text])[0].split() == names.split()


def test_german_texts_have_no_names_because_every_noun_is_capitalised():
    texts = ["Ich heiße Ravi Fischer und kann die Rechnung nicht öffnen.",  # ich, und, kann, nicht: German
             "Die Rechnung ist falsch.",  # only one German word of the list (ist): its capitals count
             "My name is Ravi Fischer."]
    assert german_rows(normalized_words(texts)).tolist() == [True, False, False]
    facts = _facts(texts)
    names = [[h for h in facts.flat[facts.offsets[i]:facts.offsets[i + 1]].tolist() if h >= 1 << 63]
             for i in range(3)]
    assert [len(n) for n in names] == [0, 1, 2]  # "Rechnung" counts in the second text (not read as German)


def test_another_name_is_another_row_even_when_the_words_agree():
    texts = ["Add Tomasz Ivanova as an admin to the workspace and remove the old owner.",
             "Add John Ivanova as an admin to the workspace and remove the old owner.",  # another person
             "add tomasz ivanova as an admin to the workspace and remove the old owner.",  # small letters
             "ADD TOMASZ IVANOVA AS AN ADMIN TO THE WORKSPACE AND REMOVE THE OLD OWNER.",  # capitals
             "Add Dr Tomasz Ivanova as an admin to the workspace and remove the old owner.",  # a capitalised word more
             "Add Ivanova as an admin to the workspace and remove the old owner."]  # a name dropped
    pairs, sims = similar_texts(texts, threshold=0.3)
    got = dict(zip(map(tuple, pairs.tolist()), sims.tolist()))
    # 0 and 1 by hand: 14 words, "the" twice: 13 distinct (26 entries) + 13 pairs = 39 each; "tomasz"/"john"
    # differs: 12 words (24) + 11 pairs = 35 shared -> 35 / (39 + 39 - 35) = 0.814, above the usual threshold.
    # Names {tomasz, ivanova} and {john, ivanova}: each holds one the other lacks: their Jaccard, 1/3
    assert got[(0, 1)] == pytest.approx(1 / 3)
    # a case change leaves the normalised words alone (1.0); the names of 2 and 3 are none, a subset of 0's
    assert got[(0, 2)] == got[(0, 3)] == 1.0
    # "Dr" inserted: only 4 holds a name the other lacks, so the word Jaccard stands: 14 distinct words and 14
    # pairs (42 entries); shared 26 + 12 pairs (add-tomasz is lost) = 38 -> 38 / (39 + 42 - 38) = 38 / 43
    assert got[(0, 4)] == pytest.approx(38 / 43)
    # a dropped first name: {ivanova} is a subset of 0's names; 12 distinct words and 12 pairs (36 entries),
    # shared 24 + 11 (add-tomasz and tomasz-ivanova lost) = 35 -> 35 / (39 + 36 - 35) = 35 / 40
    assert got[(0, 5)] == pytest.approx(35 / 40)


def test_name_agreement_in_both_modes():
    left = _facts(["Refund Maria Lopez for order 48213", "Refund Maria Lopez", "Refund Maria"])
    right = _facts(["Refund Kenji Lopez for order 48213", "Thanks. Refund Maria Lopez and Omar Haddad today",
                    "Refund Omar"])
    a = b = np.arange(3)
    # 0: names {maria, lopez} / {kenji, lopez} -> 1/3 (numbers agree); 1: 0's names are all in 1's -> 1;
    # 2: {maria} / {omar}: nothing shared -> 0
    assert fact_agreement(left, a, right, b).tolist() == pytest.approx([1 / 3, 1.0, 0.0])
    # contained: the share of the left row's names in the right row, when each lacks one of the other's: 1/2, 1, 0
    assert fact_agreement(left, a, right, b, contained=True).tolist() == pytest.approx([0.5, 1.0, 0.0])


def test_a_german_noun_swap_is_not_a_fact_but_a_chinese_name_change_is_only_words():
    texts = ["Die Rechnung über den Betrag enthält die falsche Adresse, bitte korrigieren Sie das.",
             "Die Faktura über den Betrag enthält die falsche Adresse, bitte korrigieren Sie das.",
             "王芳在重置密码以后无法登录。", "李伟在重置密码以后无法登录。"]
    pairs, sims = similar_texts(texts, threshold=0.3)
    got = dict(zip(map(tuple, pairs.tolist()), sims.tolist()))
    # German (über, bitte, sie: two or more German words): no names, so the word Jaccard stands: 13 words,
    # "die" twice: 12 distinct (24 entries) + 12 pairs = 36; one noun differs -> 11 words (22) + 10 pairs = 32
    # shared -> 32 / (36 + 36 - 32) = 0.8 (with the capitals as names it would be capped at 2/4 = 0.5)
    assert got[(0, 1)] == pytest.approx(32 / 40)
    # Chinese: one character per word, 13 distinct (26 entries) + 12 pairs = 38; no case, so no names: 王芳 ->
    # 李伟 changes 2 words and 2 pairs (王芳, 芳在): (22 + 10) / (38 + 38 - 32) = 32 / 44, nothing caps it
    assert got[(2, 3)] == pytest.approx(32 / 44)
