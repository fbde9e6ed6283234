"""The curated topics file (`data/topics.toml`): parse with line-precise errors, then sync.

Format: one `[[topic]]` table per topic with `name` and any of `description`, `keywords`,
`exclude`, `seeds`, `authors`, `categories`, `threshold`, `venues`, `has_code`. Errors read
`data/topics.toml:14: topic 'LLM agents': threshold must be between -1 and 1`.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digest.errors import UsageError
from digest.models import Topic
from digest.store import topics as store
from digest.store.db import transaction
from digest.topics.catalog import TopicProblem, seed_problem, unstored_seeds, validate_topic

# File key -> Topic field.
FILE_KEYS = {
    "name": "name",
    "description": "description",
    "keywords": "keywords",
    "exclude": "exclude",
    "seeds": "seed_ids",
    "authors": "authors",
    "categories": "categories",
    "threshold": "threshold",
    "venues": "venues",  # only papers from these venues (code/venue badges)
    "has_code": "has_code",  # only papers that link their code
}
_LIST_KEYS = ("keywords", "exclude", "seeds", "authors", "categories", "venues")
_TABLE_RE = re.compile(r"^\s*\[\[\s*topic\s*\]\]\s*(?:#.*)?$")
_SINGLE_TABLE_RE = re.compile(r"^\s*\[\s*topic\s*\]\s*(?:#.*)?$")
_HEADER_RE = re.compile(r"^\s*\[")
_KEY_RE = re.compile(r"^\s*([A-Za-z0-9_\-]+|\"[^\"]*\"|'[^']*')\s*=")
_TOML_LINE_RE = re.compile(r"\s*\(at line (\d+), column (\d+)\)")


@dataclass
class _Locator:
    """Where each [[topic]] table and each key in it starts, from a plain line scan."""

    table_lines: list[int] = field(default_factory=list)
    key_lines: list[dict[str, int]] = field(default_factory=list)

    @classmethod
    def scan(cls, text: str) -> _Locator:
        found = cls()
        inside = False
        for number, line in enumerate(text.splitlines(), start=1):
            if _TABLE_RE.match(line):
                found.table_lines.append(number)
                found.key_lines.append({})
                inside = True
            elif _HEADER_RE.match(line) and not _KEY_RE.match(line):
                inside = False
            elif inside:
                match = _KEY_RE.match(line)
                if match:
                    found.key_lines[-1].setdefault(match.group(1).strip("\"'"), number)
        return found

    def line(self, index: int, key: str | None = None) -> int:
        if index >= len(self.table_lines):
            return 1
        if key is not None and key in self.key_lines[index]:
            return self.key_lines[index][key]
        return self.table_lines[index]


def _did_you_mean(key: str) -> str:
    close = difflib.get_close_matches(key.lower(), FILE_KEYS, n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (known: {', '.join(FILE_KEYS)})"


def _top_level_line(text: str, key: str) -> int:
    """The line that sets a top-level key or opens a table of that name (1 if not found)."""
    pattern = re.compile(rf"^\s*(\[\[?\s*{re.escape(key)}\s*[\].]|{re.escape(key)}\s*=)")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.match(line):
            return number
    return 1


def _toml_problem(exc: tomllib.TOMLDecodeError, text: str, source: str) -> str:
    """`file:line: not valid TOML: <what> (column N)`, with a hint for a key set twice."""
    message = str(exc)
    match = _TOML_LINE_RE.search(message)
    line = match.group(1) if match else str(max(1, len(text.splitlines())))
    what = _TOML_LINE_RE.sub("", message)
    where = f" (column {match.group(2)})" if match else ""
    if what.startswith("Cannot overwrite a value"):
        what += ": a key is set twice in one [[topic]]"
    return f"{source}:{line}: not valid TOML: {what}{where}"


def _refuse_single_brackets(text: str, source: str) -> None:
    """`[topic]` (one bracket) is a TOML table, not an array entry; tomllib's own message for
    it ('Cannot overwrite a value', at the next topic) does not say what to change."""
    for number, line in enumerate(text.splitlines(), start=1):
        if _SINGLE_TABLE_RE.match(line):
            raise UsageError(
                f"{source}:{number}: write [[topic]] (two brackets) to start each topic, not [topic]"
            )


def _display(path: Path) -> str:
    """Relative to the working directory when inside it; from '/' (a service's default
    directory) that would read 'srv/digest/...', so absolute there."""
    cwd = Path.cwd().resolve()
    try:
        return str(path.resolve().relative_to(cwd)) if cwd.parent != cwd else str(path.resolve())
    except ValueError:
        return str(path)


def parse_topics_text(text: str, source: str = "topics.toml") -> list[Topic]:
    """Parse and validate the file's text; every problem is reported as `source:line: ...`."""
    return [topic for topic, _ in _parse_located(text, source)]


