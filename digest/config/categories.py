"""arXiv's category spellings: the one list, light enough for config loading.

A category matches papers exactly, so any other spelling ('notacat', 'cs.cl') would be stored
and then match no paper ever, silently; a feed asked for with it comes back empty, which read
as 'no announcement today'.
"""

from __future__ import annotations

import re

_CATEGORY_RE = re.compile(r"[a-z][a-z\-]*(?:\.[A-Za-z][A-Za-z\-]*)?")
# arXiv's archives: subject classes written in capitals (cs.CL), in lower case
# (cond-mat.str-el), or none at all (hep-th).
_UPPER_SUBJECTS = {"astro-ph", "cs", "econ", "eess", "math", "nlin", "q-bio", "q-fin", "stat"}
_LOWER_SUBJECTS = {"cond-mat", "physics"}
_NO_SUBJECTS = {"gr-qc", "hep-ex", "hep-lat", "hep-ph", "hep-th", "math-ph", "nucl-ex"}
_NO_SUBJECTS |= {"nucl-th", "quant-ph"}
_ARCHIVES = _UPPER_SUBJECTS | _LOWER_SUBJECTS | _NO_SUBJECTS


def category_problem(value: str) -> str | None:
    """What is wrong with one category as written, or None when arXiv spells it so."""
    archive, _, subject = value.partition(".")
    if not _CATEGORY_RE.fullmatch(value) or archive not in _ARCHIVES:
        return f"category {value!r} is not an arXiv category like cs.AI, hep-th or cs"
    if subject and archive in _NO_SUBJECTS:
        return f"category {value!r}: {archive} has no subject classes (write {archive})"
    if subject and archive in _UPPER_SUBJECTS and subject != subject.upper():
        return f"category {value!r} is written {archive}.{subject.upper()} on arXiv"
    if subject and archive in _LOWER_SUBJECTS and subject != subject.lower():
        return f"category {value!r} is written {archive}.{subject.lower()} on arXiv"
    return None


def feed_problem(text: str) -> str | None:
    """The same for a feed's categories, several of which may be joined with '+'
    (cs.LG+stat.ML)."""
    for part in text.split("+"):
        problem = category_problem(part.strip())
        if problem:
            return problem
    return None
