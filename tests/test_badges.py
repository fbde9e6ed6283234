"""Code and venue badges: extraction on real arXiv comments, storage at ingest, topic filters.

The comment strings are real ones from the week of 2025-10-06 in the shared fixtures (arXiv's
metadata, CC0; crawled by dw-dengwei/daily-arXiv-ai-enhanced, see tests/fixtures/README.md).
"""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest

from digest.errors import UsageError
from digest.ingest.badges import extract_badges, extract_links, extract_venue
from digest.ingest.badging import refresh_badges
from digest.models import Paper, Topic
from digest.rank import score as rank
from digest.store import open_db
from digest.store import summaries as badge_store
from digest.store.papers import upsert_papers
from digest.topics.toml_file import parse_topics_text

VENUES = [
    (
        "NeurIPS 2025 Spotlight. Project page:\n  https://tangjiapeng.github.io/ROGR",
        "NeurIPS 2025 Spotlight",
        "NeurIPS",
    ),
    ("Accepted to EMNLP 2025 (Industrial Track)", "EMNLP 2025 Industry", "EMNLP"),
    ("accepted to emnlp2025 findings", "EMNLP 2025 Findings", "EMNLP"),
    ("Accepted at EMNLP Findings 2025", "EMNLP 2025 Findings", "EMNLP"),
    ("Accepted to IJCAI 2022", "IJCAI 2022", "IJCAI"),
    ("This paper has been early accept by MICCAI 2025", "MICCAI 2025", "MICCAI"),
    ("10 pages, 10 figures, CoLM 2025", "COLM 2025", "COLM"),
    ("Accepted to ICCV' 2025", "ICCV 2025", "ICCV"),
    (
        "Accepted for publication at the 2025 Conference on Empirical Methods\n  in Natural "
        "Language Processing; 16 pages, 4 figures",
        "EMNLP 2025",
        "EMNLP",
    ),
    (
        "Proceedings of the 39th Annual Conference on Neural Information\n  Processing Systems, "
        "ARLET Workshop (Aligning Reinforcement Learning\n  Experimentalists and Theorists)",
        "NeurIPS Workshop",
        "NeurIPS",
    ),
    ("Accepted at NLLP@EMNLP 2025", "EMNLP 2025 Workshop", "EMNLP"),
    ("Accepted as a regular paper at BIBM2025", "BIBM 2025", "BIBM"),
    ("Accepted by TVCG", "TVCG", "TVCG"),
    ("Accepted by EMNLP-2025 Industrial Track", "EMNLP 2025 Industry", "EMNLP"),
]
NOT_VENUES = [
    "Under review at ICLR 2026",
    "ICLR2026 under review",
    "12 pages, 2 figures, 3 tables. Under review as a conference paper at\n  ICLR 2026",
    "Submitted to ACL Rolling Review of October",
    "This is a preprint submitted to ICDM Workshop (SABID 2025). 6 pages, 2 Figures",
    "Extended version of our ICCV 2023 paper",
    "12 pages, 6 figures",
    "Submitted to ICASSP 2026; Leaderboard: https://huggingface.co/spaces/hf-audio/x",
]


@pytest.mark.parametrize(("comments", "label", "key"), VENUES)
def test_venues_said_in_real_comments(comments, label, key):
    assert extract_venue(comments, None) == (label, key)


@pytest.mark.parametrize("comments", NOT_VENUES)
def test_no_venue_for_papers_not_yet_accepted_or_for_older_work(comments):
    assert extract_venue(comments, None) is None


def test_journal_ref_wins_and_an_unknown_journal_is_shown_as_written():
    assert extract_venue("Under review", "NeurIPS 2024") == ("NeurIPS 2024", "NeurIPS")
    assert extract_venue(None, "Phys. Rev. D 110, 024001 (2024)")[0].startswith("Phys. Rev. D")


def test_an_abstract_names_a_venue_only_when_it_says_accepted():
    assert extract_venue(None, None, "We beat the ICLR baselines of 2024 on six tasks.") is None
    assert extract_venue(None, None, "Our paper was accepted at CVPR 2025 as an oral.") == (
        "CVPR 2025 Oral",
        "CVPR",
    )


def test_code_links_by_host_and_by_the_words_before_them():
    text = (
        "Code: https://github.com/huggingface/open_asr_leaderboard. Leaderboard: "
        "https://huggingface.co/spaces/hf-audio/open_asr_leaderboard; Project page: "
        "https://www.lix.polytechnique.fr/vista/projects/x/ and code and data at "
        "https://bird-interact.github.io, DOI https://doi.org/10.1145/3746027.3758297, "
        "Conference website:https://conf.researchr.org/details/cascon-2025/posters-track/1/K"
    )
    found = [(link.kind, link.url) for link in extract_links(text)]
    assert found == [
        ("github", "https://github.com/huggingface/open_asr_leaderboard"),
        ("hf", "https://huggingface.co/spaces/hf-audio/open_asr_leaderboard"),
        ("project", "https://www.lix.polytechnique.fr/vista/projects/x/"),
        ("code", "https://bird-interact.github.io"),
    ]


def test_latex_href_and_bare_github_links():
    text = r"Code: \href{https://github.com/otmive/llama_reports}{github.com/otmive/llama\_reports}"
    assert [link.url for link in extract_links(text)] == ["https://github.com/otmive/llama_reports"]
    bare = "Code and pre-trained models are available at github.com/colloroneluca/MonSTeR."
    assert [link.url for link in extract_links(bare)] == [
        "https://github.com/colloroneluca/MonSTeR"
    ]


def paper(pid: str, comments: str | None, abstract: str = "We do things. It works.") -> Paper:
    return Paper(
        id=pid,
        title=f"Paper {pid}",
        abstract=abstract,
        comments=comments,
        version=1,
        announced=date(2025, 10, 6),
        announce_type="new",
    )


