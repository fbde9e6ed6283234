"""Every SQL statement the static archive needs: reads over the archive, plus its build state.

Reads never touch subscribers, tokens, feedback or per-subscriber picks: the site is public.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date

from digest.store.db import transaction, utcnow

PAPER_COLUMNS = (
    "id, version, title, abstract, authors_json, categories_json, primary_category, "
    "announce_type, first_announced, last_announced, published, updated, license, doi, "
    "journal_ref, comments, is_arxiv, content_hash"
)


def _table_exists(db, name: str) -> bool:
    return db.table_exists(name)


# ---------------------------------------------------------------- archive reads


def archive_days(db) -> list[date]:
    """Announcement days with at least one listing, oldest first."""
    rows = db.execute("SELECT DISTINCT announce_date FROM listings ORDER BY announce_date")
    return [date.fromisoformat(r[0]) for r in rows]


def archive_listings(db) -> list[tuple[str, str, str]]:
    """(paper_id, announce_date, announce_type) in listing order (day, then feed order)."""
    return db.execute(
        "SELECT paper_id, announce_date, announce_type FROM listings ORDER BY announce_date, rowid"
    ).fetchall()


def archive_papers(db) -> list[dict]:
    """Every stored paper's public metadata."""
    cursor = db.execute(f"SELECT {PAPER_COLUMNS} FROM papers ORDER BY id")  # noqa: S608
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def archive_paper_rows(db) -> list[tuple]:
    """Every stored paper's public metadata as tuples in PAPER_COLUMNS order (faster at 100k)."""
    return db.execute(f"SELECT {PAPER_COLUMNS} FROM papers ORDER BY id").fetchall()  # noqa: S608


def archive_paper_authors(db) -> list[tuple[str, int]]:
    """(paper_id, author_id) in author order."""
    return db.execute(
        "SELECT paper_id, author_id FROM paper_authors ORDER BY paper_id, position"
    ).fetchall()


def archive_authors(db) -> dict[int, str]:
    """author id -> display name, for authors of at least one paper."""
    rows = db.execute(
        "SELECT id, name FROM authors WHERE id IN (SELECT author_id FROM paper_authors)"
    )
    return {r[0]: r[1] for r in rows}


def archive_versions(db) -> list[tuple[str, int, str, str]]:
    """(paper_id, version, first_seen, source) for every version seen."""
    return db.execute(
        "SELECT paper_id, version, first_seen, source FROM paper_versions "
        "ORDER BY paper_id, version"
    ).fetchall()


def coauthor_counts(db, author_id: int) -> list[tuple[int, int]]:
    """(co-author id, shared papers) for one author, most shared first."""
    return db.execute(
        """
        SELECT other.author_id, COUNT(DISTINCT other.paper_id) AS shared
        FROM paper_authors me JOIN paper_authors other
          ON other.paper_id = me.paper_id AND other.author_id != me.author_id
        WHERE me.author_id = ?
        GROUP BY other.author_id ORDER BY shared DESC, other.author_id
        """,
        [author_id],
    ).fetchall()


def archive_topic_matches(db) -> list[tuple[int, str, str, float]]:
    """(topic_id, paper_id, announce_date, score) for curated topics; [] before ranking exists."""
    if not _table_exists(db, "topic_matches"):
        return []
    return db.execute(
        "SELECT m.topic_id, m.paper_id, m.announce_date, m.score FROM topic_matches m "
        "JOIN topics t ON t.id = m.topic_id AND t.kind = 'curated' "
        "ORDER BY m.announce_date, m.topic_id, m.score DESC"
    ).fetchall()


# ---------------------------------------------------------------- build state


def page_fingerprints(db) -> dict[str, str]:
    return dict(db.execute("SELECT path, fingerprint FROM site_pages").fetchall())


def replace_page_fingerprints(db, fingerprints: dict[str, str]) -> None:
    """Remember what the site on disk was built from (one transaction)."""
    with transaction(db):
        db.execute("DELETE FROM site_pages")
        db.executemany(
            "INSERT INTO site_pages (path, fingerprint) VALUES (?, ?)", fingerprints.items()
        )


def clear_page_fingerprints(db) -> None:
    with transaction(db):
        db.execute("DELETE FROM site_pages")


def similar_papers(db, model: str) -> dict[str, list[tuple[str, float]]]:
    """Every cached nearest-neighbour list: paper id -> [(similar id, score)], closest first."""
    rows = db.execute(
        "SELECT paper_id, similar_id, score FROM site_similar WHERE model = ? "
        "ORDER BY paper_id, rank",
        [model],
    ).fetchall()
    return _grouped(rows)


