"""tasks.py: the series equals the original example's to the bit; the floors match sampled data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from statelab import tasks
from statelab.config import ExperimentConfig, TaskConfig
from statelab.experiment import prepare


def _series(task):
    """The one series of a synthetic task, with its input as a flat (L,) array."""
    series = task.record.generate(task).series[0]
    return series.__class__(**{**series.__dict__, "x": series.x[:, 0]})


def _floors(task):
    return task.record.floors(task)


# (input_len, tsteps, lahead, amplitude, seed); lahead > tsteps included, and non-default data.
FIDELITY_CASES = [
    (1000, 1, 1, 0.1, 1986),
    (1000, 2, 1, 0.1, 1986),
    (1000, 3, 2, 0.1, 1986),
    (1000, 2, 5, 0.1, 1986),
    (1000, 5, 3, 0.1, 1986),
    (777, 7, 3, 1.0, 7),
    (20_000, 4, 1, 2.5, 123),
]


@pytest.mark.parametrize(("input_len", "tsteps", "lahead", "amplitude", "seed"), FIDELITY_CASES)
def test_generate_equals_original_series_bit_for_bit(original, input_len, tsteps, lahead, amplitude, seed):
    task = TaskConfig(input_len=input_len, tsteps=tsteps, lahead=lahead, amplitude=amplitude, seed=seed)
    series = _series(task)
    ref = original(input_len, tsteps, lahead, amplitude, seed)

    n_drop = max(tsteps - 1, lahead - 1)
    assert series.to_drop == n_drop
    assert series.x.dtype == np.float64
    assert np.array_equal(series.x, ref.raw)
    assert np.array_equal(series.y[n_drop:], ref.target)
    assert not np.isnan(series.y[tsteps - 1 :]).any()
    assert np.isnan(series.y[: tsteps - 1]).all()


@pytest.mark.parametrize(("input_len", "tsteps", "lahead", "amplitude", "seed"), FIDELITY_CASES)
def test_prepared_target_equals_original_target(original, input_len, tsteps, lahead, amplitude, seed):
    config = ExperimentConfig(
        task=TaskConfig(input_len=input_len, tsteps=tsteps, lahead=lahead, amplitude=amplitude, seed=seed)
    )
    data = prepare(config)
    ref = original(input_len, tsteps, lahead, amplitude, seed)
    assert data.target.shape == (input_len,)
    assert np.array_equal(data.target, ref.target)


def test_trailing_mean_equals_pandas_rolling_on_awkward_values():
    """Constant runs, signed zeros, sign changes and magnitudes 1e12 apart, where summation
    order and pandas' Kahan compensation decide the last bit."""
    rng = np.random.default_rng(5)
    parts = [
        np.full(7, 0.3),
        np.array([0.0, -0.0, -0.0, 0.0, 1e-300, -1e-300]),
        rng.uniform(-1, 1, 50) * 1e12,
        rng.uniform(-1, 1, 50) * 1e-3,
        np.full(5, -2.5),
        rng.uniform(0, 1, 40),
        -rng.uniform(0, 1, 40),
        np.array([1e16, 1.0, -1e16, 1.0, 3.0, 1e16, -1e16]),
    ]
    x = np.concatenate(parts)
    for window in (1, 2, 3, 5, 8):
        expected = pd.Series(x).rolling(window).mean().to_numpy()
        got = tasks.trailing_mean(x, window)
        assert np.array_equal(got, expected, equal_nan=True), window
        # Bit-for-bit includes the sign of zero.
        assert np.array_equal(np.signbit(got), np.signbit(expected)), window


def _independent_conditional_mean(x: np.ndarray, tsteps: int, lahead: int, n_drop: int) -> np.ndarray:
    """E[y_t | x_{t-lahead+1..t}] from the raw series: unseen inputs average to 0, so it is the
    sum of the seen part of the target's window divided by tsteps. Rows t >= n_drop."""
    n = len(x) - n_drop
    total = np.zeros(n)
    for lag in range(min(tsteps, lahead)):
        total += x[n_drop - lag : n_drop - lag + n]
    return total / tsteps


FLOOR_CASES = [(2, 1, 0.1), (3, 1, 0.1), (5, 2, 1.0), (4, 3, 0.1), (7, 3, 0.5)]


