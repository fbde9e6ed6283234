"""JSON Lines import: the arXiv metadata snapshot format and a plain format, streamed.

Snapshot (arxiv-metadata-oai-snapshot.json): `id, authors, title, abstract, categories`
(space-separated), `versions` [{version: "v1", created}], `update_date`, `authors_parsed`
[[last, first, suffix]], optional `doi`, `journal-ref`, `comments`, `license`.
Plain: `{id, title, abstract, authors[], categories[], published}`; ids that are not arXiv
ids are stored as given and never get arXiv links. Other keys are ignored.

The file is read line by line as bytes, so memory stays flat for a multi-GB snapshot.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from datetime import UTC
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, Any

from digest.ingest.limits import (
    MAX_ABSTRACT_CHARS,
    MAX_TITLE_CHARS,
    arxiv_id,
    arxiv_id_problem,
    oversize_reason,
)
from digest.models import Paper, SkippedRecord, split_arxiv_id
from digest.textclean import decode_tex_accents, split_authors, strip_invisible

MAX_LINE_BYTES = 16 * 1024 * 1024  # a longer line is skipped, not loaded
MAX_FOREIGN_ID_CHARS = 200
# Ids that are not arXiv's become file names and URL paths of the archive: no '#', '?', '%',
# quotes, spaces or controls, and not only dots (a '..' id would name a directory).
_FOREIGN_ID_RE = re.compile(r"(?![.]+$)[A-Za-z0-9._:/+-]+")


def fast_clean(text: str) -> str:
    """Same result as `textclean.clean_field`, several times faster on long abstracts.

    A 2-million-line snapshot spends most of its parse time squashing whitespace; str.split
    does what the `\\s+` regex does (tests/test_jsonl.py checks they agree).
    """
    cleaned = " ".join(decode_tex_accents(text).split())
    if cleaned.isprintable():  # the usual case: no control, bidi or zero-width character
        return cleaned
    return " ".join(strip_invisible(cleaned).split())


def iter_jsonl(source: str | Path | IO[bytes]) -> Iterator[Paper | SkippedRecord]:
    """One Paper or SkippedRecord per non-blank line, in file order."""
    for _line_no, item in iter_jsonl_numbered(source):
        yield item


def iter_jsonl_numbered(
    source: str | Path | IO[bytes],
) -> Iterator[tuple[int, Paper | SkippedRecord]]:
    """Like `iter_jsonl`, with the 1-based line number of each record (for progress)."""
    if isinstance(source, str | Path):
        path = Path(source)
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as stream:
            yield from _iter_stream(stream)  # type: ignore[arg-type]
    else:
        yield from _iter_stream(source)


def _iter_stream(stream: IO[bytes]) -> Iterator[tuple[int, Paper | SkippedRecord]]:
    line_no = 0
    while True:
        line = stream.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        line_no += 1
        ref = f"line {line_no}"
        newline = b"\n" if isinstance(line, bytes) else "\n"
        if len(line) > MAX_LINE_BYTES and not line.endswith(newline):
            _discard_rest_of_line(stream)
            yield line_no, SkippedRecord(ref, f"line longer than {MAX_LINE_BYTES} bytes")
            continue
        if isinstance(line, bytes):
            if line_no == 1 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield line_no, SkippedRecord(ref, f"not UTF-8 text (byte {exc.start})")
                continue
        else:
            text = line.lstrip("\ufeff") if line_no == 1 else line
        if not text.strip():
            continue
        yield line_no, parse_jsonl_record(text, ref)


def _discard_rest_of_line(stream: IO[bytes]) -> None:
    while True:
        chunk = stream.readline(MAX_LINE_BYTES)
        if not chunk or chunk[-1:] in (b"\n", "\n"):
            return


# JSON escapes that decode to text SQLite, XML or a terminal cannot take: C0 controls other
# than tab/newline/CR, lone UTF-16 surrogates, and the non-characters U+FFFE/U+FFFF.
_UNSAFE_ESCAPE_RE = re.compile(r"\\u(?:00[01]|d[89a-f]|fff[ef])", re.IGNORECASE)
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _scrub(value: Any) -> Any:
    """Strings with controls removed and lone surrogates replaced by U+FFFD, recursively."""
    if isinstance(value, str):
        value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return _CONTROL_RE.sub("", value)
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    if isinstance(value, dict):
        return {key: _scrub(item) for key, item in value.items()}
    return value


def parse_jsonl_record(text: str, ref: str) -> Paper | SkippedRecord:
    """One line of text -> Paper, or SkippedRecord(ref, reason). Never raises."""
    try:
        record = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return SkippedRecord(ref, f"not JSON: {str(exc)[:120]}")
    unsafe = "\\u" in text and _UNSAFE_ESCAPE_RE.search(text)
    if unsafe or "\ufffe" in text or "\uffff" in text:  # rare: only then walk the record
        try:
            record = _scrub(record)
        except RecursionError:
            return SkippedRecord(ref, "nested too deeply")
    if not isinstance(record, dict):
        return SkippedRecord(ref, f"not a JSON object (got {type(record).__name__})")
    try:
        if _is_snapshot(record):
            return _snapshot_paper(record, ref)
        return _plain_paper(record, ref)
    except _BadField as exc:
        return SkippedRecord(ref, str(exc))


class _BadField(Exception):
    pass


def _is_snapshot(record: dict[str, Any]) -> bool:
    return (
        "versions" in record
        or "authors_parsed" in record
        or isinstance(record.get("categories"), str)
    )


def _required_text(record: dict[str, Any], key: str, limit: int) -> str:
    value = record.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _BadField(f"missing {key}")
    if not isinstance(value, str):
        raise _BadField(f"{key} must be a string, got {type(value).__name__}")
    cleaned = fast_clean(value)
    if not cleaned:
        raise _BadField(f"missing {key}")
    if len(cleaned) > limit:
        raise _BadField(f"{key} is {len(cleaned):,} characters, over {limit:,}: not a {key}")
    return cleaned


def _optional_text(record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    if isinstance(value, str) and value.strip():
        return " ".join(strip_invisible(value).split()) or None
    return None


def _raw_id(record: dict[str, Any]) -> str:
    value = record.get("id")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise _BadField("missing id" if value is None or value == "" else "id must be a string")
    return value.strip()


# ---------------------------------------------------------------- snapshot format


def _snapshot_paper(record: dict[str, Any], ref: str) -> Paper:
    raw_id = _raw_id(record)
    split = arxiv_id(raw_id)
    if split is None:
        raise _BadField(f"id {raw_id[:80]!r} is not an arXiv id (snapshot format)")
    base, id_version = split
    title = _required_text(record, "title", MAX_TITLE_CHARS)
    abstract = _required_text(record, "abstract", MAX_ABSTRACT_CHARS)
    categories_value = record.get("categories")
    if isinstance(categories_value, str):
        categories = tuple(dict.fromkeys(strip_invisible(categories_value).split()))
    elif isinstance(categories_value, list):
        categories = _string_list(categories_value, "categories")
    else:
        categories = ()
    version, published, updated = _versions(record.get("versions"))
    if updated is None:
        updated = _optional_text(record, "update_date")
    return Paper(
        id=base,
        title=title,
        abstract=abstract,
        authors=_bounded_authors(_snapshot_authors(record)),
        categories=categories,
        primary_category=categories[0] if categories else None,
        version=version or id_version,
        published=published,
        updated=updated,
        license=_optional_text(record, "license"),
        doi=_optional_text(record, "doi"),
        journal_ref=_optional_text(record, "journal-ref"),
        comments=_optional_text(record, "comments"),
        is_arxiv=True,
    )


def _versions(value: object) -> tuple[int | None, str | None, str | None]:
    """(highest version, v1 created, highest version created) from the `versions` list."""
    if not isinstance(value, list):
        return None, None, None
    dated: dict[int, str | None] = {}
    for item in value:
        if not isinstance(item, dict):
            continue
        label = item.get("version")
        if not isinstance(label, str) or not label.startswith("v") or not label[1:].isdigit():
            continue
        if len(label) > 6:
            continue
        dated[int(label[1:])] = _rfc2822_to_iso(item.get("created"))
    if not dated:
        return None, None, None
    highest = max(dated)
    return highest, dated.get(1), dated[highest]


def _rfc2822_to_iso(value: object) -> str | None:
    """`Mon, 2 Apr 2007 19:18:42 GMT` -> `2007-04-02T19:18:42Z` (None when unreadable)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _snapshot_authors(record: dict[str, Any]) -> tuple[str, ...]:
    parsed = record.get("authors_parsed")
    if isinstance(parsed, list) and parsed:
        names: list[str] = []
        for item in parsed:
            if not isinstance(item, list) or not all(isinstance(p, str) for p in item):
                names = []
                break
            last, first, suffix = (list(item) + ["", "", ""])[:3]
            name = fast_clean(" ".join(p for p in (first, last, suffix) if p.strip()))
            if name:
                names.append(name)
        if names:
            return tuple(names)
    authors = record.get("authors")
    if isinstance(authors, str):
        return tuple(split_authors(authors))
    if isinstance(authors, list):
        return _author_list(authors)
    return ()


