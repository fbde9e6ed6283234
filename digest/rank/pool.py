"""The candidate pool: the papers one ranking chooses from, as vectors plus cached indexes for
keyword, author, category and id filters; and the small numeric helpers ranking shares.

Split from `digest.rank.score` (which re-exports these names): this half knows papers, that half
knows topics and readers.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain

import numpy as np

from digest.models import Badges
from digest.textclean import normalize_author


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run the small matrix products of ranking on one BLAS thread.

    Ranking multiplies many small matrices; a multi-threaded OpenBLAS on a busy machine spends
    far longer waking threads than computing (we measured 50 x 384 products taking 50 ms
    instead of 0.05 ms under load). threadpoolctl ships with scikit-learn.
    """
    controller = _blas_controller()
    if controller is None:  # pragma: no cover - scikit-learn brings threadpoolctl
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield


@lru_cache(maxsize=1)
def _blas_controller():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover
        return None
    return ThreadpoolController()


def normalize_rows(matrix: np.ndarray) -> np.ndarray:
    """Unit-length rows (zero rows stay zero)."""
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim == 1:
        norm = float(np.linalg.norm(matrix))
        return matrix / norm if norm > 0 else matrix
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


_WORD_RE = re.compile(r"\w+")
WHITEN_SHRINKAGE = 1.0  # ridge added to the pool covariance, in units of its mean eigenvalue
WHITEN_SAMPLE = 4096  # a bigger pool (the lab over a whole archive) is fitted on evenly spaced rows


def text_words(text: str) -> frozenset[str]:
    """The distinct lower-cased words of a text, as the pool's word index sees them."""
    return frozenset(_WORD_RE.findall(text.lower()))


@lru_cache(maxsize=4096)
def keyword_pattern(keyword: str) -> re.Pattern[str]:
    """Case-insensitive, whole words, the last one also in its plural: "GAN" matches "a
    GAN-based" and "GANs" but not "organ"; "robot arm" matches "robot arms"."""
    words = keyword.strip().split()
    plural = r"(?:e?s)?" if words and words[-1][-1].isalpha() else ""
    body = r"[\s\-]+".join(re.escape(w) for w in words)
    return re.compile(r"(?<!\w)" + body + plural + r"(?!\w)", re.IGNORECASE)


def matched_keywords(text: str, keywords: Sequence[str]) -> tuple[str, ...]:
    return tuple(k for k in keywords if k.strip() and keyword_pattern(k).search(text))


def matched_authors(paper_authors: Sequence[str], followed: Sequence[str]) -> tuple[str, ...]:
    """Followed names (as the topic spells them) found among the paper's authors."""
    keys = {normalize_author(a) for a in paper_authors}
    return tuple(name for name in followed if normalize_author(name) in keys)


# ---------------------------------------------------------------- the candidate pool