@pytest.fixture(scope="module", params=FLOOR_CASES, ids=lambda c: f"tsteps{c[0]}-lahead{c[1]}-amp{c[2]}")
def long_task(request):
    tsteps, lahead, amplitude = request.param
    task = TaskConfig(input_len=200_000, tsteps=tsteps, lahead=lahead, amplitude=amplitude, seed=11)
    data = prepare(ExperimentConfig(task=task))
    return task, data, _series(task)


def _within_sampling_error(samples: np.ndarray, expected: float, correlated_lags: int) -> tuple[float, float]:
    """|mean - expected| and 5 standard errors of the mean. Terms `correlated_lags` or fewer apart
    may be correlated (moving averages), so the i.i.d. variance is widened by (2m + 1), the bound
    that |autocovariance| <= variance gives."""
    se = samples.std(ddof=1) / math.sqrt(len(samples)) * math.sqrt(2 * correlated_lags + 1)
    return abs(samples.mean() - expected), 5 * se


def test_optimal_windowed_predictor_reaches_the_windowed_floor(long_task):
    task, data, series = long_task
    floor = _floors(task).windowed
    assert floor > 0

    pred = task.record.optimal(data.windows[..., 0], task)
    mine = _independent_conditional_mean(series.x, task.tsteps, task.lahead, series.to_drop)
    np.testing.assert_allclose(pred, mine, rtol=0, atol=1e-15 * task.amplitude * task.tsteps)

    squared = (data.target - mine) ** 2
    # The error is a mean of tsteps - lahead unseen inputs: terms that far apart share inputs.
    gap, tol = _within_sampling_error(squared, floor, task.tsteps - task.lahead - 1)
    assert gap < tol, (squared.mean(), floor, tol)
    assert tol < 0.05 * floor  # the check can tell a floor 5% off

    gap, tol = _within_sampling_error((data.target - pred) ** 2, floor, task.tsteps - task.lahead - 1)
    assert gap < tol


def test_target_variance_matches_var_y(long_task):
    task, data, _ = long_task
    var_y = _floors(task).var_y
    assert math.isclose(var_y, task.amplitude**2 / 3 / task.tsteps, rel_tol=1e-12)
    centred = data.target**2  # the target has mean 0
    gap, tol = _within_sampling_error(centred, var_y, task.tsteps - 1)
    assert gap < tol, (centred.mean(), var_y, tol)
    assert tol < 0.1 * var_y  # the check can tell a variance 10% off


def test_windowed_predictor_beats_shorter_memory(long_task):
    """Seeing one input fewer costs exactly one input's share: the floor is the optimum, not
    just a bound a worse predictor also meets."""
    task, data, series = long_task
    shorter = _independent_conditional_mean(series.x, task.tsteps, task.lahead - 1, series.to_drop)
    worse = np.mean((data.target - shorter) ** 2)
    assert worse > _floors(task).windowed * 1.1


@pytest.mark.parametrize(("tsteps", "lahead"), [(1, 1), (2, 2), (3, 5), (4, 4), (2, 7)])
def test_floor_is_zero_when_window_covers_target(tsteps, lahead):
    task = TaskConfig(input_len=5000, tsteps=tsteps, lahead=lahead, seed=3)
    fl = _floors(task)
    assert fl.windowed == 0.0
    assert fl.unbounded == 0.0
    data = prepare(ExperimentConfig(task=task))
    err = data.target - task.record.optimal(data.windows[..., 0], task)
    assert np.max(np.abs(err)) < 1e-15


def test_floor_counts_unseen_inputs():
    """sigma^2 (tsteps - lahead) / tsteps^2 written out for amplitude 0.3, tsteps 5, lahead 2."""
    fl = _floors(TaskConfig(tsteps=5, lahead=2, amplitude=0.3))
    assert math.isclose(fl.windowed, 0.03 * 3 / 25, rel_tol=1e-12)
    assert math.isclose(fl.var_y, 0.03 / 5, rel_tol=1e-12)
    assert math.isclose(fl.windowed / fl.var_y, 3 / 5, rel_tol=1e-12)


@pytest.mark.parametrize(("tsteps", "expected"), [(1, 0), (2, 1), (6, 5)])
def test_warmup_is_the_rows_without_history(tsteps, expected):
    assert TaskConfig(tsteps=tsteps).record.warmup(TaskConfig(tsteps=tsteps)) == expected


