"""Similar papers: nearest neighbours by stored embedding within the archive (cosine, top k).

A full build compares every paper with every other in row chunks (bounded memory); a normal
build only compares the papers without cached neighbours against the archive, and lets those
new papers displace an older paper's neighbours when they are closer.
"""

from __future__ import annotations

from math import isfinite

import numpy as np

from digest.errors import DigestError
from digest.store import site as site_store

Neighbours = dict[str, list[tuple[str, float]]]
_CHUNK = 256
_BLOCK = 128  # columns per block in _top_k's first pass
EXACT_LIMIT = 20000  # above this many papers a full build uses an inverted-file search
PROBES = 4  # clusters searched per paper in the inverted-file search


def _top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and scores of the k largest values of each row, best first.

    Wide rows are first cut into blocks of _BLOCK columns: the k largest values of a row lie in
    its k blocks with the largest maxima, so only those k x _BLOCK columns are partitioned
    (about 13x faster than partitioning 100k columns, same result)."""
    k = min(k, scores.shape[1])
    if k <= 0:
        empty = np.zeros((scores.shape[0], 0))
        return empty.astype(int), empty
    rows, width = scores.shape
    blocks = width // _BLOCK
    if blocks <= 4 * k:
        return _partition_top_k(scores, k)
    heads = scores[:, : blocks * _BLOCK].reshape(rows, blocks, _BLOCK).max(axis=2)
    best = np.argpartition(-heads, k - 1, axis=1)[:, :k]
    cols = (best[:, :, None] * _BLOCK + np.arange(_BLOCK)).reshape(rows, -1)
    rest = np.arange(blocks * _BLOCK, width)  # the columns after the last whole block
    cols = np.concatenate([cols, np.broadcast_to(rest, (rows, len(rest)))], axis=1)
    picked, values = _partition_top_k(np.take_along_axis(scores, cols, axis=1), k)
    return np.take_along_axis(cols, picked, axis=1), values


def _partition_top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(part_scores, order, axis=1)


def _neighbours_of(
    rows: np.ndarray, ids: list[str], vectors: np.ndarray, k: int, on_scores=None
) -> Neighbours:
    """Top k of the given rows against every paper; `on_scores(chunk, scores)` sees each
    chunk's (m, N) score matrix too."""
    found: Neighbours = {}
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        scores = vectors[chunk] @ vectors.T
        scores[np.arange(len(chunk)), chunk] = -np.inf  # never your own neighbour
        if on_scores is not None:
            on_scores(chunk, scores)
        cols, vals = _top_k(scores, k)
        _collect(found, ids, chunk, cols, vals)
    return found


def _collect(found: Neighbours, ids, rows, cols, vals, pool=None) -> None:
    """found[ids[row]] = [(ids[col], score rounded to 4 places), ...] for the finite scores
    (Python lists, not numpy scalars: this runs for every paper of a full build)."""
    if pool is not None:
        cols = pool[cols]
    for row, col_row, val_row in zip(rows.tolist(), cols.tolist(), vals.tolist(), strict=True):
        found[ids[row]] = [
            (ids[c], round(v, 4)) for c, v in zip(col_row, val_row, strict=True) if isfinite(v)
        ]


def update_similar(
    db, model: str, *, full: bool, k: int = 5, build_id: int = 0
) -> Neighbours | None:
    """Bring the cached neighbour lists up to date (lists written are stamped with `build_id`,
    so site trees built earlier know to re-render). Returns every list when it recomputed them
    all; None otherwise (the store holds them: read the ones you need)."""
    ids, vectors, content_hashes = site_store.archive_vectors(db, model)
    if not ids:
        return {}
    hashes = dict(zip(ids, content_hashes, strict=True))
    heads = {} if full else site_store.similar_heads(db, model, k)
    gone: Neighbours = {pid: [] for pid in heads if pid not in hashes}
    if gone:  # a paper that left the archive loses its list: if it returns, it is new again
        site_store.save_similar_papers(db, model, gone, hashes=hashes, build_id=build_id)
        heads = {pid: head for pid, head in heads.items() if pid not in gone}
    # A paper whose text changed since its list was computed: its list, and every list that
    # shows it (with its old score), are recomputed; so are lists showing a paper now gone.
    redone = {pid for pid, (h, _) in heads.items() if pid in hashes and h != hashes[pid]}
    stale = redone | (site_store.similar_targets_gone(db, model, ids) if heads else set())
    showing = site_store.similar_showing(db, model, stale) if stale else set()
    missing = [
        i for i, pid in enumerate(ids) if pid not in heads or pid in redone or pid in showing
    ]
    if full or len(missing) * 2 > len(ids):
        result = (
            _neighbours_of(np.arange(len(ids)), ids, vectors, k)
            if len(ids) <= EXACT_LIMIT
            else _clustered_neighbours(ids, vectors, k)
        )
        site_store.save_similar_papers(
            db, model, result, hashes=hashes, replace_all=True, build_id=build_id
        )
        return result
    if missing:
        changed = _displaced(db, model, ids, vectors, np.array(missing), heads, k)
        site_store.save_similar_papers(db, model, changed, hashes=hashes, build_id=build_id)
    return None


