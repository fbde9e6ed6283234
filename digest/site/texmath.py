"""TeX in titles and abstracts, for the site: mathematics as MathML (built here, no script, no
CDN), text styling as typography, or all of it as readable plain text.

arXiv metadata is what authors typed: `$\\mathcal{O}(n^2)$`, `\\textbf{new}`, ``` ``talk'' ```,
even their own macros (`\\modelname`). `tex_html` turns it into safe HTML (maths by latex2mathml;
a formula it cannot read falls back to readable text), `tex_plain` into text for `<title>`,
meta tags, feeds and the search index. Pure and cached: the same abstract shows on several pages.
"""

from __future__ import annotations

import re
from functools import lru_cache

from markupsafe import Markup, escape

# $$…$$, $…$, \(…\), \[…\]; a \$ is a dollar sign, not maths
_MATH_RE = re.compile(
    r"(?<!\\)\$\$(?P<dd>.+?)(?<!\\)\$\$|(?<!\\)\$(?P<d>.+?)(?<!\\)\$"
    r"|\\\((?P<p>.+?)\\\)|\\\[(?P<b>.+?)\\\]",
    re.DOTALL,
)
_OPEN = {"strong": "\ue000", "em": "\ue002", "code": "\ue004"}
_CLOSE = {"strong": "\ue001", "em": "\ue003", "code": "\ue005"}
_TAGS = {v: f"<{k}>" for k, v in _OPEN.items()} | {v: f"</{k}>" for k, v in _CLOSE.items()}
_SENTINELS = re.compile("[\ue000-\ue005]")
_STYLED = {
    "strong": r"textbf|mathbf|bm|boldsymbol",
    "em": r"emph|textit|textsl|mathit",
    "code": r"texttt|mathtt|verb",
}
_STYLE_RES = [
    (tag, re.compile(rf"\\(?:{names})\s*\{{([^{{}}]*)\}}")) for tag, names in _STYLED.items()
]
_SWITCH_RES = [  # {\bf word}, {\em word}
    ("strong", re.compile(r"\{\\bf(?:series)?\s+([^{}]*)\}")),
    ("em", re.compile(r"\{\\(?:it|em|sl)(?:shape)?\s+([^{}]*)\}")),
]
_DROP_RE = re.compile(r"~?\\(?:cite[tp]?|citep?\*?|ref|eqref|label)\s*(?:\[[^\]]*\])?\{[^{}]*\}")
_FOOTNOTE_RE = re.compile(r"\\footnote\s*\{([^{}]*)\}")
_TWO_ARGS_RE = re.compile(r"\\(?:href|textcolor|color)\s*\{[^{}]*\}\s*\{([^{}]*)\}")
_ONE_ARG_RE = re.compile(
    r"\\(?:text(?:rm|sf|sc|up|md|normal)?|mbox|mathrm|mathsf|mathcal|mathbb|mathfrak|"
    r"underline|url|num|si|SI|operatorname)\s*\{([^{}]*)\}"
)
_WORDS = {
    "eg": "e.g.",
    "ie": "i.e.",
    "etal": "et al.",
    "etc": "etc.",
    "vs": "vs.",
    "wrt": "w.r.t.",
    "deg": "°",
    "ldots": "…",
    "dots": "…",
    "textasciitilde": "~",
    "LaTeX": "LaTeX",
    "TeX": "TeX",
}
_ESCAPED = {"%": "%", "&": "&", "_": "_", "#": "#", "$": "$", ",": "\u2009", " ": " ", "\\": " "}
_COMMAND_RE = re.compile(r"\\([A-Za-z]+)\*?|\\([%&_#$, \\])")
_SWITCHES = {"bf", "it", "em", "sl", "rm", "sf", "tt", "bfseries", "itshape", "small", "large"}
# a styling command whose argument was cut off (a clipped snippet) shows nothing
_SWITCHES |= set("|".join([*_STYLED.values(), "text|textrm|textsc|mbox|mathrm|mathcal"]).split("|"))
_SWITCHES |= {"underline", "href", "url", "textcolor", "footnote", "cite", "citep", "citet"}


@lru_cache(maxsize=512)
def _symbol(name: str) -> str:
    """A bare command outside maths: a symbol's character (\\alpha -> α), a known word, else
    the name itself (an author's undefined \\modelname reads as 'modelname', not as nothing)."""
    if name in _WORDS:
        return _WORDS[name]
    if name in _SWITCHES:
        return ""
    from pylatexenc.latex2text import LatexNodes2Text

    try:
        text = LatexNodes2Text(math_mode="text").latex_to_text("\\" + name).strip()
    except Exception:  # noqa: BLE001 - a converter failure keeps the name
        text = ""
    return text or name


