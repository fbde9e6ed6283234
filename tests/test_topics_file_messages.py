"""topics.toml mistakes a curator makes, each named by the line to change and what to write."""

from __future__ import annotations

import pytest

from digest.errors import UsageError
from digest.topics.toml_file import parse_topics_text

GOOD = """\
# curated topics
[[topic]]
name = "LLM agents"
keywords = ["agent"]

[[topic]]
name = "Safety"
keywords = ["jailbreak"]
threshold = 0.3
"""


def _error(text: str) -> str:
    with pytest.raises(UsageError) as caught:
        parse_topics_text(text, "t.toml")
    return str(caught.value)


def test_a_misspelt_key_suggests_the_right_one():
    assert _error(GOOD.replace("threshold", "treshold")) == (
        "t.toml:9: topic 'Safety': unknown key 'treshold' (did you mean 'threshold'?)"
    )
    assert "did you mean 'keywords'?" in _error(
        GOOD.replace('keywords = ["agent"]', 'keyword = ["a"]')
    )
    assert "(known: name, description" in _error(GOOD.replace("threshold", "colour"))


def test_single_brackets_and_a_plural_table_point_at_their_line():
    assert _error(GOOD.replace('[[topic]]\nname = "Safety"', '[topic]\nname = "Safety"')) == (
        "t.toml:6: write [[topic]] (two brackets) to start each topic, not [topic]"
    )
    assert _error('[topic]\nname = "x"\nkeywords = ["y"]\n').startswith("t.toml:1: write [[topic]]")
    assert _error(GOOD.replace('[[topic]]\nname = "Safety"', '[[topics]]\nname = "Safety"')) == (
        "t.toml:6: unknown top-level key 'topics' (each topic is a [[topic]] table)"
    )


def test_several_problems_are_listed_in_file_order():
    text = GOOD.replace("threshold = 0.3", "threshold = 2").replace(
        'name = "LLM agents"', 'title = "LLM agents"'
    )
    lines = [line.split(":")[1] for line in _error(text).splitlines()]
    assert lines == sorted(lines, key=int) and len(lines) == 3


def test_toml_errors_say_the_line_once_and_what_to_change():
    assert _error(GOOD.replace('keywords = ["agent"]', 'keywords = ["agent"')) == (
        "t.toml:6: not valid TOML: Unclosed array (column 1)"
    )
    twice = _error(GOOD.replace("threshold = 0.3", "threshold = 0.3\nthreshold = 0.4"))
    assert twice.startswith("t.toml:10: not valid TOML: Cannot overwrite a value: a key is set")
    assert _error(GOOD.replace("threshold = 0.3", 'threshold = "0.3"')) == (
        "t.toml:9: topic 'Safety': threshold must be a number, got '0.3' "
        "(write threshold = 0.3, without quotes)"
    )


def test_a_file_saved_with_a_bom_and_crlf_lines_loads(tmp_path):
    from digest.topics.toml_file import load_topics_file

    path = tmp_path / "topics.toml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.replace("\n", "\r\n").encode())
    assert [t.name for t in load_topics_file(path)] == ["LLM agents", "Safety"]
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.replace("threshold", "treshold").encode())
    with pytest.raises(UsageError, match=r"topics.toml:9: topic 'Safety': unknown key 'treshold'"):
        load_topics_file(path)


def test_a_single_string_where_a_list_belongs_shows_the_list_to_write():
    assert _error(GOOD.replace('keywords = ["jailbreak"]', 'keywords = "jailbreak"')) == (
        "t.toml:8: topic 'Safety': keywords must be a list of strings "
        '(write keywords = ["jailbreak"])'
    )
