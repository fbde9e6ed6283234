"""SQL for a subscriber's other ways of reading: the private Atom feed's token (`feed_tokens`)
and a chat channel (`chat_channels`, a Slack or Discord incoming webhook), plus the picks a
feed lists."""

from __future__ import annotations

import json
from collections.abc import Sequence

from digest.store.db import transaction, utcnow

# ---------------------------------------------------------------- feed tokens


def feed_salt(db, subscriber_id: int) -> str | None:
    row = db.execute("SELECT salt FROM feed_tokens WHERE subscriber_id = ?", [subscriber_id])
    found = row.fetchone()
    return found[0] if found else None


def new_feed_salt(db, subscriber_id: int, salt: str) -> None:
    """A new salt: the feed's address changes and the old one stops working."""
    with transaction(db):
        db.execute(
            "INSERT INTO feed_tokens (subscriber_id, salt, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT (subscriber_id) DO UPDATE SET salt = excluded.salt,"
            " created_at = excluded.created_at",
            [subscriber_id, salt, utcnow()],
        )


def recent_picks(db, subscriber_id: int, issues: int) -> list[dict]:
    """The picks of the subscriber's last `issues` planned issues, newest issue first, with
    each paper's title, abstract and authors."""
    days = [
        r[0]
        for r in db.execute(
            "SELECT issue_date FROM plans WHERE subscriber_id = ? AND picked > 0"
            " ORDER BY issue_date DESC LIMIT ?",
            [subscriber_id, issues],
        )
    ]
    if not days:
        return []
    marks = ",".join("?" for _ in days)
    rows = db.query(
        "SELECT k.issue_date, k.rank, k.paper_id, k.topic, k.why, p.title, p.abstract,"  # noqa: S608
        " p.authors_json, p.is_arxiv FROM picks k JOIN papers p ON p.id = k.paper_id"
        f" WHERE k.subscriber_id = ? AND k.issue_date IN ({marks})"
        " ORDER BY k.issue_date DESC, k.rank",
        [subscriber_id, *days],
    )
    return [{**row, "authors": json.loads(row.pop("authors_json") or "[]")} for row in rows]


# ---------------------------------------------------------------- chat channels


def set_chat_channel(db, subscriber_id: int, service: str, webhook_url: str) -> None:
    with transaction(db):
        db.execute(
            "INSERT INTO chat_channels (subscriber_id, service, webhook_url, created_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (subscriber_id) DO UPDATE SET"
            " service = excluded.service, webhook_url = excluded.webhook_url",
            [subscriber_id, service, webhook_url, utcnow()],
        )


def remove_chat_channel(db, subscriber_id: int) -> bool:
    with transaction(db):
        cursor = db.execute("DELETE FROM chat_channels WHERE subscriber_id = ?", [subscriber_id])
    return cursor.rowcount > 0


def chat_channels_for(db, subscriber_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """{subscriber id: (service, webhook URL)} for those of `subscriber_ids` that have one."""
    found: dict[int, tuple[str, str]] = {}
    for start in range(0, len(subscriber_ids), 500):
        chunk = list(subscriber_ids[start : start + 500])
        marks = ",".join("?" for _ in chunk)
        for sid, service, url in db.execute(
            "SELECT subscriber_id, service, webhook_url FROM chat_channels"  # noqa: S608
            f" WHERE subscriber_id IN ({marks})",
            chunk,
        ):
            found[sid] = (service, url)
    return found
