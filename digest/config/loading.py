"""Find and read config.toml, build the settings, and check them.

Lookup order: --config PATH, then $DIGEST_CONFIG, then ./config.toml, else embedded defaults.
Every error names the key and what was expected, so the CLI can print one line and exit 2.
"""

from __future__ import annotations

import math
import os
import tomllib
import types
import typing
from dataclasses import fields
from pathlib import Path

from digest.config.checks import validate
from digest.config.settings import MAX_INT, Config, ConfigError


def _existing_file(path: Path, shown: str) -> Path:
    if path.is_dir():
        raise ConfigError(f"{shown}: is a directory, not a config file")
    if not path.exists():  # a pipe is fine: `--config <(render-config)` or /dev/stdin
        raise ConfigError(f"{shown}: config file not found")
    return path


def find_config_path(explicit: str | Path | None = None, shown: str | None = None) -> Path | None:
    """`shown` names where `explicit` came from in errors (DIGEST_CONFIG=… read by the CLI)."""
    if explicit:
        return _existing_file(Path(explicit), shown or str(explicit))
    env = os.environ.get("DIGEST_CONFIG")
    if env:
        return _existing_file(Path(env), f"DIGEST_CONFIG={env}")
    local = Path("config.toml")
    # A ./config.toml that exists but is not a readable file is an error, never "no config".
    return _existing_file(local, str(local)) if local.exists() or local.is_symlink() else None


def load_config(explicit: str | Path | None = None, shown: str | None = None) -> Config:
    path = find_config_path(explicit, shown)
    if path is None:
        return Config()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        raw = tomllib.loads(text.removeprefix("\ufeff"))  # editors on Windows write a BOM
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except RecursionError as exc:
        raise ConfigError(f"{path}: not valid TOML: arrays or tables nested too deeply") from exc
    # Relative paths resolve against the file's folder; a pipe has none: the working directory.
    base_dir = path.resolve().parent if path.is_file() else Path.cwd()
    return parse_config(raw, source=str(path), base_dir=base_dir)


def parse_config(raw: dict[str, object], source: str, base_dir: Path) -> Config:
    sections: dict[str, object] = {}
    known = {f.name: f for f in fields(Config) if f.name not in ("base_dir", "source")}
    for name, value in raw.items():
        if name not in known:
            raise ConfigError(f"{source}: unknown section [{name}] (known: {', '.join(known)})")
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: [{name}] must be a table of settings")
        section_type = typing.get_type_hints(Config)[name]
        sections[name] = _build_section(section_type, name, value, source)
    config = Config(**sections, base_dir=base_dir, source=source)  # type: ignore[arg-type]
    validate(config)
    return config


def _build_section(section_type: type, name: str, values: dict, source: str) -> object:
    hints = typing.get_type_hints(section_type)
    kwargs = {}
    for key, value in values.items():
        if key not in hints:
            raise ConfigError(f"{source}: unknown key [{name}].{key} (known: {', '.join(hints)})")
        kwargs[key] = _coerce(hints[key], value, f"[{name}].{key}", source)
    return section_type(**kwargs)


def _coerce(expected: object, value: object, key: str, source: str) -> object:
    origin = typing.get_origin(expected)
    if expected is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{source}: {key} must be true or false, got {value!r}")
    if expected is int:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_INT:
            return value
        raise ConfigError(
            f"{source}: {key} must be a whole number of at most {MAX_INT}, got {value!r}"
        )
    if expected is float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ConfigError(f"{source}: {key} must be a number, got {value!r}")
        if math.isfinite(value) and abs(value) <= MAX_INT:
            return float(value)
        raise ConfigError(f"{source}: {key} must be a finite number of at most {MAX_INT}")
    if expected is str:
        if isinstance(value, str) and "\x00" not in value:
            return value
        raise ConfigError(f"{source}: {key} must be a string (without NUL), got {value!r}")
    if origin is tuple:
        if isinstance(value, list) and all(isinstance(v, str) and "\x00" not in v for v in value):
            return tuple(value)
        raise ConfigError(f"{source}: {key} must be a list of strings, got {value!r}")
    if origin in (typing.Union, types.UnionType):
        return value
    raise ConfigError(f"{source}: {key} has an unsupported type")  # pragma: no cover