def _grouped(rows) -> dict[str, list[tuple[str, float]]]:
    found: dict[str, list[tuple[str, float]]] = {}
    current: list[tuple[str, float]] = []
    last = None
    for paper_id, similar_id, score in rows:
        if paper_id != last:
            current = found[paper_id] = []
            last = paper_id
        current.append((similar_id, score))
    return found


def similar_lists(db, model: str, paper_ids: Iterable[str]) -> dict[str, list[tuple[str, float]]]:
    """The cached neighbour lists of the given papers only."""
    rows = db.execute(
        "SELECT paper_id, similar_id, score FROM site_similar WHERE model = ? "
        "AND paper_id IN (SELECT value FROM json_each(?)) ORDER BY paper_id, rank",
        [model, json.dumps(list(paper_ids))],
    ).fetchall()
    return _grouped(rows)


def similar_heads(db, model: str, k: int) -> dict[str, tuple[str | None, float | None]]:
    """paper id -> (content hash its list was computed for, its k-th best score or None)."""
    rows = db.execute(
        "SELECT paper_id, MAX(content_hash), MAX(CASE WHEN rank = ? THEN score END) "
        "FROM site_similar WHERE model = ? GROUP BY paper_id",
        [k - 1, model],
    )
    return {r[0]: (r[1], r[2]) for r in rows}


def similar_targets_gone(db, model: str, paper_ids: Iterable[str]) -> set[str]:
    """Papers some cached list shows that are not among `paper_ids` (the embedded archive)."""
    rows = db.execute(
        "SELECT DISTINCT similar_id FROM site_similar WHERE model = ? "
        "AND similar_id NOT IN (SELECT value FROM json_each(?))",
        [model, json.dumps(list(paper_ids))],
    )
    return {r[0] for r in rows}


def similar_showing(db, model: str, paper_ids: Iterable[str]) -> set[str]:
    """Papers whose cached list shows any of the given papers."""
    rows = db.execute(
        "SELECT DISTINCT paper_id FROM site_similar WHERE model = ? "
        "AND similar_id IN (SELECT value FROM json_each(?))",
        [model, json.dumps(list(paper_ids))],
    )
    return {r[0] for r in rows}


def similar_changed_since(db, build_id: int) -> set[str]:
    """Papers whose cached neighbour list was written by a build after `build_id`."""
    rows = db.execute(
        "SELECT DISTINCT paper_id FROM site_similar WHERE changed_build > ?", [build_id]
    )
    return {r[0] for r in rows}


def save_similar_papers(
    db,
    model: str,
    neighbours: dict[str, list[tuple[str, float]]],
    *,
    hashes: dict[str, str],
    replace_all: bool = False,
    build_id: int = 0,
) -> None:
    """Store neighbour lists for the given papers (all papers' lists when replace_all), stamped
    with the build that wrote them."""
    with transaction(db):
        if replace_all:
            db.execute("DELETE FROM site_similar")
        else:
            db.executemany(
                "DELETE FROM site_similar WHERE paper_id = ?", [(p,) for p in neighbours]
            )
        db.executemany(
            "INSERT INTO site_similar "
            "(paper_id, rank, similar_id, score, model, changed_build, content_hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            _similar_rows(model, neighbours, build_id, hashes),
        )


def _similar_rows(
    model: str, neighbours: dict[str, list[tuple[str, float]]], build_id: int, hashes: dict
) -> Iterable[tuple]:
    for paper_id, items in neighbours.items():
        content_hash = hashes.get(paper_id)
        for rank, (similar_id, score) in enumerate(items):
            yield (paper_id, rank, similar_id, float(score), model, build_id, content_hash)


# ---------------------------------------------------------------- per-paper change stamps


def paper_state(db) -> dict[str, tuple[str, str, int]]:
    """paper id -> (key, author ids ever, build that last changed the key)."""
    rows = db.execute("SELECT paper_id, key, author_ids, changed_build FROM site_paper_state")
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def save_paper_state(db, rows: list[tuple[str, str, str, int]]) -> None:
    """Upsert (paper id, key, author ids, changed build) rows (only the ones that changed)."""
    with transaction(db):
        db.executemany(
            "INSERT INTO site_paper_state (paper_id, key, author_ids, changed_build) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (paper_id) DO UPDATE SET key = excluded.key,"
            " author_ids = excluded.author_ids, changed_build = excluded.changed_build",
            rows,
        )


def start_build(db, *, full: bool) -> int:
    with transaction(db):
        cursor = db.execute(
            "INSERT INTO site_builds (started_at, full) VALUES (?, ?) RETURNING id",
            [utcnow(), int(full)],
        )
        build_id = int(cursor.fetchone()[0])
    return build_id


def finish_build(db, build_id: int, *, rendered: int, reused: int, seconds: float) -> None:
    with transaction(db):
        db.execute(
            "UPDATE site_builds SET finished_at = ?, pages_rendered = ?, pages_reused = ?, "
            "seconds = ? WHERE id = ?",
            [utcnow(), rendered, reused, seconds, build_id],
        )


