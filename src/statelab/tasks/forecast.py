"""Forecasting data from a panel of series: the window of features ending at t predicts the target
`horizon` steps later, every column standardised with the statistics of the training part.

    Panel (statelab.data: per series features (L, F), target (L,)) --forecast--> TaskData

Scaling: every column is standardised with the mean and standard deviation of the values the
training part reads (the first `train_fraction` of each series' windows, their inputs and their
targets), pooled over series, so nothing of the test part leaks into it. The statistics are kept
(`TaskData.scaling`) so that a saved model can read raw values and predict in the target's units.
"""

from __future__ import annotations

import numpy as np

from statelab.data import Panel, shown
from statelab.params import ConfigError
from statelab.tasks.base import Series, TaskData, split_rows


def _stats(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation; a constant column keeps scale 1. Values beyond 1e150 would
    overflow their squares, so those are computed at a smaller scale."""
    top = float(np.max(np.abs(values))) if len(values) else 0.0
    if top < 1e150:
        return float(values.mean()), float(values.std()) or 1.0
    scaled = values / top
    return float(scaled.mean()) * top, (float(scaled.std()) * top) or 1.0


def min_rows(lahead: int, horizon: int) -> int:
    """The fewest values a series needs: a full window and a target for one training row and one
    test row (and before a nowcast's first row, the target's last value)."""
    return lahead + max(horizon, 1) + 1


def forecast(panel: Panel, lahead: int, horizon: int, train_fraction: float) -> TaskData:
    """Forecasting data: the window of features ending at t predicts target[t + horizon].

    Each series is split in time (its first `train_fraction` of windows trains). Every column is
    standardised with the statistics of the values the training windows read or predict. Inputs
    are float32 (L_s, F) views of one array; targets float64.
    """
    fit_x, fit_y = [], []  # per series: what the training windows read, and read or predict
    for s, (x, y) in enumerate(zip(panel.features, panel.target)):
        n_rows = len(x) - (lahead - 1 if horizon else lahead) - horizon
        if n_rows < 2:
            name = f"series {shown(panel.names[s])}" if panel.names[s] else "the series"
            rule = "lahead + horizon + 1" if horizon else "lahead + 2 (a nowcast)"
            raise ConfigError(
                f"data must give {name} at least {rule} = {min_rows(lahead, horizon)} values "
                f"(a window and a target for one training and one test row), got {len(x)}"
            )
        # inputs of the training windows
        reads = (lahead - 1 if horizon else lahead) + split_rows(n_rows, train_fraction)[0]
        fit_x.append(x[:reads])
        fit_y.append(y[: reads + horizon])  # up to the last training target
    # Each column once, with the same statistics wherever it appears.
    stats = {panel.target_name: _stats(np.concatenate(fit_y))}
    for j, name in enumerate(panel.feature_names):
        if name not in stats:
            stats[name] = _stats(np.concatenate([f[:, j] for f in fit_x]))
    del fit_x, fit_y
    t_mean, t_scale = stats[panel.target_name]
    lengths = [len(x) for x in panel.features]
    inputs = np.empty((sum(lengths), len(panel.feature_names)), np.float32)
    out, start = [], 0
    for name, x, y in zip(panel.names, panel.features, panel.target):
        xs = inputs[start : start + len(x)]
        start += len(x)
        for j, f in enumerate(panel.feature_names):  # a column at a time: no float64 copy of x
            mean, scale = stats[f]
            xs[:, j] = (x[:, j] - mean) / scale
        ys = (y - t_mean) / t_scale
        target = np.append(ys[horizon:], np.full(horizon, np.nan))  # y[t] = target[t + horizon]
        # The last value known when the forecast is made: the target now, or before a nowcast.
        last = ys if horizon else np.append(np.nan, ys[:-1])
        drop = lahead - 1 if horizon else lahead  # a nowcast's first row has no last value
        out.append(Series(x=xs, y=target, last=last, to_drop=drop, drop_end=horizon, name=name))
    notes = {**panel.notes, "horizon": horizon}
    scaling = {name: stats[name] for name in (*panel.feature_names, panel.target_name)}
    return TaskData(out, features=panel.feature_names, target=panel.target_name, notes=notes, scaling=scaling)
