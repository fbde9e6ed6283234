"""SQL for topics and subscriber_topics. Validation lives in `digest.topics.catalog`; this is storage only.

A topic is unique by (kind, owner, name): curated names are global, personal names are per owner.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from digest.errors import UsageError
from digest.models import Topic
from digest.store.db import utcnow


def topic_from_row(row: dict) -> Topic:
    return Topic(
        id=row["id"],
        name=row["name"],
        kind=row["kind"],
        owner_id=row["owner_id"],
        description=row["description"],
        keywords=tuple(json.loads(row["keywords_json"])),
        exclude=tuple(json.loads(row["exclude_json"])),
        seed_ids=tuple(json.loads(row["seed_ids_json"])),
        authors=tuple(json.loads(row["authors_json"])),
        categories=tuple(json.loads(row["categories_json"])),
        threshold=row["threshold"],
        venues=tuple(json.loads(row.get("venues_json") or "[]")),
        has_code=bool(row.get("has_code")),
    )


def _topic_values(topic: Topic) -> dict:
    return {
        "name": topic.name,
        "kind": topic.kind,
        "owner_id": topic.owner_id,
        "owner_key": topic.owner_id or 0,
        "description": topic.description,
        "keywords_json": json.dumps(list(topic.keywords), ensure_ascii=False),
        "exclude_json": json.dumps(list(topic.exclude), ensure_ascii=False),
        "seed_ids_json": json.dumps(list(topic.seed_ids), ensure_ascii=False),
        "authors_json": json.dumps(list(topic.authors), ensure_ascii=False),
        "categories_json": json.dumps(list(topic.categories), ensure_ascii=False),
        "threshold": topic.threshold,
        "venues_json": json.dumps(list(topic.venues), ensure_ascii=False),
        "has_code": int(topic.has_code),
    }


def insert_topic(db, topic: Topic) -> Topic:
    """Insert an already-validated topic; a name clash -> UsageError naming it."""
    clash = get_topic(db, topic.name, kind=topic.kind, owner_id=topic.owner_id)
    if clash is not None:
        whose = "curated" if topic.kind == "curated" else "personal"
        raise UsageError(f"a {whose} topic named {clash.name!r} already exists")
    now = utcnow()
    values = {**_topic_values(topic), "created_at": now, "updated_at": now}
    cols = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    cursor = db.execute(
        f"INSERT INTO topics ({cols}) VALUES ({marks}) RETURNING id",  # noqa: S608 (our names)
        list(values.values()),
    )
    found = get_topic_by_id(db, int(cursor.fetchone()[0]))
    assert found is not None
    return found


def update_topic_row(db, topic_id: int, topic: Topic) -> Topic:
    """Overwrite every field of topic `topic_id` with `topic` (kind and owner included)."""
    values = {**_topic_values(topic), "updated_at": utcnow()}
    assignments = ", ".join(f"{column} = ?" for column in values)
    cursor = db.execute(
        f"UPDATE topics SET {assignments} WHERE id = ?",  # noqa: S608 (column names are ours)
        [*values.values(), topic_id],
    )
    if cursor.rowcount == 0:
        raise UsageError(f"no topic with id {topic_id}")
    found = get_topic_by_id(db, topic_id)
    assert found is not None
    return found


def delete_topic(db, topic_id: int) -> bool:
    """Delete a topic; subscribers who followed it simply stop following it."""
    return db.execute("DELETE FROM topics WHERE id = ?", [topic_id]).rowcount > 0


def get_topic_by_id(db, topic_id: int) -> Topic | None:
    rows = list(db.query("SELECT * FROM topics WHERE id = ?", [topic_id]))
    return topic_from_row(rows[0]) if rows else None


def get_topic(db, name: str, kind: str = "curated", owner_id: int | None = None) -> Topic | None:
    """A topic by name, matched case-insensitively; None for text that cannot be stored.

    SQLite's NOCASE folds ASCII only, so a non-ASCII name ("Équité") is compared in Python.
    """
    wanted = name.strip()
    if wanted.isascii():
        rows = list(
            db.query(
                "SELECT * FROM topics WHERE kind = ? AND owner_key = ? AND name = ? COLLATE NOCASE",
                [kind, owner_id or 0, wanted],
            )
        )
        return topic_from_row(rows[0]) if rows else None
    if any("\ud800" <= ch <= "\udfff" for ch in wanted):
        return None  # lone surrogates (a non-UTF-8 terminal): no stored name can match
    rows = list(
        db.query(
            "SELECT * FROM topics WHERE kind = ? AND owner_key = ? ORDER BY id",
            [kind, owner_id or 0],
        )
    )
    lowered = wanted.lower()  # as the topics file compares names
    return next((topic_from_row(r) for r in rows if r["name"].lower() == lowered), None)


def list_topics(db, kind: str | None = None, owner_id: int | None = None) -> list[Topic]:
    """Topics filtered by kind and/or owner; curated first, then by name."""
    clauses: list[str] = []
    params: list[object] = []
    if kind is not None:
        clauses.append("kind = ?")
        params.append(kind)
    if owner_id is not None:
        clauses.append("owner_key = ?")  # owner_key = owner_id, and it is indexed with kind
        params.append(owner_id)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = db.query(
        f"SELECT * FROM topics {where} ORDER BY kind, owner_key, name COLLATE NOCASE, id",  # noqa: S608
        params,
    )
    return [topic_from_row(row) for row in rows]


def topics_for_subscriber(db, subscriber_id: int) -> list[Topic]:
    """The curated topics a subscriber follows, then their personal ones."""
    rows = db.query(
        """
        SELECT * FROM (
            SELECT t.* FROM subscriber_topics st JOIN topics t ON t.id = st.topic_id
            WHERE st.subscriber_id = ?
            UNION
            SELECT * FROM topics WHERE owner_id = ? AND kind = 'personal'
        ) AS followed
        ORDER BY CASE kind WHEN 'curated' THEN 0 ELSE 1 END, name COLLATE NOCASE, id
        """,
        [subscriber_id, subscriber_id],
    )
    return [topic_from_row(row) for row in rows]


def followed_topic_ids(db, subscriber_id: int) -> list[int]:
    rows = db.execute(
        "SELECT topic_id FROM subscriber_topics WHERE subscriber_id = ? ORDER BY topic_id",
        [subscriber_id],
    ).fetchall()
    return [row[0] for row in rows]


def set_followed_topic_ids(db, subscriber_id: int, topic_ids: Sequence[int]) -> None:
    """Replace the set of curated topics a subscriber follows."""
    db.execute("DELETE FROM subscriber_topics WHERE subscriber_id = ?", [subscriber_id])
    for topic_id in dict.fromkeys(topic_ids):
        db.execute(
            "INSERT INTO subscriber_topics (subscriber_id, topic_id) VALUES (?, ?)",
            [subscriber_id, topic_id],
        )


def follow_topic(db, subscriber_id: int, topic_id: int) -> None:
    db.execute(
        "INSERT INTO subscriber_topics (subscriber_id, topic_id) VALUES (?, ?)"
        " ON CONFLICT DO NOTHING",
        [subscriber_id, topic_id],
    )


def follower_counts(db) -> dict[int, int]:
    """topic id -> how many subscribers follow it (curated topics)."""
    rows = db.execute(
        "SELECT topic_id, COUNT(*) FROM subscriber_topics GROUP BY topic_id"
    ).fetchall()
    return {topic_id: count for topic_id, count in rows}


def subscribers_following(db, topic_id: int) -> list[int]:
    rows = db.execute(
        "SELECT subscriber_id FROM subscriber_topics WHERE topic_id = ? ORDER BY subscriber_id",
        [topic_id],
    ).fetchall()
    return [row[0] for row in rows]


def topics_by_subscriber(db, subscriber_ids: Sequence[int] | None = None) -> dict[int, list[Topic]]:
    """subscriber id -> their topics (curated, then personal), in two queries for everyone.

    The bulk form of `topics_for_subscriber`, for ranking thousands of subscribers at once.
    Subscribers without topics are present with an empty list when asked for by id.
    """
    wanted = set(subscriber_ids) if subscriber_ids is not None else None
    topics = {t.id: t for t in (topic_from_row(r) for r in db.query("SELECT * FROM topics"))}
    out: dict[int, list[Topic]] = {sid: [] for sid in wanted} if wanted is not None else {}
    links = db.execute("SELECT subscriber_id, topic_id FROM subscriber_topics").fetchall()
    for subscriber_id, topic_id in links:
        if wanted is None or subscriber_id in wanted:
            out.setdefault(subscriber_id, []).append(topics[topic_id])
    for topic in topics.values():
        if topic.kind == "personal" and topic.owner_id is not None:
            if wanted is None or topic.owner_id in wanted:
                out.setdefault(topic.owner_id, []).append(topic)

    def order(topic: Topic) -> tuple:
        return (0 if topic.kind == "curated" else 1, topic.name.lower(), topic.id or 0)

    return {sid: sorted(found, key=order) for sid, found in out.items()}
