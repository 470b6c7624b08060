"""Ctrl-C as a flag: noticed where stopping is safe, never in the middle of JAX.

Python's default SIGINT handler raises KeyboardInterrupt wherever the main thread happens to be:
inside an import of JAX (which can then crash the process on a half-built extension), or inside
a garbage-collection callback of XLA (where the exception is printed, ignored, and the run goes
on to be saved). statelab's command line instead installs `Interrupt` as the handler before it
imports anything heavy. The handler only sets a flag; the command checks it at safe points
(before the heavy work, between epochs, between sweep groups, and just before a result is
renamed into place) with `Interrupt.check`, which raises `Interrupted`. The command then ends
with "statelab: interrupted" and exit code 130, and nothing half-done is left: a run directory is
only renamed into place after the last check, and a sweep keeps every trial it committed.

A second Ctrl-C before the first was noticed ends the process at once, with the same line and
code; the temporaries it leaves are removed by the next statelab process (`statelab.scratch`).

Pure standard library: installed before NumPy, JAX or matplotlib are imported.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a Ctrl-C
MESSAGE = "statelab: interrupted"


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, raised at a safe point. A KeyboardInterrupt: `except Exception` does not catch it,
    so a sweep's per-trial error handling does not record it as a failed trial."""


class Interrupt:
    """The SIGINT handler and its flag. Thread-safe: training threads call `check` too."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._settled = threading.Event()

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self._settled.is_set():
            return  # the work is saved; only printing is left
        if self._event.is_set():  # the second Ctrl-C: the user means now
            os.write(2, (MESSAGE + "\n").encode())
            os._exit(EXIT_INTERRUPTED)
        self._event.set()

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise Interrupted if Ctrl-C was pressed since the handler was installed (and the work
        is not settled)."""
        if self._event.is_set() and not self._settled.is_set():
            raise Interrupted

    def settle(self) -> None:
        """The result is in place (a run directory renamed): a Ctrl-C from now on cannot undo it,
        so it is ignored and the command ends normally."""
        self._settled.set()


@contextmanager
def catching() -> Iterator[Interrupt]:
    """Install an `Interrupt` as the SIGINT handler for the block (the one already installed, if
    any, is reused, so the entry point and `cli.main` share one flag). Outside the main thread,
    where handlers cannot be installed, the flag is never set."""
    current = signal.getsignal(signal.SIGINT)
    if isinstance(current, Interrupt):
        yield current
        return
    flag = Interrupt()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    signal.signal(signal.SIGINT, flag)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, current)
