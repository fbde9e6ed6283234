"""`digest demo`: the whole product, offline, on the recorded sample feeds.

Each step calls the same library functions the real commands use; the demo only chooses
the inputs (bundled samples instead of the network, sample topics and subscribers, the
outbox instead of real mail). Running it again is safe: nothing is duplicated or resent.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import date

from digest.embed.encoder import embed_missing
from digest.ingest.daily import ingest_feed_file
from digest.paths import PROJECT_DIR, SAMPLES_DIR

DEMO_ISSUE = date(2025, 8, 20)  # the day of the 86-paper recorded cs.AI feed

# (email, name, curated topics, own words, a paper they liked)
DEMO_SUBSCRIBERS = (
    ("ada@example.org", "Ada", ("LLM agents", "Reasoning & planning"), "", None),
    (
        "grace@example.org",
        "Grace",
        ("Robotics & embodied AI",),
        "robots that learn manipulation skills from demonstrations",
        None,
    ),
    ("alan@example.org", "Alan", ("AI safety & alignment",), "", "2508.00875"),
)


def sample_feeds() -> list:
    return sorted(SAMPLES_DIR.glob("*.xml"))


def _on_workers(config) -> dict | None:
    """On PostgreSQL the demo's embed, plan, send and site steps are the workers' jobs, as in
    `digest run` (start `digest worker` first); None on SQLite: all in this process."""
    if not config.on_postgres:
        return None
    from digest.workers.stages import FLEET_STAGES

    return FLEET_STAGES


def run_demo(state, progress_factory: Callable) -> Iterator[str]:
    config, db = state.config, state.db
    where = "PostgreSQL, steps run by `digest worker`" if config.on_postgres else config.db_path
    yield f"digest demo: working in {config.base_dir} (database {where})"
    yield from _ingest_and_embed(config, db, progress_factory)
    yield from _topics_and_subscribers(config, db)
    yield from _picks(config, db)
    yield from _send(config, db)
    yield from _site(config, db)


def _ingest_and_embed(config, db, progress_factory) -> Iterator[str]:
    for path in sample_feeds():
        report = ingest_feed_file(db, config, path, label=path.name.split("-20")[0])
        c = report.counts
        yield (
            f"ingested {path.name}: {c.fetched} papers ({c.new} new, {c.updated} updated, "
            f"{c.unchanged} unchanged, {c.skipped} skipped) for {report.channel_date}"
        )
    fleet = _on_workers(config)
    if fleet:
        counts = fleet["embed"](db, config, DEMO_ISSUE, None)
        yield f"embedded {counts['papers']} papers in {counts['jobs']} worker jobs"
        return
    with progress_factory("embedding") as advance:
        embedded = embed_missing(db, config.embedding, progress=advance)
    yield f"embedded {embedded.embedded} papers ({embedded.cached} were cached) with {embedded.model}"


def _topics_and_subscribers(config, db) -> Iterator[str]:
    from digest.store.subscribers import get_subscriber_by_email
    from digest.subscribers.manage import add_subscriber, record_feedback
    from digest.topics.toml_file import sync_topics

    topics_file = config.path(config.ranking.topics_file)
    if not topics_file.exists():
        topics_file.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_DIR / "data" / "topics.toml", topics_file)
    synced = sync_topics(db, topics_file)
    yield (
        f"curated topics from {topics_file}: {len(synced.added)} added, "
        f"{len(synced.updated)} updated, {len(synced.unchanged)} unchanged"
    )
    for email, name, topics, text, liked in DEMO_SUBSCRIBERS:
        if get_subscriber_by_email(db, email) is None:
            add_subscriber(db, email, name=name, status="active", topics=topics, text=text)
            if liked:
                record_feedback(db, email, liked, "like")
            yield (
                f"added sample subscriber {email} ({', '.join(topics)}"
                + (f"; own topic: “{text}”" if text else "")
                + (f"; likes {liked}" if liked else "")
                + ")"
            )


def _picks(config, db) -> Iterator[str]:
    from digest.rank.planning import load_plan, plan_all
    from digest.store.papers import get_papers
    from digest.store.subscribers import list_subscribers

    fleet = _on_workers(config)
    if fleet:
        counts = fleet["plan"](db, config, DEMO_ISSUE, None)
        yield f"ranked {DEMO_ISSUE}: {counts['due']} subscribers planned in {counts['jobs']} worker jobs"
    else:
        report = plan_all(db, config, DEMO_ISSUE)
        yield (
            f"ranked {DEMO_ISSUE}: {report.planned} subscribers planned, {report.picks} picks, "
            f"{report.topic_matches} curated topic matches"
        )
    for subscriber in list_subscribers(db, status="active"):
        plan = load_plan(db, subscriber.id, DEMO_ISSUE)
        if plan is None:
            continue
        titles = get_papers(db, [p.paper_id for p in plan.picks])
        yield f"\n{subscriber.email}: {len(plan.picks)} picks from {plan.candidates} candidates"
        for rank, pick in enumerate(plan.picks, start=1):
            yield f"  {rank:>2}. {titles[pick.paper_id].title[:90]}"
            yield f"      why: {pick.why}"


def _send(config, db) -> Iterator[str]:
    from digest.mail.sending import send_issue

    # The sample day is in the past: --force past the stale-issue guard, outbox only.
    if config.mail.backend != "outbox":
        yield f"\nnot sending: the demo only writes to the outbox ([mail].backend is {config.mail.backend})"
        return
    fleet = _on_workers(config)
    if fleet:
        counts = fleet["send"](db, config, DEMO_ISSUE, None, force=True)
        yield f"\nemails for {DEMO_ISSUE}: {counts.get('new_sent', 0)} written to the outbox by the workers"
        return
    report = send_issue(db, config, DEMO_ISSUE, force=True)
    yield (
        f"\nemails for {DEMO_ISSUE}: {report.sent} written to the outbox, "
        f"{report.already_handled} already sent earlier, {report.empty} with nothing to send"
    )
    if report.outbox_index:
        yield f"open the outbox: {report.outbox_index}"
    emails = sorted((config.path(config.mail.outbox_dir) / DEMO_ISSUE.isoformat()).glob("*.eml"))
    if emails:
        yield f"one digest email: {emails[0]}"


def _site(config, db) -> Iterator[str]:
    from digest.site.build import build_site

    fleet = _on_workers(config)
    if fleet:
        counts = fleet["site"](db, config, DEMO_ISSUE, None)
        yield (
            f"\narchive site: {counts['pages']} pages ({counts['rendered']} rendered, "
            f"{counts['pages_on_workers']} of them by the workers), {counts['papers']} papers"
        )
        yield f"open the archive: {counts['index_path']}"
    else:
        report = build_site(db, config)
        yield (
            f"\narchive site: {report.pages} pages ({report.rendered} rendered, {report.reused} "
            f"reused), {report.papers} papers, {report.authors} authors"
        )
        yield f"open the archive: {report.index_path}"
    yield "serve it with the subscription app: digest serve"
