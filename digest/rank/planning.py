"""Planning digests: which papers each subscriber gets for one issue, and why.

Reads subscribers, topics, feedback and vectors from the store, hands numpy arrays to the pure
functions in `digest.rank.score`, and saves the result (one plan per subscriber and issue). `plan_all`
groups subscribers that share a candidate window, so the topic-vs-paper similarity of everyone
in a group is one matrix product.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from digest.config import Config
from digest.models import LIBRARY_TOPIC, DigestPlan, Pick, Subscriber, Topic
from digest.rank import score as rank
from digest.rank.due import candidate_window, due_subscribers
from digest.rank.gather import (  # noqa: F401  (planning API)
    attach_reference,
    build_profile,
    load_pool,
    text_vector,
)
from digest.rank.matching import match_curated_topics, refresh_topic_matches  # noqa: F401
from digest.rank.plans import load_plan, picks_of, save_plan  # noqa: F401  (planning API)
from digest.store import papers as paper_store
from digest.store import ranking as rank_store
from digest.store.db import transaction
from digest.store.deliveries import subscriber_ids_with_delivery
from digest.store.feedback import feedback_for_subscriber
from digest.store.library import library_paper_ids
from digest.store.topics import topics_for_subscriber

FEEDBACK_NEGATIVES = 50  # random pool papers used as soft negatives for the feedback model
LIKED_LABEL = ""  # picks that come from "papers you liked" carry no topic name
LIBRARY_LABEL = LIBRARY_TOPIC  # picks close to a paper of the imported library
LIBRARY_SEEDS = 200  # the newest matched library papers the library topic is "like"
PLAN_BATCH = 500  # subscribers ranked with one matrix product and saved in one transaction

Progress = Callable[[int, int], None]


# ---------------------------------------------------------------- building blocks


@dataclass
class Reader:
    """Everything about one subscriber that ranking needs, gathered once per plan."""

    subscriber: Subscriber
    profiles: list[rank.TopicProfile]
    liked: list[str]
    disliked: list[str]
    clicked: list[str]
    blocked_ids: set[str] = field(default_factory=set)


def gather_reader(
    db, config: Config, subscriber: Subscriber, shared: dict[int, rank.TopicProfile] | None = None
) -> Reader:
    """A subscriber's topics as profiles, feedback and blocked papers. `shared` reuses curated
    topic profiles across subscribers (ranking then scores each curated topic once)."""
    liked, disliked, clicked = feedback_for_subscriber(db, subscriber.id)
    profiles = []
    for topic in topics_for_subscriber(db, subscriber.id):
        if shared is not None and topic.kind == "curated" and topic.id is not None:
            if topic.id not in shared:
                shared[topic.id] = build_profile(db, config, topic)
            profiles.append(shared[topic.id])
        else:
            profiles.append(build_profile(db, config, topic))
    if liked:
        you_liked = Topic(
            name="Papers you liked",
            seed_ids=tuple(liked[-200:]),
            dislike_ids=tuple(disliked[-200:]),
        )
        profiles.append(build_profile(db, config, you_liked, label=LIKED_LABEL))
    library = library_paper_ids(db, subscriber.id)
    if library:  # weighted like likes: the same Rocchio path, its own line in the why
        newest = sorted(library, key=lambda pid: ("/" not in pid, pid), reverse=True)
        mine = Topic(name="Your library", kind="library", seed_ids=tuple(newest[:LIBRARY_SEEDS]))
        profiles.append(build_profile(db, config, mine, label=LIBRARY_LABEL))
    blocked = set(liked) | set(disliked)
    for profile in profiles:
        blocked |= set(profile.topic.seed_ids)
    return Reader(subscriber, profiles, liked, disliked, clicked, blocked)


def feedback_model(
    db, config: Config, reader: Reader, pool: rank.CandidatePool
) -> rank.FeedbackModel | None:
    """The subscriber's own linear model, once they have given enough likes/dislikes."""
    if len(reader.liked) + len(reader.disliked) < config.ranking.min_feedback_for_model:
        return None
    model = config.embedding.model
    _, liked = paper_store.load_vectors(db, model, reader.liked)
    clicked_only = [p for p in reader.clicked if p not in set(reader.liked) | set(reader.disliked)]
    _, clicked = paper_store.load_vectors(db, model, clicked_only)
    _, disliked = paper_store.load_vectors(db, model, reader.disliked)
    positives = [m for m in (liked, clicked) if len(m)]
    rng = random.Random(reader.subscriber.id)
    sample = rng.sample(range(len(pool)), min(FEEDBACK_NEGATIVES, len(pool)))
    negatives = [m for m in (disliked, pool.vectors[sample]) if len(m)]
    if not positives or not negatives:
        return None
    pos_w = np.concatenate([np.ones(len(liked)), np.full(len(clicked), 0.5)])
    neg_w = np.concatenate([np.full(len(disliked), 2.0), np.full(len(sample), 0.5)])
    return rank.train_feedback_model(
        np.vstack(positives),
        np.vstack(negatives),
        pos_w[: sum(len(m) for m in positives)],
        neg_w[-sum(len(m) for m in negatives) :],
    )


