"""Which papers of a candidate pool use which of a description's terms, and in their titles.

`term_presence` answers for a pool and a list of `evidence.Term`s without building a word index
of the pool: the pool's texts are lower-cased and joined once, the places where words start
are found with numpy, and only the words starting with the letters every variant of a term's
stem starts with ("mining" -> "min") are stemmed and compared. Answers are cached on the pool.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from digest.rank.evidence import Term, stem, words
from digest.rank.pool import CandidatePool


def term_presence(pool: CandidatePool, terms: Sequence[Term]) -> tuple[np.ndarray, np.ndarray]:
    """(terms, papers) booleans: the paper uses the term; it uses it in its title.

    Found without a word index of the pool: the words of the pool's lower-cased texts
    (joined once, `_joined`) that start with the letters every variant of a missing term's
    stem starts with (`_prefixes`), each such word stemmed (cached) and kept when its stem is
    wanted. A title is the start of its text.
    """
    missing = [t for t in terms if ("term", t.stems) not in pool._masks]
    if missing:
        body, title = _scan(pool, missing)
        for term in missing:
            pool._masks[("term", term.stems)] = (body[term.stems], title[term.stems])
    present = np.zeros((len(terms), len(pool)), dtype=bool)
    titled = np.zeros((len(terms), len(pool)), dtype=bool)
    for row, term in enumerate(terms):
        present[row], titled[row] = pool._masks[("term", term.stems)]
    titled &= present
    return present, titled


_WORD_AT = re.compile(r"[^\W_]+")
_BETWEEN_WORDS = re.compile(r"[\s\-]+")
PREFIX = 8  # at most this many first letters are looked up at word starts (see `_prefixes`)
# which latin-1 characters are word characters (the texts are read as latin-1, one byte a
# character, anything else as "?": a word starting with such a letter is never a term's)
_WORD_BYTE = np.array([chr(c).isalnum() for c in range(256)], dtype=bool)


@dataclass(frozen=True)
class _Joined:
    """The pool's texts lower-cased and joined by newlines, and where its words are."""

    text: str
    starts: np.ndarray  # each paper's first offset
    title_ends: np.ndarray  # each paper's offset just past its title
    codes: np.ndarray  # the text as latin-1 bytes (others "?"), padded with PREFIX zeros
    word_starts: np.ndarray  # offsets where a word starts
    word_ends: np.ndarray  # ... and where it ends (a letter outside latin-1 ends it here)
    first: np.ndarray  # the byte a word starts with


def _joined(pool: CandidatePool) -> _Joined:
    if ("joined",) not in pool._masks:
        lowered = [t.lower() for t in pool.texts]
        text = "\n".join(lowered)
        lengths = [0] + [len(t) + 1 for t in lowered[:-1]]
        starts = np.cumsum(lengths, dtype=np.int64) if lowered else np.zeros(0, np.int64)
        titles = np.array([len(t.lower()) for t in pool.titles], dtype=np.int64)
        raw = text.encode("latin-1", errors="replace") + bytes(PREFIX)
        codes = np.frombuffer(raw, dtype=np.uint8)
        word = np.take(_WORD_BYTE, codes)  # take: a third of the time of word_byte[codes]
        edges = np.empty_like(word)
        edges[:1] = word[:1]
        np.not_equal(word[1:], word[:-1], out=edges[1:])  # a word starts or ends here
        at = np.flatnonzero(edges)  # starts and ends alternate (the padding ends the last)
        begin, end = at[0::2], at[1::2]
        pool._masks[("joined",)] = _Joined(
            text, starts, starts + titles, codes, begin, end, codes[begin]
        )
    return pool._masks[("joined",)]


def _prefixes(terms: Sequence[Term]) -> dict[str, str]:
    """stem -> the letters every word with that stem starts with: what the description's word
    and its stem share, less the stem's last letter ("studies" -> "studi" -> "stud", which
    "study" starts with; "mining" -> "mine" -> "min", which "mined" and "mines" do). A stem's
    first four letters were not enough: "mining", "gaming" and "posing" were never found."""
    found: dict[str, str] = {}
    for term in terms:
        said = words(term.label)
        for i, term_stem in enumerate(term.stems):
            word = said[i] if len(said) == len(term.stems) else term_stem
            prefix = os.path.commonprefix([word, term_stem])[: max(1, len(term_stem) - 1)]
            if term_stem not in found or len(prefix) < len(found[term_stem]):
                found[term_stem] = prefix[:PREFIX] or term_stem[:1]
    return found


def _starting_with(joined: _Joined, prefix: str) -> np.ndarray:
    """Indexes (into `word_starts`) of the words that start with `prefix` (at most PREFIX
    letters); a prefix with a letter outside latin-1 is never there."""
    try:
        wanted = np.frombuffer(prefix[:PREFIX].encode("latin-1"), dtype=np.uint8)
    except UnicodeEncodeError:
        return np.zeros(0, dtype=np.intp)
    index = np.flatnonzero(joined.first == wanted[0])
    for k in range(1, len(wanted)):
        index = index[joined.codes[joined.word_starts[index] + k] == wanted[k]]
    return index


def _hits(joined: _Joined, prefixes: dict[str, str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(start offsets, end offsets, stems) of the words whose stem is wanted, in text order."""
    found = [_starting_with(joined, p) for p in set(prefixes.values())]
    index = np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.intp)
    big, size = joined.text, len(joined.text)
    begins, ends, stems = [], [], []
    for at, end in zip(
        joined.word_starts[index].tolist(), joined.word_ends[index].tolist(), strict=True
    ):
        if at > 0 and (big[at - 1].isalnum() or big[at - 1] == "_"):
            continue  # inside a word, after a letter outside latin-1
        if end < size and big[end].isalnum():  # the word goes on past such a letter
            end = _WORD_AT.match(big, at).end()  # type: ignore[union-attr]
        word_stem = stem(big[at:end])
        if word_stem in prefixes:
            begins.append(at)
            ends.append(end)
            stems.append(word_stem)
    return np.array(begins, dtype=np.int64), np.array(ends, dtype=np.int64), stems


def _scan(pool: CandidatePool, terms: Sequence[Term]) -> tuple[dict, dict]:
    """term stems -> papers whose text uses the term (a phrase: its two words adjacent), and
    papers whose title does."""
    joined = _joined(pool)
    n = len(joined.starts)
    found = {t.stems: np.zeros(n, dtype=bool) for t in terms}
    in_title = {t.stems: np.zeros(n, dtype=bool) for t in terms}
    begins, ends, stems = _hits(joined, _prefixes(terms))
    if not stems:
        return found, in_title
    paper = np.searchsorted(joined.starts, begins, side="right") - 1
    titled = ends <= joined.title_ends[paper]
    code = {s: i for i, s in enumerate(dict.fromkeys(stems))}
    ids = np.array([code[s] for s in stems])
    follows = paper[1:] == paper[:-1]  # hit k+1 is in the same paper as hit k
    for term in terms:
        if any(s not in code for s in term.stems):
            continue
        if not term.is_phrase:
            at = ids == code[term.stems[0]]
        else:
            first, second = (code[s] for s in term.stems)
            pairs = np.flatnonzero(follows & (ids[:-1] == first) & (ids[1:] == second))
            kept = [
                k + 1
                for k in pairs.tolist()
                if _BETWEEN_WORDS.fullmatch(joined.text, int(ends[k]), int(begins[k + 1]))
            ]
            at = np.zeros(len(ids), dtype=bool)
            at[kept] = True
        found[term.stems][paper[at]] = True
        in_title[term.stems][paper[at & titled]] = True
    return found, in_title
