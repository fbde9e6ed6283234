"""SQL for the feedback table: likes, dislikes and clicks per subscriber and paper.

Every event is kept (an append-only log); readers fold it: for one subscriber and paper the
latest of like/dislike wins, and clicks are counted separately. Every reader takes its clicks
from `counted_clicks`, which leaves out what mail link scanners "clicked" (docs/service.md).
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta

import numpy as np

from digest.errors import UsageError
from digest.models import FEEDBACK_KINDS, split_arxiv_id
from digest.store.db import utcnow
from digest.store.service import eager_transaction

# Click filtering, the whole rule (docs/service.md, "Title clicks and mail scanners"). Mail
# security scanners GET every link of a message seconds after delivery; a reader does not.
CLICK_BURST_SECONDS = 3  # one subscriber's email clicks this close together form a burst
CLICK_BURST_MIN_PAPERS = 3  # when they name this many distinct papers: none of them count
EMAIL_CLICK_SOURCE = "email"  # a title click through the web app, from a browser
BOT_CLICK_SOURCE = "email-bot"  # one whose User-Agent was missing or a robot's: never counts
EMAIL_SOURCES = (EMAIL_CLICK_SOURCE, BOT_CLICK_SOURCE)  # the ones bursts are looked for in
NEAR_LOOKUP_LIMIT = 1000  # more email clicks to judge than this: one scan, not lookups
BOT_USER_AGENT = re.compile(
    r"bot|crawl|spider|scan|preview|headless|python|curl|wget|libwww|java/|go-http|okhttp"
    r"|httpx|aiohttp|axios|node-fetch|proofpoint|mimecast|barracuda|safelinks",
    re.IGNORECASE,
)


def normalise_paper_id(raw: str) -> str:
    """arXiv ids in any spelling -> base id without version; foreign ids are kept as given."""
    parsed = split_arxiv_id(raw)
    return parsed[0] if parsed else raw.strip()


def _is_text(value: str) -> bool:
    """False for text SQLite cannot store (lone surrogates from a non-UTF-8 terminal)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def add_feedback(
    db,
    subscriber_id: int,
    paper_id: str,
    kind: str,
    source: str = "cli",
    created_at: str | None = None,
) -> str:
    """Record one like/dislike/click; returns the stored paper id.

    Unknown kind, subscriber or paper -> UsageError naming it (nothing is written).
    """
    if kind not in FEEDBACK_KINDS:
        raise UsageError(f"unknown feedback kind {kind!r} (known: {', '.join(FEEDBACK_KINDS)})")
    stored_id = normalise_paper_id(paper_id)
    if (
        not _is_text(stored_id)
        or not db.execute("SELECT 1 FROM papers WHERE id = ?", [stored_id]).fetchone()
    ):
        raise UsageError(f"unknown paper id {paper_id.strip()!r} (not in the store)")
    if db.execute("SELECT 1 FROM subscribers WHERE id = ?", [subscriber_id]).fetchone() is None:
        raise UsageError(f"no subscriber with id {subscriber_id}")
    db.execute(
        "INSERT INTO feedback (subscriber_id, paper_id, kind, source, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        [subscriber_id, stored_id, kind, source, created_at or utcnow()],
    )
    return stored_id


def is_bot_user_agent(user_agent: str | None) -> bool:
    """True for a missing User-Agent or a robot's (a scanner may also pose as a browser)."""
    return not (user_agent or "").strip() or bool(BOT_USER_AGENT.search(user_agent or ""))


def record_email_click(db, subscriber_id: int, paper_id: str, user_agent: str | None) -> str | None:
    """Record a title click from an email link; returns the stored id, None for an unknown paper.

    Every click is kept with its time; a robot's User-Agent only marks its source, and readers
    (`counted_clicks`) decide what counts, so the rule can change without losing data.
    """
    source = BOT_CLICK_SOURCE if is_bot_user_agent(user_agent) else EMAIL_CLICK_SOURCE
    try:
        with eager_transaction(db):
            return add_feedback(db, subscriber_id, paper_id, "click", source=source)
    except UsageError:
        return None


