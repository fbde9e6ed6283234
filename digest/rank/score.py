"""Ranking as pure functions over numpy arrays: topic scores, keyword/author matching, choosing
picks and the one-line "why" of every pick (the feedback model is `feedback`, MMR `diversity`).

Nothing here touches the store: `digest.rank.planning` gathers vectors and texts, this module
turns them into ordered `Pick`s. Scores live on one scale (roughly a cosine similarity):
a paper passes a topic when its score reaches the topic's threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from digest.models import Pick, Topic
from digest.rank.describe import DescriptionQuery, evidence_words, text_match
from digest.rank.diversity import DUPLICATE_COSINE, REDUNDANCY_FLOOR, mmr_order  # noqa: F401
from digest.rank.feedback import FEEDBACK_WEIGHT, FeedbackModel, train_feedback_model  # noqa: F401
from digest.rank.likes import (  # noqa: F401  (re-exported)
    DISLIKE_WEIGHT,
    LIKE_BASE,
    like_scores,
    liked_query,
    significant_terms,
)
from digest.rank.pool import (  # noqa: F401  (re-exported: callers use digest.rank.score.*)
    CandidatePool,
    JsonTuples,
    keyword_pattern,
    matched_authors,
    matched_keywords,
    normalize_rows,
    single_threaded_blas,
    text_words,
)
from digest.textclean import normalize_author

KEYWORD_BONUS = 0.15  # first matched include keyword
EXTRA_KEYWORD_BONUS = 0.05  # each further one
MAX_KEYWORD_BONUS = 0.3
AUTHOR_BONUS = 0.25  # a followed author wrote it
STRUCTURAL_BASE = 0.3  # keyword/author-only topics: a match starts here
MMR_POOL_FACTOR = 3  # MMR looks at this many times max_papers of the best candidates
MAX_TERMS_SHOWN = 3  # a why-line names at most this many of a description's terms


# ---------------------------------------------------------------- topics as vectors


@dataclass(frozen=True)
class TopicProfile:
    """A topic with its vectors: the description's embedding and its liked/disliked papers."""

    topic: Topic
    query_vector: np.ndarray | None = None  # embedding of the description, unit length
    # the description's terms and vectors: calibrated scores (`digest.rank.describe`);
    # without it a query_vector scores as a plain cosine
    description: DescriptionQuery | None = None
    liked_ids: tuple[str, ...] = ()
    liked_titles: tuple[str, ...] = ()
    liked_vectors: np.ndarray | None = None  # (k, d)
    disliked_vectors: np.ndarray | None = None  # (m, d)
    liked_words: tuple[frozenset[str], ...] = ()  # liked papers' words (`text_words`)
    label: str | None = None  # topic name shown on picks; "" = "papers you liked"

    @property
    def name(self) -> str:
        return self.topic.name if self.label is None else self.label

    @property
    def has_likes(self) -> bool:
        return self.liked_vectors is not None and len(self.liked_vectors) > 0

    @property
    def is_semantic(self) -> bool:
        return self.query_vector is not None or self.description is not None or self.has_likes


def check_dimensions(profile: TopicProfile, dim: int) -> None:
    """A topic whose stored vectors don't fit the pool (another model, corruption) fails alone."""
    for label, vectors in (
        ("description", profile.query_vector),
        ("liked papers", profile.liked_vectors),
        ("disliked papers", profile.disliked_vectors),
    ):
        if vectors is not None and len(vectors) and np.shape(vectors)[-1] != dim:
            raise ValueError(
                f"topic {profile.name or 'papers you liked'!r}: {label} have "
                f"{np.shape(vectors)[-1]}-dimensional vectors, the papers {dim}"
            )


def semantic_scores(pool: CandidatePool, profiles: Sequence[TopicProfile]) -> np.ndarray:
    """(topics, papers) semantic similarity, batched: one matrix product per kind of query.

    A topic with both a description and liked papers scores the better of the two; one with
    neither scores NaN (keywords/authors decide alone). A profile object listed many times
    (a curated topic shared by many subscribers) is computed once.
    """
    out = np.full((len(profiles), len(pool)), np.nan, dtype=np.float32)
    if not len(pool) or not profiles:
        return out
    first: dict[int, int] = {}
    unique: list[TopicProfile] = []
    row_of = []
    for profile in profiles:
        if id(profile) not in first:
            first[id(profile)] = len(unique)
            unique.append(profile)
        row_of.append(first[id(profile)])
    rows = np.full((len(unique), len(pool)), np.nan, dtype=np.float32)
    for i, profile in enumerate(unique):
        if profile.description is not None:
            rows[i] = text_match(pool, profile.description).score
    described = [
        (i, p.query_vector)
        for i, p in enumerate(unique)
        if p.query_vector is not None and p.description is None
    ]
    if described:
        queries = np.vstack([v for _, v in described]).astype(np.float32)
        rows[[i for i, _ in described]] = queries @ pool.vectors.T
    # a described topic's seed papers are part of its description query (`gather`)
    liked = [(i, p) for i, p in enumerate(unique) if p.has_likes and p.description is None]
    if liked:
        queries = np.vstack(
            [
                liked_query(pool, p.liked_vectors, p.disliked_vectors)
                for _, p in liked
                if p.liked_vectors is not None
            ]
        )
        at = [i for i, _ in liked]
        scores = like_scores(pool, queries, [p.liked_words for _, p in liked])
        rows[at] = np.fmax(rows[at], scores)
    out[:] = rows[row_of]
    return out


