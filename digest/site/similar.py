"""Similar papers: nearest neighbours by stored embedding within the archive (cosine, top k).

A full build compares every paper with every other in row chunks (bounded memory); a normal
build only compares the papers without cached neighbours against the archive, and lets those
new papers displace an older paper's neighbours when they are closer.
"""

from __future__ import annotations

import numpy as np

from digest.store import site as site_store
from digest.store.papers import load_all_vectors

Neighbours = dict[str, list[tuple[str, float]]]
_CHUNK = 1024


def _top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and scores of the k largest values of each row, best first."""
    k = min(k, scores.shape[1])
    if k <= 0:
        empty = np.zeros((scores.shape[0], 0))
        return empty.astype(int), empty
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(part_scores, order, axis=1)


def _neighbours_of(rows: np.ndarray, ids: list[str], vectors: np.ndarray, k: int) -> Neighbours:
    found: Neighbours = {}
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        scores = vectors[chunk] @ vectors.T
        scores[np.arange(len(chunk)), chunk] = -np.inf  # never your own neighbour
        cols, vals = _top_k(scores, k)
        for row, col_row, val_row in zip(chunk, cols, vals, strict=True):
            found[ids[row]] = [(ids[c], round(float(v), 4)) for c, v in
                               zip(col_row, val_row, strict=True) if np.isfinite(v)]
    return found


def update_similar(db, model: str, *, full: bool, k: int = 5) -> Neighbours:
    """Neighbour lists for every embedded paper, refreshing the cache in the store."""
    ids, vectors = load_all_vectors(db, model)
    if not ids:
        return {}
    index = {pid: i for i, pid in enumerate(ids)}
    cached = {} if full else site_store.similar_papers(db, model)
    missing = [i for i, pid in enumerate(ids)
               if pid not in cached or any(s not in index for s, _ in cached[pid])]
    if full or len(missing) * 2 > len(ids):
        result = _neighbours_of(np.arange(len(ids)), ids, vectors, k)
        site_store.save_similar_papers(db, model, result, replace_all=True)
        return result
    if not missing:
        return cached
    missing_rows = np.array(missing)
    fresh = _neighbours_of(missing_rows, ids, vectors, k)
    # Old papers: would one of the new papers enter their top k?
    changed: Neighbours = dict(fresh)
    missing_set = set(missing)
    kth = _kth_scores(ids, cached, k)
    for start in range(0, len(missing_rows), _CHUNK):
        chunk = missing_rows[start : start + _CHUNK]
        scores = vectors @ vectors[chunk].T  # (N, m)
        for row in np.nonzero(scores.max(axis=1) > kth)[0]:
            if row in missing_set:
                continue
            pid = ids[row]
            current = changed.get(pid, cached[pid])
            candidates = dict(current)
            for col, score in zip(chunk, scores[row], strict=True):
                if col != row:
                    candidates[ids[col]] = round(float(score), 4)
            best = sorted(candidates.items(), key=lambda item: (-item[1], item[0]))[:k]
            if best != current:
                changed[pid] = best
    site_store.save_similar_papers(db, model, changed)
    return {**cached, **changed}


def _kth_scores(ids: list[str], cached: Neighbours, k: int) -> np.ndarray:
    """Each paper's current k-th best score (-inf when it has fewer than k neighbours)."""
    kth = np.full(len(ids), -np.inf, dtype=np.float32)
    for i, pid in enumerate(ids):
        items = cached.get(pid)
        if items and len(items) >= k:
            kth[i] = items[k - 1][1]
    return kth