def _text_marked(text: str) -> str:
    """Text-mode TeX to plain text with sentinel characters where <strong>/<em>/<code> go."""
    text = _SENTINELS.sub("", text)
    if "\\" in text or "{" in text:
        text = _DROP_RE.sub("", text)
        text = _FOOTNOTE_RE.sub(r" (\1)", text)
        for _ in range(4):  # innermost first: \textbf{\emph{x}}
            before = text
            for tag, pattern in _STYLE_RES:
                text = pattern.sub(rf"{_OPEN[tag]}\1{_CLOSE[tag]}", text)
            for tag, pattern in _SWITCH_RES:
                text = pattern.sub(rf"{_OPEN[tag]}\1{_CLOSE[tag]}", text)
            text = _TWO_ARGS_RE.sub(r"\1", text)
            text = _ONE_ARG_RE.sub(r"\1", text)
            if text == before:
                break
        text = _COMMAND_RE.sub(
            lambda m: _ESCAPED[m.group(2)] if m.group(2) else _symbol(m.group(1)), text
        )
        text = text.replace("{", "").replace("}", "")
    if "`" in text or "''" in text:
        text = re.sub(r"``(.+?)''", "“\\1”", text)
        text = re.sub(r"(?<![`\w])`([^`']+)'(?!\w)", "‘\\1’", text)
        text = text.replace("``", "“").replace("''", "”")
    if "--" in text:
        text = text.replace("---", "—").replace(" -- ", " – ")
    return text


_SPACING_RE = re.compile(
    r"\\(?:[mk]kern|mskip|kern|hspace\*?)\s*\{?-?[\d.]+\s*(?:mu|em|ex|pt)\}?|\\[,;:!]"
)


def _math_plain(tex: str) -> str:
    from pylatexenc.latex2text import LatexNodes2Text

    tex = _SPACING_RE.sub("", tex)
    try:
        text = LatexNodes2Text(math_mode="text").latex_to_text(tex)
    except Exception:  # noqa: BLE001 - unreadable TeX: its letters, without commands
        text = re.sub(r"\\[A-Za-z]+|[{}\\]", "", tex)
    return " ".join(text.split())


def _math_html(tex: str) -> str:
    from latex2mathml.converter import convert

    try:
        mathml = convert(tex.strip())
    except Exception:  # noqa: BLE001 - latex2mathml raises many kinds; show readable text
        return str(escape(_math_plain(tex)))
    if "\\" in mathml:  # a command it passed through as text: readable text instead
        return str(escape(_math_plain(tex)))
    return mathml


def _pieces(text: str):
    """(is_maths, source) parts of `text`, in order."""
    start = 0
    for match in _MATH_RE.finditer(text):
        if match.start() > start:
            yield False, text[start : match.start()]
        yield True, next(g for g in match.groups() if g is not None)
        start = match.end()
    if start < len(text):
        yield False, text[start:]


def _needs_work(text: str) -> bool:
    return "\\" in text or "$" in text or "`" in text or "''" in text or "--" in text


@lru_cache(maxsize=16384)
def tex_html(text: str) -> Markup:
    """`text` as safe HTML: maths as MathML, \\textbf/\\emph as <strong>/<em>, TeX quotes and
    dashes as typography, other commands as their symbol or name."""
    if not _needs_work(text):
        return escape(text)
    out = []
    for is_math, part in _pieces(text):
        if is_math:
            out.append(_math_html(part))
        else:
            marked = str(escape(_text_marked(part)))
            out.append(_SENTINELS.sub(lambda m: _TAGS[m.group(0)], marked))
    return Markup("".join(out))


@lru_cache(maxsize=16384)
def tex_plain(text: str) -> str:
    """`text` as readable plain text: no TeX commands, dollars or braces left."""
    if not _needs_work(text):
        return text
    parts = [
        _math_plain(part) if is_math else _SENTINELS.sub("", _text_marked(part))
        for is_math, part in _pieces(text)
    ]
    return " ".join("".join(parts).split())


def clip_tex(text: str, limit: int) -> str:
    """The first `limit` characters or so of `text`, cut at a word outside any formula, with
    '…' (a formula is kept whole or left out, never cut in half)."""
    if len(text) <= limit:
        return text
    spans = [m.span() for m in _MATH_RE.finditer(text)]
    cut = limit
    for start, end in spans:
        if start < cut < end:
            cut = start
            break
    head = text[:cut]
    if cut < len(text) and not text[cut].isspace() and not any(e == cut for _, e in spans):
        head = head.rsplit(" ", 1)[0] if " " in head else head
    head = head.rstrip(" ,;:")
    return head + "…" if head else text[:limit] + "…"