@dataclass
class TopicScores:
    """One topic's view of the pool: score per paper, and which papers it may pick at all."""

    profile: TopicProfile
    score: np.ndarray  # (n,)
    eligible: np.ndarray  # (n,) bool: category filter passed, no exclude keyword
    threshold: float
    evidence: np.ndarray | None = None  # (n,) bool: its own evidence for the topic; None = all

    @property
    def passes(self) -> np.ndarray:
        """Eligible, with its own evidence, and at or above the threshold (float32)."""
        passing = self.eligible & (self.score >= np.float32(self.threshold))
        return passing if self.evidence is None else passing & self.evidence


def score_topic(
    pool: CandidatePool, profile: TopicProfile, semantic: np.ndarray, default_threshold: float
) -> TopicScores:
    """Semantic score plus keyword and followed-author bonuses; category/exclude filters.

    Curated topics are cached per pool and profile object: one shared by many subscribers is
    scored once per candidate window.
    """
    if profile.topic.kind != "curated":
        return _score_topic(pool, profile, semantic, default_threshold)
    key = ("scored", id(profile), default_threshold)
    cached = pool._masks.get(key)
    if cached is not None and cached.profile is profile:  # the cache keeps it alive: same id
        return cached
    scored = _score_topic(pool, profile, semantic, default_threshold)
    pool._masks[key] = scored
    return scored


def _score_topic(
    pool: CandidatePool, profile: TopicProfile, semantic: np.ndarray, default_threshold: float
) -> TopicScores:
    topic = profile.topic
    n = len(pool)
    semantic_topic = profile.is_semantic  # then `semantic` has no NaN
    score = (
        np.array(semantic, dtype=np.float32) if semantic_topic else np.zeros(n, dtype=np.float32)
    )
    matched = np.zeros(n, dtype=bool)
    described = profile.description is not None  # its keywords are evidence terms, no bonus
    if topic.keywords and not described:
        hits = np.zeros(n, dtype=np.int32)
        for keyword in topic.keywords:
            hits += pool.keyword_mask(keyword)
        score += np.where(
            hits > 0,
            np.minimum(KEYWORD_BONUS + EXTRA_KEYWORD_BONUS * (hits - 1), MAX_KEYWORD_BONUS),
            0.0,
        ).astype(np.float32)
        matched |= hits > 0
    if topic.authors:
        author_hit = np.zeros(n, dtype=bool)
        for name in topic.authors:
            author_hit |= pool.author_mask(name)
        score[author_hit] += AUTHOR_BONUS
        matched |= author_hit
    if not semantic_topic:  # keyword/author-only topics: a match starts at STRUCTURAL_BASE
        score[matched] += STRUCTURAL_BASE
    eligible = np.ones(n, dtype=bool)
    if topic.categories:
        eligible &= pool.category_mask(topic.categories)
    for keyword in topic.exclude:
        eligible &= ~pool.keyword_mask(keyword)
    if topic.venues or topic.has_code:
        eligible &= pool.badge_mask(topic.venues, topic.has_code)
    threshold = default_threshold if topic.threshold is None else float(topic.threshold)
    evidence = None
    if profile.description is not None:
        text = text_match(pool, profile.description)
        evidence = text.evidence | matched  # a followed author is evidence enough
    return TopicScores(profile, score, eligible, threshold, evidence)


# ---------------------------------------------------------------- the feedback model


# ---------------------------------------------------------------- choosing and explaining


def quote(title: str, limit: int = 70) -> str:
    title = " ".join(title.split())
    if len(title) > limit:
        title = title[: limit - 1].rstrip() + "…"
    return f"“{title}”"


def explain(
    topic_name: str,
    score: float,
    keywords: Sequence[str] = (),
    authors: Sequence[str] = (),
    similar_title: str | None = None,
    from_feedback: bool = False,
    in_library: bool = False,
) -> str:
    """The one line a reader sees under a pick."""
    reasons = []
    if keywords:
        reasons.append("mentions " + ", ".join(quote(k) for k in keywords))
    if authors:
        reasons.append("by " + ", ".join(authors))
    if similar_title and in_library:
        reasons.append(f"close to {quote(similar_title)} in your library")
    elif similar_title:
        phrase = "close to a paper you liked, " if from_feedback else "close to "
        reasons.append(phrase + quote(similar_title))
    head = topic_name or "Picked for you"
    body = (
        "; ".join(reasons)
        if reasons
        else "close in meaning only: it uses none of the topic's words"
    )
    return f"{head}: {body} (score {score:.2f})"


