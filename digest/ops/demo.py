"""`digest demo`: the whole product, offline, on recorded arXiv listings.

Each step calls the same library functions the real commands use; the demo only chooses
the inputs (a recorded feed and a real recorded week instead of the network, sample topics
and subscribers, the outbox instead of real mail). It plans and sends every recorded
announcement day in order, as the scheduler would have, so the archive's home page is a full
real day and the weekly reader gets a weekly issue. Running it again is safe: nothing is
duplicated or resent.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

from digest.embed.encoder import embed_missing
from digest.ingest.daily import ingest_feed_file
from digest.ingest.listing_file import ingest_listing_file
from digest.paths import PROJECT_DIR, SAMPLES_DIR
from digest.summaries.demo_reader import add_demo_reader, lead_count

# The recorded cs.AI Atom feed of 2025-08-20 (86 papers) exercises the feed parser; the real
# week (2025-10-06 … 10, 1,202 papers) makes the days. The 4-item RSS recording in the samples
# is dated 2026-09-24: loaded, it would be "the latest day" with 3 papers, so tests use it and
# the demo does not.
DEMO_FEEDS = ("cs.AI-2025-08-20.atom.xml",)
LISTINGS_DIR = SAMPLES_DIR / "listings"
TITLE_WIDTH = 88  # terminal lines: a title is cut at a word, with "…"

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
WEEKLY = {"grace@example.org": 4}  # weekly on Fridays: one issue for the whole week
DEMO_LIBRARY_READER = "lin@example.org"  # seeded from data/samples/library.bib


def sample_feeds() -> list[Path]:
    return [SAMPLES_DIR / name for name in DEMO_FEEDS]


def sample_listings(days: int | None = None) -> list[Path]:
    """The recorded week's files, oldest first; the last `days` of them when given."""
    files = sorted(LISTINGS_DIR.glob("*.jsonl"))
    return files[-days:] if days else files


def cut_title(title: str, width: int = TITLE_WIDTH) -> str:
    """One terminal line: the title cut at a word, with "…" when it is longer."""
    text = " ".join(title.split())
    if len(text) <= width:
        return text
    head = text[: width - 1]
    if not text[width - 1].isspace():
        head = head.rsplit(" ", 1)[0] if " " in head else head
    return head.rstrip(" ,;:-") + "…"


def _on_workers(config) -> dict | None:
    """On PostgreSQL the demo's embed, plan, send and site steps are the workers' jobs, as in
    `digest run` (start `digest worker` first); None on SQLite: all in this process."""
    if not config.on_postgres:
        return None
    from digest.workers.stages import FLEET_STAGES

    return FLEET_STAGES


def run_demo(state, progress_factory: Callable, days: int | None = None) -> Iterator[str]:
    from digest.store.days import latest_announcement_day, listed_days

    config, db = state.config, state.db
    where = "PostgreSQL, steps run by `digest worker`" if config.on_postgres else config.db_path
    yield f"digest demo: working in {config.base_dir} (database {where})"
    yield from _ingest_and_embed(config, db, progress_factory, days)
    yield from _topics_and_subscribers(config, db)
    yield from _library_reader(config, db)
    yield "\nplanning and sending every announcement day, oldest first (outbox only):"
    for day in listed_days(db):
        yield from _plan_and_send(config, db, day)
    latest = latest_announcement_day(db)
    if latest is not None:
        yield from _picks(db, latest)
    yield from _site(config, db)
    if latest is not None:
        yield from _how_to_look(config, db, latest)


def _ingest_and_embed(config, db, progress_factory, days: int | None) -> Iterator[str]:
    for path in sample_feeds():
        report = ingest_feed_file(db, config, path, label=path.name.split("-20")[0])
        c = report.counts
        yield (
            f"ingested {path.name}: {c.fetched} papers ({c.new} new, {c.updated} updated, "
            f"{c.unchanged} unchanged, {c.skipped} skipped) for {report.channel_date}"
        )
    for path in sample_listings(days):
        report = ingest_listing_file(db, config, path)
        c = report.counts
        yield (
            f"ingested listings/{path.name}: {c.fetched} papers ({c.new} new, {c.unchanged} "
            f"unchanged, {c.skipped} skipped) for {report.channel_date}"
        )
    fleet = _on_workers(config)
    if fleet:
        counts = fleet["embed"](db, config, None, None)
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
        if get_subscriber_by_email(db, email) is not None:
            continue
        weekday = WEEKLY.get(email)
        add_subscriber(
            db,
            email,
            name=name,
            status="active",
            topics=topics,
            text=text,
            frequency="weekly" if weekday is not None else "daily",
            weekday=weekday,
        )
        if liked:
            record_feedback(db, email, liked, "like")
        yield (
            f"added sample subscriber {email} ({'weekly, Fridays' if weekday else 'daily'}: "
            f"{', '.join(topics)}"
            + (f"; own topic: “{text}”" if text else "")
            + (f"; likes {liked}" if liked else "")
            + ")"
        )
    yield from add_demo_reader(db)  # reads her TL;DR lines in German


