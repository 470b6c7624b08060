"""Where statelab keeps JAX's compiled programs between processes, and how to turn that off.

Compiling an epoch program takes about half a second; loading it back from disk, a few
milliseconds, and the numbers are the same (it is the same executable). So the cache is on by
default, for `statelab run` and `statelab sweep` as for `statelab.run_experiment` and
`statelab.sweep`, in one per-user directory:

    $STATELAB_CACHE_DIR, else $XDG_CACHE_HOME/statelab/jax, else ~/.cache/statelab/jax

Turned off by `--no-cache` on the command line, `cache=False` from Python, or the environment
variable STATELAB_NO_CACHE=1 (for everything a process does). JAX keeps one cache per process,
set up at its first compilation: `cache=False` keeps statelab from turning it on, but does not
turn off a cache that is already in use.

No JAX here: the command line asks for the directory before it decides to load the engine.
"""

from __future__ import annotations

import os
from pathlib import Path

NO_CACHE_VARIABLE = "STATELAB_NO_CACHE"
DIR_VARIABLE = "STATELAB_CACHE_DIR"


def cache_dir() -> Path:
    """The per-user directory of compiled programs ($STATELAB_CACHE_DIR to move it)."""
    if os.environ.get(DIR_VARIABLE):
        return Path(os.environ[DIR_VARIABLE])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "statelab" / "jax"


def cache_disabled() -> bool:
    """Whether the environment turns the cache off: STATELAB_NO_CACHE set to anything but 0 or ''."""
    return os.environ.get(NO_CACHE_VARIABLE, "").strip() not in ("", "0")


def compilation_cache(enabled: bool = True) -> Path | None:
    """The directory to keep compiled programs in, or None when the cache is off (`enabled` is
    False, or STATELAB_NO_CACHE is set)."""
    if not enabled or cache_disabled():
        return None
    return cache_dir()
