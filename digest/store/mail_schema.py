"""Tables owned by the mail stage (migration set `digest.mail`). Add migrations; never edit applied ones."""

from __future__ import annotations

from sqlite_utils import Migrations

migrations = Migrations("digest.mail")


@migrations()
def m001_deliveries(db) -> None:
    # The at-most-once ledger: one row per (subscriber, issue). `state` only moves forward
    # (see digest/store/ledger.py); every UPDATE names the state it moves from.
    db.executescript(
        """
        CREATE TABLE deliveries (
            id TEXT PRIMARY KEY,               -- opaque random delivery id (header / custom_args)
            subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
            issue_date TEXT NOT NULL,          -- YYYY-MM-DD of the digest issue
            state TEXT NOT NULL DEFAULT 'queued'
                CHECK (state IN ('queued','sending','sent','failed','unknown','skipped')),
            backend TEXT NOT NULL DEFAULT '',  -- outbox | smtp | sendgrid (set when claimed)
            subject TEXT NOT NULL DEFAULT '',
            size_bytes INTEGER NOT NULL DEFAULT 0,
            message BLOB,                      -- the rendered RFC 5322 bytes, sent verbatim;
                                               -- dropped once the row is sent or skipped
            provider_message_id TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            sending_at TEXT,                   -- when the provider call was committed to
            finished_at TEXT,
            UNIQUE (subscriber_id, issue_date)
        );
        CREATE INDEX deliveries_issue_state ON deliveries(issue_date, state);
        CREATE INDEX deliveries_state ON deliveries(state);
        """
    )


@migrations()
def m002_sent_finished_index(db) -> None:
    # The sending window and the complaint rate count recent sends by finish time.
    db.execute("CREATE INDEX deliveries_state_finished ON deliveries(state, finished_at)")


@migrations()
def m003_not_sent_and_requeues(db) -> None:
    # `not_sent`: a failed row the provider never accepted (an outage, a credential error,
    # Ctrl-C during a retry wait). It is the one thing `digest deliveries retry` and the
    # automatic requeue trust; the "not sent: " error prefix is for people. Rows failed so
    # far are marked from that prefix, which only those paths ever wrote (an operator's
    # "[resolved as failed]" comes from an `unknown` row: the provider may have it).
    # `delivery_requeues`: the row's requeue history (who, why, and the failure it undid).
    # The CREATE comes first: a second process migrating the same file at once then fails
    # with "already exists", which apply_migrations tolerates ("duplicate column" it does not).
    db.executescript(
        """
        CREATE TABLE delivery_requeues (
            id INTEGER PRIMARY KEY,
            delivery_id TEXT NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
            requeued_at TEXT NOT NULL,
            requeued_by TEXT NOT NULL CHECK (requeued_by IN ('operator', 'auto')),
            reason TEXT NOT NULL,
            failed_error TEXT,                 -- the failure it undid (the row's error is cleared)
            failed_attempts INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX delivery_requeues_delivery ON delivery_requeues(delivery_id);
        ALTER TABLE deliveries ADD COLUMN not_sent INTEGER NOT NULL DEFAULT 0;
        UPDATE deliveries SET not_sent = 1
            WHERE state = 'failed' AND error LIKE 'not sent:%'
            AND error NOT LIKE '%[resolved as failed]';
        """
    )


@migrations()
def m004_send_pacing(db) -> None:
    # The fleet's shared send pace: every sender (worker processes on any machine) takes its
    # next slot from this row, so [mail].rate_per_second holds for all of them together.
    db.executescript(
        """
        CREATE TABLE send_pacing (
            name TEXT PRIMARY KEY,             -- 'mail'
            next_at REAL NOT NULL              -- epoch seconds when the next slot starts
        );
        """
    )


@migrations()
def m005_claimed_by(db) -> None:
    # Who claimed a row (`queued -> sending`): "job:<id>" for a worker's send job, the send
    # lease's holder for a process sending by itself. A retried job turns exactly its own
    # interrupted rows `unknown`; a pass that recovers rows spares those of a job still running.
    db.execute("ALTER TABLE deliveries ADD COLUMN claimed_by TEXT")