def trending_signal(db, config: Config, pool: rank.CandidatePool, day: date) -> np.ndarray:
    """Community interest per pool paper in [0, 1] (0 when nobody has shown any)."""
    from digest.rank.trending import interest_counts

    counts = interest_counts(db, pool.ids, day)
    values = np.array([counts.get(pid, 0.0) for pid in pool.ids], dtype=np.float32)
    top = float(values.max()) if len(values) else 0.0
    return values / top if top > 0 else values


def rank_reader(
    db,
    config: Config,
    reader: Reader,
    pool: rank.CandidatePool,
    semantic: np.ndarray | None,
    trending: np.ndarray | None,
    picked_before: set[str],
) -> list[Pick]:
    """One subscriber's picks from a pool (the semantic matrix may be precomputed)."""
    extra = np.zeros(len(pool), dtype=np.float32)
    model = feedback_model(db, config, reader, pool)
    if model is not None:
        extra += model.bonus(pool.vectors)
    # the community's interest orders what passes, it never lifts a paper over a threshold
    boost = None if trending is None else config.ranking.trending_weight * trending
    blocked_ids = reader.blocked_ids | picked_before
    blocked = pool.id_mask(blocked_ids)
    max_papers = min(max(reader.subscriber.max_papers, 1), config.ranking.max_papers_cap)
    return rank.rank_pool(
        pool,
        reader.profiles,
        max_papers=max_papers,
        default_threshold=config.ranking.default_threshold,
        diversity_lambda=config.ranking.diversity_lambda,
        semantic=semantic,
        extra=extra,
        boost=boost,
        blocked=blocked,
    )


# ---------------------------------------------------------------- one subscriber


def plan_digest(db, config: Config, subscriber: Subscriber, issue_date: date) -> DigestPlan:
    """The picks one subscriber would get for one issue. Reads the store; saves nothing."""
    with rank.single_threaded_blas():
        return _plan_one(db, config, subscriber, issue_date)


def _plan_one(db, config: Config, subscriber: Subscriber, issue_date: date) -> DigestPlan:
    since, until = candidate_window(subscriber, issue_date)
    pool = load_pool(db, config, since, until, config.arxiv.announce_types)
    reader = gather_reader(db, config, subscriber)
    picked = rank_store.picked_before(db, [subscriber.id], issue_date)[subscriber.id]
    trending = trending_signal(db, config, pool, issue_date)
    picks = rank_reader(db, config, reader, pool, None, trending, picked)
    return DigestPlan(subscriber.id, issue_date, tuple(picks), len(pool), since)


# ---------------------------------------------------------------- everyone


@dataclass
class PlanReport:
    issue_date: date
    due: int = 0
    planned: int = 0
    with_picks: int = 0
    empty: int = 0
    kept_sent: int = 0  # already rendered into the ledger (queued or sent): plan left as it was
    failed: int = 0
    picks: int = 0
    topic_matches: int = 0
    hf_papers: int = 0  # Hugging Face daily papers stored (when that source is on)
    errors: list[str] = field(default_factory=list)


def plan_all(
    db,
    config: Config,
    issue_date: date,
    progress: Progress | None = None,
    save: bool = True,
    id_range: tuple[int, int] | None = None,
) -> PlanReport:
    """Plan every due subscriber's issue; one failing subscriber is reported and skipped.
    `id_range`: only subscribers with ids in it (a worker's share; the topic matches and
    Hugging Face signal are then left to the caller, who does them once)."""
    with rank.single_threaded_blas():
        return _plan_everyone(db, config, issue_date, progress, save, id_range)


def _plan_everyone(
    db, config: Config, issue_date: date, progress: Progress | None, save: bool, id_range=None
) -> PlanReport:
    report = PlanReport(issue_date)
    if id_range is None:
        _shared_signals(db, config, issue_date, report)
    subscribers = due_subscribers(db, issue_date, id_range)
    return _plan_subscribers(db, config, issue_date, progress, save, report, subscribers)


