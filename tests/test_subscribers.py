"""Subscribers and feedback: validation, store, CSV import/export, and the CLI end to end."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import date

import pytest

from digest.errors import UsageError
from digest.models import Paper, Topic
from digest.store import feedback as feedback_store
from digest.store import open_db
from digest.store.papers import upsert_papers
from digest.subscribers.fields import normalise_email, parse_weekday
from digest.subscribers.import_export import export_subscribers_csv, import_subscribers_csv
from digest.subscribers.manage import (
    add_subscriber,
    get_subscriber,
    get_subscriber_by_email,
    get_subscriber_by_token,
    list_subscribers,
    remove_subscriber,
    set_last_digest_date,
    set_status,
    subscriber_details,
    update_subscriber,
)
from digest.topics.catalog import add_topic, list_topics, topics_for_subscriber
from tests.conftest import run_cli_in_process

PAPERS = [
    Paper(id="2508.13167", title="Chain-of-Agents", abstract="Agent foundation models."),
    Paper(id="2508.14040", title="ComputerRL", abstract="Computer use agents."),
    Paper(id="2508.13246", title="Involuntary Jailbreak", abstract="A jailbreak of LLMs."),
]


@pytest.fixture
def db(tmp_path):
    database = open_db(tmp_path / "digest.db")
    upsert_papers(database, PAPERS, source="test")
    add_topic(database, Topic(name="LLM agents", kind="curated", description="LLM agents"))
    add_topic(database, Topic(name="AI safety", kind="curated", keywords=("jailbreak",)))
    yield database
    database.conn.close()


# --- validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Ann.Lee@Example.ORG \n", "Ann.Lee@example.org"),
        ("bob+digest@Sub.Example.co.uk", "bob+digest@sub.example.co.uk"),
        ("mailto:eve@EXAMPLE.org", "eve@example.org"),
        ("zoë@Bücher.de", None),  # non-ASCII local part is refused
        ("anna@Bücher.DE", "anna@bücher.de"),
        ("anna@XN--BCHER-KVA.de", "anna@bücher.de"),  # the punycode spelling is the same
    ],
)
def test_email_is_trimmed_and_domain_lowercased(raw, expected):
    if expected is None:
        with pytest.raises(UsageError):
            normalise_email(raw)
    else:
        assert normalise_email(raw) == expected


@pytest.mark.parametrize(
    "junk",
    [
        "",
        "ann",
        "ann@",
        "@example.org",
        "ann@example",
        "a b@example.org",
        "Ann <ann@x.org>",
        "ann@@example.org",
        "ann@exa_mple.org",
        "ann@-example.org",
        "ann@1.2.3.4",
        "ann..b@x.org",
    ],
)
def test_junk_addresses_are_refused_naming_them(db, junk):
    with pytest.raises(UsageError) as exc:
        add_subscriber(db, junk)
    assert repr(junk) in str(exc.value)
    assert list_subscribers(db) == []


def test_same_address_cannot_exist_twice_in_any_case(db):
    first = add_subscriber(db, "ann@example.org")
    with pytest.raises(UsageError, match="already a subscriber"):
        add_subscriber(db, " ANN@Example.org ")
    assert [s.id for s in list_subscribers(db)] == [first.id]
    assert get_subscriber_by_email(db, "Ann@EXAMPLE.ORG").id == first.id


def test_weekly_needs_a_weekday_and_cap_is_50(db):
    with pytest.raises(UsageError, match="weekday"):
        add_subscriber(db, "w@example.org", frequency="weekly")
    with pytest.raises(UsageError, match="between 1 and 50"):
        add_subscriber(db, "w@example.org", max_papers=51)
    with pytest.raises(UsageError, match="between 1 and 50"):
        add_subscriber(db, "w@example.org", max_papers=0)
    with pytest.raises(UsageError, match="time zone"):
        add_subscriber(db, "w@example.org", timezone="Mars/Olympus")
    with pytest.raises(UsageError, match="frequency"):
        add_subscriber(db, "w@example.org", frequency="hourly")
    weekly = add_subscriber(
        db,
        "w@example.org",
        frequency="weekly",
        weekday="Friday",
        max_papers=50,
        timezone="Europe/Paris",
    )
    assert (weekly.weekday, weekly.max_papers, weekly.timezone) == (4, 50, "Europe/Paris")
    with pytest.raises(UsageError, match="only applies to a weekly digest"):
        add_subscriber(db, "d@example.org", weekday="mon")  # forgot --frequency weekly?
    assert get_subscriber_by_email(db, "d@example.org") is None
    assert add_subscriber(db, "d@example.org", frequency=" Weekly ", weekday="mon").weekday == 0


def test_parse_weekday_spellings():
    assert [parse_weekday(x) for x in ("mon", "Tuesday", "6", 0, None)] == [0, 1, 6, 0, None]
    for bad in ("funday", "7", 9, "mo", "9" * 5000, "²", "\u0663", " 1 1"):
        with pytest.raises(UsageError):
            parse_weekday(bad)


def test_defaults_token_and_status_stamps(db):
    pending = add_subscriber(db, "p@example.org", source="web")
    assert (pending.status, pending.max_papers, pending.frequency) == ("pending", 10, "daily")
    assert pending.confirmed_at is None and len(pending.manage_token) >= 30
    assert get_subscriber_by_token(db, pending.manage_token).id == pending.id
    assert get_subscriber_by_token(db, "nope") is None
    other = add_subscriber(db, "q@example.org")
    assert other.manage_token != pending.manage_token

    active = set_status(db, pending.id, "active")
    assert active.confirmed_at is not None
    gone = set_status(db, pending.id, "unsubscribed")
    assert gone.unsubscribed_at is not None and gone.confirmed_at == active.confirmed_at
    assert [s.email for s in list_subscribers(db, status="unsubscribed")] == ["p@example.org"]
    with pytest.raises(UsageError, match="status"):
        set_status(db, pending.id, "asleep")
    with pytest.raises(UsageError):
        set_status(db, 999, "active")


def test_update_subscriber_checks_the_whole_result(db):
    sub = add_subscriber(db, "u@example.org")
    with pytest.raises(UsageError, match="weekday"):
        update_subscriber(db, sub.id, frequency="weekly")
    changed = update_subscriber(
        db,
        sub.id,
        frequency="weekly",
        weekday="wed",
        max_papers=25,
        always_send=True,
        name="  Uma ",
        send_hour=7,
    )
    assert (changed.frequency, changed.weekday, changed.max_papers) == ("weekly", 2, 25)
    assert (changed.always_send, changed.name, changed.send_hour) == (True, "Uma", 7)
    assert update_subscriber(db, sub.id, frequency="daily").weekday is None
    with pytest.raises(UsageError, match="between 1 and 50"):
        update_subscriber(db, sub.id, max_papers=80)
    with pytest.raises(UsageError, match="cannot change"):
        update_subscriber(db, sub.id, email="x@example.org")
    set_last_digest_date(db, sub.id, date(2025, 8, 20))
    assert get_subscriber(db, sub.id).last_digest_date == date(2025, 8, 20)


def test_a_sent_older_issue_never_moves_the_last_digest_date_back(db):
    """A held older issue sent after a newer one: the newer date stays."""
    from digest.store.subscribers import advance_last_digest_date

    sub = add_subscriber(db, "late@example.org")
    advance_last_digest_date(db, sub.id, date(2025, 8, 20))
    advance_last_digest_date(db, sub.id, date(2025, 8, 18))
    assert get_subscriber(db, sub.id).last_digest_date == date(2025, 8, 20)
    advance_last_digest_date(db, sub.id, date(2025, 8, 21))
    assert get_subscriber(db, sub.id).last_digest_date == date(2025, 8, 21)


def test_add_with_topics_is_all_or_nothing(db):
    with pytest.raises(UsageError, match="'Nope'"):
        add_subscriber(db, "t@example.org", topics=["llm agents", "Nope"], text="my words")
    assert list_subscribers(db) == []
    sub = add_subscriber(db, "t@example.org", topics=["llm agents"], text="protein design")
    topics = topics_for_subscriber(db, sub.id)
    assert [(t.name, t.kind) for t in topics] == [
        ("LLM agents", "curated"),
        ("protein design", "personal"),
    ]
    removed = remove_subscriber(db, "T@example.org")
    assert removed.id == sub.id and get_subscriber(db, sub.id) is None
    assert db.execute("SELECT COUNT(*) FROM topics WHERE kind='personal'").fetchone()[0] == 0


# --- feedback ---------------------------------------------------------------------------


def test_later_verdict_overrides_earlier_and_counts(db):
    ann = add_subscriber(db, "ann@example.org")
    bob = add_subscriber(db, "bob@example.org")
    feedback_store.add_feedback(
        db, ann.id, "2508.13167v2", "like", created_at="2025-08-20T10:00:00+00:00"
    )
    feedback_store.add_feedback(
        db, ann.id, "2508.14040", "like", created_at="2025-08-20T11:00:00+00:00"
    )
    feedback_store.add_feedback(
        db, ann.id, "2508.13167", "dislike", created_at="2025-08-21T09:00:00+00:00"
    )
    feedback_store.add_feedback(
        db, ann.id, "2508.14040", "click", created_at="2025-08-21T09:30:00+00:00"
    )
    feedback_store.add_feedback(
        db, bob.id, "2508.14040", "dislike", created_at="2025-08-21T08:00:00+00:00"
    )
    feedback_store.add_feedback(
        db, bob.id, "2508.14040", "like", created_at="2025-08-22T08:00:00+00:00"
    )

    assert feedback_store.feedback_for_subscriber(db, ann.id) == (
        ["2508.14040"],
        ["2508.13167"],
        ["2508.14040"],
    )
    assert feedback_store.feedback_for_subscriber(db, bob.id) == (["2508.14040"], [], [])
    assert feedback_store.feedback_counts(db) == {
        "2508.13167": {"like": 0, "dislike": 1, "click": 0},
        "2508.14040": {"like": 2, "dislike": 0, "click": 1},
    }
    # Only events in the window count: on 2025-08-21 Bob still disliked it.
    day = feedback_store.feedback_counts(db, since=date(2025, 8, 21), until=date(2025, 8, 21))
    assert day["2508.14040"] == {"like": 0, "dislike": 1, "click": 1}
    assert feedback_store.feedback_counts(db, paper_ids=["2508.13167"]) == {
        "2508.13167": {"like": 0, "dislike": 1, "click": 0}
    }
    assert subscriber_details(db, ann)["feedback"] == {"like": 1, "dislike": 1, "click": 1}
    everyone = feedback_store.feedback_by_subscriber(db)
    assert everyone == {
        ann.id: feedback_store.feedback_for_subscriber(db, ann.id),
        bob.id: feedback_store.feedback_for_subscriber(db, bob.id),
    }


def test_feedback_on_unknown_paper_names_it(db):
    ann = add_subscriber(db, "ann@example.org")
    with pytest.raises(UsageError, match="2599.00001"):
        feedback_store.add_feedback(db, ann.id, "2599.00001", "like")
    with pytest.raises(UsageError, match="kind"):
        feedback_store.add_feedback(db, ann.id, "2508.13167", "love")
    assert db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0] == 0


# --- CSV import / export ----------------------------------------------------------------


CSV_WITH_BAD_ROWS = """email,name,topics,frequency,weekday,max_papers,always_send,text
ann@example.org,Ann,LLM agents;AI safety,daily,,10,no,
bob@example,Bob,,daily,,10,no,
carol@example.org,Carol,,weekly,,10,no,
dan@example.org,Dan,Unknown topic,daily,,10,no,
eve@example.org,Eve,,weekly,fri,60,no,
ANN@example.org,Ann again,,daily,,10,no,
fay@example.org,Fay,AI safety,weekly,sat,20,yes,graph neural networks | protein folding
"""


def test_csv_import_with_bad_rows_lists_them_all_and_adds_nothing(db):
    add_subscriber(db, "gus@example.org")
    text = CSV_WITH_BAD_ROWS + "gus@example.org,Gus,,daily,,10,no,\n"
    report = import_subscribers_csv(db, text)
    assert not report.imported and report.added == [] and report.good_rows == 2
    assert report.duplicates == [(9, "gus@example.org")]
    assert report.repeats == [(7, "ANN@example.org", 2)]  # named twice in the file
    errors = dict(report.errors)
    assert sorted(errors) == [3, 4, 5, 6]
    assert "bob@example" in errors[3]
    assert "weekday" in errors[4]
    assert "Unknown topic" in errors[5]
    assert "50" in errors[6]
    # nothing of the file is stored: no subscriber, no personal topic
    assert [s.email for s in list_subscribers(db)] == ["gus@example.org"]
    assert list_topics(db, kind="personal") == []

    good_only = "\n".join(
        line for n, line in enumerate(text.splitlines(), start=1) if n not in errors
    )
    report = import_subscribers_csv(db, good_only)
    assert report.imported and report.added == ["ann@example.org", "fay@example.org"]
    fay = get_subscriber_by_email(db, "fay@example.org")
    assert (fay.status, fay.source, fay.weekday, fay.always_send) == ("active", "import", 5, True)
    assert [t.name for t in topics_for_subscriber(db, fay.id)] == [
        "AI safety",
        "graph neural networks",
        "protein folding",
    ]


def test_csv_unknown_column_or_no_email_header_is_a_usage_error(db):
    with pytest.raises(UsageError, match="colour"):
        import_subscribers_csv(db, "email,colour\nann@example.org,red\n")
    with pytest.raises(UsageError, match="email"):
        import_subscribers_csv(db, "name\nAnn\n")


def test_csv_export_round_trips(db, tmp_path):
    add_subscriber(
        db,
        "ann@example.org",
        name="Ann",
        topics=["AI safety"],
        frequency="weekly",
        weekday="tue",
        text="diffusion models",
        always_send=True,
        status="active",
    )
    exported = export_subscribers_csv(db)
    other = open_db(tmp_path / "other.db")
    add_topic(other, Topic(name="AI safety", kind="curated", keywords=("jailbreak",)))
    report = import_subscribers_csv(other, exported)
    assert report.added == ["ann@example.org"] and not report.errors
    copy = get_subscriber_by_email(other, "ann@example.org")
    assert (copy.name, copy.frequency, copy.weekday, copy.always_send) == ("Ann", "weekly", 1, True)
    assert [t.name for t in topics_for_subscriber(other, copy.id)] == [
        "AI safety",
        "diffusion models",
    ]
    assert "manage_token" not in exported and copy.manage_token not in exported
    other.conn.close()


# --- CLI --------------------------------------------------------------------------------


@pytest.fixture
def cli(make_config, capsys):
    """Run `digest --config <tmp config> ...` in-process; returns (exit code, stdout, stderr)."""
    _, config_path = make_config()

    def run(*args: str) -> tuple[int, str, str]:
        return run_cli_in_process(config_path, capsys, *args)

    run.config_path = config_path  # type: ignore[attr-defined]
    return run


@pytest.fixture
def cli_with_papers(cli, make_config):
    config, _ = make_config()
    database = open_db(config.db_path)
    upsert_papers(database, PAPERS, source="test")
    add_topic(database, Topic(name="LLM agents", kind="curated", description="LLM agents"))
    database.conn.close()
    return cli


def test_cli_add_list_show_remove(cli_with_papers):
    cli = cli_with_papers
    code, out, err = cli(
        "subscribers",
        "add",
        " Ann@Example.ORG ",
        "--name",
        "Ann",
        "--topic",
        "llm agents",
        "--text",
        "protein design",
        "--frequency",
        "weekly",
        "--weekday",
        "mon",
        "--max-papers",
        "20",
    )
    assert code == 0, err
    assert "Ann@example.org" in out
    code, out, err = cli("subscribers", "add", "ann@example.org")
    assert code == 2 and "already a subscriber" in err
    code, out, err = cli("subscribers", "add", "bob@example.org", "--topic", "Quantum stuff")
    assert code == 2 and "Quantum stuff" in err
    code, out, err = cli("subscribers", "add", "bob@example.org", "--max-papers", "51")
    assert code == 2 and "50" in err
    code, out, err = cli("subscribers", "add", "bob@example.org", "--frequency", "weekly")
    assert code == 2 and "weekday" in err

    code, out, _ = cli("subscribers", "list", "--json")
    rows = json.loads(out)
    assert [r["email"] for r in rows] == ["Ann@example.org"]
    assert rows[0]["status"] == "active" and rows[0]["source"] == "cli"
    assert rows[0]["weekday"] == "mon" and rows[0]["max_papers"] == 20
    assert "manage_token" not in rows[0]

    code, out, _ = cli("feedback", "add", "ann@example.org", "2508.13167", "--like")
    assert code == 0 and "2508.13167" in out
    code, out, err = cli("feedback", "add", "ann@example.org", "2599.99999", "--like")
    assert code == 2 and "2599.99999" in err
    code, out, err = cli("feedback", "add", "nobody@example.org", "2508.13167", "--dislike")
    assert code == 2 and "nobody@example.org" in err
    code, out, err = cli("feedback", "add", "ann@example.org", "2508.13167", "--like", "--dislike")
    assert code == 2

    code, out, _ = cli("subscribers", "show", "ANN@example.org", "--json")
    shown = json.loads(out)
    assert shown["topics"] == ["LLM agents"]
    assert [t["name"] for t in shown["personal_topics"]] == ["protein design"]
    assert shown["feedback"] == {"like": 1, "dislike": 0, "click": 0}
    code, out, _ = cli("subscribers", "show", "ann@example.org")
    assert code == 0 and "protein design" in out and "1 liked" in out

    code, out, err = cli("subscribers", "remove", "ann@example.org", "--yes")
    assert code == 0
    code, out, err = cli("subscribers", "show", "ann@example.org")
    assert code == 2 and "ann@example.org" in err


def test_cli_import_and_export(cli_with_papers, tmp_path):
    cli = cli_with_papers
    csv_path = tmp_path / "people.csv"
    csv_path.write_text(
        "email,name,topics\nann@example.org,Ann,LLM agents\nnot-an-address,X,\n"
        "ann@example.org,Ann twice,\nbob@example.org,Bob,\n",
        encoding="utf-8",
    )
    code, out, err = cli("subscribers", "import", str(csv_path))
    assert code == 2  # a bad row: nothing is imported, and every problem is listed
    assert f"{csv_path}:3:" in err and "not-an-address" in err
    assert f"{csv_path}:4: ann@example.org repeats line 2 (skipped)" in err
    assert "nothing imported: 1 bad row(s)" in err
    assert "2 good, 0 already subscribed, 1 repeated in the file" in err
    assert json.loads(cli("subscribers", "list", "--json")[1]) == []
    csv_path.write_text(
        "email,name,topics\nann@example.org,Ann,LLM agents\n"
        "ann@example.org,Ann twice,\nbob@example.org,Bob,\n",
        encoding="utf-8",
    )
    code, out, err = cli("subscribers", "import", str(csv_path))
    assert code == 0 and "added 2, already subscribed 0, repeated in the file 1" in out
    assert f"{csv_path}:3: ann@example.org repeats line 2 (skipped)" in err
    code, out, err = cli("subscribers", "import", str(csv_path))  # the same file again
    assert code == 0 and "added 0, already subscribed 3, repeated in the file 0" in out
    assert f"{csv_path}:2: ann@example.org is already a subscriber (skipped)" in err

    code, out, _ = cli("subscribers", "export")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].startswith("email,name,topics,")
    assert [line.split(",")[0] for line in lines[1:]] == ["ann@example.org", "bob@example.org"]
    code, out, _ = cli("subscribers", "export", "--json")
    assert [r["topics"] for r in json.loads(out)] == [["LLM agents"], []]


def test_cli_remove_asks_first_as_a_real_process(cli_with_papers):
    cli = cli_with_papers
    assert cli("subscribers", "add", "ann@example.org")[0] == 0
    config_path = cli.config_path
    declined = subprocess.run(
        [
            sys.executable,
            "-m",
            "digest",
            "--config",
            str(config_path),
            "subscribers",
            "remove",
            "ann@example.org",
        ],
        input="n\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert declined.returncode == 1
    kept = subprocess.run(
        [
            sys.executable,
            "-m",
            "digest",
            "--config",
            str(config_path),
            "subscribers",
            "list",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert [r["email"] for r in json.loads(kept.stdout)] == ["ann@example.org"]


def test_every_command_has_help(cli):
    for group, commands in {
        "subscribers": ["add", "list", "show", "edit", "remove", "import", "export"],
        "feedback": ["add"],
    }.items():
        for command in commands:
            code, out, _ = cli(group, command, "--help")
            assert code == 0 and "Usage" in out
            options = [line for line in out.splitlines() if "--" in line and "│" in line]
            assert options, f"{group} {command} has no options listed"


# --- hostile input ----------------------------------------------------------------------


def test_an_idn_address_is_one_subscriber_in_either_spelling(db):
    """bücher.de and xn--bcher-kva.de are the same domain: never two subscribers."""
    ann = add_subscriber(db, "ann@Bücher.de")
    assert ann.email == "ann@bücher.de"
    with pytest.raises(UsageError, match="already a subscriber"):
        add_subscriber(db, "ANN@xn--bcher-kva.DE")
    assert get_subscriber_by_email(db, "ann@xn--bcher-kva.de").id == ann.id
    # a row stored in the ASCII spelling (older data) is found by the Unicode one too
    db.execute("UPDATE subscribers SET email = 'ann@xn--bcher-kva.de' WHERE id = ?", [ann.id])
    assert get_subscriber_by_email(db, "ann@bücher.de").id == ann.id
    with pytest.raises(UsageError, match="already a subscriber"):
        add_subscriber(db, "ann@bücher.de")
    with pytest.raises(UsageError, match="bad domain"):
        normalise_email("ann@xn--zz.de")  # not valid punycode
    assert [s.id for s in list_subscribers(db)] == [ann.id]


def test_names_lose_control_characters_and_stay_one_line(db):
    ann = add_subscriber(db, "ann@example.org", name=" Ann\x1b[2J\x00\n  Lee\t")
    assert ann.name == "Ann[2J Lee"
    updated = update_subscriber(db, ann.id, name="Bo\rb\x07")
    assert updated.name == "Bo b"
    with pytest.raises(UsageError, match="name is longer than 200"):
        add_subscriber(db, "bob@example.org", name="x" * 201)


def test_csv_with_semicolons_or_tabs_and_repeated_texts(db):
    report = import_subscribers_csv(
        db, '\ufeffEmail;Name;Topics\nann@example.org;Ann;"LLM agents;AI safety"\n'
    )
    assert report.added == ["ann@example.org"] and not report.errors
    ann = get_subscriber_by_email(db, "ann@example.org")
    assert [t.name for t in topics_for_subscriber(db, ann.id)] == ["AI safety", "LLM agents"]
    report = import_subscribers_csv(db, "email\tname\ttext\nbob@example.org\tBob\ta | b |  A\n")
    assert report.added == ["bob@example.org"]
    bob = get_subscriber_by_email(db, "bob@example.org")
    assert [t.description for t in topics_for_subscriber(db, bob.id)] == ["a", "b"]
    report = import_subscribers_csv(db, "sep=;\r\nemail;name\r\ndan@example.org;Dan\r\n")
    assert report.added == ["dan@example.org"]  # Excel's separator line
    report = import_subscribers_csv(db, "email,text\ncat@example.org,graphs | graphs\n")
    cat = get_subscriber_by_email(db, "cat@example.org")
    assert [t.name for t in topics_for_subscriber(db, cat.id)] == ["graphs"]


def test_csv_header_and_row_shape_problems_are_named(db):
    with pytest.raises(UsageError, match="named twice in the header: email"):
        import_subscribers_csv(db, "email,name,Email\nann@example.org,Ann,bob@example.org\n")
    report = import_subscribers_csv(
        db,
        "email,name\nann@example.org,Doe, Ann\nbob@example.org,Bob,,\ncat@example.org\n",
    )
    assert report.errors == [
        (2, "3 cells but the header has 2 columns (a value with a comma needs quotes)")
    ]
    assert list_subscribers(db) == []  # an unquoted comma shifted a row: nothing is added
    report = import_subscribers_csv(db, "email,,name\nann@example.org,x,Ann\n")
    assert report.errors and "column 2" in report.errors[0][1]
    assert import_subscribers_csv(db, "email,name,\nann@example.org,Ann,\n").added == [
        "ann@example.org"
    ]


def test_cli_prints_names_with_brackets_verbatim(cli_with_papers, tmp_path):
    """Rich markup in a name, a topic or an address part is text, never a crash or a style."""
    cli = cli_with_papers
    code, out, err = cli(
        "subscribers", "add", "ann@example.org", "--name", "[/] [bold]Ann", "--text", "[red]x[/]"
    )
    assert code == 0, err
    assert "[red]x[/]" in out
    code, out, err = cli("subscribers", "show", "ann@example.org")
    assert code == 0, err
    assert "[/] [bold]Ann" in out and "personal topic: [red]x[/]" in out
    assert "followed authors: (none)" in out
    code, out, err = cli("subscribers", "list")
    assert code == 0 and "own: [red]x[/]" in out
    missing = tmp_path / "[/].csv"
    code, out, err = cli("subscribers", "import", str(missing))
    assert code == 2 and "[/].csv: file not found" in err
    code, out, err = cli("subscribers", "import", str(tmp_path))
    assert code == 2 and "cannot read it" in err
    code, out, err = cli("feedback", "add", " ANN@example.org ", "2508.13167", "--click")
    assert code == 0 and "recorded click of 2508.13167 by ann@example.org" in out


def test_an_imported_export_keeps_its_sign_up_and_consent_dates(db, tmp_path):
    add_subscriber(db, "ann@example.org", status="active", name="Ann")
    db.execute(
        "UPDATE subscribers SET created_at = '2024-01-02T03:04:05+00:00',"
        " confirmed_at = '2024-01-03T00:00:00+00:00'"
    )
    other = open_db(tmp_path / "other.db")
    report = import_subscribers_csv(other, export_subscribers_csv(db))
    assert report.added == ["ann@example.org"]
    copy = get_subscriber_by_email(other, "ann@example.org")
    assert (copy.created_at, copy.confirmed_at) == (
        "2024-01-02T03:04:05+00:00",
        "2024-01-03T00:00:00+00:00",
    )
    report = import_subscribers_csv(
        other,
        "email,confirmed_at,send_hour\nbob@example.org,yesterday,\ncat@example.org,,²\n"
        "dan@example.org,2024-05-06 07:08,\n",
    )
    assert [line for line, _ in report.errors] == [2, 3]
    assert "confirmed_at must be an ISO date and time, got 'yesterday'" in report.errors[0][1]
    assert "send_hour must be a whole number" in report.errors[1][1]
    other.conn.close()


def test_time_zones_are_stored_in_their_proper_spelling(db):
    assert add_subscriber(db, "a@example.org", timezone=" europe/PARIS ").timezone == (
        "Europe/Paris"
    )
    ann = get_subscriber_by_email(db, "a@example.org")
    assert update_subscriber(db, ann.id, timezone="utc").timezone == "UTC"
    with pytest.raises(UsageError, match="unknown time zone"):
        update_subscriber(db, ann.id, timezone="Europe/Paris\x00")


def test_cli_remove_of_a_suppressed_subscriber_warns_that_it_is_forgotten(cli_with_papers):
    cli = cli_with_papers
    assert cli("subscribers", "add", "ann@example.org")[0] == 0
    assert cli("subscribers", "add", "bob@example.org")[0] == 0
    from digest.cli.common import state

    ann = get_subscriber_by_email(state.db, "ann@example.org")
    set_status(state.db, ann.id, "complained")
    code, out, err = cli("subscribers", "remove", "ann@example.org", "--yes")
    assert code == 0 and "removed ann@example.org" in out
    assert "ann@example.org is complained" in err and "could mail them again" in err
    code, out, err = cli("subscribers", "remove", "bob@example.org", "--yes")
    assert code == 0 and err == ""


def test_cli_edit_changes_status_topics_and_preferences_and_logs_consent(cli_with_papers):
    """An operator must be able to stop someone's mail and keep the record (not only delete)."""
    cli = cli_with_papers
    assert cli("subscribers", "add", "ann@example.org", "--topic", "LLM agents")[0] == 0
    code, out, err = cli("subscribers", "edit", " ANN@example.org", "--status", "unsubscribed")
    assert code == 0 and "updated ann@example.org (unsubscribed)" in out, err
    code, out, err = cli(
        "subscribers",
        "edit",
        "ann@example.org",
        "--frequency",
        "weekly",
        "--weekday",
        "fri",
        "--max-papers",
        "5",
        "--always-send",
        "--topic",
        "",
        "--json",
    )
    assert code == 0, err
    shown = json.loads(out)
    assert (shown["status"], shown["frequency"], shown["weekday"]) == (
        "unsubscribed",
        "weekly",
        "fri",
    )
    assert (shown["max_papers"], shown["always_send"], shown["topics"]) == (5, True, [])
    for bad, message in (
        (["--status", "gone"], "status must be one of"),
        (["--topic", "Nope"], "unknown topic 'Nope'"),
        (["--frequency", "daily", "--weekday", "mon"], "only applies to a weekly digest"),
        (["--max-papers", "0", "--status", "active"], "between 1 and 50"),
    ):
        code, out, err = cli("subscribers", "edit", "ann@example.org", *bad)
        assert code == 2 and message in err and out == ""
    code, out, _ = cli("subscribers", "show", "ann@example.org", "--json")
    assert json.loads(out)["status"] == "unsubscribed"  # the failed edits changed nothing
    from digest.cli.common import state
    from digest.store.service import consents_for

    ann = get_subscriber_by_email(state.db, "ann@example.org")
    [consent] = consents_for(state.db, ann.id)
    assert (consent["action"], consent["source"]) == ("unsubscribe", "cli")
    code, out, err = cli("subscribers", "edit", "zed@example.org", "--status", "active")
    assert code == 2 and "zed@example.org" in err
    code, out, err = cli("subscribers", "edit", "ann@example.org")
    assert code == 2 and "nothing to change" in err


