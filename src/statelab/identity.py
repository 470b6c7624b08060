"""A config's identity: the SHA-256 of its canonical JSON, which keys a trial in a store, names a
run directory and tells two runs of one config apart from two runs of two configs."""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from stat import S_ISREG

from statelab.config import ExperimentConfig


def config_hash(config: ExperimentConfig) -> str:
    """SHA-256 of the canonical JSON of a config, unset (None) parameters left out: the identity
    of a trial, which a parameter added to statelab later (unset) does not change.

    A task that reads a file (`data`, stored as an absolute path) adds the SHA-256 of the file's
    content as `data_sha256`: two different files at one path, or one file edited between two
    sweeps, are different trials."""
    parts = {k: {f: v for f, v in p.items() if v is not None} for k, p in config.to_dict().items()}
    if config.task.data is not None:
        parts["task"]["data_sha256"] = file_sha256(config.task.data)
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's content ("" if it cannot be read, or is not a regular file: reading it
    will then fail clearly; a FIFO or a device would never end).

    Remembered per (path, size, modification time), so a sweep hashes each file once."""
    try:
        stat = os.stat(path)
    except OSError:
        return ""
    if not S_ISREG(stat.st_mode):
        return ""
    return _file_sha256(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return ""
    return digest.hexdigest()
