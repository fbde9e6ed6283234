"""The similar-papers top-k selection: the blocked first pass picks what a full sort picks."""

from __future__ import annotations

import numpy as np
import pytest

from digest.site.similar import _top_k


@pytest.mark.parametrize("width", [7, 300, 2_600, 10_000, 25_777])
@pytest.mark.parametrize("k", [1, 5, 12])
def test_top_k_equals_a_full_sort(width, k):
    rng = np.random.default_rng(width * 100 + k)
    scores = rng.standard_normal((40, width)).astype(np.float32)
    scores[rng.random(scores.shape) < 0.2] = -np.inf  # own column and missing vectors
    scores[3, :] = -np.inf  # a row with nothing to offer
    scores[5, -1] = 50.0  # the best column sits after the last whole block
    cols, vals = _top_k(scores, k)
    expected = np.argsort(-scores, axis=1, kind="stable")[:, : min(k, width)]
    assert np.array_equal(vals, np.take_along_axis(scores, expected, axis=1))
    finite = np.isfinite(vals)
    assert np.array_equal(cols[finite], expected[finite])  # no ties among random floats
    assert cols[5, 0] == width - 1
