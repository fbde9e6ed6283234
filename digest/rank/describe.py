"""Topics described in words: calibrated scores from two kinds of evidence, and the rule that a
paper passes a topic only on its own evidence for it.

A description is matched two ways:

* semantic: the mean cosine of the paper to the description's embedding and to each of its
  list items ("facets", `evidence.description_facets`), so a paper about one item of a long
  list is not diluted by the others;
* lexical: the description's salient words and two-word phrases (and the topic's keywords,
  counted double), matched by stem ("robots" and "robotic" are "robot"), each weighted by its
  inverse document frequency among the day's papers, a mention in the title counting twice.

Both are standardised over the paper's **announcement day** (a day of fewer than
MIN_CALIBRATION papers is completed with the stored days before it) and added, the lexical
half at LEXICAL_WEIGHT; the sum is standardised again (centred on the window's papers
without evidence for the topic, spread from all of them) and put on the ranking scale as
CAL_BASE + CAL_SCALE * z. So a threshold means the same for every topic: the default 0.35 is
three standard deviations above the day's typical paper, whether the description is broad or
narrow. A paper's score depends only on the topic, the paper and its day: a week's pool, a
day's pool and the replay of one day give it the same number.

A paper has **its own evidence** for the topic when both halves, each on its own, stand at
least EVIDENCE_Z above its day and it uses a salient term (one used by at most SALIENT_SHARE
of the window's papers, or the description's rarest one, or a curator's keyword): it is close
in meaning *and* uses the topic's telling words. Only such
papers pass. A paper that is merely "AI-ish" is near every AI description but uses none of
their salient words, so it no longer spills into every topic.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from digest.rank.evidence import (
    SAYS_NOTHING,
    Term,
    description_terms,
    is_content_word,
    matched_terms,
    stem,
    words,
)
from digest.rank.pool import CandidatePool

CAL_BASE = 0.2  # calibrated score of a paper at its day's mean
CAL_SCALE = 0.05  # per standard deviation: 0.35 (the default threshold) is z = 3
LEXICAL_WEIGHT = 0.25  # the words' z-score, relative to the meaning's (see docs/ranking.md)
TITLE_BONUS = 1.0  # a term in the title counts this much more
EVIDENCE_Z = 1.5  # each kind of evidence must reach this on its own for a paper to pass
CALIBRATION_DAYS = 7  # a day's statistics come from the week of listings ending on it
BACKGROUND = True
MIN_CALIBRATION = 200  # papers; a quieter week reaches further back
SALIENT_SHARE = 0.05  # a salient term is used by at most this share of the window's papers


@dataclass(frozen=True)
class DescriptionQuery:
    """A description ready to match: its terms, and its vectors (the whole text first, then
    each facet), unit rows."""

    text: str
    terms: tuple[Term, ...]
    vectors: np.ndarray  # (1 + facets, d)

    @classmethod
    def build(
        cls, text: str, vectors: np.ndarray, keywords: Sequence[str] = ()
    ) -> DescriptionQuery:
        return cls(text, description_terms(text, keywords), np.atleast_2d(vectors))


@dataclass(frozen=True)
class TextMatch:
    """One description's view of a pool, per paper."""

    score: np.ndarray  # calibrated, on the ranking scale
    semantic_z: np.ndarray
    lexical_z: np.ndarray
    evidence: np.ndarray  # bool: both kinds of evidence reach EVIDENCE_Z


def text_match(pool: CandidatePool, query: DescriptionQuery) -> TextMatch:
    """The calibrated match of every pool paper (cached per pool and query object)."""
    key = ("describe", id(query))
    cached = pool._masks.get(key)
    if cached is not None and cached[0] is query:  # the cache keeps it alive: same id
        return cached[1]
    match = _match(pool, query)
    pool._masks[key] = (query, match)
    return match


