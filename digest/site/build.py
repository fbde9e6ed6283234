"""The static archive: `build_site` gathers the public archive, renders what changed, indexes
search with Pagefind and swaps the new site in atomically.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from digest.config import Config
from digest.errors import DigestError
from digest.paths import PACKAGE_DIR, TEMPLATES_DIR
from digest.site import affected, day_pages, feeds, pages, profiles, search, trees, write
from digest.site.gather import SiteData, gather
from digest.site.jobs import PageJob
from digest.site.pagefind_service import bundle_is_whole
from digest.site.similar import SimilarUpdate
from digest.site.trending_view import trending_list
from digest.store import site as site_store

Progress = Callable[[str, int, int], None]
BUILD_WAIT_SECONDS = 3600  # for another build of the same site to finish
STATIC_SOURCE = TEMPLATES_DIR / "site" / "static"


@dataclass
class SiteReport:
    """What a build did; the CLI prints it."""

    dir: str
    index_path: str
    full: bool
    pages: int = 0
    rendered: int = 0
    reused: int = 0
    search_bundles: int = 0
    search_bundles_built: int = 0
    days: int = 0
    papers: int = 0
    authors: int = 0
    topics: int = 0
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


@cache
def _code_digest() -> str:
    """Templates and site code as this process loaded them (read once per process)."""
    digest = hashlib.blake2b(digest_size=16)
    for folder in (TEMPLATES_DIR / "site", PACKAGE_DIR / "site"):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def _code_salt(config: Config, data: SiteData) -> str:
    """Anything that changes every page: templates, site code, site settings, topic names."""
    digest = hashlib.blake2b(_code_digest().encode(), digest_size=16)
    site = config.site
    digest.update(
        repr(
            (
                site.title,
                site.base_url,
                site.search,
                config.embedding.model,
                [(t.id, t.name, t.slug, t.description, t.keywords) for t in data.topics],
            )
        ).encode()
    )
    return digest.hexdigest()


def _site_settings(config: Config) -> dict:
    return {
        "title": config.site.title,
        "base_url": config.site.base_url,
        "search": config.site.search,
        "subscribe_action": "/subscribe",
    }


@dataclass
class Plan:
    jobs: list[PageJob]  # pages looked at (fingerprinted, rendered when they differ)
    kept: dict[str, str]  # pages not looked at: path -> the fingerprint the tree recorded
    paper_rows: list  # per-paper change stamps to store once the build is done


def plan_pages(
    db,
    config: Config,
    data: SiteData,
    salt: str,
    *,
    full: bool,
    bundles: list[str],
    build_id: int = 0,
    tree_build: int | None = None,
    own: dict[str, str] | None = None,
    similar_update: SimilarUpdate | None = None,
) -> Plan:
    """Every list page and feed, and the paper and author pages that may have changed since
    `tree_build` (all of them when it is None), each with its fingerprint (nothing rendered)."""
    site = _site_settings(config)
    own = own or {}
    signal_days = site_store.days_with_reader_signals(db)

    @cache
    def trend(period: str, day, limit: int):
        return trending_list(db, data, period, day, limit, signal_days)

    model = config.embedding.model
    similar_update = similar_update or SimilarUpdate(db, model, full=full, build_id=build_id)
    keys = {pid: profiles.paper_key(data, p) for pid, p in data.papers.items()}
    stored = site_store.paper_state(db)
    changes = affected.paper_changes(stored, keys, data, build_id, tree_build)
    jobs = [
        *day_pages.day_jobs(db, data, site, salt, trend, keys),
        *pages.period_jobs(data, site, salt, trend, keys),
        pages.archive_job(data, site, salt),
        *pages.topic_jobs(data, site, salt, keys),
        *pages.simple_jobs(data, site, salt, bundles),
        pages.stats_job(data, site, salt),
        *feeds.feed_jobs(data, site, salt, trend),
    ]
    similar = similar_update.result()  # the forked update ran beside everything above
    kept: dict[str, str] = {}
    paper_ids: list[str] | None = None
    author_ids: list[int] | None = None
    if changes.since is not None and tree_build is not None:
        moved = site_store.similar_changed_since(db, tree_build)
        moved |= site_store.similar_showing(db, model, changes.since)
        authors = affected.authors_of(changes.since, changes.rows, stored)
        paper_ids, author_ids, kept = affected.pages_to_check(
            data, changes.since | moved, authors, own
        )
        similar = site_store.similar_lists(db, model, paper_ids)
    elif similar is None:
        similar = site_store.similar_papers(db, model)
    jobs += profiles.paper_jobs(data, site, salt, similar, keys, paper_ids)
    jobs += profiles.author_jobs(data, site, salt, keys, author_ids)
    return Plan(jobs, kept, changes.rows)


def _start_search(data: SiteData, names: list[str], plans: dict, build: Path):
    """Index the stale search bundles in a forked process (started before any thread, right
    after gathering) so Pagefind overlaps page planning and rendering."""
    return search.start_indexing(data, names, plans, build)


def _place_search_bundles(
    plans: dict,
    own: dict[str, str],
    live: dict[str, str],
    live_root: Path | None,
    root: Path,
    fingerprints: dict[str, str],
) -> list[str]:
    """Keep or hard-link the search bundles that did not change; return those to index."""
    stale = []
    wanted = {f"{search.SEARCH_DIR}/{name}/" for name in plans}
    for path in own:
        if path.startswith(search.SEARCH_DIR + "/") and path not in wanted:
            shutil.rmtree(root / path, ignore_errors=True)
    for name, (key, _ids) in plans.items():
        path = f"{search.SEARCH_DIR}/{name}/"
        fingerprints[path] = key
        if own.get(path) == key and bundle_is_whole(root / path):
            continue
        shutil.rmtree(root / path, ignore_errors=True)
        if not (
            live.get(path) == key
            and live_root is not None
            and bundle_is_whole(live_root / path)
            and write.reuse_tree(live_root, root, path)
        ):
            stale.append(name)
    return stale


def site_dir(config: Config) -> Path:
    return config.path(config.site.dir)


@contextlib.contextmanager
def _long_lived_heap() -> Iterator[None]:
    """Gathering and planning make millions of long-lived objects and next to no reference
    cycles: the cyclic collector would walk the whole heap again and again (a third of the
    gathering time), so it is off during a build. Objects are frozen before each fork so a
    child's collections neither walk nor copy-on-write the inherited heap."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()