def test_arguments_that_are_not_utf8_are_one_error_line(cli_with_papers):
    """A Latin-1 terminal passes bytes Python keeps as lone surrogates; SQLite refuses those."""
    config = str(cli_with_papers.config_path).encode()

    def run(*args: bytes) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                sys.executable,
                "-c",
                "from digest.cli import main; main()",
                b"--config",
                config,
                *args,
            ],
            capture_output=True,
            timeout=60,
            env={**os.environ, "LC_ALL": "C.UTF-8"},
        )

    assert run(b"subscribers", b"add", b"ann@example.org").returncode == 0
    for args in (
        (b"subscribers", b"add", b"bob@example.org", b"--name", b"Jos\xe9"),
        (b"subscribers", b"add", b"bob@example.org", b"--topic", b"Jos\xe9"),
        (b"subscribers", b"edit", b"ann@example.org", b"--name", b"Jos\xe9"),
        (b"feedback", b"add", b"ann@example.org", b"2508.13167\xe9", b"--like"),
    ):
        done = run(*args)
        assert done.returncode == 2, done.stderr.decode()
        assert b"Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
    listed = run(b"subscribers", b"list", b"--json")
    assert [r["email"] for r in json.loads(listed.stdout)] == ["ann@example.org"]


def test_followed_authors_survive_an_export_and_import(db, tmp_path):
    upsert_papers(
        db,
        [Paper(id="2508.20001", title="T", abstract="A.", authors=("Ada Lovelace", "Alan Turing"))],
        source="test",
    )
    add_subscriber(db, "ann@example.org", authors=["ada lovelace", "Alan Turing"])
    exported = export_subscribers_csv(db)
    assert exported.splitlines()[0].split(",")[:5] == ["email", "name", "topics", "text", "authors"]
    other = open_db(tmp_path / "other.db")  # a new store: no papers fetched yet
    report = import_subscribers_csv(other, exported)
    assert report.added == ["ann@example.org"] and not report.errors
    copy = get_subscriber_by_email(other, "ann@example.org")
    assert subscriber_details(other, copy)["followed_authors"] == ["Ada Lovelace", "Alan Turing"]
    assert export_subscribers_csv(other).splitlines()[1] == exported.splitlines()[1]
    other.conn.close()


