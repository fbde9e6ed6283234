"""Gathering what ranking reads from the store: the candidate pool of a window (with the
earlier papers that complete a small day's calibration) and topics as profiles with their
vectors (description, facets, seed and disliked papers).

Split from `digest.rank.planning`, which re-exports these names.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np

from digest.config import Config
from digest.models import Topic
from digest.rank import score as rank
from digest.rank.describe import (
    CALIBRATION_DAYS,
    MIN_CALIBRATION,
    DescriptionQuery,
    set_reference,
)
from digest.rank.evidence import description_facets
from digest.store import papers as paper_store
from digest.store import ranking as rank_store
from digest.store.summaries import badges_for


def load_pool(
    db,
    config: Config,
    since: date | None,
    until: date | None,
    announce_types: Sequence[str] | None = None,
) -> rank.CandidatePool:
    """Stored papers announced in [since, until] that have a vector (all when both None),
    with the earlier papers that complete a small day's calibration sample."""
    pool = _pool_of(db, _candidates(db, config, since, until, announce_types))
    if pool.days is not None and len(pool):
        attach_reference(db, config, pool, announce_types)
    return pool


def _candidates(
    db, config: Config, since: date | None, until: date | None, announce_types
) -> tuple[list[tuple], np.ndarray]:
    return rank_store.candidate_rows_with_vectors(
        db, since, until, announce_types, config.embedding.model
    )


def _pool_of(db, found: tuple[list[tuple], np.ndarray | None]) -> rank.CandidatePool:
    rows, vectors = found
    if not rows or vectors is None:
        return rank.CandidatePool.build([], [], [], [], [], np.zeros((0, 384), np.float32))
    ids, titles, abstracts, authors, categories, days = (list(c) for c in zip(*rows, strict=True))
    return rank.CandidatePool.build(
        ids,
        titles,
        abstracts,
        rank.JsonTuples(authors),
        rank.JsonTuples(categories),
        vectors,
        days=[d or "" for d in days],
        badges=badges_for(db, ids),
    )


def attach_reference(
    db, config: Config, pool: rank.CandidatePool, announce_types: Sequence[str] | None
) -> None:
    """Find each pool day's calibration window (the CALIBRATION_DAYS ending on it; when that
    holds fewer than MIN_CALIBRATION stored papers, the nearest stored days around it, earlier
    ones first) and load the stored papers of those windows that lie outside the pool, so a
    description scores a paper the same whatever span the pool covers."""
    days = sorted({d for d in pool.days or () if d})
    if not days:
        return
    first, last = date.fromisoformat(days[0]), date.fromisoformat(days[-1])
    span = timedelta(days=CALIBRATION_DAYS - 1)
    counts = rank_store.announced_counts(db, announce_types, first - span, last)
    ends = [date.fromisoformat(day) for day in days]
    if any(_papers_in(counts, end - span, end) < MIN_CALIBRATION for end in ends):
        counts = rank_store.announced_counts(db, announce_types)  # a quiet week reaches further
    windows = {
        day: calibration_window(counts, date.fromisoformat(day), CALIBRATION_DAYS, MIN_CALIBRATION)
        for day in days
    }
    parts: list[tuple[list[tuple], np.ndarray]] = []
    earliest = min(w[0] for w in windows.values())
    latest = max(w[1] for w in windows.values())
    stored = {d.isoformat() for d, _ in counts}
    try:
        if any(earliest <= d < days[0] for d in stored):  # no query for days nothing was sent
            before = first - timedelta(days=1)
            since = date.fromisoformat(earliest)
            parts.append(_candidates(db, config, since, before, announce_types))
        if any(days[-1] < d <= latest for d in stored):
            after = last + timedelta(days=1)
            until = date.fromisoformat(latest)
            parts.append(_candidates(db, config, after, until, announce_types))
        parts = [p for p in parts if p[0]]
        rows = [r for p in parts for r in p[0]]
        reference = _pool_of(db, (rows, np.vstack([p[1] for p in parts]) if parts else None))
    except ValueError:  # a stored vector of another size: calibrate on the pool's own days
        reference = _pool_of(db, ([], None))
    set_reference(pool, reference, windows)


