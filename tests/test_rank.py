"""Pure ranking functions (digest.rank.score): matching, thresholds, MMR, feedback model, why-lines.

Small hand-made vectors where the geometry must be exact; the real-model behaviour is tested
in test_planning.py and test_topic_lab.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from digest.models import Topic
from digest.rank import pool as rank_pool_module
from digest.rank import score as rank


def unit(*values: float) -> np.ndarray:
    v = np.array(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def make_pool(rows: list[tuple[str, str, str, tuple[str, ...], tuple[str, ...], np.ndarray]]):
    ids, titles, abstracts, authors, cats, vecs = zip(*rows, strict=True)
    return rank.CandidatePool.build(ids, titles, abstracts, authors, cats, np.vstack(vecs))


@pytest.fixture
def pool():
    return make_pool(
        [
            (
                "p1",
                "Graph neural networks for molecules",
                "We study GNNs.",
                ("Ada Lovelace",),
                ("cs.LG",),
                unit(1, 0.1, 0, 0),
            ),
            (
                "p2",
                "GAN-based image synthesis",
                "Generative adversarial nets.",
                ("Alan Turing",),
                ("cs.CV",),
                unit(0, 1, 0.1, 0),
            ),
            (
                "p3",
                "Organ segmentation in CT",
                "Medical imaging of organs.",
                ("Grace Hopper",),
                ("eess.IV",),
                unit(0, 0, 1, 0.1),
            ),
            (
                "p4",
                "Language models that plan",
                "LLM agents plan.",
                ("José Núñez",),
                ("cs.CL",),
                unit(0.1, 0, 0, 1),
            ),
        ]
    )


def test_keywords_match_whole_words_case_insensitively():
    assert rank.matched_keywords("A GAN-based model", ["gan"]) == ("gan",)
    assert rank.matched_keywords("Organ segmentation", ["GAN"]) == ()
    assert rank.matched_keywords("graph  neural-networks rock", ["graph neural networks"]) == (
        "graph neural networks",
    )
    assert rank.matched_keywords("C++ code", ["c++"]) == ("c++",)


def test_a_keyword_also_matches_its_plural_in_the_pool_and_in_the_why(pool):
    """'GAN' in a topic missed 'GANs' and 'LLM' missed 'LLMs': curators had to list both."""
    assert rank.matched_keywords("Stable GANs", ["GAN"]) == ("GAN",)
    assert rank.matched_keywords("robot arms in the lab", ["robot arm"]) == ("robot arm",)
    assert rank.matched_keywords("biases", ["bias"]) == ("bias",)
    assert rank.matched_keywords("surveyed", ["survey"]) == ()
    topic = Topic(name="Nets", keywords=("adversarial net",))  # p2 says "adversarial nets"
    picks = rank.rank_pool(
        pool, [rank.TopicProfile(topic)], max_papers=10, default_threshold=0.3, diversity_lambda=1
    )
    assert [p.paper_id for p in picks] == ["p2"]
    assert pool.keyword_mask("net").tolist() == [False, True, False, False]  # the word index


def test_authors_match_through_normalisation():
    assert rank.matched_authors(["José Núñez", "B. Smith"], ["jose nunez"]) == ("jose nunez",)
    assert rank.matched_authors(["José Núñez"], ["Jose Nunes"]) == ()


def test_keyword_only_topic_needs_a_match_and_exclude_removes(pool):
    topic = Topic(name="Generative", keywords=("GAN",), exclude=("organ",))
    profile = rank.TopicProfile(topic)
    picks = rank.rank_pool(
        pool, [profile], max_papers=10, default_threshold=0.3, diversity_lambda=1.0
    )
    assert [p.paper_id for p in picks] == ["p2"]
    assert picks[0].matched_keywords == ("GAN",)
    assert picks[0].why.startswith("Generative: mentions “GAN”")


def test_exclude_and_category_filters_beat_a_high_score(pool):
    topic = Topic(
        name="All", keywords=("GNNs", "GAN", "organs", "LLM"), exclude=("LLM",), categories=("cs",)
    )
    picks = rank.rank_pool(
        pool, [rank.TopicProfile(topic)], max_papers=10, default_threshold=0.3, diversity_lambda=1.0
    )
    assert {p.paper_id for p in picks} == {"p1", "p2"}  # p3 not cs.*, p4 excluded


def test_followed_author_alone_picks_their_paper(pool):
    topic = Topic(name="People", authors=("Grace Hopper",))
    picks = rank.rank_pool(
        pool,
        [rank.TopicProfile(topic)],
        max_papers=10,
        default_threshold=0.35,
        diversity_lambda=1.0,
    )
    assert [p.paper_id for p in picks] == ["p3"]
    assert "by Grace Hopper" in picks[0].why


def test_description_similarity_and_threshold(pool):
    topic = Topic(name="Molecules", description="graphs")
    profile = rank.TopicProfile(topic, query_vector=unit(1, 0, 0, 0))
    picks = rank.rank_pool(
        pool, [profile], max_papers=10, default_threshold=0.5, diversity_lambda=1.0
    )
    assert [p.paper_id for p in picks] == ["p1"]
    strict = rank.TopicProfile(
        Topic(name="Molecules", description="graphs", threshold=0.999),
        query_vector=unit(1, 0, 0, 0),
    )
    assert (
        rank.rank_pool(pool, [strict], max_papers=10, default_threshold=0.5, diversity_lambda=1.0)
        == []
    )  # nothing qualifies: no padding


def test_best_topic_names_the_pick_and_blocked_never_pass(pool):
    a = rank.TopicProfile(Topic(name="Images", keywords=("GAN",)))
    b = rank.TopicProfile(Topic(name="Agents", keywords=("LLM",)))
    blocked = np.array([False, False, False, True])
    picks = rank.rank_pool(
        pool, [a, b], max_papers=10, default_threshold=0.3, diversity_lambda=1.0, blocked=blocked
    )
    assert [(p.paper_id, p.topic) for p in picks] == [("p2", "Images")]


def test_max_papers_and_ties_break_by_id():
    vecs = [unit(1, 0, 0), unit(0, 1, 0), unit(0, 0, 1)]
    pool = make_pool(
        [(pid, "t", "kw", (), (), v) for pid, v in zip(["c", "a", "b"], vecs, strict=True)]
    )
    profile = rank.TopicProfile(Topic(name="K", keywords=("kw",)))
    picks = rank.rank_pool(
        pool, [profile], max_papers=2, default_threshold=0.3, diversity_lambda=1.0
    )
    assert [p.paper_id for p in picks] == ["a", "b"]


def test_mmr_drops_near_duplicates_and_diversifies():
    vecs = np.vstack([unit(1, 0, 0), unit(1, 0.01, 0), unit(0.8, 0.6, 0), unit(0, 0, 1)])
    scores = np.array([0.9, 0.89, 0.7, 0.69], dtype=np.float32)
    order = rank.mmr_order(np.arange(4), scores, vecs, limit=4, diversity_lambda=1.0)
    assert order == [0, 2, 3]  # 1 is a duplicate of 0
    diverse = rank.mmr_order(np.arange(4), scores, vecs, limit=2, diversity_lambda=0.5)
    assert diverse == [0, 3]  # variety wins over the close-but-distinct paper 2


def test_feedback_model_learns_the_liked_direction():
    rng = np.random.default_rng(0)
    liked = rank.normalize_rows(rng.normal(size=(5, 8)) + np.eye(8)[0] * 3)
    disliked = rank.normalize_rows(rng.normal(size=(5, 8)) - np.eye(8)[0] * 3)
    model = rank.train_feedback_model(liked, disliked)
    assert model is not None
    bonus = model.bonus(np.vstack([unit(*np.eye(8)[0]), -unit(*np.eye(8)[0])]))
    assert bonus[0] > 0.05 > -0.05 > bonus[1]
    assert abs(bonus).max() <= rank.FEEDBACK_WEIGHT
    assert rank.train_feedback_model(liked, np.zeros((0, 8))) is None


def test_liked_papers_rank_their_neighbours_and_dislikes_push_away():
    base = [
        unit(1, 0, 0, 0),
        unit(0.9, 0.3, 0, 0),
        unit(0.9, -0.3, 0, 0),
        unit(0, 0, 1, 0),
        unit(0, 0, 0, 1),
        unit(0, 0.2, 0, 1),
    ]
    pool = make_pool([(f"p{i}", f"Title {i}", "", (), (), v) for i, v in enumerate(base)])
    liked = np.vstack([unit(1, 0.1, 0, 0)])
    profile = rank.TopicProfile(
        Topic(name="Likes"), liked_ids=("x",), liked_titles=("X",), liked_vectors=liked
    )
    plain = rank.semantic_scores(pool, [profile])[0]
    assert int(np.argmax(plain)) in (0, 1)
    pushed = rank.TopicProfile(
        Topic(name="Likes"),
        liked_ids=("x",),
        liked_titles=("X",),
        liked_vectors=liked,
        disliked_vectors=np.vstack([base[1]]),
    )
    moved = rank.semantic_scores(pool, [pushed])[0]
    assert moved[1] < plain[1]  # the disliked neighbour's direction lost score
    assert moved[2] > plain[2]
    picks = rank.rank_pool(
        pool, [profile], max_papers=1, default_threshold=-1.0, diversity_lambda=1.0
    )
    assert picks[0].similar_to == "x" and "close to “X”" in picks[0].why


def test_semantic_scores_are_batched_per_topic(pool):
    profiles = [
        rank.TopicProfile(Topic(name=str(i)), query_vector=unit(*np.eye(4)[i])) for i in range(4)
    ]
    sims = rank.semantic_scores(pool, profiles)
    assert sims.shape == (4, 4)
    assert list(np.argmax(sims, axis=1)) == [0, 1, 2, 3]
    assert np.isnan(rank.semantic_scores(pool, [rank.TopicProfile(Topic(name="k"))])).all()


def test_empty_pool_gives_no_picks():
    pool = rank.CandidatePool.build([], [], [], [], [], np.zeros((0, 4), np.float32))
    profile = rank.TopicProfile(Topic(name="x"), query_vector=unit(1, 0, 0, 0))
    assert (
        rank.rank_pool(pool, [profile], max_papers=5, default_threshold=0.1, diversity_lambda=0.8)
        == []
    )


# ---------------------------------------------------------------- liked papers: whitening, words


def random_pool(n: int, d: int = 8, seed: int = 0, texts: list[str] | None = None):
    rng = np.random.default_rng(seed)
    vecs = rng.normal(size=(n, d)) * np.linspace(3, 0.3, d)  # anisotropic, like embeddings
    vecs = (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32)
    texts = texts or [""] * n
    return rank.CandidatePool.build(
        [f"p{i}" for i in range(n)], [f"T{i}" for i in range(n)], texts, [()] * n, [()] * n, vecs
    )


@pytest.mark.parametrize("n", [5, 40])  # fewer papers than dimensions (Gram path), and more
def test_whitening_is_the_shrunk_inverse_square_root_of_the_pool_covariance(n):
    pool = random_pool(n)
    x = pool.centered.astype(np.float64)
    second = x.T @ x / n
    eigen, vectors = np.linalg.eigh(second)
    rho = rank_pool_module.WHITEN_SHRINKAGE * np.trace(second) / x.shape[1]
    expected = vectors @ np.diag((np.maximum(eigen, 0) + rho) ** -0.5) @ vectors.T
    queries = np.random.default_rng(1).normal(size=(3, x.shape[1]))
    got = pool.whitening().apply(queries)
    want = queries @ expected
    want /= np.linalg.norm(want, axis=1, keepdims=True)
    np.testing.assert_allclose(got, want, atol=1e-5)
    mean, sd = pool.whitening().score_stats(queries)  # of the plain centred scores
    plain = queries @ x.T
    np.testing.assert_allclose(mean, plain.mean(axis=1), atol=1e-6)
    np.testing.assert_allclose(sd, plain.std(axis=1), atol=1e-6)


def test_like_scores_keep_the_plain_centred_cosine_scale():
    pool = random_pool(60, seed=3)
    query = rank.liked_query(pool, pool.vectors[:3])
    scores = rank.like_scores(pool, query[None, :])[0]
    plain = rank.LIKE_BASE + pool.centered @ query
    assert abs(scores.mean() - plain.mean()) < 1e-5 and abs(scores.std() - plain.std()) < 1e-5
    tiny = random_pool(1)  # one paper: no spread to standardise, the plain score stands
    one = rank.like_scores(tiny, rank.liked_query(tiny, tiny.vectors)[None, :])[0]
    np.testing.assert_allclose(one, rank.LIKE_BASE + tiny.centered @ tiny.centered[0], atol=1e-6)


def test_significant_terms_favour_words_the_liked_papers_share_and_the_pool_rarely_has():
    texts = (
        ["the model of learning"] * 16
        + ["the zebrafish learning model"] * 2
        + ["the learning of a model with zebrafish"] * 2
    )
    pool = random_pool(20, texts=texts)
    liked = [
        rank.text_words(t)
        for t in (
            "zebrafish learning in the lab",
            "the zebrafish",
            "learning the model",
            "a new model",
        )
    ]
    terms = rank.significant_terms(pool, liked)
    assert set(terms) == {"zebrafish"}  # "the" / "learning" / "model" are everywhere
    assert rank.significant_terms(pool, liked[:1]) == {}  # one paper shares nothing
    assert rank.significant_terms(pool, [frozenset({"unseen"})] * 3) == {}  # not in the pool


def test_words_tied_at_the_cut_are_kept_together_whatever_order_they_come_in():
    # "alpha" and "beta" are equally significant; with room for one word, which one was kept
    # used to follow set order, which changes with every process (string hashing)
    texts = ["common words here"] * 18 + ["alpha here", "beta here"]
    pool = random_pool(20, texts=texts)
    liked = [frozenset({"alpha", "beta", "zeta"}), frozenset({"alpha", "beta", "zeta"})]
    pool_zeta = rank.significant_terms(pool, liked, limit=1)
    assert set(pool_zeta) == {"alpha", "beta"}  # "zeta" is in no pool paper
    assert pool_zeta["alpha"] == pool_zeta["beta"]
    flipped = [frozenset(reversed(sorted(w))) for w in liked]
    assert rank.significant_terms(pool, flipped, limit=1) == pool_zeta


def test_shared_rare_words_of_liked_papers_lift_papers_that_use_them():
    texts = [f"paper {i} about generic things" for i in range(30)]
    texts[7] = "a paper about hypergraph sparsifiers"
    pool = random_pool(30, seed=5, texts=texts)
    liked_vectors = pool.vectors[[0, 1, 2]]
    words = tuple(
        rank.text_words(t)
        for t in (
            "hypergraph sparsifiers are fast",
            "sparsifiers for a hypergraph",
            "on hypergraph cuts",
        )
    )
    bare = rank.TopicProfile(
        Topic(name="L"), liked_ids=("a", "b", "c"), liked_vectors=liked_vectors
    )
    with_words = rank.TopicProfile(
        Topic(name="L"), liked_ids=("a", "b", "c"), liked_vectors=liked_vectors, liked_words=words
    )
    plain, lifted = rank.semantic_scores(pool, [bare, with_words])
    others = np.arange(30) != 7
    assert lifted[7] - plain[7] > np.max(np.abs(lifted[others] - plain[others]))
    assert list(np.argsort(-lifted)).index(7) < list(np.argsort(-plain)).index(7)


def test_mmr_only_counts_close_papers_as_redundant():
    vecs = np.vstack([unit(1, 0, 0), unit(0.6, 0.8, 0), unit(0, 0, 1)])
    scores = np.array([0.9, 0.85, 0.79], dtype=np.float32)
    # cosine 0.6 (related, not a variant) costs little (a plain MMR would pick 2); 0.9 costs a lot
    assert rank.mmr_order(np.arange(3), scores, vecs, 2, 0.85, vecs) == [0, 1]
    close = np.vstack([unit(1, 0, 0), unit(0.9, 0.43, 0), unit(0, 0, 1)])
    assert rank.mmr_order(np.arange(3), scores, close, 2, 0.85, close) == [0, 2]