def days_with_reader_signals(db) -> set[str]:
    """Announcement days of papers that have any feedback or Hugging Face upvotes (counts only:
    which papers, never who). Trending is only worth asking about for periods with one of these."""
    days: set[str] = set()
    for table, column in (("feedback", "paper_id"), ("hf_papers", "paper_id")):
        if _table_exists(db, table):
            rows = db.execute(
                f"SELECT DISTINCT l.announce_date FROM listings l "  # noqa: S608
                f"JOIN (SELECT DISTINCT {column} AS pid FROM {table}) s ON s.pid = l.paper_id"
            ).fetchall()
            days.update(r[0] for r in rows)
    return days


def archive_vectors(db, model: str):
    """(paper ids, float32 matrix, content hashes) of every embedded paper. Two sequential scans
    (papers, then the model's vectors) instead of a join; each vector is copied into the matrix
    as it is read (no dict of 100k blobs and no joined copy: fewer fresh pages to fault in)."""
    import numpy as np

    papers = db.execute("SELECT id, content_hash FROM papers ORDER BY id").fetchall()
    rows_of: dict[str, list[int]] = {}
    for row, (_pid, content_hash) in enumerate(papers):
        rows_of.setdefault(content_hash, []).append(row)
    cursor = db.execute("SELECT content_hash, vector FROM embeddings WHERE model = ?", [model])
    matrix: memoryview | None = None
    width = 0
    found = bytearray(len(papers))
    for content_hash, vector in cursor:
        rows = rows_of.get(content_hash)
        if not rows:
            continue
        if matrix is None:
            width = len(vector)
            matrix = memoryview(bytearray(width * len(papers)))
        for row in rows:
            matrix[row * width : (row + 1) * width] = vector
            found[row] = 1
    if matrix is None:
        return [], np.zeros((0, 0), dtype=np.float32), []
    vectors = np.frombuffer(matrix, dtype=np.float32).reshape(len(papers), -1)
    keep = np.flatnonzero(np.frombuffer(found, dtype=np.uint8))
    if len(keep) < len(papers):
        vectors = vectors[keep]
    rows = keep.tolist()
    return [papers[r][0] for r in rows], vectors, [papers[r][1] for r in rows]


# ---------------------------------------------------------------- the two site trees


def tree_fingerprints(db, tree: str, marker: str | None) -> dict[str, str]:
    """path -> fingerprint of what the tree holds; {} when a build was cut short in it or the
    tree's directory is not the one recorded (`marker`: its identity now, None if missing)."""
    row = db.execute("SELECT clean, marker FROM site_trees WHERE tree = ?", [tree]).fetchone()
    if not row or not row[0] or marker is None or row[1] != marker:
        return {}
    return dict(
        db.execute(
            "SELECT path, fingerprint FROM site_tree_pages WHERE tree = ?", [tree]
        ).fetchall()
    )


def tree_build(db, tree: str) -> tuple[int | None, str | None]:
    """(build that last completed the tree, its salt); (None, None) when unknown."""
    row = db.execute("SELECT build_id, salt FROM site_trees WHERE tree = ?", [tree]).fetchone()
    return (row[0], row[1]) if row else (None, None)


def mark_tree_dirty(db, tree: str) -> None:
    with transaction(db):
        db.execute(
            "INSERT INTO site_trees (tree, clean) VALUES (?, 0) "
            "ON CONFLICT(tree) DO UPDATE SET clean = 0",
            [tree],
        )


def save_tree_fingerprints(
    db,
    tree: str,
    before: dict[str, str],
    after: dict[str, str],
    marker: str,
    *,
    build_id: int | None = None,
    salt: str | None = None,
) -> None:
    """Record what the tree holds now, writing only the rows that changed; marks it clean,
    completed by `build_id` with templates/code/settings `salt`."""
    with transaction(db):
        if not before:
            db.execute("DELETE FROM site_tree_pages WHERE tree = ?", [tree])
        gone = [(tree, p) for p in before if p not in after]
        db.executemany("DELETE FROM site_tree_pages WHERE tree = ? AND path = ?", gone)
        db.executemany(
            "INSERT INTO site_tree_pages (tree, path, fingerprint) VALUES (?, ?, ?)"
            " ON CONFLICT (tree, path) DO UPDATE SET fingerprint = excluded.fingerprint",
            [(tree, p, f) for p, f in after.items() if before.get(p) != f],
        )
        db.execute(
            "UPDATE site_trees SET clean = 1, marker = ?, build_id = ?, salt = ? WHERE tree = ?",
            [marker, build_id, salt, tree],
        )
