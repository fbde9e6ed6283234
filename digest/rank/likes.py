"""Similarity to liked papers: "papers like these, unlike those" as one score per pool paper.

Split from `digest.rank.score` (which re-exports `liked_query` and `like_scores`): that module knows
topics and readers, this one turns liked/disliked vectors and the liked papers' words into a
score row. Two pieces of evidence are fused:

* semantic: the Rocchio query (mean of the liked papers' centred vectors, dislikes pushed
  away) mapped through the pool's shrunk whitening (`CandidatePool.whitening`), so the few
  directions in which all of a day's papers vary do not drown the rarer ones the liked papers
  share;
* lexical: words that the liked papers share far more often than the pool's papers do, each
  weighted by its log-likelihood ratio (Dunning's G^2) -- the "significant terms" of the
  liked set -- summed over the words a candidate contains.

Both are standardised over the pool and added (lexical at LEXICAL_WEIGHT); the fused order is
then put back on the scale of the plain centred cosine (its pool mean and spread), so
thresholds keep their meaning. The whitening and the word index are computed once per pool and
shared by every subscriber.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from digest.rank.pool import CandidatePool, normalize_rows

# Similarity to liked papers is measured after removing the pool's common direction (all ML
# abstracts look alike to a sentence model); such centred cosines run about 0.2 lower than the
# raw cosine used for descriptions, so LIKE_BASE puts both on one scale for thresholds.
LIKE_BASE = 0.2
DISLIKE_WEIGHT = 0.5  # Rocchio: how far disliked papers push the query away
LEXICAL_WEIGHT = 0.3  # significant shared words, relative to the semantic evidence (z units)
LEXICAL_TERMS = 50  # this many significant words per liked set (more when tied at the cut)
LEXICAL_MIN_PAPERS = 2  # a word must occur in at least this many liked papers


def liked_query(
    pool: CandidatePool, liked: np.ndarray, disliked: np.ndarray | None = None
) -> np.ndarray:
    """One query vector (in centred space) for "papers like these, unlike those" (Rocchio)."""
    query = pool.center(liked).mean(axis=0)
    if disliked is not None and len(disliked):
        query = query - DISLIKE_WEIGHT * pool.center(disliked).mean(axis=0)
    return normalize_rows(query)


def significant_terms(
    pool: CandidatePool, liked_words: Sequence[frozenset[str]], limit: int = LEXICAL_TERMS
) -> dict[str, float]:
    """Words the liked papers share unusually often, weighted by Dunning's G^2.

    A word in k of the m liked papers, and in a share p of the pool's papers, scores
    G^2 = 2 [k ln(k / mp) + (m - k) ln((m - k) / m(1 - p))] when k / m > p: how surprising it
    is that so many liked papers use it. Common words ("learning", "the") are everywhere and
    score little; a word in three of five liked papers and 5% of the pool scores high.
    """
    m = len(liked_words)
    n = len(pool)
    if m < LEXICAL_MIN_PAPERS or n == 0:
        return {}
    counts = Counter(w for words in liked_words for w in words)
    # sorted: a set's order changes with every process (string hashing), and so did which of
    # several equally significant words were kept, and the liked-papers ranking with it
    words = sorted(w for w, k in counts.items() if k >= LEXICAL_MIN_PAPERS)
    if not words:
        return {}
    k = np.array([counts[w] for w in words], dtype=np.float64)
    df = pool.document_frequency(words)
    present = df > 0
    p = (df + 0.5) / (n + 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rest = np.where(k < m, (m - k) * np.log((m - k) / (m * (1.0 - p))), 0.0)
        g2 = 2.0 * (k * np.log(k / (m * p)) + rest)
    g2 = np.where(present & (k / m > p), g2, 0.0)
    order = np.argsort(-g2, kind="stable")
    if len(order) > limit:  # words tied with the last one kept are kept too: none is likelier
        order = order[g2[order] >= g2[order[limit - 1]]]
    return {words[i]: float(g2[i]) for i in order if g2[i] > 0}


def _standardize(rows: np.ndarray) -> np.ndarray:
    mean = rows.mean(axis=-1, keepdims=True)
    sd = rows.std(axis=-1, keepdims=True)
    return np.divide(rows - mean, sd, out=np.zeros_like(rows), where=sd > 1e-12)


def like_scores(
    pool: CandidatePool,
    queries: np.ndarray,
    liked_words: Sequence[Sequence[frozenset[str]]] | None = None,
) -> np.ndarray:
    """(queries, papers) scores for Rocchio `queries` (rows from `liked_query`), batched.

    `liked_words[j]` are the word sets of query j's liked papers (empty: semantic only).
    """
    queries = np.atleast_2d(queries)
    whitening = pool.whitening()
    plain_mean, plain_sd = whitening.score_stats(queries)
    evidence = _standardize(whitening.apply(queries) @ pool.centered.T)
    for j, words in enumerate(liked_words or ()):
        terms = significant_terms(pool, words) if words else {}
        if terms:
            lexical = _standardize(pool.term_scores(terms))
            evidence[j] = _standardize(evidence[j] + LEXICAL_WEIGHT * lexical)
    scale = plain_sd.astype(np.float32)[:, None]
    return (LIKE_BASE + plain_mean.astype(np.float32)[:, None] + scale * evidence).astype(
        np.float32
    )
