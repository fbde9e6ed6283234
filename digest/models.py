"""Plain data types shared by every stage. No I/O here."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date

ANNOUNCE_TYPES = ("new", "cross", "replace", "replace-cross")

# New-style ids (0704.0001 .. 2512.12345) and old-style (hep-th/9901001, math.CA/0611800).
ARXIV_ID_RE = re.compile(
    r"^(?:arXiv:)?(?P<base>[0-9]{4}\.[0-9]{4,5}|[a-z][a-z\-]*(?:\.[A-Z]{2})?/[0-9]{7})"
    r"(?:v(?P<version>[0-9]+))?$"  # ASCII digits only (sources.arxiv_id bounds the version)
)


def split_arxiv_id(raw: str) -> tuple[str, int | None] | None:
    """Return (base id, version) for an arXiv id in any accepted spelling, else None.

    Old-style subject classes are dropped (math.CA/0611800 -> math/0611800), as arXiv prefers.
    """
    text = raw.strip()
    for prefix in ("https://arxiv.org/abs/", "http://arxiv.org/abs/", "oai:arXiv.org:"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    match = ARXIV_ID_RE.match(text)
    if not match:
        return None
    base = match.group("base")
    if "/" in base:
        archive, number = base.split("/")
        base = archive.split(".")[0] + "/" + number
    version = match.group("version")
    return base, int(version) if version else None


def content_hash(title: str, abstract: str) -> str:
    """Hash of the text we embed; unchanged text is never embedded twice."""
    return hashlib.sha256(f"{title}\n\n{abstract}".encode()).hexdigest()[:32]


def embedding_text(title: str, abstract: str) -> str:
    return f"{title}\n\n{abstract}"


@dataclass(frozen=True)
class Paper:
    """One paper as a source saw it. `id` is the arXiv id without version, or a foreign id."""

    id: str
    title: str
    abstract: str
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    primary_category: str | None = None
    version: int | None = None
    announce_type: str | None = None
    announced: date | None = None  # listing date this paper was announced in (feeds)
    published: str | None = None  # v1 submission timestamp (ISO) when known
    updated: str | None = None  # this version's timestamp (ISO) when known
    license: str | None = None
    doi: str | None = None
    journal_ref: str | None = None
    comments: str | None = None
    is_arxiv: bool = True

    @property
    def content_hash(self) -> str:
        return content_hash(self.title, self.abstract)

    @property
    def abs_url(self) -> str | None:
        return f"https://arxiv.org/abs/{self.id}" if self.is_arxiv else None

    @property
    def pdf_url(self) -> str | None:
        return f"https://arxiv.org/pdf/{self.id}" if self.is_arxiv else None


@dataclass(frozen=True)
class SkippedRecord:
    """A record a parser refused, with the reason; counted in the ingest run."""

    ref: str  # entry id, line number or position: whatever identifies it in the input
    reason: str


@dataclass
class ParsedListing:
    """What a parser got out of one input: good papers, refused records, channel facts."""

    papers: list[Paper] = field(default_factory=list)
    skipped: list[SkippedRecord] = field(default_factory=list)
    channel_date: date | None = None  # the announcement date the listing is for
    channel_title: str | None = None
    total_results: int | None = None  # API: opensearch totalResults

    @property
    def is_empty_announcement(self) -> bool:
        return not self.papers and not self.skipped


@dataclass(frozen=True)
class IngestCounts:
    fetched: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0

    def __add__(self, other: IngestCounts) -> IngestCounts:
        return IngestCounts(
            self.fetched + other.fetched,
            self.new + other.new,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
            self.skipped + other.skipped,
        )


# Languages a reader can have their TL;DR lines in (code -> name used in the model's prompt).
LANGUAGES = {
    "en": "English",
    "zh": "Simplified Chinese",
    "zh-TW": "Traditional Chinese",
    "ja": "Japanese",
    "ko": "Korean",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "pt": "Portuguese",
    "it": "Italian",
    "nl": "Dutch",
    "pl": "Polish",
    "ru": "Russian",
    "uk": "Ukrainian",
    "tr": "Turkish",
    "ar": "Arabic",
    "fa": "Persian",
    "hi": "Hindi",
    "vi": "Vietnamese",
    "id": "Indonesian",
}
SUBSCRIBER_STATUSES = ("pending", "active", "paused", "unsubscribed", "bounced", "complained")
FREQUENCIES = ("daily", "weekly")
FEEDBACK_KINDS = ("like", "dislike", "click")


@dataclass(frozen=True)
class Subscriber:
    id: int
    email: str
    name: str = ""
    status: str = "pending"
    frequency: str = "daily"
    weekday: int | None = None  # 0 = Monday, for weekly subscribers
    timezone: str = "UTC"
    send_hour: int | None = None
    max_papers: int = 10
    always_send: bool = False
    manage_token: str | None = None
    source: str = "cli"
    created_at: str = ""
    confirmed_at: str | None = None
    unsubscribed_at: str | None = None
    last_digest_date: date | None = None
    language: str = "en"  # the language of the TL;DR lines (the rest of the email stays English)


@dataclass(frozen=True)
class Topic:
    """What a subscriber or curator wants: any mix of words, keywords, seeds, authors."""

    name: str
    kind: str = "personal"  # curated | personal
    description: str = ""
    keywords: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    seed_ids: tuple[str, ...] = ()  # papers the topic is "like"
    dislike_ids: tuple[str, ...] = ()  # papers the topic is "not like" (topic lab)
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    threshold: float | None = None
    id: int | None = None
    owner_id: int | None = None
    venues: tuple[str, ...] = ()  # only papers with one of these venues ("NeurIPS", "ICLR")
    has_code: bool = False  # only papers that link their code


CODE_LINK_LABELS = {
    "github": "GitHub",
    "gitlab": "GitLab",
    "hf": "Hugging Face",
    "code": "Code",
    "project": "Project page",
}
CODE_KINDS = frozenset({"github", "gitlab", "hf", "code"})  # what `has_code = true` asks for


@dataclass(frozen=True)
class CodeLink:
    """A link to a paper's code, model or project page, as its comments or abstract give it."""

    kind: str  # github | gitlab | hf | code | project
    url: str

    @property
    def label(self) -> str:
        return CODE_LINK_LABELS.get(self.kind, "Link")


