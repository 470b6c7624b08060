"""Classical forecasters on the same test rows as the networks: what a practitioner tries first.

Each peer is fitted on every series' training part alone (every value before its first test
target; the networks' validation rows are part of it) and then forecasts each test row's target
from the values known at the row's origin, with its parameters fixed: the test part is filtered,
never fitted. A nowcast (horizon 0) is forecast one step ahead from the step before.

Fitted models need a training part of at least 10 values (`MIN_FIT`).

- `seasonal-naive`: the value one season before the target, y[o + h - P ceil(h / P)] (with
  season 1, the last value).
- `ets`: Holt-Winters exponential smoothing (statsmodels' `ExponentialSmoothing`, Hyndman and
  Athanasopoulos, "Forecasting: Principles and Practice", ch. 8): additive damped trend, and an
  additive season of P where the training part holds two seasons. Its initial states are
  estimated with the smoothing weights (for a season above 12 they come from a decomposition of
  the first cycles, statsmodels' "heuristic", which is much cheaper). The level, trend and season
  are then carried through the whole series by the fitted recursions (`holt_winters_path`).
- `arima`: ARIMA(p, d, q) (statsmodels' `ARIMA`, fitted by innovations maximum likelihood), its
  order chosen by AIC over p in {0, 1, 2} and q in {0, 1} (`ARIMA_GRID`), d by a KPSS test of
  the training part (d = 1, with drift, where stationarity is rejected at 5%; else d = 0 with a
  mean). With a season P above 1, min(4, P // 2) pairs of Fourier terms of period P are
  regressors (a regression with ARIMA errors: the usual model for long seasons). The fitted
  model is applied to the whole series with its parameters fixed (`.apply`) and forecasts h steps
  from each origin through its state space form.

A peer that fails on any series (too short a training part, a fit that raises) is reported as
failed with the reason (`PeerFailure`), never dropped.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from statelab.data import shown
from statelab.tasks.real import PEERS

ARIMA_GRID = tuple((p, q) for p in (0, 1, 2) for q in (0, 1))  # (p, q) tried, d by the KPSS test
KPSS_LEVEL = 0.05
MAX_FOURIER = 4  # pairs of Fourier terms for a season
HEURISTIC_SEASON = 12  # above it, Holt-Winters' initial season comes from a decomposition
MIN_FIT = 10  # values a training part needs for a model to be fitted to it (not seasonal naive)


class PeerFailure(Exception):
    """A peer could not be fitted or could not forecast: the message says why."""


@dataclass(frozen=True)
class PeerSeries:
    """One series as a peer sees it: its values in the data's units, where its training part ends,
    and the origins of its test rows."""

    name: str
    values: np.ndarray  # (L,) float64 the target by position
    fit_end: int  # positions [0, fit_end) are the training part
    origins: np.ndarray  # (n,) int64 the last position known at each test row, in row order


@dataclass(frozen=True)
class PeerForecast:
    """A peer's forecasts of every test row (N,), in the rows' order, and what was fitted."""

    pred: np.ndarray
    detail: str


def seasonal_naive(series: PeerSeries, steps: int, season: int) -> tuple[np.ndarray, str]:
    back = season * math.ceil(steps / season)  # the latest value of the target's season known
    return series.values[series.origins + steps - back], ""


# ---------------------------------------------------------------------------------------------
# Holt-Winters


@dataclass(frozen=True)
class HoltWinters:
    """The fitted parameters of additive Holt-Winters with a damped trend (season 0: none)."""

    alpha: float
    beta: float
    gamma: float
    phi: float
    level: float  # the initial states
    trend: float
    seasons: np.ndarray  # (season,) or (0,)


def holt_winters_path(y: np.ndarray, hw: HoltWinters) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The states after each value: level l[i], trend b[i] after the first i values (i = 0..L),
    and s[j] the seasonal state of time j (j < season: the initial ones), as statsmodels' own
    recursion computes them:

        l[i] = alpha (y[i-1] - s[i-1]) + (1 - alpha) (l[i-1] + phi b[i-1])
        b[i] = beta (l[i] - l[i-1]) + (1 - beta) phi b[i-1]
        s[i-1+m] = gamma (y[i-1] - l[i-1] - phi b[i-1]) + (1 - gamma) s[i-1]
    """
    n, m = len(y), len(hw.seasons)
    level, trend = np.zeros(n + 1), np.zeros(n + 1)
    season = np.zeros(n + m + 1)
    level[0], trend[0] = hw.level, hw.trend
    season[:m] = hw.seasons
    for i in range(1, n + 1):
        s_prev = season[i - 1] if m else 0.0
        base = level[i - 1] + hw.phi * trend[i - 1]
        level[i] = hw.alpha * (y[i - 1] - s_prev) + (1 - hw.alpha) * base
        trend[i] = hw.beta * (level[i] - level[i - 1]) + (1 - hw.beta) * hw.phi * trend[i - 1]
        if m:
            season[i - 1 + m] = hw.gamma * (y[i - 1] - base) + (1 - hw.gamma) * s_prev
    return level, trend, season


