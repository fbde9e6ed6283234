"""Bulk paths into the store: a JSON Lines file, or the arXiv API by ids or category + dates.

Each call is one `ingest_runs` row. Papers are stored in batches, one transaction each, so a
failure part-way keeps every finished batch and never a half-written one; the run row then
says `failed` with the error text. Re-running is safe: upserts are keyed by base id.
"""

from __future__ import annotations

import contextlib
import gzip
import zlib
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from digest.config import Config
from digest.errors import DigestError, UsageError
from digest.ingest.arxiv_api import (
    CATEGORY_RE,
    query_by_category,
    query_by_ids,
    validate_arxiv_id,
)
from digest.ingest.badging import record_badges
from digest.ingest.http import PoliteFetcher
from digest.ingest.jsonl import iter_jsonl_numbered
from digest.models import IngestCounts, IngestReport, Paper, SkippedRecord
from digest.store.papers import finish_ingest_run, start_ingest_run, upsert_papers

MAX_KEPT_SKIPS = 1000  # reasons kept in the report; all skips are counted

Progress = Callable[[int], None]


class _RunTally:
    """Counts and skip reasons of one run, bounded in memory."""

    def __init__(self) -> None:
        self.counts = IngestCounts()
        self.read = 0
        self.skipped: list[SkippedRecord] = []
        self.skipped_total = 0

    def skip(self, record: SkippedRecord) -> None:
        self.skipped_total += 1
        if len(self.skipped) < MAX_KEPT_SKIPS:
            self.skipped.append(record)

    def store(self, db, papers: Iterable[Paper], source: str) -> None:
        papers = list(papers)
        self.counts = self.counts + upsert_papers(db, papers, source=source)
        record_badges(db, papers)

    def final_counts(self) -> IngestCounts:
        return IngestCounts(
            fetched=self.read,
            new=self.counts.new,
            updated=self.counts.updated,
            unchanged=self.counts.unchanged,
            skipped=self.skipped_total,
        )

    def report(
        self, source: str, label: str, run_id: int, status: str, error: str | None = None
    ) -> IngestReport:
        return IngestReport(
            source=source,
            label=label,
            status=status,
            counts=self.final_counts(),
            skipped=list(self.skipped),
            run_id=run_id,
            error=error,
        )


def _finish(db, tally: _RunTally, run_id: int, source: str, label: str) -> IngestReport:
    status = "ok" if tally.read else "empty"
    finish_ingest_run(db, run_id, status, tally.final_counts(), tally.skipped)
    return tally.report(source, label, run_id, status)


def _fail(db, tally: _RunTally, run_id: int, error: BaseException) -> None:
    text = str(error) or type(error).__name__
    if isinstance(error, KeyboardInterrupt):
        text = "interrupted"
    # If the database itself is what failed, keep the original error rather than this one.
    with contextlib.suppress(Exception):
        finish_ingest_run(db, run_id, "failed", tally.final_counts(), tally.skipped, error=text)


# ---------------------------------------------------------------- JSON Lines


