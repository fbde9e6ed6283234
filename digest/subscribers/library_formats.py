"""Reading a reference library: BibTeX, RIS or CSL-JSON as Zotero, Mendeley, JabRef or Google
Scholar export them, into plain entries (title, arXiv id, DOI). Pure: bytes in, entries out.

BibTeX goes through bibtexparser, RIS through rispy, CSL-JSON through `json`. The text is
decoded first (a UTF-8 or UTF-16 byte-order mark, UTF-16 without one, else UTF-8, else
Latin-1), and the format is told from the content, not the file name. A file that is none of
the three, or holds no usable entry, is one `UsageError` naming the problem.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from digest.errors import UsageError
from digest.ingest.limits import arxiv_id_problem
from digest.models import split_arxiv_id
from digest.textclean import decode_tex_accents, squash_whitespace, strip_invisible

MAX_LIBRARY_BYTES = 20 * 2**20  # a 10,000-entry Zotero export with abstracts is ~15 MB
MAX_LIBRARY_ENTRIES = 20_000
MAX_TITLE_CHARS = 1_000
FORMATS = ("bibtex", "ris", "csl-json")

_NEW_ID = r"\d{4}\.\d{4,5}(?:v\d+)?"
_OLD_ID = r"[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7}(?:v\d+)?"
_ANY_ID = rf"(?P<id>{_NEW_ID}|{_OLD_ID})"
# Where an arXiv id sits in an exported entry: its DOI, an arxiv.org URL, "arXiv:2401.00001"
# (Google Scholar's journal field, Zotero's number and extra), "arXiv preprint 2401.00001".
_ID_IN_TEXT = (
    re.compile(rf"10\.48550/arxiv\.{_ANY_ID}", re.IGNORECASE),
    re.compile(rf"arxiv\.org/(?:abs|pdf|html)/{_ANY_ID}", re.IGNORECASE),
    re.compile(rf"\barxiv(?:\s+preprint)?\s*[:\s]\s*{_ANY_ID}", re.IGNORECASE),
)
_BARE_ID = re.compile(rf"^\s*(?:arxiv:)?{_ANY_ID}\s*$", re.IGNORECASE)
_DOI = re.compile(r"\b(10\.\d{4,9}/\S+)")
_RIS_TAG = re.compile(r"^(?:\ufeff)?TY  - ", re.MULTILINE)
_BIBTEX_ENTRY = re.compile(r"^\s*@\s*[A-Za-z]+\s*[{(]", re.MULTILINE)


@dataclass(frozen=True)
class LibraryEntry:
    """One reference as the file has it; `ref` says where it is (citation key, entry number)."""

    position: int
    ref: str
    title: str
    arxiv_id: str | None = None  # base id, no version
    doi: str | None = None  # lower-cased, no resolver prefix


@dataclass
class ParsedLibrary:
    format: str
    entries: list[LibraryEntry] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "entry 7 (key): why", for the report


# ---------------------------------------------------------------- bytes to text


def decode_library(raw: bytes) -> str:
    """The file's text: BOMs honoured, UTF-16 without a BOM recognised by its zero bytes."""
    for bom, codec in (
        (b"\xef\xbb\xbf", "utf-8"),
        (b"\xff\xfe\x00\x00", "utf-32-le"),
        (b"\x00\x00\xfe\xff", "utf-32-be"),
        (b"\xff\xfe", "utf-16-le"),
        (b"\xfe\xff", "utf-16-be"),
    ):
        if raw.startswith(bom):
            return _decode(raw[len(bom) :], codec)
    head = raw[:4096]
    if head and head.count(b"\x00") > len(head) // 4:  # UTF-16 text without its mark
        codec = "utf-16-le" if head[1:2] == b"\x00" else "utf-16-be"
        try:
            return raw.decode(codec)
        except UnicodeDecodeError as exc:
            raise UsageError(
                "this is a binary file, not a BibTeX, RIS or CSL-JSON library"
            ) from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # old JabRef/BibTeX files; every byte decodes


def _decode(raw: bytes, codec: str) -> str:
    try:
        return raw.decode(codec)
    except UnicodeDecodeError as exc:
        raise UsageError(f"the file starts like {codec} text but is not ({exc.reason})") from exc