def holt_winters_forecast(y: np.ndarray, hw: HoltWinters, origins: np.ndarray, steps: int) -> np.ndarray:
    """y[o + steps] forecast from the states after y[0..o], for each origin o."""
    level, trend, season = holt_winters_path(y, hw)
    i = origins + 1  # values consumed
    damp = sum(hw.phi**j for j in range(1, steps + 1))
    out = level[i] + damp * trend[i]
    m = len(hw.seasons)
    if m:
        target = origins + steps  # its seasonal state: the latest one estimated for its season
        back = m * np.maximum(0, -(-(target - origins - m) // m))
        out = out + season[target - back]
    return out


def _fit_holt_winters(y: np.ndarray, season: int) -> tuple[HoltWinters, str]:
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    seasonal = season > 1 and len(y) >= 2 * season
    init = "heuristic" if seasonal and season > HEURISTIC_SEASON else "estimated"
    model = ExponentialSmoothing(
        y,
        trend="add",
        damped_trend=True,
        seasonal="add" if seasonal else None,
        seasonal_periods=season if seasonal else None,
        initialization_method=init,
    )
    fit = model.fit()
    p = fit.params
    hw = HoltWinters(
        alpha=float(p["smoothing_level"]),
        beta=float(p["smoothing_trend"]),
        gamma=float(p["smoothing_seasonal"]) if seasonal else 0.0,
        phi=float(p["damping_trend"]),
        level=float(p["initial_level"]),
        trend=float(p["initial_trend"]),
        seasons=np.asarray(p["initial_seasons"], np.float64) if seasonal else np.zeros(0),
    )
    return hw, f"season {season}" if seasonal else "no season"


def _enough(series: PeerSeries) -> None:
    if series.fit_end < MIN_FIT:
        raise PeerFailure(f"a training part of at least {MIN_FIT} values is needed, got {series.fit_end}")


def ets(series: PeerSeries, steps: int, season: int) -> tuple[np.ndarray, str]:
    _enough(series)
    hw, what = _fit_holt_winters(series.values[: series.fit_end], season)
    return holt_winters_forecast(series.values, hw, series.origins, steps), what


# ---------------------------------------------------------------------------------------------
# ARIMA


def fourier_terms(length: int, season: int) -> np.ndarray | None:
    """(length, 2K) sin and cos of the first K = min(4, season // 2) harmonics of the season."""
    pairs = min(MAX_FOURIER, season // 2)
    if pairs == 0:
        return None
    t = np.arange(length)[:, None] * (2 * np.pi / season) * np.arange(1, pairs + 1)
    return np.concatenate([np.sin(t), np.cos(t)], axis=1)


def differences(y: np.ndarray) -> int:
    """d: 1 where a KPSS test rejects a stationary level at 5%, else 0."""
    from statsmodels.tsa.stattools import kpss

    return int(kpss(y, regression="c", nlags="auto")[1] < KPSS_LEVEL)


def _at(matrix: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The columns t of a state space matrix whose last axis is time (of length 1 where the
    matrix does not vary)."""
    return matrix[..., t] if matrix.shape[-1] > 1 else matrix[..., np.zeros(len(t), np.int64)]


def state_forecast(result, origins: np.ndarray, steps: int) -> np.ndarray:
    """y[o + steps] forecast from the state space form of a statsmodels result filtered over the
    whole series with its parameters fixed: the predicted state a[o+1 | o], moved on steps - 1
    times by a[t+1 | o] = c[t] + T a[t | o], then y = d[t] + Z[t] a[t | o]."""
    ssm = result.filter_results
    if ssm.transition.shape[-1] != 1:
        raise PeerFailure("a time-varying transition is not supported")
    transition = ssm.transition[:, :, 0]
    state = ssm.predicted_state[:, origins + 1]  # (k, N)
    for j in range(1, steps):
        state = _at(ssm.state_intercept, origins + j) + transition @ state
    target = origins + steps
    design = _at(ssm.design, target)[0]  # (k, N)
    return np.einsum("kn,kn->n", design, state) + _at(ssm.obs_intercept, target)[0]


def arima(series: PeerSeries, steps: int, season: int) -> tuple[np.ndarray, str]:
    from statsmodels.tsa.arima.model import ARIMA

    _enough(series)
    y = series.values[: series.fit_end]
    d = differences(y)
    exog = fourier_terms(len(series.values), season) if season > 1 else None
    best, best_aic, reasons = None, np.inf, []
    for p, q in ARIMA_GRID:
        try:
            fit = ARIMA(
                y,
                exog=None if exog is None else exog[: series.fit_end],
                order=(p, d, q),
                trend="t" if d else "c",
            ).fit(method="innovations_mle")
        except Exception as exc:  # one order that cannot be fitted: the others may be
            reasons.append(f"({p},{d},{q}): {type(exc).__name__}")
            continue
        if np.isfinite(fit.aic) and fit.aic < best_aic:
            best, best_aic = fit, float(fit.aic)
    if best is None:
        raise PeerFailure(f"no order of the grid could be fitted ({'; '.join(reasons[:3])})")
    whole = best.apply(series.values, exog=exog)
    p, _, q = best.model.order
    drift = "with drift" if d else "with a mean"
    fourier = "" if exog is None else f", {exog.shape[1] // 2} Fourier pairs"
    return state_forecast(whole, series.origins, steps), f"ARIMA({p},{d},{q}) {drift}{fourier}"


# (every name of PEERS, the values the `peers` parameter takes)
FORECASTERS: dict[str, Callable[[PeerSeries, int, int], tuple[np.ndarray, str]]] = {
    "seasonal-naive": seasonal_naive,
    "ets": ets,
    "arima": arima,
}


def _summary(name: str, details: list[str], season: int, n_series: int) -> str:
    if name == "seasonal-naive":
        return "the last value" if season == 1 else f"the value {season} steps before the target"
    head = "Holt-Winters, additive damped trend" if name == "ets" else "order by AIC"
    counts = Counter(details)
    if len(counts) == 1:
        what = next(iter(counts))
        return f"{head}, {what}" if name == "ets" else what
    common = ", ".join(f"{d} x{c}" for d, c in counts.most_common(3))
    return f"{head}, per series ({n_series}): {common}" + (" ..." if len(counts) > 3 else "")


def forecast(name: str, series: list[PeerSeries], horizon: int, season: int) -> PeerForecast:
    """Peer `name`'s forecasts of the test rows of every series, in order (see the module
    docstring). PeerFailure naming the series and the reason where it cannot."""
    if name not in FORECASTERS:
        raise PeerFailure(f"unknown peer {name!r}")
    steps = max(horizon, 1)
    preds, details = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' convergence and interpolation notes
        for s in series:
            try:
                pred, detail = FORECASTERS[name](s, steps, season)
            except PeerFailure as exc:
                raise PeerFailure(_where(s, str(exc))) from None
            except Exception as exc:
                raise PeerFailure(_where(s, f"{type(exc).__name__}: {exc}")) from None
            if not np.all(np.isfinite(pred)):
                raise PeerFailure(_where(s, "its forecasts are not finite"))
            preds.append(np.asarray(pred, np.float64))
            details.append(detail)
    return PeerForecast(np.concatenate(preds), _summary(name, details, season, len(series)))


def _where(series: PeerSeries, reason: str) -> str:
    line = " ".join(reason.split())
    line = line if len(line) <= 200 else line[:200] + "..."
    return f"on series {shown(series.name)}: {line}" if series.name else line


__all__ = ["PEERS", "PeerFailure", "PeerForecast", "PeerSeries", "forecast"]
