"""What a config asks of the machine, checked before anything is allocated: the memory a run (or a
sweep's group of trials trained side by side) needs, against the memory free now.

No JAX: the command line checks a config here before it loads the engine.
"""

from __future__ import annotations

import os

from statelab.config import ExperimentConfig
from statelab.metrics import BLOCK_VALUES, MAX_AR_INPUTS
from statelab.params import fail

GATES = 4  # gate blocks per cell, at most (an LSTM's); GRU has 3, SimpleRNN 1: an upper bound
MEMORY_HEADROOM = 512 * 2**20  # bytes for JAX's runtime, compiled programs and Python itself


def memory_estimate(config: ExperimentConfig, rows: int | None = None, trials: int = 1) -> dict[str, int]:
    """Bytes that training `trials` trials of this config's shapes side by side holds at once, by
    part: an upper bound within a factor of about two. rows: the data's rows (default input_len).

    - parameters: per model (stateful, stateless) its weights, Adam's two moments, the gradients
      and the updates, float32: 5 x sum over layers of GATES units (inputs + units + 2);
    - data: every window (rows x lahead x features) in float64 on the host and in float32 on
      the host and the device, 16 bytes a value;
    - activations: what one step keeps for its gradient, per model: the gates and states of
      batch_size x lahead x bptt x layers x units cells, about four floats per gate;
    - baseline: the linear AR's normal equations over D = lahead x features inputs (D + 1 squared,
      float64, with the copies its solver makes) and one block of its design; none beyond
      `metrics.MAX_AR_INPUTS` inputs, where it is not fitted.
    """
    t, m, tr = config.task, config.model, config.train
    rows = t.input_len if rows is None else rows
    features = len(t.features) if t.features else 1
    widths = [features] + [m.units] * (m.layers - 1)
    weights = sum(GATES * m.units * (w + m.units + 2) for w in widths) + m.units + 1
    models = 2
    window = tr.batch_size * t.lahead * tr.bptt * m.layers * m.units
    inputs = t.lahead * features + 1
    block = min((rows or 0) * inputs, BLOCK_VALUES)
    baseline = 0 if inputs - 1 > MAX_AR_INPUTS else (4 * inputs * inputs + 2 * block) * 8
    return {
        "parameters": trials * models * 5 * weights * 4,
        "data": trials * (rows or 0) * t.lahead * features * 16,
        "activations": trials * models * 4 * GATES * window * 4,
        "baseline": trials * baseline,
    }


def available_memory() -> int | None:
    """Bytes this machine can give a new allocation (Linux: MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def gigabytes(n: float) -> str:
    """Bytes as an error message shows them: "1.4 GB"."""
    return f"{n / 1e9:.1f} GB"


def check_memory(
    config: ExperimentConfig, rows: int | None = None, trials: int = 1, available: int | None = None
) -> None:
    """ConfigError if `memory_estimate` (plus MEMORY_HEADROOM) exceeds the memory available now.

    The message names the parameter behind the largest part: units (parameters), input_len or
    lahead (data), batch_size (activations)."""
    parts = memory_estimate(config, rows, trials)
    available = available_memory() if available is None else available
    need = sum(parts.values()) + MEMORY_HEADROOM
    if available is None or need <= available:
        return
    biggest = max(parts, key=parts.__getitem__)
    t = config.task
    name = {
        "parameters": "units" if config.model.units >= config.model.layers else "layers",
        "data": "input_len" if t.input_len is not None and t.input_len >= t.lahead else "lahead",
        "activations": "batch_size" if config.train.batch_size >= t.lahead else "lahead",
        "baseline": "lahead",
    }[biggest]
    value = getattr(config.model, name, None) or getattr(config.train, name, None) or getattr(t, name, None)
    group = f" for {trials} trials trained together" if trials > 1 else ""
    fail(
        name,
        f"small enough for the run to fit in memory (about {gigabytes(need)} needed{group}, "
        f"{gigabytes(parts[biggest])} of it {biggest}; {gigabytes(available)} available)",
        value,
    )
