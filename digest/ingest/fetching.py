"""`digest fetch`: today's listing feeds, or an arXiv API back-fill, chosen by the caller."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from digest.config import Config
from digest.config.categories import feed_problem
from digest.errors import DigestError, UsageError
from digest.ingest.daily import fetch_daily
from digest.models import IngestReport


def run_fetch(
    db,
    config: Config,
    *,
    source: str = "feed",
    categories: Sequence[str] | None = None,
    ids: Sequence[str] = (),
    date_from: date | None = None,
    date_to: date | None = None,
) -> list[IngestReport]:
    for category in categories or ():
        problem = feed_problem(category)
        if problem:
            raise UsageError(
                f"--category: {problem} (several may be joined with '+': cs.LG+stat.ML)"
            )
    if source == "feed":
        if ids or date_from or date_to:
            raise UsageError("--ids, --from and --to need --source api (feeds hold only today)")
        return fetch_daily(db, config, categories=categories)
    if source != "api":
        raise UsageError(f"--source must be feed or api, got {source!r}")
    return _fetch_api(db, config, categories, ids, date_from, date_to)


def _fetch_api(db, config: Config, categories, ids, date_from, date_to) -> list[IngestReport]:
    from digest.ingest.backfill import backfill_api
    from digest.ingest.http import PoliteFetcher

    if not ids and not date_from:
        raise UsageError("--source api needs --ids or --from (with optional --to and --category)")
    reports = []
    with PoliteFetcher(config.arxiv) as fetcher:
        # The API takes one category per query: a feed's 'cs.LG+stat.ML' becomes two.
        singles = dict.fromkeys(
            part for joined in categories or config.arxiv.categories for part in joined.split("+")
        )
        jobs = (
            [dict(ids=list(ids))]
            if ids
            else [dict(category=c, date_from=date_from, date_to=date_to) for c in singles]
        )
        for job in jobs:
            try:
                reports.append(backfill_api(db, config, fetcher, **job))
            except DigestError as exc:  # unreachable, or not an API answer: the next goes on
                label = job.get("category") or "ids"
                reports.append(IngestReport("api", str(label), "failed", error=str(exc)))
    return reports
