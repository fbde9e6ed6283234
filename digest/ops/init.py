"""`digest init`: a working directory with a config file, a database and sample topics."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from digest.errors import DigestError
from digest.paths import PROJECT_DIR

NEXT_STEP = "`digest fetch` to get today's papers, or `digest demo` to try it offline"


@dataclass(frozen=True)
class InitFile:
    kind: str  # config | topics | database
    path: str
    action: str  # wrote | created | kept (already there: the user's file, never overwritten)


@dataclass
class InitReport:
    files: list[InitFile] = field(default_factory=list)

    @property
    def kept(self) -> list[str]:
        """The user's files that were already there and were left untouched."""
        return [f.path for f in self.files if f.action == "kept"]

    def as_dict(self) -> dict:
        return {
            **{f.kind: {"path": f.path, "action": f.action} for f in self.files},
            "kept": self.kept,
            "next": NEXT_STEP,
        }


def init_project(directory: Path, state) -> InitReport:
    """Create what is missing; never overwrite. Reports what was written and what was kept."""
    report = InitReport()
    # `digest --config PATH init` (or $DIGEST_CONFIG) writes the sample config there.
    config_file = Path(state.config_path) if state.config_path else directory / "config.toml"
    report.files.append(_copy_unless_there(PROJECT_DIR / "config.toml", config_file, "config"))
    state.config_path = str(config_file)
    config = state.config
    topics = config.path(config.ranking.topics_file)
    sample_topics = PROJECT_DIR / "data" / "topics.toml"
    if topics.exists() or sample_topics.exists():
        report.files.append(_copy_unless_there(sample_topics, topics, "topics"))
    existed = config.db_path.exists()
    _ = state.db  # opening creates the file and applies migrations
    report.files.append(InitFile("database", str(config.db_path), "kept" if existed else "created"))
    return report


def _copy_unless_there(sample: Path, target: Path, kind: str) -> InitFile:
    if target.exists() or target.is_symlink():
        return InitFile(kind, str(target), "kept")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sample, target)
    except OSError as exc:
        what = "the config" if kind == "config" else "the sample topics ([ranking].topics_file)"
        raise DigestError(f"{target}: cannot write {what}: {exc.strerror or exc}") from exc
    return InitFile(kind, str(target), "wrote")


def init_lines(report: InitReport) -> list[str]:
    """What `digest init` prints: one line a file, then the next step."""
    lines = []
    for item in report.files:
        if item.action == "kept" and item.kind == "database":
            lines.append(f"database: kept {item.path} (already there; tables brought up to date)")
        elif item.action == "kept":
            lines.append(f"{item.kind}: kept {item.path} (already there, left as it was)")
        elif item.kind == "topics":
            lines.append(f"topics: wrote {item.path} (edit it, then `digest topics sync`)")
        else:
            lines.append(f"{item.kind}: {item.action} {item.path}")
    lines.append(f"next: {NEXT_STEP}")
    return lines
