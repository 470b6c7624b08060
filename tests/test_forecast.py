"""Real series as a forecaster sees them (statelab.tasks.real, statelab.tasks.forecast): the packaged
datasets read offline, the parameters' rules (a data file implies the file task, a nowcast),
transforms inverted exactly, the validation split, and the time values of every row."""

from __future__ import annotations

import html
import socket

import numpy as np
import pytest

from conftest import write_frame
from statelab.config import ConfigError, TaskConfig, from_mapping


def test_a_data_file_without_a_task_means_the_file_task(tmp_path):
    path = write_frame(tmp_path / "one.csv", {"y": np.arange(20.0)})
    assert from_mapping({"data": str(path)}).task.task == "file"
    assert TaskConfig(data=str(path)).task == "file"
    assert from_mapping({"task": {"data": str(path), "target": "y"}}).task.task == "file"
    assert from_mapping({}).task.task == "moving-average"
    with pytest.raises(ConfigError, match="data is not a parameter of task moving-average"):
        from_mapping({"task": "moving-average", "data": str(path)})


def test_data_implies_the_file_task_on_the_command_line(tmp_path, run_cli):
    path = write_frame(tmp_path / "one.csv", {"y": np.sin(np.arange(40.0))})
    code, out, err = run_cli(["run", "--data", str(path), "--epochs", "1", "--out", str(tmp_path / "r")])
    assert code == 0, err
    assert "REAL SERIES" in out and (tmp_path / "r" / "metrics.json").is_file()


