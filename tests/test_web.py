"""The web app over real uvicorn on loopback: sign-up, confirm, unsubscribe, preferences,
feedback, headers, and concurrent writes. Confirmation mails land in the outbox backend."""

from __future__ import annotations

import email
import email.policy
import re
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from digest.models import Paper
from digest.store import open_db, transaction
from digest.web.server import ServerThread


@pytest.fixture
def web(make_config):
    """(config, base_url, db) with a real server running for the test."""
    config, _ = make_config({"service": {"subscribe_per_ip_per_minute": 100}})
    db = open_db(config.db_path)
    from digest.models import Topic
    from digest.store.papers import upsert_papers
    from digest.topics.catalog import add_topic

    upsert_papers(
        db,
        [
            Paper(
                id="2508.01234",
                title="A paper",
                abstract="About graphs.",
                authors=("André Weil", "Emmy Noether"),
            )
        ],
        source="test",
    )
    add_topic(db, Topic(name="Graphs", kind="curated", description="graph learning"))
    with ServerThread(config) as base_url:
        yield config, base_url, db
    db.conn.close()


def outbox_messages(config) -> list[email.message.EmailMessage]:
    folder = config.path(config.mail.outbox_dir)
    return [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in sorted(folder.glob("**/*.eml"))
    ]


def wait_for_messages(config, count: int, timeout: float = 5.0) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = outbox_messages(config)
        if len(found) >= count:
            return found
        time.sleep(0.05)
    return outbox_messages(config)


def confirm_path(message) -> str:
    text = message.get_body(("plain",)).get_content()
    match = re.search(r"https?://[^/\s]+(/confirm/[A-Za-z0-9_-]+)", text)
    assert match, text
    return match.group(1)


def confirm_mail(base_url: str, message) -> httpx.Response:
    """Press the confirmation button of this mail's link."""
    return httpx.post(base_url + confirm_path(message))


def status_of(db, address: str) -> str | None:
    row = db.execute("SELECT status FROM subscribers WHERE email = ?", [address]).fetchone()
    return row[0] if row else None


def subscribe(base_url: str, address: str, **extra) -> httpx.Response:
    form = {"email": address, "frequency": "daily", **extra}
    return httpx.post(f"{base_url}/subscribe", data=form)


def test_signup_confirm_is_double_opt_in_and_scanner_safe(web):
    config, base_url, db = web
    answer = subscribe(
        base_url,
        "ann@example.org",
        topics="Graphs",
        own_topic="<script>alert(1)</script> my own words",
    )
    assert answer.status_code == 200
    assert status_of(db, "ann@example.org") == "pending"
    [mail] = wait_for_messages(config, 1)
    raw = mail.as_string()
    assert "my own words" not in raw and "alert(1)" not in raw  # never echoed into the email
    path = confirm_path(mail)

    page = httpx.get(base_url + path)  # what a mail scanner does
    assert page.status_code == 200 and '<form method="post"' in page.text
    assert status_of(db, "ann@example.org") == "pending"

    done = httpx.post(base_url + path)
    assert done.status_code == 200 and "You are subscribed" in done.text
    assert status_of(db, "ann@example.org") == "active"
    again = httpx.post(base_url + path)  # single use: a second press changes nothing
    assert again.status_code == 200 and "Already confirmed" in again.text
    assert "/p/" not in again.text  # a used link never hands out the manage link
    assert "Already confirmed" in httpx.get(base_url + path).text
    actions = [r[0] for r in db.execute("SELECT action FROM consents ORDER BY id")]
    assert actions == ["subscribe", "confirm"]
    stored = db.execute("SELECT token_hash FROM confirm_tokens").fetchone()[0]
    assert path.rsplit("/", 1)[1] not in stored  # only the hash is at rest


def test_signup_from_an_author_page_follows_that_author(web):
    config, base_url, db = web
    assert subscribe(base_url, "ida@example.org", author="andre weil").status_code == 200
    assert subscribe(base_url, "ivo@example.org", author="Nobody Known").status_code == 400
    assert status_of(db, "ivo@example.org") is None  # a bad author stores nothing
    assert confirm_mail(base_url, wait_for_messages(config, 1)[0]).status_code == 200
    row = db.execute(
        "SELECT t.name, t.authors_json FROM topics t JOIN subscribers s ON s.id = t.owner_id"
        " WHERE s.email = 'ida@example.org'"
    ).fetchall()
    assert row == [("Papers by André Weil", '["André Weil"]')]


def test_archive_form_sends_topic_ids(web):
    config, base_url, db = web
    topic_id = db.execute("SELECT id FROM topics WHERE name = 'Graphs'").fetchone()[0]
    answer = subscribe(base_url, "ids@example.org", topics=str(topic_id))
    assert answer.status_code == 200
    assert confirm_mail(base_url, wait_for_messages(config, 1)[0]).status_code == 200
    followed = db.execute(
        "SELECT t.name FROM subscriber_topics st JOIN topics t ON t.id = st.topic_id"
    ).fetchall()
    assert followed == [("Graphs",)]
    assert subscribe(base_url, "bad@example.org", topics="99999").status_code == 400
    for n, odd in enumerate(("9" * 20, "9" * 5000, "²")):  # past SQLite, past int(), not ASCII
        answer = subscribe(base_url, f"odd{n}@example.org", topics=odd)
        assert answer.status_code == 400 and "unknown topic" in answer.text
    assert status_of(db, "bad@example.org") is None


