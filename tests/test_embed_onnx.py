"""The bundled model on ONNX Runtime: the export gives the torch vectors, run time needs no torch,
int8 is a separate model key, and an export that fails its check falls back with a warning."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from digest.config import BUNDLED_MODEL, Config, EmbeddingConfig
from digest.embed import export
from digest.embed.backends import get_encoder
from digest.embed.encoder import embed_missing
from digest.embed.torch_backend import BUNDLED_INT8, SentenceTransformerEncoder
from digest.errors import DigestError
from digest.models import embedding_text
from digest.store import open_db
from digest.store import papers as paper_store

ROOT = Path(__file__).resolve().parent.parent
LISTING = ROOT / "data" / "samples" / "listings" / "2025-10-06.jsonl"


def real_texts(count: int) -> list[str]:
    rows = [json.loads(line) for line in LISTING.read_text(encoding="utf-8").splitlines()]
    return [f"{r['title']}\n{r['abstract']}" for r in rows[:count]]


@pytest.fixture(scope="module")
def torch_encoder():
    return SentenceTransformerEncoder(BUNDLED_MODEL)


def test_the_default_model_embeds_on_onnx_with_the_torch_vectors(tmp_path, torch_encoder):
    """What `make demo` does: import papers, embed them; the stored vectors are the torch ones."""
    from digest.ingest.backfill import import_jsonl

    db = open_db(tmp_path / "digest.db")
    import_jsonl(db, LISTING)
    report = embed_missing(db, Config().embedding)
    assert report.backend == "onnx" and report.embedded == report.stored == 164
    ids, stored = paper_store.load_all_vectors(db, BUNDLED_MODEL)
    papers = paper_store.get_papers(db, ids)
    texts = [embedding_text(papers[i].title, papers[i].abstract) for i in ids]
    reference = torch_encoder.encode(texts, batch_size=32)
    cosines = np.sum(stored * reference, axis=1)
    assert cosines.min() >= 0.9999, cosines.min()
    assert np.allclose(np.linalg.norm(stored, axis=1), 1.0, atol=1e-5)


def test_queries_of_any_length_match_torch(torch_encoder):
    texts = ["x", "  padded query  ", "über naïve 量子 $\\alpha$", real_texts(1)[0] * 4]
    ours = get_encoder(EmbeddingConfig()).encode(texts, batch_size=2)
    reference = torch_encoder.encode(texts, batch_size=2)
    assert np.sum(ours * reference, axis=1).min() >= 0.9999


def test_embedding_needs_no_torch_at_run_time(tmp_path):
    """`python -X importtime`: neither torch nor sentence-transformers is imported to embed."""
    code = (
        "from digest.config import Config\n"
        "from digest.embed.encoder import encode_query\n"
        "print(encode_query('graph neural networks', Config().embedding).shape)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert proc.stdout.strip() == "(384,)"
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "onnxruntime" in imported  # the check itself can fail: importtime lists modules
    assert not {m for m in imported if m.split(".")[0] in ("torch", "sentence_transformers")}


def test_int8_is_its_own_model_key_close_to_torch(tmp_path, torch_encoder):
    texts = real_texts(24)
    encoder = get_encoder(EmbeddingConfig(model=BUNDLED_INT8))
    assert encoder.backend == "onnx"
    cosines = np.sum(encoder.encode(texts, 8) * torch_encoder.encode(texts, 8), axis=1)
    assert cosines.min() >= export.MIN_COSINE["int8"] and cosines.mean() >= 0.99
    assert cosines.min() < 0.9999  # really quantised, not the fp32 graph under another name
    from digest.ingest.backfill import import_jsonl

    db = open_db(tmp_path / "digest.db")
    import_jsonl(db, LISTING)
    embed_missing(db, EmbeddingConfig())
    report = embed_missing(db, EmbeddingConfig(model=BUNDLED_INT8))
    assert report.embedded == 164  # a model change re-embeds: the fp32 vectors are kept apart
    assert paper_store.count_embedded_papers(db, BUNDLED_MODEL) == 164


def test_an_export_that_fails_its_check_falls_back_with_a_warning(tmp_path, monkeypatch, caplog):
    """A real export whose check cannot pass (threshold above 1): the fp32 key falls back to
    sentence-transformers with a warning, the failure is cached, int8 refuses in one line."""
    from digest.embed import backends

    monkeypatch.setenv("DIGEST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setitem(export.MIN_COSINE, "fp32", 1.01)
    backends._encoder_for.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="digest.embed"):
            encoder = get_encoder(EmbeddingConfig())
        assert encoder.backend == "sentence-transformers"
        assert "cannot be used (vectors differ from torch" in caplog.text
        manifest = export.read_manifest(export.export_dir(BUNDLED_MODEL))
        assert manifest is not None and manifest["verified"] is False
        again = export.prepare(BUNDLED_MODEL)  # cached: no second build
        assert again.built is False and again.verified is False
        with pytest.raises(DigestError, match="int8 export of the bundled model cannot be used"):
            get_encoder(EmbeddingConfig(model=BUNDLED_INT8))
    finally:
        backends._encoder_for.cache_clear()


def test_prepare_reports_the_checked_export(tmp_path):
    """`digest embed --prepare --json`: the export is there, checked, and where it says."""
    proc = subprocess.run(
        [sys.executable, "-m", "digest", "embed", "--prepare", "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["verified"] is True and report["variant"] == "fp32"
    assert report["min_cosine"] >= 0.9999
    assert (Path(report["directory"]) / "model.onnx").is_file()
    assert not (tmp_path / "data").exists()  # preparing touches no database


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("backend = 'gpu'", "[embedding].backend must be auto, onnx or sentence-transformers"),
        ("model = 'some/model'\nbackend = 'onnx'", "runs the bundled model on the cpu device only"),
        (
            "model = 'bundled:all-MiniLM-L6-v2-int8'\nbackend = 'sentence-transformers'",
            "runs on ONNX Runtime on the cpu only",
        ),
    ],
)
def test_backend_settings_that_cannot_work_are_named(tmp_path, section, message):
    from digest.config import ConfigError, load_config

    path = tmp_path / "config.toml"
    path.write_text(f"[embedding]\n{section}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert message in str(caught.value) and str(path) in str(caught.value)


def test_a_damaged_cached_export_falls_back_and_prepare_rebuilds_it(tmp_path, monkeypatch, caplog):
    """The cache passed its check once, then model.onnx was cut short (a full disk, a bad copy):
    embedding falls back with a warning, and `digest embed --prepare` builds it again."""
    from digest.embed import backends

    good = export.export_dir(BUNDLED_MODEL)
    monkeypatch.setenv("DIGEST_CACHE_DIR", str(tmp_path / "cache"))
    damaged = export.export_dir(BUNDLED_MODEL)
    shutil.copytree(good, damaged)
    (damaged / "model.onnx").write_bytes((good / "model.onnx").read_bytes()[:4096])
    backends._encoder_for.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="digest.embed"):
            assert get_encoder(EmbeddingConfig()).backend == "sentence-transformers"
        assert "embedding with sentence-transformers instead" in caplog.text
    finally:
        backends._encoder_for.cache_clear()
    proc = subprocess.run(
        [sys.executable, "-m", "digest", "embed", "--prepare", "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["built"] is True and report["verified"] is True
    assert export.loads(damaged)


@pytest.mark.slow
def test_the_demo_embeds_on_onnx_without_torch_and_stores_the_torch_vectors(
    tmp_path, torch_encoder
):
    """`make demo` runs `digest demo` (here its last day only, the same code path): it must
    embed through ONNX Runtime (torch is never imported) and store the vectors
    sentence-transformers gives."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "digest", "demo", "--days", "1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "onnxruntime" in imported
    assert not {m for m in imported if m.split(".")[0] in ("torch", "sentence_transformers")}
    db = open_db(tmp_path / "data" / "digest.db")
    ids, stored = paper_store.load_all_vectors(db, BUNDLED_MODEL)
    papers = paper_store.get_papers(db, ids)
    db.close()
    assert len(ids) >= 200
    every = len(ids) // 100  # a spread of 100 papers: torch is slow
    texts = [embedding_text(papers[i].title, papers[i].abstract) for i in ids[::every]]
    reference = torch_encoder.encode(texts, batch_size=32)
    assert np.sum(stored[::every] * reference, axis=1).min() >= 0.9999
