"""Diversity: maximal marginal relevance over a shortlist, so one issue does not carry five
variants of one idea, and near-duplicates are dropped outright."""

from __future__ import annotations

import numpy as np

DUPLICATE_COSINE = 0.95  # this close to an already chosen paper = the same paper
REDUNDANCY_FLOOR = 0.5  # MMR: closeness below this is not redundancy (only near papers compete)


def mmr_order(
    candidates: np.ndarray,
    scores: np.ndarray,
    vectors: np.ndarray,
    limit: int,
    diversity_lambda: float,
    penalty_vectors: np.ndarray | None = None,
) -> list[int]:
    """Maximal marginal relevance over `candidates` (indices, best first), dropping duplicates.

    lambda = 1 is pure relevance; lower values trade relevance for variety. The redundancy
    penalty uses `penalty_vectors` (the pool's centred vectors: raw cosines between any two ML
    abstracts are high), counted only above REDUNDANCY_FLOOR and rescaled to [0, 1]: papers
    that are merely on related subjects don't push each other out, close variants of one idea
    do. A paper whose raw cosine to a chosen one reaches DUPLICATE_COSINE is dropped outright.
    """
    chosen: list[int] = []
    remaining = np.asarray(candidates)
    if not len(remaining) or limit <= 0:
        return chosen
    shortlist = vectors[remaining]
    sims = shortlist @ shortlist.T
    if penalty_vectors is None:
        redundancy = sims
    else:
        centred = penalty_vectors[remaining]
        redundancy = centred @ centred.T
    redundancy = np.maximum(redundancy - REDUNDANCY_FLOOR, 0.0) / (1.0 - REDUNDANCY_FLOOR)
    max_sim = np.full(len(remaining), -1.0, dtype=np.float32)
    max_red = np.zeros(len(remaining), dtype=np.float32)
    alive = np.ones(len(remaining), dtype=bool)
    relevance = diversity_lambda * scores[remaining]
    penalty = 1.0 - diversity_lambda
    while len(chosen) < limit:
        value = relevance - penalty * max_red
        value[~alive] = -np.inf
        best = int(np.argmax(value))  # first max = best score, then smaller id (input order)
        if not alive[best]:
            break
        chosen.append(int(remaining[best]))
        alive[best] = False
        np.maximum(max_sim, sims[best], out=max_sim)
        np.maximum(max_red, redundancy[best], out=max_red)
        alive &= max_sim < DUPLICATE_COSINE
    return chosen