def test_same_answer_whether_or_not_the_address_exists(web):
    config, base_url, db = web
    first = subscribe(base_url, "bob@example.org")
    wait_for_messages(config, 1)
    with transaction(db):
        db.execute("UPDATE subscribers SET status = 'active' WHERE email = 'bob@example.org'")
    known = subscribe(base_url, "bob@example.org")
    unknown = subscribe(base_url, "carol@example.org")
    assert first.status_code == known.status_code == unknown.status_code == 200
    as_carol = known.text.replace("bob@", "carol@")  # each page shows the address typed
    assert as_carol == unknown.text == first.text.replace("bob@", "carol@")
    messages = wait_for_messages(config, 3)
    assert len(messages) == 3
    # the subscribed address got its preferences link, and nothing else changed
    [link_mail] = [m for m in messages if "preferences link" in str(m["Subject"])]
    assert str(link_mail["To"]) == "bob@example.org"
    assert "/p/" in link_mail.get_body(("plain",)).get_content()
    assert status_of(db, "bob@example.org") == "active"


def test_honeypot_stores_nothing_and_rate_limits_answer_429(make_config):
    config, _ = make_config(
        {"service": {"subscribe_per_ip_per_minute": 5, "confirm_mails_per_address_per_day": 3}}
    )
    db = open_db(config.db_path)
    with ServerThread(config) as base_url:
        bot = subscribe(base_url, "bot@example.org", website="http://spam.example")
        assert bot.status_code == 200 and "Check your inbox" in bot.text
        assert status_of(db, "bot@example.org") is None
        codes = [subscribe(base_url, f"p{i}@example.org").status_code for i in range(5)]
        assert codes == [200, 200, 200, 200, 429]  # the honeypot hit counted as the first
    db.conn.close()
    config2, _ = make_config(
        {"service": {"subscribe_per_ip_per_minute": 100, "confirm_mails_per_address_per_day": 3}}
    )
    with ServerThread(config2) as base_url:
        codes = [subscribe(base_url, "same@example.org").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def test_bad_and_expired_confirm_tokens(web):
    config, base_url, db = web
    assert httpx.get(f"{base_url}/confirm/not-a-token!").status_code == 404
    assert httpx.get(f"{base_url}/confirm/{'A' * 43}").status_code == 404
    subscribe(base_url, "dan@example.org")
    path = confirm_path(wait_for_messages(config, 1)[0])
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="seconds")
    with transaction(db):
        db.execute("UPDATE confirm_tokens SET expires_at = ?", [past])
    assert httpx.post(base_url + path).status_code == 404
    assert status_of(db, "dan@example.org") == "pending"


def _active(db, address: str) -> str:
    from digest.subscribers.manage import add_subscriber

    return add_subscriber(db, address, status="active").manage_token


def test_unsubscribe_get_changes_nothing_one_click_post_suppresses(web):
    config, base_url, db = web
    token = _active(db, "eve@example.org")
    page = httpx.get(f"{base_url}/u/{token}")
    assert page.status_code == 200 and "Unsubscribe" in page.text
    assert page.headers["x-robots-tag"].startswith("noindex")
    assert status_of(db, "eve@example.org") == "active"
    one_click = httpx.post(
        f"{base_url}/u/{token}",
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert one_click.status_code == 200
    assert status_of(db, "eve@example.org") == "unsubscribed"
    row = db.execute("SELECT action, source FROM consents ORDER BY id DESC").fetchone()
    assert row == ("unsubscribe", "one-click")
    gone = httpx.get(f"{base_url}/u/{'x' * 32}")  # e.g. a subscriber who deleted their data
    assert gone.status_code == 404 and "nothing will be sent" in gone.text
    assert httpx.post(f"{base_url}/u/{'x' * 32}").status_code == 404


def test_preferences_need_csrf_and_save_export_delete(web):
    config, base_url, db = web
    token = _active(db, "fay@example.org")
    page = httpx.get(f"{base_url}/p/{token}")
    assert page.status_code == 200
    assert '<meta name="robots" content="noindex' in page.text
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)
    form = {
        "action": "save",
        "topics": "Graphs",
        "own_topics": "causal inference\n",
        "frequency": "weekly",
        "weekday": "wed",
        "max_papers": "7",
        "timezone": "Europe/Paris",
        "send_hour": "7",
        "authors": "Emmy Noether\nandré weil\n",
    }
    forged = httpx.post(f"{base_url}/p/{token}", data={**form, "csrf": "0" * 64})
    assert forged.status_code == 403
    for odd in ("é" * 64, ""):  # compare_digest refuses non-ASCII str: must be a 403 too
        assert httpx.post(f"{base_url}/p/{token}", data={**form, "csrf": odd}).status_code == 403
    saved = httpx.post(f"{base_url}/p/{token}", data={**form, "csrf": csrf})
    assert saved.status_code == 200 and "Saved." in saved.text
    row = db.execute(
        "SELECT frequency, weekday, max_papers, timezone, send_hour FROM subscribers"
        " WHERE email = 'fay@example.org'"
    ).fetchone()
    assert row == ("weekly", 2, 7, "Europe/Paris", 7)
    assert '<option value="7" selected>07:00</option>' in saved.text
    followed = re.search(r'name="authors"[^>]*>([^<]*)<', saved.text).group(1)
    assert sorted(followed.splitlines()) == ["André Weil", "Emmy Noether"]
    own = re.search(r'name="own_topics"[^>]*>([^<]*)<', saved.text).group(1)
    assert own == "causal inference"  # author follows are not listed as own topics
    bad_hour = httpx.post(f"{base_url}/p/{token}", data={**form, "send_hour": "24", "csrf": csrf})
    assert bad_hour.status_code == 400 and "between 0 and 23" in bad_hour.text
    exported = httpx.post(f"{base_url}/p/{token}", data={"action": "export", "csrf": csrf})
    data = exported.json()
    assert data["subscriber"]["email"] == "fay@example.org"
    assert data["subscriber"]["topics"] == ["Graphs"]
    assert [c["action"] for c in data["consents"]] == ["preferences"]
    bad = httpx.post(f"{base_url}/p/{token}", data={**form, "max_papers": "500", "csrf": csrf})
    assert bad.status_code == 400
    deleted = httpx.post(
        f"{base_url}/p/{token}", data={"action": "delete", "confirm_delete": "yes", "csrf": csrf}
    )
    assert deleted.status_code == 200
    assert status_of(db, "fay@example.org") is None
    assert httpx.get(f"{base_url}/p/{token}").status_code == 404


