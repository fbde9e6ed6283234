"""Bulk embedding that streams and resumes: papers without a vector are read in bounded pages
(keyset on the paper id), encoded, and committed page by page, so memory stays flat, a stop
(Ctrl-C, SIGKILL, a dead worker) loses at most the page in flight, and a rerun continues: the
(model, content hash) cache keys every vector, so nothing is embedded twice.

Two entry points: `embed_missing` (everything pending; what `digest embed` runs) and
`embed_papers` (a given batch of paper ids: one worker job per batch, idempotent)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from digest.config import EmbeddingConfig
from digest.embed.backends import get_encoder
from digest.models import embedding_text
from digest.store import embeddings as embedding_store
from digest.store import papers as paper_store
from digest.store.vector_dims import stored_dim

ProgressCallback = Callable[[int, int], None]  # (texts done, texts to do)
PAGE_BATCHES = 8  # a page is this many encoder batches: 512 texts at batch_size 64


@dataclass(frozen=True)
class EmbedReport:
    model: str
    embedded: int  # texts encoded in this call
    cached: int  # papers whose vector was already stored
    dim: int | None  # the model's vector length, from the store: None while it holds none
    backend: str | None = None  # "onnx" | "sentence-transformers"; None: nothing to encode
    stored: int = 0  # vectors this call added (less than `embedded` if another worker won)
    unknown: int = 0  # embed_papers: ids given that are not stored papers
    seconds: float = 0.0


def embed_missing(
    db,
    config: EmbeddingConfig,
    progress: ProgressCallback | None = None,
    paper_ids: Sequence[str] | None = None,
    page_size: int | None = None,
) -> EmbedReport:
    """Embed every stored paper whose (model, content hash) has no vector yet (or only those of
    `paper_ids`), streaming page by page and committing each page."""
    if paper_ids is not None:
        return embed_papers(db, config, paper_ids, progress)
    started = time.perf_counter()
    model = config.model
    to_do = embedding_store.count_missing(db, model)
    total = paper_store.count_papers(db)
    if not to_do:  # the dimension comes from the stored vectors: no model load for it
        return EmbedReport(model, 0, total, stored_dim(db, model))
    encoder = get_encoder(config)
    page = page_size or max(config.batch_size, 1) * PAGE_BATCHES
    after: str | None = None
    done = stored = 0
    dim = None
    if progress:
        progress(0, to_do)
    while rows := embedding_store.missing_page(db, model, after, page):
        after = rows[-1][0]
        texts = {h: embedding_text(title, abstract) for _, h, title, abstract in rows}
        vectors = encoder.encode(list(texts.values()), config.batch_size)
        stored += embedding_store.store_vectors(db, model, list(texts), vectors)
        dim = vectors.shape[1]
        done += len(texts)
        if progress:
            progress(done, max(to_do, done))  # papers fetched meanwhile may add to the work
    return EmbedReport(
        model,
        done,
        max(total - done, 0),
        dim,
        encoder.backend,
        stored,
        seconds=round(time.perf_counter() - started, 3),
    )


def embed_papers(
    db,
    config: EmbeddingConfig,
    paper_ids: Sequence[str],
    progress: ProgressCallback | None = None,
) -> EmbedReport:
    """Embed the given papers' texts that have no vector yet. Idempotent: a batch run twice, or
    by two workers at once, encodes at most what is missing and stores each vector once."""
    started = time.perf_counter()
    model = config.model
    missing, found = embedding_store.missing_for_papers(db, model, paper_ids)
    unknown = len(set(paper_ids)) - found
    if not missing:
        return EmbedReport(model, 0, found, stored_dim(db, model), unknown=unknown)
    encoder = get_encoder(config)
    page = max(config.batch_size, 1) * PAGE_BATCHES
    stored = 0
    for start in range(0, len(missing), page):
        chunk = missing[start : start + page]
        texts = [embedding_text(title, abstract) for _, title, abstract in chunk]
        vectors = encoder.encode(texts, config.batch_size)
        stored += embedding_store.store_vectors(db, model, [h for h, _, _ in chunk], vectors)
        if progress:
            progress(min(start + page, len(missing)), len(missing))
    return EmbedReport(
        model,
        len(missing),
        max(found - len(missing), 0),
        int(vectors.shape[1]),
        encoder.backend,
        stored,
        unknown,
        round(time.perf_counter() - started, 3),
    )
