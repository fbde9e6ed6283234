"""A subscriber's and a reader's journey, checked where a person following the README found
something wrong: the words on the pages they land on, over real uvicorn on loopback."""

from __future__ import annotations

import email
import email.policy
import re
import time

import httpx
import pytest

from digest.models import Paper
from digest.store import open_db
from digest.web.server import ServerThread


@pytest.fixture
def served(make_config):
    """(config, base_url, db) with one stored paper and a real server running."""
    config, _ = make_config({"service": {"subscribe_per_ip_per_minute": 100}})
    db = open_db(config.db_path)
    from digest.store.papers import upsert_papers

    upsert_papers(
        db,
        [Paper(id="2508.01234", title="A paper", abstract="About graphs.", authors=("A B",))],
        source="test",
    )
    from digest.models import Topic
    from digest.topics.catalog import add_topic

    add_topic(db, Topic(name="Graphs", kind="curated", description="graph learning"))
    with ServerThread(config) as base_url:
        yield config, base_url, db
    db.conn.close()


def _active(db, address: str) -> str:
    from digest.subscribers.manage import add_subscriber

    return add_subscriber(db, address, status="active").manage_token or ""


def _notice(page: httpx.Response) -> str:
    """The page's notice as a reader sees it: tags gone, white space collapsed."""
    found = re.search(r'<p class="notice">(.*?)</p>', page.text, re.S)
    assert found, page.text
    return " ".join(re.sub(r"<[^>]+>", "", found.group(1)).split())


@pytest.mark.parametrize("kind", ["like", "dislike"])
def test_the_noted_page_says_which_paper_with_a_space_before_its_title(served, kind):
    """The template's line break after the verdict was eaten (trim_blocks): 'You like“A paper”'."""
    _, base_url, db = served
    token = _active(db, "ida@example.org")
    url = f"{base_url}/f/{token}"
    params = {"paper": "2508.01234", "kind": kind}
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', httpx.get(url, params=params).text)
    assert csrf
    noted = httpx.post(url, params=params, data={"csrf": csrf.group(1)})
    assert noted.status_code == 200
    assert _notice(noted).startswith(f"You {kind} “A paper”. Future digests")


def _selected(page_text: str, select_id: str) -> str | None:
    found = re.search(
        rf'<select id="{select_id}"[^>]*>(?:(?!</select>).)*?<option value="([^"]*)" selected',
        page_text,
        re.S,
    )
    return found.group(1) if found else None


def test_a_refused_save_shows_the_schedule_as_typed_so_the_next_save_keeps_it(served):
    """Weekly on Friday at 07:00 with a misspelt time zone: the form came back daily, at
    once, in UTC, and fixing only the time zone then saved 'daily' without a word."""
    _, base_url, db = served
    token = _active(db, "ida@example.org")
    form = httpx.get(f"{base_url}/p/{token}").text
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', form)
    assert csrf
    typed = {
        "csrf": csrf.group(1),
        "action": "save",
        "frequency": "weekly",
        "weekday": "fri",
        "max_papers": "5",
        "timezone": "Paris",
        "send_hour": "7",
    }
    refused = httpx.post(f"{base_url}/p/{token}", data=typed)
    assert refused.status_code == 400 and "Not saved: unknown time zone" in refused.text
    page = refused.text
    assert (_selected(page, "frequency"), _selected(page, "weekday")) == ("weekly", "fri")
    assert _selected(page, "send_hour") == "7"
    assert 'name="timezone" value="Paris"' in page
    assert re.search(r'name="max_papers"[^>]*value="5"', page)
    stored = db.execute("SELECT frequency, timezone, send_hour FROM subscribers").fetchone()
    assert tuple(stored) == ("daily", "UTC", None)
    saved = httpx.post(f"{base_url}/p/{token}", data={**typed, "timezone": "Europe/Paris"})
    assert saved.status_code == 200 and "Saved." in saved.text
    page = saved.text  # the stored values, shown as the form holds them
    assert (_selected(page, "frequency"), _selected(page, "weekday")) == ("weekly", "fri")
    assert _selected(page, "send_hour") == "7" and 'value="Europe/Paris"' in page


def _confirm_link(config, address: str) -> str:
    """The path of the confirmation link mailed to `address` (the outbox backend)."""
    folder = config.path(config.mail.outbox_dir)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for path in folder.glob("**/*.eml"):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if message["To"] == address:
                text = message.get_body(("plain",)).get_content()
                found = re.search(r"https?://[^/\s]+(/confirm/[A-Za-z0-9_-]+)", text)
                assert found, text
                return found.group(1)
        time.sleep(0.05)
    raise AssertionError(f"no confirmation mail for {address}")


def test_a_sign_up_that_follows_nothing_is_told_no_digest_comes_until_it_does(served):
    """The form takes an address alone; confirming it promised 'Your first digest comes with
    the next issue', which never came: no paper can match no topic."""
    config, base_url, db = served
    for address, form in (
        ("bare@example.org", {}),
        ("graphs@example.org", {"topics": "Graphs"}),
    ):
        signed = httpx.post(
            f"{base_url}/subscribe", data={"email": address, "frequency": "daily", **form}
        )
        assert signed.status_code == 200
    bare = httpx.post(base_url + _confirm_link(config, "bare@example.org"))
    assert bare.status_code == 200 and "You follow no topic yet" in bare.text
    assert "Your first digest comes" not in bare.text
    preferences = re.search(r'href="(/p/[A-Za-z0-9_-]+)"', bare.text)
    assert preferences
    form = httpx.get(base_url + preferences.group(1)).text
    assert "You follow no topic yet, so no digest is sent" in form
    assert "digests are on their way" not in form  # said just above it, before
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', form)
    assert csrf
    saved = httpx.post(
        base_url + preferences.group(1),
        data={"csrf": csrf.group(1), "topics": "Graphs", "frequency": "daily"},
    )
    assert "Saved." in saved.text and "You follow no topic yet" not in saved.text
    assert "active, digests are on their way." in saved.text
    chosen = httpx.post(base_url + _confirm_link(config, "graphs@example.org"))
    assert "Your first digest comes with the next issue." in chosen.text
    assert "You follow no topic yet" not in chosen.text


def test_a_missing_archive_page_says_so_in_words_and_links_back(make_config):
    """A mistyped paper address answered 'Not found' then 'Not Found', with no way on."""
    from digest.site.build import build_site

    config, _ = make_config()
    db = open_db(config.db_path)
    build_site(db, config)
    with ServerThread(config) as base_url:
        missing = httpx.get(f"{base_url}/papers/9999.99999.html")
        wrong_method = httpx.post(f"{base_url}/index.html")
    db.conn.close()
    assert missing.status_code == 404
    text = " ".join(re.sub(r"<[^>]+>", " ", missing.text).split())
    assert "Not found There is no page at this address" in text
    assert '<a href="/">Browse the archive</a>' in missing.text
    assert wrong_method.status_code == 405 and "only answers GET" in wrong_method.text
