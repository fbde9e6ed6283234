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
MAX_BATCH_TOKENS = 16 * 256  # rows x tokens per run: peak RSS ~0.4 GB, the same speed as 64 x 256


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
        # Idle threads sleep instead of spinning: ~18 % less CPU for the same work measured on
        # this 2-core machine under load, and a web worker's idle threads burn nothing.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(
            str(directory / MODEL_FILE), options, providers=["CPUExecutionProvider"]
        )
        self.input_names = {i.name for i in self.session.get_inputs()}
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.tokenizer = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
        self.tokenizer.enable_truncation(max_length=self.max_seq_length)
        self.tokenizer.no_padding()  # each batch is padded to its own longest text
        self.pad_id = self.tokenizer.token_to_id("[PAD]") or 0

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        """Unit-length float32 rows, in the order given. Texts are tokenized at once, sorted by
        length and batched with a token budget, so little time goes to padding and memory stays
        flat (a batch of 64 texts of 256 tokens would grow the arena past a gigabyte)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        encodings = self.tokenizer.encode_batch([str(text).strip() for text in texts])
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        start = 0
        while start < len(order):
            longest = max(len(encodings[order[start]].ids), 1)
            size = max(1, min(max(batch_size, 1), MAX_BATCH_TOKENS // longest))
            rows = order[start : start + size]
            out[rows] = self._encode_batch([encodings[i] for i in rows], longest)
            start += size
        return out

    def _encode_batch(self, encodings: list, width: int) -> np.ndarray:
        ids = np.full((len(encodings), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = self.session.run(None, feed)[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