def test_feedback_redirects_only_to_arxiv_of_a_known_paper(web):
    config, base_url, db = web
    token = _active(db, "gil@example.org")
    click = httpx.get(f"{base_url}/f/{token}", params={"paper": "2508.01234", "kind": "click"})
    assert click.status_code == 303
    assert click.headers["location"] == "https://arxiv.org/abs/2508.01234"
    like = httpx.post(
        f"{base_url}/f/{token}",
        params={"paper": "2508.01234v2", "kind": "like"},
        data={"csrf": _feedback_csrf(base_url, token)},
    )
    assert like.status_code == 200 and "https://arxiv.org/abs/2508.01234" in like.text
    for paper in ("https://evil.example/", "//evil.example", "2508.99999"):
        answer = httpx.get(f"{base_url}/f/{token}", params={"paper": paper, "kind": "click"})
        assert answer.status_code == 404 and "location" not in answer.headers
    assert (
        httpx.get(
            f"{base_url}/f/{token}", params={"paper": "2508.01234", "kind": "rate"}
        ).status_code
        == 400
    )
    kinds = [r[0] for r in db.execute("SELECT kind FROM feedback ORDER BY id")]
    assert kinds == ["click", "like"]


def _feedback_csrf(base_url: str, token: str) -> str:
    page = httpx.get(f"{base_url}/f/{token}", params={"paper": "2508.01234", "kind": "like"})
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)


def test_like_link_get_records_nothing_its_page_posts_and_latest_verdict_wins(web):
    """Mail link scanners GET every link (👍 and 👎 alike): only the page's POST records."""
    from digest.store.feedback import feedback_for_subscriber

    config, base_url, db = web
    token = _active(db, "ida@example.org")
    subscriber_id = db.execute("SELECT id FROM subscribers WHERE email = 'ida@example.org'")
    subscriber_id = subscriber_id.fetchone()[0]
    url = f"{base_url}/f/{token}"
    for kind in ("like", "dislike", "like"):  # a scanner opening each link, twice over
        page = httpx.get(url, params={"paper": "2508.01234", "kind": kind})
        assert page.status_code == 200 and "A paper" in page.text
        assert page.headers["x-robots-tag"].startswith("noindex")
    assert db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0] == 0
    script = re.search(r'<script src="(/[^"]+\.js)"></script>', page.text).group(1)
    form_action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    assert form_action.replace("&amp;", "&") == f"/f/{token}?paper=2508.01234&kind=like"
    served = httpx.get(base_url + script)
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("text/javascript")
    assert "form.submit()" in served.text
    like = {"paper": "2508.01234", "kind": "like"}
    for forged in ({}, {"csrf": "0" * 64}, {"csrf": "é"}):
        assert httpx.post(url, params=like, data=forged).status_code == 403
    assert db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0] == 0
    csrf = _feedback_csrf(base_url, token)
    liked = httpx.post(url, params=like, data={"csrf": csrf})
    assert liked.status_code == 200 and "You like" in liked.text and "A paper" in liked.text
    assert f'href="/p/{token}"' in liked.text
    assert feedback_for_subscriber(db, subscriber_id)[0] == ["2508.01234"]
    disliked = httpx.post(url, params={**like, "kind": "dislike"}, data={"csrf": csrf})
    assert disliked.status_code == 200 and "You dislike" in disliked.text
    liked_ids, disliked_ids, _ = feedback_for_subscriber(db, subscriber_id)
    assert (liked_ids, disliked_ids) == ([], ["2508.01234"])
    other = _active(db, "jon@example.org")  # one person's form token is not another's
    assert httpx.post(f"{base_url}/f/{other}", params=like, data={"csrf": csrf}).status_code == 403


