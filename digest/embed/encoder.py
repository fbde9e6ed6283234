"""Sentence embeddings: the bundled all-MiniLM-L6-v2 on ONNX Runtime by default (the same vectors
as sentence-transformers, no torch at run time), any other sentence-transformers model by config.
Vectors are L2-normalised float32, cached in the store by (model, content hash), so unchanged
text is never embedded twice. The model loads once per process, when something needs it.
Entry points: `encode_texts`, `encode_query`; bulk embedding (`embed_missing`, `embed_papers`)
lives in bulk.py and is re-exported here."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from digest.config import EmbeddingConfig
from digest.embed.backends import get_encoder
from digest.embed.bulk import EmbedReport, embed_missing, embed_papers
from digest.embed.torch_backend import load_model, resolve_model_path

__all__ = [
    "EmbedReport",
    "embed_missing",
    "embed_papers",
    "encode_query",
    "encode_texts",
    "get_encoder",
    "load_model",
    "resolve_model_path",
]

ProgressCallback = Callable[[int, int], None]  # (done, total)


def encode_texts(
    texts: Sequence[str], config: EmbeddingConfig, progress: ProgressCallback | None = None
) -> np.ndarray:
    """Encode texts; returns an (n, dim) float32 array with unit-length rows.

    Each call sorts its texts by length, so one call per large chunk wastes less on padding
    than one call per batch.
    """
    encoder = get_encoder(config)
    chunks = []
    step = max(config.batch_size, 1) * 16
    for start in range(0, len(texts), step):
        chunks.append(encoder.encode(texts[start : start + step], config.batch_size))
        if progress:
            progress(min(start + step, len(texts)), len(texts))
    if not chunks:
        return np.zeros((0, 0), dtype=np.float32)
    return np.vstack(chunks)


def encode_query(text: str, config: EmbeddingConfig) -> np.ndarray:
    return encode_texts([text], config)[0]
