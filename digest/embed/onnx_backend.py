"""The bundled MiniLM on ONNX Runtime: the exported graph (see export.py), the model's own
tokenizer, then mean pooling and L2 normalisation as sentence-transformers does them, with the
same 256-token cut. Needs onnxruntime, tokenizers and numpy only: no torch at run time."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
SETTINGS_FILE = "settings.json"  # max_seq_length, dim: what pooling needs besides the graph


class OnnxEncoder:
    """One ONNX Runtime session and tokenizer, loaded once and reused for every call."""

    backend = "onnx"

    def __init__(self, directory: Path, threads: int | None = None) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        settings = json.loads((directory / SETTINGS_FILE).read_text(encoding="utf-8"))
        self.max_seq_length = int(settings["max_seq_length"])
        self.dim = int(settings["dim"])
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: ORT's warnings are not the reader's
        if threads:
            options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(
            str(directory / MODEL_FILE), options, providers=["CPUExecutionProvider"]
        )
        self.input_names = {i.name for i in self.session.get_inputs()}
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.tokenizer = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
        self.tokenizer.enable_truncation(max_length=self.max_seq_length)
        pad_id = self.tokenizer.token_to_id("[PAD]")
        self.tokenizer.enable_padding(pad_id=pad_id or 0, pad_token="[PAD]")

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        """Unit-length float32 rows, in the order given. Texts of similar length are batched
        together (as sentence-transformers does), so little time goes to padding."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        step = max(batch_size, 1)
        for start in range(0, len(order), step):
            rows = order[start : start + step]
            out[rows] = self._encode_batch([str(texts[i]).strip() for i in rows])
        return out

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = self.session.run(None, feed)[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