def test_security_headers_everywhere(web):
    config, base_url, db = web
    for path in ("/", "/subscribe", "/healthz", "/nothing-here"):
        headers = httpx.get(base_url + path).headers
        assert headers["content-security-policy"].startswith("default-src 'self'")
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-frame-options"] == "DENY"


def test_serves_the_built_archive_at_root(make_config):
    config, _ = make_config()
    site = config.path(config.site.dir)
    (site / "days").mkdir(parents=True)
    (site / "index.html").write_text("<h1>Archive home</h1>")
    (site / "days" / "2025-08-20.html").write_text("<h1>Day</h1>")
    with ServerThread(config) as base_url:
        assert "Archive home" in httpx.get(base_url + "/").text
        assert "Day" in httpx.get(base_url + "/days/2025-08-20.html").text
        assert "Subscribe" in httpx.get(base_url + "/subscribe").text


def test_web_writes_while_a_run_writes_never_see_locked(web):
    """A writer holds BEGIN IMMEDIATE transactions 75% of the time (like a run's stages);
    sign-ups and feedback still all succeed, none sees "database is locked"."""
    config, base_url, db = web
    token = _active(db, "hal@example.org")
    csrf = _feedback_csrf(base_url, token)
    stop = threading.Event()

    def writer():
        writer_db = open_db(config.db_path, migrate=False)
        n = 0
        while not stop.is_set():
            with transaction(writer_db):
                writer_db.execute(
                    "INSERT INTO rate_limits (key, window_start, count) VALUES (?, 'w', 1)",
                    [f"load:{n}"],
                )
                time.sleep(0.03)  # hold the write lock like a busy stage would
            n += 1
            time.sleep(0.01)  # ... then work outside a transaction (network, encoding)
        writer_db.conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        codes = []
        with httpx.Client(base_url=base_url, timeout=60) as client:
            for i in range(15):
                codes.append(
                    client.post(
                        "/subscribe", data={"email": f"w{i}@example.org", "frequency": "daily"}
                    ).status_code
                )
                codes.append(
                    client.post(
                        f"/f/{token}",
                        params={"paper": "2508.01234", "kind": "like"},
                        data={"csrf": csrf},
                    ).status_code
                )
    finally:
        stop.set()
        thread.join()
    assert codes == [200] * 30


def test_forwarded_for_is_believed_only_from_trusted_proxies(make_config):
    for trusted, expected in (((), "127.0.0.1"), (("127.0.0.1",), "203.0.113.9")):
        config, _ = make_config({"service": {"record_ip": True, "trusted_proxies": list(trusted)}})
        db = open_db(config.db_path)
        with ServerThread(config) as base_url:
            answer = httpx.post(
                f"{base_url}/subscribe",
                data={"email": "ip@example.org", "frequency": "daily"},
                headers={"x-forwarded-for": "198.51.100.1, 203.0.113.9"},
            )
        assert answer.status_code == 200
        assert db.execute("SELECT ip FROM consents").fetchone()[0] == expected
        db.conn.close()
        config.db_path.unlink()


@pytest.mark.browser
def test_forms_work_in_a_real_browser_under_the_csp(web):
    """Headless Chromium: sign up, confirm with the button, change preferences; the CSP
    blocks nothing the pages need (no console errors)."""
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS
    from tests.conftest import skip_or_fail_without

    if not Path(CHROMIUM).exists():
        skip_or_fail_without("Debian chromium")
    config, base_url, db = web
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.goto(base_url + "/subscribe")
        page.fill("#email", "web@example.org")
        page.check("input[name=topics][value=Graphs]")
        page.click("button[type=submit]")
        assert "Check your inbox" in page.inner_text("h1")
        path = confirm_path(wait_for_messages(config, 1)[0])
        page.goto(base_url + path)
        assert status_of(db, "web@example.org") == "pending"
        page.click("button[type=submit]")
        assert "You are subscribed" in page.inner_text("h1")
        page.click("text=Choose your topics and settings")
        page.select_option("#frequency", "weekly")
        page.select_option("#weekday", "fri")
        page.click("text=Save")
        assert "Saved." in page.inner_text(".notice")
        browser.close()
    row = db.execute(
        "SELECT status, frequency, weekday FROM subscribers WHERE email = 'web@example.org'"
    ).fetchone()
    assert row == ("active", "weekly", 4)
    assert problems == []


