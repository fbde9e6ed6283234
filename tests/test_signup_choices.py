"""Sign-up choices wait with the confirmation link: typing someone's address into the form
changes nothing stored about them until that address's owner presses the link. Real uvicorn
on loopback; confirmation mails land in the outbox backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from digest.models import Paper, Topic
from digest.store import open_db, transaction
from digest.subscribers.manage import add_subscriber
from digest.topics.catalog import add_topic, followed_authors
from digest.web.server import ServerThread
from tests.test_web import confirm_mail, confirm_path, status_of, subscribe, wait_for_messages


@pytest.fixture
def web(make_config):
    """(config, base_url, db) with curated topics Graphs and Optics and one stored author."""
    config, _ = make_config({"service": {"subscribe_per_ip_per_minute": 100}})
    db = open_db(config.db_path)
    from digest.store.papers import upsert_papers

    paper = Paper(id="2508.01234", title="A paper", abstract="Graphs.", authors=("André Weil",))
    upsert_papers(db, [paper], source="test")
    add_topic(db, Topic(name="Graphs", kind="curated", description="graph learning"))
    add_topic(db, Topic(name="Optics", kind="curated", description="lenses and light"))
    with ServerThread(config) as base_url:
        yield config, base_url, db
    db.conn.close()


def choices_of(db, address: str) -> tuple:
    """(curated topic names, own-topic texts, followed authors, frequency, weekday)."""
    row = db.execute(
        "SELECT id, frequency, weekday FROM subscribers WHERE email = ?", [address]
    ).fetchone()
    subscriber_id, frequency, weekday = row
    curated = db.execute(
        "SELECT t.name FROM topics t JOIN subscriber_topics st ON st.topic_id = t.id"
        " WHERE st.subscriber_id = ? AND t.kind = 'curated' ORDER BY t.name",
        [subscriber_id],
    ).fetchall()
    own = db.execute(
        "SELECT description FROM topics WHERE owner_id = ? AND description != ''",
        [subscriber_id],
    ).fetchall()
    return (
        [name for (name,) in curated],
        [text for (text,) in own],
        followed_authors(db, subscriber_id),
        frequency,
        weekday,
    )


def test_a_strangers_form_never_touches_an_active_subscribers_choices(web):
    """An active address gets no confirmation link, only the link to its own preferences page
    (which shows the owner's topics, not the stranger's): nothing a stranger typed is applied
    or echoed into the mail."""
    config, base_url, db = web
    owner = add_subscriber(
        db, "own@example.org", status="active", topics=["Graphs"], text="my words"
    )
    before = choices_of(db, "own@example.org")
    answer = subscribe(
        base_url, "own@example.org", topics="Optics", own_topic="stranger", frequency="weekly"
    )
    assert answer.status_code == 200
    assert (
        choices_of(db, "own@example.org") == before == (["Graphs"], ["my words"], [], "daily", None)
    )
    assert db.execute("SELECT COUNT(*) FROM confirm_tokens").fetchone()[0] == 0
    [mail] = wait_for_messages(config, 1)
    raw = mail.as_string()
    assert "/confirm/" not in raw and "stranger" not in raw and "Optics" not in raw
    assert f"/p/{owner.manage_token}" in mail.get_body(("plain",)).get_content()
    page = httpx.get(f"{base_url}/p/{owner.manage_token}").text
    assert 'value="Graphs" checked' in page and 'value="Optics" checked' not in page
    assert "stranger" not in page


def test_an_unsubscribed_reader_keeps_their_choices_until_the_link_is_pressed(web):
    config, base_url, db = web
    old = add_subscriber(
        db,
        "back@example.org",
        status="active",
        frequency="weekly",
        weekday="fri",
        topics=["Graphs"],
        text="old words of mine",
        authors=["André Weil"],
    )
    assert httpx.post(f"{base_url}/u/{old.manage_token}").status_code == 200
    kept = (["Graphs"], ["old words of mine"], ["André Weil"], "weekly", 4)
    assert choices_of(db, "back@example.org") == kept
    answer = subscribe(base_url, "back@example.org", topics="Optics", own_topic="new words")
    assert answer.status_code == 200
    [mail] = wait_for_messages(config, 1)
    assert status_of(db, "back@example.org") == "unsubscribed"
    assert choices_of(db, "back@example.org") == kept  # a sign-up alone changes nothing
    page = httpx.get(f"{base_url}/p/{old.manage_token}").text  # their old link still works
    assert 'value="Graphs" checked' in page and "new words" not in page

    assert confirm_mail(base_url, mail).status_code == 200
    assert status_of(db, "back@example.org") == "active"
    assert choices_of(db, "back@example.org") == (["Optics"], ["new words"], [], "daily", None)
    used = db.execute("SELECT used_at, choices_json FROM confirm_tokens").fetchall()
    assert len(used) == 1 and used[0][0] is not None and used[0][1] is None  # applied, gone
    actions = [r[0] for r in db.execute("SELECT action FROM consents ORDER BY id")]
    assert actions == ["unsubscribe", "subscribe", "confirm"]


@pytest.mark.parametrize("pressed", [1, 0])
def test_the_pressed_links_choices_win_and_the_other_link_is_spent(web, pressed):
    """Two sign-ups of one address before confirming (the owner's and a stranger's, or the
    owner changing their mind): whichever link the owner presses decides; the other link
    then says "Already confirmed" and applies nothing."""
    config, base_url, db = web
    subscribe(base_url, "two@example.org", topics="Graphs", own_topic="first words")
    [first] = wait_for_messages(config, 1)
    subscribe(
        base_url, "two@example.org", topics="Optics", own_topic="second words", frequency="weekly"
    )
    [second] = [m for m in wait_for_messages(config, 2) if confirm_path(m) != confirm_path(first)]
    mails = [first, second]  # the outbox's file names say nothing of the order
    assert len(mails) == 2 and status_of(db, "two@example.org") == "pending"
    assert choices_of(db, "two@example.org") == ([], [], [], "daily", None)  # nothing yet

    assert confirm_mail(base_url, mails[pressed]).status_code == 200
    expected = [
        (["Graphs"], ["first words"], [], "daily", None),
        (["Optics"], ["second words"], [], "weekly", 0),
    ][pressed]
    assert choices_of(db, "two@example.org") == expected
    other = confirm_mail(base_url, mails[1 - pressed])
    assert other.status_code == 200 and "Already confirmed" in other.text
    assert choices_of(db, "two@example.org") == expected
    waiting = "SELECT COUNT(*) FROM confirm_tokens WHERE choices_json IS NOT NULL"
    assert db.execute(waiting).fetchone()[0] == 0
    actions = [r[0] for r in db.execute("SELECT action FROM consents ORDER BY id")]
    assert actions == ["subscribe", "subscribe", "confirm"]


def test_expired_links_lose_their_choices_and_cannot_apply_them(web):
    """An unsubscribed reader's row stays when a link expires unpressed (it is not a
    sign-up nobody confirmed); the choices that waited with the link go."""
    config, base_url, db = web
    old = add_subscriber(db, "late@example.org", status="active", topics=["Graphs"])
    httpx.post(f"{base_url}/u/{old.manage_token}")
    subscribe(base_url, "late@example.org", topics="Optics", own_topic="late words")
    [mail] = wait_for_messages(config, 1)
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="seconds")
    with transaction(db):
        db.execute("UPDATE confirm_tokens SET expires_at = ?", [past])
        db.execute("DELETE FROM rate_limits WHERE key = 'purge:unconfirmed'")  # a new day
    assert confirm_mail(base_url, mail).status_code == 404
    subscribe(base_url, "other@example.org")  # the day's first sign-up runs the clean-up
    rows = db.execute(
        "SELECT choices_json FROM confirm_tokens t JOIN subscribers s ON s.id = t.subscriber_id"
        " WHERE s.email = 'late@example.org'"
    ).fetchall()
    assert rows == [(None,)]
    assert status_of(db, "late@example.org") == "unsubscribed"
    assert choices_of(db, "late@example.org") == (["Graphs"], [], [], "daily", None)


def test_a_confirmation_whose_choices_cannot_be_applied_changes_nothing(web):
    """Choices, activation and the consent row are one transaction: stored choices that no
    longer pass the checks (here tampered with in the file) leave the sign-up pending and
    its link usable."""
    config, base_url, db = web
    subscribe(base_url, "atom@example.org", topics="Graphs")
    [mail] = wait_for_messages(config, 1)
    with transaction(db):
        db.execute(
            "UPDATE confirm_tokens SET choices_json = json_set(choices_json, '$.frequency',"
            " 'hourly')"
        )
    assert confirm_mail(base_url, mail).status_code == 500  # the generic error page
    assert status_of(db, "atom@example.org") == "pending"
    assert choices_of(db, "atom@example.org") == ([], [], [], "daily", None)
    assert db.execute("SELECT used_at FROM confirm_tokens").fetchall() == [(None,)]
    actions = [r[0] for r in db.execute("SELECT action FROM consents ORDER BY id")]
    assert actions == ["subscribe"]


def test_a_database_from_before_waiting_choices_gains_the_column_and_old_links_work(
    make_config,
):
    """An existing file gets `choices_json` when opened (once: opening again is a no-op); a
    link made before it has no stored choices and confirms the choices stored at sign-up."""
    config, _ = make_config({"service": {"subscribe_per_ip_per_minute": 100}})
    db = open_db(config.db_path)
    add_topic(db, Topic(name="Graphs", kind="curated", description="graph learning"))
    with transaction(db):  # make the file look as it did before this migration
        db.execute("ALTER TABLE confirm_tokens DROP COLUMN choices_json")
        db.execute("DELETE FROM _sqlite_migrations WHERE name = 'm002_confirm_token_choices'")
    from digest.store.service import token_hash

    early = add_subscriber(db, "early@example.org", status="pending", topics=["Graphs"])
    with transaction(db):
        db.execute(
            "INSERT INTO confirm_tokens (token_hash, subscriber_id, created_at, expires_at)"
            " VALUES (?, ?, '2026-01-01T00:00:00+00:00', '2999-01-01T00:00:00+00:00')",
            [token_hash("e" * 43), early.id],
        )
    assert "choices_json" not in db["confirm_tokens"].columns_dict
    db.conn.close()
    for _ in range(2):
        db = open_db(config.db_path)
        assert "choices_json" in db["confirm_tokens"].columns_dict
        db.conn.close()
    db = open_db(config.db_path)
    with ServerThread(config) as base_url:
        assert httpx.post(f"{base_url}/confirm/{'e' * 43}").status_code == 200
    assert status_of(db, "early@example.org") == "active"
    assert choices_of(db, "early@example.org") == (["Graphs"], [], [], "daily", None)
    db.conn.close()
