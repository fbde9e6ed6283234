"""`digest init`: a working directory with a config file, a database and sample topics."""

from __future__ import annotations

import shutil
from pathlib import Path

from digest.errors import DigestError
from digest.paths import PROJECT_DIR


def init_project(directory: Path, state) -> list[str]:
    """Create what is missing; never overwrite. Returns lines describing what happened."""
    lines = []
    # `digest --config PATH init` (or $DIGEST_CONFIG) writes the sample config there.
    config_file = Path(state.config_path) if state.config_path else directory / "config.toml"
    if config_file.exists():
        lines.append(f"config: {config_file} (kept)")
    else:
        try:
            config_file.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(PROJECT_DIR / "config.toml", config_file)
        except OSError as exc:
            raise DigestError(f"{config_file}: cannot write the config: {exc.strerror}") from exc
        lines.append(f"config: wrote {config_file}")
    state.config_path = str(config_file)
    config = state.config
    topics = config.path(config.ranking.topics_file)
    sample_topics = PROJECT_DIR / "data" / "topics.toml"
    if not topics.exists() and sample_topics.exists():
        try:
            topics.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(sample_topics, topics)
        except OSError as exc:
            raise DigestError(
                f"{topics}: cannot write the sample topics ([ranking].topics_file): "
                f"{exc.strerror or exc}"
            ) from exc
        lines.append(f"topics: wrote {topics} (edit it, then `digest topics sync`)")
    _ = state.db  # opening creates the file and applies migrations
    lines.append(f"database: {config.db_path}")
    lines.append("next: `digest fetch` to get today's papers, or `digest demo` to try it offline")
    return lines
