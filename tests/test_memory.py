"""memory.py: profiles are exact derivatives through the carried state, checked against finite
differences of the real test pass; a stateless model's profile ends at its window; a trained
stateful model's profile matches the task's own."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from statelab import experiment, memory, train
from statelab.config import from_mapping
from statelab.experiment import prepare, run_experiment


def _test_pass(params, config, dataset, start, stateful, x):
    """The model's test predictions (scored rows, in batch order) for test windows built from x.

    x: the series values the test windows read, one per windowed row (the newest input of each
    row), as the function of which the profile is the derivative."""
    test = dataset.test
    lahead = config.task.lahead
    # Rebuild every test window from x: row r's window holds x[r - lahead + 1 .. r].
    rows = np.maximum(test.row, 0)[..., None] - np.arange(lahead)[::-1]  # (Kt, Bt, lahead), oldest first
    if config.train.window_order == "newest-first":
        rows = rows[..., ::-1]
    windows = x[rows][..., None]  # (Kt, Bt, lahead, 1)
    preds = train.predict_batches(params, windows, stateful, start, config.model.cell, test.reset)
    return preds[test.scored]


def finite_difference_profile(params, config, dataset, start, stateful, k, eps=1e-2):
    """s(j) = mean over scored rows t of d yhat[t] / d x[t-j], by central differences on every
    series value in turn, through the whole test pass from `start`. Independent of memory.py."""
    test = dataset.test
    lahead = config.task.lahead
    n = len(dataset.target)
    # The series value that is the newest input of row r (works for both window orders).
    newest = dataset.windows[:, -1 if config.train.window_order == "oldest-first" else 0, 0]
    first = int(test.row[test.scored].min()) - (lahead - 1) - k  # oldest value any profile lag reaches
    base = np.concatenate([np.zeros(max(0, -first)), newest]).astype(np.float32)
    shift = max(0, -first)
    x = jnp.asarray(base)
    run = jax.jit(lambda xv: _test_pass(params, config, dataset, start, stateful, xv))
    scored_rows = test.row[test.scored]
    use = np.ones(len(scored_rows), bool)
    if stateful and config.train.test_start == "reset":
        use = ~dataset.warm[test.scored]
    total = np.zeros(k + 1)
    for tau in range(max(0, first), n):
        bump = jnp.zeros_like(x).at[tau + shift].set(eps)
        grad = (np.asarray(run(x + bump), np.float64) - np.asarray(run(x - bump), np.float64)) / (2 * eps)
        lag = scored_rows - tau
        ok = use & (lag >= 0) & (lag <= k)
        np.add.at(total, lag[ok], grad[ok])
    return total / use.sum()


@pytest.fixture(scope="module")
def reference():
    """The reference experiment, trained: its stateful model converges (model seed 0)."""
    return run_experiment(from_mapping({}))


def test_a_stateless_profile_is_exactly_zero_beyond_its_window():
    for lahead in (1, 3):
        result = run_experiment(from_mapping({"tsteps": 4, "lahead": lahead, "input_len": 300, "epochs": 2}))
        s = np.asarray(result.memory["stateless"].sensitivity)
        assert len(s) >= lahead + 4
        assert (s[lahead:] == 0.0).all(), s
        assert np.abs(s[:lahead]).max() > 0  # it does read its window
        assert np.abs(result.memory["stateful"].sensitivity[lahead:]).max() > 0  # the state reaches back


def test_the_converged_stateful_model_remembers_what_the_moving_average_needs(reference):
    result = reference
    assert result.models["stateful"].converged
    tsteps = result.config.task.tsteps
    np.testing.assert_allclose(result.task_profile[:3], [0.5, 0.5, 0.0])
    mem = result.memory["stateful"]
    assert mem.span >= tsteps - 1
    assert mem.profile_error < 0.2
    # The stateless model sees one input: it cannot carry the second half of the average.
    assert result.memory["stateless"].span == 0
    assert result.memory["stateless"].profile_error > 0.4


@pytest.mark.parametrize(
    "flat",
    [
        {},  # the reference: batch 1, streams, reset
        {"lahead": 3, "tsteps": 3, "window_order": "newest-first"},
        {"batch_size": 4, "layout": "seed"},
        {"batch_size": 4, "test_start": "continue", "input_len": 403},
    ],
)
def test_profiles_agree_with_finite_differences_of_the_test_pass(flat):
    config = from_mapping({"input_len": 300, "epochs": 2, **flat})
    dataset = prepare(config)
    fitted = train.fit(config, dataset)
    k = memory.lags(config)
    for i, name in enumerate(train.MODELS):
        stateful = name == "stateful"
        exact = memory.sensitivity(fitted.params[i], config, dataset, fitted.test_start[i], stateful, k)[0]
        estimate = finite_difference_profile(
            fitted.params[i], config, dataset, fitted.test_start[i], stateful, k
        )
        np.testing.assert_allclose(exact, estimate, atol=2e-3, rtol=2e-2, err_msg=name)


def test_a_delay_is_remembered_as_a_spike_at_its_lag():
    result = run_experiment(from_mapping({"task": "delay", "delay": 2, "lahead": 1, "bptt": 3}))
    s = np.asarray(result.memory["stateful"].sensitivity)
    assert result.models["stateful"].converged
    assert np.argmax(np.abs(s)) == 2 and s[2] > 0.8
    assert result.memory["stateful"].span == 2
    assert (result.memory["stateless"].sensitivity[1:] == np.zeros(len(s) - 1)).all()


def test_span_and_profile_error_follow_their_definitions():
    truth = np.array([0.5, 0.5, 0.0, 0.0])
    assert memory.summarise(np.array([0.5, 0.5, 0.0, 0.0]), truth) == (1, 0.0)
    span, error = memory.summarise(np.array([0.4, 0.0, 0.06, 0.04]), truth)
    assert span == 2  # 0.06 >= 10% of the largest true weight 0.5; 0.04 is not
    assert error == pytest.approx((0.1**2 + 0.5**2 + 0.06**2 + 0.04**2) / 0.5)
    assert memory.summarise(np.zeros(3), np.zeros(3)) == (None, None)  # no truth to measure against


def test_a_diffuse_profile_has_no_span_however_far_it_spreads():
    """A failed model's profile spread over lags the target does not use would get the longest
    span of all: it has none. A profile leaning where the truth does keeps its span, even one
    that misses part of the truth (a stateless model that sees only x[t])."""
    truth = np.array([0.0, 0.0, 1.0, 0.0, 0.0, 0.0])  # delay 2
    diffuse = np.array([0.2, 0.25, 0.1, 0.2, 0.15, 0.2])
    span, error = memory.summarise(diffuse, truth)
    assert span is None and error == pytest.approx(np.sum((diffuse - truth) ** 2))
    assert memory.summarise(np.array([0.0, 0.05, 0.9, 0.05, 0.0, 0.0]), truth)[0] == 2
    assert memory.summarise(np.zeros(6), truth)[0] is None
    assert memory.summarise(np.array([0.45, 0.0, 0.0]), np.array([0.5, 0.5, 0.0]))[0] == 0


def test_profile_lags_cover_the_task_memory_within_the_cap():
    assert memory.lags(from_mapping({})) == 4  # lahead 1 + 3
    assert memory.lags(from_mapping({"tsteps": 9})) == 10  # reach 8 + 2
    assert memory.lags(from_mapping({"task": "delay", "delay": 5, "lahead": 2})) == 7
    assert memory.lags(from_mapping({"task": "ema", "alpha": 0.5})) == 9  # weight under 1% by lag 7
    assert memory.lags(from_mapping({"task": "ema", "alpha": 0.02})) == memory.MAX_LAG
    assert memory.lags(from_mapping({"lahead": 100, "input_len": 2000})) == memory.MAX_LAG


def test_a_real_series_is_profiled_against_a_linear_reference():
    result = run_experiment(from_mapping({"task": "sunspots", "lahead": 2, "epochs": 2}))
    assert result.task_profile_kind == "linear reference"
    k = len(result.task_profile) - 1
    assert k == memory.lags(result.config)
    # The reference is least squares of the standardised next value on the last K+1 values.
    task = result.config.task
    (series,) = task.record.generate(task).series
    n_train = result.n_train
    t = np.arange(series.to_drop, series.to_drop + n_train)
    t = t[t >= k]
    design = np.column_stack([*(series.x[t - j, 0] for j in range(k + 1)), np.ones(len(t))])
    coef, *_ = np.linalg.lstsq(design, series.y[t], rcond=None)
    np.testing.assert_allclose(result.task_profile, coef[:-1], rtol=1e-10, atol=1e-12)
    assert result.memory["stateful"].profile_error is not None


# --------------------------------------------------------------------------------------------
# Real data: several features and series


@pytest.fixture(scope="module")
def panel_fit(panel_file):
    from conftest import PANEL_RUN

    config = from_mapping({**PANEL_RUN, "data": str(panel_file), "lahead": 2, "epochs": 2})
    dataset = experiment.prepare(config)
    return config, dataset, train.fit(config, dataset)


def test_a_stateless_profile_carried_over_the_window_only_equals_the_full_pass(panel_fit):
    """A stateless model's derivative with respect to inputs older than its window is exactly 0,
    so carrying only the window's lags (the shortcut `sensitivity` takes) loses nothing."""
    config, dataset, fit = panel_fit
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


def test_the_linear_reference_is_least_squares_on_each_series_own_past(panel_fit, panel_file):
    """Read back from the windows, it equals the regression on the file's values themselves."""
    from statelab.data import read_panel
    from statelab.tasks.forecast import forecast

    config, dataset, _ = panel_fit
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


def test_a_profile_that_is_not_finite_has_no_span_and_no_error():
    from statelab.memory import summarise

    truth = np.array([0.5, 0.5, 0.0])
    assert summarise(np.array([np.nan, np.nan, np.nan]), truth) == (None, None)
    assert summarise(np.array([0.5, 0.4, 0.0]), truth) == (1, pytest.approx(0.01 / 0.5))