def test_cli_import_reads_standard_input_for_a_dash(cli_with_papers):
    done = subprocess.run(
        [sys.executable, "-m", "digest", "--config", str(cli_with_papers.config_path)]
        + ["subscribers", "import", "-"],
        input="email,name,topics\nann@example.org,Ann,LLM agents\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "added 1, already subscribed 0" in done.stdout, done.stderr
    code, out, _ = cli_with_papers("subscribers", "show", "ann@example.org", "--json")
    assert json.loads(out)["topics"] == ["LLM agents"]


def test_a_file_the_csv_reader_cannot_read_is_one_usage_error(db, tmp_path):
    from digest.subscribers.import_export import import_subscribers_file

    path = tmp_path / "huge.csv"
    path.write_text('email,name\nann@example.org,"' + "x" * 200_000 + '"\n', encoding="utf-8")
    with pytest.raises(UsageError, match="huge.csv: not a readable CSV file"):
        import_subscribers_file(db, path)
    assert list_subscribers(db) == []


def test_the_bulk_export_equals_show_for_everyone(db):
    """list/export read everyone's topics and feedback in bulk; the result must equal `show`."""
    upsert_papers(db, [Paper(id="2508.20001", title="T", abstract="A.", authors=("Ada L",))], "t")
    add_subscriber(db, "ann@example.org", topics=["AI safety"], text="zebras", authors=["Ada L"])
    bob = add_subscriber(db, "bob@example.org", topics=["LLM agents", "AI safety"], text="Équité")
    add_subscriber(db, "cat@example.org")
    feedback_store.add_feedback(db, bob.id, "2508.13167", "like")
    feedback_store.add_feedback(db, bob.id, "2508.14040", "click")
    from digest.subscribers.import_export import export_subscribers

    assert export_subscribers(db) == [subscriber_details(db, s) for s in list_subscribers(db)]
    assert [r["email"] for r in export_subscribers(db, status="pending")] == [
        "ann@example.org",
        "bob@example.org",
        "cat@example.org",
    ]


def test_csv_export_never_hands_a_spreadsheet_a_formula(db, tmp_path):
    """Own-words topics come from web sign-ups: '=HYPERLINK(...)' must not run in Excel."""
    add_subscriber(db, "-ann@example.org", name="@Ann", text='=HYPERLINK("http://evil.test","x")')
    exported = export_subscribers_csv(db)
    row = next(csv.DictReader(io.StringIO(exported)))
    assert row["email"] == "'-ann@example.org" and row["name"] == "'@Ann"
    assert row["text"] == """'=HYPERLINK("http://evil.test","x")"""
    other = open_db(tmp_path / "other.db")
    assert import_subscribers_csv(other, exported).added == ["-ann@example.org"]
    copy = get_subscriber_by_email(other, "-ann@example.org")
    assert copy.name == "@Ann"
    assert [t.description for t in topics_for_subscriber(other, copy.id)] == [
        '=HYPERLINK("http://evil.test","x")'
    ]
    other.conn.close()
