"""TeX in titles and abstracts on the site: maths as MathML, styling as typography, readable
plain text for <title>, meta tags, feeds and the search index (digest.site.texmath)."""

from __future__ import annotations

import re

from digest.site.profiles import licence_name
from digest.site.texmath import clip_tex, tex_html, tex_plain

RAW_TEX = re.compile(r"\\(?:mathcal|textbf|emph|mkern)|\$[^$]+\$|``|''")


def test_maths_becomes_mathml_and_styling_becomes_typography():
    text = r"We propose $\mathcal{E\mkern-2mu L}$, a \textbf{new} ``talk'' \emph{model}"
    html = str(tex_html(text))
    assert '<math xmlns="http://www.w3.org/1998/Math/MathML" display="inline">' in html
    assert '<mi mathvariant="script">E</mi>' in html
    assert "<strong>new</strong>" in html and "<em>model</em>" in html and "“talk”" in html
    assert not RAW_TEX.search(html)


def test_plain_text_has_no_tex_left():
    text = r"Scaling $O(n^2)$ with \textbf{$\alpha$-nets}, 5\% better, \eg ``fast''"
    plain = tex_plain(text)
    assert plain == "Scaling O(n^2) with α-nets, 5% better, e.g. “fast”"
    assert not RAW_TEX.search(plain) and "\\" not in plain


def test_markup_in_a_title_stays_text():
    html = str(tex_html(r"<script>alert(1)</script> $x<y$ \textbf{<b>}"))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<strong>&lt;b&gt;</strong>" in html
    assert "<mo>&lt;</mo>" in html or "&#x0003C;" in html


def test_an_authors_own_macro_reads_as_its_name():
    assert tex_plain(r"We release \modelname{} today") == "We release modelname today"


def test_a_formula_latex2mathml_cannot_read_falls_back_to_text():
    html = str(tex_html(r"broken $\frac{a}{$ end"))
    assert "\\frac" not in html


def test_dollars_that_are_not_maths_stay():
    assert tex_plain(r"costs \$5 per run") == "costs $5 per run"
    assert str(tex_html("one $5 bill")) == "one $5 bill"


def test_clipping_never_cuts_a_formula():
    text = "aaa bbb $x^2 + y^2 = z^2$ ccc ddd"
    clipped = clip_tex(text, 14)
    assert clipped == "aaa bbb…"
    assert clip_tex(text, 40) == text
    assert str(tex_html(clip_tex(text, 27))).count("<math") == 1


def test_licences_by_name():
    assert licence_name("http://creativecommons.org/licenses/by/4.0/") == "CC BY 4.0"
    assert licence_name("http://creativecommons.org/licenses/by-nc-sa/4.0/") == "CC BY-NC-SA 4.0"
    assert licence_name("http://creativecommons.org/publicdomain/zero/1.0/") == "CC0 1.0"
    assert (
        licence_name("http://arxiv.org/licenses/nonexclusive-distrib/1.0/")
        == "arXiv non-exclusive licence to distribute"
    )
    assert licence_name(None) is None
