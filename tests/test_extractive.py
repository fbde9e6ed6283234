"""The extractive lead (pure): sentence splitting and the choice of the sentence."""

from __future__ import annotations

import numpy as np

from digest.summaries.extractive import best_sentence_index, extractive_lead
from digest.summaries.sentences import cut, sentence_key, split_sentences

ABSTRACT = (
    "Diffusion models generate images by iterative denoising, e.g. with\nDDPM or DDIM.\n"
    "We propose a training-free solver that needs 8 steps. Our FID is 15.7 on COCO, i.e. "
    "better than DPM++ at 20 steps. Code is public."
)


def test_sentences_split_on_ends_not_on_abbreviations_or_decimals():
    assert split_sentences(ABSTRACT) == [
        "Diffusion models generate images by iterative denoising, e.g. with DDPM or DDIM.",
        "We propose a training-free solver that needs 8 steps.",
        "Our FID is 15.7 on COCO, i.e. better than DPM++ at 20 steps.",
        "Code is public.",
    ]
    assert split_sentences("") == [] and split_sentences("   \n") == []


def test_the_sentence_closest_to_any_interest_wins_and_short_ones_never_lead():
    sentences = ["one two three four five six.", "a b c d e f g.", "Code is public."]
    vectors = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    interests = np.array([[0, 0.2, 0.98], [0.1, 0.9, 0]], dtype=np.float32)
    assert best_sentence_index(sentences, vectors, interests) == 1  # index 2 is too short
    assert best_sentence_index(sentences, vectors, None) == 0
    assert best_sentence_index(sentences, vectors, np.zeros((1, 5), np.float32)) == 0  # bad dim
    assert best_sentence_index([], np.zeros((0, 3), np.float32), interests) is None
    assert best_sentence_index(["Short."], vectors[:1], interests) == 0
    assert extractive_lead(sentences, vectors, interests) == "a b c d e f g."


def test_a_run_on_sentence_is_cut_at_a_word_and_keys_are_namespaced():
    long = "word " * 100
    assert cut(long, 50).endswith("…") and len(cut(long, 50)) <= 50
    assert sentence_key("A sentence.").startswith("s:") and len(sentence_key("x")) == 32


def test_a_sentence_leaning_on_the_one_before_loses_a_near_tie():
    sentences = ["We propose a two stage agent system.", "It operates in two stages for agents."]
    vectors = np.array([[0.95, 0.31], [1.0, 0.0]], dtype=np.float32)
    assert best_sentence_index(sentences, vectors, np.array([[1.0, 0.0]], np.float32)) == 0
    far = np.array([[0.2, 0.98], [1.0, 0.0]], dtype=np.float32)  # no near tie: it still wins
    assert best_sentence_index(sentences, far, np.array([[1.0, 0.0]], np.float32)) == 1


def test_the_sentence_about_this_papers_work_wins_a_near_tie_with_background():
    sentences = [
        "Large language models excel at many language tasks today.",
        "We propose an agent that asks clarifying questions first.",
    ]
    vectors = np.array([[1.0, 0.0], [0.97, 0.24]], dtype=np.float32)
    assert best_sentence_index(sentences, vectors, np.array([[1.0, 0.0]], np.float32)) == 1
