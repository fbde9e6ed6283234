"""What the CLI prints to a terminal: text stored before the sources cleaned it (terminal
escapes, bidi overrides in a name or title) reaches the screen as plain text. Real SQLite, the
real `digest` command in a child process."""

from __future__ import annotations

import json

from digest.store import open_db
from digest.subscribers.manage import add_subscriber
from tests.conftest import digest_child

ESCAPES = "\x1b[2J\x1b]0;owned\x07"  # clear the screen, retitle the terminal window


def test_an_old_rows_terminal_escapes_and_bidi_overrides_are_not_printed(make_config):
    config, path = make_config()
    db = open_db(config.db_path)
    add_subscriber(db, "ann@example.org", name="Ann", status="active")
    # as a row stored by an older version, before names were cleaned on the way in
    db.execute(
        "UPDATE subscribers SET name = ? WHERE email = ?",
        [f"Ann{ESCAPES} Lee\u202eevil", "ann@example.org"],
    )
    db.conn.commit()
    db.conn.close()
    shown = digest_child("--config", str(path), "subscribers", "show", "ann@example.org")
    assert shown.returncode == 0, shown.stderr
    assert "Ann" in shown.stdout and "Lee" in shown.stdout
    assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout
    assert "\u202e" not in shown.stdout
    # --json keeps the stored value, escaped as JSON does (a script sees what is stored)
    shown_json = json.loads(
        digest_child(
            "--config", str(path), "subscribers", "show", "ann@example.org", "--json"
        ).stdout
    )
    assert shown_json["name"] == f"Ann{ESCAPES} Lee\u202eevil"
