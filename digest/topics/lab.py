"""The topic lab: rank stored papers now exactly as a topic would (`try_topic`), and replay a
saved topic over past days (`test_topic`) so a curator can tune its words and threshold.

Both go through the same functions as the daily planning (`planning.build_profile`,
`rank.semantic_scores`, `rank.score_topic`, `rank.best_topics`, `rank.choose`). With only liked
and disliked papers nothing needs embedding, so the model is never loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from digest.config import Config
from digest.errors import UsageError
from digest.models import Topic
from digest.rank import score as rank
from digest.rank.planning import build_profile, load_pool, trending_signal
from digest.store import ranking as rank_store
from digest.store.days import latest_announcement_day
from digest.store.feedback import normalise_paper_id
from digest.store.papers import announcement_dates, existing_paper_ids
from digest.store.topics import get_topic
from digest.topics.catalog import TopicProblem, clean_categories, one_line, resolve_author

TRY_TOPIC_NAME = "Topic lab"


@dataclass(frozen=True)
class TrialResult:
    """One ranked paper as the lab shows it."""

    rank: int
    paper_id: str
    title: str
    score: float
    why: str
    passes: bool  # clears the topic's threshold (it would be sent)
    announced: str | None = None


def _resolve_ids(db, raw_ids: Sequence[str], option: str) -> tuple[str, ...]:
    """Stored ids for what the user typed; an unknown one is a usage error that names it."""
    resolved: list[str] = []
    for raw in raw_ids:
        text = one_line(raw)
        candidates = [text, normalise_paper_id(text)]
        found = existing_paper_ids(db, candidates)
        if not found:
            raise UsageError(f"{option} {text!r}: no stored paper with that id")
        resolved.append(text if text in found else normalise_paper_id(text))
    return tuple(dict.fromkeys(resolved))


def _resolve_author(db, name: str) -> str:
    """The archive's spelling; an author with no stored paper would only ever match nothing."""
    try:
        return resolve_author(db, name)
    except UsageError as exc:
        raise UsageError(f"--author: {exc}") from None


def lab_topic(
    db,
    *,
    text: str | None = None,
    like: Sequence[str] = (),
    dislike: Sequence[str] = (),
    keywords: Sequence[str] = (),
    exclude: Sequence[str] = (),
    authors: Sequence[str] = (),
    categories: Sequence[str] = (),
    threshold: float | None = None,
) -> Topic:
    """The topic the lab's options describe (ids checked against the store)."""
    if threshold is not None and not -1.0 <= threshold <= 1.0:
        raise UsageError("--threshold must be between -1 and 1")
    try:
        categories = clean_categories(categories, TRY_TOPIC_NAME)
    except TopicProblem as exc:
        raise UsageError(f"--category: {exc.detail}") from None
    liked, disliked = _resolve_ids(db, like, "--like"), _resolve_ids(db, dislike, "--dislike")
    both = [paper_id for paper_id in liked if paper_id in disliked]
    if both:
        raise UsageError(f"--like and --dislike both name {', '.join(both)}: choose one")
    topic = Topic(
        name=TRY_TOPIC_NAME,
        description=" ".join((text or "").split()),
        keywords=tuple(k.strip() for k in keywords if k.strip()),
        exclude=tuple(k.strip() for k in exclude if k.strip()),
        seed_ids=liked,
        dislike_ids=disliked,
        authors=tuple(_resolve_author(db, a) for a in authors if a.strip()),
        categories=tuple(categories),
        threshold=threshold,
    )
    if not (topic.description or topic.keywords or topic.seed_ids or topic.authors):
        raise UsageError("the topic is empty: give --text, --like, --keyword or --author")
    return topic


def recent_window(db, days: int | None) -> tuple[date | None, date | None]:
    """The last `days` calendar days ending on the newest stored announcement (None = all)."""
    if days is None:
        return None, None
    if days < 1:
        raise UsageError("--days must be at least 1")
    dates = announcement_dates(db)
    newest = latest_announcement_day(db)  # the day every command calls "the latest"
    if not dates or newest is None:
        return None, None
    if days > (newest - dates[0]).days:  # reaches past the oldest day: that is all of them
        return dates[0], newest
    return newest - timedelta(days=days - 1), newest


def rank_topic(
    db, config: Config, topic: Topic, pool: rank.CandidatePool, limit: int
) -> list[TrialResult]:
    """Every eligible paper of the pool in the order the topic would send them, best first."""
    profile = build_profile(db, config, topic)
    semantic = rank.semantic_scores(pool, [profile])
    scored = rank.score_topic(pool, profile, semantic[0], config.ranking.default_threshold)
    blocked = pool.id_mask(set(topic.seed_ids) | set(topic.dislike_ids))
    shown = scored.eligible & ~blocked
    if not profile.is_semantic:  # keywords/authors only: papers matching none are not ranked
        shown &= scored.score > 0
    chosen = rank.choose(pool, scored.score, shown, limit, config.ranking.diversity_lambda)
    texts = rank_store.paper_text_rows(db, [pool.ids[i] for i in chosen])
    results = []
    for n, i in enumerate(chosen, start=1):
        pick = rank.make_pick(pool, i, float(scored.score[i]), profile)
        row = texts.get(pool.ids[i], {})
        results.append(
            TrialResult(
                n,
                pick.paper_id,
                pool.titles[i],
                pick.score,
                pick.why.removeprefix(f"{TRY_TOPIC_NAME}: "),  # the lab's topic has no name
                bool(scored.score[i] >= scored.threshold),
                row.get("announced"),
            )
        )
    return results


