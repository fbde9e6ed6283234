"""Title clicks and mail link scanners: scanners still get the redirect, every click is kept,
and readers (personal model, trending, `subscribers show`) leave out a scanner's clicks.

Real SQLite (the sample database), the real web app on loopback, the real CLI."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from digest.rank import planning, trending
from digest.store import ranking as rank_store
from digest.store import transaction
from digest.store.feedback import (
    BOT_CLICK_SOURCE,
    CLICK_BURST_MIN_PAPERS,
    CLICK_BURST_SECONDS,
    EMAIL_CLICK_SOURCE,
    NEAR_LOOKUP_LIMIT,
    add_feedback,
    counted_clicks,
    feedback_by_subscriber,
    feedback_counts,
    feedback_for_subscriber,
    scanner_click_ids,
)
from digest.subscribers.manage import add_subscriber
from digest.web.server import ServerThread
from tests.conftest import run_cli_in_process

DAY = date(2025, 8, 20)  # the sample feeds' announcement day
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0"


@pytest.fixture
def served(sample_db, sample_config):
    """(db, base_url, eight paper ids of DAY) with the real web app running."""
    papers = rank_store.paper_ids_between(sample_db, DAY, DAY)[:8]
    with ServerThread(sample_config) as base_url:
        yield sample_db, base_url, papers


def click(base_url: str, token: str, paper: str, agent: str | None = BROWSER) -> httpx.Response:
    headers = {"user-agent": agent} if agent is not None else {}
    client = httpx.Client(headers=headers)
    if agent is None:
        del client.headers["user-agent"]  # httpx sends its own unless told not to
    with client:
        return client.get(f"{base_url}/f/{token}", params={"paper": paper, "kind": "click"})


def shift_clicks(db, subscriber_id: int, seconds: int) -> None:
    """Move a subscriber's recorded clicks back in time (as if minutes had passed since)."""
    rows = db.execute(
        "SELECT id, created_at FROM feedback WHERE subscriber_id = ? AND kind = 'click'",
        [subscriber_id],
    ).fetchall()
    for row_id, created_at in rows:
        moved = datetime.fromisoformat(created_at) - timedelta(seconds=seconds)
        db.execute(
            "UPDATE feedback SET created_at = ? WHERE id = ?",
            [moved.isoformat(timespec="seconds"), row_id],
        )


def test_a_scanner_burst_gets_every_redirect_is_recorded_and_counts_nowhere(served, sample_config):
    db, base_url, papers = served
    scanner = add_subscriber(db, "behind-safelinks@example.org", status="active")
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:  # a scanner fetches in parallel, posing as Chrome
        answers = list(pool.map(lambda pid: click(base_url, scanner.manage_token, pid), papers))
    elapsed = time.monotonic() - started
    assert elapsed < CLICK_BURST_SECONDS - 1, elapsed  # a burst, as a scanner makes one
    for pid, answer in zip(papers, answers, strict=True):
        assert answer.status_code == 303
        assert answer.headers["location"] == f"https://arxiv.org/abs/{pid}"
    kept = db.execute(
        "SELECT COUNT(*), MIN(source) FROM feedback WHERE subscriber_id = ? AND kind = 'click'",
        [scanner.id],
    ).fetchone()
    assert tuple(kept) == (8, EMAIL_CLICK_SOURCE)  # every GET is kept with its time
    assert feedback_for_subscriber(db, scanner.id) == ([], [], [])
    assert feedback_counts(db, papers) == {}
    assert trending.trending(db, DAY, "day") == []
    assert planning.gather_reader(db, sample_config, scanner).clicked == []
    shift_clicks(db, scanner.id, 600)  # ten minutes later the reader opens one title
    assert click(base_url, scanner.manage_token, papers[2]).status_code == 303
    assert planning.gather_reader(db, sample_config, scanner).clicked == [papers[2]]
    assert [(t.paper_id, t.clicks) for t in trending.trending(db, DAY, "day")] == [(papers[2], 1)]


