"""The daily ingest: fetch each configured listing feed, parse it, store it, record the run.

Each feed is one ingest run and one transaction: a failure leaves no half-written batch and
the run row says what went wrong. Re-running is always safe (upserts keyed by arXiv id).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from digest.config import Config
from digest.errors import DigestError, FetchError, ParseError
from digest.ingest.arxiv_feed import DOCUMENT_REF, feed_url, is_malformed, parse_feed
from digest.ingest.badging import record_badges
from digest.models import IngestCounts, IngestReport, Paper, ParsedListing
from digest.store import papers as paper_store

ProgressCallback = Callable[[str], None]


def select_papers(
    listing: ParsedListing, announce_types: Sequence[str], known_ids: set[str]
) -> tuple[list[Paper], int]:
    """Papers of the kept announce types, plus replacements of papers we already store
    (so their version and text stay current, without making them "new"). Returns
    (papers, how many were filtered out)."""
    kept, filtered = [], 0
    for paper in listing.papers:
        if paper.announce_type in announce_types or paper.id in known_ids:
            kept.append(paper)
        else:
            filtered += 1
    return kept, filtered


def ingest_listing(
    db,
    listing: ParsedListing,
    *,
    source: str,
    label: str,
    url: str | None,
    announce_types: Sequence[str],
    expected_date: date | None = None,
) -> IngestReport:
    """Store one parsed listing as one ingest run."""
    run_id = paper_store.start_ingest_run(db, source, label, url)
    previous = paper_store.last_channel_date(db, source, label)
    known = paper_store.existing_paper_ids(db, [p.id for p in listing.papers])
    papers, _filtered = select_papers(listing, announce_types, known)
    try:
        counts = paper_store.upsert_papers(db, papers, source=source)
        record_badges(db, papers)
    except BaseException as exc:  # Ctrl-C too: the run row must not stay 'running'
        cause = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
        with contextlib.suppress(Exception):  # if the database is what failed, keep its error
            paper_store.finish_ingest_run(
                db, run_id, "failed", IngestCounts(), listing.skipped, listing.channel_date, cause
            )
        raise
    counts = counts + IngestCounts(skipped=len(listing.skipped))
    status, error = _status(listing, previous, expected_date), None
    if is_malformed(listing):  # keep its good entries, but the next run must fetch it again
        status = "failed"
        reason = next(r.reason for r in listing.skipped if r.ref == DOCUMENT_REF)
        error = (
            f"the feed document is broken or cut short ({reason}); "
            f"kept the {len(papers)} complete entries before the damage"
        )
    paper_store.finish_ingest_run(
        db, run_id, status, counts, listing.skipped, listing.channel_date, error=error
    )
    return IngestReport(
        source, label, status, counts, list(listing.skipped), listing.channel_date, run_id, error
    )


def _status(listing: ParsedListing, previous: date | None, expected: date | None) -> str:
    """Stale before empty: an empty feed dated before the day asked for is the weekend's or
    a holiday's listing not yet replaced (arXiv rebuilds late some nights), not a sign that
    today has no announcement; as 'empty' the run ended and was never retried."""
    channel = listing.channel_date
    if channel and previous and channel <= previous:
        return "stale"  # the channel date did not move since the last good run
    if channel and expected and channel < expected:
        return "stale"
    if listing.is_empty_announcement:
        return "empty"
    return "ok"


def record_failure(db, *, source: str, label: str, url: str | None, error: str) -> IngestReport:
    run_id = paper_store.start_ingest_run(db, source, label, url)
    paper_store.finish_ingest_run(db, run_id, "failed", IngestCounts(), error=error)
    return IngestReport(source, label, "failed", run_id=run_id, error=error)


def fetch_daily(
    db,
    config: Config,
    *,
    fetcher=None,
    categories: Sequence[str] | None = None,
    expected_date: date | None = None,
    progress: ProgressCallback | None = None,
) -> list[IngestReport]:
    """Fetch every configured category's listing feed (one request each, politely spaced)."""
    from digest.ingest.http import PoliteFetcher

    arxiv = config.arxiv
    own_fetcher = fetcher is None
    fetcher = fetcher or PoliteFetcher(arxiv)
    reports = []
    try:
        for category in dict.fromkeys(categories or arxiv.categories):  # each feed once
            url = feed_url(arxiv.feed_base_url, arxiv.feed_format, category)
            if progress:
                progress(f"fetching {url}")
            try:
                body = fetcher.get(url).body
                listing = _dated_sanely(parse_feed(body))
            except (FetchError, ParseError) as exc:
                reports.append(
                    record_failure(db, source="feed", label=category, url=url, error=str(exc))
                )
                continue
            reports.append(
                ingest_listing(
                    db,
                    listing,
                    source="feed",
                    label=category,
                    url=url,
                    announce_types=arxiv.announce_types,
                    expected_date=expected_date,
                )
            )
    finally:
        if own_fetcher and hasattr(fetcher, "close"):
            fetcher.close()
    return reports


def _dated_sanely(listing: ParsedListing, today: date | None = None) -> ParsedListing:
    """A feed dated days ahead of the clock would become the date every later fetch is
    compared with, so each of them would look stale until then: refuse it instead."""
    today = today or datetime.now(UTC).date()
    if listing.channel_date and listing.channel_date > today + timedelta(days=2):
        raise ParseError(
            f"the feed is dated {listing.channel_date}, days after today ({today}): "
            "not stored (is the feed or this machine's clock wrong?)"
        )
    return listing


def ingest_feed_file(db, config: Config, path: Path, label: str | None = None) -> IngestReport:
    """Ingest a recorded feed from disk (the offline demo, tests, re-imports)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DigestError(f"{path}: cannot read: {exc.strerror}") from exc
    listing = parse_feed(raw)
    return ingest_listing(
        db,
        listing,
        source="feed",
        label=label or path.name,
        url=str(path),
        announce_types=config.arxiv.announce_types,
    )


def is_no_announcement(reports: Sequence[IngestReport]) -> bool:
    """True when every feed answered with an empty channel: no announcement today."""
    return bool(reports) and all(r.status == "empty" for r in reports)
