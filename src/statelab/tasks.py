"""Tasks: the input series, its target, and the best error any model could reach on it.

Synthetic tasks draw x i.i.d. uniform in [-a, a] (variance s2 = a^2 / 3) and compute a target
with a known memory. For each, two analytic floors: the smallest expected MSE of a model that
sees only the last `lahead` inputs (the stateless model), and of one that may remember the whole
past (the stateful model, 0 for all three, since each target is a function of past inputs).

- `moving-average` (the reference; keras-team/keras examples/lstm_stateful.py): y[t] is the
  mean of x[t-tsteps+1 .. t]. var(y) = s2 / tsteps. A window of lahead inputs misses
  max(tsteps - lahead, 0) independent terms: floor s2 * max(tsteps - lahead, 0) / tsteps^2.
  The data equal the original example's to the bit.
- `delay`: y[t] = x[t-k]. var(y) = s2. The window holds x[t-k] only if lahead > k: floor s2
  when lahead <= k, else 0.
- `ema`: y[t] = alpha x[t] + (1 - alpha) y[t-1] = alpha sum_j (1-alpha)^j x[t-j].
  var(y) = s2 alpha / (2 - alpha). The best window predictor keeps the first lahead terms; the
  rest is independent of the window: floor var(y) (1 - alpha)^(2 lahead), falling with lahead
  but never 0 for alpha < 1.

Real tasks forecast the next value, y[t] = x[t+1], of a series standardised with the mean and
standard deviation of its training part: `sunspots` (yearly sunspot numbers 1700-2008, public
domain, shipped inside statsmodels and read from its installed files with no network) and `csv`
(a column of the user's file). They have no analytic floor; `evaluate.baselines` gives the last
value and a least-squares linear autoregression on the same window instead.
"""

from __future__ import annotations

import csv
import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from statelab.config import ConfigError, TaskConfig


@dataclass(frozen=True)
class Series:
    """A raw series before windowing. Rows [to_drop, len - drop_end) have a full window and target."""

    x: np.ndarray  # (L,) float64 inputs
    y: np.ndarray  # (L,) float64 targets, NaN where undefined
    to_drop: int  # leading rows without full history
    drop_end: int = 0  # trailing rows without a target (a forecast's last input)

    @property
    def n_rows(self) -> int:
        return len(self.x) - self.to_drop - self.drop_end


@dataclass(frozen=True)
class Floors:
    """The smallest MSE a model can reach, in expectation, by the memory it has."""

    var_y: float  # variance of the target
    windowed: float  # best MSE of a model that sees only the last `lahead` inputs
    unbounded: float  # best MSE of a model that may remember the whole past


def _noise_variance(task: TaskConfig) -> float:
    return task.amplitude**2 / 3.0


def _ema_burn_in(alpha: float) -> int:
    """Leading samples after which the EMA has forgotten its zero start to 1e-10 of its weight."""
    return 0 if alpha >= 1.0 else math.ceil(math.log(1e-10) / math.log(1.0 - alpha))


def to_drop(task: TaskConfig) -> int:
    """Leading rows without a full window or a defined target, generated in front and dropped."""
    window = task.lahead - 1
    if task.task == "moving-average":
        return max(task.tsteps - 1, window)
    if task.task == "delay":
        return max(task.delay, window)
    if task.task == "ema":
        return max(_ema_burn_in(task.alpha), window)
    return window


def generate(task: TaskConfig) -> Series:
    """The task's series. Synthetic: `input_len` rows after the dropped ones. Real: all of them."""
    if not task.synthetic:
        return _forecast_series(load_real_series(task), task)
    n_drop = to_drop(task)
    x = np.random.RandomState(task.seed).uniform(-task.amplitude, task.amplitude, task.input_len + n_drop)
    if task.task == "moving-average":
        y = trailing_mean(x, task.tsteps)
    elif task.task == "delay":
        y = np.concatenate([np.full(task.delay, np.nan), x[: -task.delay]])
    else:
        y = exponential_average(x, task.alpha)
    return Series(x=x, y=y, to_drop=n_drop)


def trailing_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Mean of x[t-window+1 .. t] for each t (NaN before a full window), to the bit as pandas.

    `RandomState(seed).uniform` draws the same numbers as the original's legacy
    `np.random.seed(seed); np.random.uniform(...)`, and this reproduces the arithmetic of its
    `rolling(tsteps).mean()`: one running sum, updated by adding the newest value and
    subtracting the one that leaves the window, each with its own Kahan compensation term, then
    divided by the count, with a mean whose sign contradicts every value in the window clamped
    to 0. A plain `sliding_window_view(x, w).mean(1)` differs from it in the last bit on most
    rows, so the recurrence is followed step by step (about 8 ms per 20 000 values).
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


def exponential_average(x: np.ndarray, alpha: float) -> np.ndarray:
    """y[t] = alpha x[t] + (1 - alpha) y[t-1], from y[-1] = 0."""
    out = np.empty(len(x))
    level = 0.0
    for t, value in enumerate(x.tolist()):
        level = alpha * value + (1.0 - alpha) * level
        out[t] = level
    return out


