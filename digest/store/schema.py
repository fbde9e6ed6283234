"""Every table, as migration sets applied in order. Add a migration; never edit an applied one.

Sets: `digest.core` (papers, ingest, embeddings), `digest.people` (subscribers, topics,
feedback). Later stages keep their own sets in `*_schema.py`; `migrations.py` fixes the order.
"""

from __future__ import annotations

from sqlite_utils import Migrations

core = Migrations("digest.core")
people = Migrations("digest.people")


@core()
def m001_papers(db) -> None:
    db.executescript(
        """
        CREATE TABLE papers (
            id TEXT PRIMARY KEY,              -- arXiv id without version, or a foreign id
            version INTEGER,                  -- highest version seen
            title TEXT NOT NULL,
            abstract TEXT NOT NULL,
            authors_json TEXT NOT NULL DEFAULT '[]',     -- names in order
            categories_json TEXT NOT NULL DEFAULT '[]',
            primary_category TEXT,
            announce_type TEXT,               -- how it was first announced: new | cross | ...
            first_announced TEXT,             -- listing date (YYYY-MM-DD) it first appeared
            last_announced TEXT,
            published TEXT,
            updated TEXT,
            license TEXT,
            doi TEXT,
            journal_ref TEXT,
            comments TEXT,
            is_arxiv INTEGER NOT NULL DEFAULT 1,
            content_hash TEXT NOT NULL,
            source TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX papers_first_announced ON papers(first_announced);
        CREATE INDEX papers_content_hash ON papers(content_hash);

        CREATE TABLE listings (                -- one row per paper per announcement day
            paper_id TEXT NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
            announce_date TEXT NOT NULL,
            announce_type TEXT NOT NULL,
            version INTEGER,
            PRIMARY KEY (paper_id, announce_date)
        );
        CREATE INDEX listings_date ON listings(announce_date);

        CREATE TABLE paper_versions (
            paper_id TEXT NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
            version INTEGER NOT NULL,
            first_seen TEXT NOT NULL,
            source TEXT NOT NULL,
            PRIMARY KEY (paper_id, version)
        );

        CREATE TABLE authors (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,                -- display name, TeX accents decoded
            norm_name TEXT NOT NULL UNIQUE     -- lowercase, accents folded: the identity key
        );
        CREATE TABLE paper_authors (
            paper_id TEXT NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
            author_id INTEGER NOT NULL REFERENCES authors(id),
            position INTEGER NOT NULL,
            PRIMARY KEY (paper_id, position)
        );
        CREATE INDEX paper_authors_author ON paper_authors(author_id);

        CREATE TABLE ingest_runs (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,              -- feed | api | jsonl | hf
            category TEXT,                     -- category / query / file name
            url TEXT,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL,              -- running | ok | empty | stale | failed
            channel_date TEXT,
            fetched INTEGER NOT NULL DEFAULT 0,
            new INTEGER NOT NULL DEFAULT 0,
            updated INTEGER NOT NULL DEFAULT 0,
            unchanged INTEGER NOT NULL DEFAULT 0,
            skipped INTEGER NOT NULL DEFAULT 0,
            skipped_json TEXT NOT NULL DEFAULT '[]',  -- first reasons, for the operator
            error TEXT
        );

        CREATE TABLE embeddings (
            model TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            dim INTEGER NOT NULL,
            vector BLOB NOT NULL,              -- float32, L2-normalised
            created_at TEXT NOT NULL,
            PRIMARY KEY (model, content_hash)
        );
        """
    )


