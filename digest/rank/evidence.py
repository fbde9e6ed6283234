"""The words of a topic description as evidence: its salient terms and phrases, the variants of
them a paper may use, and the abstract sentence that says the most about them.

Pure functions over strings (no numpy, no store). `digest.rank.describe` turns these terms into
scores over a candidate pool; the why-line names the words a paper actually used ("mentions
“grasping”, “motion planning”"); `best_sentence` picks the abstract sentence richest in a
topic's terms, for a why-line or a one-sentence summary of what a reader follows.

Terms are compared by their Snowball stem, so "robot", "robots", "robotic" and "robotics" are
one term, as are "grasp" and "grasping"; words that say nothing about a subject (English stop
words, a few words every research abstract uses) are never terms.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import Stemmer  # PyStemmer: the Snowball stemmers in C

# A word: letters/digits, inner hyphens or apostrophes kept ("sim-to-real" is split later).
_WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
# Where a description's phrases end: list separators and the words that join list items.
_PHRASE_BREAK = re.compile(r"[,;:.()\[\]/]|\s(?:and|or|as well as|including|such as)\s", re.I)
_BETWEEN = re.compile(r"[\s\-]+")  # what may separate the two words of a phrase
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[\"'$\\])")
# English function words (importing scikit-learn's list would load scikit-learn in commands
# that never rank, such as `digest send`).
_STOP = frozenset(
    """a about above across after again against all almost alone along already also although
    always am among an and another any anyhow anyone anything anyway anywhere are around as at
    be became because become becomes been before being below beside besides between beyond both
    but by can cannot could did do does doing done down due during each either else elsewhere
    enough etc even ever every everything except few for from further had has have having he
    hence her here hers herself him himself his how however i ie if in indeed into is it its
    itself just least less many may me might more moreover most mostly much must my myself
    namely neither never nevertheless next no nobody none nor not nothing now of off often on
    once one only onto or other others otherwise our ours ourselves out over own per perhaps
    rather re same several she should since so some something sometimes still such than that
    the their theirs them themselves then thence there thereby therefore these they this those
    though through throughout thus to together too toward towards under until up upon us very
    via was we well were what whatever when whence whenever where whereas whether which while
    who whoever whole whom whose why will with within without would yet you your yours
    yourself yourselves""".split()
)
# Words every abstract uses: as topic terms they would match nearly any paper.
_GENERIC = frozenset(
    "paper papers study studies approach approaches method methods work works using use used "
    "based new novel propose proposed present presents show shows result results including "
    "various different also apart general topics topic plain words".split()
)


# Verbs that join a description's nouns ("agents built on language models"): they count as
# evidence like any description word, but a why-line saying a paper "mentions built" tells
# the reader nothing, so why-lines leave them out.
SAYS_NOTHING = frozenset("build builds built building make makes made making".split())


@lru_cache(maxsize=1)
def _stemmer():
    return Stemmer.Stemmer("english")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Snowball stem of one lower-cased word ("robotics" -> "robot")."""
    return str(_stemmer().stemWord(word))


def words(text: str) -> list[str]:
    """Lower-cased words of a text; hyphenated compounds are split into their parts."""
    out: list[str] = []
    for token in _WORD_RE.findall(text.lower().replace("-", " ")):
        out.append(token.replace("’", "'"))
    return out


def is_content_word(word: str) -> bool:
    return len(word) > 1 and not word.isdigit() and word not in _STOP and word not in _GENERIC


@dataclass(frozen=True)
class Term:
    """One salient word of a description (by stem) or a phrase of two adjacent ones."""

    stems: tuple[str, ...]  # one stem, or two for a phrase
    label: str  # as the description writes it ("motion planning")
    weight: float = 1.0  # curator-named keywords count double

    @property
    def is_phrase(self) -> bool:
        return len(self.stems) > 1


def description_terms(text: str, keywords: Sequence[str] = ()) -> tuple[Term, ...]:
    """The salient words and two-word phrases of a description, then of each keyword.

    Phrases never cross a list separator ("grasping, locomotion" gives no phrase); a word or
    phrase that is already there is not repeated. Keywords count double: a curator named them.
    """
    found: dict[tuple[str, ...], Term] = {}

    def add(stems: tuple[str, ...], label: str, weight: float) -> None:
        if stems not in found or found[stems].weight < weight:
            found[stems] = Term(stems, label, weight)

    for source, weight in ((text, 1.0), *((k, 2.0) for k in keywords)):
        for phrase in _PHRASE_BREAK.split(f" {source} "):
            tokens = words(phrase)
            for word in tokens:
                if is_content_word(word):
                    add((stem(word),), word, weight)
            for first, second in zip(tokens, tokens[1:], strict=False):
                if is_content_word(first) and is_content_word(second):
                    add((stem(first), stem(second)), f"{first} {second}", weight)
    return tuple(found.values())


