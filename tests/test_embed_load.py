"""Loading the embedding model fails in one line that says what to do, never a traceback."""

from __future__ import annotations

import sys

import pytest

from digest.embed.encoder import load_model
from digest.errors import DigestError


def test_missing_embedding_libraries_are_named_with_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import now fails
    with pytest.raises(DigestError, match="embedding libraries are not installed") as caught:
        load_model("bundled:all-MiniLM-L6-v2")
    assert "`make install`" in str(caught.value) and "\n" not in str(caught.value)


def test_a_model_that_is_not_here_says_models_load_offline(tmp_path):
    with pytest.raises(DigestError, match="loads models offline") as caught:
        load_model(str(tmp_path / "no-such-model"))
    assert "[embedding].model" in str(caught.value)
