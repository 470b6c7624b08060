"""Reading parameters from a file: TOML, or JSON (a run's config.json reads back). Gives a plain
mapping; `statelab.config.from_mapping` (a run) or `statelab.grid` (a sweep) reads it."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from statelab.params import ConfigError, check_path


def load_config_file(path: str | Path, name: str = "config") -> dict[str, Any]:
    """Read a config file, TOML or JSON (a run's config.json reads back), into a mapping;
    unreadable or malformed files are ConfigErrors naming `name`, the parameter that gave it."""
    path = check_path(name, path, "a readable file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{name} must be a readable file, got {str(path)!r} ({exc.strerror})") from None
    is_json = path.suffix.lower() == ".json" or raw.lstrip()[:1] == b"{"
    try:
        text = raw.decode("utf-8-sig")
        mapping = json.loads(text) if is_json else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        kind = "JSON" if is_json else "TOML"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{name} must be valid {kind}, got {str(path)!r} ({reason})") from None
    if not isinstance(mapping, dict):
        raise ConfigError(f"{name} must hold a table of parameters, got {str(path)!r}")
    return mapping


load_toml = load_config_file  # the earlier name