def test_a_readers_clicks_minutes_apart_count_for_the_model_trending_and_show(
    served, sample_config, capsys
):
    db, base_url, papers = served
    reader = add_subscriber(db, "reader@example.org", status="active")
    scanner = add_subscriber(db, "scanned@example.org", status="active")
    for pid in papers[:3]:  # three titles, minutes apart
        assert click(base_url, reader.manage_token, pid).status_code == 303
        shift_clicks(db, reader.id, 180)
    for pid in papers:  # and a gateway fetching every title of the same email
        assert click(base_url, scanner.manage_token, pid).status_code == 303

    model_input = planning.gather_reader(db, sample_config, reader)
    assert model_input.clicked == papers[:3]
    assert planning.gather_reader(db, sample_config, scanner).clicked == []
    assert feedback_by_subscriber(db)[reader.id][2] == papers[:3]
    assert scanner.id not in feedback_by_subscriber(db)

    top = {t.paper_id: t.clicks for t in trending.trending(db, DAY, "day", limit=50)}
    assert top == dict.fromkeys(papers[:3], 1)  # the scanner added nothing
    assert trending.interest_counts(db, papers, DAY) == dict.fromkeys(papers[:3], 1.0)

    config_path = sample_config.path("config.toml")
    code, out, _ = run_cli_in_process(
        config_path, capsys, "trending", "--date", "2025-08-20", "--json"
    )
    assert code == 0
    assert {row["paper_id"]: row["clicks"] for row in json.loads(out)} == top
    for address, clicked in (("reader@example.org", 3), ("scanned@example.org", 0)):
        code, out, _ = run_cli_in_process(config_path, capsys, "subscribers", "show", address)
        assert code == 0 and f"{clicked} clicked" in out, out


def test_clicks_without_a_browsers_user_agent_redirect_and_never_count(served):
    db, base_url, papers = served
    sub = add_subscriber(db, "gateway@example.org", status="active")
    for agent in (None, "", "Mozilla/5.0 (compatible; Barracuda Sentinel)", "python-requests/2"):
        answer = click(base_url, sub.manage_token, papers[0], agent)
        assert answer.status_code == 303
        assert answer.headers["location"] == f"https://arxiv.org/abs/{papers[0]}"
    sources = {r[0] for r in db.execute("SELECT source FROM feedback WHERE kind = 'click'")}
    assert sources == {BOT_CLICK_SOURCE}
    assert feedback_for_subscriber(db, sub.id) == ([], [], [])
    head = httpx.head(
        f"{base_url}/f/{sub.manage_token}", params={"paper": papers[1], "kind": "click"}
    )
    assert head.status_code == 303  # HEAD gets the redirect too, and records nothing
    assert head.headers["location"] == f"https://arxiv.org/abs/{papers[1]}"
    assert db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0] == 4
    assert click(base_url, sub.manage_token, papers[0]).status_code == 303  # the reader, later
    assert feedback_for_subscriber(db, sub.id)[2] == [papers[0]]


def _at(seconds: float) -> str:
    return (datetime(2025, 8, 20, 9, 0, tzinfo=UTC) + timedelta(seconds=seconds)).isoformat()


def test_the_burst_rule_on_its_edges():
    rows = [(1, 7, "a", _at(0)), (2, 7, "b", _at(1)), (3, 7, "c", _at(1))]
    assert scanner_click_ids(rows) == {1, 2, 3}  # three papers within a second or two
    assert scanner_click_ids(rows[:2]) == set()  # two papers: a quick reader, it counts
    paced = [(i, 7, f"p{i}", _at(i)) for i in range(8)]
    assert scanner_click_ids(paced) == set(range(8))  # a scanner pacing itself 1 s apart
    slow = [(i, 7, f"p{i}", _at(i * (CLICK_BURST_SECONDS + 1) / 2)) for i in range(8)]
    assert scanner_click_ids(slow) == set()  # tabs opened one after another by hand
    edge = [(1, 7, "a", _at(0)), (2, 7, "b", _at(0)), (3, 7, "c", _at(CLICK_BURST_SECONDS))]
    assert scanner_click_ids(edge) == {1, 2, 3}
    late = [(1, 7, "a", _at(0)), (2, 7, "b", _at(0)), (3, 7, "c", _at(CLICK_BURST_SECONDS + 1))]
    assert scanner_click_ids(late) == set()
    mixed = [*rows, (4, 7, "d", _at(60)), (5, 7, "e", _at(600))]
    assert scanner_click_ids(mixed) == {1, 2, 3}  # the reader's later clicks still count
    same = [(i, 7, "a", _at(i * 0.5)) for i in range(5)]
    assert scanner_click_ids(same) == set()  # one title clicked again and again: one paper
    others = [(1, 7, "a", _at(0)), (2, 8, "b", _at(0)), (3, 9, "c", _at(1))]
    assert scanner_click_ids(others) == set()  # three people, one each: bursts are per person
    assert CLICK_BURST_MIN_PAPERS == 3


