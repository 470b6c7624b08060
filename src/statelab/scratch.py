"""Temporaries named after the process that owns them, so a later process can clean up after a dead one.

statelab writes every file or directory that must appear whole (a run directory, a new store) into
a hidden sibling first and renames it into place when it is complete. The sibling's name holds
the host and the process id of its writer:

    runs/.20261127-171500-b3688bde.myhost-4242-1f3a.partial/     (a run being written)
    .sweep.sqlite.myhost-4242-1f3a.partial                       (a store being created)

Two processes never share a temporary, even for the same target. A process killed before its
rename (SIGKILL, a power cut) leaves its temporary behind; the next statelab process that writes
beside it removes every temporary whose writer is a dead process on this host. A temporary of a
live process, or of another host (a shared disk), is left alone, and so is anything whose name
does not follow the pattern: statelab only ever removes what it wrote.

Pure standard library: the command line uses it before JAX is imported.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import socket
from pathlib import Path

SUFFIX = ".partial"
_HOST = re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname()) or "host"
_PATTERN = re.compile(
    r"^\.(?P<target>.+)\.(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)-[0-9a-f]{4,}" + re.escape(SUFFIX)
)


def temporary(final: Path) -> Path:
    """A fresh hidden sibling of `final`, unique to this process and this call."""
    final = Path(final)
    return final.with_name(f".{final.name}.{_HOST}-{os.getpid()}-{secrets.token_hex(4)}{SUFFIX}")


def link_into_place(tmp: Path, final: Path) -> bool:
    """Put the complete file `tmp` at `final` unless something is there already: `os.link` fails
    rather than replace a file that appeared meanwhile (another process's, or the user's). On a
    file system without hard links it is renamed if `final` is absent. Returns whether it was
    placed; `tmp` is left for the caller to remove. OSError for any other failure."""
    try:
        os.link(tmp, final)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK):
            raise
        if final.exists():
            return False
        os.replace(tmp, final)
    return True


def discard(path: Path) -> None:
    """Remove this process's temporary file `path` if it is there. Never raises: a cleanup that
    fails (a read-only folder answers EROFS even for a file that was never made) must not hide
    the error that made it necessary."""
    with contextlib.suppress(OSError):
        Path(path).unlink(missing_ok=True)


def is_temporary(path: Path) -> bool:
    """Whether `path` is named as statelab names its temporaries (of any process, any host)."""
    return _PATTERN.match(Path(path).name) is not None


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(path: Path) -> bool:
    """A temporary written by a process of this host that no longer exists."""
    match = _PATTERN.match(Path(path).name)
    if match is None or match["host"] != _HOST:
        return False
    pid = int(match["pid"])
    return pid != os.getpid() and not pid_alive(pid)


def remove_stale(directory: Path) -> list[Path]:
    """Remove the stale temporaries in `directory` (see `is_stale`); returns what was removed.

    SQLite's own companions of a temporary database (`-journal`, `-wal`, `-shm`) go with it.
    Errors are ignored: cleaning up after someone else must never stop this process's work.
    """
    removed: list[Path] = []
    try:
        entries = list(Path(directory).iterdir())
    except OSError:
        return removed
    for entry in entries:
        base = re.sub(r"-(journal|wal|shm)$", "", entry.name)
        if not is_stale(entry.with_name(base)):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
        except OSError:
            pass
    return removed
