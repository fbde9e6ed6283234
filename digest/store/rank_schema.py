"""Tables owned by the ranking stage (saved picks, topic matches) (migration set `digest.rank`). Add migrations; never edit applied ones."""

from __future__ import annotations

from sqlite_utils import Migrations

migrations = Migrations("digest.rank")


@migrations()
def m001_plans_picks_matches(db) -> None:
    # One plan header per (subscriber, issue) and its picks; re-planning replaces both.
    # topic_matches feed the public archive (curated topics only); hf_papers is the optional
    # Hugging Face Daily Papers signal for trending.
    db.executescript(
        """
        CREATE TABLE plans (
            subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
            issue_date TEXT NOT NULL,          -- YYYY-MM-DD
            candidates INTEGER NOT NULL,       -- papers considered
            picked INTEGER NOT NULL,
            window_start TEXT,                 -- first announcement day considered
            created_at TEXT NOT NULL,
            PRIMARY KEY (subscriber_id, issue_date)
        );

        CREATE TABLE picks (
            subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
            issue_date TEXT NOT NULL,
            paper_id TEXT NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
            rank INTEGER NOT NULL,             -- 1 = first in the email
            score REAL NOT NULL,
            topic TEXT NOT NULL DEFAULT '',    -- name of the best-matching topic
            why TEXT NOT NULL,                 -- the one-line reason shown to the reader
            why_json TEXT NOT NULL DEFAULT '{}',  -- matched keywords/authors, similar_to
            created_at TEXT NOT NULL,
            UNIQUE (subscriber_id, issue_date, paper_id)
        );
        CREATE INDEX picks_subscriber_paper ON picks(subscriber_id, paper_id);
        CREATE INDEX picks_issue ON picks(issue_date);

        CREATE TABLE topic_matches (
            topic_id INTEGER NOT NULL REFERENCES topics(id) ON DELETE CASCADE,
            paper_id TEXT NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
            announce_date TEXT NOT NULL,
            score REAL NOT NULL,
            PRIMARY KEY (topic_id, paper_id)
        );
        CREATE INDEX topic_matches_date ON topic_matches(announce_date);
        CREATE INDEX topic_matches_paper ON topic_matches(paper_id);

        CREATE TABLE hf_papers (
            paper_id TEXT NOT NULL,            -- arXiv id as Hugging Face lists it
            day TEXT NOT NULL,                 -- the daily-papers date it was listed on
            upvotes INTEGER NOT NULL DEFAULT 0,
            title TEXT NOT NULL DEFAULT '',
            fetched_at TEXT NOT NULL,
            PRIMARY KEY (paper_id, day)
        );
        """
    )


@migrations()
def m002_topic_match_days(db) -> None:
    # Which announcement days have their curated-topic matches computed, and for which
    # version of the curated topics (a signature of their definitions, the model and the
    # scoring): a day whose signature differs is matched again. A day with no match at all
    # is recorded too, so "computed, nothing matched" differs from "never computed".
    db.executescript(
        """
        CREATE TABLE topic_match_days (
            announce_date TEXT PRIMARY KEY,    -- YYYY-MM-DD
            signature TEXT NOT NULL,
            matches INTEGER NOT NULL,
            computed_at TEXT NOT NULL
        );
        """
    )
