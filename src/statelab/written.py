"""Files statelab can prove it wrote: the one rule for writing over a file that is already there.

statelab writes over an existing file only if it can prove that it wrote that file, as it is now,
or if the user says so (`--overwrite`). What looks like statelab's output (a CSV whose header is
`t,prediction`, a folder holding report.html) proves nothing: a user's file can look the same.

The proof is a mark beside each file statelab writes, a hidden sibling holding the SHA-256 of the
content it wrote:

    pred.csv                    the file (a CSV stays plain CSV: nothing is added to it)
    .pred.csv.statelab          {"written_by": "statelab 0.3.0", "file": "pred.csv", "sha256": "..."}

A file is statelab's while its content still has that hash. A file edited since, replaced by
another, copied elsewhere without its mark, or whose mark was removed, is not: it is the user's,
and statelab refuses to write over it (one line, before any work) unless told `--overwrite`. A
symbolic link is judged by the file it names, whose mark sits beside that file. The rule fails
safe: a mark that is lost or stale only ever makes statelab refuse.

Pure standard library, at the bottom of the layers: the run directory, the reports, `statelab
predict` and `statelab export` all write through it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

from statelab import scratch
from statelab.params import ConfigError
from statelab.version import __version__

MARK_SUFFIX = ".statelab"
MAX_MARK_BYTES = 4096  # a mark is one short line; anything longer is not one


def mark_path(path: Path) -> Path:
    """Where the mark of `path` is: `.NAME.statelab` beside it."""
    path = Path(path)
    return path.with_name(f".{path.name}{MARK_SUFFIX}")


def mark_bytes(path: Path, data: bytes) -> bytes:
    """The mark of `data` written at `path`: one line of JSON."""
    mark = {"written_by": f"statelab {__version__}", "file": Path(path).name, "sha256": _sha256(data)}
    return (json.dumps(mark) + "\n").encode()


def target(path: Path) -> Path:
    """The file a write to `path` reaches: `path` itself, or the file a symbolic link names."""
    path = Path(path)
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def proven(path: Path) -> bool:
    """Whether statelab wrote the file at `path` (through a link: the file it names) as it is now:
    its mark is there and holds the SHA-256 of its content."""
    real = target(path)
    mark = mark_path(real)
    try:
        if not real.is_file() or not mark.is_file() or mark.stat().st_size > MAX_MARK_BYTES:
            return False
        recorded = json.loads(mark.read_bytes())
        if not isinstance(recorded, dict) or recorded.get("file") != real.name:
            return False
        return recorded.get("sha256") == _file_sha256(real)
    except (OSError, ValueError):
        return False


def exists(path: Path) -> bool:
    """Whether anything is at `path` (a dangling symbolic link counts: it is someone's)."""
    return Path(path).exists() or Path(path).is_symlink()


def check_replace(name: str, path: Path, overwrite: bool = False) -> None:
    """ConfigError unless statelab may write at `path`: nothing is there, or a file statelab can
    prove it wrote (`proven`), or the user said `overwrite`. `name`: the parameter that gave it.
    A dangling link is followed to the file it would create, which does not exist yet."""
    path = Path(path)
    real = target(path)
    unresolved = path.is_symlink() and real.is_symlink()  # a link in a loop: someone's, not a new file
    if overwrite or (not real.exists() and not unresolved) or proven(path):
        return
    raise ConfigError(
        f"{name} must be a new file or one statelab wrote, got {str(path)!r} (a file statelab cannot "
        "prove it wrote: it replaces none unless told --overwrite)"
    )


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one file: the same path once links and `.`/`..` are resolved (a file
    that does not exist yet included), or one file under two names (a hard link)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # either does not exist
        return False


def write_file(path: Path, data: bytes, name: str = "out", marked: bool = True) -> None:
    """Write `data` at `path` with its mark, each through a hidden temporary renamed into place: a
    reader never sees a half-written file, and a failed write leaves nothing behind. A symbolic
    link is written through, to the file it names (the link, which statelab did not make, stays).
    The caller checked first that statelab may write there (`check_replace`). ConfigError naming
    `name`, the path and the cause (a full disk, a read-only folder) if it cannot be written.
    marked=False: a file statelab never writes over, written without a mark."""
    write_together([(name, Path(path), data)], marked)


def write_together(files: Sequence[tuple[str, Path, bytes]], marked: bool = True) -> None:
    """Write several files all or none, each with its mark: (parameter, path, content) each to a
    hidden temporary first, then all renamed into place, so a write that fails (a full disk, a
    read-only folder) leaves every one of them as it was. ConfigError naming the parameter whose
    file could not be written, its path and the cause. Symbolic links are written through."""
    staged: list[tuple[str, Path, Path, Path]] = []  # (parameter, path given, temporary, final)
    try:
        for name, path, data in files:
            final = target(Path(path))
            parts = [(data, final)] + ([(mark_bytes(final, data), mark_path(final))] if marked else [])
            for content, where in parts:
                tmp = scratch.temporary(where)
                staged.append((name, Path(path), tmp, where))
                try:
                    tmp.write_bytes(content)
                except OSError as exc:
                    raise _unwritable(name, Path(path), exc) from None
        for name, path, tmp, final in staged:
            try:
                os.replace(tmp, final)
            except OSError as exc:
                raise _unwritable(name, path, exc) from None
    finally:
        for _, _, tmp, _ in staged:
            scratch.discard(tmp)


def remove(path: Path) -> bool:
    """Remove a file statelab can prove it wrote, and its mark; leave anything else. Returns
    whether it was removed."""
    if not proven(path):
        return False
    real = target(Path(path))
    try:
        real.unlink()
        mark_path(real).unlink(missing_ok=True)
    except OSError:
        return False
    return True


class WriteError(ConfigError):
    """A file statelab could not write (a full disk, a read-only folder): one line naming the
    parameter, the path and the cause; `reason` is the cause alone ("No space left on device")."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def _unwritable(name: str, path: Path, exc: OSError) -> WriteError:
    reason = exc.strerror or type(exc).__name__
    return WriteError(f"{name} must be a writable file path, got {str(path)!r} ({reason})", reason)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