def best_topics(
    pool: CandidatePool,
    topic_scores: Sequence[TopicScores],
    extra: np.ndarray | None = None,
    blocked: np.ndarray | None = None,
    boost: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per paper: (total score, index of the topic it is best for, passes that topic's threshold).

    `extra` (the reader's feedback model) adds to every topic's score; `boost` (the
    community's interest) is added to the total that orders papers but never lifts one over a
    threshold, so what passes a topic is the same in the email, `topics test` and the
    archive; `blocked` papers
    (already sent, liked, seeds) never pass.
    """
    n = len(pool)
    if not topic_scores or n == 0:
        return np.zeros(n, np.float32), np.zeros(n, np.int64), np.zeros(n, bool)
    scores = np.vstack([ts.score for ts in topic_scores])
    if extra is not None:
        scores = scores + extra
    eligible = np.vstack([ts.eligible for ts in topic_scores])
    evidence = np.vstack(
        [np.ones(n, bool) if ts.evidence is None else ts.evidence for ts in topic_scores]
    )
    thresholds = np.array([ts.threshold for ts in topic_scores], dtype=np.float32)[:, None]
    margin = np.where(eligible, scores - thresholds, -np.inf)
    passing = (margin >= 0) & evidence
    # Prefer a topic the paper passes, then the highest score; ties go to the earlier topic.
    key = np.where(passing, scores, np.where(eligible, scores - 10.0, -np.inf))
    best = np.argmax(key, axis=0)
    total = scores[best, np.arange(n)]
    if boost is not None:
        total = total + boost
    passed = passing[best, np.arange(n)]
    if blocked is not None:
        passed &= ~blocked
    return total.astype(np.float32), best, passed


def choose(
    pool: CandidatePool, total: np.ndarray, passed: np.ndarray, limit: int, diversity_lambda: float
) -> list[int]:
    """Passing papers, best first (ties by id), diversified by MMR, at most `limit`."""
    indices = np.flatnonzero(passed)
    if not len(indices) or limit <= 0:
        return []
    ids = np.array(pool.ids, dtype=object)[indices]
    order = indices[np.lexsort((ids, -total[indices]))]
    shortlist = order[: max(limit * MMR_POOL_FACTOR, limit)]
    return mmr_order(shortlist, total, pool.vectors, limit, diversity_lambda, pool.centered)


def make_pick(pool: CandidatePool, index: int, score: float, profile: TopicProfile) -> Pick:
    """Explain one chosen paper: keywords and authors it matched, the liked paper it is near."""
    topic = profile.topic
    if profile.description is not None:  # the paper's own words for the topic's terms
        keywords = evidence_words(
            pool, index, profile.description, topic.keywords, limit=MAX_TERMS_SHOWN
        )
    else:
        keywords = tuple(k for k in topic.keywords if pool.keyword_mask(k)[index])
    authors = tuple(a for a in topic.authors if normalize_author(a) in pool.author_keys(index))
    similar_id = similar_title = None
    if profile.has_likes:
        sims = profile.liked_vectors @ pool.vectors[index]
        nearest = int(np.argmax(sims))
        similar_id = profile.liked_ids[nearest] if profile.liked_ids else None
        if profile.liked_titles and (profile.query_vector is None or not (keywords or authors)):
            similar_title = profile.liked_titles[nearest]
    name = profile.name
    library = topic.kind == "library"
    why = explain(name, score, keywords, authors, similar_title, name == "", in_library=library)
    return Pick(
        paper_id=pool.ids[index],
        score=round(float(score), 4),
        topic=name,
        why=why,
        matched_keywords=keywords,
        matched_authors=authors,
        similar_to=similar_id,
    )


def rank_pool(
    pool: CandidatePool,
    profiles: Sequence[TopicProfile],
    *,
    max_papers: int,
    default_threshold: float,
    diversity_lambda: float,
    semantic: np.ndarray | None = None,
    extra: np.ndarray | None = None,
    blocked: np.ndarray | None = None,
    boost: np.ndarray | None = None,
) -> list[Pick]:
    """The whole choice for one reader: score every topic, pick, diversify, explain."""
    if not len(pool) or not profiles:
        return []
    if semantic is None:
        semantic = semantic_scores(pool, profiles)
    topic_scores = [
        score_topic(pool, p, semantic[i], default_threshold) for i, p in enumerate(profiles)
    ]
    seeds = {
        pid for p in profiles for pid in (*p.liked_ids, *p.topic.seed_ids, *p.topic.dislike_ids)
    }
    if seeds:
        is_seed = pool.id_mask(seeds)
        blocked = is_seed if blocked is None else (blocked | is_seed)
    total, best, passed = best_topics(pool, topic_scores, extra, blocked, boost)
    chosen = choose(pool, total, passed, max_papers, diversity_lambda)
    return [make_pick(pool, i, float(total[i]), profiles[int(best[i])]) for i in chosen]
