"""The day's summaries step, between planning and sending: a lead line for every card.

For every due subscriber's stored plan: the extractive line (the abstract sentence closest to the
topic that matched, or to the liked paper it is close to), from sentence vectors computed once per
paper and cached in the embeddings table; with `backend = "openai"`, a TL;DR per (paper, reader
language) from the cache or the endpoint, within the run's budget of papers and seconds. What
fails or does not fit the budget keeps the extractive line and is counted; nothing here can stop
the send (the pipeline runs sending whatever this step reports).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from digest.config import Config, secret
from digest.ingest.badging import refresh_badges
from digest.mail.text import plain_tex
from digest.models import DigestPlan, Paper, Pick
from digest.rank import planning
from digest.rank.score import TopicProfile
from digest.store import papers as paper_store
from digest.store import summaries as store
from digest.store.deliveries import subscriber_ids_with_delivery
from digest.summaries.extractive import extractive_lead
from digest.summaries.llm import API_KEY_ENV, ChatSummariser, SummaryJob, summarise_all
from digest.summaries.sentences import sentence_key, split_sentences

Progress = Callable[[str], None]


@dataclass
class SummaryReport:
    """What the step did; `llm_*` stay 0 with the extractive backend."""

    backend: str
    subscribers: int = 0
    cards: int = 0
    papers: int = 0
    sentences_embedded: int = 0  # sentence vectors computed in this run (the rest were cached)
    sentences_cached: int = 0
    extractive_leads: int = 0  # cards whose lead is the extractive line
    llm_leads: int = 0  # cards whose lead is a model's TL;DR
    llm_cache_hits: int = 0  # (paper, language) TL;DRs found already made
    llm_new: int = 0  # made in this run
    llm_failed: int = 0  # asked and failed: those cards fell back to the extractive line
    llm_over_budget: int = 0  # not asked (paper or time budget): extractive line too
    badges_refreshed: int = 0
    extractive_seconds: float = 0.0
    llm_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


@dataclass
class _Card:
    subscriber_id: int
    language: str
    pick: Pick


def summarise_issue(
    db, config: Config, issue_date: date, progress: Progress | None = None
) -> SummaryReport:
    """Lead lines for every card of the issue that is still to be sent."""
    report = SummaryReport(backend=config.summaries.backend)
    report.badges_refreshed = refresh_badges(db)
    started = time.perf_counter()
    plans, readers = _plans_to_send(db, config, issue_date)
    cards = [
        _Card(plan.subscriber_id, readers[plan.subscriber_id].subscriber.language, pick)
        for plan in plans
        for pick in plan.picks
    ]
    report.subscribers, report.cards = len(plans), len(cards)
    papers = paper_store.get_papers(db, list(dict.fromkeys(c.pick.paper_id for c in cards)))
    report.papers = len(papers)
    sentences, vectors = _sentence_vectors(db, config, papers, report)
    leads: dict[int, dict[str, tuple[str, str]]] = {plan.subscriber_id: {} for plan in plans}
    for plan in plans:
        reader = readers[plan.subscriber_id]
        for pick in plan.picks:
            if pick.paper_id not in papers:
                continue
            interests = _interest_vectors(db, config, reader.profiles, pick)
            line = extractive_lead(sentences[pick.paper_id], vectors[pick.paper_id], interests)
            if line:
                leads[plan.subscriber_id][pick.paper_id] = (line, "extractive")
    report.extractive_seconds = round(time.perf_counter() - started, 3)
    if config.summaries.backend == "openai" and cards:
        if progress:
            progress(f"summaries: asking {config.summaries.model} for TL;DRs")
        tldrs = _model_tldrs(db, config, cards, papers, report)
        for card in cards:
            tldr = tldrs.get((card.pick.paper_id, card.language))
            if tldr:
                leads[card.subscriber_id][card.pick.paper_id] = (tldr, "llm")
    for subscriber_id, lines in leads.items():
        store.save_leads(db, subscriber_id, issue_date, lines)
        for _, source in lines.values():
            if source == "llm":
                report.llm_leads += 1
            else:
                report.extractive_leads += 1
    return report


def _plans_to_send(db, config: Config, issue_date: date):
    """Stored plans of due subscribers who have no email for the issue yet, with each reader."""
    sent = subscriber_ids_with_delivery(db, issue_date)
    shared: dict[int, TopicProfile] = {}
    plans: list[DigestPlan] = []
    readers = {}
    for subscriber in planning.due_subscribers(db, issue_date):
        if subscriber.id in sent:
            continue
        plan = planning.load_plan(db, subscriber.id, issue_date)
        if plan is None or not plan.picks:
            continue
        plans.append(plan)
        readers[subscriber.id] = planning.gather_reader(db, config, subscriber, shared)
    return plans, readers


def _sentence_vectors(
    db, config: Config, papers: dict[str, Paper], report: SummaryReport
) -> tuple[dict[str, list[str]], dict[str, np.ndarray]]:
    """Each paper's sentences and their vectors: cached ones read, missing ones encoded once."""
    model = config.embedding.model
    sentences = {pid: split_sentences(plain_tex(p.abstract)) for pid, p in papers.items()}
    keys = {s: sentence_key(s) for lines in sentences.values() for s in lines}
    cached = store.vectors_by_key(db, model, list(keys.values()))
    missing = [s for s, key in keys.items() if key not in cached]
    report.sentences_cached = len(keys) - len(missing)
    if missing:
        from digest.embed.encoder import encode_texts  # loads the model only when needed

        encoded = encode_texts(missing, config.embedding)
        missing_keys = [keys[s] for s in missing]
        paper_store.save_embeddings(db, model, missing_keys, encoded)
        cached.update(zip(missing_keys, encoded, strict=True))
        report.sentences_embedded = len(missing)
    dim = next((len(v) for v in cached.values()), 384)
    vectors = {
        pid: (
            np.vstack([cached[keys[s]] for s in lines])
            if lines
            else np.zeros((0, dim), dtype=np.float32)
        )
        for pid, lines in sentences.items()
    }
    return sentences, vectors