def floors(task: TaskConfig) -> Floors | None:
    """The analytic optimum of a synthetic task (see the module docstring); None for real series."""
    if not task.synthetic:
        return None
    s2 = _noise_variance(task)
    if task.task == "moving-average":
        unseen = max(task.tsteps - task.lahead, 0)
        return Floors(var_y=s2 / task.tsteps, windowed=s2 * unseen / task.tsteps**2, unbounded=0.0)
    if task.task == "delay":
        return Floors(var_y=s2, windowed=s2 if task.lahead <= task.delay else 0.0, unbounded=0.0)
    var_y = s2 * task.alpha / (2.0 - task.alpha)
    return Floors(var_y=var_y, windowed=var_y * (1.0 - task.alpha) ** (2 * task.lahead), unbounded=0.0)


def warmup(task: TaskConfig) -> int:
    """Test rows a freshly reset stateful model cannot predict: it has not seen their history."""
    if task.task == "moving-average":
        return task.tsteps - 1
    if task.task == "delay":
        return task.delay
    if task.task == "ema" and task.alpha < 1.0:
        # until the history the model has not seen weighs less than 1% of var(y)
        return math.ceil(math.log(0.01) / (2.0 * math.log(1.0 - task.alpha)))
    return 0


def optimal_windowed_prediction(x_windows: np.ndarray, task: TaskConfig) -> np.ndarray:
    """E[y | window] for a synthetic task. x_windows: (N, lahead), oldest first -> (N,).

    The inputs outside the window have mean 0, so the best prediction keeps the target's terms
    that fall inside the window.
    """
    lahead = x_windows.shape[1]
    if task.task == "moving-average":
        seen = min(lahead, task.tsteps)
        return x_windows[:, lahead - seen :].sum(axis=1) / task.tsteps
    if task.task == "delay":
        return x_windows[:, -1 - task.delay] if lahead > task.delay else np.zeros(len(x_windows))
    weights = task.alpha * (1.0 - task.alpha) ** np.arange(lahead)[::-1]  # oldest first
    return x_windows @ weights


def describe(task: TaskConfig) -> str:
    """One line saying what the target is."""
    if task.task == "moving-average":
        return f"the target is the mean of the last tsteps={task.tsteps} inputs"
    if task.task == "delay":
        return f"the target is the input delay={task.delay} steps ago"
    if task.task == "ema":
        return f"the target is an exponential moving average of all past inputs (alpha={task.alpha})"
    return f"the target is the next value of the series ({real_series_name(task)})"


# ---------------------------------------------------------------------------------------------
# Real series


def real_series_name(task: TaskConfig) -> str:
    if task.task == "sunspots":
        return "yearly sunspot numbers 1700-2008"
    return task.data if task.column is None else f"column {task.column} of {task.data}"


def sunspots_path() -> Path:
    """The CSV of yearly sunspot numbers inside the installed statsmodels (found, not imported)."""
    spec = importlib.util.find_spec("statsmodels")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("task sunspots needs the statsmodels package installed, got none")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "sunspots" / "sunspots.csv"


def load_real_series(task: TaskConfig) -> np.ndarray:
    if task.task == "sunspots":
        return read_series(sunspots_path(), "SUNACTIVITY")
    return read_series(task.data, task.column)


def read_series(path: str | Path, column: str | None = None, param: str = "data") -> np.ndarray:
    """One numeric column of a CSV file with a header row: (N,) float64.

    `column` names it; it may be left out when the file has a single column. Errors name the
    file's parameter as `param`.
    """
    try:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ConfigError(f"{param} must be a readable CSV file, got {str(path)!r} ({reason})") from None
    if not rows or not rows[0]:
        raise ConfigError(f"{param} must be a CSV file with a header row, got an empty file {str(path)!r}")
    header = [h.strip() for h in rows[0]]
    if column is None:
        if len(header) != 1:
            raise ConfigError(f"column must name one of the {len(header)} columns {header}, got none")
        index = 0
    elif column in header:
        index = header.index(column)
    else:
        raise ConfigError(f"column must be one of {header}, got {column!r}")
    values = []
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        text = row[index].strip() if index < len(row) else ""
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise ConfigError(
                f"column {header[index]!r} must hold finite numbers, got {text!r} on line {line}"
            )
        values.append(value)
    if not values:
        raise ConfigError(f"{param} must hold at least one value, got none in {str(path)!r}")
    return np.asarray(values)


def _forecast_series(values: np.ndarray, task: TaskConfig) -> Series:
    """One-step-ahead forecasting: y[t] = x[t+1], standardised by the training part's statistics."""
    n_rows = len(values) - task.lahead  # windows ending at lahead-1 .. N-2
    if n_rows < 2:
        raise ConfigError(
            f"data must hold more than lahead + 1 = {task.lahead + 1} values, got {len(values)}"
        )
    n_train, _ = task.split(n_rows)
    fit = values[: task.lahead + n_train]  # every value a training row reads or predicts
    scale = fit.std() or 1.0
    x = (values - fit.mean()) / scale
    y = np.append(x[1:], np.nan)
    return Series(x=x, y=y, to_drop=task.lahead - 1, drop_end=1)
