"""Pure text clean-up for arXiv metadata: TeX accents, whitespace, author names."""

from __future__ import annotations

import re
import unicodedata

# \'e  \"{o}  \`a  \^o  \~n  \c{c}  \v{s}  \u{a}  \H{o}  \k{a}  \.{z}  \={a}  \r{a}  \d{o}  \b{a}
_ACCENTS = {
    "'": "\u0301",
    "`": "\u0300",
    "^": "\u0302",
    '"': "\u0308",
    "~": "\u0303",
    "=": "\u0304",
    ".": "\u0307",
    "u": "\u0306",
    "v": "\u030c",
    "H": "\u030b",
    "c": "\u0327",
    "k": "\u0328",
    "r": "\u030a",
    "d": "\u0323",  # dot below: Tolúl\d{o}pé -> Tolúlọpé
    "b": "\u0331",  # macron below
}
_ACCENT_RE = re.compile(
    r"""\\(?P<cmd>['`^"~=.]|[uvHckrdb](?=[{\s]))\s*(?:\{\s*(?P<braced>\\?[A-Za-z])\s*\}|(?P<bare>\\?[A-Za-z]))"""
)
_LETTERS = {
    r"\o": "ø",
    r"\O": "Ø",
    r"\l": "ł",
    r"\L": "Ł",
    r"\ss": "ß",
    r"\ae": "æ",
    r"\AE": "Æ",
    r"\oe": "œ",
    r"\OE": "Œ",
    r"\aa": "å",
    r"\AA": "Å",
    r"\i": "ı",
    r"\j": "ȷ",
}
_LETTER_RE = re.compile(r"\\(ss|ae|AE|oe|OE|aa|AA|o|O|l|L|i|j)(?![A-Za-z])(?:\{\})?")
_WS_RE = re.compile(r"\s+")
# Characters that change how text around them is shown without being text: C0/C1 controls
# other than whitespace (NUL, terminal escapes, backspace), DEL, bidi embeddings, overrides,
# isolates and marks (U+202E turns "gnp.exe" into "exe.png" and flips the rest of a line in
# an email or page), zero-width space, word joiner, BOM and the non-characters U+FFFE/U+FFFF.
# The zero-width (non-)joiners stay: emoji sequences and Persian or Indic names need them.
_INVISIBLE_RE = re.compile(
    "[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u061c\u200b\u200e\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u2069\ufeff\ufffe\uffff]"
)
# A command's or sub/superscript's one-letter argument keeps its braces: \mathcal{O}, x^{2}.
_SINGLE_BRACED_RE = re.compile(r"(\\[A-Za-z]+\s*|[\^_]\s*)?\{([^{}\\$])\}")


def decode_tex_accents(text: str) -> str:
    """`Andr\\'e` -> `André`, `{\\"o}` -> `ö`, `\\o` -> `ø`; other TeX is left alone."""
    if "\\" not in text:
        return text

    def accent(match: re.Match[str]) -> str:
        letter = match.group("braced") or match.group("bare")
        if letter.startswith("\\"):
            letter = {"\\i": "i", "\\j": "j"}.get(letter, letter[1:])
        return unicodedata.normalize("NFC", letter + _ACCENTS[match.group("cmd")])

    text = _ACCENT_RE.sub(accent, text)
    text = _LETTER_RE.sub(lambda m: _LETTERS["\\" + m.group(1)], text)
    # Braces left around single accented letters: {é} -> é (not \mathcal{O}: that is TeX)
    return _SINGLE_BRACED_RE.sub(lambda m: m.group(0) if m.group(1) else m.group(2), text)


def squash_whitespace(text: str) -> str:
    return _WS_RE.sub(" ", text).strip()


def strip_invisible(text: str) -> str:
    """`text` without controls, bidi overrides and zero-width spaces (see _INVISIBLE_RE)."""
    return _INVISIBLE_RE.sub("", text)


def has_invisible(text: str) -> bool:
    """Fast for the usual case: every character _INVISIBLE_RE matches is non-printable."""
    return not text.isprintable() and _INVISIBLE_RE.search(text) is not None


def clean_field(text: str | None) -> str:
    """Titles and abstracts: decoded accents, single spaces, no invisible controls. Markup
    stays text (templates escape it); line breaks become spaces (no CRLF reaches a header)."""
    cleaned = squash_whitespace(decode_tex_accents(text or ""))
    return cleaned if cleaned.isprintable() else squash_whitespace(strip_invisible(cleaned))


def split_authors(creator: str) -> list[str]:
    """Split arXiv's comma-joined `dc:creator` into ordered names.

    Handles `A, B, C`, a trailing `and`, and `A and B`. Names never contain commas in
    this format (arXiv joins `First Last`), so splitting on commas is safe.
    """
    text = clean_field(creator)
    if not text:
        return []
    parts = [p.strip() for p in text.split(",")]
    names: list[str] = []
    for part in parts:
        for name in re.split(r"^and\s+|\s+and\s+", part):
            if name.strip():
                names.append(name.strip())
    return names


def normalize_author(name: str) -> str:
    """Identity key for an author: accents folded, lower case, punctuation dropped.

    Conservative on purpose: `J. Smith` and `John Smith` stay different people.
    """
    folded = unicodedata.normalize("NFKD", decode_tex_accents(name))
    ascii_name = "".join(ch for ch in folded if not unicodedata.combining(ch))
    ascii_name = re.sub(r"[^\w\s.\-']", " ", ascii_name.lower())
    return squash_whitespace(ascii_name.replace(".", ". ")).replace(" .", ".")
