"""The classical peers (statelab.peers): each forecast checked against statsmodels' own, or by hand."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from statelab import peers


def _sunspots() -> np.ndarray:
    from statelab.data import read_panel
    from statelab.tasks.real import statsmodels_dataset

    return read_panel(statsmodels_dataset("sunspots", "sunspots.csv"), "SUNACTIVITY").target[0]


def _seasonal(n: int = 200, season: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 10 + 0.05 * t + 3 * np.sin(2 * np.pi * t / season) + np.cumsum(0.3 * rng.standard_normal(n))


def test_seasonal_naive_is_the_latest_value_of_the_targets_season():
    y = np.arange(100.0) ** 1.5
    s = peers.PeerSeries("", y, 60, np.arange(59, 90))
    pred, _ = peers.seasonal_naive(s, 1, 12)
    np.testing.assert_array_equal(pred, y[np.arange(59, 90) + 1 - 12])
    pred, _ = peers.seasonal_naive(s, 14, 12)  # two seasons back: y[o + 14 - 24]
    np.testing.assert_array_equal(pred, y[np.arange(59, 90) - 10])
    pred, _ = peers.seasonal_naive(s, 3, 1)  # season 1: the last value
    np.testing.assert_array_equal(pred, y[np.arange(59, 90)])


@pytest.mark.parametrize("season", [1, 11])
def test_holt_winters_carried_through_the_series_is_statsmodels_own_recursion(season):
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    y = _sunspots()
    fit_end = 250
    hw, _ = peers._fit_holt_winters(y[:fit_end], season)
    seasonal = season > 1
    fit = ExponentialSmoothing(
        y[:fit_end],
        trend="add",
        damped_trend=True,
        seasonal="add" if seasonal else None,
        seasonal_periods=season if seasonal else None,
        initialization_method="estimated",
    ).fit()
    one_step = peers.holt_winters_forecast(y[:fit_end], hw, np.arange(fit_end - 1), 1)
    np.testing.assert_allclose(one_step, fit.fittedvalues[1:], rtol=0, atol=1e-9)
    for steps in (1, 4, 13):
        mine = peers.holt_winters_forecast(y[:fit_end], hw, np.array([fit_end - 1]), steps)
        assert mine[0] == pytest.approx(fit.forecast(steps)[-1], abs=1e-9)


@pytest.mark.parametrize(("season", "steps"), [(1, 1), (1, 3), (12, 1), (12, 4)])
def test_arima_forecasts_from_each_origin_are_statsmodels_forecasts_with_the_parameters_fixed(season, steps):
    from statsmodels.tsa.arima.model import ARIMA

    y = _seasonal()
    fit_end = 150
    origins = np.arange(fit_end - 1, len(y) - steps)
    series = peers.PeerSeries("", y, fit_end, origins)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred, detail = peers.arima(series, steps, season)
        d = peers.differences(y[:fit_end])
        exog = peers.fourier_terms(len(y), season) if season > 1 else None
        # The order by AIC over the grid, refitted here.
        aic = {}
        for p, q in peers.ARIMA_GRID:
            fit = ARIMA(
                y[:fit_end],
                exog=None if exog is None else exog[:fit_end],
                order=(p, d, q),
                trend="t" if d else "c",
            ).fit(method="innovations_mle")
            aic[(p, q)] = fit.aic
        p, q = min(aic, key=aic.get)
        assert detail.startswith(f"ARIMA({p},{d},{q})")
        best = ARIMA(
            y[:fit_end],
            exog=None if exog is None else exog[:fit_end],
            order=(p, d, q),
            trend="t" if d else "c",
        ).fit(method="innovations_mle")
        for i in (0, 17, len(origins) - 1):
            o = origins[i]
            known = best.apply(y[: o + 1], exog=None if exog is None else exog[: o + 1])
            future = None if exog is None else exog[o + 1 : o + 1 + steps]
            assert pred[i] == pytest.approx(known.forecast(steps, exog=future)[-1], rel=1e-7, abs=1e-7)
    assert d == 1  # the series drifts: the KPSS test rejects a stationary level


def test_a_peer_that_cannot_be_fitted_fails_with_its_reason_and_the_series():
    short = peers.PeerSeries("firm-b", np.array([1.0, 2.0, 3.0]), 2, np.array([1]))
    fine = peers.PeerSeries("firm-a", _seasonal(60), 50, np.arange(49, 59))
    with pytest.raises(peers.PeerFailure, match=r"^on series 'firm-b': "):
        peers.forecast("ets", [fine, short], 1, 1)
    with pytest.raises(peers.PeerFailure, match=r"unknown peer .prophet."):
        peers.forecast("prophet", [fine], 1, 1)


def test_each_series_is_forecast_by_its_own_fit_and_rows_stay_in_order():
    a, b = _seasonal(80, seed=1), 100 + _seasonal(60, seed=2)
    sa = peers.PeerSeries("a", a, 60, np.arange(59, 79))
    sb = peers.PeerSeries("b", b, 45, np.arange(44, 59))
    both = peers.forecast("ets", [sa, sb], 1, 1).pred
    alone_a, alone_b = peers.forecast("ets", [sa], 1, 1).pred, peers.forecast("ets", [sb], 1, 1).pred
    np.testing.assert_array_equal(both, np.concatenate([alone_a, alone_b]))
