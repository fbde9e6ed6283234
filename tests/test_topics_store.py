"""Topics: validation, curated CRUD, personal topics, topics.toml parsing and sync, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from digest.errors import UsageError
from digest.models import Topic
from digest.paths import SAMPLES_DIR
from digest.store import open_db
from digest.store.topics import topics_by_subscriber
from digest.subscribers.manage import add_subscriber
from digest.topics.catalog import (
    add_personal_topic,
    add_topic,
    get_topic,
    list_topics,
    remove_topic,
    set_subscriber_topics,
    topics_for_subscriber,
    update_topic,
)
from digest.topics.toml_file import load_topics_file, parse_topics_text, sync_topics
from tests.conftest import run_cli_in_process

REPO_TOPICS = Path(__file__).resolve().parent.parent / "data" / "topics.toml"


@pytest.fixture
def db(tmp_path):
    database = open_db(tmp_path / "digest.db")
    yield database
    database.conn.close()


# --- validation and CRUD ----------------------------------------------------------------


def test_empty_topic_and_bad_threshold_are_errors_naming_the_topic(db):
    with pytest.raises(UsageError, match="topic 'Hollow'.*empty"):
        add_topic(db, Topic(name="Hollow", kind="curated", categories=("cs.AI",)))
    with pytest.raises(UsageError, match="topic 'Hot'.*between -1 and 1"):
        add_topic(db, Topic(name="Hot", kind="curated", keywords=("x",), threshold=1.5))
    with pytest.raises(UsageError, match="not an arXiv id"):
        add_topic(db, Topic(name="Seedy", kind="curated", seed_ids=("hello world",)))
    with pytest.raises(UsageError, match="not an arXiv category"):
        add_topic(db, Topic(name="Cat", kind="curated", keywords=("x",), categories=("CS AI",)))
    with pytest.raises(UsageError, match="needs a name"):
        add_topic(db, Topic(name="  ", kind="curated", keywords=("x",)))
    assert list_topics(db) == []


def test_add_cleans_fields_and_refuses_duplicate_names(db):
    topic = add_topic(
        db,
        Topic(
            name="  LLM   agents ",
            kind="curated",
            description=" agents\n that use tools ",
            keywords=("Agent", "agent", " tool use ", ""),
            seed_ids=("arXiv:2508.13167v2",),
            threshold=-1,
        ),
    )
    assert topic.name == "LLM agents" and topic.description == "agents that use tools"
    assert topic.keywords == ("Agent", "tool use") and topic.seed_ids == ("2508.13167",)
    assert topic.threshold == -1.0 and topic.id is not None
    with pytest.raises(UsageError, match="already exists"):
        add_topic(db, Topic(name="llm AGENTS", kind="curated", keywords=("x",)))
    assert get_topic(db, "llm agents") == topic


def test_update_and_remove(db):
    add_topic(db, Topic(name="Agents", kind="curated", keywords=("agent",)))
    add_topic(db, Topic(name="Safety", kind="curated", keywords=("safety",)))
    changed = update_topic(db, "agents", description="LLM agents", keywords=[], threshold=0.4)
    assert (changed.description, changed.keywords, changed.threshold) == ("LLM agents", (), 0.4)
    with pytest.raises(UsageError, match="empty"):
        update_topic(db, "Agents", description="")
    with pytest.raises(UsageError, match="already exists"):
        update_topic(db, "Agents", name="safety")
    with pytest.raises(UsageError, match="unknown curated topic 'Nope'"):
        update_topic(db, "Nope", description="x")
    renamed = update_topic(db, "Agents", name="LLM agents")
    assert renamed.id == changed.id
    remove_topic(db, "llm agents")
    assert [t.name for t in list_topics(db)] == ["Safety"]
    with pytest.raises(UsageError, match="unknown curated topic"):
        remove_topic(db, "LLM agents")


def test_subscriber_topics_curated_and_personal(db):
    add_topic(db, Topic(name="Agents", kind="curated", keywords=("agent",)))
    add_topic(db, Topic(name="Safety", kind="curated", keywords=("safety",)))
    ann = add_subscriber(db, "ann@example.org")
    bob = add_subscriber(db, "bob@example.org")
    set_subscriber_topics(db, ann.id, ["safety", "AGENTS"])
    add_personal_topic(db, ann.id, text="diffusion models for proteins")
    add_personal_topic(db, ann.id, text="diffusion models for proteins", keywords=["protein"])
    add_personal_topic(db, bob.id, text="bob's own words")
    names = [(t.name, t.kind) for t in topics_for_subscriber(db, ann.id)]
    assert names == [
        ("Agents", "curated"),
        ("Safety", "curated"),
        ("diffusion models for proteins", "personal"),
        ("diffusion models for proteins (2)", "personal"),
    ]
    with pytest.raises(UsageError, match="'Robots'"):
        set_subscriber_topics(db, ann.id, ["Agents", "Robots"])
    assert len(topics_for_subscriber(db, ann.id)) == 4  # unchanged by the failed call
    set_subscriber_topics(db, ann.id, ["Agents"])
    assert [t.name for t in topics_for_subscriber(db, ann.id) if t.kind == "curated"] == ["Agents"]
    with pytest.raises(UsageError, match="empty"):
        add_personal_topic(db, bob.id, text="   ")
    # a personal topic name is per owner: the same name under two owners is fine
    add_personal_topic(db, bob.id, text="x", name="Mine")
    add_personal_topic(db, ann.id, text="y", name="Mine")
    assert get_topic(db, "Mine", kind="personal", owner_id=bob.id).description == "x"
    assert get_topic(db, "Mine") is None  # not a curated topic
    carl = add_subscriber(db, "carl@example.org")
    bulk = topics_by_subscriber(db)
    assert bulk == {s.id: topics_for_subscriber(db, s.id) for s in (ann, bob)}
    assert topics_by_subscriber(db, [carl.id, bob.id]) == {
        carl.id: [],
        bob.id: topics_for_subscriber(db, bob.id),
    }


# --- topics.toml ------------------------------------------------------------------------

GOOD = """\
# curated topics
[[topic]]
name = "LLM agents"
description = "Agents built on large language models."
keywords = ["agent", "tool use"]
seeds = ["2508.13167"]

