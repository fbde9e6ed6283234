"""A reader's TL;DR language: `digest subscribers edit --language` and the preferences page."""

from __future__ import annotations

import httpx

from digest.store import open_db
from digest.store.subscribers import get_subscriber_by_email
from digest.subscribers.manage import add_subscriber
from tests.conftest import run_cli_in_process
from tests.test_web import _shown_form, web  # noqa: F401  (the live web app fixture)


def test_subscribers_edit_sets_the_language_and_refuses_an_unknown_one(make_config, capsys):
    config, path = make_config()
    db = open_db(config.db_path)
    add_subscriber(db, "li@example.org", status="active")
    db.conn.close()
    code, out, _ = run_cli_in_process(
        path, capsys, "subscribers", "edit", "li@example.org", "--language", "ZH-tw", "--json"
    )
    assert code == 0 and '"language": "zh-TW"' in out
    code, _, err = run_cli_in_process(
        path, capsys, "subscribers", "edit", "li@example.org", "--language", "klingon"
    )
    assert code == 2 and "unknown language 'klingon'" in err and "zh (Simplified Chinese)" in err
    db = open_db(config.db_path)
    assert get_subscriber_by_email(db, "li@example.org").language == "zh-TW"


def test_the_preferences_page_shows_and_saves_the_language(web):  # noqa: F811
    config, base_url, db = web
    token = add_subscriber(db, "ana@example.org", status="active").manage_token
    page = httpx.get(f"{base_url}/p/{token}")
    assert 'id="language-field"' in page.text
    assert '<option value="en" selected>English</option>' in page.text
    form = _shown_form(page.text) | {"language": "es"}
    saved = httpx.post(f"{base_url}/p/{token}", data=form)
    assert saved.status_code == 200 and "Saved." in saved.text
    assert '<option value="es" selected>Spanish</option>' in saved.text
    assert get_subscriber_by_email(db, "ana@example.org").language == "es"
    refused = httpx.post(f"{base_url}/p/{token}", data=form | {"language": "xx"})
    assert refused.status_code == 400 and "unknown language" in refused.text
    assert get_subscriber_by_email(db, "ana@example.org").language == "es"
