"""Topics described in words: their terms and facets, the words a paper used for them, the
calibrated score and the rule that a paper passes only on its own evidence (pure, numpy)."""

from __future__ import annotations

import numpy as np
import pytest

from digest.models import Topic
from digest.rank import describe
from digest.rank import score as rank
from digest.rank.describe import DescriptionQuery, text_match
from digest.rank.evidence import (
    best_sentence,
    description_facets,
    description_terms,
    matched_terms,
)

ROBOTICS = "Robotics: robot manipulation, grasping, locomotion and motion planning"


def labels(text: str, keywords=()) -> dict[str, float]:
    return {t.label: t.weight for t in description_terms(text, keywords)}


def test_terms_are_salient_words_and_phrases_that_never_cross_a_list_separator():
    found = labels(ROBOTICS)
    assert {"robotics", "grasping", "locomotion", "robot manipulation", "motion planning"} <= set(
        found
    )
    assert "manipulation grasping" not in found and "grasping locomotion" not in found
    assert "and" not in found and "paper" not in labels("A paper on grasping")


def test_a_curators_keywords_count_double_and_words_are_kept_once_by_stem():
    found = labels("Robots that grasp", keywords=["grasping", "prompt-injection"])
    assert found["grasping"] == 2.0 or found.get("grasp") == 2.0
    assert sum(1 for label in found if label.startswith("grasp")) == 1  # one stem, one term
    assert found["prompt injection"] == 2.0  # a hyphenated keyword is a phrase of its words


def test_facets_are_the_list_items_with_their_lead_in():
    assert description_facets(ROBOTICS) == (
        "Robotics: robot manipulation",
        "Robotics: grasping",
        "Robotics: locomotion",
        "Robotics: motion planning",
    )
    assert description_facets("protein structure prediction") == ()


def test_a_paper_is_credited_with_its_own_words_for_a_term_phrases_first():
    terms = description_terms(ROBOTICS)
    text = "Our robotic arm learns grasp poses. It plans motions with motion planning."
    said = [words for _, words in matched_terms(text, terms)]
    assert said[0] == "motion planning"
    assert "robotic" in said and "grasp" in said
    assert "motions" not in said  # "motion" is already named in the phrase


def test_best_sentence_is_the_one_richest_in_the_topics_terms():
    terms = description_terms(ROBOTICS)
    abstract = (
        "Large models are everywhere. We study robot grasping with motion planning on a real "
        "arm. Results improve."
    )
    assert best_sentence(abstract, {}, terms).startswith("We study robot grasping")
    assert best_sentence("Nothing relevant here. At all.", {}, terms) is None


# ---------------------------------------------------------------- calibration and evidence


def day_pool(texts: list[str], vectors: np.ndarray, day: str = "2025-10-06") -> rank.CandidatePool:
    n = len(texts)
    return rank.CandidatePool.build(
        [f"p{i:03d}" for i in range(n)],
        [t.split(".")[0] for t in texts],
        texts,
        [("A",)] * n,
        [("cs.LG",)] * n,
        vectors,
        days=[day] * n,
    )


def synthetic_day(seed: int = 0, n: int = 200):
    """n generic papers around one direction, three about grasping (near the topic's vector
    and using its words) and one generic paper that is near in meaning but uses none."""
    rng = np.random.default_rng(seed)
    dim = 16
    topic = np.zeros(dim, np.float32)
    topic[0] = 1.0
    vectors = rng.normal(0, 0.3, (n, dim)).astype(np.float32)
    vectors[:, 1] += 1.0  # what every paper of the day shares
    texts = [f"Paper {i}. We train a neural network on data set {i}." for i in range(n)]
    for i in (0, 1, 2):
        vectors[i, 0] += 2.5
        texts[i] = f"Grasping {i}. A robot learns grasping with a gripper on data set {i}."
    vectors[3, 0] += 2.5  # close in meaning, no word of the topic
    texts[3] = "Generic 3. We train a neural network on many data sets."
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return texts, vectors, topic


def test_the_score_is_a_z_score_on_the_days_papers_so_the_default_threshold_is_three_sd():
    texts, vectors, topic = synthetic_day()
    query = DescriptionQuery.build("Robotics: grasping", np.vstack([topic, topic]))
    match = text_match(day_pool(texts, vectors), query)
    z = (match.score - describe.CAL_BASE) / describe.CAL_SCALE
    # centred on the papers without evidence for the topic (its background), in units of the
    # spread within the two groups (pooled): the background sits at 0, and the day's own
    # spread, which the topic's papers widen, is more than 1
    background, topical = z[~match.evidence], z[match.evidence]
    pooled = np.sqrt((background.size * background.var() + topical.size * topical.var()) / z.size)
    assert abs(float(background.mean())) < 1e-3 and abs(float(pooled) - 1.0) < 1e-3
    assert float(z.std()) > 1.0
    assert set(np.flatnonzero(match.score >= np.float32(0.35))) >= {0, 1, 2}


def test_a_paper_passes_only_with_both_kinds_of_its_own_evidence():
    texts, vectors, topic = synthetic_day()
    query = DescriptionQuery.build("Robotics: grasping", np.vstack([topic, topic]))
    pool = day_pool(texts, vectors)
    profile = rank.TopicProfile(Topic(name="Robotics", kind="curated"), description=query)
    scored = rank.score_topic(pool, profile, text_match(pool, query).score, 0.0)
    assert scored.evidence is not None
    assert {0, 1, 2} <= set(np.flatnonzero(scored.passes))
    # near in meaning, above a low threshold, but it never uses the topic's words
    assert scored.score[3] >= 0.0 and not scored.passes[3]
    pick = rank.make_pick(pool, 0, float(scored.score[0]), profile)
    assert pick.why.startswith("Robotics: mentions ") and "“grasping”" in pick.why