@pytest.mark.browser
def test_like_link_records_in_a_real_browser_without_a_click(web):
    """Headless Chromium opens the 👍 link as a person would: the page's same-origin script
    sends the form by itself, under the CSP; Back does not send it again."""
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    from digest.mail.links import feedback_url
    from tests.browser import CHROMIUM, CHROMIUM_ARGS
    from tests.conftest import skip_or_fail_without

    if not Path(CHROMIUM).exists():
        skip_or_fail_without("Debian chromium")
    config, base_url, db = web
    token = _active(db, "kim@example.org")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.goto(feedback_url(base_url, token, "2508.01234", "like"))
        page.wait_for_selector("h1:has-text('Noted')", timeout=10_000)
        assert "You like" in page.inner_text("main")
        # sent before the page finished loading, the form replaced the link's page in the
        # history: Back leaves it rather than landing on it and sending again
        page.go_back()
        assert page.url == "about:blank"
        browser.close()
    rows = db.execute("SELECT kind, source FROM feedback").fetchall()
    assert rows == [("like", "email")]
    assert problems == []


def test_confirm_on_get_flag_confirms_directly(make_config):
    config, _ = make_config({"service": {"confirm_on_get": True}})
    db = open_db(config.db_path)
    with ServerThread(config) as base_url:
        subscribe(base_url, "direct@example.org")
        path = confirm_path(wait_for_messages(config, 1)[0])
        assert httpx.get(base_url + path).status_code == 200
    assert status_of(db, "direct@example.org") == "active"
    db.conn.close()


def test_follow_an_author_from_the_served_archive_in_a_browser(make_config):
    """The built archive served by `digest serve`: an author page's Follow form signs up for
    that author's papers (headless Chromium, under the app's CSP)."""
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    from digest.mail.links import author_path
    from digest.site.build import build_site
    from digest.store.papers import upsert_papers
    from tests.browser import CHROMIUM, CHROMIUM_ARGS
    from tests.conftest import skip_or_fail_without

    if not Path(CHROMIUM).exists():
        skip_or_fail_without("Debian chromium")
    config, _ = make_config()
    db = open_db(config.db_path)
    paper = Paper(id="2508.04321", title="Rings", abstract="Ideals.", authors=("Emmy Noether",))
    upsert_papers(db, [paper], source="test")
    build_site(db, config)
    author_id = db.execute("SELECT id FROM authors WHERE name = 'Emmy Noether'").fetchone()[0]
    with ServerThread(config) as base_url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.goto(f"{base_url}/{author_path(author_id)}")
        assert "Follow Emmy Noether" in page.inner_text("form.follow")
        page.fill("#follow-email", "fan@example.org")
        page.click("form.follow button[type=submit]")
        assert "Check your inbox" in page.inner_text("h1")
        browser.close()
        [mail] = wait_for_messages(config, 1)  # the confirmation mail
        assert status_of(db, "fan@example.org") == "pending"
        assert confirm_mail(base_url, mail).status_code == 200
    topics = db.execute(
        "SELECT t.authors_json FROM topics t JOIN subscribers s ON s.id = t.owner_id"
        " WHERE s.email = 'fan@example.org' AND s.status = 'active'"
    ).fetchall()
    assert topics == [('["Emmy Noether"]',)]
    assert problems == []
    db.conn.close()


def test_head_requests_never_change_anything(web):
    """Mail scanners and link previewers send HEAD: it must not confirm, unsubscribe or like
    (Starlette answers HEAD with the GET route, so each handler must treat it as a GET)."""
    config, base_url, db = web
    subscribe(base_url, "hed@example.org")
    path = confirm_path(wait_for_messages(config, 1)[0])
    assert httpx.head(base_url + path).status_code == 200
    assert status_of(db, "hed@example.org") == "pending"
    token = _active(db, "hop@example.org")
    assert httpx.head(f"{base_url}/u/{token}").status_code == 200
    assert httpx.head(f"{base_url}/p/{token}").status_code == 200
    like = {"paper": "2508.01234", "kind": "like"}
    assert httpx.head(f"{base_url}/f/{token}", params=like).status_code == 200
    assert status_of(db, "hop@example.org") == "active"
    assert db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0] == 0
    assert httpx.post(base_url + path).status_code == 200  # the token is still usable
    assert status_of(db, "hed@example.org") == "active"


def test_head_never_confirms_even_with_confirm_on_get(make_config):
    config, _ = make_config({"service": {"confirm_on_get": True}})
    db = open_db(config.db_path)
    with ServerThread(config) as base_url:
        subscribe(base_url, "headed@example.org")
        path = confirm_path(wait_for_messages(config, 1)[0])
        assert httpx.head(base_url + path).status_code == 200
        assert status_of(db, "headed@example.org") == "pending"
    db.conn.close()


def test_idn_domain_signs_up_and_gets_a_punycode_confirmation(web):
    config, base_url, db = web
    answer = subscribe(base_url, "x@bücher.example")
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    [mail] = wait_for_messages(config, 1)
    assert mail["To"].addresses[0].addr_spec == "x@xn--bcher-kva.example"
    assert status_of(db, "x@bücher.example") == "pending"


