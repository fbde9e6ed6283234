"""Curated-topic matches for every announcement day, whether or not anyone was mailed that day.

One function decides what passes a curated topic on a day (`day_matches`): the site's topic
pages, the stats and `digest topics test` all read its answer, so their counts agree. The
stored matches of a day carry a signature of the curated topics they were computed with;
`refresh_topic_matches` (run by the pipeline after embedding, and when planning)
recomputes only the days whose signature is not the current one.

A paper passes a topic on the topic's own score (`digest.rank.describe` for descriptions):
what a follower's email adds on top (their own feedback model, the community boost) is theirs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from digest.config import Config
from digest.models import Topic
from digest.rank import describe
from digest.rank import score as rank
from digest.rank.gather import build_profile, load_pool
from digest.store import ranking as rank_store
from digest.store.papers import announcement_dates
from digest.store.topics import list_topics

SCORING_VERSION = "describe-5"  # bump when what passes a topic changes


@dataclass
class MatchReport:
    days: int = 0  # days (re)computed
    matches: int = 0  # topic matches stored on those days
    skipped: int = 0  # days already computed with the current topics
    errors: list[str] = field(default_factory=list)


def topics_signature(config: Config, topics: Sequence[Topic]) -> str:
    """A digest of everything that decides a day's matches: the topics, model and scoring."""
    body = {
        "version": SCORING_VERSION,
        "model": config.embedding.model,
        "default_threshold": config.ranking.default_threshold,
        "announce_types": list(config.arxiv.announce_types or ()),
        "calibration": [
            describe.CAL_BASE,
            describe.CAL_SCALE,
            describe.MIN_CALIBRATION,
            describe.PHRASE_WEIGHT,
        ],
        "topics": [
            [
                t.id,
                t.description,
                t.keywords,
                t.exclude,
                t.seed_ids,
                t.dislike_ids,
                t.authors,
                t.categories,
                t.threshold,
            ]
            for t in sorted(topics, key=lambda t: t.id or 0)
        ],
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:24]


def day_matches(
    db, config: Config, day: date, profiles: Sequence[rank.TopicProfile]
) -> tuple[rank.CandidatePool, list[rank.TopicScores]]:
    """The day's candidate pool and each topic's scores on it; `TopicScores.passes` (seed
    papers excluded) is what the topic matches that day."""
    pool = load_pool(db, config, day, day, config.arxiv.announce_types)
    if not len(pool) or not profiles:
        return pool, []
    semantic = rank.semantic_scores(pool, profiles)
    scored = [
        rank.score_topic(pool, p, semantic[i], config.ranking.default_threshold)
        for i, p in enumerate(profiles)
    ]
    return pool, scored


def passing_indices(pool: rank.CandidatePool, scored: rank.TopicScores) -> np.ndarray:
    """Indices of the pool papers that pass the topic (its seed papers never do)."""
    seeds = pool.id_mask(set(scored.profile.topic.seed_ids))
    return np.flatnonzero(scored.passes & ~seeds)


def match_curated_topics(db, config: Config, issue_date: date) -> int:
    """Store which curated topics each paper of one day matched; returns the number of rows."""
    topics = list_topics(db, kind="curated")
    with rank.single_threaded_blas():
        profiles = [build_profile(db, config, t) for t in topics]
        return _match_day(db, config, issue_date, profiles, topics_signature(config, topics))


def _match_day(
    db, config: Config, day: date, profiles: Sequence[rank.TopicProfile], signature: str
) -> int:
    pool, scored = day_matches(db, config, day, profiles)
    rows: list[tuple[int, str, str, float]] = []
    for topic_scores in scored:
        topic_id = int(topic_scores.profile.topic.id or 0)
        rows += [
            (topic_id, pool.ids[j], day.isoformat(), round(float(topic_scores.score[j]), 4))
            for j in passing_indices(pool, topic_scores)
        ]
    rank_store.replace_topic_matches(db, [day], rows)
    rank_store.record_topic_match_days(db, {day: len(rows)}, signature)
    return len(rows)


def refresh_topic_matches(
    db,
    config: Config,
    days: Sequence[date] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> MatchReport:
    """Compute the curated-topic matches of every stored announcement day (or of `days`) that
    has none yet for the current topics. Safe to run any time; a day already done is skipped."""
    report = MatchReport()
    topics = list_topics(db, kind="curated")
    signature = topics_signature(config, topics)
    done = rank_store.topic_match_signatures(db)
    wanted = sorted(set(days if days is not None else announcement_dates(db)))
    todo = [d for d in wanted if done.get(d) != signature]
    report.skipped = len(wanted) - len(todo)
    if not todo:
        return report
    with rank.single_threaded_blas():
        profiles = [build_profile(db, config, t) for t in topics]
        for n, day in enumerate(todo, start=1):
            try:
                report.matches += _match_day(db, config, day, profiles, signature)
                report.days += 1
            except Exception as exc:  # one bad day (vectors of another model) never stops the rest
                report.errors.append(f"{day}: {exc}")
            if progress:
                progress(n, len(todo))
    return report
