"""memory.py on real data: the stateless shortcut and the linear reference read from the windows."""

from __future__ import annotations

import numpy as np
import pytest

from statelab import experiment, memory, train
from statelab.config import from_mapping


@pytest.fixture(scope="module")
def fitted(panel_file):
    from conftest import PANEL_RUN

    config = from_mapping({**PANEL_RUN, "data": str(panel_file), "lahead": 2, "epochs": 2})
    dataset = experiment.prepare(config)
    return config, dataset, train.fit(config, dataset)


def test_a_stateless_profile_carried_over_the_window_only_equals_the_full_pass(fitted):
    """A stateless model's derivative with respect to inputs older than its window is exactly 0,
    so carrying only the window's lags (the shortcut `sensitivity` takes) loses nothing."""
    config, dataset, fit = fitted
    k = memory.lags(config)
    i = train.MODELS.index("stateless")
    short = memory.sensitivity(fit.params[i], config, dataset, fit.test_start[i], False, k)
    test = dataset.test
    weight = test.scored.astype(np.float32)
    full = memory.profile_sums(
        fit.params[i],
        fit.test_start[i],
        train.device_windows(dataset),
        test.row.astype(np.int32),
        test.reset,
        weight,
        np.asarray(False),
        cell=config.model.cell,
        k=k,
        stride=1,
        newest_first=False,
    )
    full = np.asarray(full, np.float64).T / weight.sum()  # (F, K+1)
    assert short.shape == full.shape == (2, k + 1)
    np.testing.assert_allclose(short, full, rtol=1e-5, atol=1e-9)
    assert np.all(full[:, config.task.lahead :] == 0.0) and np.any(full[:, : config.task.lahead] != 0.0)


def test_the_linear_reference_is_least_squares_on_each_series_own_past(fitted, panel_file):
    """Read back from the windows, it equals the regression on the file's values themselves."""
    from statelab.data import forecast, read_panel

    config, dataset, _ = fitted
    k = 5
    got = memory.linear_reference(dataset, k, config.train.window_order)
    task = forecast(read_panel(panel_file, "y", ("a", "b"), series="id", time="time"), 2, 1, 0.8)
    f = 0  # the model does not read the target: the first feature is profiled
    rows, targets = [], []
    for series in task.series:
        n_train = int(series.n_rows * 0.8)
        for t in range(max(k, series.to_drop), series.to_drop + n_train):
            rows.append([series.x[t - j, f] for j in range(k + 1)] + [1.0])
            targets.append(series.y[t])
    expected, *_ = np.linalg.lstsq(np.array(rows, np.float64), np.array(targets), rcond=None)
    np.testing.assert_allclose(got, expected[:-1], rtol=1e-6, atol=1e-9)
