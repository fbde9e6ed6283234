"""Tables owned by the service stage (migration set `digest.service`). Add migrations; never edit applied ones.

confirm_tokens  double opt-in tokens, stored as sha256 hashes, single-use, expiring; each
                holds its sign-up form's choices until it is used or expires
consents        evidence for every subscribe / confirm / unsubscribe / preference change
webhook_events  provider events already applied (dedupe by sg_event_id and a secondary key)
runs, run_stages  the daily run's report and per-stage checkpoints
leases          who holds the daily-run (or scheduler) lease, until when
rate_limits     fixed-window counters for the web app's abuse limits
"""

from __future__ import annotations

from sqlite_utils import Migrations

migrations = Migrations("digest.service")


@migrations()
def m001_service_tables(db) -> None:
    db.executescript(
        """
        CREATE TABLE confirm_tokens (
            id INTEGER PRIMARY KEY,
            token_hash TEXT NOT NULL UNIQUE,   -- sha256 hex of the token; the token is never stored
            subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            used_at TEXT
        );
        CREATE INDEX confirm_tokens_subscriber ON confirm_tokens(subscriber_id);

        CREATE TABLE consents (
            id INTEGER PRIMARY KEY,
            subscriber_id INTEGER REFERENCES subscribers(id) ON DELETE SET NULL,
            action TEXT NOT NULL,              -- subscribe | confirm | unsubscribe | preferences | delete | webhook
            at TEXT NOT NULL,
            source TEXT NOT NULL,              -- web | one-click | webhook | cli
            text_version TEXT NOT NULL,        -- which wording the person agreed to
            ip TEXT,                           -- only when [service].record_ip is on
            detail TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX consents_subscriber ON consents(subscriber_id);

        CREATE TABLE webhook_events (
            id INTEGER PRIMARY KEY,
            sg_event_id TEXT UNIQUE,
            dedupe_key TEXT NOT NULL UNIQUE,   -- sg_message_id|event|timestamp
            event TEXT NOT NULL,
            delivery_id TEXT,
            subscriber_id INTEGER,
            outcome TEXT NOT NULL,             -- what we did with it
            event_at TEXT,
            received_at TEXT NOT NULL
        );

        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            issue_date TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL,              -- running | ok | no_announcement | stale | failed
            forced INTEGER NOT NULL DEFAULT 0,
            holder TEXT NOT NULL DEFAULT '',
            error TEXT
        );
        CREATE INDEX runs_issue_date ON runs(issue_date);

        CREATE TABLE run_stages (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            stage TEXT NOT NULL,               -- fetch | embed | plan | send | site
            issue_date TEXT NOT NULL,
            status TEXT NOT NULL,              -- running | ok | skipped | empty | failed
            started_at TEXT NOT NULL,
            finished_at TEXT,
            duration_s REAL,
            counts_json TEXT NOT NULL DEFAULT '{}',
            error TEXT,
            PRIMARY KEY (run_id, stage)
        );
        CREATE INDEX run_stages_date ON run_stages(issue_date, stage, status);

        CREATE TABLE leases (
            name TEXT PRIMARY KEY,             -- daily-run | scheduler
            holder TEXT NOT NULL,              -- host:pid:random
            acquired_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        );

        CREATE TABLE rate_limits (
            key TEXT NOT NULL,                 -- hashed, never a raw address or IP
            window_start TEXT NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (key, window_start)
        );
        """
    )


@migrations()
def m002_confirm_token_choices(db) -> None:
    # The sign-up form's choices (topics, own topic, authors, frequency) wait with the token and
    # are applied when it is confirmed: anyone can type an address, so a sign-up never changes
    # a subscriber's stored choices by itself. NULL once used or expired, and for tokens made
    # before this column (their choices were written at sign-up).
    db.execute("ALTER TABLE confirm_tokens ADD COLUMN choices_json TEXT")


@migrations()
def m003_webhook_events_by_delivery(db) -> None:
    # The sender looks up a row's provider events right before each call to the provider (a
    # requeued or retried row the provider reported in the meantime is not sent again).
    db.execute("CREATE INDEX IF NOT EXISTS webhook_events_delivery ON webhook_events(delivery_id)")