def test_broken_forms_and_wrong_methods_get_a_clear_page(web):
    """Malformed multipart, oversized fields, file uploads and wrong methods: an HTML page
    with the right 4xx status, never a bare text line or a 500."""
    config, base_url, db = web
    token = _active(db, "odd@example.org")
    garbage = httpx.post(
        f"{base_url}/subscribe",
        content=b"garbage",
        headers={"content-type": "multipart/form-data"},
    )
    huge = subscribe(base_url, "big@example.org", own_topic="x" * 2_000_000)
    upload = httpx.post(
        f"{base_url}/subscribe",
        data={"email": "file@example.org", "frequency": "daily"},
        files={"own_topic": ("a.bin", b"\0" * 100_000)},
    )
    put = httpx.put(f"{base_url}/u/{token}")
    for answer, status in ((garbage, 400), (huge, 400), (upload, 400), (put, 405)):
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"].startswith("text/html"), answer.text
        assert "<h1>" in answer.text
    assert put.headers["allow"]
    assert status_of(db, "big@example.org") is None and status_of(db, "file@example.org") is None
    assert status_of(db, "odd@example.org") == "active"


def test_preference_errors_speak_plainly(web):
    config, base_url, db = web
    token = _active(db, "plain@example.org")
    page = httpx.get(f"{base_url}/p/{token}")
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)
    form = {"action": "save", "csrf": csrf, "frequency": "daily", "timezone": "UTC"}
    for extra in ({"max_papers": "abc"}, {"send_hour": "x"}, {"send_hour": "9" * 5000}):
        answer = httpx.post(f"{base_url}/p/{token}", data={**form, **extra})
        assert answer.status_code == 400
        notice = re.search(r'class="notice">([^<]*)<', answer.text).group(1)
        assert "whole number" in notice and "int()" not in notice and "limit" not in notice
    for weekday in ("9" * 5000, "²", "funday"):
        weekly = {**form, "frequency": "weekly", "weekday": weekday}
        answer = httpx.post(f"{base_url}/p/{token}", data=weekly)
        assert answer.status_code == 400 and "weekday must be one of" in answer.text
    many = "\n".join(f"topic number {i}" for i in range(12))
    answer = httpx.post(f"{base_url}/p/{token}", data={**form, "own_topics": many})
    assert answer.status_code == 400 and "at most 10 own topics, got 12" in answer.text
    assert db.execute("SELECT COUNT(*) FROM topics WHERE kind = 'personal'").fetchone()[0] == 0


def _shown_form(page_text: str) -> dict[str, object]:
    """The preferences form exactly as the page shows it (what pressing Save sends)."""
    import html as html_lib

    def field(name: str) -> str:
        found = re.search(rf'name="{name}"[^>]*>([^<]*)<', page_text)
        return html_lib.unescape(found.group(1)) if found else ""

    selected = dict(
        re.findall(
            r'<select id="(\w+)"[^>]*>(?:(?!</select>).)*?<option value="([^"]*)" selected',
            page_text,
            re.S,
        )
    )
    return {
        "action": "save",
        "csrf": re.search(r'name="csrf" value="([0-9a-f]+)"', page_text).group(1),
        "topics": re.findall(r'name="topics" value="([^"]+)" checked', page_text),
        "own_topics": field("own_topics"),
        "authors": field("authors"),
        "max_papers": re.search(r'name="max_papers"[^>]*value="(\d+)"', page_text).group(1),
        "timezone": re.search(r'name="timezone" value="([^"]*)"', page_text).group(1),
        **selected,
    }


def test_saving_preferences_unchanged_keeps_every_own_topic(web):
    """Pressing Save without touching anything must not delete and re-create own topics: a
    sign-up text with a line break or double spaces, and a topic made elsewhere with only a
    name (and keywords), came back as different rows (the keywords lost)."""
    from digest.topics.catalog import add_personal_topic

    config, base_url, db = web
    subscribe(base_url, "kim@example.org", own_topic="graph  neural\nnetworks ")
    httpx.post(base_url + confirm_path(wait_for_messages(config, 1)[0]))
    from digest.store.subscribers import list_subscribers

    [kim] = list_subscribers(db)
    owner = (kim.id, kim.manage_token)
    add_personal_topic(db, owner[0], name="Sheaves", keywords=["sheaf", "topos"])
    before = db.execute(
        "SELECT id, name, keywords_json FROM topics WHERE owner_id = ?", [owner[0]]
    ).fetchall()
    page = httpx.get(f"{base_url}/p/{owner[1]}")
    saved = httpx.post(f"{base_url}/p/{owner[1]}", data=_shown_form(page.text))
    assert saved.status_code == 200 and "Saved." in saved.text
    after = db.execute(
        "SELECT id, name, keywords_json FROM topics WHERE owner_id = ?", [owner[0]]
    ).fetchall()
    assert after == before
    assert _shown_form(saved.text)["own_topics"] == _shown_form(page.text)["own_topics"]


