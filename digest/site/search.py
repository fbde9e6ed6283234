"""Search with Pagefind: the index is built offline at site build time, in several bundles.

Papers are grouped into bundles (one per past month, one per ISO week of the latest month), so
a new day re-indexes only its week; the search page merges all bundles. Each bundle is indexed
from tiny pages (abstract, title, authors; TeX as readable text) handed to the `pagefind` binary from the wheel over
its service pipe (no source files on disk).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from digest.errors import DigestError
from digest.mail import links
from digest.site import views
from digest.site.gather import PaperEntry, SiteData
from digest.site.jobs import fingerprint, render
from digest.site.pagefind_service import index_records
from digest.site.texmath import tex_plain

SEARCH_DIR = "search"


def bundle_name(paper: PaperEntry, latest_month: tuple[int, int] | None) -> str:
    day = paper.first_announced
    if day is None:
        return "undated"
    if (day.year, day.month) == latest_month:
        year, week, _ = day.isocalendar()
        return f"{day.year}-{day.month:02d}-w{week:02d}"
    return f"{day.year}-{day.month:02d}"


def plan_bundles(data: SiteData, salt: str) -> dict[str, tuple[str, list[str]]]:
    """bundle name -> (fingerprint of what it indexes, paper ids)."""
    latest = (data.days[-1].year, data.days[-1].month) if data.days else None
    groups: dict[str, list[str]] = {}
    for paper in data.papers.values():
        groups.setdefault(bundle_name(paper, latest), []).append(paper.id)
    plans = {}
    papers = data.papers
    for name, ids in sorted(groups.items()):
        ids.sort()
        text = "".join(  # what a search record shows: text, authors, day
            f"{pid!r}{p.content_hash}{p.author_names}{p.first_announced}{p.categories[:3]}\n"
            for pid, p in zip(ids, map(papers.__getitem__, ids), strict=True)
        )
        plans[name] = (fingerprint(salt, "search", text), ids)
    return plans


def bundle_paths(plans: dict[str, tuple[str, list[str]]]) -> list[str]:
    """Relative bundle directories, newest first (the search page merges them)."""
    return [f"{SEARCH_DIR}/{name}/" for name in sorted(plans, reverse=True)]


def _records(data: SiteData, ids: list[str]) -> Iterator[tuple[str, str]]:
    """(url, html) per paper: a tiny page with title, authors, day and abstract."""
    for paper_id in ids:
        paper = data.papers[paper_id]
        html = render(
            "site/search_record.html.j2",
            title=tex_plain(paper.title),
            abstract=tex_plain(paper.abstract),
            authors=", ".join(paper.author_names),
            categories=" ".join(paper.categories[:3]),
            day=views.day_label(paper.first_announced) if paper.first_announced else "",
        )
        yield "/" + links.paper_path(paper_id), html


def build_bundles(
    data: SiteData,
    names: list[str],
    plans: dict[str, tuple[str, list[str]]],
    out_dir: Path,
    workers: int = 2,
) -> None:
    """Index the named bundles into out_dir/search/<name>/ (two pagefind runs at a time)."""

    # One thread per service: a lone bundle (a normal build's new week) leaves the other CPU to
    # page planning and rendering, and a full build runs two services at once anyway. With
    # Pagefind's default threads its service spent ~10% more CPU on a full build's 100k records.
    env = {**os.environ, "RAYON_NUM_THREADS": "1"}

    def one(name: str) -> None:
        target = out_dir / SEARCH_DIR / name
        if target.exists():
            shutil.rmtree(target)
        index_records(_records(data, plans[name][1]), target, env)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(one, names))


class Indexing:
    """A forked process running build_bundles; wait() raises DigestError if it failed."""

    def __init__(self, process, reader) -> None:
        self.process, self.reader = process, reader

    def wait(self) -> None:
        if self.process is None:
            return
        try:
            message = self.reader.recv()
        except EOFError:  # the child died before reporting
            message = ""
        self.process.join()
        if message or self.process.exitcode != 0:
            raise DigestError(message or f"search indexing exited with {self.process.exitcode}")

    def stop(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.process.kill()
            self.process.join()


def _index_in_child(writer, data, names, plans, out_dir) -> None:
    import gc

    gc.enable()  # the parent builds with the cyclic collector off (its heap is frozen)
    try:
        build_bundles(data, names, plans, out_dir)
        writer.send("")
    except BaseException as exc:  # reported to the parent, which raises it
        writer.send(str(exc) or exc.__class__.__name__)


def start_indexing(
    data: SiteData,
    names: list[str],
    plans: dict[str, tuple[str, list[str]]],
    out_dir: Path,
) -> Indexing:
    """Index the named bundles in a forked child (call before starting any thread); falls back
    to indexing right here where fork is unavailable."""
    import multiprocessing

    if not names:
        return Indexing(None, None)
    if "fork" not in multiprocessing.get_all_start_methods():
        build_bundles(data, names, plans, out_dir)
        return Indexing(None, None)
    context = multiprocessing.get_context("fork")
    reader, writer = context.Pipe(duplex=False)
    process = context.Process(
        target=_index_in_child,
        name="site-search",
        args=(writer, data, names, plans, out_dir),
    )
    process.start()
    writer.close()
    return Indexing(process, reader)
