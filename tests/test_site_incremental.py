"""Normal (incremental) site builds look only at the pages a change can reach; these tests prove
the result is the site a full rebuild makes, byte for byte, in both site trees."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import date
from pathlib import Path

from digest.config import parse_config
from digest.models import Paper
from digest.site.build import build_site
from digest.store import open_db
from digest.store.papers import get_papers, upsert_papers
from tests.test_site_build import fresh_archive

NEW_DAY = date(2026, 9, 25)


def page_bytes(root: Path) -> dict[str, bytes]:
    """Every page of a site except the search index (Pagefind's own output)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not str(p.relative_to(root)).startswith("search/")
    }


def full_rebuild_elsewhere(db, folder: Path) -> dict[str, bytes]:
    """A full build from a copy of the database into its own folder."""
    folder.mkdir(parents=True)
    copy = sqlite3.connect(folder / "digest.db")
    db.conn.backup(copy)
    copy.close()
    config = parse_config(
        {"database": {"path": "digest.db"}, "site": {"dir": "site"}}, source="test", base_dir=folder
    )
    other = open_db(config.db_path)
    report = build_site(other, config, full=True)
    other.conn.close()
    return page_bytes(Path(report.dir))


def assert_same_site(db, config, folder: Path) -> None:
    built = page_bytes(Path(config.path(config.site.dir)))
    expected = full_rebuild_elsewhere(db, folder)
    assert sorted(built) == sorted(expected)
    differing = [path for path in expected if built[path] != expected[path]]
    assert differing == []


def edit_and_add_a_day(db) -> Paper:
    """A replacement that renames a paper and drops one of its authors, plus a new paper."""
    old = get_papers(db, ["2609.99999"])["2609.99999"]
    assert len(old.authors) == 2
    edited = replace(
        old,
        title="Zebra crossings, revisited",
        authors=old.authors[:1],
        version=2,
        announce_type="replace",
        announced=NEW_DAY,
    )
    fresh = Paper(
        id="2609.50003",
        title="Noise in tiny transformers",
        abstract="We measure gradient noise in tiny transformers.",
        authors=("Eve Example", "New Person"),
        categories=("cs.LG",),
        version=1,
        announce_type="new",
        announced=NEW_DAY,
    )
    upsert_papers(db, [edited, fresh], source="test")
    return edited


def test_incremental_builds_equal_a_full_rebuild_in_both_trees(sample_db_path, tmp_path):
    from digest.embed.encoder import embed_missing

    db, config, _ = fresh_archive(sample_db_path, tmp_path / "archive")
    build_site(db, config)  # tree a
    build_site(db, config)  # tree b
    dropped = get_papers(db, ["2609.99999"])["2609.99999"].authors[1]
    edited = edit_and_add_a_day(db)
    embed_missing(db, config.embedding)

    first = build_site(db, config)  # tree a, two builds behind
    assert 0 < first.rendered < first.pages // 3
    assert_same_site(db, config, tmp_path / "full-1")
    second = build_site(db, config)  # tree b, one build behind
    assert second.rendered == 0  # what changed is linked from the tree built just before
    assert_same_site(db, config, tmp_path / "full-2")

    site = Path(config.path(config.site.dir))
    author_id = db.execute(
        "SELECT author_id FROM paper_authors WHERE paper_id = ? AND position = 0", [edited.id]
    ).fetchone()[0]
    assert edited.title in (site / f"authors/{author_id}.html").read_text()
    assert edited.title in (site / f"days/{NEW_DAY}.html").read_text()
    assert "Noise in tiny transformers" in (site / "index.html").read_text()
    gone = db.execute("SELECT id FROM authors WHERE name = ?", [dropped]).fetchone()[0]
    author_page = site / f"authors/{gone}.html"
    assert not author_page.exists() or "Zebra crossings" not in author_page.read_text()
    db.conn.close()


def test_new_templates_or_settings_look_at_every_page(sample_db_path, tmp_path):
    db, config, _ = fresh_archive(sample_db_path, tmp_path / "archive")
    build_site(db, config)
    build_site(db, config)
    renamed = replace(config, site=replace(config.site, title="Another archive"))
    report = build_site(db, renamed)  # the salt changed: nothing recorded is trusted
    assert report.rendered == report.pages
    site = Path(config.path(config.site.dir))
    author_pages = list((site / "authors").glob("*.html"))
    assert author_pages and all("Another archive" in p.read_text() for p in author_pages)
    db.conn.close()