# ---------------------------------------------------------------- the entry point


def parse_library(raw: bytes) -> ParsedLibrary:
    """Entries of a BibTeX, RIS or CSL-JSON file; UsageError when it is none of them."""
    if len(raw) > MAX_LIBRARY_BYTES:
        raise UsageError(
            f"the file is {len(raw) / 2**20:.1f} MB; a library file can be at most "
            f"{MAX_LIBRARY_BYTES // 2**20} MB (export a collection rather than everything)"
        )
    text = decode_library(raw).lstrip("\ufeff")
    if "\x00" in text:
        raise UsageError("this is a binary file, not a BibTeX, RIS or CSL-JSON library")
    kind = detect_format(text)
    if kind is None:
        raise UsageError(
            "this file is not a BibTeX (.bib), RIS (.ris) or CSL-JSON (.json) library: "
            "export your library in one of these formats (Zotero: File > Export Library)"
        )
    reader = {"bibtex": _bibtex_records, "ris": _ris_records, "csl-json": _csl_records}[kind]
    parsed = ParsedLibrary(kind)
    for position, (ref, fields) in enumerate(reader(text), start=1):
        if position > MAX_LIBRARY_ENTRIES:
            raise UsageError(
                f"the file holds more than {MAX_LIBRARY_ENTRIES:,} entries; "
                "export a collection rather than everything"
            )
        entry_or_reason = entry_from_fields(position, ref, fields)
        if isinstance(entry_or_reason, str):
            parsed.skipped.append(entry_or_reason)
        else:
            parsed.entries.append(entry_or_reason)
    if not parsed.entries:
        why = f" ({parsed.skipped[0]})" if parsed.skipped else ""
        raise UsageError(f"no usable entry in this {kind} file{why}")
    return parsed


def detect_format(text: str) -> str | None:
    """bibtex | ris | csl-json, from the content; None when it looks like none of them."""
    stripped = text.lstrip()
    if stripped[:1] in ("[", "{"):
        try:
            value = json.loads(stripped)
        except ValueError:
            value = None
        if _csl_items(value) is not None:
            return "csl-json"
    if _RIS_TAG.search(text[:100_000]):
        return "ris"
    if _BIBTEX_ENTRY.search(text):
        return "bibtex"
    return None


# ---------------------------------------------------------------- the three formats


def _bibtex_records(text: str) -> Iterator[tuple[str, dict[str, object]]]:
    import bibtexparser
    from bibtexparser.model import Entry, ParsingFailedBlock

    # bibtexparser logs each block it cannot parse; those are reported by us, not on stderr
    logger = logging.getLogger("bibtexparser")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        library = bibtexparser.parse_string(text)
    finally:
        logger.setLevel(level)
    for block in library.blocks:
        if isinstance(block, Entry):
            fields = {f.key.lower(): f.value for f in block.fields}
            yield f"@{block.entry_type}{{{block.key}}}", fields
        elif isinstance(block, ParsingFailedBlock) and "@" in (block.raw or ""):
            line = block.start_line
            where = f"line {line + 1}" if isinstance(line, int) else "a block"
            yield f"BibTeX {where}", {"_error": "could not be read as a BibTeX entry"}


def _ris_records(text: str) -> Iterator[tuple[str, dict[str, object]]]:
    import rispy

    try:
        records = rispy.loads(text, skip_unknown_tags=False, enforce_list_tags=False)
    except (OSError, ValueError, KeyError) as exc:
        raise UsageError(f"this RIS file cannot be read: {exc}") from exc
    for number, record in enumerate(records, start=1):
        ref = str(record.get("id") or f"RIS record {number}")
        yield ref, {k: v for k, v in record.items()}


def _csl_items(value: object) -> list | None:
    """The item list of CSL-JSON (a list of objects, or Zotero's {"items": [...]})."""
    if isinstance(value, dict) and isinstance(value.get("items"), list):
        value = value["items"]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        if any("title" in v or "type" in v for v in value):
            return value
    return None


def _csl_records(text: str) -> Iterator[tuple[str, dict[str, object]]]:
    items = _csl_items(json.loads(text.lstrip())) or []
    for number, item in enumerate(items, start=1):
        yield str(item.get("id") or f"item {number}"), {str(k).lower(): v for k, v in item.items()}


