"""`digest run`'s site stage on PostgreSQL: the build runs in the run's process as on SQLite,
and the paper and author pages it must render go to the workers as jobs of paper-id ranges
(then author-id ranges); see digest/site/shares.py for what a job does. The list pages, feeds
and search index stay with the build, which renders them meanwhile, then waits for the jobs,
renders any page a worker could not place in the tree, and swaps the tree in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from digest.config import Config
from digest.workers.fleet import Progress, ensure_queue, run_tag, wait_for

SITE_RANGE = 1000  # pages per site job
SITE_MIN_PAGES = 100  # fewer pages than this are rendered by the build itself


@dataclass
class RemotePages:
    local: list  # the PageJobs the build renders itself
    wait: Callable[[], None]  # returns once the workers' pages are in the tree


class SitePageJobs:
    """The build's hook: takes the pending paper and author pages off its hands as jobs."""

    def __init__(self, db, progress: Progress) -> None:
        self.db, self.progress = db, progress
        self.jobs = self.on_workers = self.rendered_here = 0

    def __call__(self, pending: list, root: Path, data) -> RemotePages:
        from digest.mail import links

        paper_at = {links.paper_path(pid): pid for pid in data.papers}
        author_at = {links.author_path(aid): aid for aid in data.author_papers}
        remote = [job for job in pending if job.path in paper_at or job.path in author_at]
        if len(remote) < SITE_MIN_PAGES:
            return RemotePages(pending, lambda: None)
        for job in remote:  # an older copy in this tree must not pass for the new page
            (root / job.path).unlink(missing_ok=True)
        papers = sorted(paper_at[job.path] for job in remote if job.path in paper_at)
        authors = sorted(author_at[job.path] for job in remote if job.path in author_at)
        tag = self._defer(root, papers, authors)
        paths = {job.path for job in remote}

        def wait() -> None:
            from digest.site import write

            wait_for(self.db, tag, "site pages", self.progress)
            missing = [job for job in remote if not (root / job.path).is_file()]
            write.render_jobs(missing, root, None, 1)
            self.on_workers = len(remote) - len(missing)
            self.rendered_here = len(missing)

        return RemotePages([job for job in pending if job.path not in paths], wait)

    def _defer(self, root: Path, papers: list[str], authors: list[int]) -> str:
        from digest.store import jobs as job_store
        from digest.store import transaction
        from digest.workers.names import task_name

        tag = run_tag(self.db, "site")
        shares: list[dict[str, list]] = [
            {"paper_ids": papers[i : i + SITE_RANGE]} for i in range(0, len(papers), SITE_RANGE)
        ]
        shares += [
            {"author_ids": authors[i : i + SITE_RANGE]} for i in range(0, len(authors), SITE_RANGE)
        ]
        jobs = [
            job_store.JobToDefer(
                "site", task_name("site_pages"), {"run": tag, "root": str(root), **share}
            )
            for share in shares
        ]
        with transaction(self.db):
            job_store.defer_jobs(self.db, jobs)
        self.jobs = len(jobs)
        return tag


def fleet_site(db, config: Config, issue_date: date, progress: Progress) -> dict:
    """The site stage with its paper and author pages rendered by the workers."""
    from dataclasses import asdict

    from digest.site.build import build_site

    ensure_queue(db)
    hook = SitePageJobs(db, progress)
    report = build_site(db, config, full=False, page_jobs=hook)
    counts = {k: v for k, v in asdict(report).items() if isinstance(v, int | float | str | bool)}
    return counts | {
        "page_jobs": hook.jobs,
        "pages_on_workers": hook.on_workers,
        "pages_rendered_here": hook.rendered_here,
    }