def _seconds(created_at: str) -> float | None:
    """A stored timestamp as epoch seconds (naive means UTC); None when it is not one."""
    try:
        moment = datetime.fromisoformat(created_at)
    except (TypeError, ValueError):
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def scanner_click_ids(clicks: Iterable[tuple[int, int, str, str]]) -> set[int]:
    """Ids of email clicks in a burst: (id, subscriber id, paper id, created_at) rows in.

    A burst: one subscriber's clicks of CLICK_BURST_MIN_PAPERS or more distinct papers within
    CLICK_BURST_SECONDS of the first. Whether a click is in one depends only on that
    subscriber's clicks up to CLICK_BURST_SECONDS either side of it.
    """
    ids, subscribers, seconds, papers = [], [], [], []
    for click_id, subscriber_id, paper_id, created_at in clicks:
        at = _seconds(created_at)
        if at is not None:
            ids.append(click_id)
            subscribers.append(subscriber_id)
            seconds.append(at)
            papers.append(paper_id)
    reach = CLICK_BURST_MIN_PAPERS - 1
    if len(ids) <= reach:
        return set()
    order = np.lexsort((np.array(seconds), np.array(subscribers)))  # by subscriber, then time
    who, when = np.array(subscribers)[order], np.array(seconds)[order]
    starts = np.flatnonzero(  # enough clicks of one subscriber within reach: few, if any
        (who[reach:] == who[:-reach]) & (when[reach:] - when[:-reach] <= CLICK_BURST_SECONDS)
    )
    flagged: set[int] = set()
    for first in starts.tolist():
        end = first + reach
        while (
            end + 1 < len(order)
            and who[end + 1] == who[first]
            and when[end + 1] - when[first] <= CLICK_BURST_SECONDS
        ):
            end += 1
        span = order[first : end + 1].tolist()
        if len({papers[i] for i in span}) >= CLICK_BURST_MIN_PAPERS:
            flagged.update(ids[i] for i in span)
    return flagged


def counted_clicks(
    db,
    subscriber_id: int | None = None,
    since: date | datetime | str | None = None,
    until: date | datetime | str | None = None,
    paper_ids: set[str] | None = None,
) -> list[tuple[int, str]]:
    """(subscriber id, paper id) of every click that counts, oldest first.

    The one reader of clicks, for the personal model, trending and `subscribers show` alike:
    it leaves out email clicks with a robot's User-Agent and email clicks in a burst (see
    `scanner_click_ids`). Clicks added by an operator (`digest feedback add`) always count.
    """
    where, params = _time_clauses(since, until)
    if subscriber_id is not None:
        where.append("subscriber_id = ?")
        params.append(subscriber_id)
    papers_in_sql = paper_ids is not None and len(paper_ids) <= 500
    if paper_ids is not None and papers_in_sql:  # else filtered below
        where.append(f"paper_id IN ({','.join('?' for _ in paper_ids)})")
        params.extend(sorted(paper_ids))
    version = _click_data_version(db)  # before the read: a later change only makes it stale
    rows = db.execute(
        "SELECT id, subscriber_id, paper_id, source, created_at FROM feedback"  # noqa: S608
        f" WHERE {' AND '.join(['kind = ?', *where])} ORDER BY created_at, id",
        ["click", *params],
    ).fetchall()
    email = [(cid, sid, pid, at) for cid, sid, pid, src, at in rows if src in EMAIL_SOURCES]
    if paper_ids is not None:
        rows = [row for row in rows if row[2] in paper_ids]
    if subscriber_id is None:  # everyone's: judged once per state of the database
        complete = not where and not papers_in_sql
        bursts = _everyones_bursts(db, version, email if complete else None)
    else:
        if since is not None or until is not None or papers_in_sql:  # neighbours may be missing
            judged = [click for click in email if paper_ids is None or click[2] in paper_ids]
            email = _email_clicks_near(db, judged, since, until)
        bursts = np.array(sorted(scanner_click_ids(email)), dtype=np.int64)
    ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    in_burst = np.isin(ids, bursts)
    return [
        (sid, pid)
        for (_, sid, pid, source, _), burst in zip(rows, in_burst.tolist(), strict=True)
        if source != BOT_CLICK_SOURCE and not burst
    ]


# db -> ((data_version, total_changes), sorted ids of every email click in a burst). The site
# build asks for trending per day, week and month (hundreds of reads of one unchanged file):
# judging everyone's clicks once keeps each read to its own rows, instead of looking up (or
# scanning) the neighbours of thousands of clicks every time.
_BURSTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _click_data_version(db) -> tuple[int, int]:
    """Changes when anything was written since: by another connection (SQLite's data_version)
    or by this one (its total_changes)."""
    return db.data_version()


