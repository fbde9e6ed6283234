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
from digest.rank.describe import MIN_CALIBRATION, DescriptionQuery, set_reference
from digest.rank.evidence import description_facets
from digest.store import papers as paper_store
from digest.store import ranking as rank_store


def load_pool(
    db,
    config: Config,
    since: date | None,
    until: date | None,
    announce_types: Sequence[str] | None = None,
) -> rank.CandidatePool:
    """Stored papers announced in [since, until] that have a vector (all when both None),
    with the earlier papers that complete a small day's calibration sample."""
    pool = _pool_of(db, config, rank_store.candidate_rows(db, since, until, announce_types))
    if pool.days is not None and len(pool):
        attach_reference(db, config, pool, announce_types)
    return pool


def _pool_of(db, config: Config, rows: list[dict]) -> rank.CandidatePool:
    ids, vectors = paper_store.load_vectors(db, config.embedding.model, [r["id"] for r in rows])
    by_id = {r["id"]: r for r in rows}
    kept = [by_id[i] for i in ids]
    if not kept:
        vectors = np.zeros((0, 384), dtype=np.float32)
    days = [r["announced"] or "" for r in kept]
    return rank.CandidatePool.build(
        ids,
        [r["title"] for r in kept],
        [r["abstract"] for r in kept],
        [r["authors"] for r in kept],
        [r["categories"] for r in kept],
        vectors,
        days=days,
    )


def attach_reference(
    db, config: Config, pool: rank.CandidatePool, announce_types: Sequence[str] | None
) -> None:
    """Complete each day of fewer than MIN_CALIBRATION papers with the stored days before it
    (whole days, nearest first), so its description scores are standardised on enough papers
    and are the same whatever window the pool spans."""
    counts: dict[str, int] = {}
    for day in pool.days or ():
        counts[day] = counts.get(day, 0) + 1
    windows: dict[str, tuple[date, date]] = {}
    for day, count in counts.items():
        if count >= MIN_CALIBRATION or not day:
            continue
        start = rank_store.earlier_days(
            db, date.fromisoformat(day), announce_types, MIN_CALIBRATION - count
        )
        if start is not None:
            windows[day] = (start[0], date.fromisoformat(day) - timedelta(days=1))
    if not windows:
        return
    since = min(w[0] for w in windows.values())
    until = max(w[1] for w in windows.values())
    reference = _pool_of(db, config, rank_store.candidate_rows(db, since, until, announce_types))
    extends = {
        day: [
            i
            for i, ref_day in enumerate(reference.days or ())
            if lo.isoformat() <= ref_day <= hi.isoformat()
        ]
        for day, (lo, hi) in windows.items()
    }
    set_reference(pool, reference, extends)


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
        description = DescriptionQuery.build(
            topic.description, np.vstack([query, *facets]), topic.keywords
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
