"""The state file of `statelab predict --state FILE`: every series' predictor state, with the
identity of the model, written back after each call so that a service that restarts carries on
where it stopped; and the turn two processes sharing one state file take at it."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from statelab.config import ConfigError
from statelab.configfile import parse_json
from statelab.params import not_a_file
from statelab.predictor import STATE_VERSION, Predictor

STATES_FORMAT = "statelab.predict-states"
TURN_POLL_S = 0.02  # how often a predict waiting for its turn at a state file looks again


@contextlib.contextmanager
def state_turn(path: str | Path, check: Callable[[], None] = lambda: None) -> Iterator[None]:
    """Take a turn at the state file `path`: its folder is locked (`flock`) from before its states
    are read until after they are written back, so two `statelab predict` sharing a state file run
    one after the other, the second from the states the first wrote, and no update is lost. It
    creates no file; it waits for a turn, calling `check` (the Ctrl-C check) as it does. Where the
    system has no `flock`, there are no turns."""
    try:
        import fcntl
    except ImportError:  # not a POSIX system
        yield
        return
    folder = Path(path).parent
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError as exc:
        raise ConfigError(
            f"state must be a file in a folder statelab can read, got {str(path)!r} ({exc.strerror})"
        ) from None
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                check()
                time.sleep(TURN_POLL_S)
            except OSError as exc:  # a file system that takes no locks (NFS without its lock daemon)
                raise ConfigError(
                    f"state must be a file in a folder that can be locked (flock), got {str(path)!r} "
                    f"({exc.strerror})"
                ) from None
        yield
    finally:
        os.close(fd)  # and with it the lock


def read_states(path: str | Path, predictor: Predictor) -> dict[str, dict[str, Any]]:
    """The per-series states of a state file written by `states_bytes`; ConfigError for a file that
    is not one, or one of another model (every state is checked now, before anything is run)."""
    path = Path(path)
    problem = not_a_file(path)
    if problem is not None:
        raise ConfigError(
            f"state must be a state file written by statelab predict, got {str(path)!r} ({problem})"
        )
    try:
        content = parse_json(path.read_bytes())
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0]
        raise ConfigError(
            f"state must be a state file written by statelab predict, got {str(path)!r} ({reason})"
        ) from None
    if not isinstance(content, dict) or content.get("format") != STATES_FORMAT:
        raise ConfigError(f"state must be a state file written by statelab predict, got {str(path)!r}")
    series = content.get("series")
    if not isinstance(series, dict):
        raise ConfigError(f"state must hold a state per series, got {str(path)!r} without one")
    for state in series.values():
        predictor.load_state(state)  # refuses a state of another model
    predictor.reset()
    return series


def states_bytes(predictor: Predictor, states: Mapping[str, Mapping[str, Any]]) -> bytes:
    """A state file: the state of every series, with the identity of the model."""
    content = {
        "format": STATES_FORMAT,
        "version": STATE_VERSION,
        "identity": predictor.identity(),
        "series": states,
    }
    try:
        return (json.dumps(content, allow_nan=False) + "\n").encode()
    except ValueError:  # a NaN or infinite number: JSON has none, and no reader would take it
        raise ConfigError(
            "state must hold finite numbers to be written, got a NaN or infinite value"
        ) from None