@dataclass(frozen=True)
class Badges:
    """Code links and venue of one paper, extracted at ingest (`digest.ingest.badges`)."""

    links: tuple[CodeLink, ...] = ()
    venue: str | None = None  # as shown: "NeurIPS 2025 Spotlight", "TMLR", "Accepted at DAI 2025"
    venue_key: str | None = None  # what topics filter on: "NeurIPS", "TMLR", "DAI"

    @property
    def has_code(self) -> bool:
        return any(link.kind in CODE_KINDS for link in self.links)

    @property
    def is_empty(self) -> bool:
        return not self.links and not self.venue


@dataclass(frozen=True)
class Pick:
    """One paper chosen for one subscriber, with the reason shown to them."""

    paper_id: str
    score: float
    topic: str  # name of the topic that matched best ("" for trending-only)
    why: str  # one line a reader understands
    matched_keywords: tuple[str, ...] = ()
    matched_authors: tuple[str, ...] = ()
    similar_to: str | None = None  # paper id of the liked/seed paper it is close to


@dataclass(frozen=True)
class DigestPlan:
    """The ranked result for one subscriber and one issue date, before rendering."""

    subscriber_id: int
    issue_date: date
    picks: tuple[Pick, ...]
    candidates: int  # how many papers were considered
    window_start: date | None = None


@dataclass
class IngestReport:
    """What one ingest (a feed, an API query, a file) did; the CLI formats it."""

    source: str  # feed | api | jsonl | hf
    label: str  # category, query or file name
    status: str  # ok | empty | stale | failed
    counts: IngestCounts = field(default_factory=IngestCounts)
    skipped: list[SkippedRecord] = field(default_factory=list)
    channel_date: date | None = None
    run_id: int | None = None
    error: str | None = None
