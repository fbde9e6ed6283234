"""Topics described in words: calibrated scores from two kinds of evidence, and the rule that a
paper passes a topic only on its own evidence for it.

A description is matched two ways:

* semantic: the mean cosine of the paper to the description's embedding and to each of its
  list items ("facets", `evidence.description_facets`), so a paper about one item of a long
  list is not diluted by the others;
* lexical: the description's salient words and two-word phrases (and the topic's keywords,
  counted double), matched by stem ("robots" and "robotic" are "robot"), each weighted by its
  inverse document frequency among the day's papers, a phrase half as much again (its two
  words in order say more than either: "motion planning", "speech recognition"), a mention in
  the title counting twice.

Both are standardised over the paper's **calibration window** (the CALIBRATION_DAYS ending on
its announcement day; while those hold fewer than MIN_CALIBRATION papers, the nearest stored
days around it, earlier ones first) and added, the lexical half at LEXICAL_WEIGHT; the sum is
standardised again against the window's papers without evidence for the topic (their mean;
the spread within that group and the rest) and put on the ranking scale as
CAL_BASE + CAL_SCALE * z. So a threshold means the same for every topic: the default 0.35 is
three standard deviations above the window's typical paper, whether the description is broad
or narrow. A paper's score depends only on the topic, the paper and its window: a week's pool,
a day's pool and the replay of one day give it the same number. A window of a thousand papers
keeps a day's statistics steady; with 200, the first days of an archive were each measured on
a different handful of days, and a week's ranking mixed their scales.

A paper has **its own evidence** for the topic when both halves, each on its own, stand at
least EVIDENCE_Z above its day and it uses a salient term (one used by at most SALIENT_SHARE
of the window's papers, or the description's rarest one, or a curator's keyword): it is close
in meaning *and* uses the topic's telling words. Only such
papers pass. A paper that is merely "AI-ish" is near every AI description but uses none of
their salient words, so it no longer spills into every topic.
"""

from __future__ import annotations

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
from digest.rank.terms import term_presence

CAL_BASE = 0.2  # calibrated score of a paper at its day's mean
CAL_SCALE = 0.05  # per standard deviation: 0.35 (the default threshold) is z = 3
LEXICAL_WEIGHT = 0.25  # the words' z-score, relative to the meaning's (see docs/ranking.md)
TITLE_BONUS = 1.0  # a term in the title counts this much more
EVIDENCE_Z = 1.5  # each kind of evidence must reach this on its own for a paper to pass
CALIBRATION_DAYS = 7  # a day's statistics come from the week of listings ending on it
BACKGROUND = True
MIN_CALIBRATION = 1000  # papers; a quieter week reaches further back
SALIENT_SHARE = 0.05  # a salient term is used by at most this share of the window's papers
PHRASE_WEIGHT = 1.5  # a two-word phrase of the description, found in order, counts this much more
TELLING = float(np.log1p(3.0))  # rarity of a term a quarter of the papers use (why-lines)


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
    phrase_boost = np.array([PHRASE_WEIGHT if t.is_phrase else 1.0 for t in query.terms])
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
        idf = np.log1p((total - df + 0.5) / (df + 0.5)) * weights * phrase_boost
        lexical = idf @ (hits + TITLE_BONUS * in_title)
        sem_z, lex_z = _z(sem), _z(lexical)
        rare = (df <= salient_cut(df, total)) | (weights > 1.0)  # a curator's keyword is salient
        has_salient = hits[rare].any(axis=0)
        evident = (sem_z >= EVIDENCE_Z) & (lex_z >= EVIDENCE_Z) & has_salient
        # standardised against the window's papers WITHOUT evidence for the topic (its
        # background), in units of the spread within each group, so a topic that is a tenth
        # of its week is neither squeezed by its own papers (the whole window's spread grows
        # with them: "LLM agents" passed 15 papers of the demo week instead of 52) nor judged
        # on a background whose top was cut off (the background's own spread shrinks)
        fused = _z(sem_z + LEXICAL_WEIGHT * lex_z, background=~evident if BACKGROUND else None)
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


def _z(values: np.ndarray, background: np.ndarray | None = None) -> np.ndarray:
    """Standard scores. With a `background` mask: centred on the background's mean, in units
    of the pooled spread within the two groups (background, the rest), the way a
    discriminant measures distance; all values as one group when either has fewer than two."""
    if len(values) < 2:
        return np.zeros_like(values, dtype=np.float64)
    centre, spread = float(values.mean()), float(values.std())
    marked = int(np.count_nonzero(background)) if background is not None else 0
    if background is not None and 2 <= marked <= len(values) - 2:
        inside, rest = values[background], values[~background]
        centre = float(inside.mean())
        spread = float(np.sqrt((len(inside) * inside.var() + len(rest) * rest.var()) / len(values)))
    if spread < 1e-9:
        return np.zeros_like(values, dtype=np.float64)
    return (values - centre) / spread


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
    wrote them), then the description's terms in the paper's own words: salient ones first,
    then others that a quarter of the papers or fewer use, rarest first; the commonest
    ("models") only when nothing else is there. ("LLM", a keyword's word, used to be named
    alone though the paper also said "multi-agent" and "collaborative".)"""
    said = [k for k in keywords if pool.keyword_mask(k)[index]]
    rarity, salient = _term_rarity(pool, query)
    found = [
        (t, w)
        for t, w in matched_terms(pool.texts[index], query.terms, rarity)
        if not set(words(t.label)) <= SAYS_NOTHING
    ]
    rare = [w for t, w in found if t.stems in salient]
    telling = [w for t, w in found if t.stems not in salient and rarity[t.stems] >= TELLING]
    common = [w for t, w in found if t.stems not in salient and rarity[t.stems] < TELLING]
    for phrase in (rare + telling) or common:
        if not any(_overlaps(phrase, k) for k in said):
            said.append(phrase)
    return tuple(said[:limit])


def _term_rarity(
    pool: CandidatePool, query: DescriptionQuery
) -> tuple[dict[tuple[str, ...], float], set[tuple[str, ...]]]:
    """How rare each of the query's terms is in the pool (log odds of a paper not using it),
    and which are salient (`salient_cut`, or a curator's keyword); once per pool and query."""
    key = ("rarity", id(query))
    cached = pool._masks.get(key)
    if cached is not None and cached[0] is query:
        return cached[1]
    present, _ = term_presence(pool, query.terms)
    n = max(len(pool), 1)
    used = present.sum(axis=1)
    rarity = {
        t.stems: float(np.log1p((1.0 - f) / max(f, 1.0 / n)))
        for t, f in zip(query.terms, used / n, strict=True)
    }
    cut = salient_cut(used, n)
    salient = {t.stems for t, k in zip(query.terms, used, strict=True) if k <= cut or t.weight > 1}
    pool._masks[key] = (query, (rarity, salient))
    return rarity, salient


def _overlaps(first: str, second: str) -> bool:
    """They share a word ("LLM-agents" and "LLM agent"; "real transfer" and "sim-to-real")."""
    a, b = ({stem(w) for w in words(x) if is_content_word(w)} for x in (first, second))
    return bool(a & b)