def test_a_broad_description_cannot_flood_a_day():
    """Whatever the description, a day's scores have the same spread: only its outliers reach
    the default threshold, however similar the description is to every paper."""
    texts, vectors, _ = synthetic_day(seed=1)
    generic = vectors.mean(axis=0)
    query = DescriptionQuery.build("neural network training on data", generic[None, :])
    match = text_match(day_pool(texts, vectors), query)
    assert float((match.score >= np.float32(0.35)).mean()) < 0.05


def test_a_paper_scores_the_same_in_its_days_pool_and_in_a_pool_of_two_days():
    texts, vectors, topic = synthetic_day(seed=2)
    other_texts, other_vectors, _ = synthetic_day(seed=3)
    query = DescriptionQuery.build("Robotics: grasping", topic[None, :])
    alone = text_match(day_pool(texts, vectors), query).score
    both = rank.CandidatePool.build(
        [f"p{i:03d}" for i in range(400)],
        [t.split(".")[0] for t in texts + other_texts],
        texts + other_texts,
        [("A",)] * 400,
        [("cs.LG",)] * 400,
        np.vstack([vectors, other_vectors]),
        days=["2025-10-06"] * 200 + ["2025-10-20"] * 200,  # two days a fortnight apart
    )
    together = text_match(both, query).score[:200]
    np.testing.assert_allclose(alone, together, atol=1e-6)


# ---------------------------------------------------------------- terms found in a pool


def presence(description: str, texts: list[str]) -> dict[str, tuple[list[int], list[int]]]:
    """term label -> (papers using it, papers using it in their title)."""
    vectors = np.eye(len(texts), 8, dtype=np.float32)
    pool = day_pool(texts, vectors)
    terms = description_terms(description)
    present, titled = describe.term_presence(pool, terms)
    return {
        t.label: (np.flatnonzero(present[i]).tolist(), np.flatnonzero(titled[i]).tolist())
        for i, t in enumerate(terms)
    }


def test_every_inflection_of_a_term_is_found_even_when_the_stem_is_not_its_prefix():
    # "mining" stems to "mine", "cities" to "citi", "posing" to "pose": a paper saying
    # "mined", "city" or "poses" uses the term (the first four letters of the stem missed them)
    found = presence(
        "Data mining: posing, cities",
        [
            "Mined. We mined logs.",
            "A city. Of nothing.",
            "Poses. Robot poses.",
            "Nothing. The miner went home.",
            "Dataset. Data-mining of the mines.",
        ],
    )
    assert found["mining"][0] == [0, 4]  # "miner" stems to "miner", not "mine"
    assert found["cities"][0] == [1] and found["posing"][0] == [2]
    assert found["data mining"] == ([4], [])  # hyphenated; not in the title "Dataset"
    assert found["mining"][1] == [0]  # "Mined" is the title of paper 0


def test_a_term_inside_a_longer_word_or_after_a_letter_outside_latin_1_is_not_found():
    found = presence(
        "Grasping",
        ["Data. αgrasping is one word.", "Data. snake_grasping too.", "Data. β grasping, alone."],
    )
    assert found["grasping"] == ([2], [])


def test_authors_and_categories_are_decoded_only_when_read():
    lazy = rank.JsonTuples(['["Ann Lee", "Bo Chen"]', "[]", None])
    assert len(lazy) == 3 and lazy[0] == ("Ann Lee", "Bo Chen") and lazy[-1] == ()
    assert lazy[1:] == [(), ()] and list(lazy)[0] == ("Ann Lee", "Bo Chen")
    with pytest.raises(IndexError):
        lazy[3]


def test_a_days_calibration_window_is_its_week_or_the_nearest_days_holding_enough_papers():
    from datetime import date

    from digest.rank.gather import calibration_window

    days = [date(2025, 10, d) for d in (6, 7, 8, 9, 10, 13, 14)]
    counts = [(d, 300) for d in days]
    # the week ending on the 14th holds 5 listing days (1,500 papers): that week
    assert calibration_window(counts, date(2025, 10, 14), 7, 1000) == ("2025-10-08", "2025-10-14")
    # the 7th: its week holds 600, so the days after it are borrowed, nearest first
    assert calibration_window(counts, date(2025, 10, 7), 7, 1000) == ("2025-10-01", "2025-10-09")
    # fewer papers stored than asked for: every stored day
    few = [(d, 10) for d in days]
    assert calibration_window(few, date(2025, 10, 8), 7, 1000) == ("2025-10-02", "2025-10-14")


def test_a_why_line_names_telling_words_next_to_the_salient_ones_never_the_commonest():
    texts = ["Paper. We compare models on data."] * 40
    for i in range(1, 8):  # "multi-agent": 8 of 40 papers, too common to be salient
        texts[i] = "Agents. Multi-agent systems of models."
    texts[0] = "Ours. An LLM in multi-agent teams of models."  # "LLM": salient, one paper
    vectors = np.eye(40, 8, dtype=np.float32)
    pool = day_pool(texts, vectors)
    query = DescriptionQuery.build("LLM: multi-agent systems and models", np.eye(1, 8))
    said = describe.evidence_words(pool, 0, query)
    assert said[0] == "LLM" and "multi-agent" in said and "models" not in said
    # a paper with nothing rarer than the commonest words is still told what it matched
    assert describe.evidence_words(pool, 20, query) == ("models",)
