"""SQL for the ranking stage: candidate papers, saved plans and picks, curated topic matches,
cached topic-text vectors and the optional Hugging Face upvotes used by trending."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date

import numpy as np

from digest.store.db import transaction, utcnow


def _chunks(items: Sequence[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


# ---------------------------------------------------------------- candidates


def _add_announce_types(
    clauses: list[str], params: list, announce_types: Sequence[str] | None, table: str = ""
) -> None:
    """Only papers of these announcement kinds (and those whose kind is unknown); `table` is
    the papers table's alias with its dot ("p.") when the query joins others."""
    if announce_types:
        marks = ",".join("?" for _ in announce_types)
        column = f"{table}announce_type"
        clauses.append(f"({column} IN ({marks}) OR {column} IS NULL)")
        params += list(announce_types)


def _add_announced_between(
    clauses: list[str], params: list, since: date | None, until: date | None, table: str = ""
) -> None:
    """Only papers first announced in [since, until] (either end open when None)."""
    if since:
        clauses.append(f"{table}first_announced >= ?")
        params.append(since.isoformat())
    if until:
        clauses.append(f"{table}first_announced <= ?")
        params.append(until.isoformat())


def candidate_rows_with_vectors(
    db,
    since: date | None,
    until: date | None,
    announce_types: Sequence[str] | None,
    model: str,
) -> tuple[list[tuple], np.ndarray]:
    """The candidates of [since, until] that have a vector of `model`, in one query: rows of
    (id, title, abstract, authors_json, categories_json, first_announced), by id, and their
    vectors as one (n, d) matrix. Authors and categories stay JSON text: most rankings never
    read them, and decoding every row's cost a fifth of a topic lab query."""
    clauses, params = ["e.model = ?"], [model]
    _add_announced_between(clauses, params, since, until, "p.")
    _add_announce_types(clauses, params, announce_types, "p.")
    rows = db.execute(
        "SELECT p.id, p.title, p.abstract, p.authors_json, p.categories_json, "  # noqa: S608
        "p.first_announced, e.vector FROM papers p JOIN embeddings e "
        f"ON e.content_hash = p.content_hash WHERE {' AND '.join(clauses)} ORDER BY p.id",
        params,
    ).fetchall()
    if not rows:
        return [], np.zeros((0, 0), dtype=np.float32)
    sizes = {len(r[6]) for r in rows}
    if len(sizes) > 1:  # vectors of another model stored under this name: refuse, never mix
        raise ValueError(f"stored {model!r} vectors have {len(sizes)} different sizes")
    matrix = np.frombuffer(b"".join(r[6] for r in rows), dtype=np.float32)
    return [tuple(r[:6]) for r in rows], matrix.reshape(len(rows), -1)


def paper_text_rows(db, paper_ids: Sequence[str]) -> dict[str, dict]:
    """id -> {title, abstract, authors, categories, announced} for the given papers."""
    found: dict[str, dict] = {}
    for chunk in _chunks(list(paper_ids)):
        marks = ",".join("?" for _ in chunk)
        rows = db.execute(
            "SELECT id, title, abstract, authors_json, categories_json, first_announced "  # noqa: S608
            f"FROM papers WHERE id IN ({marks})",
            chunk,
        )
        for r in rows:
            found[r[0]] = {
                "id": r[0],
                "title": r[1],
                "abstract": r[2],
                "authors": json.loads(r[3]),
                "categories": json.loads(r[4]),
                "announced": r[5],
            }
    return found


def picked_before(db, subscriber_ids: Sequence[int], issue_date: date) -> dict[int, set[str]]:
    """subscriber id -> papers already picked for one of their issues before `issue_date`."""
    out: dict[int, set[str]] = {sid: set() for sid in subscriber_ids}
    if not subscriber_ids:
        return out
    for start in range(0, len(subscriber_ids), 500):
        chunk = list(subscriber_ids[start : start + 500])
        marks = ",".join("?" for _ in chunk)
        rows = db.execute(
            f"SELECT subscriber_id, paper_id FROM picks WHERE subscriber_id IN ({marks}) "  # noqa: S608
            "AND issue_date < ?",
            [*chunk, issue_date.isoformat()],
        )
        for sid, paper_id in rows:
            out[sid].add(paper_id)
    return out


def previous_issue_date(db, subscriber_id: int, issue_date: date) -> date | None:
    """The latest planned issue before `issue_date` (a fallback when last_digest_date is unset)."""
    row = db.execute(
        "SELECT MAX(issue_date) FROM plans WHERE subscriber_id = ? AND issue_date < ?",
        [subscriber_id, issue_date.isoformat()],
    ).fetchone()
    return date.fromisoformat(row[0]) if row and row[0] else None