def _shared_signals(db, config: Config, issue_date: date, report: PlanReport) -> None:
    """What every plan of the day shares: Hugging Face upvotes, curated topic matches."""
    if config.ranking.hf_enabled:  # optional community signal; its failure never stops planning
        from digest.errors import DigestError
        from digest.rank.trending import refresh_hf

        try:
            report.hf_papers = refresh_hf(db, config, issue_date)
        except DigestError as exc:
            report.errors.append(f"hf: {exc}")
    # every stored day whose matches are missing or stale (topics changed), this one included
    refresh_topic_matches(db, config, progress=None)
    report.topic_matches = rank_store.topic_matches_on(db, issue_date)


def _plan_subscribers(db, config, issue_date, progress, save, report, subscribers) -> PlanReport:
    report.due = len(subscribers)
    windows: dict[tuple[date, date], list[Subscriber]] = {}
    for sub in subscribers:
        windows.setdefault(candidate_window(sub, issue_date), []).append(sub)
    done = 0
    shared: dict[int, rank.TopicProfile] = {}
    frozen = subscriber_ids_with_delivery(db, issue_date) if save else set()
    for (since, until), group in sorted(windows.items()):
        pool = load_pool(db, config, since, until, config.arxiv.announce_types)
        trending = trending_signal(db, config, pool, issue_date)
        picked = rank_store.picked_before(db, [s.id for s in group], issue_date)
        for start in range(0, len(group), PLAN_BATCH):
            batch = group[start : start + PLAN_BATCH]
            plans = _rank_batch(
                db, config, batch, pool, trending, picked, since, issue_date, report, shared
            )
            if save:
                _save_batch(db, plans, report, frozen)
            else:
                for _, plan in plans:
                    _count(report, plan)
            done += len(batch)
            if progress:
                progress(done, len(subscribers))
    return report


def _rank_batch(
    db,
    config: Config,
    batch: list[Subscriber],
    pool: rank.CandidatePool,
    trending: np.ndarray,
    picked: dict[int, set[str]],
    since: date,
    issue_date: date,
    report: PlanReport,
    shared: dict[int, rank.TopicProfile],
) -> list[tuple[Subscriber, DigestPlan]]:
    """Plans for a batch of subscribers sharing one pool: one product for all their topics.

    `shared` holds curated topic profiles built once per run (each is then scored once).
    """
    readers: list[Reader] = []
    for sub in batch:
        try:
            reader = gather_reader(db, config, sub, shared)
            for profile in reader.profiles:
                rank.check_dimensions(profile, pool.vectors.shape[1])
            readers.append(reader)
        except Exception as exc:  # one subscriber's bad data never stops the rest
            report.failed += 1
            report.errors.append(f"{sub.email}: {exc}")
    semantic = rank.semantic_scores(pool, [p for r in readers for p in r.profiles])
    plans = []
    offset = 0
    for reader in readers:
        sub = reader.subscriber
        rows = semantic[offset : offset + len(reader.profiles)]
        offset += len(reader.profiles)
        try:
            picks = rank_reader(db, config, reader, pool, rows, trending, picked[sub.id])
            plans.append((sub, DigestPlan(sub.id, issue_date, tuple(picks), len(pool), since)))
        except Exception as exc:
            report.failed += 1
            report.errors.append(f"{sub.email}: {exc}")
    return plans


def _save_batch(
    db, plans: list[tuple[Subscriber, DigestPlan]], report: PlanReport, frozen: set[int]
) -> None:
    """One write transaction per batch (one fsync, not one per subscriber); each plan in its
    own savepoint, so a failing save loses only that plan. `frozen` subscribers already have
    this issue's email rendered in the ledger (queued for a later hour, say): their plan is
    what that email says and stays as it is."""
    with transaction(db):
        for sub, plan in plans:
            if sub.id in frozen:
                report.kept_sent += 1
                continue
            try:
                with transaction(db):  # nested: a savepoint
                    saved = save_plan(db, plan)
            except Exception as exc:
                report.failed += 1
                report.errors.append(f"{sub.email}: could not save: {exc}")
                continue
            if saved:
                _count(report, plan)
            else:
                report.kept_sent += 1


def _count(report: PlanReport, plan: DigestPlan) -> None:
    report.planned += 1
    report.picks += len(plan.picks)
    report.with_picks += bool(plan.picks)
    report.empty += not plan.picks
