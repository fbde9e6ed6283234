"""The extractive TL;DR (pure): the abstract's sentence closest to what a reader follows.

Inputs are vectors only: the paper's sentence vectors (from the embedding cache, computed once
per paper for everyone) and the reader's interest vectors (the description of the topic that
matched, the liked/seed papers it is close to). Sentences too short to stand alone are never
chosen; with no usable interest the first substantial sentence leads, as an abstract's does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from digest.summaries.sentences import cut, is_candidate

# A sentence that leans on the one before it ("It operates in two stages…") reads badly alone.
_LEANS_BACK = re.compile(r"^(It|Its|This|These|Those|They|Their|Such|Both|Here|Then)\b")
LEANS_BACK_PENALTY = 0.08
# Abstracts open with background ("Large language models (LLMs) excel at…"), which is often
# what sits closest to a topic's words; the sentence saying what *this* paper does is the
# better lead, so it gets a small edge (a near tie only).
_OWN_WORK = re.compile(r"\b(we|our|this (paper|work|study|article))\b", re.I)
OWN_WORK_BONUS = 0.06


def best_sentence_index(
    sentences: Sequence[str], sentence_vectors: np.ndarray, interest_vectors: np.ndarray | None
) -> int | None:
    """Index of the sentence most similar to any interest vector (cosine; vectors are unit
    length), or of the first candidate sentence when there is no interest; None if no sentence."""
    candidates = [i for i, sentence in enumerate(sentences) if is_candidate(sentence)]
    if not candidates:
        return 0 if sentences else None
    if interest_vectors is None or not len(interest_vectors) or not len(sentence_vectors):
        return candidates[0]
    interests = np.atleast_2d(interest_vectors).astype(np.float32)
    if interests.shape[1] != sentence_vectors.shape[1]:
        return candidates[0]
    similarity = (sentence_vectors[candidates] @ interests.T).max(axis=1)  # best interest each
    similarity -= LEANS_BACK_PENALTY * np.array(
        [bool(_LEANS_BACK.match(sentences[i])) for i in candidates], dtype=np.float32
    )
    similarity += OWN_WORK_BONUS * np.array(
        [bool(_OWN_WORK.search(sentences[i])) for i in candidates], dtype=np.float32
    )
    return candidates[int(np.argmax(similarity))]


def extractive_lead(
    sentences: Sequence[str], sentence_vectors: np.ndarray, interest_vectors: np.ndarray | None
) -> str:
    """The lead line itself ("" for an empty abstract), cut to fit a card."""
    index = best_sentence_index(sentences, sentence_vectors, interest_vectors)
    return "" if index is None else cut(sentences[index])
