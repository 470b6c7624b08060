"""Memory tasks beyond the moving average (delay, ema) and real series (sunspots, csv)."""

from __future__ import annotations

import itertools
import socket

import numpy as np
import pytest

import statelab
from statelab import cli, experiment
from statelab.config import ConfigError, from_mapping


def _series(task):
    """The one series of a synthetic task, with its input as a flat (L,) array."""
    series = task.record.generate(task).series[0]
    return series.__class__(**{**series.__dict__, "x": series.x[:, 0]})


def _floors(task):
    return task.record.floors(task)


def sampled_floor_check(config, n=200_000):
    """MSE of the optimal window predictor on a long sample vs the analytic floor, in std errors."""
    config = from_mapping({**config, "input_len": n})
    dataset = experiment.prepare(config)
    err2 = (config.task.record.optimal(dataset.windows[..., 0], config.task) - dataset.target) ** 2
    floors = _floors(config.task)
    return err2.mean(), floors, err2.std() / np.sqrt(n)


@pytest.mark.parametrize(
    "params",
    [
        {"task": "delay", "delay": 1, "lahead": 1},
        {"task": "delay", "delay": 3, "lahead": 3},
        {"task": "delay", "delay": 3, "lahead": 4},
        {"task": "delay", "delay": 2, "lahead": 6},
        {"task": "ema", "alpha": 0.3, "lahead": 1},
        {"task": "ema", "alpha": 0.3, "lahead": 4},
        {"task": "ema", "alpha": 0.05, "lahead": 10},
        {"task": "ema", "alpha": 1.0, "lahead": 1},
    ],
)
def test_optimal_window_predictor_reaches_the_analytic_floor(params):
    mse, floors, se = sampled_floor_check(params)
    # Squared errors of an autocorrelated residual: allow a generous number of standard errors.
    assert abs(mse - floors.windowed) <= 10 * se + 1e-12
    assert floors.unbounded == 0.0


def test_target_variance_matches_the_analytic_variance():
    for params in ({"task": "delay", "delay": 2}, {"task": "ema", "alpha": 0.2}):
        config = from_mapping({**params, "input_len": 200_000})
        target = experiment.prepare(config).target
        assert np.var(target) == pytest.approx(_floors(config.task).var_y, rel=0.02)


def test_delay_floor_is_the_input_variance_until_the_window_reaches_back():
    s2 = 0.1**2 / 3
    for lahead, floor in ((1, s2), (2, s2), (3, 0.0), (5, 0.0)):
        config = from_mapping({"task": "delay", "delay": 2, "lahead": lahead})
        assert _floors(config.task).windowed == pytest.approx(floor)


def test_ema_floor_falls_with_the_window_but_never_reaches_zero():
    values = [
        _floors(from_mapping({"task": "ema", "alpha": 0.4, "lahead": n}).task).windowed for n in range(1, 9)
    ]
    assert all(a > b > 0 for a, b in itertools.pairwise(values))


def test_delay_is_the_input_shifted_and_ema_follows_its_recursion():
    config = from_mapping({"task": "delay", "delay": 3, "input_len": 50})
    series = _series(config.task)
    np.testing.assert_array_equal(series.y[3:], series.x[:-3])
    config = from_mapping({"task": "ema", "alpha": 0.25, "input_len": 50})
    s = _series(config.task)
    np.testing.assert_allclose(s.y[1:], 0.25 * s.x[1:] + 0.75 * s.y[:-1], rtol=0, atol=1e-15)


def test_stateful_model_beats_the_stateless_floor_on_delay():
    result = statelab.run_experiment(from_mapping({"task": "delay", "delay": 1, "lahead": 1}))
    stateful, stateless = result.models["stateful"], result.models["stateless"]
    assert stateless.floor_nmse == 1.0
    assert stateful.test_nmse < 0.2 < 0.9 < stateless.test_nmse
    assert result.claim_held is True


@pytest.mark.slow
def test_stateless_error_on_ema_falls_as_the_window_grows():
    nmse = [
        statelab.run_experiment(from_mapping({"task": "ema", "alpha": 0.3, "lahead": n}))
        .models["stateless"]
        .test_nmse
        for n in (1, 2, 3, 5)
    ]
    assert all(a > b for a, b in itertools.pairwise(nmse)), nmse


