"""What a subscriber meets on the web app beyond the form itself: pause, resume and unsubscribe
beside 'delete me', their address on the confirm and 'check your inbox' pages, the confirmation
mail listing what they chose, their preferences link when they sign up again or ask for it,
and the time zone offered from the browser. Real uvicorn on loopback, the outbox backend,
headless Chromium for the script."""

from __future__ import annotations

import html
import re
from datetime import date

import httpx
import pytest

from digest.models import Paper, Topic
from digest.store import open_db
from digest.web.server import ServerThread
from tests.test_web import confirm_path, status_of, subscribe, wait_for_messages


@pytest.fixture
def web(make_config):
    """(config, base_url, db): one curated topic, one paper with two authors, a served app."""
    config, _ = make_config({"service": {"subscribe_per_ip_per_minute": 100}})
    db = open_db(config.db_path)
    from digest.store.papers import upsert_papers
    from digest.topics.catalog import add_topic

    upsert_papers(
        db,
        [Paper(id="2508.01234", title="A paper", abstract="Graphs.", authors=("André Weil",))],
        source="test",
    )
    add_topic(db, Topic(name="Graphs", kind="curated", description="graph learning"))
    with ServerThread(config) as base_url:
        yield config, base_url, db
    db.conn.close()


def _form(page: str, action: str) -> dict[str, str]:
    """The hidden fields of the page's form whose `action` field has this value."""
    for form in re.findall(r"<form .*?</form>", page, flags=re.S):
        fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form))
        if fields.get("action") == action:
            return fields
    raise AssertionError(f"no {action!r} form on the page")


def _active(db, address: str):
    from digest.subscribers.manage import add_subscriber

    return add_subscriber(db, address, status="active", topics=["Graphs"])


def test_pause_resume_and_unsubscribe_sit_beside_delete_and_do_what_they_say(web):
    from digest.rank.due import due_subscribers

    config, base_url, db = web
    token = _active(db, "pat@example.org").manage_token
    page = httpx.get(f"{base_url}/p/{token}").text
    buttons = re.findall(r'<button class="button[^"]*" type="submit">([^<]+)</button>', page)
    assert buttons[-3:] == ["Pause digests", "Unsubscribe", "Delete me"]

    paused = httpx.post(f"{base_url}/p/{token}", data=_form(page, "pause"))
    assert paused.status_code == 200 and "Paused: no digests until you press Resume" in paused.text
    assert status_of(db, "pat@example.org") == "paused"
    assert due_subscribers(db, date(2025, 8, 20)) == []  # no digest while paused
    assert "Resume digests" in paused.text and "Pause digests" not in paused.text

    resumed = httpx.post(f"{base_url}/p/{token}", data=_form(paused.text, "resume"))
    assert "Resumed" in resumed.text and status_of(db, "pat@example.org") == "active"
    assert [s.email for s in due_subscribers(db, date(2025, 8, 20))] == ["pat@example.org"]

    httpx.post(f"{base_url}/p/{token}", data=_form(resumed.text, "pause"))
    gone = httpx.post(f"{base_url}/p/{token}", data=_form(resumed.text, "unsubscribe"))
    assert "Unsubscribed: no more digests" in gone.text
    assert status_of(db, "pat@example.org") == "unsubscribed"
    again = httpx.post(f"{base_url}/p/{token}", data=_form(paused.text, "resume"))
    assert again.status_code == 200 and status_of(db, "pat@example.org") == "unsubscribed"
    actions = [r[0] for r in db.execute("SELECT action FROM consents ORDER BY id")]
    assert actions == ["pause", "resume", "pause", "unsubscribe"]  # a stale Resume: nothing
    forged = {**_form(resumed.text, "pause"), "csrf": "0" * 64}
    assert httpx.post(f"{base_url}/p/{token}", data=forged).status_code == 403


def test_the_confirm_and_check_your_inbox_pages_show_the_address(web):
    config, base_url, db = web
    answer = subscribe(base_url, "  Zoe@Example.ORG ")
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert "<bdi>Zoe@example.org</bdi>" in answer.text  # as it will be written to
    path = confirm_path(wait_for_messages(config, 1)[0])
    page = httpx.get(base_url + path).text
    assert "<bdi>Zoe@example.org</bdi>" in page and "Yes, subscribe me" in page
    done = httpx.post(base_url + path).text
    assert "You are subscribed" in done and "<bdi>Zoe@example.org</bdi>" in done


