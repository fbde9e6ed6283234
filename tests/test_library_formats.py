"""Reading reference libraries: BibTeX (bibtexparser), RIS (rispy) and CSL-JSON as the
reference managers export them, and every kind of bad input named in one clear message."""

from __future__ import annotations

import json

import pytest

from digest.errors import UsageError
from digest.subscribers.library_formats import (
    MAX_LIBRARY_BYTES,
    clean_title,
    detect_format,
    parse_library,
    title_key,
)

# As Zotero (Better BibTeX), Google Scholar and JabRef write them.
BIBTEX = r"""
% exported by Zotero
@article{vaswani2017attention,
  title = {{Attention} Is All You Need},
  author = {Vaswani, Ashish and Shazeer, Noam},
  year = {2017},
  eprint = {1706.03762v7},
  archivePrefix = {arXiv},
  primaryClass = {cs.CL},
}
@article{scholar,
  title={Deep {\"U}ber $\alpha$-Divergence Networks},
  author={M{\"u}ller, J},
  journal={arXiv preprint arXiv:2401.01234},
  year={2024}
}
@misc{doi_only,
  title = {A paper known by its arXiv DOI},
  doi = {10.48550/arXiv.2310.12345},
}
@misc{url_only,
  title = {A paper known by its URL},
  url = {https://arxiv.org/pdf/2402.00001v2},
}
@article{oldstyle, title = {Old style}, eprint = {math.CA/0611800}}
@book{bishop, title = {Pattern Recognition and Machine Learning}, doi = {https://doi.org/10.1007/978-0-387-45528-0}}
@misc{no_title, author = {Someone}}
"""


def test_bibtex_ids_from_every_place_exporters_put_them():
    parsed = parse_library(BIBTEX.encode())
    assert parsed.format == "bibtex"
    by_ref = {e.ref: e for e in parsed.entries}
    assert by_ref["@article{vaswani2017attention}"].arxiv_id == "1706.03762"
    assert by_ref["@article{vaswani2017attention}"].title == "Attention Is All You Need"
    assert by_ref["@article{scholar}"].arxiv_id == "2401.01234"
    assert by_ref["@misc{doi_only}"].arxiv_id == "2310.12345"
    assert by_ref["@misc{doi_only}"].doi == "10.48550/arxiv.2310.12345"
    assert by_ref["@misc{url_only}"].arxiv_id == "2402.00001"
    assert by_ref["@article{oldstyle}"].arxiv_id == "math/0611800"
    assert by_ref["@book{bishop}"].arxiv_id is None
    assert by_ref["@book{bishop}"].doi == "10.1007/978-0-387-45528-0"
    assert [e.position for e in parsed.entries] == [1, 2, 3, 4, 5, 6]


def test_latex_in_titles_is_decoded_for_people_and_for_matching():
    parsed = parse_library(BIBTEX.encode())
    scholar = next(e for e in parsed.entries if e.ref == "@article{scholar}")
    assert scholar.title == "Deep Über α-Divergence Networks"
    # the stored arXiv title keeps its TeX; both sides meet on one key
    assert title_key(r"Deep \"{U}ber $\alpha$-divergence networks") == title_key(scholar.title)
    assert title_key("Deep Über α-Divergence Networks!") == "deep uber α divergence networks"
    assert clean_title(r"\textbf{Bold} {GAN}s \emph{rule}") == "Bold GANs rule"


def test_an_entry_without_a_title_or_id_is_skipped_and_named():
    parsed = parse_library(BIBTEX.encode())
    assert parsed.skipped == ["entry 7 (@misc{no_title}): no title, arXiv id or DOI to match it by"]


def test_a_broken_bibtex_block_is_named_and_the_rest_read():
    text = "@article{good, title={Fine}, eprint={2401.00001}}\n@article{bad, title={unclosed\n"
    parsed = parse_library(text.encode())
    assert [e.arxiv_id for e in parsed.entries] == ["2401.00001"]
    assert len(parsed.skipped) == 1 and "could not be read as a BibTeX entry" in parsed.skipped[0]