def test_sunspots_load_offline(monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network is off in this test")

    monkeypatch.setattr(socket, "socket", no_network)
    from statelab.data import read_panel
    from statelab.tasks.real import statsmodels_dataset

    task = from_mapping({"task": "sunspots"}).task
    (series,) = task.record.generate(task).series
    assert len(series.x) == 309  # 1700..2008
    values = read_panel(statsmodels_dataset("sunspots", "sunspots.csv"), "SUNACTIVITY").target[0]
    assert list(values[:4]) == [5.0, 11.0, 16.0, 23.0]  # the yearly numbers of 1700..1703


@pytest.mark.slow
def test_a_run_on_sunspots_reports_both_baselines_and_no_floor():
    result = statelab.run_experiment(from_mapping({"task": "sunspots", "lahead": 3, "epochs": 5}))
    metrics = result.metrics_dict()
    assert set(metrics["baselines"]) == {"last_value", "linear_ar"}
    for baseline in metrics["baselines"].values():
        assert np.isfinite(baseline["test_mse"]) and baseline["test_nmse"] > 0
    assert metrics["claim_held"] is None
    assert all(
        m["floor_nmse"] is None and m["expected_converged"] is None for m in metrics["models"].values()
    )
    # A series with strong year-to-year persistence: the linear AR beats the last value.
    assert metrics["baselines"]["linear_ar"]["test_mse"] < metrics["baselines"]["last_value"]["test_mse"]


@pytest.mark.slow
def test_a_run_on_a_users_csv(tmp_path):
    t = np.arange(400)
    path = tmp_path / "wave.csv"
    path.write_text("t,level\n" + "".join(f"{i},{np.sin(i / 5):.6f}\n" for i in t))
    result = statelab.run_experiment(
        from_mapping({"task": "csv", "data": str(path), "column": "level", "lahead": 2})
    )
    assert len(result.test_target) == 80  # 398 windows, 318 train
    # A sine wave is a linear recursion of its last two values: the AR baseline is near exact.
    assert result.baselines["linear_ar"].test_nmse < 1e-6


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"task": "delay", "tsteps": 3}, "tsteps is not a parameter of task delay"),
        ({"task": "ema", "delay": 2}, "delay is not a parameter of task ema"),
        ({"task": "sunspots", "input_len": 300}, "input_len is not a parameter of task sunspots"),
        ({"task": "moving-average", "alpha": 0.5}, "alpha is not a parameter"),
        ({"task": "delay", "delay": 0}, "delay must be an integer >= 1"),
        ({"task": "delay", "delay": 250, "input_len": 1000}, "delay must be small enough"),
        ({"task": "ema", "alpha": 0.0}, "alpha must be in [0.001, 1]"),
        ({"task": "ema", "alpha": 1.01}, "alpha must be in [0.001, 1]"),
        ({"task": "csv"}, "data must be the path of a CSV or Parquet file"),
        ({"task": "random-walk"}, "task must be one of"),
        ({"cell": "lstm2"}, "cell must be one of"),
    ],
)
def test_bad_task_parameters_are_config_errors(params, words):
    with pytest.raises(ConfigError) as info:
        from_mapping(params)
    assert words in str(info.value)


def test_a_csv_too_short_for_window_and_split_is_an_error_before_training(tmp_path, capsys):
    path = tmp_path / "short.csv"
    path.write_text("x\n1\n2\n3\n4\n5\n6\n")  # 6 values
    with pytest.raises(ConfigError, match="lahead must be <="):
        experiment.prepare(from_mapping({"task": "csv", "data": str(path), "lahead": 3}))
    with pytest.raises(ConfigError, match=r"at least lahead \+ horizon \+ 1"):
        experiment.prepare(from_mapping({"task": "csv", "data": str(path), "lahead": 5}))
    try:
        code = cli.main(
            ["run", "--task", "csv", "--data", str(path), "--lahead", "3", "--out", str(tmp_path / "r")]
        )
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "lahead" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["short.csv"]