def test_similar_cache_after_new_and_edited_papers_equals_a_fresh_computation(tmp_path):
    """The cached neighbour lists, updated for a new day and an edited abstract (new vector),
    are the lists an exact computation from scratch gives."""
    import numpy as np

    from digest.site.similar import update_similar
    from digest.store import site as site_store
    from digest.store.papers import save_embeddings

    model = "test-model"
    rng = np.random.default_rng(3)
    db = open_db(tmp_path / "similar.db")

    def add(papers: list[Paper]) -> None:
        upsert_papers(db, papers, source="test")
        vectors = rng.normal(size=(len(papers), 16)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        save_embeddings(db, model, [p.content_hash for p in papers], vectors)

    def paper(n: int, day: date, abstract: str = "text") -> Paper:
        return Paper(id=f"2601.{n:05d}", title=f"Paper {n}", abstract=abstract, announced=day)

    add([paper(n, date(2026, 1, 5)) for n in range(300)])
    update_similar(db, model, full=True, build_id=1)
    add([paper(n, date(2026, 1, 6)) for n in range(300, 340)])
    add([paper(7, date(2026, 1, 6), abstract="rewritten")])
    update_similar(db, model, full=False, build_id=2)
    cached = site_store.similar_papers(db, model)
    assert len(site_store.similar_changed_since(db, 1)) > 41  # new, edited, displaced lists
    assert update_similar(db, model, full=True, build_id=3) == cached
    db.conn.close()


def test_similar_cache_after_a_paper_leaves_and_returns_equals_a_fresh_computation(tmp_path):
    """A paper removed from the store (by hand: the app never deletes papers) drops out of every
    list; when it comes back with the same text it enters them again, as from scratch."""
    import numpy as np

    from digest.site.similar import update_similar
    from digest.store import site as site_store
    from digest.store.papers import save_embeddings

    model = "test-model"
    db = open_db(tmp_path / "similar.db")
    papers = [Paper(id=f"2601.{n:05d}", title=f"P {n}", abstract=f"a {n}") for n in range(200)]
    upsert_papers(db, papers, source="test")
    vectors = np.random.default_rng(5).normal(size=(200, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    save_embeddings(db, model, [p.content_hash for p in papers], vectors)
    update_similar(db, model, full=True, build_id=1)
    shown = site_store.similar_showing(db, model, ["2601.00007"])
    assert shown
    db.execute("DELETE FROM papers WHERE id = ?", ["2601.00007"])
    update_similar(db, model, full=False, build_id=2)
    assert not site_store.similar_showing(db, model, ["2601.00007"])
    upsert_papers(db, [papers[7]], source="test")
    update_similar(db, model, full=False, build_id=3)
    assert site_store.similar_showing(db, model, ["2601.00007"]) == shown
    cached = site_store.similar_papers(db, model)
    assert update_similar(db, model, full=True, build_id=4) == cached
    db.conn.close()


def test_a_build_started_during_another_waits_for_it(sample_db, make_config):
    """Without turns, a second build (an operator's, during the daily run's) picked the tree
    the first was writing, linked the old pages into it and swapped it in while the first was
    still rendering there."""
    import json
    import subprocess
    import sys
    import time

    config, config_path = make_config()
    build_site(sample_db, config)  # both trees exist from here on: a second build is cheap
    build_site(sample_db, config)
    second: list[subprocess.Popen] = []
    still_waiting: list[bool] = []

    def start_second_build(stage: str, done: int, total: int) -> None:
        if stage == "pages" and not second:
            command = [sys.executable, "-m", "digest", "--config", str(config_path)]
            second.append(
                subprocess.Popen([*command, "site", "build", "--json"], stdout=subprocess.PIPE)
            )
            deadline = time.monotonic() + 10  # unchecked, it finished in 2 s (load 3)
            while second[0].poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            still_waiting.append(second[0].poll() is None)

    first = build_site(sample_db, config, full=True, progress=start_second_build)
    out, _ = second[0].communicate(timeout=120)
    assert still_waiting == [True]  # it did not swap in a tree the first was writing
    assert second[0].returncode == 0
    report = json.loads(out)
    assert report["rendered"] == 0 and report["pages"] == first.pages
    assert_same_site(sample_db, config, Path(config.path("full-copy")))
