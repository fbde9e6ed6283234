"""A share of the archive's paper and author pages, rendered by a worker (PostgreSQL fleets).

`digest run` builds the site in its own process as on SQLite, except that the paper and author
pages that must be rendered go to the workers as jobs of paper-id ranges (`site_pages`). A
worker gathers the archive once per build (kept for the build's next jobs), renders the pages
it is given exactly as the build would, and writes them into the build's tree, which the
building process then checks, swaps in and records. The tree must be on a volume every worker
that takes `site` jobs sees at the same path; a page a worker could not place there is
rendered by the building process instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from digest.config import Config
from digest.site import profiles, write
from digest.site.gather import SiteData, gather
from digest.store import site as site_store

_gathered: dict[str, tuple[SiteData, dict[str, str]]] = {}  # one build's archive per process


def _archive(db, build_marker: str) -> tuple[SiteData, dict[str, str]]:
    """The archive and every paper's key for this build, gathered on the build's first job."""
    if build_marker not in _gathered:
        _gathered.clear()
        data = gather(db)
        keys = {pid: profiles.paper_key(data, p) for pid, p in data.papers.items()}
        _gathered[build_marker] = (data, keys)
    return _gathered[build_marker]


def render_share(
    db,
    config: Config,
    build_marker: str,
    root: Path,
    paper_ids: Sequence[str] = (),
    author_ids: Sequence[int] = (),
) -> int:
    """Render these papers' and authors' pages into the build tree at `root`; returns how many
    pages were written (an id the archive no longer has is left out). None when the tree is
    not on this machine: the building process finds those pages missing and renders them."""
    from digest.site.build import _site_settings

    if not root.is_dir():
        return 0
    data, keys = _archive(db, build_marker)
    site = _site_settings(config)
    papers = [pid for pid in paper_ids if pid in data.papers]
    similar = site_store.similar_lists(db, config.embedding.model, papers) if papers else {}
    jobs = profiles.paper_jobs(data, site, "", similar, keys, papers)
    authors = [aid for aid in author_ids if aid in data.author_papers]
    jobs += profiles.author_jobs(data, site, "", keys, authors)
    write.render_jobs(jobs, root, None, 1)
    return len(jobs)
