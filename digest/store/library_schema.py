"""Tables of a reader's other ways in and out (migration set `digest.library`): an imported
reference library, the private feed's salt, a chat channel. Add migrations; never edit applied ones."""

from __future__ import annotations

from sqlite_utils import Migrations

migrations = Migrations("digest.library")


@migrations()
def m001_libraries_feeds_channels(db) -> None:
    # A subscriber's imported reference library (one per subscriber: a re-import replaces
    # it), the salt of the private Atom feed's token (the token is derived, never stored; a
    # new salt is a new feed address), and
    # a chat channel (Slack or Discord incoming webhook) that gets their digest instead of mail.
    db.executescript(
        """
        CREATE TABLE libraries (
            subscriber_id INTEGER PRIMARY KEY REFERENCES subscribers(id) ON DELETE CASCADE,
            file_name TEXT NOT NULL DEFAULT '',
            format TEXT NOT NULL,              -- bibtex | ris | csl-json
            entries INTEGER NOT NULL,
            skipped INTEGER NOT NULL DEFAULT 0,
            source TEXT NOT NULL DEFAULT 'cli',  -- cli | web | demo
            imported_at TEXT NOT NULL
        );
        CREATE TABLE library_entries (
            subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,         -- the entry's place in the file, from 1
            ref TEXT NOT NULL DEFAULT '',      -- citation key or record number
            title TEXT NOT NULL DEFAULT '',
            arxiv_id TEXT,                     -- found in the entry (eprint, URL, DOI, note)
            doi TEXT,
            paper_id TEXT,                     -- the stored paper it matched
            matched_by TEXT NOT NULL DEFAULT '',  -- arxiv | doi | title ('' when not matched)
            status TEXT NOT NULL,              -- matched | fetched | pending | unmatched
            PRIMARY KEY (subscriber_id, position)
        );
        CREATE INDEX library_entries_status ON library_entries(status);
        CREATE TABLE feed_tokens (
            subscriber_id INTEGER PRIMARY KEY REFERENCES subscribers(id) ON DELETE CASCADE,
            salt TEXT NOT NULL,                -- the token is HMAC(secret key, id and salt)
            created_at TEXT NOT NULL
        );
        CREATE TABLE chat_channels (
            subscriber_id INTEGER PRIMARY KEY REFERENCES subscribers(id) ON DELETE CASCADE,
            service TEXT NOT NULL,             -- slack | discord
            webhook_url TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        """
    )