def _match(pool: CandidatePool, query: DescriptionQuery) -> TextMatch:
    n = len(pool)
    semantic = _semantic(pool, query)
    present, titled = term_presence(pool, query.terms)
    weights = np.array([t.weight for t in query.terms], dtype=np.float64)
    ref = pool.reference
    if ref is not None and len(ref):
        ref_semantic = _semantic(ref, query)
        ref_present, ref_titled = term_presence(ref, query.terms)
    out = np.zeros((3, n))  # fused z, semantic z, lexical z
    salient = np.zeros(n, dtype=bool)
    for members, window, extra in calibration_groups(pool):
        sem = semantic[window]
        hits, in_title = present[:, window], titled[:, window]
        if len(extra) and ref is not None:
            sem = np.concatenate([sem, ref_semantic[extra]])
            hits = np.hstack([hits, ref_present[:, extra]])
            in_title = np.hstack([in_title, ref_titled[:, extra]])
        total = hits.shape[1]
        df = hits.sum(axis=1)
        idf = np.log1p((total - df + 0.5) / (df + 0.5)) * weights
        lexical = idf @ (hits + TITLE_BONUS * in_title)
        sem_z, lex_z = _z(sem), _z(lexical)
        rare = (df <= salient_cut(df, total)) | (weights > 1.0)  # a curator's keyword is salient
        has_salient = hits[rare].any(axis=0)
        evident = (sem_z >= EVIDENCE_Z) & (lex_z >= EVIDENCE_Z) & has_salient
        # centred on the window's papers WITHOUT evidence for the topic (its background), so a
        # topic that is a tenth of this week is not squeezed by its own papers; the spread is
        # the whole window's, which a handful of papers more or less barely moves (taken from
        # the background alone it swung from day to day and unsettled a week's ranking)
        fused = _z(sem_z + LEXICAL_WEIGHT * lex_z, centre_on=~evident if BACKGROUND else None)
        at = np.searchsorted(window, members)  # the members' places in the window
        out[:, members] = fused[at], sem_z[at], lex_z[at]
        salient[members] = has_salient[at]
    score = (CAL_BASE + CAL_SCALE * out[0]).astype(np.float32)
    evidence = (out[1] >= EVIDENCE_Z) & (out[2] >= EVIDENCE_Z) & salient
    return TextMatch(score, out[1], out[2], evidence)


def salient_cut(df: np.ndarray, total: int) -> float:
    """Most papers a salient term may be used by: SALIENT_SHARE of them, or as many as use the
    description's rarest term when none is that rare ("agents" alone, on a day of agents)."""
    used = df[df > 0]
    rarest = float(used.min()) if len(used) else 0.0
    return max(SALIENT_SHARE * total, rarest)


def _semantic(pool: CandidatePool, query: DescriptionQuery) -> np.ndarray:
    if not len(pool):
        return np.zeros(0)
    return (query.vectors.astype(np.float32) @ pool.vectors.T).mean(axis=0).astype(np.float64)


def _z(values: np.ndarray, centre_on: np.ndarray | None = None) -> np.ndarray:
    """Standard scores; with a `centre_on` mask the mean comes from those values only (all of
    them when fewer than two are marked), the spread always from all."""
    if len(values) < 2:
        return np.zeros_like(values, dtype=np.float64)
    sd = float(values.std())
    if sd < 1e-9:
        return np.zeros_like(values, dtype=np.float64)
    centre = values
    if centre_on is not None and int(np.count_nonzero(centre_on)) >= 2:
        centre = values[centre_on]
    return (values - centre.mean()) / sd


def calibration_groups(pool: CandidatePool) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per announcement day of the pool: (its papers, the pool papers of its calibration
    window, the reference papers of that window), all as sorted index arrays.

    A day's window is the CALIBRATION_DAYS calendar days ending on it, or, when that holds
    fewer than MIN_CALIBRATION papers, the nearest stored days around it, earlier ones first
    (`set_reference` says which). It depends on the stored papers, never on the pool's span.
    """
    cached = pool._masks.get(("days",))
    if cached is not None:
        return cached
    n = len(pool)
    none = np.zeros(0, dtype=np.intp)
    if pool.days is None or not n:
        groups = [(np.arange(n), np.arange(n), none)] if n else []
        pool._masks[("days",)] = groups
        return groups
    days = np.array(pool.days, dtype=object)
    windows = pool._masks.get(("windows",), {})
    ref_days = np.array(pool.reference.days or [], dtype=object) if pool.reference else None
    groups = []
    for day in sorted(set(pool.days)):
        low, high = windows.get(day, (_days_before(day, CALIBRATION_DAYS - 1), day))
        members = np.flatnonzero(days == day)
        window = np.flatnonzero((days >= low) & (days <= high))
        extra = none
        if ref_days is not None and len(ref_days):
            extra = np.flatnonzero((ref_days >= low) & (ref_days <= high))
        groups.append((members, window, extra))
    pool._masks[("days",)] = groups
    return groups


def _days_before(day: str, count: int) -> str:
    from datetime import date, timedelta

    if not day:
        return day
    return (date.fromisoformat(day) - timedelta(days=count)).isoformat()


def set_reference(
    pool: CandidatePool, reference: CandidatePool, windows: dict[str, tuple[str, str]]
) -> None:
    """Attach the stored papers outside the pool that fall in its days' calibration windows;
    `windows[day]` = (first day, last day) of that day's window, ISO."""
    pool.reference = reference
    pool._masks[("windows",)] = dict(windows)
    pool._masks.pop(("days",), None)


