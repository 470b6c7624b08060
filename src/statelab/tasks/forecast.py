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


# The largest standardised value a column may hold: the network computes in float32 and squares
# its errors, so a value beyond the square root of float32's largest number would make the loss
# infinite (and one beyond float32's range, an infinite input) after all of training.
MAX_STANDARDISED = float(np.sqrt(np.finfo(np.float32).max))
# Every error of a real series is reported in the data's units, and a squared error (MSE, the
# target's variance) must stay within float64: a target may lie at most this far from its mean.
MAX_SPREAD = 1e150


def _check_spread(values: np.ndarray, column: str) -> None:
    """ConfigError naming the column and the value if one lies further than MAX_SPREAD from the
    column's mean (its squared error would overflow float64 and every MSE would be infinite)."""
    with np.errstate(over="ignore", invalid="ignore"):
        centre = np.nanmean(values / MAX_SPREAD) * MAX_SPREAD  # the mean without overflowing the sum
        far = np.abs(values - centre) > MAX_SPREAD
    if far.any():
        value = float(values[np.flatnonzero(far)[0]])
        raise ConfigError(
            f"column {column!r} must hold values within {MAX_SPREAD:.0e} of its mean (errors are reported "
            f"in the data's units, and their squares must fit in float64), got {value!r}"
        )


def _standardised(values: np.ndarray, mean: float, scale: float, column: str, series: str) -> np.ndarray:
    """(values - mean) / scale in float64 (NaN stays NaN); ConfigError naming the column, the
    series and the raw value if one lies beyond MAX_STANDARDISED standard deviations (checked
    before training)."""
    with np.errstate(over="ignore", invalid="ignore"):
        z = (values - mean) / scale
        bad = np.abs(z) > MAX_STANDARDISED  # NaN: a row a transform or the horizon leaves empty
    if bad.any():
        value = float(values[np.flatnonzero(bad)[0]])
        where = f" in series {shown(series)}" if series else ""
        raise ConfigError(
            f"column {column!r} must hold values within {MAX_STANDARDISED:.3g} standard deviations of "
            f"its training mean (the network computes in float32; mean {mean:.6g}, standard deviation "
            f"{scale:.6g}), got {value!r}{where}"
        )
    return z


def min_rows(lahead: int, horizon: int) -> int:
    """The fewest values a series needs: a full window and a target for one training row and one
    test row (and before a nowcast's first row, the target's last value)."""
    return lahead + max(horizon, 1) + 1


