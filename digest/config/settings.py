"""The settings as frozen dataclasses, one per config.toml section, with their defaults.
Secrets are never settings: `secret()` reads them from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

BUNDLED_MODEL = "bundled:all-MiniLM-L6-v2"
MAX_INT = 2**31 - 1  # larger numbers are typos, and overflow SQLite pragmas and timedelta


class ConfigError(ValueError):
    """A config problem; the message names the file and key."""


@dataclass(frozen=True)
class DatabaseConfig:
    path: str = "data/digest.db"
    busy_timeout_ms: int = 30000
    url: str = ""  # postgresql://user@host/db for a fleet (docs/scale.md); empty: the file above


@dataclass(frozen=True)
class ArxivConfig:
    categories: tuple[str, ...] = ("cs.AI", "cs.CL", "cs.LG")
    announce_types: tuple[str, ...] = ("new", "cross")
    feed_base_url: str = "https://rss.arxiv.org"
    feed_format: str = "atom"  # atom | rss
    api_base_url: str = "https://export.arxiv.org/api/query"
    request_delay_seconds: float = 3.0
    timeout_seconds: float = 30.0
    max_retries: int = 5
    api_page_size: int = 200
    user_agent: str = "digest/0.1 (arXiv daily digest; mailto:operator@example.org)"


@dataclass(frozen=True)
class EmbeddingConfig:
    model: str = BUNDLED_MODEL  # or any sentence-transformers model name / local path
    batch_size: int = 64
    device: str = "cpu"
    # auto: the bundled model on ONNX Runtime (CPU), anything else on sentence-transformers
    backend: str = "auto"  # auto | onnx | sentence-transformers


@dataclass(frozen=True)
class RankingConfig:
    topics_file: str = "data/topics.toml"
    default_max_papers: int = 10
    max_papers_cap: int = 50
    default_threshold: float = 0.35
    diversity_lambda: float = 0.85  # 1 = pure relevance; lower = more variety (MMR)
    trending_weight: float = 0.05
    min_feedback_for_model: int = 4
    hf_enabled: bool = False
    hf_base_url: str = "https://huggingface.co"


@dataclass(frozen=True)
class MailConfig:
    backend: str = "outbox"  # outbox | smtp | sendgrid
    from_address: str = "digest@example.org"
    from_name: str = "arXiv digest"
    reply_to: str = ""
    postal_address: str = ""  # required for smtp/sendgrid (CAN-SPAM)
    list_id: str = "daily.digest.example.org"
    outbox_dir: str = "data/outbox"
    rate_per_second: float = 10.0
    max_lateness_hours: float = 36.0
    smtp_host: str = "localhost"
    smtp_port: int = 587
    smtp_security: str = "starttls"  # starttls | ssl | none
    smtp_timeout_seconds: float = 30.0
    sendgrid_base_url: str = "https://api.sendgrid.com"
    sendgrid_sandbox: bool = False
    sendgrid_timeout_seconds: float = 30.0
    tracking: bool = False
    smtp_ca_file: str = ""  # extra CA bundle (PEM) to trust for a private relay's certificate
    send_retries: int = 4  # retries of one message after a transient error (429 not counted)
    retry_base_seconds: float = 2.0  # first backoff wait; doubles each retry (capped at 60 s)
    rate_limit_max_wait_seconds: float = 900.0  # total 429 waiting per message before giving up
    max_consecutive_errors: int = 10  # pause the run after this many failures in a row
    max_per_hour: int = 0  # sliding window: at most this many sent in any hour (0 = no limit)
    max_per_day: int = 0  # ... and in any 24 hours (0 = no limit); the rest stay queued
    complaint_warn_rate: float = 0.001  # 7-day complaint rate that `status`/`doctor` warn about
    complaint_pause_rate: float = 0.003  # above it `digest send` refuses until overridden
    complaint_min_sent: int = 200  # judge the rate only once this many were sent in 7 days


@dataclass(frozen=True)
class SiteConfig:
    dir: str = "data/site"
    title: str = "arXiv digest"
    base_url: str = ""  # public URL of the archive, for feeds and email links
    search: bool = True


@dataclass(frozen=True)
class ServiceConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = "http://127.0.0.1:8000"  # where links in emails point
    confirm_token_days: int = 7
    trusted_proxies: tuple[str, ...] = ()
    record_ip: bool = False
    confirm_on_get: bool = False  # true: the confirm link confirms on GET (scanners may click it)
    subscribe_per_ip_per_minute: int = 5
    confirm_mails_per_address_per_day: int = 3
    token_misses_per_ip_per_minute: int = 10  # wrong /u /p /f links before HTTP 429
    consent_text_version: str = "v1"  # bump when the sign-up wording changes
    backup_dir: str = "data/backups"
    backup_keep: int = 14


@dataclass(frozen=True)
class ScheduleConfig:
    cron: str = "30 0 * * mon-fri"  # minute hour day month weekday, after arXiv's rebuild
    timezone: str = "America/New_York"
    misfire_grace_hours: float = 6.0
    lease_minutes: float = 120.0


@dataclass(frozen=True)
class SummariesConfig:
    """The TL;DR line on each card. `extractive` (offline): the abstract's sentence closest to
    what the reader follows. `openai`: any OpenAI-compatible chat-completions endpoint (a local
    Ollama, llama.cpp or vLLM server, or a hosted API; key from env DIGEST_LLM_API_KEY)."""

    backend: str = "extractive"  # extractive | openai
    model: str = ""  # e.g. "llama3.1:8b" (Ollama) or "gpt-4o-mini"
    base_url: str = ""  # e.g. "http://127.0.0.1:11434/v1": /chat/completions is appended
    prompt_version: str = "v1"  # part of the cache key: change it when you change the prompt
    max_papers_per_run: int = 300  # new TL;DRs one run may ask for (the rest: extractive)
    max_seconds_per_run: float = 300.0  # the day's run never waits longer than this on them
    concurrency: int = 4  # requests in flight at once
    timeout_seconds: float = 30.0  # one request, connect to last byte
    max_retries: int = 3  # after a 429 or 5xx (Retry-After honoured, within the run budget)
    max_chars: int = 400  # a TL;DR longer than this is cut at a word


@dataclass(frozen=True)
class Config:
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    arxiv: ArxivConfig = field(default_factory=ArxivConfig)
    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    ranking: RankingConfig = field(default_factory=RankingConfig)
    mail: MailConfig = field(default_factory=MailConfig)
    site: SiteConfig = field(default_factory=SiteConfig)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    summaries: SummariesConfig = field(default_factory=SummariesConfig)
    base_dir: Path = field(default_factory=Path.cwd)  # relative paths resolve against this
    source: str = "(embedded defaults)"

    def path(self, relative: str) -> Path:
        """Resolve a configured path against the config file's directory."""
        candidate = Path(relative).expanduser()
        return candidate if candidate.is_absolute() else self.base_dir / candidate

    @property
    def db_path(self) -> Path:
        return self.path(self.database.path)

    @property
    def database_url(self) -> str:
        """$DIGEST_DATABASE_URL, else [database].url, else the SQLite file as sqlite:///PATH."""
        url = os.environ.get("DIGEST_DATABASE_URL") or self.database.url
        return url.strip() or f"sqlite:///{self.db_path}"

    @property
    def on_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql://", "postgres://"))

    @property
    def db_target(self) -> str | Path:
        """What `open_db` opens: the PostgreSQL URL, or the SQLite file's path."""
        return self.database_url if self.on_postgres else self.db_path

    def with_overrides(self, **sections: object) -> Config:
        return replace(self, **sections)  # type: ignore[arg-type]


def secret(name: str) -> str | None:
    """Secrets (SENDGRID_API_KEY, SMTP_PASSWORD, ...) are read from the environment only."""
    value = os.environ.get(name)
    return value or None