def test_the_confirmation_mail_lists_the_choices_in_the_digests_look(web):
    """The confirmation mail said nothing of what was chosen and looked like a plain note.
    Now it names the topics and authors (names from our catalogue) and the frequency; the
    visitor's own words are never echoed (anyone can type anyone's address)."""
    config, base_url, db = web
    subscribe(
        base_url,
        "chooser@example.org",
        topics="Graphs",
        author="andre weil",
        own_topic="buy cheap pills at evil.example",
        frequency="weekly",
    )
    [mail] = wait_for_messages(config, 1)
    text = mail.get_body(("plain",)).get_content()
    body = html.unescape(mail.get_body(("html",)).get_content())
    for part in (text, body):
        assert "Topic: Graphs" in part and "Papers by André Weil" in part
        assert "Weekly, on Mondays" in part and "Your own topic" in part
        assert "pills" not in part and "evil.example" not in part
        assert "/confirm/" in part
    # the digest's look: its stylesheet inlined (card, masthead), and its dark-mode rules kept
    assert 'class="card"' in body and "border-radius:12px" in body.replace(" ", "")
    assert "prefers-color-scheme:dark" in body


def test_send_me_my_link_from_a_dead_link_mails_a_subscribed_address_only(web):
    config, base_url, db = web
    owner = _active(db, "lost@example.org")
    subscribe(base_url, "waiting@example.org")  # pending: gets its confirmation mail only
    wait_for_messages(config, 1)
    dead = httpx.get(f"{base_url}/p/{'A' * 48}")
    assert dead.status_code == 404 and 'action="/p"' in dead.text
    answers = {
        address: httpx.post(f"{base_url}/p", data={"email": address})
        for address in ("LOST@example.org", "nobody@example.org", "waiting@example.org")
    }
    pages = {a: r.text.replace(a, "ADDRESS") for a, r in answers.items()}
    assert len(set(pages.values())) == 1  # the same answer for anyone
    assert {r.status_code for r in answers.values()} == {200}
    mails = wait_for_messages(config, 2)
    assert len(mails) == 2
    link_mail = mails[-1] if "preferences" in str(mails[-1]["Subject"]) else mails[0]
    assert str(link_mail["To"]) == "lost@example.org"
    assert f"/p/{owner.manage_token}" in link_mail.get_body(("plain",)).get_content()
    refused = httpx.post(f"{base_url}/p", data={"email": "not an address"})
    assert refused.status_code == 400 and 'action="/p"' in refused.text


@pytest.mark.browser
def test_the_time_zone_is_offered_from_the_browser_and_the_field_works_without_it(web):
    from tests.browser import launched_chromium

    config, base_url, db = web
    token = _active(db, "tz@example.org").manage_token
    chosen = _active(db, "chosen@example.org")
    no_script = _active(db, "noscript@example.org").manage_token
    from digest.subscribers.manage import update_subscriber

    update_subscriber(db, chosen.id, timezone="America/Chicago")
    with launched_chromium() as browser:
        tokyo = browser.new_context(timezone_id="Asia/Tokyo").new_page()
        tokyo.goto(f"{base_url}/p/{token}")
        assert tokyo.input_value("#timezone") == "Asia/Tokyo"
        assert tokyo.is_visible("#timezone-note")
        assert _zone(db, "tz@example.org") == "UTC"  # offered, not saved
        with tokyo.expect_navigation():
            tokyo.get_by_role("button", name="Save", exact=True).click()
        assert _zone(db, "tz@example.org") == "Asia/Tokyo"
        tokyo.goto(f"{base_url}/p/{chosen.manage_token}")  # a zone chosen before stays
        assert tokyo.input_value("#timezone") == "America/Chicago"
        assert not tokyo.is_visible("#timezone-note")
        page = browser.new_context(timezone_id="Asia/Tokyo", java_script_enabled=False).new_page()
        page.goto(f"{base_url}/p/{no_script}")
        assert page.input_value("#timezone") == "UTC"  # no script: the stored value, as is
        page.fill("#timezone", "Europe/Paris")
        with page.expect_navigation():
            page.get_by_role("button", name="Save", exact=True).click()
        assert page.input_value("#timezone") == "Europe/Paris"
    assert _zone(db, "noscript@example.org") == "Europe/Paris"


def _zone(db, address: str) -> str:
    return db.execute("SELECT timezone FROM subscribers WHERE email = ?", [address]).fetchone()[0]