def evidence_words(
    pool: CandidatePool,
    index: int,
    query: DescriptionQuery,
    keywords: Sequence[str] = (),
    limit: int = 3,
) -> tuple[str, ...]:
    """What a why-line names for one paper: the curator's keywords it uses (as the curator
    wrote them), then the description's terms in the paper's own words, rarest first; common
    terms only when no rare one is there."""
    said = [k for k in keywords if pool.keyword_mask(k)[index]]
    present, _ = term_presence(pool, query.terms)
    share = present.sum(axis=1) / max(len(pool), 1)
    rarity = {
        t.stems: float(np.log1p((1.0 - f) / max(f, 1.0 / max(len(pool), 1))))
        for t, f in zip(query.terms, share, strict=True)
    }
    used = present.sum(axis=1)
    cut = salient_cut(used, max(len(pool), 1))
    salient = {t.stems for t, n in zip(query.terms, used, strict=True) if n <= cut or t.weight > 1}
    found = [
        (t, w)
        for t, w in matched_terms(pool.texts[index], query.terms, rarity)
        if not set(words(t.label)) <= SAYS_NOTHING
    ]
    rare = [w for t, w in found if t.stems in salient]
    common = [w for t, w in found if t.stems not in salient]
    for phrase in rare or common:
        if not any(_overlaps(phrase, k) for k in said):
            said.append(phrase)
    return tuple(said[:limit])


def _overlaps(first: str, second: str) -> bool:
    """They share a word ("LLM-agents" and "LLM agent"; "real transfer" and "sim-to-real")."""
    a, b = ({stem(w) for w in words(x) if is_content_word(w)} for x in (first, second))
    return bool(a & b)


# ---------------------------------------------------------------- terms in a pool


def term_presence(pool: CandidatePool, terms: Sequence[Term]) -> tuple[np.ndarray, np.ndarray]:
    """(terms, papers) booleans: the paper uses the term; it uses it in its title.

    Found without a word index of the pool: the word starts of the pool's lower-cased texts
    (joined once, `_word_starts`) whose first letters are those of a missing term's stem, that
    word stemmed (cached) and kept when its stem is wanted. A title is the start of its text.
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
    """The pool's texts lower-cased and joined by newlines, and where words start in it."""

    text: str
    starts: np.ndarray  # each paper's first offset
    title_ends: np.ndarray  # each paper's offset just past its title
    codes: np.ndarray  # the text as latin-1 bytes (others "?"), padded with PREFIX zeros
    word_starts: np.ndarray  # offsets where a word starts
    first: np.ndarray  # the byte there


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
        begins = np.empty_like(word)
        begins[:1] = word[:1]
        np.greater(word[1:], word[:-1], out=begins[1:])  # a word character after another
        at = np.flatnonzero(begins)
        pool._masks[("joined",)] = _Joined(text, starts, starts + titles, codes, at, codes[at])
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


def _starting_with(joined: _Joined, prefix: str) -> list[int]:
    """Offsets of the words that start with `prefix` (at most PREFIX letters)."""
    try:
        wanted = np.frombuffer(prefix[:PREFIX].encode("latin-1"), dtype=np.uint8)
    except UnicodeEncodeError:  # not one byte a letter: look for it the slow way
        found, at = [], joined.text.find(prefix)
        while at != -1:
            if at == 0 or not joined.text[at - 1].isalnum():
                found.append(at)
            at = joined.text.find(prefix, at + 1)
        return found
    at = joined.word_starts[joined.first == wanted[0]]
    for k in range(1, len(wanted)):
        at = at[joined.codes[at + k] == wanted[k]]
    return at.tolist()


def _scan(pool: CandidatePool, terms: Sequence[Term]) -> tuple[dict, dict]:
    """term stems -> papers whose text uses the term (a phrase: its two words adjacent), and
    papers whose title does."""
    joined = _joined(pool)
    big, starts = joined.text, joined.starts
    prefixes = _prefixes(terms)
    wanted = set(prefixes)
    found = {t.stems: np.zeros(len(starts), dtype=bool) for t in terms}
    in_title = {t.stems: np.zeros(len(starts), dtype=bool) for t in terms}
    hits: dict[int, tuple[int, str]] = {}  # start offset -> (end offset, stem)
    for prefix in set(prefixes.values()):
        for at in _starting_with(joined, prefix):
            if at in hits or at > 0 and (big[at - 1].isalnum() or big[at - 1] == "_"):
                continue  # inside a word (after a letter that is not latin-1)
            word = _WORD_AT.match(big, at)
            if word is not None:
                word_stem = stem(word.group(0))
                if word_stem in wanted:
                    hits[at] = (word.end(), word_stem)
    previous: tuple[int, int, str] | None = None  # (paper, end, stem) of the last hit
    for at in sorted(hits):
        end, word_stem = hits[at]
        paper = int(np.searchsorted(starts, at, side="right")) - 1
        titled = end <= joined.title_ends[paper]
        if (word_stem,) in found:
            found[(word_stem,)][paper] = True
            in_title[(word_stem,)][paper] |= titled
        if previous is not None and previous[0] == paper:
            pair = (previous[2], word_stem)
            if pair in found and _BETWEEN_WORDS.fullmatch(big, previous[1], at):
                found[pair][paper] = True
                in_title[pair][paper] |= titled
        previous = (paper, end, word_stem)
    return found, in_title