def test_one_click_as_multipart_is_recorded_as_one_click(web):
    """RFC 8058 allows the one-click POST as multipart/form-data too; the consent row must
    still say where the unsubscribe came from."""
    config, base_url, db = web
    token = _active(db, "mp@example.org")
    answer = httpx.post(f"{base_url}/u/{token}", files={"List-Unsubscribe": (None, "One-Click")})
    assert answer.status_code == 200
    assert status_of(db, "mp@example.org") == "unsubscribed"
    row = db.execute("SELECT action, source FROM consents ORDER BY id DESC").fetchone()
    assert row == ("unsubscribe", "one-click")


def test_an_unexpected_failure_is_a_page_without_internals(web):
    config, base_url, db = web
    with transaction(db):
        db.execute("DROP TABLE rate_limits")  # every sign-up now fails inside the store
    answer = subscribe(base_url, "boom@example.org")
    assert answer.status_code == 500
    assert answer.headers["content-type"].startswith("text/html")
    assert "Something went wrong" in answer.text
    assert "rate_limits" not in answer.text and "Traceback" not in answer.text
    assert answer.headers["x-frame-options"] == "DENY"  # still behind the security headers


def test_a_refused_preferences_form_keeps_what_was_typed(web):
    """One misspelt author must not wipe the own topics and authors just typed: the form
    comes back with the submitted text (and nothing is saved)."""
    config, base_url, db = web
    token = _active(db, "typo@example.org")
    page = httpx.get(f"{base_url}/p/{token}")
    typed = {
        **_shown_form(page.text),
        "topics": ["Graphs"],
        "own_topics": "sparse attention\nprotein folding",
        "authors": "Emmy Noether\nEmy Nother",
    }
    answer = httpx.post(f"{base_url}/p/{token}", data=typed)
    assert answer.status_code == 400 and "Not saved" in answer.text
    shown = _shown_form(answer.text)
    assert shown["own_topics"] == "sparse attention\nprotein folding"
    assert shown["authors"] == "Emmy Noether\nEmy Nother"
    assert shown["topics"] == ["Graphs"]
    assert db.execute("SELECT COUNT(*) FROM topics WHERE owner_id IS NOT NULL").fetchone()[0] == 0


def test_a_refused_confirmation_mail_is_logged_without_the_address(smtp_server, caplog):
    """A real SMTP server that names the recipient in its 550 reply: the operator's log line
    says the mail was not sent, without the visitor's address."""
    from digest.mail.notices import confirmation_email
    from digest.web.mailing import send_service_mail
    from tests.delivery_support import RecordingHandler

    class Refusing(RecordingHandler):
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            return f"550 5.1.1 <{address}>: Recipient address rejected"

    config, _, _ = smtp_server(Refusing(), from_address="d@lab.test", postal_address="1 Main St")
    with caplog.at_level("WARNING", logger="digest.web"):
        send_service_mail(config, confirmation_email(config, "Secret.Person@lab.test", "t" * 43))
    assert "service mail not sent" in caplog.text and "550" in caplog.text
    assert "secret.person" not in caplog.text.lower()


def test_unsubscribe_then_sign_up_again_in_another_case_needs_a_new_confirmation(web):
    config, base_url, db = web
    token = _active(db, "ret@example.org")
    httpx.post(f"{base_url}/u/{token}")
    assert status_of(db, "ret@example.org") == "unsubscribed"
    assert subscribe(base_url, "  RET@Example.ORG ").status_code == 200
    [mail] = wait_for_messages(config, 1)
    assert mail["To"].addresses[0].addr_spec == "ret@example.org"  # the stored address
    assert status_of(db, "ret@example.org") == "unsubscribed"  # nothing until confirmed
    assert httpx.post(base_url + confirm_path(mail)).status_code == 200
    assert status_of(db, "ret@example.org") == "active"
    assert db.execute("SELECT COUNT(*) FROM subscribers").fetchone()[0] == 1
    actions = [r[0] for r in db.execute("SELECT action FROM consents ORDER BY id")]
    assert actions == ["unsubscribe", "subscribe", "confirm"]
    assert httpx.get(f"{base_url}/u/{token}").status_code == 200  # the old links still work


def test_signing_up_again_after_unsubscribing_takes_the_new_forms_choices(web):
    """The old curated topics, own topics and followed authors were kept and the new form's
    ignored; a new sign-up starts afresh (feedback, the learned taste, stays)."""
    from digest.models import Topic
    from digest.subscribers.manage import add_subscriber
    from digest.topics.catalog import add_topic, followed_authors

    config, base_url, db = web
    add_topic(db, Topic(name="Optics", kind="curated", description="lenses and light"))
    old = add_subscriber(
        db,
        "back@example.org",
        status="active",
        topics=["Graphs"],
        text="old words of mine",
        authors=["André Weil"],
    )
    httpx.post(f"{base_url}/u/{old.manage_token}")
    assert status_of(db, "back@example.org") == "unsubscribed"
    answer = subscribe(
        base_url, "back@example.org", topics="Optics", own_topic="new words", frequency="weekly"
    )
    assert answer.status_code == 200
    assert httpx.post(base_url + confirm_path(wait_for_messages(config, 1)[0])).status_code == 200
    assert status_of(db, "back@example.org") == "active"

    def choices() -> tuple:
        curated = db.execute(
            "SELECT t.name FROM topics t JOIN subscriber_topics st ON st.topic_id = t.id"
            " WHERE st.subscriber_id = ? AND t.kind = 'curated'",
            [old.id],
        ).fetchall()
        own = db.execute(
            "SELECT description FROM topics WHERE owner_id = ? AND description != ''", [old.id]
        ).fetchall()
        frequency = db.execute("SELECT frequency FROM subscribers WHERE id = ?", [old.id])
        return curated, own, followed_authors(db, old.id), frequency.fetchone()[0]

    assert choices() == ([("Optics",)], [("new words",)], [], "weekly")
    _active(db, "stay@example.org")  # an active address: a stranger's form changes nothing
    before = db.execute("SELECT COUNT(*) FROM subscriber_topics").fetchone()[0]
    assert subscribe(base_url, "stay@example.org", topics="Optics").status_code == 200
    assert db.execute("SELECT COUNT(*) FROM subscriber_topics").fetchone()[0] == before