def _library_reader(config, db) -> Iterator[str]:
    """A reader who follows nothing but brought a (small, sample) BibTeX library."""
    from digest.store.subscribers import get_subscriber_by_email
    from digest.subscribers.library import import_library_file
    from digest.subscribers.manage import add_subscriber

    if get_subscriber_by_email(db, DEMO_LIBRARY_READER) is not None:
        return
    reader = add_subscriber(db, DEMO_LIBRARY_READER, name="Lin", status="active", topics=())
    path = SAMPLES_DIR / "library.bib"
    report = import_library_file(db, config, reader, path, source="demo", fetch=False)
    yield (
        f"added sample subscriber {DEMO_LIBRARY_READER} from the library {path.name}: "
        f"{report.matched} of {report.entries} entries matched, {report.pending} left for the "
        f"daily run to fetch from arXiv, {report.unmatched} not found"
    )


def _plan_and_send(config, db, day: date) -> Iterator[str]:
    from digest.mail.sending import send_issue
    from digest.rank.planning import plan_all
    from digest.summaries.stage import summarise_issue

    fleet = _on_workers(config)
    if fleet:
        yield from _plan_and_send_on_workers(fleet, config, db, day)
        return
    plan = plan_all(db, config, day)
    line = f"  {day} {day:%a}: "
    if plan.kept_sent and not plan.planned:
        line += f"{plan.kept_sent} issues planned by an earlier run (kept)"
    else:
        line += f"{plan.planned} planned, {plan.picks} picks, {plan.topic_matches} topic matches"
    if config.mail.backend != "outbox":
        yield line + f"; not sent (the demo only uses the outbox, not {config.mail.backend})"
        return
    # The recorded days are in the past: --force past the stale-issue guard, outbox only.
    if leads := lead_count(summarise_issue(db, config, day)):
        line += f"; {leads}"
    sent = send_issue(db, config, day, force=True)
    yield (
        line + f"; {sent.sent} emails written, {sent.already_handled} sent earlier, "
        f"{sent.empty} with nothing to send"
    )


def _plan_and_send_on_workers(fleet: dict, config, db, day: date) -> Iterator[str]:
    planned = fleet["plan"](db, config, day, None)
    line = f"  {day} {day:%a}: {planned['due']} planned in {planned['jobs']} worker jobs"
    if config.mail.backend != "outbox":
        yield line + f"; not sent (the demo only uses the outbox, not {config.mail.backend})"
        return
    from digest.summaries.stage import summarise_issue

    if leads := lead_count(summarise_issue(db, config, day)):  # on the leader, as `digest run`
        line += f"; {leads}"
    sent = fleet["send"](db, config, day, None, force=True)
    yield line + f"; {sent.get('new_sent', 0)} emails written by the workers"


def _picks(db, day: date) -> Iterator[str]:
    from digest.rank.planning import load_plan
    from digest.store.papers import get_papers
    from digest.store.subscribers import list_subscribers

    yield (
        f"\nthe picks of {day}, the latest day, with each reader's ranking score "
        "(`digest picks EMAIL` shows them again):"
    )
    for subscriber in list_subscribers(db, status="active"):
        plan = load_plan(db, subscriber.id, day)
        if plan is None:
            continue
        titles = get_papers(db, [p.paper_id for p in plan.picks])
        yield f"\n{subscriber.email}: {len(plan.picks)} picks from {plan.candidates} candidates"
        for rank, pick in enumerate(plan.picks, start=1):
            yield f"  {rank:>2}. {cut_title(titles[pick.paper_id].title)}"
            yield f"      why: {pick.why}"


def _site(config, db) -> Iterator[str]:
    from digest.site.build import build_site

    fleet = _on_workers(config)
    if fleet:
        counts = fleet["site"](db, config, None, None)
        yield (
            f"\narchive site: {counts['pages']} pages ({counts['rendered']} rendered, "
            f"{counts['pages_on_workers']} of them by the workers), {counts['papers']} papers"
        )
        yield f"open the archive: {counts['index_path']}"
        return
    report = build_site(db, config)
    yield (
        f"\narchive site: {report.pages} pages ({report.rendered} rendered, {report.reused} "
        f"reused), {report.days} days, {report.papers} papers, {report.authors} authors"
    )
    yield f"open the archive: {report.index_path}"


def _how_to_look(config, db, day: date) -> Iterator[str]:
    """The last lines: where to look, in a browser, at what was made."""
    from digest.mail.preview import preview_digest

    email = DEMO_SUBSCRIBERS[0][0]
    files = preview_digest(db, config, email, day)
    outbox = config.path(config.mail.outbox_dir)
    yield f"\nsee {email}'s email of {day} in a browser: {files.html}"
    yield f"  (made by `digest preview {email}`; any subscriber, any --date)"
    yield (
        f"every email sent (View in a browser, or the .eml): "
        f"{outbox / day.isoformat() / 'index.html'}"
    )
    yield "serve the archive and the sign-up pages: digest serve, then http://127.0.0.1:8000"