def _displaced(db, model, ids, vectors, missing_rows, heads, k: int) -> Neighbours:
    """Fresh lists for the missing papers, plus the older lists one of them now enters (from
    the same score matrices: each new paper against every paper)."""
    missing_set = set(missing_rows.tolist())
    kth = np.full(len(ids), -np.inf, dtype=np.float32)
    for i, pid in enumerate(ids):
        head = heads.get(pid)
        if head is not None and head[1] is not None:
            kth[i] = head[1]
    entered: dict[int, dict[str, float]] = {}  # old paper row -> new papers' raw scores

    def displace(chunk: np.ndarray, scores: np.ndarray) -> None:
        for row in np.nonzero(scores.max(axis=0) > kth)[0].tolist():
            if row in missing_set:
                continue
            closer = entered.setdefault(row, {})
            column = scores[:, row]
            # A score rounding below the k-th cannot enter: skip those.
            near = np.flatnonzero(column >= kth[row] - 1e-4).tolist()
            for col, score in zip(chunk[near].tolist(), column[near].tolist(), strict=True):
                if col != row:
                    closer[ids[col]] = score

    changed: Neighbours = _neighbours_of(missing_rows, ids, vectors, k, displace)
    cached = site_store.similar_lists(db, model, [ids[row] for row in entered])
    index = {pid: i for i, pid in enumerate(ids)} if entered else {}
    for row, closer in entered.items():
        current = cached.get(ids[row], [])
        # Ranked by raw score, as a computation from scratch ranks (rounded scores tie).
        members = [index[pid] for pid, _ in current if pid in index]
        scores = (vectors[members] @ vectors[row]).tolist()
        raw = dict(zip([ids[m] for m in members], scores, strict=True))
        raw.update(closer)
        best = sorted(raw.items(), key=lambda item: (-item[1], item[0]))[:k]
        rounded = [(pid, round(score, 4)) for pid, score in best]
        if rounded != current:
            changed[ids[row]] = rounded
    return changed


def _clustered_neighbours(ids: list[str], vectors: np.ndarray, k: int) -> Neighbours:
    """Approximate top k for big archives: k-means lists, each paper searches the members of
    the PROBES clusters nearest to its own cluster's centroid (cost ~ N * PROBES * N / clusters
    instead of N * N). New papers on normal builds still get an exact search."""
    clusters = max(8, int(np.sqrt(len(ids))))
    centroids, labels = _spherical_kmeans(vectors, clusters)
    members = [np.flatnonzero(labels == c) for c in range(clusters)]
    nearest_lists = np.argsort(-(centroids @ centroids.T), axis=1)[:, :PROBES]
    found: Neighbours = {}
    for c in range(clusters):
        rows = members[c]
        if not len(rows):
            continue
        pool = np.concatenate([members[p] for p in nearest_lists[c]])
        scores = vectors[rows] @ vectors[pool].T
        scores[rows[:, None] == pool[None, :]] = -np.inf
        cols, vals = _top_k(scores, k)
        _collect(found, ids, rows, cols, vals, pool)
    return found


def _spherical_kmeans(
    vectors: np.ndarray, clusters: int, rounds: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """A few Lloyd rounds on the unit sphere, seeded from a fixed random sample."""
    rng = np.random.default_rng(0)
    centroids = vectors[rng.choice(len(vectors), clusters, replace=False)].copy()
    labels = np.zeros(len(vectors), dtype=np.int64)
    for _ in range(rounds):
        for start in range(0, len(vectors), 8192):
            labels[start : start + 8192] = np.argmax(
                vectors[start : start + 8192] @ centroids.T, axis=1
            )
        sums = np.zeros_like(centroids)
        np.add.at(sums, labels, vectors)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        keep = norms[:, 0] > 0
        centroids[keep] = sums[keep] / norms[keep]
    return centroids, labels


class SimilarUpdate:
    """update_similar, started early: a normal build runs it in a forked process on its own
    connection while the archive is gathered (the lists land in the store); a full build (or an
    in-memory database, or no fork) runs it in line when the result is first asked for."""

    def __init__(self, db, model: str, *, full: bool, build_id: int) -> None:
        import multiprocessing

        self.db, self.model, self.full, self.build_id = db, model, full, build_id
        self.process = self.reader = None
        self.forked = False
        path = db.location()
        if full or not path or "fork" not in multiprocessing.get_all_start_methods():
            return
        context = multiprocessing.get_context("fork")
        self.reader, writer = context.Pipe(duplex=False)
        self.process = context.Process(
            target=_update_in_child, name="site-similar", args=(writer, path, model, build_id)
        )
        self.process.start()
        writer.close()
        self.forked = True

    def wait(self) -> None:
        """Let the forked update finish; raises DigestError if it failed."""
        if self.process is None or self.reader is None:
            return
        try:
            message = self.reader.recv()
        except EOFError:  # the child died before reporting
            message = ""
        self.process.join()
        failed = message or self.process.exitcode != 0
        self.process = self.reader = None
        if failed:
            raise DigestError(message or "the similar-papers update failed")

    def result(self) -> Neighbours | None:
        """Every list when computed here in line; None when the forked update stored them."""
        if self.forked:
            self.wait()
            return None
        return update_similar(self.db, self.model, full=self.full, build_id=self.build_id)


def _update_in_child(writer, path: str, model: str, build_id: int) -> None:
    from digest.store import open_db

    try:
        db = open_db(path, migrate=False)
        update_similar(db, model, full=False, build_id=build_id)
        db.conn.close()
        writer.send("")
    except BaseException as exc:  # reported to the parent, which raises it
        writer.send(str(exc) or exc.__class__.__name__)