[[topic]]
name = "AI safety"
keywords = ["jailbreak"]
threshold = 0.3
"""


def test_repo_topics_file_is_valid_and_its_seeds_are_in_the_samples():
    topics = load_topics_file(REPO_TOPICS)
    assert 3 <= len(topics) <= 5
    sample_text = (SAMPLES_DIR / "cs.AI-2025-08-20.atom.xml").read_text(encoding="utf-8")
    for topic in topics:
        assert topic.description, topic.name
        for seed in topic.seed_ids:
            assert seed in sample_text


def test_errors_name_file_line_topic_and_key():
    bad_threshold = GOOD.replace("threshold = 0.3", "threshold = 1.5")
    with pytest.raises(UsageError) as exc:
        parse_topics_text(bad_threshold, "data/topics.toml")
    assert str(exc.value) == (
        "data/topics.toml:11: topic 'AI safety': threshold must be between -1 and 1"
    )

    unknown_key = GOOD.replace(
        'keywords = ["jailbreak"]', 'keywords = ["jailbreak"]\ntreshold = 0.2'
    )
    with pytest.raises(UsageError, match=r"^t.toml:11: topic 'AI safety': unknown key 'treshold'"):
        parse_topics_text(unknown_key, "t.toml")

    wrong_type = GOOD.replace('keywords = ["agent", "tool use"]', 'keywords = "agent"')
    with pytest.raises(UsageError, match=r"^t.toml:5: topic 'LLM agents': keywords must be a list"):
        parse_topics_text(wrong_type, "t.toml")

    empty = GOOD + '\n[[topic]]\nname = "Nothing"\ncategories = ["cs.AI"]\n'
    with pytest.raises(UsageError, match=r"^t.toml:13: topic 'Nothing': topic is empty"):
        parse_topics_text(empty, "t.toml")

    nameless = GOOD + '\n[[topic]]\ndescription = "no name"\n'
    with pytest.raises(UsageError, match=r"^t.toml:13: topic '#3': every topic needs a name"):
        parse_topics_text(nameless, "t.toml")

    duplicate = GOOD + '\n[[topic]]\nname = "llm agents"\nkeywords = ["x"]\n'
    with pytest.raises(
        UsageError, match=r"^t.toml:14: .*duplicate name \(first defined on line 3\)"
    ):
        parse_topics_text(duplicate, "t.toml")

    bad_seed = GOOD.replace('seeds = ["2508.13167"]', 'seeds = ["my favourite paper"]')
    with pytest.raises(UsageError, match=r"^t.toml:6: topic 'LLM agents': seed"):
        parse_topics_text(bad_seed, "t.toml")


def test_every_problem_is_reported_at_once():
    text = GOOD.replace("threshold = 0.3", "threshold = -2").replace(
        'seeds = ["2508.13167"]', 'seeds = ["2508.13167"]\ncolour = "red"'
    )
    with pytest.raises(UsageError) as exc:
        parse_topics_text(text, "t.toml")
    lines = str(exc.value).splitlines()
    assert [line.split(":")[1] for line in lines] == ["7", "12"]


def test_toml_syntax_error_reports_its_line():
    broken = GOOD.replace('name = "AI safety"', 'name = "AI safety')
    with pytest.raises(UsageError, match=r"^t.toml:9: not valid TOML"):
        parse_topics_text(broken, "t.toml")
    with pytest.raises(UsageError, match=r"^t.toml:1: unknown top-level key 'topics'"):
        parse_topics_text('[[topics]]\nname = "x"\n', "t.toml")


def test_sync_is_idempotent_keeps_followers_and_prunes_only_when_asked(db, tmp_path):
    path = tmp_path / "topics.toml"
    path.write_text(GOOD, encoding="utf-8")
    first = sync_topics(db, path)
    assert (first.added, first.updated, first.unchanged) == (["LLM agents", "AI safety"], [], [])
    again = sync_topics(db, path)
    assert (again.added, again.updated, again.unchanged) == ([], [], ["LLM agents", "AI safety"])

    ann = add_subscriber(db, "ann@example.org", topics=["LLM agents", "AI safety"])
    agents_id = get_topic(db, "LLM agents").id
    path.write_text(
        GOOD.replace('keywords = ["jailbreak"]', 'keywords = ["jailbreak"]')
        .replace('"agent", "tool use"', '"agent", "tool use", "web agent"')
        .split('[[topic]]\nname = "AI safety"')[0],
        encoding="utf-8",
    )
    changed = sync_topics(db, path)
    assert changed.updated == ["LLM agents"] and changed.not_in_file == ["AI safety"]
    assert get_topic(db, "LLM agents").keywords == ("agent", "tool use", "web agent")
    assert get_topic(db, "LLM agents").id == agents_id
    assert get_topic(db, "AI safety") is not None  # kept without --prune
    assert [t.name for t in topics_for_subscriber(db, ann.id)] == ["AI safety", "LLM agents"]

    pruned = sync_topics(db, path, prune=True)
    assert pruned.removed == ["AI safety"] and pruned.unfollowed == 1
    assert [t.name for t in topics_for_subscriber(db, ann.id)] == ["LLM agents"]


def test_a_bad_file_changes_nothing(db, tmp_path):
    path = tmp_path / "topics.toml"
    path.write_text(GOOD, encoding="utf-8")
    sync_topics(db, path)
    path.write_text(GOOD.replace("Agents built", "Changed").replace("= 0.3", "= 3"))
    with pytest.raises(UsageError, match="topics.toml:11"):
        sync_topics(db, path, prune=True)
    assert get_topic(db, "LLM agents").description.startswith("Agents built")
    with pytest.raises(UsageError, match="not found"):
        sync_topics(db, tmp_path / "missing.toml")


# --- CLI --------------------------------------------------------------------------------


@pytest.fixture
def cli(make_config, capsys, tmp_path):
    topics_file = tmp_path / "curated.toml"
    topics_file.write_text(GOOD, encoding="utf-8")
    _, config_path = make_config({"ranking": {"topics_file": "curated.toml"}})

    def run(*args: str) -> tuple[int, str, str]:
        return run_cli_in_process(config_path, capsys, *args)

    run.topics_file = topics_file  # type: ignore[attr-defined]
    return run


def test_cli_sync_uses_the_configured_file(cli):
    code, out, err = cli("topics", "sync", "--json")
    assert code == 0, err
    assert json.loads(out)["added"] == ["LLM agents", "AI safety"]
    code, out, _ = cli("topics", "sync")
    assert "0 added, 0 updated, 2 unchanged, 0 removed" in out
    cli.topics_file.write_text(GOOD.replace("= 0.3", "= 9"), encoding="utf-8")
    code, out, err = cli("topics", "sync")
    assert code == 2 and "curated.toml:11: topic 'AI safety': threshold" in err
    cli.topics_file.write_text(GOOD.split('[[topic]]\nname = "AI safety"')[0], encoding="utf-8")
    code, out, err = cli("topics", "sync", "--prune", "--file", str(cli.topics_file))
    assert code == 0 and "1 removed" in out


def test_cli_add_edit_show_list_remove(cli):
    code, out, err = cli(
        "topics",
        "add",
        "Robots",
        "--description",
        "robot learning",
        "--keyword",
        "robot",
        "--keyword",
        "manipulation",
        "--exclude",
        "surgery",
        "--seed",
        "2508.13530v1",
        "--category",
        "cs.RO",
        "--threshold",
        "0.4",
    )
    assert code == 0, err
    code, out, err = cli("topics", "add", "Empty", "--category", "cs.AI")
    assert code == 2 and "'Empty'" in err and "empty" in err
    code, out, err = cli("topics", "add", "Hot", "--keyword", "x", "--threshold", "2")
    assert code == 2 and "between -1 and 1" in err

    code, out, _ = cli(
        "topics",
        "edit",
        "robots",
        "--keyword",
        "robot arm",
        "--no-threshold",
        "--rename",
        "Robotics",
    )
    assert code == 0
    code, out, _ = cli("topics", "show", "ROBOTICS", "--json")
    shown = json.loads(out)
    assert shown["keywords"] == ["robot arm"] and shown["threshold"] is None
    assert shown["exclude"] == ["surgery"] and shown["seeds"] == ["2508.13530"]
    assert shown["categories"] == ["cs.RO"] and shown["subscribers"] == 0

    code, out, _ = cli("subscribers", "add", "ann@example.org", "--topic", "Robotics")
    assert code == 0
    code, out, _ = cli("topics", "list", "--json")
    assert [(t["name"], t["subscribers"]) for t in json.loads(out)] == [("Robotics", 1)]
    code, out, _ = cli("topics", "show", "Robotics")
    assert code == 0 and "robot arm" in out

    code, out, err = cli("topics", "edit", "Nope", "--keyword", "x")
    assert code == 2 and "Nope" in err
    code, out, _ = cli("topics", "remove", "robotics")
    assert code == 0
    code, out, err = cli("topics", "show", "Robotics")
    assert code == 2
    code, out, _ = cli("subscribers", "show", "ann@example.org", "--json")
    assert json.loads(out)["topics"] == []


def test_cli_personal_topics_with_owner(cli):
    assert cli("subscribers", "add", "ann@example.org")[0] == 0
    code, out, err = cli(
        "topics", "add", "Mine", "--description", "graph learning", "--owner", "ann@example.org"
    )
    assert code == 0, err
    code, out, _ = cli("topics", "list", "--personal", "--json")
    assert [(t["name"], t["kind"]) for t in json.loads(out)] == [("Mine", "personal")]
    code, out, err = cli("topics", "show", "Mine")
    assert code == 2  # not a curated topic
    code, out, err = cli(
        "topics", "add", "Mine", "--description", "x", "--owner", "zed@example.org"
    )
    assert code == 2 and "zed@example.org" in err


def test_topic_commands_have_help(cli):
    for command in ("list", "show", "add", "edit", "remove", "sync"):
        code, out, _ = cli("topics", command, "--help")
        assert code == 0 and "Usage" in out and "--" in out


# --- hostile input ----------------------------------------------------------------------


def test_prune_with_an_empty_file_is_refused_and_changes_nothing(db, tmp_path):
    path = tmp_path / "topics.toml"
    path.write_text(GOOD, encoding="utf-8")
    sync_topics(db, path)
    ann = add_subscriber(db, "ann@example.org", topics=["LLM agents"])
    path.write_text("# emptied by a bad merge\n", encoding="utf-8")
    with pytest.raises(UsageError, match="no \\[\\[topic\\]\\] tables: refusing to --prune"):
        sync_topics(db, path, prune=True)
    assert [t.name for t in list_topics(db)] == ["AI safety", "LLM agents"]
    assert [t.name for t in topics_for_subscriber(db, ann.id)] == ["LLM agents"]
    kept = sync_topics(db, path)  # without --prune an empty file only reports
    assert kept.not_in_file == ["AI safety", "LLM agents"] and len(list_topics(db)) == 2
    with pytest.raises(UsageError, match="cannot read the topics file"):
        sync_topics(db, tmp_path, prune=True)  # a directory
    assert len(list_topics(db)) == 2


def test_a_name_of_the_wrong_type_is_one_problem():
    with pytest.raises(UsageError) as exc:
        parse_topics_text('[[topic]]\nname = 5\nkeywords = ["x"]\n', "t.toml")
    assert str(exc.value) == "t.toml:2: topic '#1': name must be a string"


def test_a_name_clash_names_the_stored_topic(db):
    add_topic(db, Topic(name="LLM agents", kind="curated", keywords=("agent",)))
    add_topic(db, Topic(name="Safety", kind="curated", keywords=("safety",)))
    with pytest.raises(UsageError, match="a curated topic named 'LLM agents' already exists"):
        add_topic(db, Topic(name="llm AGENTS", kind="curated", keywords=("x",)))
    with pytest.raises(UsageError, match="a curated topic named 'LLM agents' already exists"):
        update_topic(db, "Safety", name="llm agents")


def test_cli_topic_names_with_brackets_print_verbatim(cli):
    code, out, err = cli("topics", "add", "[/] odd [bold]", "--keyword", "[red]x")
    assert code == 0, err
    assert "added curated topic '[/] odd [bold]'" in out
    code, out, err = cli("topics", "show", "[/] odd [bold]")
    assert code == 0, err
    assert "name: [/] odd [bold]" in out and "keywords: [red]x" in out
    code, out, err = cli("topics", "list")
    assert code == 0 and "[/] odd [bold]" in out
    code, out, err = cli("topics", "edit", "[/] odd [bold]", "--keyword", "y")
    assert code == 0 and "updated curated topic '[/] odd [bold]'" in out
    code, out, err = cli("topics", "sync")
    assert code == 0 and "use --prune to delete): [/] odd [bold]" in err
    code, out, err = cli("topics", "remove", "[/] odd [bold]")
    assert code == 0 and "removed curated topic '[/] odd [bold]'" in out


def test_cli_threshold_and_no_threshold_together_is_a_usage_error(cli):
    assert cli("topics", "sync")[0] == 0
    code, out, err = cli("topics", "edit", "AI safety", "--threshold", "0.2", "--no-threshold")
    assert code == 2 and "choose one of --threshold and --no-threshold" in err
    code, out, err = cli("topics", "edit", "AI safety")
    assert code == 2 and "nothing to change" in err
    code, out, _ = cli("topics", "show", "AI safety", "--json")
    assert json.loads(out)["threshold"] == 0.3


def test_cli_sync_prune_of_an_empty_file_exits_2(cli):
    assert cli("topics", "sync")[0] == 0
    cli.topics_file.write_text("", encoding="utf-8")
    code, out, err = cli("topics", "sync", "--prune")
    assert code == 2 and "refusing to --prune" in err and out == ""
    code, out, _ = cli("topics", "list", "--json")
    assert [t["name"] for t in json.loads(out)] == ["AI safety", "LLM agents"]


def test_curated_names_that_csv_files_or_forms_would_misread_are_refused(db, tmp_path):
    """';' separates topic names in the subscriber CSV; a form value of digits is a topic id."""
    with pytest.raises(UsageError, match="cannot contain ';' or be only digits"):
        add_topic(db, Topic(name="Agents; tools", kind="curated", keywords=("agent",)))
    with pytest.raises(UsageError, match="cannot contain ';' or be only digits"):
        add_topic(db, Topic(name="2025", kind="curated", keywords=("agent",)))
    add_topic(db, Topic(name="Agents", kind="curated", keywords=("agent",)))
    with pytest.raises(UsageError, match="only digits"):
        update_topic(db, "Agents", name="42")
    with pytest.raises(UsageError, match="t.toml:2: topic 'A;B'"):
        parse_topics_text('[[topic]]\nname = "A;B"\nkeywords = ["x"]\n', "t.toml")
    ann = add_subscriber(db, "ann@example.org")
    mine = add_personal_topic(db, ann.id, "2025; my year", name="2025; mine")
    assert mine.name == "2025; mine"  # personal names are never in a CSV cell or a form id


def test_control_characters_never_reach_a_stored_topic(db):
    """A terminal escape in a topic would run in the curator's terminal on `topics show`."""
    topic = add_topic(
        db,
        Topic(
            name="Agents\x1b[2J\x00",
            kind="curated",
            description="tool\x1b]0;pwned\x07 use",
            keywords=("web\x00 agent", "\x1b"),
        ),
    )
    assert (topic.name, topic.description, topic.keywords) == (
        "Agents[2J",
        "tool]0;pwned use",
        ("web agent",),
    )


