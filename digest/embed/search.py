"""Semantic search over stored papers: the query embedded, cosine against stored vectors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digest.config import Config
from digest.embed.encoder import encode_query
from digest.errors import UsageError
from digest.store import papers as paper_store


@dataclass(frozen=True)
class SearchHit:
    paper_id: str
    score: float
    title: str
    authors: tuple[str, ...]
    first_announced: str | None
    url: str | None


def top_k(query_vector: np.ndarray, matrix: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Indices and scores of the k rows most similar to the query (rows are unit length)."""
    if matrix.size == 0 or k <= 0:
        return []
    scores = matrix @ query_vector
    k = min(k, len(scores))
    best = np.argpartition(-scores, k - 1)[:k]
    ordered = sorted(best, key=lambda i: (-scores[i], i))
    return [(int(i), float(scores[i])) for i in ordered]


def search_papers(db, config: Config, query: str, limit: int = 10) -> list[SearchHit]:
    if not query.strip():
        raise UsageError("the search query is empty")
    if limit < 1:
        raise UsageError("--limit must be at least 1")
    ids, matrix = paper_store.load_all_vectors(db, config.embedding.model)
    if not ids:
        return []
    hits = top_k(encode_query(query, config.embedding), matrix, limit)
    papers = paper_store.get_papers(db, [ids[i] for i, _ in hits])
    out = []
    for index, score in hits:
        paper = papers[ids[index]]
        out.append(
            SearchHit(
                paper.id,
                round(score, 4),
                paper.title,
                paper.authors,
                paper.announced.isoformat() if paper.announced else None,
                paper.abs_url,
            )
        )
    return out