@pytest.mark.parametrize("others", [0, 2 * NEAR_LOOKUP_LIMIT + 2], ids=["few", "many"])
def test_a_burst_across_a_window_edge_is_still_a_burst_and_operator_clicks_count(sample_db, others):
    """Few clicks to judge: their neighbours are looked up; many: one scan. Same answers."""
    db = sample_db
    papers = rank_store.paper_ids_between(db, DAY, DAY)[:6]
    sub = add_subscriber(db, "edge@example.org", status="active")
    midnight = datetime(2025, 8, 21, tzinfo=UTC)
    for offset, pid in zip((-2, -1, 0, 1), papers, strict=False):  # 23:59:58 .. 00:00:01
        stamp = (midnight + timedelta(seconds=offset)).isoformat()
        add_feedback(db, sub.id, pid, "click", source=EMAIL_CLICK_SOURCE, created_at=stamp)
    steady = add_subscriber(db, "steady@example.org", status="active")
    with transaction(db):
        for i in range(others):  # one title every 10 s around midnight: never a burst
            stamp = (midnight + timedelta(seconds=10 * (i - others // 2))).isoformat()
            add_feedback(db, steady.id, papers[5], "click", "email", stamp)
    expected = {papers[5]: {"like": 0, "dislike": 0, "click": 1}} if others else {}
    assert feedback_counts(db, since=date(2025, 8, 21), until=date(2025, 8, 21)) == expected
    assert feedback_counts(db, until=date(2025, 8, 20)) == expected
    assert feedback_counts(db, papers) == expected
    assert counted_clicks(db, sub.id, since=date(2025, 8, 21)) == []
    operator = add_subscriber(db, "typed@example.org", status="active")
    for pid in papers[:4]:  # `digest feedback add --click`, typed in quick succession
        add_feedback(db, operator.id, pid, "click", created_at=_at(0))
    assert feedback_for_subscriber(db, operator.id)[2] == papers[:4]


def scan_every_title(base_url: str, token: str, papers: list[str]) -> None:
    """A mail scanner fetching every title of one email in parallel, posing as a browser."""
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda pid: click(base_url, token, pid), papers))
    assert [a.status_code for a in answers] == [303] * len(papers)


def test_trending_judges_everyones_clicks_once_until_the_database_changes(served):
    """The site build asks for trending per day, week and month of one unchanged file: after
    the first read, a read fetches only its own papers' clicks (no neighbour look-ups of every
    click each time); a burst recorded since, by the web app's connection or by this one,
    is left out at once."""
    db, base_url, papers = served
    reader = add_subscriber(db, "tabs@example.org", status="active")
    first, second = (add_subscriber(db, f"scan{i}@example.org", status="active") for i in (1, 2))
    scan_every_title(base_url, first.manage_token, papers)
    assert click(base_url, reader.manage_token, papers[0]).status_code == 303
    expected = [(papers[0], 1)]
    assert [(t.paper_id, t.clicks) for t in trending.trending(db, DAY, "day")] == expected

    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    try:
        again = trending.trending(db, DAY, "day")
    finally:
        db.conn.set_trace_callback(None)
    assert [(t.paper_id, t.clicks) for t in again] == expected
    reads = [s for s in statements if "FROM feedback" in s]
    assert reads and all("paper_id IN" in s for s in reads), reads

    scan_every_title(base_url, second.manage_token, papers)  # the web app's own connection
    assert [(t.paper_id, t.clicks) for t in trending.trending(db, DAY, "day")] == expected
    third = add_subscriber(db, "scan3@example.org", status="active")
    with transaction(db):  # this connection: the same instant, three titles
        for pid in papers[:3]:
            add_feedback(db, third.id, pid, "click", EMAIL_CLICK_SOURCE, _at(0))
    assert [(t.paper_id, t.clicks) for t in trending.trending(db, DAY, "day")] == expected
    assert feedback_counts(db, papers[:1]) == {papers[0]: {"like": 0, "dislike": 0, "click": 1}}


def test_a_read_inside_a_transaction_rolled_back_leaves_no_verdicts_behind(sample_db):
    """Everyone's bursts are judged once per state of the file; a state seen inside a
    transaction that is then rolled back is not one (its click would still make a burst)."""
    db = sample_db
    papers = rank_store.paper_ids_between(db, DAY, DAY)[:3]
    sub = add_subscriber(db, "undone@example.org", status="active")
    for pid in papers[:2]:
        add_feedback(db, sub.id, pid, "click", EMAIL_CLICK_SOURCE, _at(0))
    counted = {pid: {"like": 0, "dislike": 0, "click": 1} for pid in papers[:2]}
    assert feedback_counts(db, papers) == counted
    with pytest.raises(RuntimeError), transaction(db):
        add_feedback(db, sub.id, papers[2], "click", EMAIL_CLICK_SOURCE, _at(1))
        assert feedback_counts(db, papers) == {}  # three titles in a second: a burst
        raise RuntimeError("undo")
    assert feedback_counts(db, papers) == counted
