"""Operator settings: config.toml loaded into frozen dataclasses, checked, with the file and key
named in every error. Entry points: `load_config` (the file) and `parse_config` (a dict);
secrets come only from the environment (`secret`); `categories` knows arXiv's category names."""

from digest.config.loading import find_config_path, load_config, parse_config
from digest.config.settings import (
    BUNDLED_MODEL,
    ArxivConfig,
    Config,
    ConfigError,
    DatabaseConfig,
    EmbeddingConfig,
    MailConfig,
    RankingConfig,
    ScheduleConfig,
    ServiceConfig,
    SiteConfig,
    SummariesConfig,
    secret,
)

__all__ = [
    "BUNDLED_MODEL",
    "ArxivConfig",
    "Config",
    "ConfigError",
    "DatabaseConfig",
    "EmbeddingConfig",
    "MailConfig",
    "RankingConfig",
    "ScheduleConfig",
    "ServiceConfig",
    "SiteConfig",
    "SummariesConfig",
    "find_config_path",
    "load_config",
    "parse_config",
    "secret",
]