@dataclass(frozen=True)
class Whitening:
    """(S + rho I)^(-1/2) for the second-moment matrix S of the pool's centred vectors.

    S = basis diag(eigen) basis^T (only the non-zero part is kept: a pool smaller than the
    dimension is fitted through its n x n Gram matrix); rho = WHITEN_SHRINKAGE x the mean
    eigenvalue. Mapping a query through it down-weights the few directions in which the
    day's papers vary most (what every paper has a bit of) and lifts the rarer ones.
    """

    basis: np.ndarray  # (d, r) orthonormal columns
    eigen: np.ndarray  # (r,)
    rho: float
    mean: np.ndarray  # (d,) mean of the centred rows

    @classmethod
    def fit(cls, centered: np.ndarray) -> Whitening:
        x = np.asarray(centered)
        if len(x) > WHITEN_SAMPLE:
            x = x[np.linspace(0, len(x) - 1, WHITEN_SAMPLE).astype(np.intp)]
        x = x.astype(np.float64)
        n, d = x.shape
        if n == 0:
            return cls(np.zeros((d, 0)), np.zeros(0), 1.0, np.zeros(d))
        if n < d:
            eigen, vectors = np.linalg.eigh(x @ x.T / n)
            keep = eigen > 1e-10 * max(float(eigen.max()), 1e-30)
            eigen, vectors = eigen[keep], vectors[:, keep]
            basis = x.T @ vectors / np.sqrt(n * eigen)
        else:
            eigen, basis = np.linalg.eigh(x.T @ x / n)
            eigen = np.maximum(eigen, 0.0)
        rho = WHITEN_SHRINKAGE * max(float(eigen.sum()) / d, 1e-12)
        return cls(basis, eigen, rho, x.mean(axis=0))

    def apply(self, queries: np.ndarray) -> np.ndarray:
        """Whitened queries (rows), unit length."""
        q = np.atleast_2d(np.asarray(queries, dtype=np.float64))
        proj = q @ self.basis
        inside = proj @ self.basis.T
        out = (proj / np.sqrt(self.eigen + self.rho)) @ self.basis.T + (q - inside) / np.sqrt(
            self.rho
        )
        return normalize_rows(out.astype(np.float32))

    def score_stats(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation over the (fitted) pool of `centered @ q`, per query row."""
        q = np.atleast_2d(np.asarray(queries, dtype=np.float64))
        mean = q @ self.mean
        second = ((q @ self.basis) ** 2 * self.eigen).sum(axis=1)
        return mean, np.sqrt(np.maximum(second - mean**2, 0.0))


class JsonTuples(Sequence[tuple[str, ...]]):
    """Lists of strings kept as their stored JSON text until one is read (authors and
    categories: most rankings never look at them)."""

    def __init__(self, raw: Sequence[str]) -> None:
        self._raw = list(raw)
        self._decoded: dict[int, tuple[str, ...]] = {}

    def __len__(self) -> int:
        return len(self._raw)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        index = range(len(self._raw))[index]  # negative indexes, and IndexError when out
        found = self._decoded.get(index)
        if found is None:
            found = self._decoded[index] = tuple(json.loads(self._raw[index] or "[]"))
        return found


@dataclass
class CandidatePool:
    """The papers one ranking chooses from, with per-pool caches of keyword/author masks."""

    ids: list[str]
    titles: list[str]
    texts: list[str]  # title + abstract, searched by keywords
    authors: Sequence[tuple[str, ...]]
    categories: Sequence[tuple[str, ...]]
    vectors: np.ndarray  # (n, d) unit rows
    mean: np.ndarray  # the pool's common direction, removed before liked-paper similarity
    centered: np.ndarray  # (n, d) unit rows of vectors - mean
    # announcement day of each paper (ISO text); None = one undated pool. Description topics
    # are calibrated per day, so a paper scores the same in a day's pool and in a week's.
    days: list[str] | None = None
    # papers announced before a small day, never candidates: they make its calibration
    # sample big enough (see `digest.rank.describe`)
    reference: CandidatePool | None = None
    _masks: dict = field(default_factory=dict, repr=False)
    _author_keys: list[frozenset[str]] | None = field(default=None, repr=False)
    _words: dict[str, list[int]] | None = field(default=None, repr=False)
    _author_index: dict[str, list[int]] | None = field(default=None, repr=False)
    _positions: dict[str, int] | None = field(default=None, repr=False)
    _whitening: Whitening | None = field(default=None, repr=False)
    _word_sets: list[frozenset[str]] | None = field(default=None, repr=False)
    _df: Counter[str] | None = field(default=None, repr=False)
    _posting_cache: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    badges: Mapping[str, Badges] = field(default_factory=dict, repr=False)  # papers with any

    @classmethod
    def build(
        cls,
        ids: Sequence[str],
        titles: Sequence[str],
        abstracts: Sequence[str],
        authors: Sequence[Sequence[str]],
        categories: Sequence[Sequence[str]],
        vectors: np.ndarray,
        reference_mean: np.ndarray | None = None,
        days: Sequence[str] | None = None,
        badges: Mapping[str, Badges] | None = None,
    ) -> CandidatePool:
        vectors = np.asarray(vectors, dtype=np.float32)
        if len(ids) == 0:
            vectors = vectors.reshape(0, vectors.shape[1] if vectors.ndim == 2 else 0)
        mean = (
            reference_mean
            if reference_mean is not None
            else (vectors.mean(axis=0) if len(ids) else np.zeros(vectors.shape[1], np.float32))
        )
        mean = np.asarray(mean, dtype=np.float32)
        return cls(
            ids=list(ids),
            titles=list(titles),
            texts=[f"{t}\n{a}" for t, a in zip(titles, abstracts, strict=True)],
            authors=authors if isinstance(authors, JsonTuples) else [tuple(a) for a in authors],
            categories=(
                categories if isinstance(categories, JsonTuples) else [tuple(c) for c in categories]
            ),
            vectors=vectors,
            mean=mean,
            centered=normalize_rows(vectors - mean),
            days=list(days) if days is not None else None,
            badges=dict(badges or {}),
        )

    def __len__(self) -> int:
        return len(self.ids)

    def center(self, vectors: np.ndarray) -> np.ndarray:
        return normalize_rows(np.asarray(vectors, dtype=np.float32) - self.mean)

    def whitening(self) -> Whitening:
        """The pool's shrunk whitening transform (computed once per pool, shared by everyone)."""
        if self._whitening is None:
            self._whitening = Whitening.fit(self.centered)
        return self._whitening

    def document_frequency(self, words: Sequence[str]) -> np.ndarray:
        """How many pool papers contain each word (counted once per pool)."""
        if self._df is None:
            self._df = Counter(chain.from_iterable(self._doc_words()))
        return np.array([self._df.get(w, 0) for w in words], dtype=np.float64)

    def term_scores(self, weights: dict[str, float]) -> np.ndarray:
        """Per paper, the summed weight of the given words it contains."""
        found = [(self._postings(w), weight) for w, weight in weights.items()]
        found = [(docs, weight) for docs, weight in found if len(docs)]
        if not found:
            return np.zeros(len(self.ids), dtype=np.float32)
        docs = np.concatenate([d for d, _ in found])
        values = np.repeat([weight for _, weight in found], [len(d) for d, _ in found])
        return np.bincount(docs, weights=values, minlength=len(self.ids)).astype(np.float32)

    def _doc_words(self) -> list[frozenset[str]]:
        if self._word_sets is None:
            self._word_sets = [text_words(t) for t in self.texts]
        return self._word_sets

    def _postings(self, word: str) -> np.ndarray:
        """Indices of the papers containing `word`, found on first use and cached per pool
        (subscribers' liked sets share most of their words)."""
        docs = self._posting_cache.get(word)
        if docs is None:
            if self._words is not None:
                found = self._words.get(word, [])
            else:
                found = [i for i, words in enumerate(self._doc_words()) if word in words]
            docs = self._posting_cache[word] = np.array(found, dtype=np.intp)
        return docs

    def keyword_mask(self, keyword: str) -> np.ndarray:
        """Papers mentioning the keyword (whole words, any case, the last one also plural),
        cached per pool.

        A word index narrows the search first: one word is a lookup; a phrase is checked
        with its pattern only on papers that contain all of its words.
        """
        key = ("kw", keyword.lower())
        if key not in self._masks:
            pattern = keyword_pattern(keyword)
            words = keyword.lower().split()
            if all(_WORD_RE.fullmatch(w) for w in words) and words:
                index = self._word_index()
                *firsts, last = words
                forms = (last, last + "s", last + "es") if last[-1].isalpha() else (last,)
                found = [set(index.get(w, ())) for w in firsts]
                found.append(set().union(*(index.get(form, ()) for form in forms)))
                docs = set.intersection(*found)
                if len(words) > 1:
                    docs = {i for i in docs if pattern.search(self.texts[i])}
                mask = np.zeros(len(self.texts), dtype=bool)
                mask[list(docs)] = True
            else:
                mask = np.fromiter(
                    (bool(pattern.search(t)) for t in self.texts), dtype=bool, count=len(self.texts)
                )
            self._masks[key] = mask
        return self._masks[key]

    def _word_index(self) -> dict[str, list[int]]:
        """word -> indices of the pool papers containing it (ascending), built once per pool."""
        if self._words is None:
            index: defaultdict[str, list[int]] = defaultdict(list)
            for i, words in enumerate(self._doc_words()):
                for word in words:
                    index[word].append(i)
            self._words = dict(index)
        return self._words

    def author_keys(self, index: int) -> frozenset[str]:
        if self._author_keys is None:
            self._author_keys = [
                frozenset(normalize_author(a) for a in names) for names in self.authors
            ]
        return self._author_keys[index]

    def author_mask(self, name: str) -> np.ndarray:
        key = ("au", normalize_author(name))
        if key not in self._masks:
            if self._author_index is None:
                self._author_index = {}
                for i in range(len(self.ids)):
                    for author in self.author_keys(i):
                        self._author_index.setdefault(author, []).append(i)
            mask = np.zeros(len(self.ids), dtype=bool)
            mask[self._author_index.get(key[1], [])] = True
            self._masks[key] = mask
        return self._masks[key]

    def id_mask(self, paper_ids: set[str] | frozenset[str]) -> np.ndarray:
        """True for pool papers whose id is in `paper_ids`."""
        if self._positions is None:
            self._positions = {pid: i for i, pid in enumerate(self.ids)}
        mask = np.zeros(len(self.ids), dtype=bool)
        mask[[self._positions[p] for p in paper_ids if p in self._positions]] = True
        return mask

    def category_mask(self, wanted: Sequence[str]) -> np.ndarray:
        key = ("cat", tuple(sorted(wanted)))
        if key not in self._masks:
            wanted_set = set(wanted)
            # "cs.LG" matches cs.LG; "cs" matches every cs.* category.
            self._masks[key] = np.fromiter(
                (
                    any(c in wanted_set or c.split(".")[0] in wanted_set for c in cats)
                    for cats in self.categories
                ),
                dtype=bool,
                count=len(self.ids),
            )
        return self._masks[key]

    def badge_mask(self, venues: Sequence[str], has_code: bool) -> np.ndarray:
        """Papers whose venue is one of `venues` (any case; all when empty) and, with
        `has_code`, that link their code: a topic's `venues = [...]` / `has_code = true`."""
        key = ("badges", tuple(sorted(v.lower() for v in venues)), has_code)
        if key not in self._masks:
            wanted = set(key[1])
            found = [self.badges.get(pid) for pid in self.ids]
            self._masks[key] = np.fromiter(
                (
                    b is not None
                    and (not wanted or (b.venue_key or "").lower() in wanted)
                    and (not has_code or b.has_code)
                    for b in found
                ),
                dtype=bool,
                count=len(self.ids),
            )
        return self._masks[key]
