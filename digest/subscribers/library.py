"""Bring your library: a subscriber's BibTeX, RIS or CSL-JSON file becomes their library topic.

Entries are matched to stored papers by arXiv id, then DOI, then normalised title; arXiv ids
the store does not hold yet are fetched through the polite arXiv API client (batched id lists,
one request per `[arxiv].request_delay_seconds`), at once from the command line, else by the
next daily run. The matched papers are what ranking's library topic is "like"
(`digest.rank.planning`). A re-import replaces the previous library in one transaction; a file
that cannot be read changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from digest.config import Config
from digest.errors import DigestError, UsageError
from digest.models import Subscriber
from digest.store import library as library_store
from digest.store.library import EntryRow
from digest.store.papers import existing_paper_ids
from digest.subscribers.library_formats import (
    MAX_LIBRARY_BYTES,
    LibraryEntry,
    parse_library,
    title_key,
)

MIN_TITLE_KEY_CHARS = 12  # "Introduction" or "Notes" match too much to mean one paper
TITLES_IN_REPORT = 50

Progress = Callable[[int, int], None]


@dataclass
class LibraryReport:
    """What one import did; the CLI prints it and the preferences page shows it."""

    email: str
    file_name: str
    format: str
    entries: int = 0  # usable entries in the file
    matched: int = 0  # entries matched to papers already stored
    by_arxiv_id: int = 0
    by_doi: int = 0
    by_title: int = 0
    fetched: int = 0  # entries whose paper was fetched from the arXiv API now
    pending: int = 0  # arXiv ids left for the next daily run to fetch
    unmatched: int = 0
    papers: int = 0  # distinct papers in the library topic (two entries of one paper: one)
    unmatched_titles: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # entries that could not be used, and why
    fetch_error: str | None = None
    api_requests: int = 0
    seconds: float = 0.0

    @property
    def match_rate(self) -> float:
        return (self.matched + self.fetched) / self.entries if self.entries else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "match_rate": round(self.match_rate, 4)}


# ---------------------------------------------------------------- matching


def match_entries(db, entries: Sequence[LibraryEntry]) -> list[EntryRow]:
    """Each entry matched to a stored paper by arXiv id, else DOI, else title; an entry with
    an arXiv id the store lacks is `pending` (to fetch), anything else `unmatched`."""
    stored = existing_paper_ids(db, [e.arxiv_id for e in entries if e.arxiv_id])
    found: dict[int, tuple[str, str]] = {
        e.position: (e.arxiv_id, "arxiv") for e in entries if e.arxiv_id in stored
    }
    left = [e for e in entries if e.position not in found]
    if any(e.doi for e in left):
        by_doi = library_store.stored_dois(db)
        for e in left:
            if e.doi and e.doi in by_doi:
                found[e.position] = (by_doi[e.doi], "doi")
        left = [e for e in left if e.position not in found]
    wanted = {
        e.position: key for e in left if len(key := title_key(e.title)) >= MIN_TITLE_KEY_CHARS
    }
    if wanted:
        by_title = _title_index(db, set(wanted.values()))
        for position, key in wanted.items():
            if key in by_title:
                found[position] = (by_title[key], "title")
    rows = []
    for e in entries:
        paper_id, how = found.get(e.position, (None, ""))
        status = "matched" if paper_id else ("pending" if e.arxiv_id else "unmatched")
        rows.append(EntryRow(e.position, e.ref, e.title, e.arxiv_id, e.doi, paper_id, how, status))
    return rows


def _title_index(db, keys: set[str]) -> dict[str, str]:
    """{title key: paper id} for the stored papers whose title key is one of `keys`."""
    index: dict[str, str] = {}
    for paper_id, title in library_store.iter_stored_titles(db):
        key = title_key(title)
        if key in keys:
            index.setdefault(key, paper_id)
    return index


# ---------------------------------------------------------------- importing


def import_library(
    db,
    config: Config,
    subscriber: Subscriber,
    raw: bytes,
    file_name: str = "",
    *,
    source: str = "cli",
    fetch: bool = True,
    fetcher=None,
    progress: Progress | None = None,
) -> LibraryReport:
    """Read, match, fetch what is missing, and store the subscriber's library (replacing
    theirs). UsageError, with nothing changed, when the file is not a usable library."""
    started = time.perf_counter()
    parsed = parse_library(raw)
    report = LibraryReport(subscriber.email, file_name, parsed.format, len(parsed.entries))
    report.skipped = parsed.skipped
    rows = match_entries(db, parsed.entries)
    pending = list(dict.fromkeys(r.arxiv_id for r in rows if r.status == "pending" and r.arxiv_id))
    if pending and fetch:
        found, report.fetch_error, report.api_requests = fetch_papers(
            db, config, pending, fetcher, progress
        )
        # after a failure the ids not fetched stay pending: the next daily run asks again
        rows = [_settle(r, found, final=report.fetch_error is None) for r in rows]
    library_store.replace_library(
        db, subscriber.id, file_name, parsed.format, len(parsed.skipped), source, rows
    )
    _count(report, rows)
    report.papers = len(library_store.library_paper_ids(db, subscriber.id))
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def import_library_file(db, config: Config, subscriber: Subscriber, path: Path, **options):
    """`import_library` on a file, with a clear error for a missing or oversized one."""
    if path.is_dir():
        raise UsageError(f"{path}: is a directory, not a library file")
    try:
        size = path.stat().st_size
        if size > MAX_LIBRARY_BYTES:
            raise UsageError(
                f"{path}: {size / 2**20:.1f} MB; a library file can be at most "
                f"{MAX_LIBRARY_BYTES // 2**20} MB (export a collection rather than everything)"
            )
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise UsageError(f"{path}: no such file") from exc
    return import_library(db, config, subscriber, raw, path.name, **options)


def _settle(row: EntryRow, found: set[str], final: bool) -> EntryRow:
    """A pending entry after the API was asked: fetched, unmatched (the API does not know
    it), or still pending when the API could not answer (`final` False)."""
    if row.status != "pending":
        return row
    if row.arxiv_id in found:
        return replace(row, paper_id=row.arxiv_id, matched_by="arxiv", status="fetched")
    return replace(row, status="unmatched") if final else row


def _count(report: LibraryReport, rows: Sequence[EntryRow]) -> None:
    for row in rows:
        if row.status == "matched":
            report.matched += 1
            if row.matched_by == "arxiv":
                report.by_arxiv_id += 1
            elif row.matched_by == "doi":
                report.by_doi += 1
            else:
                report.by_title += 1
        elif row.status == "fetched":
            report.fetched += 1
        elif row.status == "pending":
            report.pending += 1
        else:
            report.unmatched += 1
            if len(report.unmatched_titles) < TITLES_IN_REPORT:
                report.unmatched_titles.append(row.title or row.ref)


# ---------------------------------------------------------------- the arXiv API


def fetch_papers(
    db, config: Config, arxiv_ids: Sequence[str], fetcher=None, progress: Progress | None = None
) -> tuple[set[str], str | None, int]:
    """Store `arxiv_ids` from the arXiv API (id lists of `[arxiv].api_page_size`, one request
    per `request_delay_seconds`). Returns (ids now stored, error or None, requests made)."""
    from digest.ingest.backfill import backfill_api
    from digest.ingest.http import PoliteFetcher

    own = fetcher is None
    fetcher = fetcher or PoliteFetcher(config.arxiv)
    before = fetcher.requests_made
    error = None
    try:
        page = max(config.arxiv.api_page_size, 1)
        for start in range(0, len(arxiv_ids), page):
            backfill_api(db, config, fetcher, ids=list(arxiv_ids[start : start + page]))
            if progress:
                progress(min(start + page, len(arxiv_ids)), len(arxiv_ids))
    except (DigestError, UsageError) as exc:
        error = str(exc)
    finally:
        if own:
            fetcher.close()
    return existing_paper_ids(db, list(arxiv_ids)), error, fetcher.requests_made - before


def fetch_pending(
    db, config: Config, fetcher=None, wait_first: float = 0.0
) -> dict[str, int | str]:
    """The daily run's part: fetch the arXiv ids libraries named that the store still lacks
    (uploads from the preferences page never wait on the API). Never raises for the API.
    `wait_first`: seconds since another client's last request to arXiv, to keep the spacing."""
    pending = library_store.pending_arxiv_ids(db)
    if not pending:
        return {"library_pending": 0}
    time.sleep(max(wait_first, 0.0))
    found, error, requests = fetch_papers(db, config, pending, fetcher)
    if error is not None:  # they stay pending for the next run
        return {"library_pending": len(pending), "library_error": error}
    fetched = library_store.settle_pending(
        db, sorted(found), [i for i in pending if i not in found]
    )
    return {"library_pending": len(pending), "library_fetched": fetched, "api_requests": requests}
