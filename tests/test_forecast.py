"""Real series as a forecaster sees them (statelab.tasks.real, statelab.tasks.forecast): the packaged
datasets read offline, the parameters' rules (a data file implies the file task, a nowcast),
transforms inverted exactly, the validation split, and the time values of every row."""

from __future__ import annotations

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