def description_facets(text: str) -> tuple[str, ...]:
    """The description's list items, each with its lead-in, as texts to embed on their own.

    "Robotics: grasping, locomotion and motion planning" gives "Robotics: grasping",
    "Robotics: locomotion", "Robotics: motion planning": a paper about grasping alone is
    close to its facet even when the whole list dilutes it. A description that is no list
    gives no facets.
    """
    head, colon, rest = text.partition(":")
    if not colon:
        head, rest = "", text
    items = [" ".join(p.split()) for p in _PHRASE_BREAK.split(f" {rest} ")]
    items = [item.strip(" .") for item in items if len(words(item))]
    if len(items) < 2:
        return ()
    lead = " ".join(head.split())
    return tuple(dict.fromkeys(f"{lead}: {item}" if lead else item for item in items))


def variants_of(word_stem: str, vocabulary: Iterable[str]) -> list[str]:
    """The words of `vocabulary` whose stem is `word_stem` (its close variants)."""
    return [w for w in vocabulary if stem(w) == word_stem]


def sentences(text: str) -> list[str]:
    """The sentences of an abstract (whitespace collapsed)."""
    flat = " ".join(text.split())
    return [s for s in _SENTENCE_END.split(flat) if s]


def matched_terms(
    text: str, terms: Sequence[Term], weights: Mapping[tuple[str, ...], float] | None = None
) -> list[tuple[Term, str]]:
    """The terms a text uses, each with the words it used for it, as written there
    ("Multi-Agent" for `multi agent`, "grasping" for `grasp`); the most telling first (by
    `weights`, e.g. how rare each term is, times the term's own weight), a phrase before its
    words. A word already named in a chosen phrase, or a phrase sharing a word with one, is
    not repeated."""
    spans = [(m.group(0), m.start(), m.end()) for m in _WORD_RE.finditer(text.replace("’", "'"))]
    flat = [(stem(w.lower()), start, end) for w, start, end in spans]
    wanted = {t.stems for t in terms}  # only these are looked at (a 200-word abstract, 5 terms)
    surface: dict[tuple[str, ...], str] = {}
    for i, (s, start, end) in enumerate(flat):
        if (s,) in wanted and (s,) not in surface:
            surface[(s,)] = _as_in_a_sentence(text[start:end])
        if i + 1 < len(flat):
            pair = (s, flat[i + 1][0])
            if (
                pair in wanted
                and pair not in surface
                and _BETWEEN.fullmatch(text, end, flat[i + 1][1])
            ):
                words_said = " ".join(text[start : flat[i + 1][2]].split())
                surface[pair] = _as_in_a_sentence(words_said)
    hits = [(t, surface[t.stems]) for t in terms if t.stems in surface]
    weights = weights or {}
    hits.sort(key=lambda hit: (-hit[0].is_phrase, -weights.get(hit[0].stems, 1.0) * hit[0].weight))
    named: set[str] = set()
    out = []
    for term, said in hits:
        if named & set(term.stems):
            continue
        named.update(term.stems)
        out.append((term, said))
    return out


def _as_in_a_sentence(words_said: str) -> str:
    """Title-case words lower-cased ("Robotic Manipulation" -> "robotic manipulation");
    acronyms and mixed case ("LLM", "GraphRAG") kept."""
    return re.sub(r"\b[A-Z][a-z]+\b", lambda m: m.group(0).lower(), words_said)


def best_sentence(
    text: str, weights: Mapping[tuple[str, ...], float], terms: Sequence[Term]
) -> str | None:
    """The sentence of `text` that uses the most of the given terms (summed `weights`, a term
    keyed by its stems; phrases count once more than their words), or None when none uses any.

    The TL;DR line can use it as "the abstract sentence closest to what a subscriber follows":
    pass the followed topic's `description_terms` and weights such as their idf.
    """
    best: tuple[float, int, str] | None = None
    for position, sentence in enumerate(sentences(text)):
        found = matched_terms(sentence, terms)
        score = sum(weights.get(term.stems, 1.0) * term.weight for term, _ in found)
        if score > 0 and (best is None or score > best[0]):
            best = (score, -position, sentence)
    return best[2] if best else None