# ---------------------------------------------------------------- plans and picks


def replace_plan(
    db,
    subscriber_id: int,
    issue_date: date,
    candidates: int,
    window_start: date | None,
    picks: Sequence[dict],
) -> None:
    """Store one plan and its picks, replacing an earlier plan of the same issue (one tx)."""
    day = issue_date.isoformat()
    now = utcnow()
    with transaction(db):
        db.execute(
            "DELETE FROM picks WHERE subscriber_id = ? AND issue_date = ?", [subscriber_id, day]
        )
        db.execute(
            "INSERT INTO plans (subscriber_id, issue_date, candidates, picked, "
            "window_start, created_at) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (subscriber_id, issue_date) DO UPDATE SET"
            " candidates = excluded.candidates, picked = excluded.picked,"
            " window_start = excluded.window_start, created_at = excluded.created_at",
            [
                subscriber_id,
                day,
                candidates,
                len(picks),
                window_start.isoformat() if window_start else None,
                now,
            ],
        )
        db.executemany(
            "INSERT INTO picks (subscriber_id, issue_date, paper_id, rank, score, topic, why, "
            "why_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    subscriber_id,
                    day,
                    p["paper_id"],
                    p["rank"],
                    p["score"],
                    p["topic"],
                    p["why"],
                    json.dumps(p["why_json"], ensure_ascii=False),
                    now,
                )
                for p in picks
            ],
        )


def plan_rows(db, subscriber_id: int, issue_date: date) -> tuple[dict, list[dict]] | None:
    """(header, picks in rank order) of a stored plan, or None."""
    day = issue_date.isoformat()
    header = list(
        db.query(
            "SELECT * FROM plans WHERE subscriber_id = ? AND issue_date = ?", [subscriber_id, day]
        )
    )
    if not header:
        return None
    picks = list(
        db.query(
            "SELECT * FROM picks WHERE subscriber_id = ? AND issue_date = ? ORDER BY rank",
            [subscriber_id, day],
        )
    )
    for row in picks:
        row["why_json"] = json.loads(row["why_json"] or "{}")
    return header[0], picks


def plan_is_sent(db, subscriber_id: int, issue_date: date) -> bool:
    """True when the mail ledger says this issue's email is sending or sent (then it is frozen)."""
    if not db.table_exists("deliveries"):
        return False
    row = db.execute(
        "SELECT 1 FROM deliveries WHERE subscriber_id = ? AND issue_date = ? "
        "AND state IN ('sending', 'sent', 'unknown')",
        [subscriber_id, issue_date.isoformat()],
    ).fetchone()
    return row is not None


def latest_plan_date(db, subscriber_id: int) -> date | None:
    row = db.execute(
        "SELECT MAX(issue_date) FROM plans WHERE subscriber_id = ?", [subscriber_id]
    ).fetchone()
    return date.fromisoformat(row[0]) if row and row[0] else None


# ---------------------------------------------------------------- topic matches


def replace_topic_matches(
    db, announce_dates: Sequence[date], rows: Sequence[tuple[int, str, str, float]]
) -> None:
    """Replace the matches of papers announced on those days with (topic, paper, day, score)."""
    with transaction(db):
        for day in announce_dates:
            db.execute("DELETE FROM topic_matches WHERE announce_date = ?", [day.isoformat()])
        db.executemany(
            "INSERT INTO topic_matches (topic_id, paper_id, announce_date, score) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (topic_id, paper_id) DO UPDATE SET"
            " announce_date = excluded.announce_date, score = excluded.score",
            list(rows),
        )


def record_topic_match_days(db, counts: dict[date, int], signature: str) -> None:
    """Note that these days' matches are computed for `signature` (with how many matches)."""
    now = utcnow()
    with transaction(db):
        db.executemany(
            "INSERT INTO topic_match_days (announce_date, signature, matches, computed_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (announce_date) DO UPDATE SET "
            "signature = excluded.signature, matches = excluded.matches, "
            "computed_at = excluded.computed_at",
            [(day.isoformat(), signature, n, now) for day, n in counts.items()],
        )


def topic_match_signatures(db) -> dict[date, str]:
    """announce day -> the signature its stored matches were computed with."""
    rows = db.execute("SELECT announce_date, signature FROM topic_match_days").fetchall()
    return {date.fromisoformat(r[0]): r[1] for r in rows}


def topic_matches_on(db, day: date) -> int:
    """How many curated-topic matches are stored for papers announced on `day`."""
    row = db.execute(
        "SELECT COUNT(*) FROM topic_matches WHERE announce_date = ?", [day.isoformat()]
    ).fetchone()
    return int(row[0])


