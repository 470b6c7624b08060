"""Transforms of a real series, applied per series before standardisation, and their exact inverse.

A forecaster of levels cannot extrapolate: a network trained on standardised values predicts within
the range it saw, and a trending series leaves that range in its test part. Differencing turns the
trend into a level that stays in range. With `g` the identity or the logarithm and `lag` 0 (none),
1 (a difference) or the season P (a seasonal difference), a row t that forecasts the target
`horizon` = h steps ahead reads and predicts

    inputs   g(x[t']) - g(x[t' - lag])     for each t' of its window (each feature)
    target   z[t] = g(y[t + h]) - g(y[a])  with a = t + h - lag * ceil(max(h, 1) / lag)

the change from the latest value of the target the lag allows and the forecast can know (a <= t:
for `diff` the value now, y[t], so the target is the h-step change; for a seasonal difference the
value one season before the target). Inverted exactly:

    y[t + h] = g^-1(z[t] + g(y[a]))

so every prediction and error is reported in the data's units (`invert`). The names:

| transform | g | lag |
|---|---|---|
| none | identity | 0 |
| diff | identity | 1 |
| log | log | 0 |
| logdiff | log | 1 |
| sdiff | identity | season |
| logsdiff | log | season |

The log needs positive values: a target that is not is an error; a feature that is not is only
differenced (where the transform differences), never logged. A nowcast (h = 0) differences from
the value before the one it estimates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from statelab.params import ConfigError


@dataclass(frozen=True)
class Transform:
    """A transform by name, with the series' season resolved."""

    name: str
    log: bool  # values go through the natural log first
    lag: int  # the difference's lag: 0 (none), 1, or the season

    def anchor(self, t: np.ndarray, horizon: int) -> np.ndarray:
        """The position a of the value a target y[t + h] is differenced against (see above)."""
        steps = max(horizon, 1)
        return t + horizon - self.lag * (-(-steps // self.lag))

    def first_row(self, lahead: int, horizon: int) -> int:
        """The first row t with a whole transformed window, an anchor and a last value."""
        first = max(lahead - 1, 0 if horizon else 1)
        if self.lag:
            first = max(first, lahead - 1 + self.lag, int(-self.anchor(np.zeros(1, np.int64), horizon)[0]))
        return first


def transform_of(name: str, season: int) -> Transform:
    """The transform `name` (one of `statelab.tasks.real.TRANSFORMS`) at this season."""
    log = name.startswith("log")
    core = name.removeprefix("log") or "none"
    lag = {"none": 0, "diff": 1, "sdiff": season}[core]
    return Transform(name, log, lag)


def logged(values: np.ndarray, transform: Transform) -> bool:
    """Whether a column goes through the log: the transform asks for it and every value is > 0."""
    return transform.log and bool(np.all(values > 0))


def forward(values: np.ndarray, transform: Transform, log: bool) -> np.ndarray:
    """A column's transformed inputs (L,), NaN where the difference reaches before the series."""
    g = np.log(values) if log else np.asarray(values, np.float64)
    if not transform.lag:
        return g
    out = np.full(len(g), np.nan)
    out[transform.lag :] = g[transform.lag :] - g[: -transform.lag]
    return out


def targets(y: np.ndarray, transform: Transform, horizon: int, name: str, series: str) -> tuple:
    """(z, base): per row t of a series (L,), the transformed target z[t] and what it is measured
    from, g(y[a]) (0 without a difference), so that y[t + h] = g^-1(z[t] + base[t]). NaN where
    the row has no target or no anchor. ConfigError for a log of a value that is not positive."""
    if transform.log and not np.all(y > 0):
        bad = float(y[~(y > 0)][0])
        where = f" of series {series!r}" if series else ""
        raise ConfigError(
            f"transform {transform.name} needs a target > 0 (its log), got {bad!r} in column {name!r}{where}"
        )
    g = np.log(y) if transform.log else np.asarray(y, np.float64)
    n = len(g)
    t = np.arange(n)
    future = np.full(n, np.nan)
    future[: n - horizon] = g[horizon:]
    base = np.zeros(n)
    if transform.lag:
        a = transform.anchor(t, horizon)
        base = np.where(a >= 0, g[np.clip(a, 0, n - 1)], np.nan)
    return future - base, base


def invert(z: np.ndarray, base: np.ndarray, log: bool) -> np.ndarray:
    """Values in the data's units from transformed ones: g^-1(z + base). float64."""
    level = np.asarray(z, np.float64) + base
    return np.exp(level) if log else level


@dataclass(frozen=True)
class Levels:
    """A real series' target in the data's own units, and how each row's transformed, standardised
    target turns back into them. Rows are given by (series index, position t within the series);
    everything per position is kept flat over series, `starts[s]` where series s begins.

    Only the target's values by position are kept (not a copy per row): the target of row t is
    y[t + h], its last known value y[t] (y[t - 1] for a nowcast), its base g(y[a])."""

    history: np.ndarray  # (sum L_s,) float64 the target column by position, series after series
    starts: np.ndarray  # (S,) int64 where each series begins in `history` (and `times`)
    first: int  # the position of every series' first row
    horizon: int
    transform: Transform
    mean: float  # the transformed target's standardisation: z = mean + scale * z'
    scale: float
    times: np.ndarray | None = None  # (sum L_s,) each position's time, in the file's units
    time_name: str | None = None
    inputs: np.ndarray | None = None  # (sum of the test tails, F) raw features from inputs_from[s]
    inputs_starts: np.ndarray | None = None  # (S,) where each series' tail begins in `inputs`
    inputs_from: np.ndarray | None = None  # (S,) the position each series' tail starts at

    def _at(self, series: np.ndarray, position: np.ndarray) -> np.ndarray:
        return self.starts[series] + position

    def target(self, series: np.ndarray, position: np.ndarray) -> np.ndarray:
        """y[t + h] of each row (N,), in the data's units."""
        return self.history[self._at(series, position + self.horizon)]

    def last(self, series: np.ndarray, position: np.ndarray) -> np.ndarray:
        """The last value of the target known at each row: y[t], or y[t - 1] for a nowcast."""
        return self.history[self._at(series, position - (0 if self.horizon else 1))]

    def base(self, series: np.ndarray, position: np.ndarray) -> np.ndarray:
        """What each row's transformed target is measured from, g(y[a]) (0 without a difference)."""
        if not self.transform.lag:
            return np.zeros(len(position))
        values = self.history[self._at(series, self.transform.anchor(position, self.horizon))]
        return np.log(values) if self.transform.log else values

    def to_data(self, standardised: np.ndarray, series: np.ndarray, position: np.ndarray) -> np.ndarray:
        """Predictions of the standardised, transformed target as values in the data's units."""
        z = np.asarray(standardised, np.float64) * self.scale + self.mean
        return invert(z, self.base(series, position), self.transform.log)

    def standardised(self, values: np.ndarray, series: np.ndarray, position: np.ndarray) -> np.ndarray:
        """The converse of `to_data`: values in the data's units as the network's targets."""
        g = np.log(values) if self.transform.log else np.asarray(values, np.float64)
        return (g - self.base(series, position) - self.mean) / self.scale

    def time(self, series: np.ndarray, position: np.ndarray) -> np.ndarray | None:
        """The time of each row's target, in the file's units (None without a time column)."""
        return None if self.times is None else self.times[self._at(series, position + self.horizon)]

    def raw_inputs(self, series: np.ndarray, position: np.ndarray) -> np.ndarray | None:
        """The raw features at each row's position (N, F): rows of the test parts only."""
        if self.inputs is None or self.inputs_starts is None or self.inputs_from is None:
            return None
        return self.inputs[self.inputs_starts[series] + position - self.inputs_from[series]]
