"""Tables of the TL;DR lines and the code/venue badges (migration set `digest.summaries`), and
the columns they add: a subscriber's language, a topic's venue/code filters. Add migrations;
never edit applied ones.

`paper_badges` holds what `digest.ingest.badges` found in a paper (one row a paper, with the
extractor's version so a better extractor redoes old rows); `summaries` caches a model's TL;DR
by (model, prompt version, language, content hash), so a paper is summarised once per language;
`digest_leads` is the lead line each subscriber's card shows in one issue, and where it came from.
"""

from __future__ import annotations

from sqlite_utils import Migrations

migrations = Migrations("digest.summaries")


@migrations()
def m001_badges_summaries_leads(db) -> None:
    db.executescript(
        """
        CREATE TABLE paper_badges (
            paper_id TEXT PRIMARY KEY REFERENCES papers(id) ON DELETE CASCADE,
            links_json TEXT NOT NULL DEFAULT '[]',  -- [[kind, url], ...]
            venue TEXT,                        -- as shown: "NeurIPS 2025 Spotlight"
            venue_key TEXT,                    -- what topics filter on: "NeurIPS"
            has_code INTEGER NOT NULL DEFAULT 0,
            version INTEGER NOT NULL,          -- digest.ingest.badges.BADGES_VERSION
            updated_at TEXT NOT NULL
        );
        CREATE INDEX paper_badges_venue ON paper_badges(venue_key);

        CREATE TABLE summaries (
            model TEXT NOT NULL,
            prompt_version TEXT NOT NULL,
            language TEXT NOT NULL,
            content_hash TEXT NOT NULL,        -- of the title and abstract summarised
            tldr TEXT NOT NULL,                -- plain text, cleaned and cut
            created_at TEXT NOT NULL,
            PRIMARY KEY (model, prompt_version, language, content_hash)
        );

        CREATE TABLE digest_leads (
            subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
            issue_date TEXT NOT NULL,
            paper_id TEXT NOT NULL,
            lead TEXT NOT NULL,
            source TEXT NOT NULL,              -- extractive | llm
            PRIMARY KEY (subscriber_id, issue_date, paper_id)
        );

        ALTER TABLE subscribers ADD COLUMN language TEXT NOT NULL DEFAULT 'en';
        ALTER TABLE topics ADD COLUMN venues_json TEXT NOT NULL DEFAULT '[]';
        ALTER TABLE topics ADD COLUMN has_code INTEGER NOT NULL DEFAULT 0;
        """
    )