def import_jsonl(
    db, path: str | Path, progress: Progress | None = None, batch_size: int = 1000
) -> IngestReport:
    """Import a JSONL file (snapshot or plain format), streaming, `batch_size` papers a batch.

    `progress(done_lines)` is called after each stored batch. Within a batch a repeated id
    keeps the highest version (the later line on a tie) and the other copy counts as skipped;
    across batches the store applies the same rule.
    """
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{path}: is a directory, not a JSON Lines file")
    if not path.exists():  # a pipe (`digest import /dev/stdin`) is fine: it is streamed
        hint = " (to read standard input, give /dev/stdin)" if str(path) == "-" else ""
        raise UsageError(f"{path}: no such file{hint}")
    if batch_size < 1:
        raise UsageError("batch size must be at least 1")
    label = path.name
    run_id = start_ingest_run(db, "jsonl", label, str(path))
    tally = _RunTally()
    batch: dict[str, tuple[int, Paper]] = {}
    line_no = 0
    try:
        for line_no, item in iter_jsonl_numbered(path):
            tally.read += 1
            if isinstance(item, SkippedRecord):
                tally.skip(item)
                continue
            _add_to_batch(batch, line_no, item, tally)
            if len(batch) >= batch_size:
                tally.store(db, [paper for _, paper in batch.values()], "jsonl")
                batch.clear()
                if progress:
                    progress(line_no)
        if batch:
            tally.store(db, [paper for _, paper in batch.values()], "jsonl")
        if progress:
            progress(line_no)
    except (EOFError, zlib.error, OSError) as exc:  # reading failed: keep the lines read
        with contextlib.suppress(Exception):
            tally.store(db, [paper for _, paper in batch.values()], "jsonl")
        _fail(db, tally, run_id, exc)
        kept = f"the {tally.counts.fetched} papers before it were stored"
        if isinstance(exc, gzip.BadGzipFile | EOFError | zlib.error):
            raise UsageError(
                f"{path}: not a valid gzip file, or cut short, after line {line_no} ({exc}); {kept}"
            ) from exc
        raise DigestError(f"reading {path} failed at line {line_no + 1}: {exc}; {kept}") from exc
    except BaseException as exc:
        _fail(db, tally, run_id, exc)
        raise
    if tally.read and tally.skipped_total == tally.read and not tally.counts.fetched:
        first = tally.skipped[0]
        error = (
            f"none of the {tally.read} lines is a paper (first, {first.ref}: {first.reason}); "
            "a JSON Lines file holds one JSON object per line"
        )
        finish_ingest_run(db, run_id, "failed", tally.final_counts(), tally.skipped, error=error)
        return tally.report("jsonl", label, run_id, "failed", error)
    return _finish(db, tally, run_id, "jsonl", label)


def _add_to_batch(
    batch: dict[str, tuple[int, Paper]], line_no: int, paper: Paper, tally: _RunTally
) -> None:
    previous = batch.get(paper.id)
    if previous is None:
        batch[paper.id] = (line_no, paper)
        return
    old_line, old = previous
    if old.version is not None and paper.version is not None and old.version > paper.version:
        tally.skip(
            SkippedRecord(
                f"line {line_no}", f"duplicate id {paper.id}: line {old_line} has a higher version"
            )
        )
        return
    tally.skip(
        SkippedRecord(f"line {old_line}", f"duplicate id {paper.id}: superseded by line {line_no}")
    )
    batch[paper.id] = (line_no, paper)


# ---------------------------------------------------------------- arXiv API


def backfill_api(
    db,
    cfg: Config,
    fetcher: PoliteFetcher,
    *,
    ids: Sequence[str] | None = None,
    category: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Store papers from the arXiv API: an id list, or a category's submissions in a date range.

    `date_to` defaults to today (UTC). Each API page is stored in its own transaction;
    `progress(papers_stored)` is called after each. A FetchError or ApiQueryError marks the
    run failed and is raised again for the caller to report.
    """
    if bool(ids) == bool(category):
        raise UsageError("give either arXiv ids or a category (with --from), not both or neither")
    if ids:
        for raw in ids:
            validate_arxiv_id(raw)
        shown = ",".join(ids[:5]) + (f",… ({len(ids)} ids)" if len(ids) > 5 else "")
        label = f"ids:{shown}"
    else:
        assert category is not None
        if not CATEGORY_RE.match(category):
            raise UsageError(f"not an arXiv category: {category!r} (expected e.g. cs.AI)")
        if date_from is None:
            raise UsageError("a category back-fill needs a start date (--from YYYY-MM-DD)")
        date_to = date_to or datetime.now(UTC).date()
        if date_from > date_to:
            raise UsageError(f"--from {date_from} is after --to {date_to}")
        label = f"{category} {date_from}..{date_to}"
    run_id = start_ingest_run(db, "api", label, cfg.arxiv.api_base_url)
    tally = _RunTally()
    stored = 0
    try:
        if ids:
            pages: Iterable = [query_by_ids(fetcher, cfg, ids)]
        else:
            assert category is not None and date_from is not None and date_to is not None
            pages = query_by_category(fetcher, cfg, category, date_from, date_to)
        for page in pages:
            tally.read += len(page.papers) + len(page.skipped)
            for record in page.skipped:
                tally.skip(record)
            if page.papers:
                tally.store(db, page.papers, "api")
                stored += len(page.papers)
            if progress:
                progress(stored)
    except BaseException as exc:
        _fail(db, tally, run_id, exc)
        raise
    return _finish(db, tally, run_id, "api", label)
