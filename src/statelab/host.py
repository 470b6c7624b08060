"""The process statelab runs in: giving memory back to the system between the stages of a run."""

from __future__ import annotations

import ctypes
import sys


def release_memory() -> None:
    """Give the memory freed so far back to the system, between the stages of a run.

    The C allocator (glibc's) keeps freed heap pages for reuse, and so does Arrow's; a run on a
    large file frees and allocates hundreds of megabytes of arrays of many sizes from stage to
    stage (reading, windowing, compiling, training, evaluating, the report), and without this its
    peak memory would carry every earlier stage's leftovers. Costs a millisecond; does nothing
    where the C library has no `malloc_trim`.
    """
    if "pyarrow" in sys.modules:
        sys.modules["pyarrow"].default_memory_pool().release_unused()
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)