def _block_mean_error(samples: np.ndarray, expected: float, blocks: int = 200) -> tuple[float, float]:
    """|mean - expected| and 5 standard errors from the means of `blocks` contiguous blocks, which
    are nearly independent when the series' correlations die out well within a block."""
    means = samples[: len(samples) // blocks * blocks].reshape(blocks, -1).mean(axis=1)
    return abs(samples.mean() - expected), 5 * means.std(ddof=1) / math.sqrt(blocks)


def _independent_other_prediction(x: np.ndarray, task: TaskConfig, n_drop: int) -> np.ndarray:
    """E[y_t | x_{t-lahead+1..t}] for delay and ema, from the raw series (rows t >= n_drop)."""
    n = len(x) - n_drop
    if task.task == "delay":
        if task.delay >= task.lahead:
            return np.zeros(n)
        return x[n_drop - task.delay : n_drop - task.delay + n]
    total = np.zeros(n)
    for lag in range(task.lahead):  # y = sum_k alpha (1 - alpha)^k x[t - k]
        total += task.alpha * (1 - task.alpha) ** lag * x[n_drop - lag : n_drop - lag + n]
    return total


OTHER_CASES = [
    {"task": "delay", "delay": 1, "lahead": 1},
    {"task": "delay", "delay": 3, "lahead": 2},
    {"task": "delay", "delay": 2, "lahead": 3},
    {"task": "ema", "alpha": 0.5, "lahead": 1},
    {"task": "ema", "alpha": 0.3, "lahead": 3},
    {"task": "ema", "alpha": 0.8, "lahead": 2, "amplitude": 1.0},
]


@pytest.mark.parametrize("params", OTHER_CASES, ids=lambda p: "-".join(f"{k}{v}" for k, v in p.items()))
def test_other_synthetic_tasks_reach_their_floors_on_sampled_data(params):
    task = TaskConfig(input_len=200_000, seed=21, **params)
    series = _series(task)
    data = prepare(ExperimentConfig(task=task))
    fl = _floors(task)
    s2 = task.amplitude**2 / 3

    # The target itself, from the raw draws.
    n_drop = series.to_drop
    if task.task == "delay":
        assert np.array_equal(data.target, series.x[n_drop - task.delay : len(series.x) - task.delay])
    mine = _independent_other_prediction(series.x, task, n_drop)
    np.testing.assert_allclose(task.record.optimal(data.windows[..., 0], task), mine, atol=1e-15)

    gap, tol = _block_mean_error(data.target**2, fl.var_y)
    assert gap < tol, (np.mean(data.target**2), fl.var_y)
    assert tol < 0.05 * s2
    if fl.windowed == 0:
        assert np.max(np.abs(data.target - mine)) < 1e-12 * task.amplitude
    else:
        gap, tol = _block_mean_error((data.target - mine) ** 2, fl.windowed)
        assert gap < tol, (np.mean((data.target - mine) ** 2), fl.windowed)
        assert tol < 0.1 * fl.windowed


# --------------------------------------------------------------------------------------------
# ar: a stationary autoregression, floors from its autocovariances


def _ar(coefs, lahead=1, input_len=200_000, amplitude=0.5):
    return TaskConfig(task="ar", ar_coefs=coefs, lahead=lahead, input_len=input_len, amplitude=amplitude)


@pytest.mark.parametrize("coefs", [(0.0, 0.9), (0.6, -0.3), (0.5, 0.2, -0.4)])
def test_ar_autocovariances_match_a_long_sampled_path(coefs):
    from statelab.tasks.synthetic import autocovariances

    task = _ar(coefs)
    x = task.record.generate(task).series[0].x[:, 0]
    gamma = autocovariances(coefs, task.amplitude**2, 5)
    sample = [np.mean(x[k:] * x[: len(x) - k]) for k in range(5)]
    np.testing.assert_allclose(sample, gamma, atol=0.03 * gamma[0])


@pytest.mark.parametrize(("coefs", "lahead"), [((0.0, 0.9), 1), ((0.6, -0.3), 1), ((0.5, 0.2, -0.4), 2)])
def test_ar_floors_are_reached_by_the_best_window_predictor_and_the_true_recursion(coefs, lahead):
    task = _ar(coefs, lahead)
    config = ExperimentConfig(task=task)
    data = prepare(config)
    floors = _floors(task)
    window_error = np.mean((task.record.optimal(data.windows[..., 0], task) - data.target) ** 2)
    assert window_error == pytest.approx(floors.windowed, rel=0.03)
    # With the whole past, the error is the next innovation: the true recursion reaches it.
    (series,) = task.record.generate(task).series
    x = series.x[:, 0]
    p = len(coefs)
    t = np.arange(p, len(x) - 1)
    best = sum(c * x[t - i] for i, c in enumerate(coefs))  # phi_1 x[t] + ... predicts x[t+1]
    assert np.mean((best - x[t + 1]) ** 2) == pytest.approx(floors.unbounded, rel=0.03)
    assert floors.unbounded == pytest.approx(task.amplitude**2)
    assert np.var(data.target) == pytest.approx(floors.var_y, rel=0.05)


def test_ar_true_profile_is_its_coefficients_and_its_stateless_floor_falls_with_the_window():
    task = _ar((0.5, 0.3, -0.4), input_len=1000)
    np.testing.assert_array_equal(task.record.profile(task, 5), [0.5, 0.3, -0.4, 0.0, 0.0, 0.0])
    floors = [_floors(_ar((0.5, 0.3, -0.4), lahead=n, input_len=1000)).windowed for n in (1, 2, 3, 4)]
    assert floors[0] > floors[1] > floors[2]
    assert floors[2] == pytest.approx(floors[3]) == pytest.approx(0.25)  # lahead >= p: the innovation


@pytest.mark.parametrize("coefs", [(1.0,), (0.5, 0.6), (2.0, -0.5), (0.995,), ()])
def test_non_stationary_ar_coefficients_are_one_line_errors(coefs):
    from statelab.config import ConfigError

    with pytest.raises(ConfigError) as info:
        _ar(coefs)
    message = str(info.value)
    assert message.startswith("ar_coefs must be") and "\n" not in message


def test_a_stateful_model_learns_an_ar_the_window_alone_cannot_predict():
    """x[t+1] = 0.9 x[t-1] + noise: the last input alone says nothing (stateless floor 1), the
    state can hold x[t-1] (floor 0.19, the innovation)."""
    import statelab

    result = statelab.run_experiment({"task": "ar"})
    assert result.floors.windowed / result.floors.var_y == pytest.approx(1.0)
    assert result.models["stateful"].converged and not result.models["stateless"].converged
    assert result.claim_held
    assert result.memory["stateful"].sensitivity[1] > 0.5  # it leans on x[t-1]


def test_every_task_record_is_complete():
    from statelab.config import from_mapping
    from statelab.tasks import TASKS

    for name, record in TASKS.items():
        assert record.name == name and record.summary
        for param in record.params:
            assert param.help and param.kind in ("int", "float", "str", "floats", "strs")
        if record.x_axis is not None:
            assert record.param(record.x_axis) is not None
        if record.synthetic:
            config = from_mapping({"task": name})
            task = config.task
            assert record.floors(task).var_y > 0
            assert record.profile is not None and record.optimal is not None
            assert record.describe(task).startswith("the target is")
            metrics = {"var_y": 1.0, "threshold_nmse": 0.1, "models": {"stateful": {"warmup_excluded": 1}}}
            assert len(record.why(task, metrics)) > 200


def test_no_module_outside_tasks_branches_on_a_task_name():
    """Task knowledge lives in the task records: no `== "delay"` and the like elsewhere."""
    import re
    from pathlib import Path

    from statelab.tasks import TASKS

    root = Path(__file__).resolve().parents[1] / "src" / "statelab"
    names = "|".join(re.escape(n) for n in (*TASKS, "csv"))
    # `task == "delay"`, `config.task.task in ("ema", ...)`: a comparison of something named task
    pattern = re.compile(rf"""task\w*\s*(==|!=|\bin\b)\s*\(?\s*["']({names})["']""")
    offenders = [
        f"{path.relative_to(root)}:{i}"
        for path in root.rglob("*.py")
        if "tasks" not in path.relative_to(root).parts
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []
