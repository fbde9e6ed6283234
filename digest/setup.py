"""`digest init`: a working directory with a config file, a database and sample topics."""

from __future__ import annotations

import shutil
from pathlib import Path

from digest.paths import PROJECT_DIR


def init_project(directory: Path, state) -> list[str]:
    """Create what is missing; never overwrite. Returns lines describing what happened."""
    lines = []
    config_file = directory / "config.toml"
    if config_file.exists() or state.config_path:
        lines.append(f"config: {state.config_path or config_file} (kept)")
    else:
        shutil.copy(PROJECT_DIR / "config.toml", config_file)
        state.config_path = str(config_file)
        lines.append(f"config: wrote {config_file}")
    config = state.config
    topics = config.path(config.ranking.topics_file)
    sample_topics = PROJECT_DIR / "data" / "topics.toml"
    if not topics.exists() and sample_topics.exists():
        topics.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sample_topics, topics)
        lines.append(f"topics: wrote {topics} (edit it, then `digest topics sync`)")
    _ = state.db  # opening creates the file and applies migrations
    lines.append(f"database: {config.db_path}")
    lines.append("next: `digest fetch` to get today's papers, or `digest demo` to try it offline")
    return lines