def test_preferences_say_in_words_whether_digests_are_coming(web):
    """Not the raw status column: an unsubscribed reader sees that nothing is sent and how
    to resume."""
    from digest.subscribers.manage import add_subscriber

    config, base_url, db = web
    words = add_subscriber(db, "words@example.org", status="active", topics=["Graphs"])
    token = words.manage_token
    assert "digests are on their way" in httpx.get(f"{base_url}/p/{token}").text
    httpx.post(f"{base_url}/u/{token}")
    page = httpx.get(f"{base_url}/p/{token}").text
    assert "no digests are sent" in page and 'href="/subscribe"' in page
    assert ": unsubscribed." not in page


def test_sign_ups_never_confirmed_are_forgotten_once_their_links_expire(web):
    """Anyone can type anyone's address: a sign-up nobody confirmed is personal data without
    consent, so it goes once every confirmation link for it has expired. Confirmed, still
    confirmable, and operator-added pending subscribers stay."""
    from digest.subscribers.manage import add_subscriber

    config, base_url, db = web
    for address in ("stale@example.org", "fresh@example.org"):
        subscribe(base_url, address, own_topic="something of mine")
    wait_for_messages(config, 2)
    add_subscriber(db, "by-hand@example.org", status="pending")  # source cli, no token
    _active(db, "kept@example.org")
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="seconds")
    with transaction(db):
        db.execute(
            "UPDATE confirm_tokens SET expires_at = ? WHERE subscriber_id ="
            " (SELECT id FROM subscribers WHERE email = 'stale@example.org')",
            [past],
        )
    subscribe(base_url, "same-day@example.org")  # the day's purge already ran
    assert status_of(db, "stale@example.org") == "pending"
    with transaction(db):  # as if the next day had come
        db.execute("DELETE FROM rate_limits WHERE key = 'purge:unconfirmed'")
    subscribe(base_url, "next@example.org")
    assert status_of(db, "stale@example.org") is None
    for address in ("fresh@example.org", "by-hand@example.org", "next@example.org"):
        assert status_of(db, address) == "pending", address
    assert status_of(db, "kept@example.org") == "active"
    waiting = db.execute(
        "SELECT s.email FROM confirm_tokens t JOIN subscribers s ON s.id = t.subscriber_id"
        " WHERE t.choices_json LIKE '%something of mine%'"
    ).fetchall()
    assert waiting == [("fresh@example.org",)]  # the stale sign-up's choices went with it
    actions = [r[0] for r in db.execute("SELECT action FROM consents WHERE subscriber_id IS NULL")]
    assert actions == ["subscribe"]  # the evidence row stays, anonymous


def test_a_bad_form_gets_the_same_answer_for_known_and_unknown_addresses(web):
    """An unknown topic, author or unusable own topic was a 400 for a new address but a 200
    for a subscribed one, which told anyone whether an address is subscribed."""
    config, base_url, db = web
    for n, bad in enumerate(
        (
            {"topics": "No such topic"},
            {"author": "Nobody Known"},
            {"own_topic": "\x00"},
            {"topics": "99999"},
        )
    ):
        _active(db, f"known{n}@example.org")  # one address per case: 3 mails a day each
        known = subscribe(base_url, f"known{n}@example.org", **bad)
        unknown = subscribe(base_url, f"unknown{n}@example.org", **bad)
        # the refused form comes back with what was typed, so each shows its own address
        as_unknown = known.text.replace(f"known{n}@", f"unknown{n}@")
        assert (known.status_code, as_unknown) == (unknown.status_code, unknown.text), bad
        assert known.status_code == 400
        assert status_of(db, f"known{n}@example.org") == "active"
    assert db.execute("SELECT COUNT(*) FROM subscribers").fetchone()[0] == 4
    fine = subscribe(base_url, "known0@example.org", topics="Graphs")
    assert fine.status_code == 200
    assert db.execute("SELECT COUNT(*) FROM subscriber_topics").fetchone()[0] == 0  # unchanged
    row = db.execute("SELECT action, detail FROM consents ORDER BY id DESC").fetchone()
    assert row == ("subscribe", "already active: preferences link sent")
