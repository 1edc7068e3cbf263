"""Text normalisation and shingles for the similarity gates (near duplicates, eval leaks, label conflicts).

Two texts a reviewer would call copies often differ only in ways that say nothing about content: case, Unicode
forms (full-width letters, ligatures), punctuation, spacing, how a number is written ("9am" / "9 am",
"1,250" / "1250", "3.50" / "3,50"). ``normalize_texts`` removes those differences so that the words compared
afterwards are the content words:

1. Unicode NFKC and case folding (plain ``lower()`` for ASCII text, which gives the same result there);
2. thousands separators between digit groups are dropped, and apostrophes inside words are removed
   ("yesterday's" -> "yesterdays", "don't" -> "dont");
3. every other punctuation or symbol character becomes a space; letters and digits are split apart
   ("9am" -> "9 am", "v2" -> "v 2");
4. characters of scripts written without spaces between words (Chinese, Japanese kana, Thai) become words of
   their own, so those texts get word-like units too.

``shingle_table`` turns the normalised words into the set compared by Jaccard: every word plus every pair of
neighbouring words. Single words keep a short text's similarity high under one insertion, deletion or swap
(with 3-word shingles a single edit in a 12-word text changes most of them); the pairs keep some of the word
order, so that texts made of the same words in another arrangement are not counted as identical.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np

from specialize.data.wordtable import TokenTable

_SEP = "\x1f"  # joins a batch of texts; the batch falls back to one text at a time if a text contains it
_THOUSANDS = re.compile(r"(?<=\d)[,.'\u2019\u00a0\u202f](?=\d{3}(?!\d))")
_INNER_APOSTROPHE = re.compile(r"(?<=\w)['\u2019\u02bc](?=\w)")
_PUNCT = re.compile(r"[^\w\s\x1f]|_")
_DIGIT_LETTER = re.compile(r"(?<=\d)(?=[^\W\d_])|(?<=[^\W\d_])(?=\d)")
# scripts without spaces between words: CJK ideographs, kana, Thai, Lao, Khmer, Myanmar
_UNSPACED = re.compile("([\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
                       "\uf900-\ufaff\uff66-\uff9f])")

SHINGLE_SCHEMES = ("words_1_2", "words_3")


# ASCII text (the common case) goes through bytes: the same steps, with a translate table for punctuation
_A_THOUSANDS = re.compile(rb"([0-9])[,.'](?=[0-9]{3}(?![0-9]))")
_A_APOSTROPHE = re.compile(rb"([a-z0-9_])'(?=[a-z0-9_])")
_A_DIGIT_LETTER = re.compile(rb"([0-9])(?=[a-z])")
_A_LETTER_DIGIT = re.compile(rb"([a-z])(?=[0-9])")
_A_PUNCT = bytes(c if chr(c).isalnum() or chr(c).isspace() else 32 for c in range(256))


def _normalize_ascii(joined: str) -> str:
    data = joined.lower().encode("ascii")
    if b"'" in data:
        data = _A_APOSTROPHE.sub(rb"\1", data)
    if b"," in data or b"." in data or b"'" in data:
        data = _A_THOUSANDS.sub(rb"\1", data)
    data = data.translate(_A_PUNCT)
    data = _A_DIGIT_LETTER.sub(rb"\1 ", data)
    return _A_LETTER_DIGIT.sub(rb"\1 ", data).decode("ascii")


def _normalize_joined(joined: str) -> str:
    if joined.isascii():
        return _normalize_ascii(joined)
    joined = unicodedata.normalize("NFKC", joined).casefold()
    joined = _THOUSANDS.sub("", joined)
    joined = _INNER_APOSTROPHE.sub("", joined)
    joined = _PUNCT.sub(" ", joined)
    joined = _UNSPACED.sub(r" \1 ", joined)
    return _DIGIT_LETTER.sub(" ", joined)


def normalize_text(text: str) -> str:
    """One text, normalised (see the module docstring); words are separated by runs of whitespace."""
    return _normalize_joined(text.replace(_SEP, " "))


def normalize_texts(texts: list[str]) -> list[str]:
    """``normalize_text`` for many texts, with one pass of each step over the whole batch."""
    if not texts:
        return []
    joined = _SEP.join(texts)
    if joined.count(_SEP) != len(texts) - 1:
        return [normalize_text(t) for t in texts]
    out = _normalize_joined(joined).split(_SEP)
    if len(out) != len(texts):  # NFKC never makes the separator, but be sure the rows still line up
        return [normalize_text(t) for t in texts]
    return out


def normalized_words(texts: list[str]) -> TokenTable:
    """The word table of the normalised texts."""
    return TokenTable.from_texts(normalize_texts(texts), lower=False)


def shingle_table(words: TokenTable, scheme: str = "words_1_2") -> TokenTable:
    """The shingles per row of a (normalised) word table. ``words_1_2``: each word and each pair of
    neighbouring words; ``words_3``: 3-word shingles (the earlier scheme, for long texts only)."""
    if scheme == "words_3":
        return words.kgrams(3)
    if scheme != "words_1_2":
        raise ValueError(f"unknown shingle scheme {scheme!r}; use one of {SHINGLE_SCHEMES}")
    pairs = words.kgrams(2)
    lens1, lens2 = np.diff(words.offsets), np.diff(pairs.offsets)
    # a one-word row's only "pair" is that word again: leave it out so the row's set is just the word
    lens2 = np.where(lens1 >= 2, lens2, 0)
    if not (lens1 < 2).any():
        return _interleave(words, pairs)
    return _interleave(words, _prefixes(pairs, lens2))


def _prefixes(table: TokenTable, lens: np.ndarray) -> TokenTable:
    """The first ``lens[i]`` entries of each row."""
    offsets = np.zeros(len(lens) + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    idx = np.repeat(table.offsets[:-1] - offsets[:-1], lens) + np.arange(offsets[-1])
    return TokenTable(table.flat[idx], offsets)


def _interleave(a: TokenTable, b: TokenTable) -> TokenTable:
    """Row i of the result holds row i of ``a`` followed by row i of ``b``."""
    la, lb = np.diff(a.offsets), np.diff(b.offsets)
    offsets = np.zeros(len(la) + 1, dtype=np.int64)
    np.cumsum(la + lb, out=offsets[1:])
    flat = np.empty(offsets[-1], dtype=np.uint64)
    pos_a = np.repeat(offsets[:-1] - a.offsets[:-1], la) + np.arange(len(a.flat))
    pos_b = np.repeat(offsets[:-1] + la - b.offsets[:-1], lb) + np.arange(len(b.flat))
    flat[pos_a] = a.flat
    flat[pos_b] = b.flat
    return TokenTable(flat, offsets)