def _parse_located(text: str, source: str) -> list[tuple[Topic, int]]:
    """The topics, each with the line of its `seeds` key (its table's line when it has none)."""
    _refuse_single_brackets(text, source)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(_toml_problem(exc, text, source)) from None
    locate = _Locator.scan(text)
    problems: list[str] = []
    for key in raw:
        if key != "topic":
            problems.append(
                f"{source}:{_top_level_line(text, key)}: unknown top-level key {key!r} "
                "(each topic is a [[topic]] table)"
            )
    tables = raw.get("topic", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        problems.append(f"{source}:1: 'topic' must be [[topic]] tables")
        tables = []
    topics: list[tuple[Topic, int]] = []
    seen: dict[str, int] = {}
    for index, table in enumerate(tables):
        name = table.get("name")
        label = name if isinstance(name, str) and name.strip() else f"#{index + 1}"

        def problem(key: str | None, message: str, index: int = index, label: str = label) -> None:
            problems.append(f"{source}:{locate.line(index, key)}: topic {label!r}: {message}")

        bad = False
        for key, value in table.items():
            if key not in FILE_KEYS:
                problem(key, f"unknown key {key!r}{_did_you_mean(key)}")
                bad = True
            elif key in _LIST_KEYS and not (
                isinstance(value, list) and all(isinstance(v, str) for v in value)
            ):
                hint = f" (write {key} = [{json.dumps(value)}])" if isinstance(value, str) else ""
                problem(key, f"{key} must be a list of strings{hint}")
                bad = True
            elif key in ("name", "description") and not isinstance(value, str):
                problem(key, f"{key} must be a string")
                bad = True
        if name is None or (isinstance(name, str) and not name.strip()):
            problem("name", "every topic needs a name")
            continue
        if bad:
            continue
        values: dict[str, Any] = {
            FILE_KEYS[key]: tuple(v) if isinstance(v, list) else v for key, v in table.items()
        }
        try:
            topic = validate_topic(Topic(kind="curated", **values))
        except TopicProblem as exc:
            file_key = next((k for k, f in FILE_KEYS.items() if f == exc.field), exc.field)
            problem(file_key, exc.detail)
            continue
        if topic.name.lower() in seen:
            problem("name", f"duplicate name (first defined on line {seen[topic.name.lower()]})")
            continue
        seen[topic.name.lower()] = locate.line(index, "name")
        topics.append((topic, locate.line(index, "seeds")))
    if problems:  # in file order
        problems.sort(key=lambda text: int(text[len(source) + 1 :].split(":", 1)[0]))
        raise UsageError("\n".join(problems))
    return topics


def load_topics_file(path: str | Path) -> list[Topic]:
    """Read and validate a topics file; a missing file or any bad line -> UsageError."""
    return [topic for topic, _ in _load_located(path)]


def _load_located(path: str | Path) -> list[tuple[Topic, int]]:
    file_path = Path(path)
    shown = _display(file_path)
    try:
        text = file_path.read_text(encoding="utf-8-sig")  # a BOM from a Windows editor
    except FileNotFoundError:
        raise UsageError(f"{shown}: topics file not found") from None
    except UnicodeDecodeError:
        raise UsageError(f"{shown}: not UTF-8 text") from None
    except OSError as exc:
        raise UsageError(f"{shown}: cannot read the topics file ({exc.strerror or exc})") from None
    return _parse_located(text, source=shown)


@dataclass
class SyncReport:
    """What a sync changed, by topic name."""

    file: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    not_in_file: list[str] = field(default_factory=list)  # kept because --prune was not given
    unfollowed: int = 0  # subscriptions that went with the removed topics

    def as_dict(self) -> dict:
        return {
            "file": self.file,
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "not_in_file": self.not_in_file,
            "unfollowed": self.unfollowed,
        }


def _same(stored: Topic, wanted: Topic) -> bool:
    return stored == Topic(**{**wanted.__dict__, "id": stored.id})


def _check_new_seeds(db, located: list[tuple[Topic, int]], source: str) -> None:
    """A seed written into the file that the archive does not hold would silently count for
    nothing (a typo, most often): refuse it. Seeds already stored with the topic stay allowed."""
    problems = []
    for topic, line in located:
        stored = store.get_topic(db, topic.name, kind="curated")
        known = set(stored.seed_ids) if stored is not None else set()
        missing = unstored_seeds(db, [s for s in topic.seed_ids if s not in known])
        if missing:
            problems.append(f"{source}:{line}: topic {topic.name!r}: {seed_problem(missing)}")
    if problems:
        raise UsageError("\n".join(problems))


def sync_topics(db, path: str | Path, *, prune: bool = False) -> SyncReport:
    """Upsert the file's curated topics in one transaction (ids, hence followers, are kept).

    Curated topics missing from the file are removed only with `prune`; else reported.
    A renamed topic is a removal plus an addition, so its followers are lost on prune.
    """
    located = _load_located(path)
    topics = [topic for topic, _ in located]
    report = SyncReport(file=_display(Path(path)))
    if prune and not topics:
        raise UsageError(
            f"{report.file} has no [[topic]] tables: refusing to --prune every curated topic"
        )
    wanted = {t.name.lower() for t in topics}
    with transaction(db):
        _check_new_seeds(db, located, report.file)
        for topic in topics:
            stored = store.get_topic(db, topic.name, kind="curated")
            if stored is None:
                store.insert_topic(db, topic)
                report.added.append(topic.name)
            elif _same(stored, topic):
                report.unchanged.append(topic.name)
            else:
                assert stored.id is not None
                store.update_topic_row(db, stored.id, topic)
                report.updated.append(topic.name)
        for stored in store.list_topics(db, kind="curated"):
            if stored.name.lower() in wanted:
                continue
            if prune:
                assert stored.id is not None
                report.unfollowed += len(store.subscribers_following(db, stored.id))
                store.delete_topic(db, stored.id)
                report.removed.append(stored.name)
            else:
                report.not_in_file.append(stored.name)
    return report