def topic_match_count(db, topic_id: int, since: date, until: date) -> int:
    """How many papers announced in [since, until] are stored as matching the topic."""
    row = db.execute(
        "SELECT COUNT(*) FROM topic_matches WHERE topic_id = ? AND announce_date BETWEEN ? AND ?",
        [topic_id, since.isoformat(), until.isoformat()],
    ).fetchone()
    return int(row[0])


def announced_counts(
    db,
    announce_types: Sequence[str] | None,
    since: date | None = None,
    until: date | None = None,
) -> list[tuple[date, int]]:
    """(day, papers first announced that day) for the stored announcement days in [since, until]
    (every one when both are None), oldest first."""
    clauses: list[str] = ["first_announced IS NOT NULL"]
    params: list = []
    _add_announced_between(clauses, params, since, until)
    _add_announce_types(clauses, params, announce_types)
    rows = db.execute(
        "SELECT first_announced, COUNT(*) FROM papers "  # noqa: S608
        f"WHERE {' AND '.join(clauses)} GROUP BY first_announced ORDER BY first_announced",
        params,
    ).fetchall()
    return [(date.fromisoformat(d), int(n)) for d, n in rows if d]


def topic_matches_between(db, since: date, until: date) -> list[tuple[int, str, str, float]]:
    return db.execute(
        "SELECT topic_id, paper_id, announce_date, score FROM topic_matches "
        "WHERE announce_date BETWEEN ? AND ? ORDER BY announce_date, topic_id, score DESC",
        [since.isoformat(), until.isoformat()],
    ).fetchall()


def topic_match_counts(db, since: date, until: date) -> dict[str, int]:
    """paper id -> how many topics matched it, for papers announced in [since, until]."""
    rows = db.execute(
        "SELECT paper_id, COUNT(DISTINCT topic_id) FROM topic_matches "
        "WHERE announce_date BETWEEN ? AND ? GROUP BY paper_id",
        [since.isoformat(), until.isoformat()],
    )
    return {r[0]: r[1] for r in rows}


def subscriber_match_counts(db, since: date, until: date) -> dict[str, int]:
    """paper id -> how many subscribers had it picked for an issue in [since, until]."""
    rows = db.execute(
        "SELECT paper_id, COUNT(DISTINCT subscriber_id) FROM picks "
        "WHERE issue_date BETWEEN ? AND ? GROUP BY paper_id",
        [since.isoformat(), until.isoformat()],
    )
    return {r[0]: r[1] for r in rows}


def paper_ids_between(db, since: date, until: date) -> list[str]:
    """Papers first announced in [since, until], plus papers listed on those days."""
    rows = db.execute(
        "SELECT id FROM papers WHERE first_announced BETWEEN ? AND ? "
        "UNION SELECT paper_id FROM listings WHERE announce_date BETWEEN ? AND ?",
        [since.isoformat(), until.isoformat(), since.isoformat(), until.isoformat()],
    )
    return sorted(r[0] for r in rows)


# ---------------------------------------------------------------- topic text vectors


def cached_text_vector(db, model: str, key: str) -> np.ndarray | None:
    row = db.execute(
        "SELECT vector FROM embeddings WHERE model = ? AND content_hash = ?", [model, key]
    ).fetchone()
    return np.frombuffer(row[0], dtype=np.float32) if row else None


# ---------------------------------------------------------------- Hugging Face upvotes


def save_hf_papers(db, day: date, items: Sequence[tuple[str, int, str]]) -> int:
    """Store (paper id, upvotes, title) listed on `day`; re-fetching updates the counts."""
    now = utcnow()
    with transaction(db):
        db.executemany(
            "INSERT INTO hf_papers (paper_id, day, upvotes, title, fetched_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (paper_id, day) DO UPDATE SET"
            " upvotes = excluded.upvotes, title = excluded.title, fetched_at = excluded.fetched_at",
            [(pid, day.isoformat(), int(up), title, now) for pid, up, title in items],
        )
    return len(items)


def hf_upvotes(db, paper_ids: Sequence[str]) -> dict[str, int]:
    """paper id -> best upvote count seen on any day."""
    out: dict[str, int] = {}
    for chunk in _chunks(list(paper_ids)):
        marks = ",".join("?" for _ in chunk)
        rows = db.execute(
            f"SELECT paper_id, MAX(upvotes) FROM hf_papers WHERE paper_id IN ({marks}) "  # noqa: S608
            "GROUP BY paper_id",
            chunk,
        )
        out.update({r[0]: r[1] for r in rows})
    return out
