"""Saved models and streaming prediction: step, predict, reset, save/load, and `statelab predict`."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from statelab import experiment, predict
from statelab.config import ConfigError, from_mapping

CONFIG = {"input_len": 300, "epochs": 3, "tsteps": 3, "lahead": 2}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    config = from_mapping(CONFIG)
    result = experiment.run_experiment(config)
    directory = tmp_path_factory.mktemp("predict") / "run"
    directory.mkdir()
    experiment.save_result(result, directory)
    return directory


@pytest.fixture
def series() -> np.ndarray:
    return np.random.RandomState(7).uniform(-0.1, 0.1, 60)


@pytest.mark.parametrize("model", ["stateful", "stateless"])
def test_step_by_step_equals_predict_over_the_whole_series(run_dir, series, model):
    predictor = predict.load_predictor(run_dir, model)
    whole = predictor.predict(series)
    predictor.reset()
    stepped = np.array([predictor.step(x) for x in series])
    np.testing.assert_array_equal(stepped, whole)
    # No full window before lahead values: NaN, then numbers.
    assert np.isnan(whole[0]) and np.all(np.isfinite(whole[1:]))


@pytest.mark.parametrize("model", ["stateful", "stateless"])
def test_predict_in_chunks_continues_the_state(run_dir, series, model):
    predictor = predict.load_predictor(run_dir, model)
    whole = predictor.predict(series)
    predictor.reset()
    chunks = np.concatenate([predictor.predict(part) for part in np.split(series, [7, 8, 31])])
    np.testing.assert_array_equal(chunks, whole)


def test_reset_restores_the_initial_behaviour_and_only_stateful_remembers(run_dir, series):
    stateful = predict.load_predictor(run_dir, "stateful")
    first = stateful.predict(series)
    again = stateful.predict(series)  # continues from the end of the first pass
    assert not np.allclose(first[5:], again[5:])
    stateful.reset()
    np.testing.assert_array_equal(stateful.predict(series), first)

    stateless = predict.load_predictor(run_dir, "stateless")
    first = stateless.predict(series)
    again = stateless.predict(series)
    np.testing.assert_array_equal(first[1:], again[1:])  # a window at a time, no memory


def test_save_then_load_gives_the_trained_parameters_and_identical_predictions(run_dir, series):
    config = from_mapping(CONFIG)
    result = experiment.run_experiment(config)
    for name in ("stateful", "stateless"):
        loaded = predict.load_predictor(run_dir, name)
        fresh = predict.Predictor(result.params[name], config, stateful=name == "stateful")
        np.testing.assert_array_equal(loaded.predict(series), fresh.predict(series))


def test_predictor_reproduces_the_runs_test_predictions(run_dir):
    """From a reset state over the test rows' inputs, as the run's own test pass did."""
    config = from_mapping(CONFIG)
    series = config.task.record.generate(config.task).series[0]
    dataset = experiment.prepare(config)
    first_row = dataset.n_train
    # Row r's window ends at x[r + to_drop]; feed from the start of the first test window.
    start = first_row + series.to_drop - (config.task.lahead - 1)
    predictor = predict.load_predictor(run_dir, "stateful")
    preds = predictor.predict(series.x[start:])[config.task.lahead - 1 :]
    with open(run_dir / "predictions.csv") as fh:
        saved = np.array([float(r["pred_stateful"]) for r in csv.DictReader(fh)])
    np.testing.assert_allclose(preds, saved, rtol=1e-5, atol=1e-7)


def test_loading_from_a_directory_without_a_model_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="run_dir must hold a saved model"):
        predict.load_predictor(tmp_path)


def test_non_finite_series_is_a_config_error(run_dir):
    with pytest.raises(ConfigError, match="finite"):
        predict.load_predictor(run_dir).predict([0.1, np.nan])


# --- the command ------------------------------------------------------------------------------


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_predict_command_writes_one_prediction_per_value(run_dir, series, tmp_path, run_cli):
    data = write_csv(tmp_path / "in.csv", ["time", "x"], [[i, v] for i, v in enumerate(series)])
    out = tmp_path / "pred.csv"
    code, _, err = run_cli(
        ["predict", str(run_dir), "--input", str(data), "--column", "x", "--out", str(out)]
    )
    assert code == 0, err
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    assert [float(r["input"]) for r in rows] == list(series)
    expected = predict.load_predictor(run_dir, "stateful").predict(series)
    got = np.array([float(r["prediction"]) if r["prediction"] else np.nan for r in rows])
    np.testing.assert_array_equal(got, expected)


def test_predict_command_prints_to_stdout_without_out(run_dir, tmp_path, run_cli):
    data = write_csv(tmp_path / "one.csv", ["x"], [[0.01], [0.02], [-0.03]])
    code, out, _ = run_cli(["predict", str(run_dir), "--input", str(data), "--model", "stateless"])
    assert code == 0
    assert out.splitlines()[0] == "t,input,prediction" and len(out.splitlines()) == 4


@pytest.mark.parametrize(
    ("rows", "extra", "words"),
    [
        ([["a", "b"], [1, 2]], [], "column must name one of the 2 columns"),
        ([["a", "b"], [1, 2]], ["--column", "c"], "column must be one of"),
        ([["x"], [0.1], ["nan"]], [], "input must have no missing values"),
        ([["x"], [0.1], ["abc"]], [], "must hold numbers, got 'abc' on line 3"),
        ([["x"], [0.1], ["inf"]], [], "must hold finite numbers"),
        ([["x"]], [], "input must hold at least one row of values"),
    ],
)
def test_predict_command_bad_input(run_dir, tmp_path, run_cli, rows, extra, words):
    data = write_csv(tmp_path / "in.csv", rows[0], rows[1:])
    out = tmp_path / "pred.csv"
    code, _, err = run_cli(["predict", str(run_dir), "--input", str(data), *extra, "--out", str(out)])
    assert code == 2 and words in err and err.count("\n") == 1
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_predict_command_without_a_saved_model_or_input(tmp_path, run_cli):
    data = write_csv(tmp_path / "in.csv", ["x"], [[0.1]])
    code, _, err = run_cli(["predict", str(tmp_path), "--input", str(data)])
    assert code == 2 and "run_dir must hold a saved model" in err
    code, _, err = run_cli(["predict", str(tmp_path), "--input", str(tmp_path / "missing.csv")])
    assert code == 2 and "input must be a readable CSV or Parquet file" in err
