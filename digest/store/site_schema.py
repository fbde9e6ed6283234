"""Tables owned by the site stage (migration set `digest.site`). Add migrations; never edit applied ones.

`site_pages` remembers a fingerprint of every page's inputs so a normal build re-renders only
pages whose inputs changed; `site_similar` caches each paper's nearest neighbours so a new day
costs (new papers x archive) instead of (archive x archive); `site_builds` is the build log.
"""

from __future__ import annotations

from sqlite_utils import Migrations

migrations = Migrations("digest.site")


@migrations()
def m001_site_build_state(db) -> None:
    db.executescript(
        """
        CREATE TABLE site_pages (
            path TEXT PRIMARY KEY,             -- relative path inside the site directory
            fingerprint TEXT NOT NULL          -- hash of everything the page was rendered from
        );
        CREATE TABLE site_similar (
            paper_id TEXT NOT NULL,
            rank INTEGER NOT NULL,             -- 0 = closest
            similar_id TEXT NOT NULL,
            score REAL NOT NULL,
            model TEXT NOT NULL,
            PRIMARY KEY (paper_id, rank)
        );
        CREATE TABLE site_builds (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            full INTEGER NOT NULL,
            pages_rendered INTEGER NOT NULL DEFAULT 0,
            pages_reused INTEGER NOT NULL DEFAULT 0,
            seconds REAL
        );
        """
    )


@migrations()
def m002_site_trees(db) -> None:
    db.executescript(
        """
        CREATE TABLE site_tree_pages (         -- what each of the two site trees holds
            tree TEXT NOT NULL,                -- 'a' | 'b' (folder under <site dir>.trees/)
            path TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            PRIMARY KEY (tree, path)
        ) WITHOUT ROWID;
        CREATE TABLE site_trees (
            tree TEXT PRIMARY KEY,
            clean INTEGER NOT NULL DEFAULT 0   -- 0 while a build is writing into it
        );
        """
    )


@migrations()
def m003_site_tree_marker(db) -> None:
    # The tree directory's identity (device:inode) when its fingerprints were saved: a tree
    # deleted or replaced behind our back no longer matches and is rebuilt from scratch.
    db.execute("ALTER TABLE site_trees ADD COLUMN marker TEXT")


@migrations()
def m004_site_change_stamps(db) -> None:
    # What each paper contributed to the site at the last build, and the build that last saw it
    # change: a normal build looks only at the paper and author pages of papers that changed
    # since its tree was built (plus papers whose similar-papers list changed since then).
    db.executescript(
        """
        CREATE TABLE site_paper_state (
            paper_id TEXT PRIMARY KEY,
            key TEXT NOT NULL,                 -- digest of what the paper shows; '' once gone
            author_ids TEXT NOT NULL,          -- every author id it has had, space-separated
            changed_build INTEGER NOT NULL     -- site_builds.id that last saw `key` change
        ) WITHOUT ROWID;
        ALTER TABLE site_similar ADD COLUMN changed_build INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE site_similar ADD COLUMN content_hash TEXT;  -- the paper's text it was for
        ALTER TABLE site_trees ADD COLUMN build_id INTEGER;  -- build that last completed it
        ALTER TABLE site_trees ADD COLUMN salt TEXT;         -- templates/code/settings digest
        """
    )


@migrations()
def m005_site_similar_target_index(db) -> None:
    # "Which lists show these papers?" on every normal build (edited or removed papers).
    db.execute("CREATE INDEX site_similar_target ON site_similar(similar_id)")