RIS = (
    "TY  - JOUR\r\nTI  - Hello $\\beta$ world\r\nAU  - Doe, Jane\r\n"
    "UR  - https://arxiv.org/abs/2401.00002v2\r\nER  - \r\n\r\n"
    "TY  - JOUR\r\nT1  - Only a DOI\r\nDO  - 10.1145/3292500.3330701\r\nER  - \r\n\r\n"
    "TY  - GEN\r\nAU  - Nobody\r\nER  - \r\n"
)


def test_ris_as_mendeley_and_zotero_write_it():
    parsed = parse_library(RIS.encode())
    assert parsed.format == "ris"
    assert [(e.title, e.arxiv_id, e.doi) for e in parsed.entries] == [
        ("Hello β world", "2401.00002", None),
        ("Only a DOI", None, "10.1145/3292500.3330701"),
    ]
    assert parsed.skipped == ["entry 3 (RIS record 3): no title, arXiv id or DOI to match it by"]


CSL = [
    {
        "id": "http://zotero.org/users/1/items/ABC",
        "type": "article",
        "title": "Zotero puts the id in number",
        "number": "arXiv:2405.01234",
        "DOI": "10.48550/ARXIV.2405.01234",
    },
    {"id": "b", "type": "book", "title": "A URL", "URL": "http://arxiv.org/abs/2406.01234v1"},
    {"id": "c", "type": "article-journal", "title": "Journal", "DOI": "10.1038/nature14539"},
]


def test_csl_json_list_and_zotero_items_object():
    for document in (CSL, {"items": CSL}):
        parsed = parse_library(json.dumps(document).encode())
        assert parsed.format == "csl-json"
        assert [(e.arxiv_id, e.doi) for e in parsed.entries] == [
            ("2405.01234", "10.48550/arxiv.2405.01234"),
            ("2406.01234", None),
            (None, "10.1038/nature14539"),
        ]


@pytest.mark.parametrize(
    "encode",
    [
        lambda t: t.encode("utf-8-sig"),  # UTF-8 with a BOM (Windows exports)
        lambda t: t.encode("utf-16"),  # UTF-16 with its BOM (Mendeley on Windows)
        lambda t: t.encode("utf-16-le"),  # UTF-16 without one
        lambda t: t.encode("utf-16-be"),
        lambda t: t.encode("latin-1"),  # an old JabRef file
    ],
)
def test_encodings(encode):
    text = "@article{k, title={Régression über alles}, eprint={2401.00003}}\n"
    parsed = parse_library(encode(text))
    assert [(e.title, e.arxiv_id) for e in parsed.entries] == [
        ("Régression über alles", "2401.00003")
    ]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"just some notes\nnothing here\n", "is not a BibTeX (.bib), RIS (.ris) or CSL-JSON"),
        (b'{"name": "a package.json"}', "is not a BibTeX (.bib), RIS (.ris) or CSL-JSON"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10", "binary file"),
        (b"", "is not a BibTeX"),
        (b"@comment{only a comment}\n", "no usable entry in this bibtex file"),
        (b"@misc{x, author={A}}\n", "no usable entry in this bibtex file (entry 1 (@misc{x}): no"),
    ],
)
def test_not_a_library_is_one_clear_message(raw, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_library(raw)


def test_a_50_mb_file_is_refused_before_it_is_read():
    raw = b"@misc{k, title={x}}\n" + b" " * (50 * 2**20)
    with pytest.raises(
        UsageError, match=r"the file is 50\.0 MB; a library file can be at most 20 MB"
    ):
        parse_library(raw)
    assert MAX_LIBRARY_BYTES == 20 * 2**20


def test_format_is_told_from_content_not_name():
    assert detect_format("TY  - JOUR\nER  - \n") == "ris"
    assert detect_format("  @Article{x,\n title={y}}") == "bibtex"
    assert detect_format('[{"type": "article", "title": "t"}]') == "csl-json"
    assert detect_format("an email: me@example.org {not bibtex}") is None


def test_an_absurd_title_is_not_a_title():
    raw = ("@misc{k, title={" + "word " * 400 + "}}\n@misc{ok, title={Fine title here}}").encode()
    parsed = parse_library(raw)
    assert [e.title for e in parsed.entries] == ["Fine title here"]
    assert "is not a title" in parsed.skipped[0]
