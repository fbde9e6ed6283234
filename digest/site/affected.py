"""Which paper and author pages a normal build has to look at (there are ~150k of them).

Each paper's key (a digest of everything it shows on any page) is stored with the build that
last saw it change; each similar-papers list is stored with the build that last wrote it. A tree
completed by build B only needs to look at the pages of: papers whose key changed after B,
papers whose neighbour list was written after B or that list a changed paper, and every author
a changed paper has ever had. Every other paper and author page keeps the fingerprint the tree
recorded. A full build, an untrusted tree or new templates/code/settings (the salt) look at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from digest.mail import links
from digest.site.gather import SiteData

StateRow = tuple[str, str, str, int]  # (paper id, key, author ids ever, changed build)


@dataclass
class PaperChanges:
    rows: list[StateRow]  # state rows to store once the build is done
    since: set[str] | None  # papers changed after the tree's build; None: look at every page


def _ever(before: str, author_ids: list[int]) -> str:
    """Space-separated author ids: the stored ones, then any new ones (never shrinks)."""
    ids = dict.fromkeys(before.split())
    ids.update(dict.fromkeys(str(a) for a in author_ids))
    return " ".join(ids)


def paper_changes(
    stored: dict[str, tuple[str, str, int]],
    keys: dict[str, str],
    data: SiteData,
    build_id: int,
    tree_build: int | None,
) -> PaperChanges:
    """Compare this build's paper keys with the stored ones; `tree_build` is the build that
    completed the tree being written (None: every page is looked at anyway)."""
    rows: list[StateRow] = []
    for paper_id, key in keys.items():
        old = stored.get(paper_id)
        if old is None or old[0] != key:
            ever = _ever(old[1] if old else "", data.papers[paper_id].author_ids)
            rows.append((paper_id, key, ever, build_id))
    rows += [
        (pid, "", ever, build_id)
        for pid, (key, ever, _) in stored.items()
        if key and pid not in keys
    ]
    if tree_build is None:
        return PaperChanges(rows, None)
    changed = {row[0] for row in rows}
    changed.update(pid for pid, (_, _, stamp) in stored.items() if stamp > tree_build)
    return PaperChanges(rows, changed)


def authors_of(changed: set[str], rows: list[StateRow], stored: dict) -> set[int]:
    """Every author a changed paper has had (an author dropped from a paper loses a work)."""
    ever = {row[0]: row[2] for row in rows}
    authors: set[int] = set()
    for paper_id in changed:
        text = ever.get(paper_id) or stored.get(paper_id, ("", "", 0))[1]
        authors.update(int(a) for a in text.split())
    return authors


def pages_to_check(
    data: SiteData, wanted: set[str], authors: set[int], own: dict[str, str]
) -> tuple[list[str], list[int], dict[str, str]]:
    """Paper and author pages that may differ from what the tree holds (`wanted` papers: changed,
    or with a neighbour list that changed or shows a changed paper; `authors` of changed papers;
    any page the tree lacks), and the recorded fingerprints of all the others."""
    kept: dict[str, str] = {}
    papers = _split(data.papers, links.paper_path, wanted, own, kept)
    people = _split(data.author_papers, links.author_path, authors, own, kept)
    return papers, people, kept


def _split(keys, path_of, wanted, own: dict[str, str], kept: dict[str, str]) -> list:
    """Keys whose page must be looked at (wanted, or missing from the tree); the others'
    recorded fingerprints go into `kept`."""
    look = []
    for key in keys:
        path = path_of(key)
        recorded = own.get(path)
        if recorded is None or key in wanted:
            look.append(key)
        else:
            kept[path] = recorded
    return look