def _interest_vectors(
    db, config: Config, profiles: list[TopicProfile], pick: Pick
) -> np.ndarray | None:
    """What the reader follows, for this pick: the matched topic's description and liked or
    seed papers (all topics when none is named), and the paper it was found close to."""
    matched = [p for p in profiles if p.name == pick.topic] or profiles
    rows: list[np.ndarray] = []
    for profile in matched:
        if profile.query_vector is not None:
            rows.append(np.atleast_2d(profile.query_vector))
        if profile.has_likes and profile.liked_vectors is not None:
            rows.append(profile.liked_vectors)
    if pick.similar_to:
        _, near = paper_store.load_vectors(db, config.embedding.model, [pick.similar_to])
        if len(near):
            rows.insert(0, near)
    rows = [r for r in rows if r.size]
    if not rows or len({r.shape[1] for r in rows}) != 1:
        return None
    return np.vstack(rows).astype(np.float32)


def _model_tldrs(
    db, config: Config, cards: list[_Card], papers: dict[str, Paper], report: SummaryReport
) -> dict[tuple[str, str], str]:
    """(paper id, language) -> TL;DR: cached ones, then new ones within the run's budget
    (papers that serve the most cards first)."""
    settings = config.summaries
    wanted = Counter((c.pick.paper_id, c.language) for c in cards if c.pick.paper_id in papers)
    found: dict[tuple[str, str], str] = {}
    for language in {lang for _, lang in wanted}:
        ids = [pid for pid, lang in wanted if lang == language]
        hashes = {papers[pid].content_hash: pid for pid in ids}
        cached = store.cached_summaries(
            db, settings.model, settings.prompt_version, language, list(hashes)
        )
        found.update({(hashes[h], language): text for h, text in cached.items()})
    report.llm_cache_hits = len(found)
    todo = [key for key, _ in wanted.most_common() if key not in found]
    asked, report.llm_over_budget = (
        todo[: settings.max_papers_per_run],
        max(0, len(todo) - settings.max_papers_per_run),
    )
    if not asked:
        return found
    started = time.monotonic()
    summariser = ChatSummariser(
        settings, secret(API_KEY_ENV), deadline=started + settings.max_seconds_per_run
    )
    jobs = [
        SummaryJob(papers[pid].content_hash, papers[pid].title, papers[pid].abstract, language)
        for pid, language in asked
    ]
    try:
        results, unfinished = summarise_all(summariser, jobs, settings.concurrency)
    finally:
        summariser.close()
    report.llm_over_budget += len(unfinished)
    by_hash = {papers[pid].content_hash: pid for pid, _ in asked}
    reasons: Counter[str] = Counter()
    for result in results:
        if result.tldr is None:
            report.llm_failed += 1
            reasons[result.error or "failed"] += 1
            continue
        job = result.job
        store.save_summary(
            db, settings.model, settings.prompt_version, job.language, job.key, result.tldr
        )
        found[(by_hash[job.key], job.language)] = result.tldr
        report.llm_new += 1
    report.errors.extend(f"{n} TL;DR(s): {why}" for why, n in reasons.most_common(5))
    report.llm_seconds = round(time.monotonic() - started, 3)
    return found
