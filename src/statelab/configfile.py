"""Reading parameters from a file: TOML, or JSON (a run's config.json reads back). Gives a plain
mapping; `statelab.config.from_mapping` (a run) or `statelab.grid` (a sweep) reads it.

Every JSON document statelab reads (config files, state files, a run's files, a store's rows)
goes through `parse_json`: nothing statelab writes is nested more than a few levels, so a document
nested deeper than MAX_DEPTH is refused as malformed, before Python's recursion limit turns it
into a RecursionError (while parsing, or later, in a message that quotes the value)."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from statelab.params import ConfigError, check_path, not_a_file

MAX_DEPTH = 32  # levels of nesting: a config has 2, a state file 6


def check_depth(value: Any, limit: int = MAX_DEPTH) -> Any:
    """`value` if its dicts and lists are nested at most `limit` deep, else ValueError (walked
    without recursion)."""
    containers = (Mapping, list, tuple)
    stack = [(value, 1)] if isinstance(value, containers) else []
    while stack:  # only containers are visited: a list of a thousand numbers costs one step
        item, depth = stack.pop()
        if depth > limit:
            raise ValueError(f"nested deeper than {limit} levels")
        children = item.values() if isinstance(item, Mapping) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, containers))
    return value


def parse_json(text: str | bytes) -> Any:
    """A JSON document, nested at most MAX_DEPTH deep; ValueError (json.JSONDecodeError for bad
    syntax) otherwise."""
    try:
        return check_depth(json.loads(text))
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels") from None


def load_config_file(path: str | Path, name: str = "config") -> dict[str, Any]:
    """Read a config file, TOML or JSON (a run's config.json reads back), into a mapping;
    unreadable or malformed files are ConfigErrors naming `name`, the parameter that gave it."""
    path = check_path(name, path, "a readable file")
    problem = not_a_file(path)
    if problem is not None:
        raise ConfigError(f"{name} must be a readable file, got {str(path)!r} ({problem})")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{name} must be a readable file, got {str(path)!r} ({exc.strerror})") from None
    is_json = path.suffix.lower() == ".json" or raw.lstrip()[:1] == b"{"
    try:
        text = raw.decode("utf-8-sig")
        mapping = parse_json(text) if is_json else check_depth(tomllib.loads(text))
    except RecursionError:
        kind = "JSON" if is_json else "TOML"
        raise ConfigError(
            f"{name} must be valid {kind}, got {str(path)!r} (nested deeper than {MAX_DEPTH} levels)"
        ) from None
    except (tomllib.TOMLDecodeError, ValueError) as exc:  # JSONDecodeError, UnicodeDecodeError too
        kind = "JSON" if is_json else "TOML"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{name} must be valid {kind}, got {str(path)!r} ({reason})") from None
    if not isinstance(mapping, dict):
        raise ConfigError(f"{name} must hold a table of parameters, got {str(path)!r}")
    return mapping


load_toml = load_config_file  # the earlier name