def forecast(
    panel: Panel,
    lahead: int,
    horizon: int,
    train_fraction: float,
    transform: str = "none",
    season: int = 1,
) -> TaskData:
    """Forecasting data: the window of features ending at t predicts target[t + horizon].

    Each series is transformed (`statelab.tasks.transforms`: none, a difference, a log, ...) and
    split in time (its first `train_fraction` of windows trains; the rows a transform leaves
    without a window count in the split, so every transform tests the same rows). Every column is
    standardised with the statistics of the values the training windows read or predict. Inputs
    are float32 (L_s, F) views of one array; targets float64. Each series keeps its values in the
    data's units (`Levels`), from which every prediction is turned back into them.
    """
    from statelab.tasks.transforms import Levels, forward, logged, targets, transform_of

    how = transform_of(transform, season)
    plain_first = transform_of("none", season).first_row(lahead, horizon)  # the rows' split
    first = how.first_row(lahead, horizon)
    lost = first - plain_first
    # Which columns go through the log (all of a column's values > 0): asked only of a log.
    logs = [
        how.log and logged(np.concatenate([x[:, j] for x in panel.features]), how)
        for j in range(len(panel.feature_names))
    ]
    plans = []  # per series: its training rows (the transformed targets are made again below)
    fit_x, fit_y = [], []  # per series: what the training windows read, and read or predict
    for s, (x, y) in enumerate(zip(panel.features, panel.target)):
        name = f"series {shown(panel.names[s])}" if panel.names[s] else "the series"
        n_rows = len(x) - plain_first - horizon
        if n_rows < 2:
            rule = "lahead + horizon + 1" if horizon else "lahead + 2 (a nowcast)"
            raise ConfigError(
                f"data must give {name} at least {rule} = {min_rows(lahead, horizon)} values "
                f"(a window and a target for one training and one test row), got {len(x)}"
            )
        n_train = split_rows(n_rows, train_fraction)[0] - lost
        if n_train < 1:
            raise ConfigError(
                f"transform must leave {name} a training row (its first {lost} rows have no window of "
                f"{how.name} values), got {transform!r}"
            )
        plans.append(n_train)
        reads = first + n_train  # inputs of the training windows end here
        if how.name == "none":
            fit_x.append(x[:reads])
            fit_y.append(y[: reads + horizon])  # up to the last training target
        else:
            window = slice(first - (lahead - 1), reads)
            fit_x.append(np.stack([forward(x[:, j], how, logs[j])[window] for j in range(x.shape[1])], 1))
            fit_y.append(targets(y, how, horizon, panel.target_name, panel.names[s])[0][first:reads])
    # Each column once, with the same statistics wherever it appears.
    stats = {panel.target_name: _stats(np.concatenate(fit_y))}
    for j, name in enumerate(panel.feature_names):
        if name not in stats:
            stats[name] = _stats(np.concatenate([f[:, j] for f in fit_x]))
    del fit_x, fit_y
    _check_spread(np.concatenate(panel.target), panel.target_name)
    t_mean, t_scale = stats[panel.target_name]
    lengths = [len(x) for x in panel.features]
    inputs = np.empty((sum(lengths), len(panel.feature_names)), np.float32)
    out, start = [], 0
    for s, (name, x) in enumerate(zip(panel.names, panel.features)):
        z, base = targets(panel.target[s], how, horizon, panel.target_name, panel.names[s])
        xs = inputs[start : start + len(x)]
        start += len(x)
        for j, f in enumerate(panel.feature_names):  # a column at a time: no float64 copy of x
            mean, scale = stats[f]
            values = x[:, j] if how.name == "none" else forward(x[:, j], how, logs[j])
            xs[:, j] = _standardised(values, mean, scale, f, name)
        target = _standardised(z, t_mean, t_scale, panel.target_name, name)  # y[t + horizon] transformed
        # The last value known when the forecast is made (the target now, or before a nowcast),
        # as the transformed target reads it: the last-value baseline.
        y = panel.target[s]
        known = y if horizon else np.append(np.nan, y[:-1])
        last = ((np.log(known) if how.log else known) - base - t_mean) / t_scale
        out.append(Series(x=xs, y=target, last=last, to_drop=first, drop_end=horizon, name=name, lost=lost))
    notes = {**panel.notes, "horizon": horizon}
    if how.name != "none":
        notes["transform"] = how.name
        unlogged = [f for f, ok in zip(panel.feature_names, logs) if how.log and not ok]
        if unlogged:
            notes["not_logged"] = unlogged  # features with values <= 0: differenced only
    scaling = {name: stats[name] for name in (*panel.feature_names, panel.target_name)}
    tails = [first + n_train for n_train in plans]  # each series' first test row
    levels = Levels(
        history=np.concatenate(panel.target),
        starts=np.cumsum(lengths) - lengths,
        first=first,
        horizon=horizon,
        transform=how,
        mean=t_mean,
        scale=t_scale,
        times=None if panel.times is None else np.concatenate(panel.times),
        time_name=panel.time_name,
        inputs=np.concatenate([x[tail:] for x, tail in zip(panel.features, tails)]),
        inputs_starts=np.cumsum([len(x) - tail for x, tail in zip(panel.features, tails)])
        - [len(x) - tail for x, tail in zip(panel.features, tails)],
        inputs_from=np.asarray(tails, np.int64),
    )
    return TaskData(
        out,
        features=panel.feature_names,
        target=panel.target_name,
        notes=notes,
        scaling=scaling,
        levels=levels,
    )
