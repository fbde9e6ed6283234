"""Splitting an abstract into sentences (pure), and the key a sentence's vector is cached by."""

from __future__ import annotations

import hashlib
import re

MIN_WORDS = 6  # shorter "sentences" ("Code is public.", a stray heading) are never the lead
MAX_CHARS = 320  # a run-on sentence longer than this is cut at a word for the card

_ABBREVIATIONS = (
    "e.g.",
    "i.e.",
    "et al.",
    "etc.",
    "vs.",
    "cf.",
    "Fig.",
    "Figs.",
    "Eq.",
    "Eqs.",
    "Sec.",
    "No.",
    "approx.",
    "resp.",
)
_BOUNDARY = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'“$\\])")
_PLACEHOLDER = "\u2060"  # word joiner: stands for an abbreviation's dot while splitting


def split_sentences(abstract: str) -> list[str]:
    """The abstract's sentences, whitespace collapsed; abbreviations and decimals don't split."""
    text = " ".join((abstract or "").split())
    if not text:
        return []
    for abbreviation in _ABBREVIATIONS:
        text = text.replace(abbreviation, abbreviation.replace(".", _PLACEHOLDER))
    parts = _BOUNDARY.split(text)
    return [part.replace(_PLACEHOLDER, ".").strip() for part in parts if part.strip()]


def sentence_key(sentence: str) -> str:
    """The embeddings-table key of a sentence's vector (a namespace apart from papers and topics)."""
    return "s:" + hashlib.sha256(sentence.encode()).hexdigest()[:30]


def is_candidate(sentence: str) -> bool:
    return len(sentence.split()) >= MIN_WORDS


def cut(sentence: str, limit: int = MAX_CHARS) -> str:
    if len(sentence) <= limit:
        return sentence
    head = sentence[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:")
    return head + "…"
