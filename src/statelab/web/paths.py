"""What the server may read: run directories under one root, and the stores it was given.

Every name or path that comes from a request is resolved here and nowhere else. A request that
points outside (`../`, an absolute path, a symlink leading out, a hidden file such as a run being
written) is answered as if the thing did not exist: `NotFound`, a 404.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from statelab.config import ConfigError
from statelab.params import check_path
from statelab.rundir import is_run_dir


class NotFound(LookupError):
    """Nothing the server may show has this name (or the name points outside what it may read)."""


def inside(root: Path, relative: str) -> Path:
    """`root / relative`, resolved (symlinks followed), if it stays inside `root`.

    NotFound for an empty or absolute path, any `..`, `.` or empty part, any hidden part
    (statelab writes runs into hidden siblings before renaming them into place), and anything
    that resolves outside `root`.
    """
    if not relative or "\\" in relative or "\x00" in relative:
        raise NotFound(relative)
    path = PurePosixPath(relative)
    if path.is_absolute() or relative.endswith("/"):
        raise NotFound(relative)
    parts = relative.split("/")
    if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
        raise NotFound(relative)
    base = root.resolve()
    target = (base / path).resolve()
    if not target.is_relative_to(base) or target == base:
        raise NotFound(relative)
    return target


@dataclass(frozen=True)
class Roots:
    """The runs directory and the stores, by the short names the URLs use."""

    runs: Path
    stores: dict[str, Path] = field(default_factory=dict)  # name -> path (the file may not exist yet)

    def run_dir(self, name: str) -> Path:
        """The run directory `name` directly under the runs directory: it must hold metrics.json."""
        if "/" in name:
            raise NotFound(name)
        path = inside(self.runs, name)
        if not is_run_dir(path):
            raise NotFound(name)
        return path

    def run_file(self, name: str, relative: str) -> Path:
        """A file inside run directory `name`."""
        path = inside(self.run_dir(name), relative)
        if not path.is_file():
            raise NotFound(relative)
        return path

    def store(self, name: str) -> Path:
        """The store the server was started with under this name."""
        if name not in self.stores:
            raise NotFound(name)
        return self.stores[name]


def store_names(paths: list[Path]) -> dict[str, Path]:
    """Short URL names for store files: the file name, with `-2`, `-3` ... for repeats."""
    names: dict[str, Path] = {}
    for path in paths:
        base = os.fsencode(path.name).decode("utf-8", "backslashreplace")  # a name a URL can hold
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}-{n}"
        names[name] = path
    return names


def check_runs_dir(path: str | Path) -> Path:
    """The runs directory: an existing directory, or a path where one can be made on the first run."""
    path = check_path("runs", path, "a directory")
    if path.exists() and not path.is_dir():
        raise ConfigError(f"runs must be a directory, got {str(path)!r} (a file)")
    return path