def calibration_window(
    counts: Sequence[tuple[date, int]], day: date, span_days: int, min_papers: int
) -> tuple[str, str]:
    """(first day, last day), ISO, of `day`'s calibration window: the `span_days` calendar days
    ending on it; while those hold fewer than `min_papers` stored papers, the shortest run of
    stored days around it that does (the days before it first, nearest first, then the days
    after it), or every stored day when fewer exist. `counts`: (day, papers), oldest first."""
    low = day - timedelta(days=span_days - 1)
    if _papers_in(counts, low, day) >= min_papers:
        return low.isoformat(), day.isoformat()
    total = sum(n for d, n in counts if d == day)
    first = last = day
    for d, n in reversed([c for c in counts if c[0] < day]):
        if total >= min_papers:
            break
        total, first = total + n, d
    for d, n in [c for c in counts if c[0] > day]:
        if total >= min_papers:
            break
        total, last = total + n, d
    return min(low, first).isoformat(), last.isoformat()


def _papers_in(counts: Sequence[tuple[date, int]], low: date, high: date) -> int:
    return sum(n for d, n in counts if low <= d <= high)


def text_vector(db, config: Config, text: str) -> np.ndarray:
    """Embedding of a topic's description, cached in the embeddings table by its text hash."""
    key = "q:" + hashlib.sha256(text.strip().encode()).hexdigest()[:30]
    cached = rank_store.cached_text_vector(db, config.embedding.model, key)
    if cached is not None:
        return cached
    from digest.embed.encoder import encode_query  # loads the model only when a new text needs it

    vector = encode_query(text.strip(), config.embedding)
    paper_store.save_embeddings(db, config.embedding.model, [key], vector[None, :])
    return vector


def build_profile(
    db, config: Config, topic: Topic, extra_liked: Sequence[str] = (), label: str | None = None
) -> rank.TopicProfile:
    """A topic with its vectors: description embedding, seed/liked and disliked papers."""
    liked_ids = list(dict.fromkeys([*topic.seed_ids, *extra_liked]))
    model = config.embedding.model
    found, liked = paper_store.load_vectors(db, model, liked_ids) if liked_ids else ([], None)
    titles = rank_store.paper_text_rows(db, found) if found else {}
    _, disliked = (
        paper_store.load_vectors(db, model, list(topic.dislike_ids))
        if topic.dislike_ids
        else ([], None)
    )
    query = description = None
    if topic.description.strip():
        query = text_vector(db, config, topic.description)
        facets = [text_vector(db, config, f) for f in description_facets(topic.description)]
        # seed (and lab-liked/disliked) papers are one more view of the topic's meaning, so a
        # described topic is calibrated and held to the evidence rule whatever its seeds
        examples = _examples(liked if found else None, disliked)
        description = DescriptionQuery.build(
            topic.description, np.vstack([query, *facets, *examples]), topic.keywords
        )
    return rank.TopicProfile(
        topic=topic,
        query_vector=query,
        description=description,
        liked_ids=tuple(found),
        liked_titles=tuple(titles[i]["title"] for i in found),
        liked_vectors=liked if found else None,
        disliked_vectors=disliked if disliked is not None and len(disliked) else None,
        liked_words=tuple(
            rank.text_words(f"{titles[i]['title']}\n{titles[i]['abstract']}") for i in found
        ),
        label=label,
    )


def _examples(liked: np.ndarray | None, disliked: np.ndarray | None) -> list[np.ndarray]:
    """The seed papers as one unit vector (their mean, disliked papers pushed away at
    DISLIKE_WEIGHT), or nothing."""
    if liked is None or not len(liked):
        return []
    example = np.asarray(liked, dtype=np.float32).mean(axis=0)
    if disliked is not None and len(disliked):
        example = example - rank.DISLIKE_WEIGHT * np.asarray(disliked).mean(axis=0)
    return [rank.normalize_rows(example)]