@people()
def m001_subscribers_topics_feedback(db) -> None:
    db.executescript(
        """
        CREATE TABLE subscribers (
            id INTEGER PRIMARY KEY,
            email TEXT NOT NULL UNIQUE,        -- normalised (lower-cased domain, trimmed)
            name TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'pending',  -- pending|active|unsubscribed|bounced|complained
            frequency TEXT NOT NULL DEFAULT 'daily', -- daily | weekly
            weekday INTEGER,                   -- 0=Mon..6=Sun for weekly
            timezone TEXT NOT NULL DEFAULT 'UTC',
            send_hour INTEGER,                 -- optional local hour to send at
            max_papers INTEGER NOT NULL DEFAULT 10,
            always_send INTEGER NOT NULL DEFAULT 0,
            manage_token TEXT UNIQUE,          -- opaque random token for prefs/unsubscribe links
            source TEXT NOT NULL DEFAULT 'cli',      -- cli | web | import
            created_at TEXT NOT NULL,
            confirmed_at TEXT,
            unsubscribed_at TEXT,
            last_digest_date TEXT              -- issue date of the last digest sent
        );

        CREATE TABLE topics (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            kind TEXT NOT NULL,                -- curated | personal
            owner_id INTEGER REFERENCES subscribers(id) ON DELETE CASCADE,
            owner_key INTEGER NOT NULL DEFAULT 0,  -- owner_id or 0: makes UNIQUE work
            description TEXT NOT NULL DEFAULT '',
            keywords_json TEXT NOT NULL DEFAULT '[]',
            exclude_json TEXT NOT NULL DEFAULT '[]',
            seed_ids_json TEXT NOT NULL DEFAULT '[]',
            authors_json TEXT NOT NULL DEFAULT '[]',
            categories_json TEXT NOT NULL DEFAULT '[]',
            threshold REAL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (kind, owner_key, name)
        );

        CREATE TABLE subscriber_topics (
            subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
            topic_id INTEGER NOT NULL REFERENCES topics(id) ON DELETE CASCADE,
            PRIMARY KEY (subscriber_id, topic_id)
        );

        CREATE TABLE feedback (
            id INTEGER PRIMARY KEY,
            subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
            paper_id TEXT NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,                -- like | dislike | click
            source TEXT NOT NULL DEFAULT 'cli',
            created_at TEXT NOT NULL
        );
        CREATE INDEX feedback_subscriber ON feedback(subscriber_id, paper_id);
        CREATE INDEX feedback_paper ON feedback(paper_id);
        """
    )


@people()
def m002_lookup_indexes(db) -> None:
    # Case-insensitive email lookups and per-owner topic reads were full scans (O(n^2) imports).
    db.executescript(
        """
        CREATE INDEX subscribers_email_nocase ON subscribers(email COLLATE NOCASE);
        CREATE INDEX topics_owner ON topics(owner_id);
        CREATE INDEX subscriber_topics_topic ON subscriber_topics(topic_id);
        """
    )


@people()
def m003_manage_tokens_not_at_rest(db) -> None:
    # Manage links no longer rest in the database (a backup reader could unsubscribe, export or
    # delete anyone): each row gets a random selector, and its token is the selector plus an
    # HMAC under the secret key (digest/store/tokens.py). Tokens already sent in emails become
    # a keyed hash, so those links keep working; the plain column is emptied, and with
    # secure_delete the freed bytes are zeroed rather than left in the file.
    from digest.store import tokens

    db.execute("ALTER TABLE subscribers ADD COLUMN manage_selector TEXT")
    db.execute("ALTER TABLE subscribers ADD COLUMN legacy_token_hash TEXT")
    db.execute("CREATE UNIQUE INDEX subscribers_manage_selector ON subscribers(manage_selector)")
    db.execute(
        "CREATE UNIQUE INDEX subscribers_legacy_token_hash ON subscribers(legacy_token_hash)"
    )
    rows = db.execute("SELECT id, manage_token FROM subscribers").fetchall()
    if not rows:
        return
    key = tokens.database_key(db) if any(token for _, token in rows) else b""
    sqlite = getattr(db, "dialect", "sqlite") == "sqlite"
    was = db.execute("PRAGMA secure_delete").fetchone()[0] if sqlite else 0
    if sqlite:
        db.execute("PRAGMA secure_delete = ON")
    for subscriber_id, token in rows:
        db.execute(
            "UPDATE subscribers SET manage_selector = ?, legacy_token_hash = ?,"
            " manage_token = NULL WHERE id = ?",
            [
                tokens.new_selector(),
                tokens.legacy_token_hash(key, token) if token else None,
                subscriber_id,
            ],
        )
    if sqlite:
        db.execute(f"PRAGMA secure_delete = {int(was)}")