def test_horizon_0_is_a_nowcast_from_features_without_the_target(tmp_path):
    rng = np.random.default_rng(0)
    b = rng.standard_normal(60)
    path = write_frame(tmp_path / "now.csv", {"b": b, "y": 2 * b})
    config = from_mapping({"data": str(path), "target": "y", "features": "b", "horizon": 0})
    data = config.task.record.generate(config.task)
    (series,) = data.series
    rows = slice(series.to_drop, len(series.x) - series.drop_end)
    # The target at t is y[t] itself, read from b[t] (y = 2 b: standardised, they are equal); the
    # last value known before it is y[t - 1].
    np.testing.assert_allclose(series.y[rows], series.x[rows, 0], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(series.last[rows][1:], series.y[rows][:-1])
    assert np.all(np.isfinite(series.last[rows]))


@pytest.mark.parametrize(
    "params",
    [
        {"features": "y", "horizon": 0},
        {"horizon": 0},  # the target alone
        {"features": "b,y", "horizon": 0},
    ],
)
def test_horizon_0_is_refused_when_the_model_reads_the_target(tmp_path, params):
    path = write_frame(tmp_path / "now.csv", {"b": np.arange(30.0), "y": np.arange(30.0)})
    with pytest.raises(ConfigError, match="horizon must be >= 1 when the target is one of the features"):
        from_mapping({"data": str(path), "target": "y", **params})


def test_horizon_0_refused_on_the_command_line_is_one_line(tmp_path, run_cli):
    path = write_frame(tmp_path / "now.csv", {"y": np.arange(30.0)})
    code, _, err = run_cli(["run", "--data", str(path), "--horizon", "0", "--out", str(tmp_path / "r")])
    assert code == 2 and err.startswith("statelab: error: horizon must be >= 1") and err.count("\n") == 1
    assert not (tmp_path / "r").exists()


# --- the packaged CO2 series --------------------------------------------------------------------


def test_co2_loads_offline_as_dated_weekly_values_with_its_gaps_interpolated(monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network is off in this test")

    monkeypatch.setattr(socket, "socket", no_network)
    task = from_mapping({"task": "co2"}).task
    assert (task.season, task.missing, task.horizon) == (52, "interpolate", 1)
    data = task.record.generate(task)
    assert data.notes["rows_read"] == 2284 and data.notes["rows_dropped"] == 0
    assert data.notes["cells_interpolated"] == 59  # the file's empty cells, each counted once
    assert data.target == "co2"
    from statelab.tasks.real import statsmodels_dataset

    raw = np.genfromtxt(statsmodels_dataset("co2", "co2.csv"), delimiter=",", skip_header=1)
    assert np.isnan(raw[:, 1]).sum() == 59


def test_co2_with_missing_error_names_its_first_gap():
    config = from_mapping({"task": "co2", "missing": "error"})
    with pytest.raises(ConfigError, match="got an empty cell in column 'co2' on line"):
        config.task.record.generate(config.task)


# --- transforms, inverted exactly ---------------------------------------------------------------


def _trending(n: int = 300, seed: int = 0) -> dict[str, np.ndarray]:
    """A positive series with a trend and a season of 12, and a feature that is sometimes negative."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y = 50 + 0.2 * t + 5 * np.sin(2 * np.pi * t / 12) + rng.standard_normal(n)
    return {"time": t, "b": rng.standard_normal(n), "y": y}


@pytest.mark.parametrize("transform", ["none", "diff", "log", "logdiff", "sdiff", "logsdiff"])
@pytest.mark.parametrize(("horizon", "features"), [(1, "y,b"), (3, "y"), (13, "y"), (0, "b")])
def test_inverting_the_transformed_targets_gives_the_files_values(tmp_path, transform, horizon, features):
    columns = _trending()
    path = write_frame(tmp_path / "trend.csv", columns)
    config = from_mapping(
        {
            "data": str(path),
            "target": "y",
            "features": features,
            "time": "time",
            "horizon": horizon,
            "transform": transform,
            "season": 12,
            "lahead": 2,
        }
    )
    data = config.task.record.generate(config.task)
    (series,) = data.series
    levels = data.levels
    rows = np.arange(series.to_drop, len(series.x) - series.drop_end)
    zero = np.zeros(len(rows), np.int64)
    raw = columns["y"][rows + horizon]
    np.testing.assert_allclose(levels.target(zero, rows), raw, rtol=0, atol=0)
    # The networks' targets, turned back into the data's units, are the file's values.
    np.testing.assert_allclose(levels.to_data(series.y[rows], zero, rows), raw, rtol=1e-12)
    np.testing.assert_allclose(levels.standardised(raw, zero, rows), series.y[rows], rtol=1e-9, atol=1e-9)
    # Each row's time is its target's; the last value known is the one now (before a nowcast).
    np.testing.assert_array_equal(levels.time(zero, rows), rows + horizon)
    np.testing.assert_array_equal(levels.last(zero, rows), columns["y"][rows - (0 if horizon else 1)])
    assert np.all(np.isfinite(series.x[series.to_drop - 1 :]))


def test_every_transform_tests_the_same_rows(tmp_path):
    path = write_frame(tmp_path / "trend.csv", _trending())
    times = {}
    for transform in ("none", "diff", "sdiff", "logsdiff"):
        config = from_mapping({"data": str(path), "target": "y", "time": "time", "transform": transform})
        config = config.replace(season=12)
        from statelab import experiment

        dataset = experiment.prepare(config)
        rows = dataset.test.row[dataset.test.scored]
        times[transform] = dataset.levels.time(dataset.series[rows], dataset.positions(rows))
    assert all(np.array_equal(times["none"], t) for t in times.values())
    assert len(times["none"]) == 60


def test_a_differenced_series_is_differenced_and_standardised_on_its_training_part(tmp_path):
    columns = _trending()
    path = write_frame(tmp_path / "trend.csv", columns)
    config = from_mapping({"data": str(path), "target": "y", "features": "y,b", "transform": "diff"})
    data = config.task.record.generate(config.task)
    (series,) = data.series
    y = columns["y"]
    dy = np.diff(y)  # dy[t - 1] = y[t] - y[t - 1]
    mean, scale = data.scaling["y"]
    train = np.arange(series.to_drop, series.to_drop + 238)  # int(298 * 0.8) - 1 lost row
    assert mean == pytest.approx(np.mean(dy[train]))  # the targets y[t + 1] - y[t] of the training rows
    np.testing.assert_allclose(series.x[train, 0], (dy[train - 1] - mean) / scale, rtol=1e-5, atol=1e-6)
    b_mean, b_scale = data.scaling["b"]
    np.testing.assert_allclose(
        series.x[train, 1], (np.diff(columns["b"])[train - 1] - b_mean) / b_scale, rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("transform", ["log", "logdiff", "logsdiff"])
def test_a_log_of_a_target_that_is_not_positive_is_a_one_line_error(tmp_path, transform):
    columns = _trending()
    columns["y"][7] = -1.0
    path = write_frame(tmp_path / "neg.csv", columns)
    config = from_mapping({"data": str(path), "target": "y", "transform": transform})
    with pytest.raises(ConfigError, match=rf"transform {transform} needs a target > 0 \(its log\), got -1.0"):
        config.task.record.generate(config.task)


def test_a_feature_that_is_not_positive_is_differenced_not_logged(tmp_path):
    columns = _trending()
    path = write_frame(tmp_path / "trend.csv", columns)
    config = from_mapping({"data": str(path), "target": "y", "features": "y,b", "transform": "logdiff"})
    data = config.task.record.generate(config.task)
    assert data.notes["not_logged"] == ["b"]


def test_an_unknown_transform_is_a_one_line_error(tmp_path, run_cli):
    code, _, err = run_cli(["run", "--task", "sunspots", "--transform", "cube", "--out", str(tmp_path / "r")])
    assert (
        code == 2 and "transform must be one of none, diff, log, logdiff, sdiff, logsdiff, got 'cube'" in err
    )


# --- errors in the data's units -----------------------------------------------------------------


@pytest.fixture(scope="module")
def co2_diff():
    """The co2 series differenced, a short training (the errors are checked, not their size)."""
    import statelab

    return statelab.run_experiment({"task": "co2", "transform": "diff", "epochs": 2})


def _co2_values() -> np.ndarray:
    """The co2 column as the file holds it, its gaps interpolated linearly (independently here)."""
    from statelab.tasks.real import statsmodels_dataset

    raw = np.genfromtxt(statsmodels_dataset("co2", "co2.csv"), delimiter=",", skip_header=1)[:, 1]
    known = np.flatnonzero(~np.isnan(raw))
    return np.interp(np.arange(len(raw)), known, raw[known])


def test_co2_predictions_and_errors_are_in_ppm(co2_diff):
    result = co2_diff
    values = _co2_values()
    # The test rows are the last 457 weeks' targets, each one week after its last input.
    np.testing.assert_allclose(result.test_target, values[-457:], rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.test_input[:, 0], values[-458:-1], rtol=0, atol=1e-12)
    assert str(result.test_time[0]) == "1993-04-03" and str(result.test_time[-1]) == "2001-12-29"
    assert result.var_y == pytest.approx(np.var(values[-457:]))
    train_end = len(values) - 457  # every value before the first test target is training data
    scale = np.mean(np.abs(values[52:train_end] - values[: train_end - 52]))  # seasonal naive in-sample
    for name, m in result.models.items():
        error = result.test_pred[name] - result.test_target
        assert m.rmse == pytest.approx(np.sqrt(np.mean(error**2)))
        assert m.mae == pytest.approx(np.mean(np.abs(error)))
        assert m.mase == pytest.approx(np.mean(np.abs(error)) / scale)
        assert m.test_mse == pytest.approx(np.mean(error**2))
        assert m.test_nmse == pytest.approx(m.test_mse / result.var_y)
    last = result.baselines["last_value"]
    assert last.rmse == pytest.approx(np.sqrt(np.mean((values[-458:-1] - values[-457:]) ** 2)))
    # On the differenced scale the networks predict changes; converted back they track the level.
    assert np.all(np.abs(result.test_pred["stateful"] - result.test_input[:, 0]) < 5)


def test_the_linear_ar_of_a_differenced_series_is_converted_back_exactly(co2_diff):
    """linear AR(1) on the differences, refitted by hand on the training rows, in ppm."""
    values = _co2_values()
    dy = np.diff(values)  # dy[t - 1] = y[t] - y[t - 1]
    train_end = len(values) - 457
    t = np.arange(1, train_end - 1)  # rows t with a difference x[t] - x[t-1] and a target y[t+1] - y[t]
    design = np.column_stack([dy[t - 1], np.ones(len(t))])
    coef, *_ = np.linalg.lstsq(design, dy[t], rcond=None)
    test_t = np.arange(train_end - 1, len(values) - 1)
    pred = values[test_t] + coef[0] * dy[test_t - 1] + coef[1]
    mse = np.mean((pred - values[test_t + 1]) ** 2)
    assert co2_diff.baselines["linear_ar"].test_mse == pytest.approx(mse, rel=1e-6)


# --- the validation split and early stopping ------------------------------------------------------


def test_a_real_series_validates_on_the_tail_of_each_series_training_part(panel_file):
    from conftest import PANEL_RUN
    from statelab import experiment, train

    config = from_mapping({**PANEL_RUN, "data": str(panel_file)})
    assert config.val_share == 0.2 and config.train.val_fraction is None
    dataset = experiment.prepare(config)
    for s in range(len(dataset.names)):
        mine = dataset.series == s
        train_rows, val_rows = (
            np.flatnonzero(mine & dataset.train_rows),
            np.flatnonzero(mine & dataset.val_rows),
        )
        test_rows = np.flatnonzero(mine & ~dataset.before_test)
        before = len(train_rows) + len(val_rows)
        assert before == int(296 * 0.8) and len(val_rows) == round(before * 0.2)
        assert train_rows.max() < val_rows.min() and val_rows.max() < test_rows.min()  # in time order
    # What the epochs read: the training rows and the validation rows, never a test row.
    data = train.epoch_data(config, dataset)
    read = np.concatenate([data.train.row[data.train.row >= 0], data.val.row[data.val.row >= 0]])
    assert not np.any(~dataset.before_test[read])
    assert set(data.val.row[data.val.weight > 0]) == set(np.flatnonzero(dataset.val_rows))
    assert set(dataset.test.row[dataset.test.scored]) == set(np.flatnonzero(~dataset.before_test))


def test_a_synthetic_task_still_validates_on_its_test_rows_as_the_original():
    from statelab import experiment

    config = from_mapping({})
    assert config.val_share == 0.0
    dataset = experiment.prepare(config)
    assert not dataset.separate_validation and dataset.validation is dataset.test


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"early_stopping": 3}, "early_stopping must be left out when val_fraction is 0"),
        ({"task": "sunspots", "val_fraction": 0, "early_stopping": 3}, "early_stopping must be left out"),
        ({"layout": "seed", "batch_size": 2, "val_fraction": 0.1}, "layout must be streams when validating"),
        ({"val_fraction": 1.0}, "val_fraction must be in [0, 1), got 1.0"),
        (
            {"early_stopping": 0, "val_fraction": 0.1},
            "early_stopping must be an integer in [1, 1000000], got 0",
        ),
    ],
)
def test_validation_rules_are_one_line_errors(params, words):
    with pytest.raises(ConfigError) as info:
        from_mapping(params)
    assert words in str(info.value)


def test_a_validation_split_leaving_a_series_no_training_row_is_named(tmp_path):
    from statelab import experiment

    path = write_frame(tmp_path / "short.csv", {"y": np.arange(6.0)})
    config = from_mapping({"data": str(path), "val_fraction": 0.9})
    with pytest.raises(ConfigError, match="val_fraction must be small enough to leave training rows"):
        experiment.prepare(config)


@pytest.fixture(scope="module")
def stopped():
    """sunspots with early stopping: a short patience on many epochs."""
    import statelab

    return statelab.run_experiment(
        {"task": "sunspots", "lahead": 2, "epochs": 40, "learning_rate": 0.03, "early_stopping": 3}
    )


def test_early_stopping_keeps_each_models_best_validation_epoch(stopped):
    history = stopped.history
    epochs_run = history["epoch"].max()
    assert epochs_run < 40  # it stopped
    for name, m in stopped.models.items():
        losses = history[history["model"] == name]["val_loss"].to_numpy()
        assert m.best_epoch == int(np.argmin(losses))  # from 0, as the history counts
    # Training stops once every model has gone `patience` epochs without improving.
    assert epochs_run - max(m.best_epoch for m in stopped.models.values()) == 3


def test_the_test_predictions_are_those_of_the_weights_kept(stopped):
    """A predictor built from the kept weights, fed the test part of the series from a reset state
    (with the one value before it that the first test window reads), predicts what the run
    reported."""
    from statelab.data import read_panel
    from statelab.predict import Predictor
    from statelab.tasks.real import statsmodels_dataset

    values = read_panel(statsmodels_dataset("sunspots", "sunspots.csv"), "SUNACTIVITY").target[0]
    n_test = len(stopped.test_target)
    inputs = values[-n_test - 2 : -1]  # the test rows' windows: x[t0 - 1], x[t0], ..., x[-2]
    np.testing.assert_array_equal(inputs[1:], stopped.test_input[:, 0])
    for name in ("stateful", "stateless"):
        got = Predictor.from_result(stopped, name).predict(inputs)
        np.testing.assert_allclose(got[1:], stopped.test_pred[name], rtol=2e-5)


# --- peers and the verdict of a series without a floor --------------------------------------------


def test_every_model_baseline_and_peer_is_ranked_on_the_same_rows(co2_diff):
    metrics = co2_diff.metrics_dict()
    assert set(metrics["peers"]) == {"seasonal-naive", "ets", "arima"}
    assert all(p["status"] == "ok" for p in metrics["peers"].values())
    assert metrics["peers"]["seasonal-naive"]["detail"] == "the value 52 steps before the target"
    values = _co2_values()
    naive = values[-457 - 52 : -52]  # the value 52 weeks before each test target
    assert metrics["peers"]["seasonal-naive"]["test_mse"] == pytest.approx(
        np.mean((naive - values[-457:]) ** 2)
    )
    every = {**metrics["models"], **metrics["baselines"], **metrics["peers"]}
    verdict = metrics["verdict"]
    assert sorted(verdict["ranking"], key=lambda n: every[n]["test_mse"]) == verdict["ranking"]
    assert [every[n]["rank"] for n in verdict["ranking"]] == list(range(1, 8))
    best_peer = verdict["best_peer"]
    assert (
        best_peer not in ("stateful", "stateless")
        and best_peer
        == verdict["ranking"][
            min(i for i, n in enumerate(verdict["ranking"]) if n not in ("stateful", "stateless"))
        ]
    )
    for name in ("stateful", "stateless"):
        m = metrics["models"][name]
        assert m["skill"] == pytest.approx(1 - m["test_mse"] / every[best_peer]["test_mse"])
        assert m["converged"] is None and m["floor_nmse"] is None  # no floor: no verdict of convergence
    memory = verdict["memory"]
    assert (memory["first"], memory["second"]) == ("stateful", "stateless") and 0 <= memory["p_value"] <= 1
    assert verdict["text"].startswith("On this data memory ")
    from statelab.evaluate import verdict as last_line

    assert last_line(metrics).text == verdict["text"]


def test_a_peer_that_cannot_be_fitted_is_reported_failed_never_dropped(tmp_path, run_cli):
    rng = np.random.default_rng(1)
    n = 12  # 9 training values per series: too few to fit ets or arima, enough for seasonal naive
    columns = {
        "id": np.repeat(["a", "b"], n),
        "t": np.tile(np.arange(n), 2),
        "y": rng.standard_normal(2 * n).cumsum(),
    }
    path = write_frame(tmp_path / "short.csv", columns)
    out = tmp_path / "r"
    argv = ["run", "--data", str(path), "--target", "y", "--series", "id", "--time", "t", "--epochs", "1"]
    code, text, err = run_cli([*argv, "--out", str(out)])
    assert code == 0, err
    import json

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["peers"]["seasonal-naive"]["status"] == "ok"
    for name in ("ets", "arima"):
        peer = metrics["peers"][name]
        assert peer["status"] == "failed" and peer["test_mse"] is None and peer["rank"] is None
        assert "a training part of at least 10 values is needed" in peer["detail"]
        assert f"Peer {name} failed on series 'a': a training part of at least 10 values" in text
        assert name not in metrics["verdict"]["ranking"]


# --- time and identity in every output ------------------------------------------------------------


def test_predictions_carry_series_ids_and_the_files_times(panel_run):
    import pandas as pd

    result, run_dir = panel_run
    frame = result.predictions
    assert list(frame.columns[:3]) == ["row", "series", "time"]
    assert {"pred_stateful", "pred_stateless", "pred_seasonal-naive", "pred_ets", "pred_arima"} <= set(
        frame.columns
    )
    saved = pd.read_csv(run_dir / "predictions.csv")
    assert list(saved.columns) == list(frame.columns)
    assert saved["series"].tolist() == frame["series"].tolist()
    assert saved["time"].tolist() == frame["time"].tolist()
    # Each row's time is its target's: the file's time one step after its newest input.
    from conftest import panel_frame

    columns = panel_frame(6, 300, seed=3)
    for name in ("unit-0", "unit-5"):
        mine = frame[frame["series"] == name]
        in_file = columns["y"][columns["id"] == name]
        times = columns["time"][columns["id"] == name]
        np.testing.assert_array_equal(mine["target"], in_file[np.searchsorted(times, mine["time"])])
        code = [s["name"] for s in result.data["series"]].index(name)
        np.testing.assert_array_equal(
            mine["pred_stateful"], result.test_pred["stateful"][result.test_series == code]
        )


def test_co2_predictions_csv_carries_dates_and_ppm(co2_diff, tmp_path):
    import pandas as pd

    from statelab.experiment import save_run

    run_dir = save_run(co2_diff, tmp_path / "co2")
    saved = pd.read_csv(run_dir / "predictions.csv")
    assert list(saved.columns[:3]) == ["row", "time", "input"]
    assert saved["time"].iloc[0] == "1993-04-03" and saved["time"].iloc[-1] == "2001-12-29"
    np.testing.assert_array_equal(saved["target"].to_numpy(), co2_diff.test_target)
    report = (run_dir / "report.html").read_text()
    assert "train 1958-" in report and "test 1993-04-03 to 2001-12-29" in report
    assert "peer: arima" in report and co2_diff.verdict["text"].split(",")[0] in report


def test_a_model_trained_on_a_transformed_series_is_refused_by_the_predictor(co2_diff):
    from statelab.predict import Predictor

    with pytest.raises(
        ConfigError, match="transform must be none for a saved model to predict from raw values"
    ):
        Predictor.from_result(co2_diff, "stateful")


# --- sweeps: transforms and peers as axes and columns ---------------------------------------------


def test_a_sweep_takes_transforms_and_peers_as_axes_and_their_errors_as_columns(tmp_path):
    import sqlite3

    import statelab

    grid = {
        "task": "sunspots",
        "lahead": 2,
        "epochs": 1,
        "transform": ["none", "diff"],
        "peers": [("seasonal-naive",), ("seasonal-naive", "ets")],
    }
    store = tmp_path / "s.sqlite"
    frame = statelab.sweep(grid, seeds=1, store=store, progress=False)
    assert len(frame) == 4 and (frame["status"] == "ok").all()
    assert sorted(frame["transform"]) == ["diff", "diff", "none", "none"]
    # The peers forecast the series as the file holds it, on rows every transform shares.
    assert frame["seasonal_naive_nmse"].nunique() == 1 and frame["seasonal_naive_status"].eq("ok").all()
    with_ets = frame[frame["peers"] == ("seasonal-naive", "ets")]
    assert (
        with_ets["ets_rmse"].notna().all()
        and frame[frame["peers"] == ("seasonal-naive",)]["ets_rmse"].isna().all()
    )
    assert frame["stateful_rmse"].notna().all() and frame["best_peer"].notna().all()
    assert frame["stateful_converged"].isna().all()  # no floor: no verdict of convergence
    rows = (
        sqlite3.connect(store)
        .execute("SELECT transform, seasonal_naive_nmse, stateful_rmse FROM results")
        .fetchall()
    )
    assert sorted(r[0] for r in rows) == ["diff", "diff", "none", "none"] and all(
        r[1] is not None for r in rows
    )


@pytest.mark.parametrize("task", ["sunspots", "macrodata", "grunfeld"])
def test_each_packaged_real_series_reports_every_model_and_peer_in_its_units_with_the_verdict(task, tmp_path):
    import json

    import statelab

    result = statelab.run_experiment({"task": task, "epochs": 1}, out=tmp_path / task)
    metrics = json.loads((tmp_path / task / "metrics.json").read_text())
    report = (tmp_path / task / "report.html").read_text()
    assert set(metrics["peers"]) == {"seasonal-naive", "ets", "arima"}
    for name, peer in metrics["peers"].items():
        assert f"peer: {name}" in report
        assert peer["status"] == "ok" or "failed" in report
    for m in metrics["models"].values():
        assert m["rmse"] is not None and m["mase"] is not None and m["rank"] is not None
    assert result.verdict["text"] in html.unescape(report)
    assert metrics["data"]["transform"] == "none"
    assert np.all(np.isfinite(result.test_target)) and result.test_time is not None