def try_topic(
    db,
    config: Config,
    *,
    text: str | None = None,
    like: Sequence[str] = (),
    dislike: Sequence[str] = (),
    keywords: Sequence[str] = (),
    exclude: Sequence[str] = (),
    authors: Sequence[str] = (),
    categories: Sequence[str] = (),
    threshold: float | None = None,
    days: int | None = None,
    limit: int = 20,
) -> list[TrialResult]:
    """Rank stored papers (all, or the last `days`) as a topic built from these options would.

    Liked and disliked papers never appear in the results. Papers below the threshold are
    still listed (marked) so the curator sees where the cut falls.
    """
    if limit < 1:
        raise UsageError("--limit must be at least 1")
    topic = lab_topic(
        db,
        text=text,
        like=like,
        dislike=dislike,
        keywords=keywords,
        exclude=exclude,
        authors=authors,
        categories=categories,
        threshold=threshold,
    )
    since, until = recent_window(db, days)
    with rank.single_threaded_blas():
        # only the announcement kinds the planner sends ([arxiv].announce_types): a replaced
        # old paper is stored but never sent, so it is not listed either
        pool = load_pool(db, config, since, until, config.arxiv.announce_types)
        return rank_topic(db, config, topic, pool, limit)


# ---------------------------------------------------------------- replaying a saved topic


@dataclass(frozen=True)
class DayReplay:
    day: date
    candidates: int
    passing: int


@dataclass
class TopicTestReport:
    topic: Topic
    threshold: float
    days: list[DayReplay] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)  # every candidate's score, all days
    borderline: list[TrialResult] = field(default_factory=list)  # nearest the threshold

    @property
    def total_passing(self) -> int:
        return sum(d.passing for d in self.days)


def histogram(
    scores: Sequence[float], threshold: float | None = None, bins: int = 10
) -> list[tuple[float, float, int]]:
    """(low, high, count) bins over the score range, for a terminal histogram.

    A threshold inside the range falls on a bin edge, so every bin is wholly sent or wholly
    not (a score equal to the threshold is sent, as in the planner).
    """
    if not scores:
        return []
    values = np.asarray(scores, dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    if threshold is not None:  # compared in float32, as the planner compares scores
        threshold = float(np.float32(threshold))
    if threshold is None or not low <= threshold <= high:
        if high - low < 1e-9:
            return [(low, high, len(values))]
        counts, edges = np.histogram(values, bins=bins, range=(low, high))
        return [(float(edges[i]), float(edges[i + 1]), int(c)) for i, c in enumerate(counts)]
    step = max((high - low) / bins, 0.01)
    below = int(np.ceil((threshold - low) / step - 1e-9))
    above = max(1, int(np.floor((high - threshold) / step + 1e-9)) + 1)
    edges = threshold + step * np.arange(-below, above + 1)
    index = np.floor((values - threshold) / step + 1e-9).astype(np.int64) + below
    counts = np.bincount(np.clip(index, 0, below + above - 1), minlength=below + above)
    return [(float(edges[i]), float(edges[i + 1]), int(c)) for i, c in enumerate(counts)]


def test_topic(
    db, config: Config, name: str, days: int | None = 14, borderline: int = 6
) -> TopicTestReport:
    """What a saved curated topic would have sent on each stored announcement day."""
    with rank.single_threaded_blas():
        return _replay(db, config, name, days, borderline)


def _replay(db, config: Config, name: str, days: int | None, borderline: int) -> TopicTestReport:
    topic = get_topic(db, name, kind="curated")
    if topic is None:
        raise UsageError(f"no curated topic named {name!r}")
    profile = build_profile(db, config, topic)
    threshold = (
        config.ranking.default_threshold if topic.threshold is None else float(topic.threshold)
    )
    report = TopicTestReport(topic, threshold)
    since, _ = recent_window(db, days)
    near: list[tuple[float, str, date, rank.CandidatePool, int, float]] = []
    for day in announcement_dates(db):
        if since is not None and day < since:
            continue
        pool = load_pool(db, config, day, day, config.arxiv.announce_types)
        if not len(pool):  # e.g. only replacements that day: listed, nothing to send
            report.days.append(DayReplay(day, 0, 0))
            continue
        semantic = rank.semantic_scores(pool, [profile])
        scored = rank.score_topic(pool, profile, semantic[0], config.ranking.default_threshold)
        # as the planner scores it for a follower: plus the day's trending boost; the seeds
        # themselves are never sent
        boosted = scored.score + config.ranking.trending_weight * trending_signal(
            db, config, pool, day
        )
        eligible = np.flatnonzero(scored.eligible & ~pool.id_mask(set(topic.seed_ids)))
        passing = eligible[boosted[eligible] >= np.float32(threshold)]  # float32, as planned
        report.days.append(DayReplay(day, len(pool), len(passing)))
        report.scores += [float(s) for s in boosted[eligible]]
        if not profile.is_semantic:  # as in `rank_topic`: papers matching nothing are not ranked
            eligible = eligible[scored.score[eligible] > 0]
        near += [
            (abs(float(boosted[i]) - threshold), pool.ids[i], day, pool, int(i), float(boosted[i]))
            for i in eligible
        ]
    near.sort(key=lambda item: (item[0], item[1]))
    chosen = sorted(near[:borderline], key=lambda item: (-item[5], item[1]))
    for n, (_, paper_id, day, pool, i, score) in enumerate(chosen, start=1):
        pick = rank.make_pick(pool, i, score, profile)
        report.borderline.append(
            TrialResult(
                n,
                paper_id,
                pool.titles[i],
                pick.score,
                pick.why.removeprefix(f"{topic.name}: "),  # the report is about this topic
                bool(np.float32(score) >= np.float32(threshold)),
                day.isoformat(),
            )
        )
    return report