# ---------------------------------------------------------------- plain format


def _plain_paper(record: dict[str, Any], ref: str) -> Paper:
    raw_id = _raw_id(record)
    title = _required_text(record, "title", MAX_TITLE_CHARS)
    abstract = _required_text(record, "abstract", MAX_ABSTRACT_CHARS)
    split = arxiv_id(raw_id)
    shaped = split_arxiv_id(raw_id) if split is None else None
    if shaped is not None:
        raise _BadField(
            f"id {raw_id[:80]!r} is not a usable arXiv id ({arxiv_id_problem(*shaped)})"
        )
    if split is None:
        if len(raw_id) > MAX_FOREIGN_ID_CHARS or not _FOREIGN_ID_RE.fullmatch(raw_id):
            raise _BadField(
                f"id {raw_id[:80]!r} is not an arXiv id and not a plain id (letters, digits "
                f"and . _ : / + - only, at most {MAX_FOREIGN_ID_CHARS} characters)"
            )
        paper_id, version, is_arxiv = raw_id, None, False
    else:
        paper_id, version, is_arxiv = split[0], split[1], True
    explicit_version = record.get("version")
    if (
        isinstance(explicit_version, int)
        and not isinstance(explicit_version, bool)
        and 0 < explicit_version < 10_000
    ):
        version = explicit_version
    authors_value = record.get("authors")
    if isinstance(authors_value, str):
        authors = tuple(split_authors(authors_value))
    elif isinstance(authors_value, list):
        authors = _author_list(authors_value)
    else:
        authors = ()
    categories_value = record.get("categories")
    if isinstance(categories_value, list):
        categories = _string_list(categories_value, "categories")
    else:
        categories = ()
    primary = _optional_text(record, "primary_category") or (categories[0] if categories else None)
    if primary and primary not in categories:
        categories = (primary, *categories)
    return Paper(
        id=paper_id,
        title=title,
        abstract=abstract,
        authors=_bounded_authors(authors),
        categories=categories,
        primary_category=primary if categories else None,
        version=version,
        published=_optional_text(record, "published"),
        updated=_optional_text(record, "updated"),
        license=_optional_text(record, "license"),
        doi=_optional_text(record, "doi"),
        journal_ref=_optional_text(record, "journal_ref") or _optional_text(record, "journal-ref"),
        comments=_optional_text(record, "comments"),
        is_arxiv=is_arxiv,
    )


def _string_list(values: list[Any], key: str) -> tuple[str, ...]:
    if not all(isinstance(v, str) for v in values):
        raise _BadField(f"{key} must be a list of strings")
    cleaned = (" ".join(strip_invisible(v).split()) for v in values)
    return tuple(dict.fromkeys(v for v in cleaned if v))


def _bounded_authors(names: tuple[str, ...]) -> tuple[str, ...]:
    """Each author becomes a row and an archive page: refuse what no paper has."""
    reason = oversize_reason("", "", names)
    if reason:
        raise _BadField(reason)
    return names


def _author_list(values: list[Any]) -> tuple[str, ...]:
    if not all(isinstance(v, str) for v in values):
        raise _BadField("authors must be a list of strings")
    return tuple(name for name in (fast_clean(v) for v in values) if name)
