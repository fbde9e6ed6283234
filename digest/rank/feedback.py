"""The per-subscriber feedback model: a linear model over embeddings learnt from one subscriber's
likes and dislikes, which moves a paper's score by at most FEEDBACK_WEIGHT."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FEEDBACK_WEIGHT = 0.15  # the learned model moves a score by at most this much


@dataclass(frozen=True)
class FeedbackModel:
    """A linear model over embeddings learnt from one subscriber's likes and dislikes."""

    weights: np.ndarray  # (d,)
    bias: float
    examples: int

    def bonus(self, vectors: np.ndarray) -> np.ndarray:
        """Score shift in [-FEEDBACK_WEIGHT, FEEDBACK_WEIGHT]."""
        return FEEDBACK_WEIGHT * np.tanh(vectors @ self.weights + self.bias)


def train_feedback_model(
    positives: np.ndarray,
    negatives: np.ndarray,
    positive_weights: np.ndarray | None = None,
    negative_weights: np.ndarray | None = None,
    l2: float = 1.0,
) -> FeedbackModel | None:
    """Class-balanced ridge classifier (a least-squares linear SVM) solved in dual form.

    With tens to hundreds of examples the dual is a tiny linear system: retraining from
    scratch on every plan takes well under a millisecond, so "incremental" is simply always
    fresh. Returns None unless both classes are present.
    """
    if len(positives) == 0 or len(negatives) == 0:
        return None
    x = np.vstack([positives, negatives]).astype(np.float64)
    x = np.hstack([x, np.ones((len(x), 1))])  # intercept as a (lightly penalised) feature
    y = np.concatenate([np.ones(len(positives)), -np.ones(len(negatives))])
    pw = np.ones(len(positives)) if positive_weights is None else np.asarray(positive_weights)
    nw = np.ones(len(negatives)) if negative_weights is None else np.asarray(negative_weights)
    sample_weight = np.concatenate([pw / pw.sum(), nw / nw.sum()]) * len(x) / 2
    kernel = x @ x.T
    alpha = np.linalg.solve(kernel + l2 * np.diag(1.0 / sample_weight), y)
    w = x.T @ alpha
    return FeedbackModel(w[:-1].astype(np.float32), float(w[-1]), len(x))
