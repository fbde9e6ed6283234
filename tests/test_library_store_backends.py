"""The library, feed and chat-channel store functions on both backends (a SQLite file and a
real PostgreSQL server): a statement only SQLite understands fails here on PostgreSQL."""

from __future__ import annotations

from datetime import date

from digest.models import Paper
from digest.store import channels as channel_store
from digest.store import library as library_store
from digest.store import papers as paper_store
from digest.store import ranking as rank_store
from digest.store import subscribers as subscriber_store
from digest.store.library import EntryRow

DAY = date(2025, 8, 20)


def _subscriber(db, email: str) -> int:
    return subscriber_store.insert_subscriber(db, {"email": email, "status": "active"})


def _papers(db) -> None:
    paper_store.upsert_papers(
        db,
        [
            Paper(id="2508.00001", title="First", abstract="a", doi="10.1/ABC", announced=DAY),
            Paper(id="2508.00002", title="Second", abstract="b", announced=DAY),
        ],
        "feed",
    )


def _rows() -> list[EntryRow]:
    return [
        EntryRow(1, "@a{x}", "First", "2508.00001", None, "2508.00001", "arxiv", "matched"),
        EntryRow(2, "@a{y}", "By DOI", None, "10.1/abc", "2508.00001", "doi", "matched"),
        EntryRow(3, "@a{z}", "Later", "2104.12255", None, None, "", "pending"),
        EntryRow(4, "@a{w}", "A book", None, None, None, "", "unmatched"),
    ]


def test_replace_summary_pending_and_settle(any_db):
    db = any_db
    _papers(db)
    sid = _subscriber(db, "a@example.org")
    assert library_store.stored_dois(db) == {"10.1/abc": "2508.00001"}
    assert sorted(library_store.iter_stored_titles(db)) == [
        ("2508.00001", "First"),
        ("2508.00002", "Second"),
    ]
    for _ in range(2):  # a re-import replaces: nothing doubles
        library_store.replace_library(db, sid, "x.bib", "bibtex", 1, "cli", _rows())
    summary = library_store.library_summary(db, sid)
    assert summary is not None
    assert (summary["entries"], summary["skipped"], summary["papers"]) == (4, 1, 1)
    assert summary["counts"] == {"matched": 2, "pending": 1, "unmatched": 1}
    assert summary["unmatched_titles"] == ["A book"]
    assert library_store.library_paper_ids(db, sid) == ["2508.00001"]
    assert library_store.pending_arxiv_ids(db) == ["2104.12255"]
    paper_store.upsert_papers(db, [Paper(id="2104.12255", title="L", abstract="c")], "api")
    assert library_store.settle_pending(db, ["2104.12255"], []) == 1
    assert library_store.library_paper_ids(db, sid) == ["2508.00001", "2104.12255"]
    assert [r["status"] for r in library_store.library_entry_rows(db, sid)] == [
        "matched",
        "matched",
        "fetched",
        "unmatched",
    ]
    assert library_store.remove_library(db, sid)
    assert library_store.library_summary(db, sid) is None


def test_feed_salt_picks_and_chat_channels(any_db):
    db = any_db
    _papers(db)
    sid = _subscriber(db, "lab@example.org")
    assert channel_store.feed_salt(db, sid) is None
    channel_store.new_feed_salt(db, sid, "s1")
    channel_store.new_feed_salt(db, sid, "s2")
    assert channel_store.feed_salt(db, sid) == "s2"
    rows = [
        {
            "paper_id": "2508.00002",
            "rank": 1,
            "score": 0.5,
            "topic": "T",
            "why": "T: w",
            "why_json": {},
        },
    ]
    rank_store.replace_plan(db, sid, DAY, 2, DAY, rows)
    picks = channel_store.recent_picks(db, sid, 10)
    assert [(p["issue_date"], p["paper_id"], p["title"], p["authors"]) for p in picks] == [
        (DAY.isoformat(), "2508.00002", "Second", [])
    ]
    channel_store.set_chat_channel(db, sid, "slack", "https://hooks.slack.com/services/A")
    channel_store.set_chat_channel(db, sid, "discord", "https://discord.com/api/webhooks/1/x")
    assert channel_store.chat_channels_for(db, [sid, sid + 1]) == {
        sid: ("discord", "https://discord.com/api/webhooks/1/x")
    }
    assert channel_store.remove_chat_channel(db, sid)
    assert channel_store.chat_channels_for(db, [sid]) == {}