# ---------------------------------------------------------------- fields to an entry

_TITLE_FIELDS = ("title", "primary_title", "translated_title", "short_title", "shorttitle")
_DOI_FIELDS = ("doi",)
_EPRINT_FIELDS = ("eprint", "arxivid", "arxiv")


def entry_from_fields(position: int, ref: str, fields: dict[str, object]) -> LibraryEntry | str:
    """One entry, or the reason it is skipped ("entry 4 (@misc{x}): no title")."""
    where = f"entry {position} ({ref[:80]})"
    if "_error" in fields:
        return f"{where}: {fields['_error']}"
    texts = dict(_field_texts(fields))
    title = next((clean_title(texts[k]) for k in _TITLE_FIELDS if texts.get(k)), "")
    arxiv = _arxiv_id_of(texts)
    doi = next((d for k in _DOI_FIELDS if (d := normalise_doi(texts.get(k, ""))) is not None), None)
    if doi is not None and arxiv is None:
        arxiv = _arxiv_from_text(doi)
    if len(title) > MAX_TITLE_CHARS:
        return f"{where}: a title of {len(title):,} characters is not a title"
    if not title and arxiv is None and doi is None:
        return f"{where}: no title, arXiv id or DOI to match it by"
    return LibraryEntry(position, ref, title, arxiv, doi)


def _field_texts(fields: dict[str, object]) -> Iterator[tuple[str, str]]:
    """(field, text) pairs; list values (RIS urls, CSL titles) joined, nested ones skipped."""
    for key, value in fields.items():
        if isinstance(value, str):
            yield key, value
        elif isinstance(value, list | tuple):
            yield key, " ".join(v for v in value if isinstance(v, str))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            yield key, str(value)


def _arxiv_id_of(texts: dict[str, str]) -> str | None:
    """The entry's arXiv id: an eprint field first, then any id written out in a field."""
    for key in _EPRINT_FIELDS:
        match = _BARE_ID.match(texts.get(key, ""))
        if match and (found := _valid_id(match.group("id"))):
            return found
    return next((found for text in texts.values() if (found := _arxiv_from_text(text))), None)


def _arxiv_from_text(text: str) -> str | None:
    if "arxiv" not in text.lower():
        return None
    for pattern in _ID_IN_TEXT:
        for match in pattern.finditer(text):
            if found := _valid_id(match.group("id")):
                return found
    return None


def _valid_id(raw: str) -> str | None:
    split = split_arxiv_id(raw)
    if split is None or arxiv_id_problem(*split):
        return None
    return split[0]


def normalise_doi(text: str) -> str | None:
    """ "https://doi.org/10.1000/X" -> "10.1000/x" (DOIs are case-insensitive)."""
    match = _DOI.search(text.strip())
    if not match:
        return None
    return match.group(1).rstrip(".,;)}").lower()


# ---------------------------------------------------------------- titles

_BRACES = re.compile(r"[{}]")
_MATH_OR_COMMAND = re.compile(r"[\\$]")


def clean_title(raw: str) -> str:
    """A title for people: LaTeX decoded (pylatexenc: accents, math, commands), braces and
    invisible characters gone, whitespace squashed."""
    text = strip_invisible(raw)
    if _MATH_OR_COMMAND.search(text):
        text = _latex_to_text(text)
    return squash_whitespace(_BRACES.sub("", text))


@lru_cache(maxsize=1)
def _latex_converter():
    from pylatexenc.latex2text import LatexNodes2Text

    return LatexNodes2Text(math_mode="text")


def _latex_to_text(text: str) -> str:
    try:
        return _latex_converter().latex_to_text(text)
    except Exception:  # noqa: BLE001  (pylatexenc raises many kinds on broken TeX)
        return decode_tex_accents(text).replace("$", "")


_WORD = re.compile(r"[^\W_]+")


def title_key(title: str) -> str:
    """The matching key of a title: accents folded, case folded, TeX commands and punctuation
    gone, words joined by one space. Cheap: it runs over every stored title."""
    text = _latex_to_text(title) if _MATH_OR_COMMAND.search(title) else title
    if not text.isascii():  # most titles are: no accents to fold
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(_WORD.findall(text.casefold()))