def build_site(
    db,
    config: Config,
    *,
    full: bool = False,
    progress: Progress | None = None,
    page_jobs: Callable | None = None,
) -> SiteReport:
    """Render the archive from the store into config.site.dir (incremental unless `full`).
    `page_jobs(pending, root, data)`: hands pages to other processes (the workers on
    PostgreSQL; digest/workers/site_jobs.py); it returns the pages left to render here."""
    with _one_build_at_a_time(site_dir(config)), _long_lived_heap():
        return _build_site(db, config, full=full, progress=progress, page_jobs=page_jobs)


@contextlib.contextmanager
def _one_build_at_a_time(target: Path) -> Iterator[None]:
    """Builds of one site take turns: two at once picked the same tree, and one cleared or
    re-linked it under the other (whose swap then published a tree still being written). A
    `digest site build` started during the daily run waits for it, then has little to do."""
    from filelock import FileLock, Timeout

    folder = trees.Trees(target, None, trees.SLOTS[0]).folder  # beside the two trees
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder / ".build.lock"))
    try:
        lock.acquire(timeout=BUILD_WAIT_SECONDS)
    except Timeout:
        raise DigestError(
            f"another site build has held {target} for over {BUILD_WAIT_SECONDS // 60} minutes"
        ) from None
    try:
        yield
    finally:
        lock.release()