def test_names_that_are_not_valid_unicode_are_refused_not_crashed_on(db):
    """Lone surrogates (argv bytes from a non-UTF-8 terminal) cannot be stored or looked up."""
    add_topic(db, Topic(name="Agents", kind="curated", keywords=("agent",)))
    with pytest.raises(UsageError, match="not valid UTF-8 text"):
        add_topic(db, Topic(name="Jos\udce9", kind="curated", keywords=("x",)))
    with pytest.raises(UsageError, match="not valid UTF-8 text"):
        update_topic(db, "Agents", keywords=["caf\udce9"])
    assert get_topic(db, "Jos\udce9") is None
    ann = add_subscriber(db, "ann@example.org")
    with pytest.raises(UsageError, match="unknown topic"):
        set_subscriber_topics(db, ann.id, ["Jos\udce9"])
    with pytest.raises(UsageError, match="not valid UTF-8 text"):
        remove_topic(db, "Jos\udce9")
    assert [t.keywords for t in list_topics(db)] == [("agent",)]


def test_non_ascii_names_are_one_topic_in_any_case(db, tmp_path):
    """SQLite's NOCASE folds ASCII only: 'équité' must still find 'Équité', never add a twin."""
    add_topic(db, Topic(name="Équité algorithmique", kind="curated", keywords=("fairness",)))
    with pytest.raises(UsageError, match="'Équité algorithmique' already exists"):
        add_topic(db, Topic(name="ÉQUITÉ ALGORITHMIQUE", kind="curated", keywords=("x",)))
    assert get_topic(db, "équité algorithmique").name == "Équité algorithmique"
    ann = add_subscriber(db, "ann@example.org", topics=["équité ALGORITHMIQUE"])
    assert [t.name for t in topics_for_subscriber(db, ann.id)] == ["Équité algorithmique"]
    path = tmp_path / "topics.toml"
    path.write_text('[[topic]]\nname = "équité algorithmique"\nkeywords = ["fair"]\n', "utf-8")
    report = sync_topics(db, path, prune=True)
    assert (report.added, report.updated, report.removed) == ([], ["équité algorithmique"], [])
    assert [t.name for t in topics_for_subscriber(db, ann.id)] == ["équité algorithmique"]


def test_cli_remove_says_how_many_subscribers_lose_the_topic(cli):
    assert cli("topics", "sync")[0] == 0
    assert cli("subscribers", "add", "ann@example.org", "--topic", "AI safety")[0] == 0
    code, out, err = cli("topics", "remove", "ai safety")
    assert code == 0 and "removed curated topic 'AI safety' (1 subscriber(s) no longer" in out
    code, out, err = cli("topics", "remove", "LLM agents")
    assert code == 0 and out.strip() == "removed curated topic 'LLM agents'"