def _everyones_bursts(db, version: tuple[int, int], email: list | None) -> np.ndarray:
    """Ids of every email click in a burst, as of `version`; `email` when the caller already
    read every email click, else they are read here. Cached until the database changes (not
    inside a transaction: one rolled back would leave its clicks' verdicts behind)."""
    cached = _BURSTS.get(db)
    settled = not db.in_transaction
    if settled and cached is not None and cached[0] == version:
        return cached[1]
    if email is None:
        sources = ",".join("?" for _ in EMAIL_SOURCES)
        email = db.execute(
            "SELECT id, subscriber_id, paper_id, created_at FROM feedback"  # noqa: S608
            f" WHERE kind = 'click' AND source IN ({sources})",
            [*EMAIL_SOURCES],
        ).fetchall()
    bursts = np.array(sorted(scanner_click_ids(email)), dtype=np.int64)
    if settled:
        _BURSTS[db] = (version, bursts)
    return bursts


def _email_clicks_near(db, email: list, since, until) -> list[tuple[int, int, str, str]]:
    """The email clicks of the same subscriber within CLICK_BURST_SECONDS of the given ones:
    all `scanner_click_ids` needs to judge them. Few: looked up by subscriber; many: one scan
    of the time window, a day wider each side (judging stays exact)."""
    sources = ",".join("?" for _ in EMAIL_SOURCES)
    if len(email) > NEAR_LOOKUP_LIMIT:
        where, params = [f"kind = 'click' AND source IN ({sources})"], [*EMAIL_SOURCES]
        for clause, edge in (
            ("created_at >= ?", _day_edge(since, -1)),
            ("created_at < ?", _day_edge(until, 2)),
        ):
            if edge:
                where.append(clause)
                params.append(edge)
        found = db.execute(
            "SELECT id, subscriber_id, paper_id, created_at FROM feedback"  # noqa: S608
            f" WHERE {' AND '.join(where)}",
            params,
        )
        subscribers = {row[1] for row in email}
        return [tuple(row) for row in found if row[1] in subscribers]
    near: list[tuple[int, int, str, str]] = []  # a click near two of them comes twice: harmless
    reach = CLICK_BURST_SECONDS / 86400 + 1e-7  # julianday counts days
    for start in range(0, len(email), 900):
        chunk = [row[0] for row in email[start : start + 900]]
        rows = db.execute(
            "SELECT f.id, f.subscriber_id, f.paper_id, f.created_at"  # noqa: S608
            " FROM feedback AS c JOIN feedback AS f ON f.subscriber_id = c.subscriber_id"
            f" WHERE c.id IN ({','.join('?' for _ in chunk)}) AND f.kind = 'click'"
            f" AND f.source IN ({sources}) AND abs(julianday(f.created_at)"
            " - julianday(c.created_at)) <= ?",
            [*chunk, *EMAIL_SOURCES, reach],
        ).fetchall()
        near.extend(tuple(row) for row in rows)
    return near


def _day_edge(value: date | datetime | str | None, days: int) -> str | None:
    """The day `days` after the bound's day (a wide, safe margin), or None for no bound."""
    bound = _bound(value, end=False)
    try:
        return (date.fromisoformat((bound or "")[:10]) + timedelta(days=days)).isoformat()
    except ValueError:
        return None


def _verdict_rows(db, where: list[str], params: list) -> list[tuple[int, str, str]]:
    """(subscriber id, paper id, kind) of the likes and dislikes matching, oldest first."""
    rows = db.execute(
        "SELECT subscriber_id, paper_id, kind FROM feedback"  # noqa: S608
        f" WHERE {' AND '.join(['kind != ?', *where])} ORDER BY created_at, id",
        ["click", *params],
    ).fetchall()
    return [tuple(row) for row in rows]


def _fold(
    verdict_rows: list[tuple[int, str, str]], clicks: list[tuple[int, str]]
) -> dict[int, tuple[list[str], list[str], list[str]]]:
    """subscriber id -> (liked, disliked, clicked): the latest like/dislike wins, oldest first."""
    verdicts: dict[int, dict[str, str]] = {}
    clicked: dict[int, dict[str, None]] = {}
    for subscriber_id, paper_id, kind in verdict_rows:
        verdict = verdicts.setdefault(subscriber_id, {})
        verdict.pop(paper_id, None)  # re-insert so the order follows the latest verdict
        verdict[paper_id] = kind
    for subscriber_id, paper_id in clicks:
        clicked.setdefault(subscriber_id, {}).setdefault(paper_id, None)
    out: dict[int, tuple[list[str], list[str], list[str]]] = {}
    for subscriber_id in set(verdicts) | set(clicked):
        verdict = verdicts.get(subscriber_id, {})
        out[subscriber_id] = (
            [pid for pid, kind in verdict.items() if kind == "like"],
            [pid for pid, kind in verdict.items() if kind == "dislike"],
            list(clicked.get(subscriber_id, {})),
        )
    return out


