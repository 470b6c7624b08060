"""Tasks: the input series, its target, and the best error any model could reach on it.

The reference task is the one of the Keras example "stateful vs stateless LSTM"
(keras-team/keras, examples/lstm_stateful.py): uniform noise in, the trailing mean of the last
`tsteps` inputs out. Its data are reproduced here bit for bit.

Analytic optimum. With x i.i.d. of variance s2 = amplitude^2 / 3 and y[t] the mean of
x[t-tsteps+1 .. t], var(y) = s2 / tsteps. A model that sees only the last `lahead` inputs can at
best predict the part of the mean it sees; the unseen `tsteps - lahead` inputs are independent
noise, so its MSE is at least s2 * max(tsteps - lahead, 0) / tsteps^2. A model with unbounded
memory (a stateful one) can in principle reach 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from statelab.config import TaskConfig


@dataclass(frozen=True)
class Series:
    """A raw series before windowing. The first `to_drop` rows lack full history."""

    x: np.ndarray  # (input_len + to_drop,) float64
    y: np.ndarray  # (input_len + to_drop,) float64, NaN where undefined
    to_drop: int


@dataclass(frozen=True)
class Floors:
    """The smallest MSE a model can reach, in expectation, by the memory it has."""

    var_y: float  # variance of the target
    windowed: float  # best MSE of a model that sees only the last `lahead` inputs
    unbounded: float  # best MSE of a model that may remember the whole past

    def nmse(self, mse: float) -> float:
        return mse / self.var_y


def to_drop(task: TaskConfig) -> int:
    """Rows generated in front so that exactly `input_len` rows have a target and a full window."""
    return max(task.tsteps - 1, task.lahead - 1)


def generate(task: TaskConfig) -> Series:
    """Uniform noise and its trailing mean, equal to the original example's data to the bit.

    `RandomState(seed).uniform` draws the same numbers as the legacy `np.random.seed(seed);
    np.random.uniform(...)` the example used, and `trailing_mean` reproduces the arithmetic of
    pandas' `rolling(tsteps).mean()`.
    """
    n_drop = to_drop(task)
    rng = np.random.RandomState(task.seed)
    x = rng.uniform(-task.amplitude, task.amplitude, task.input_len + n_drop)
    return Series(x=x, y=trailing_mean(x, task.tsteps), to_drop=n_drop)


def trailing_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Mean of x[t-window+1 .. t] for each t (NaN before a full window), to the bit as pandas.

    pandas keeps one running sum, updated by adding the newest value and subtracting the one that
    leaves the window, each with its own Kahan compensation term, then divides by the count and
    clamps a result whose sign contradicts every value in the window to 0. A plain
    `sliding_window_view(x, w).mean(1)` differs from it in the last bit on most rows, so the
    recurrence is followed here step by step (about 8 ms per 20 000 values).
    """
    out = np.full(len(x), np.nan)
    values = x.tolist()
    total = comp_add = comp_remove = 0.0
    count = negatives = repeats = 0
    previous = math.nan
    for t, value in enumerate(values):
        if t >= window:
            old = values[t - window]
            count -= 1
            y = -old - comp_remove
            s = total + y
            comp_remove = s - total - y
            total = s
            negatives -= math.copysign(1.0, old) < 0
        count += 1
        y = value - comp_add
        s = total + y
        comp_add = s - total - y
        total = s
        negatives += math.copysign(1.0, value) < 0
        repeats = repeats + 1 if value == previous else 1
        previous = value
        if count == window:
            mean = total / count
            if repeats >= count:
                mean = previous  # a constant window averages to exactly its value
            elif (negatives == 0 and mean < 0) or (negatives == count and mean > 0):
                mean = 0.0
            out[t] = mean
    return out


def floors(task: TaskConfig) -> Floors:
    """The analytic optimum of the moving-average task (see the module docstring)."""
    s2 = task.amplitude**2 / 3.0
    unseen = max(task.tsteps - task.lahead, 0)
    return Floors(var_y=s2 / task.tsteps, windowed=s2 * unseen / task.tsteps**2, unbounded=0.0)


def warmup(task: TaskConfig) -> int:
    """Test rows a freshly reset stateful model cannot predict: it has not seen their history."""
    return task.tsteps - 1


def optimal_windowed_prediction(x_windows: np.ndarray, task: TaskConfig) -> np.ndarray:
    """The best predictor that sees only the window: the mean of the seen part, divided by tsteps.

    x_windows: (N, lahead), oldest first. The unseen inputs have mean 0, so E[y | window] is the
    sum of the last min(lahead, tsteps) inputs over tsteps.
    """
    seen = min(task.lahead, task.tsteps)
    return x_windows[:, -seen:].sum(axis=1) / task.tsteps