def test_ingest_stores_badges_and_an_update_without_comments_keeps_them(tmp_path):
    from digest.ingest.badging import record_badges

    db = open_db(tmp_path / "d.db")
    first = [paper("2510.00001", "Accepted by NeurIPS 2025. Code: https://github.com/a/b")]
    upsert_papers(db, first, source="jsonl")
    record_badges(db, first)
    stored = badge_store.badges_for(db, ["2510.00001"])["2510.00001"]
    assert stored.venue == "NeurIPS 2025" and stored.has_code
    # a feed entry (no comments) with new text: the stored comments stay, and so do the badges
    update = [paper("2510.00001", None, abstract="New abstract text. Still works.")]
    upsert_papers(db, update, source="feed")
    record_badges(db, update)
    assert badge_store.badges_for(db, ["2510.00001"])["2510.00001"] == stored


def test_refresh_badges_fills_papers_stored_before_and_is_idempotent(tmp_path):
    db = open_db(tmp_path / "d.db")
    upsert_papers(db, [paper("2510.00002", "EMNLP 2025"), paper("2510.00003", None)], "jsonl")
    assert refresh_badges(db) == 2
    assert refresh_badges(db) == 0
    assert set(badge_store.badges_for(db, ["2510.00002", "2510.00003"])) == {"2510.00002"}
    assert badge_store.badge_counts(db) == {"with_code": 0, "with_venue": 1}


def test_jsonl_import_of_real_lines_stores_badges(tmp_path, make_config):
    from digest.ingest.backfill import import_jsonl

    config, _ = make_config()
    lines = [
        {
            "id": "2510.03767",
            "title": "CoPA",
            "abstract": "Code is available at https://github.com/yihengd/CoPA.",
            "authors": ["A B"],
            "categories": ["cs.CV"],
            "published": "2025-10-06",
            "comments": "Accepted by MICCAI2025",
        },
        {
            "id": "2510.02369",
            "title": "X",
            "abstract": "Y z w.",
            "authors": ["C D"],
            "categories": ["cs.CL"],
            "published": "2025-10-06",
            "comments": "Under review at ICLR 2026",
        },
    ]
    path = tmp_path / "week.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines), encoding="utf-8")
    db = open_db(config.db_path)
    import_jsonl(db, path)
    found = badge_store.badges_for(db, ["2510.03767", "2510.02369"])
    assert list(found) == ["2510.03767"]
    assert found["2510.03767"].venue == "MICCAI 2025"
    assert [link.url for link in found["2510.03767"].links] == ["https://github.com/yihengd/CoPA"]


def test_a_topic_with_venues_and_has_code_passes_only_matching_papers():
    ids = ["a", "b", "c"]
    vectors = np.eye(3, 4, dtype=np.float32)
    badges = {
        "a": extract_badges(paper("a", "NeurIPS 2025. Code: https://github.com/x/a")),
        "b": extract_badges(paper("b", "Accepted to ICLR 2026")),
    }
    pool = rank.CandidatePool.build(
        ids, ["A", "B", "C"], ["x", "y", "z"], [(), (), ()], [(), (), ()], vectors, badges=badges
    )
    both = Topic(name="t", keywords=("x",), venues=("neurips", "ICLR"))
    assert pool.badge_mask(both.venues, both.has_code).tolist() == [True, True, False]
    assert pool.badge_mask(("NeurIPS", "ICLR"), True).tolist() == [True, False, False]
    profile = rank.TopicProfile(topic=Topic(name="t", keywords=("x",), has_code=True))
    scored = rank.score_topic(pool, profile, np.zeros(3, np.float32), 0.35)
    assert scored.eligible.tolist() == [True, False, False]


def test_the_topics_file_takes_venues_and_has_code_and_names_a_bad_value():
    text = '[[topic]]\nname = "Vision"\nkeywords = ["vision"]\nvenues = ["CVPR", "ICCV"]\nhas_code = true\n'
    (topic,) = parse_topics_text(text, "topics.toml")
    assert topic.venues == ("CVPR", "ICCV") and topic.has_code is True
    bad = '[[topic]]\nname = "Vision"\nkeywords = ["vision"]\n\nhas_code = "yes"\n'
    with pytest.raises(UsageError, match=r"topics.toml:5: topic 'Vision': has_code must be true"):
        parse_topics_text(bad, "topics.toml")
    with pytest.raises(UsageError, match=r"topics.toml:4: .*venues must be a list of strings"):
        parse_topics_text(
            '[[topic]]\nname = "V"\nkeywords = ["v"]\nvenues = "CVPR"\n', "topics.toml"
        )


def test_the_archive_shows_badges_on_day_cards_and_the_paper_page(sample_db, sample_config):
    from dataclasses import replace
    from pathlib import Path

    from digest.ingest.badging import save_from
    from digest.site.build import build_site
    from digest.store.papers import get_paper

    stored = get_paper(sample_db, "2609.26811")
    save_from(
        sample_db,
        [replace(stored, comments='NeurIPS 2026 Oral. Code: https://github.com/x/drift"><b>')],
    )
    config = replace(sample_config, site=replace(sample_config.site, search=False))
    report = build_site(sample_db, config)
    page = (Path(report.dir) / "papers/2609.26811.html").read_text()
    day = (Path(report.dir) / "days/2026-09-24.html").read_text()
    for html in (page, day):
        assert '<span class="cv cv-venue">NeurIPS 2026 Oral</span>' in html
        assert '<a class="cv cv-github" href="https://github.com/x/drift"' in html
        assert "<b>" not in html.split("cv-github", 1)[1][:200]
