"""Which encoder embeds: the bundled MiniLM on ONNX Runtime (its checked export, built on first
use) unless `[embedding].backend` or the device say otherwise; sentence-transformers for any
other model, and as the fallback, with a warning, when the export cannot be used."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict
from functools import lru_cache
from typing import Protocol

import numpy as np

from digest.config import BUNDLED_MODEL, EmbeddingConfig
from digest.embed.torch_backend import BUNDLED_INT8, BUNDLED_KEYS, SentenceTransformerEncoder
from digest.errors import DigestError

log = logging.getLogger("digest.embed")


class TextEncoder(Protocol):
    backend: str  # "onnx" | "sentence-transformers"

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray: ...


def uses_onnx(config: EmbeddingConfig) -> bool:
    """ONNX Runtime for the bundled model on CPU unless `[embedding].backend` says otherwise."""
    if config.backend == "onnx":
        return True
    return config.backend == "auto" and config.model in BUNDLED_KEYS and config.device == "cpu"


def get_encoder(config: EmbeddingConfig) -> TextEncoder:
    """The encoder for this config, loaded once per process and reused (web requests too)."""
    return _encoder_for(config.model, config.device, config.backend)


@lru_cache(maxsize=4)
def _encoder_for(model: str, device: str, backend: str) -> TextEncoder:
    config = EmbeddingConfig(model=model, device=device, backend=backend)
    if uses_onnx(config):
        onnx = _onnx_encoder(model)
        if onnx is not None:
            return onnx
    if model == BUNDLED_INT8:
        raise DigestError(
            f"{BUNDLED_INT8} runs on ONNX Runtime only: set [embedding].backend to auto or "
            f"onnx, or use {BUNDLED_MODEL}"
        )
    return SentenceTransformerEncoder(model, device)


def _onnx_encoder(model: str) -> TextEncoder | None:
    """The checked export from the cache (built on first use); None, with a warning, when it
    cannot be used: sentence-transformers then embeds the same model, slower."""
    from digest.embed import export
    from digest.embed.onnx_backend import OnnxEncoder

    try:
        directory = export.export_dir(model)
        manifest = export.read_manifest(directory)
        if manifest is None:
            log.info("preparing the ONNX export of %s (once, about 20 s)", model)
            manifest = asdict(export.prepare(model))
        if manifest.get("verified"):
            return OnnxEncoder(directory)
        reason = manifest.get("reason") or "not verified"
    except Exception as exc:  # a partial install, a damaged cache: fall back, never stop
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
    if model == BUNDLED_INT8:
        raise DigestError(f"the int8 export of the bundled model cannot be used: {reason}")
    log.warning(
        "the ONNX export of the bundled model cannot be used (%s): embedding with "
        "sentence-transformers instead (slower, same vectors); `digest embed --prepare` "
        "tries the export again",
        reason,
    )
    return None
