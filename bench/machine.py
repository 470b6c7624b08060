"""The machine a benchmark ran on, in one line for bench/RESULTS.md."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def describe() -> str:
    """CPU model, cores, OS, and the Python and JAX versions (JAX's as "not installed" when the
    interpreter running the benchmark has none: bench_suite.py may run from any python3)."""
    try:
        import jax

        jax_version = jax.__version__
    except ImportError:
        jax_version = "not installed"
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, jax {jax_version}"
    )