def feedback_for_subscriber(db, subscriber_id: int) -> tuple[list[str], list[str], list[str]]:
    """(liked_ids, disliked_ids, clicked_ids) for one subscriber, oldest first.

    A later like overrides an earlier dislike of the same paper and vice versa; clicks are
    those `counted_clicks` keeps.
    """
    verdicts = _verdict_rows(db, ["subscriber_id = ?"], [subscriber_id])
    folded = _fold(verdicts, counted_clicks(db, subscriber_id))
    return folded.get(subscriber_id, ([], [], []))


def feedback_summary(db, subscriber_id: int) -> dict[str, int]:
    """How many papers one subscriber currently likes, dislikes and has clicked."""
    liked, disliked, clicked = feedback_for_subscriber(db, subscriber_id)
    return {"like": len(liked), "dislike": len(disliked), "click": len(clicked)}


def _bound(value: date | datetime | str | None, end: bool) -> str | None:
    """Turn a date (whole day, inclusive) or timestamp into a created_at comparison bound."""
    if value is None:
        return None
    if isinstance(value, str) and len(value) == 10:
        value = date.fromisoformat(value)
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return (value + timedelta(days=1)).isoformat() if end else value.isoformat()
    return value


def _time_clauses(
    since: date | datetime | str | None, until: date | datetime | str | None
) -> tuple[list[str], list]:
    """WHERE clauses and parameters for created_at in [since, until] (dates: whole days)."""
    clauses: list[str] = []
    params: list = []
    low, high = _bound(since, end=False), _bound(until, end=True)
    if low:
        clauses.append("created_at >= ?")
        params.append(low)
    if high:
        clauses.append("created_at < ?" if len(high) == 10 else "created_at <= ?")
        params.append(high)
    return clauses, params


def feedback_counts(
    db,
    paper_ids: Sequence[str] | None = None,
    since: date | datetime | str | None = None,
    until: date | datetime | str | None = None,
) -> dict[str, dict[str, int]]:
    """paper id -> {"like": n, "dislike": n, "click": n}, counted in distinct subscribers.

    Only events in [since, until] count (dates are whole days, inclusive). Per subscriber
    the latest like/dislike in the window wins, so one person counts once per paper; clicks
    are those `counted_clicks` keeps.
    """
    clauses, params = _time_clauses(since, until)
    wanted: set[str] | None = None
    if paper_ids is not None:
        wanted = {normalise_paper_id(pid) for pid in paper_ids}
        if not wanted:
            return {}
        if len(wanted) <= 500:
            clauses.append(f"paper_id IN ({','.join('?' for _ in wanted)})")
            params.extend(sorted(wanted))
    verdicts = {(sid, pid): kind for sid, pid, kind in _verdict_rows(db, clauses, params)}
    clicks = set(counted_clicks(db, since=since, until=until, paper_ids=wanted))
    counts: dict[str, dict[str, int]] = {}
    for (_, paper_id), kind in verdicts.items():
        if wanted is None or paper_id in wanted:
            counts.setdefault(paper_id, {"like": 0, "dislike": 0, "click": 0})[kind] += 1
    for _, paper_id in clicks:
        counts.setdefault(paper_id, {"like": 0, "dislike": 0, "click": 0})["click"] += 1
    return counts


def feedback_events(db, subscriber_id: int, limit: int = 50) -> list[dict]:
    """The latest raw events for one subscriber, newest first (for `subscribers show`)."""
    rows = db.query(
        "SELECT paper_id, kind, source, created_at FROM feedback WHERE subscriber_id = ?"
        " ORDER BY created_at DESC, id DESC LIMIT ?",
        [subscriber_id, limit],
    )
    return list(rows)


def feedback_by_subscriber(db) -> dict[int, tuple[list[str], list[str], list[str]]]:
    """subscriber id -> (liked_ids, disliked_ids, clicked_ids) for everyone, in two queries.

    The bulk form of `feedback_for_subscriber` (same folding rules), for ranking at scale.
    """
    return _fold(_verdict_rows(db, [], []), counted_clicks(db))