def _build_site(
    db, config: Config, *, full: bool, progress: Progress | None, page_jobs=None
) -> SiteReport:
    started = time.perf_counter()
    target = site_dir(config)
    report = SiteReport(dir=str(target), index_path=str(target / "index.html"), full=full)
    tick = progress or (lambda stage, done, total: None)
    marks = {"start": started}

    def mark(name: str) -> None:
        now = time.perf_counter()
        report.timings[name] = round(now - marks["last" if "last" in marks else "start"], 3)
        marks["last"] = now

    build_id = site_store.start_build(db, full=full)
    similar = SimilarUpdate(db, config.embedding.model, full=full, build_id=build_id)
    data = gather(db)
    mark("gather")
    salt = _code_salt(config, data)
    plans = search.plan_bundles(data, salt) if config.site.search else {}
    place = trees.locate(target)
    live_root = place.live_root
    if full or live_root is None:
        live: dict[str, str] = {}
    elif place.live is not None:
        live = site_store.tree_fingerprints(db, place.live, trees.marker(live_root))
    else:
        live = site_store.page_fingerprints(db)  # a site directory from before the trees
    own = {} if full else site_store.tree_fingerprints(db, place.slot, trees.marker(place.root))
    tree_build, tree_salt = site_store.tree_build(db, place.slot) if own else (None, None)
    if tree_salt != salt or (tree_build is not None and tree_build >= build_id):
        tree_build = None  # new templates, code or settings (or a reused build id): look at all
    trash = trees.clear_slot(place) if not own else None
    site_store.mark_tree_dirty(db, place.slot)
    root = place.root
    root.mkdir(parents=True, exist_ok=True)
    fingerprints: dict[str, str] = {}
    stale = _place_search_bundles(plans, own, live, live_root, root, fingerprints)
    gc.freeze()
    indexing = _start_search(data, stale, plans, root)
    cleaner = None
    try:
        plan = plan_pages(
            db,
            config,
            data,
            salt,
            full=full,
            bundles=search.bundle_paths(plans),
            build_id=build_id,
            tree_build=tree_build,
            own=own,
            similar_update=similar,
        )
        jobs = plan.jobs
        fingerprints.update(plan.kept)
        fingerprints.update((job.path, job.fingerprint) for job in jobs)
        mark("plan")
        trees.remove_files(root, [p for p in own if p not in fingerprints])
        changed = [job for job in jobs if own.get(job.path) != job.fingerprint]
        linkable = [job.path for job in changed if live.get(job.path) == job.fingerprint]
        missing = trees.link_many(live_root, root, linkable) if linkable and live_root else set()
        linked = set(linkable) - missing
        pending: list[PageJob] = [job for job in changed if job.path not in linked]
        report.reused = len(jobs) + len(plan.kept) - len(pending)
        mark("link")
        remote = page_jobs(pending, root, data) if page_jobs else None
        local = remote.local if remote else pending
        workers = max(1, min(os.cpu_count() or 1, 4))
        gc.freeze()
        pool = write.render_pool(local, workers)  # fork before any thread starts
        cleaner = trees.remove_in_background(place, trash)
        tick("pages", 0, len(pending))
        write.render_jobs(local, root, pool, workers)
        if remote:
            remote.wait()
        report.rendered = len(pending)
        tick("pages", len(pending), len(pending))
        trees.sync_static(STATIC_SOURCE, root)
        mark("pages")
        tick("search", 0, len(stale))
        indexing.wait()
        tick("search", len(stale), len(stale))
        mark("search (after pages)")
        trees.swap_to(place)
    except BaseException:
        indexing.stop()
        raise
    finally:
        shutil.rmtree(root / ".search-src", ignore_errors=True)  # left by older builds
    site_store.save_paper_state(db, plan.paper_rows)
    site_store.save_tree_fingerprints(
        db, place.slot, own, fingerprints, trees.marker(root) or "", build_id=build_id, salt=salt
    )
    if place.live is None and live_root is not None:
        site_store.clear_page_fingerprints(db)  # the legacy directory is gone
    if cleaner is not None:
        cleaner.join()
    mark("swap")
    report.search_bundles_built = len(stale)
    report.pages = len(jobs) + len(plan.kept)
    report.search_bundles = len(plans)
    report.days, report.papers = len(data.days), len(data.papers)
    report.authors, report.topics = len(data.author_papers), len(data.topics)
    report.seconds = round(time.perf_counter() - started, 3)
    site_store.finish_build(
        db, build_id, rendered=report.rendered, reused=report.reused, seconds=report.seconds
    )
    return report


__all__ = ["SiteReport", "build_site", "site_dir"]
