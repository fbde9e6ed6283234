"""The archive's embedding matrix, cached in files next to the database.

Reading ~150 MB of vectors out of SQLite on every build costs about a second; the cache keeps
them in a raw float32 file (read with one sequential read) that only grows by the rows written since
it was last brought up to date. A small JSON file records which content hash each row holds and
the stamp of the embeddings table it matches (row count, highest rowid and that row's hash and
time): rows with a higher rowid are appended (a replaced vector gets a new row, the last row of a
hash wins); anything else (rows deleted, an unexpected count) rebuilds the cache from scratch.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from digest.store import site as site_store

FORMAT = 1


def _files(db_file: str, model: str) -> tuple[Path, Path]:
    tag = hashlib.blake2b(model.encode(), digest_size=8).hexdigest()
    base = f"{db_file}.site-vectors-{tag}"
    return Path(base + ".f32"), Path(base + ".json")


def _read_meta(path: Path, model: str) -> dict | None:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    if meta.get("format") != FORMAT or meta.get("model") != model:
        return None
    return meta


def _refresh(db, model: str, data: Path, meta_path: Path) -> dict:
    """Bring the cache files up to date with the embeddings table; returns the metadata."""
    count, top, row = site_store.embeddings_stamp(db, model)
    meta = _read_meta(meta_path, model)
    expected = len(meta["hashes"]) * meta["dim"] * 4 if meta else 0
    size = data.stat().st_size if data.exists() else -1
    if meta and (meta["rowid"], meta["row"], meta["count"]) == (top, row, count):
        if size >= expected:
            return meta
        meta = None
    after = meta["rowid"] if meta else 0
    rows = site_store.embeddings_after(db, model, after)
    hashes: list[str] = list(meta["hashes"]) if meta else []
    known = set(hashes)
    added = len({h for h, _ in rows} - known)
    dim = meta["dim"] if meta else (len(rows[0][1]) // 4 if rows else 0)
    if meta is not None and (
        meta["count"] + added != count
        or site_store.embeddings_stamp_at(db, meta["rowid"]) != meta["row"]
        or any(len(blob) != dim * 4 for _, blob in rows)
        or size < expected
    ):
        rows = site_store.embeddings_after(db, model, 0)  # start again
        hashes = []
        dim = len(rows[0][1]) // 4 if rows else 0
    mode = "r+b" if hashes and data.exists() else "wb"
    with open(data, mode) as out:
        out.truncate(len(hashes) * dim * 4)  # rows a cut-short update left unrecorded
        out.seek(0, os.SEEK_END)
        out.write(b"".join(blob for _, blob in rows))
        out.flush()
        os.fsync(out.fileno())
    hashes += [h for h, _ in rows]
    meta = {"format": FORMAT, "model": model, "dim": dim, "count": count, "rowid": top}
    meta |= {"row": row, "hashes": hashes}
    temp = meta_path.with_suffix(f".tmp{os.getpid()}")
    temp.write_text(json.dumps(meta), encoding="utf-8")
    os.replace(temp, meta_path)
    return meta


def archive_vectors(db, model: str, db_file: str | None):
    """(paper ids, float32 matrix, content hashes) of every embedded paper, as
    site_store.archive_vectors returns them, read through the file cache when the database is
    a file (`db_file`)."""
    if not db_file:
        return site_store.archive_vectors(db, model)
    data, meta_path = _files(db_file, model)
    with open(str(data) + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build updates the cache at a time
        meta = _refresh(db, model, data, meta_path)
        papers = site_store.paper_hashes(db)
        row_of = {h: i for i, h in enumerate(meta["hashes"])}  # the last row of a hash wins
        found = [(pid, h) for pid, h in papers if h in row_of]
        dim = meta["dim"]
        if not found or not dim:
            return [], np.zeros((0, 0), dtype=np.float32), []
        rows = np.fromiter((row_of[h] for _, h in found), dtype=np.int64, count=len(found))
        matrix = np.fromfile(data, dtype=np.float32, count=len(meta["hashes"]) * dim)
    matrix = matrix.reshape(-1, dim)
    in_order = len(rows) == len(matrix) and bool((rows == np.arange(len(rows))).all())
    vectors = matrix if in_order else matrix[rows]
    return [pid for pid, _ in found], vectors, [h for _, h in found]
