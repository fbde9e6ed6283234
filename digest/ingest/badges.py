"""Code and venue badges from a paper's comments, journal-ref and abstract (pure, no I/O).

arXiv has no field for either: authors write "Code: github.com/…", "Project page: …",
"Accepted at NeurIPS 2025 (Spotlight)" or "Under review at ICLR 2026" into the comments, and
"Code is available at …" into the abstract. Precision first: a venue is taken only when the
text says the paper is in it (accepted/published/to appear, or the bare "NeurIPS 2025" that
comments use for that), never from "under review", "submitted to" or "extension of our … paper".
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from digest.models import Badges, CodeLink, Paper

BADGES_VERSION = 1  # bump when the rules change: stored badges of an older version are redone
MAX_LINKS = 4
MAX_VENUE_CHARS = 48

# ---------------------------------------------------------------- code links

_URL_RE = re.compile(
    r"(?:https?://|(?<![\w./@])(?=(?:www\.)?(?:github\.com|gitlab\.com|huggingface\.co)/))"
    r"[^\s<>\"'{}|\\^`\[\]]+",
    re.IGNORECASE,
)
_TRAILING = ".,;:!?)]}'\"*"
_CODE_HOSTS = {
    "github.com": "github",
    "gitlab.com": "gitlab",
    "huggingface.co": "hf",
    "hf.co": "hf",
    "bitbucket.org": "code",
    "codeberg.org": "code",
    "gitee.com": "code",
    "anonymous.4open.science": "code",
}
_PROJECT_WORDS = re.compile(
    r"(project|web)\s*(page|site|link)|homepage|website|demo|visit|videos?\s+(are|is|at)", re.I
)
_NOT_THEIRS_RE = re.compile(r"(conference|workshop|challenge|venue)\s+(web)?\s*(site|page)", re.I)
_CODE_WORDS = re.compile(r"\b(code|codes|implementation|repository|repo|source|github)\b", re.I)


def _clean_url(raw: str) -> str:
    url = raw.rstrip(_TRAILING)
    while url.count("(") < url.count(")") and url.endswith(")"):
        url = url[:-1]
    if not url.lower().startswith("http"):
        url = "https://" + url
    return url


def _link_kind(url: str, before: str) -> str | None:
    """What a URL is, from its host or the words just before it; None for anything else
    (a DOI, a data set, a conference's page)."""
    host = (urlsplit(url).hostname or "").lower().removeprefix("www.")
    kind = _CODE_HOSTS.get(host)
    if kind == "github" and len([p for p in urlsplit(url).path.split("/") if p]) < 1:
        return None  # github.com itself
    if kind is not None:
        return kind
    if _NOT_THEIRS_RE.search(before[-30:]):  # "Conference website: …", "poster: …"
        return None
    code_at = max((m.end() for m in _CODE_WORDS.finditer(before)), default=-1)
    project_at = max((m.end() for m in _PROJECT_WORDS.finditer(before)), default=-1)
    if code_at > project_at and code_at >= len(before) - 40:  # "Code and data: https://x.io"
        return "code"
    if host.endswith((".github.io", ".gitlab.io")) or project_at >= 0:
        return "project"
    return None


def extract_links(text: str) -> list[CodeLink]:
    """Code, model and project-page links in one text, in order, each once."""
    found: list[CodeLink] = []
    seen: set[str] = set()
    text = (text or "").replace("\\_", "_")  # LaTeX: \href{…}{github.com/a/b\_c}
    previous_end = 0
    for match in _URL_RE.finditer(text):
        url = _clean_url(match.group(0))
        key = url.lower().rstrip("/").removeprefix("https://").removeprefix("http://")
        if key in seen or "." not in (urlsplit(url).hostname or ""):
            continue
        before = text[max(previous_end, match.start() - 60) : match.start()]
        previous_end = match.end()  # words before an earlier link are not about this one
        kind = _link_kind(url, before)
        if kind is not None:
            seen.add(key)
            found.append(CodeLink(kind, url))
    return found


# ---------------------------------------------------------------- venues

# Canonical name -> spellings (matched as whole words, any case, spaces as \s*).
_VENUES: dict[str, tuple[str, ...]] = {
    "NeurIPS": ("NeurIPS", "NIPS", "Neural Information Processing Systems"),
    "ICML": ("ICML", "International Conference on Machine Learning"),
    "ICLR": ("ICLR", "International Conference on Learning Representations"),
    "CVPR": ("CVPR", "Computer Vision and Pattern Recognition"),
    "ICCV": ("ICCV", "International Conference on Computer Vision"),
    "ECCV": ("ECCV", "European Conference on Computer Vision"),
    "WACV": ("WACV",),
    "BMVC": ("BMVC",),
    "ACCV": ("ACCV",),
    "3DV": ("3DV",),
    "ACL": ("ACL", "Annual Meeting of the Association for Computational Linguistics"),
    "EMNLP": ("EMNLP", "Empirical Methods in Natural Language Processing"),
    "NAACL": ("NAACL",),
    "EACL": ("EACL",),
    "AACL": ("AACL", "IJCNLP-AACL", "AACL-IJCNLP"),
    "COLING": ("COLING",),
    "CoNLL": ("CoNLL",),
    "LREC": ("LREC", "LREC-COLING"),
    "COLM": ("COLM", "Conference on Language Modeling"),
    "TACL": ("TACL",),
    "AAAI": ("AAAI",),
    "IJCAI": ("IJCAI",),
    "ECAI": ("ECAI",),
    "AISTATS": ("AISTATS",),
    "UAI": ("UAI",),
    "COLT": ("COLT",),
    "KDD": ("KDD", "SIGKDD"),
    "WWW": ("TheWebConf", "The Web Conference", "WWW"),
    "SIGIR": ("SIGIR",),
    "WSDM": ("WSDM",),
    "CIKM": ("CIKM",),
    "RecSys": ("RecSys",),
    "ICDM": ("ICDM", "ICDMW", "International Conference on Data Mining"),
    "ACM MM": ("ACM MM", "ACMMM", "ACM Multimedia", "ACM International Conference on Multimedia"),
    "ICME": ("ICME",),
    "ICASSP": ("ICASSP",),
    "Interspeech": ("Interspeech",),
    "ASRU": ("ASRU",),
    "MICCAI": ("MICCAI",),
    "ISBI": ("ISBI",),
    "ICRA": ("ICRA",),
    "IROS": ("IROS",),
    "CoRL": ("CoRL", "Conference on Robot Learning"),
    "RSS": ("Robotics: Science and Systems",),
    "RA-L": ("RA-L", "RAL", "Robotics and Automation Letters"),
    "SIGGRAPH": ("SIGGRAPH Asia", "SIGGRAPH"),
    "CHI": ("CHI",),
    "UIST": ("UIST",),
    "ICSE": ("ICSE",),
    "FSE": ("FSE", "ESEC/FSE"),
    "ASE": ("ASE",),
    "MLSys": ("MLSys",),
    "TMLR": ("TMLR", "Transactions on Machine Learning Research"),
    "JMLR": ("JMLR",),
    "TPAMI": ("TPAMI", "T-PAMI", "Transactions on Pattern Analysis and Machine Intelligence"),
    "IJCV": ("IJCV",),
    "TVCG": ("TVCG", "Transactions on Visualization and Computer Graphics"),
    "TOG": ("ACM TOG", "ACM Transactions on Graphics"),
    "RANLP": ("RANLP",),
    "TIP": ("Transactions on Image Processing",),
    "CLEF": ("CLEF",),
    "Nature": ("Nature Communications", "Nature Machine Intelligence"),
}
_CASE_SENSITIVE = {"ACL", "ASE", "CHI", "TIP", "WWW", "UAI", "FSE", "RAL", "COLT"}  # words too
_YEAR = (  # "2025", "-2025", "'25", "25" written on: "ICCV25"; never " 12" (pages)
    r"(?:\s*-?\s*(?P<year>(?:19|20)\d{2})\b|\s*['’]\s?(?P<yy>\d{2})\b|(?P<yy2>\d{2})\b)?"
)
_TRACK_RE = re.compile(
    r"\b(oral|spotlight|highlight|findings|workshops?|demo(?:nstrations?)?|"
    r"datasets and benchmarks|industry|industrial)\b",
    re.I,
)
_TRACK_LABEL = {"workshops": "Workshop", "industrial": "Industry", "demonstration": "Demo"}
_ACCEPTED_RE = re.compile(
    r"\b(accepted|accept|appear|appears|published|presented|publication|camera[- ]ready|"
    r"proceedings|oral|spotlight)\b",
    re.I,
)
_NOT_YET_RE = re.compile(
    r"\b(under\s+(review|submission)|submitted|submission|in\s+review|review\s+at|"
    r"extension|extended\s+version|extends|previous|prior|earlier|preliminary|conference\s+version)",
    re.I,
)
_COLOCATED_RE = re.compile(r"co-?\s*located|collocated|in\s+conjunction\s+with", re.I)
_CLAUSE_YEAR_RE = re.compile(r"\b((?:19|20)\d{2})\b")
_OTHER_ACCEPTED_RE = re.compile(  # "Accepted at DAI 2025": a venue we have no name for
    r"\b(?i:accepted|published|to appear|presented|workshop paper|working notes)\b"
    r"[^.;\n]{0,100}?\(?\b"
    r"(?P<name>[A-Z][A-Za-z]*[A-Z](?:[A-Za-z]|-(?=[A-Za-z]))*)\s*[-'’]?\s*(?P<year>(?:19|20)\d{2})\b"
)


def _alias_pattern(alias: str) -> str:
    return r"\s+".join(re.escape(word) for word in alias.split())


def _compile_venues(case_sensitive: bool) -> re.Pattern[str]:
    """One alternation of every spelling (longest first), so a text is scanned once."""
    aliases = [
        alias
        for spellings in _VENUES.values()
        for alias in spellings
        if (alias in _CASE_SENSITIVE) == case_sensitive
    ]
    body = "|".join(_alias_pattern(a) for a in sorted(aliases, key=len, reverse=True))
    flags = 0 if case_sensitive else re.I
    return re.compile(rf"(?<![\w-])(?P<alias>{body})(?![A-Za-z]|-[A-Za-z]){_YEAR}", flags)


_VENUE_PATTERNS = (_compile_venues(True), _compile_venues(False))
_KEY_OF = {" ".join(a.lower().split()): key for key, spelled in _VENUES.items() for a in spelled}


def _clause_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """The sentence or clause around a match: what its acceptance words must sit in."""
    left = max(text.rfind(mark, 0, start) for mark in (". ", ";", "\n\n", "|"))
    right_candidates = [i for mark in (". ", ";", "|") if (i := text.find(mark, end)) != -1]
    return left + 1, min(right_candidates, default=len(text))


def _year(raw: str | None) -> str:
    if not raw:
        return ""
    return raw if len(raw) == 4 else f"20{raw}"


def _venue_in(text: str, *, needs_acceptance: bool) -> tuple[str, str] | None:
    """(label, key) of the first venue `text` says the paper is in, else None."""
    hits = []
    for pattern in _VENUE_PATTERNS:
        for match in pattern.finditer(text):
            key = _KEY_OF[" ".join(match.group("alias").lower().split())]
            year = match.group("year") or match.group("yy") or match.group("yy2")
            hits.append((match.start(), match.end(), key, year))
    for start, end, key, year in sorted(hits, key=lambda hit: (hit[0], -hit[1])):
        left, right = _clause_bounds(text, start, end)
        clause = text[left:right]
        if not year:  # "the 2025 Conference on Empirical Methods…", "EMNLP Findings 2025"
            nearby = _CLAUSE_YEAR_RE.search(clause)
            year = nearby.group(1) if nearby else None
        if _NOT_YET_RE.search(clause):
            continue
        if needs_acceptance and not _ACCEPTED_RE.search(clause):
            continue
        next_words = text[end : end + 12]
        if (
            not year
            and not _ACCEPTED_RE.search(clause)
            and not _TRACK_RE.match(next_words.strip())
            and len(clause.split()) > 4
        ):
            continue  # "we compare with ICLR baselines": a name in passing, not a venue
        track = _TRACK_RE.search(clause)
        parts = [key, _year(year)]
        if "@" in text[max(0, start - 2) : start] or "@" in text[end : end + 3]:
            parts.append("Workshop")  # "NLLP@EMNLP 2025", "ICCV2025 @ LongVid-Foundations"
        elif track:
            word = track.group(1).lower()
            parts.append(_TRACK_LABEL.get(word, word.title()))
        elif _COLOCATED_RE.search(text[left:start]):  # "*SEM, co-located with EMNLP 2025"
            parts.append("co-located")
        return " ".join(p for p in parts if p)[:MAX_VENUE_CHARS], key
    other = _OTHER_ACCEPTED_RE.search(text)
    if other and not _NOT_YET_RE.search(text[: other.end()]):
        name = other.group("name")
        return f"{name} {other.group('year')}"[:MAX_VENUE_CHARS], name
    return None


def extract_venue(
    comments: str | None, journal_ref: str | None, abstract: str | None = None
) -> tuple[str, str] | None:
    """(label, key): the journal-ref first (it is a publication), then the comments, then an
    abstract that says it was accepted somewhere."""
    if journal_ref and journal_ref.strip():
        found = _venue_in(" ".join(journal_ref.split()), needs_acceptance=False)
        if found:
            return found
        ref = " ".join(journal_ref.split())
        return ref[:MAX_VENUE_CHARS], ref.split(",")[0].split(" (")[0][:MAX_VENUE_CHARS]
    if comments and comments.strip():
        found = _venue_in(" ".join(comments.split()), needs_acceptance=False)
        if found:
            return found
    if abstract:
        return _venue_in(" ".join(abstract.split()), needs_acceptance=True)
    return None


def extract_badges(paper: Paper) -> Badges:
    """The badges of one paper: its code links (comments first) and its venue."""
    links: list[CodeLink] = []
    seen: set[str] = set()
    for text in (paper.comments or "", paper.abstract or ""):
        for link in extract_links(text):
            if link.url.lower().rstrip("/") not in seen:
                seen.add(link.url.lower().rstrip("/"))
                links.append(link)
    venue = extract_venue(paper.comments, paper.journal_ref, paper.abstract)
    return Badges(
        links=tuple(links[:MAX_LINKS]),
        venue=venue[0] if venue else None,
        venue_key=venue[1] if venue else None,
    )
