"""Saved models and streaming prediction: step, predict, reset, save/load, and `statelab predict`."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from statelab import experiment, predict, rundir, statefile
from statelab.config import ConfigError, from_mapping
from statelab.data import read_panel

CONFIG = {"input_len": 300, "epochs": 3, "tsteps": 3, "lahead": 2}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    config = from_mapping(CONFIG)
    result = experiment.run_experiment(config)
    directory = tmp_path_factory.mktemp("predict") / "run"
    directory.mkdir()
    rundir.save_result(result, directory)
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
        ([["a", "b"], [1, 2]], [], "input must have the run's 1 feature column x, got columns ['a', 'b']"),
        ([["a", "b"], [1, 2]], ["--column", "c"], "column must name columns of"),
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


# --- several features, results in memory, shapes ------------------------------------------------


def test_from_result_predicts_as_the_saved_model_does(panel_run, panel_file):
    result, run_dir = panel_run
    x = np.random.default_rng(0).standard_normal((30, 2))
    for name in ("stateful", "stateless"):
        in_memory = predict.Predictor.from_result(result, name).predict(x)
        np.testing.assert_array_equal(in_memory, predict.load_predictor(run_dir, name).predict(x))
    with pytest.raises(ConfigError, match="model must be one of stateful, stateless, got 'both'"):
        predict.Predictor.from_result(result, "both")


def test_several_features_per_step_and_raw_units_in_and_out(panel_run):
    result, _ = panel_run
    predictor = predict.Predictor.from_result(result, "stateful")
    assert predictor.features == ("a", "b") and predictor.n_features == 2
    x = np.random.default_rng(1).standard_normal((25, 2)) * 3 + 1
    whole = predictor.predict(x)
    predictor.reset()
    stepped = np.array([predictor.step(row) for row in x])
    np.testing.assert_array_equal(stepped, whole)
    # The same network on standardised inputs, its output put back in the target's units.
    scaling = result.data["scaling"]
    mean = np.array([scaling[f]["mean"] for f in "ab"])
    scale = np.array([scaling[f]["scale"] for f in "ab"])
    raw = predict.Predictor(result.params["stateful"], result.config, stateful=True)  # no scaling
    standardised = raw.predict((x - mean) / scale)
    np.testing.assert_allclose(whole, standardised * scaling["y"]["scale"] + scaling["y"]["mean"], rtol=1e-6)


@pytest.mark.parametrize(
    ("series", "words"),
    [
        (np.zeros(5), r"series must have shape \(N, 2\), one column per feature \(a, b\), got \(5,\)"),
        (np.zeros((5, 3)), r"got \(5, 3\)"),
        (np.zeros((5, 2, 1)), r"got \(5, 2, 1\)"),
        (np.zeros((2, 5)).T.reshape(-1), r"got \(10,\)"),
        ([["a", "b"]], "series must be numbers"),
    ],
)
def test_wrong_shapes_are_refused_not_flattened(panel_run, series, words):
    predictor = predict.Predictor.from_result(panel_run[0], "stateful")
    with pytest.raises(ConfigError, match=words):
        predictor.predict(series)
    assert predictor.seen == 0  # nothing consumed


def test_step_takes_one_value_per_feature(panel_run, run_dir):
    two = predict.Predictor.from_result(panel_run[0], "stateful")
    with pytest.raises(ConfigError, match=r"x must be one value per feature, shape \(2,\), got shape \(\)"):
        two.step(0.5)
    with pytest.raises(ConfigError, match=r"got shape \(3,\)"):
        two.step([0.1, 0.2, 0.3])
    one = predict.load_predictor(run_dir)
    with pytest.raises(ConfigError, match=r"got shape \(2,\)"):
        one.step([0.1, 0.2])


def test_numpy_numbers_are_accepted_where_python_numbers_are(run_dir, series):
    predictor = predict.load_predictor(run_dir)
    ints = np.arange(-3, 4)
    expected = predictor.predict([int(v) for v in ints])
    predictor.reset()
    np.testing.assert_array_equal(predictor.predict(ints), expected)  # an int64 array
    predictor.reset()
    stepped = [predictor.step(v) for v in ints]  # np.int64 scalars
    np.testing.assert_array_equal(stepped, expected)
    state = predictor.state_dict()
    state["seen"] = np.int64(state["seen"])
    predictor.load_state(state)
    assert predictor.seen == len(ints)


# --- saving and restoring the state -----------------------------------------------------------


@pytest.mark.parametrize("model", ["stateful", "stateless"])
@pytest.mark.parametrize("cut", [1, 17])
def test_a_restored_predictor_continues_exactly_as_an_uninterrupted_stream(run_dir, series, model, cut):
    uninterrupted = predict.load_predictor(run_dir, model)
    expected = uninterrupted.predict(series)

    first = predict.load_predictor(run_dir, model)
    head = first.predict(series[:cut])
    saved = json.loads(json.dumps(first.state_dict()))  # through a file, as a service would
    second = predict.load_predictor(run_dir, model)  # a new process: nothing carried over
    second.load_state(saved)
    tail = second.predict(series[cut:])
    np.testing.assert_array_equal(np.concatenate([head, tail]), expected)


def test_a_multi_feature_state_restores_too(panel_run):
    result, _ = panel_run
    x = np.random.default_rng(2).standard_normal((40, 2))
    expected = predict.Predictor.from_result(result).predict(x)
    first = predict.Predictor.from_result(result)
    first.predict(x[:23])
    second = predict.Predictor.from_result(result)
    second.load_state(json.loads(json.dumps(first.state_dict())))
    np.testing.assert_array_equal(second.predict(x[23:]), expected[23:])


@pytest.fixture(scope="module")
def other_models():
    """Predictors of models that differ from CONFIG's in one way each (one epoch each)."""
    runs = {}
    for key, change in {
        "cell": {"cell": "gru"},
        "units": {"units": 8},
        "lahead": {"lahead": 3},
        "window_order": {"window_order": "newest-first"},
        "weights": {"model_seed": 5},
    }.items():
        result = experiment.run_experiment(from_mapping({**CONFIG, **change, "epochs": 1}))
        runs[key] = predict.Predictor.from_result(result)
    return runs


@pytest.mark.parametrize("key", ["cell", "units", "lahead", "window_order", "weights"])
@pytest.mark.slow
def test_a_state_of_another_model_is_refused(run_dir, series, other_models, key):
    other = other_models[key]
    other.predict(series[:10])
    predictor = predict.load_predictor(run_dir)
    before = predictor.predict(series[:5])
    with pytest.raises(ConfigError, match=rf"state must come from this model \({key}"):
        predictor.load_state(other.state_dict())
    assert np.array_equal(
        predictor.predict(series[5:6]), predict.load_predictor(run_dir).predict(series[:6])[5:]
    )
    del before


def test_a_stateless_state_is_refused_by_the_stateful_model_and_features_must_match(run_dir, panel_run):
    stateless = predict.load_predictor(run_dir, "stateless")
    with pytest.raises(ConfigError, match=r"state must come from this model \(model 'stateful'\)"):
        predict.load_predictor(run_dir, "stateful").load_state(stateless.state_dict())
    two_features = predict.Predictor.from_result(panel_run[0])
    with pytest.raises(ConfigError, match="state must come from this model"):
        predict.load_predictor(run_dir).load_state(two_features.state_dict())


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda s: s.update(format="pickle"), "state must be a predictor state"),
        (lambda s: s.update(version=9), "state must be of version 1"),
        (lambda s: s["state"][0].pop(), "damaged state"),
        (lambda s: s["state"][0][0].append(0.5), "damaged state"),
        (lambda s: s.update(recent=[[1.0], [2.0], [3.0]]), "damaged state"),
        (lambda s: s.update(seen=-1), "damaged state"),
        (lambda s: s["state"][0][1].__setitem__(0, float("nan")), "got a NaN or infinite value"),
        (lambda s: s.update(seen=2**80), r"seen must be a count in \[0, 2\*\*53\]"),
        (lambda s: s.update(seen=1.5), "seen must be a count"),
    ],
)
def test_a_damaged_state_is_refused(run_dir, series, damage, words):
    predictor = predict.load_predictor(run_dir)
    predictor.predict(series[:9])
    state = json.loads(json.dumps(predictor.state_dict()))
    damage(state)
    with pytest.raises(ConfigError, match=words):
        predict.load_predictor(run_dir).load_state(state)


# --- statelab predict over many series, with a state file ---------------------------------------


def test_predict_command_keeps_one_state_per_series(panel_run, panel_file, tmp_path, run_cli):
    result, run_dir = panel_run
    out = tmp_path / "p.csv"
    code, _, err = run_cli(
        [
            "predict",
            str(run_dir),
            "--input",
            str(panel_file),
            "--series",
            "id",
            "--time",
            "time",
            "--out",
            str(out),
        ]
    )
    assert code == 0, err
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["series", "t", "time", "input_a", "input_b", "prediction"]
    panel = read_panel(panel_file, "y", ("a", "b"), series="id", time="time")
    predictor = predict.Predictor.from_result(result)
    for name, x, times in zip(panel.names, panel.features, panel.times):
        predictor.reset()
        mine = [r for r in rows if r["series"] == name]
        assert [int(r["t"]) for r in mine] == list(range(len(x)))
        assert [int(r["time"]) for r in mine] == list(times)  # the file's time values, in order
        np.testing.assert_array_equal([float(r["prediction"]) for r in mine], predictor.predict(x))


def test_predict_command_resumes_from_its_state_file(panel_run, panel_file, tmp_path, run_cli):
    _, run_dir = panel_run
    frame = pd.read_csv(panel_file)
    early, late = frame[frame["time"] < 150], frame[frame["time"] >= 150]
    early.to_csv(tmp_path / "early.csv", index=False)
    late.to_csv(tmp_path / "late.csv", index=False)
    state = tmp_path / "state.json"
    common = ["--series", "id", "--time", "time", "--state", str(state)]

    code, whole, _ = run_cli(
        ["predict", str(run_dir), "--input", str(panel_file), "--series", "id", "--time", "time"]
    )
    assert code == 0
    code, first, _ = run_cli(["predict", str(run_dir), "--input", str(tmp_path / "early.csv"), *common])
    assert code == 0 and state.is_file()
    code, second, _ = run_cli(["predict", str(run_dir), "--input", str(tmp_path / "late.csv"), *common])
    assert code == 0

    def by_series(text):
        rows = [line.split(",") for line in text.splitlines()[1:]]
        return sorted((r[0], int(r[1]), r[-1]) for r in rows)

    # The restart carried every series' state (and its step count): the same lines as one pass.
    assert by_series(
        first.splitlines()[0] + "\n" + "\n".join(first.splitlines()[1:] + second.splitlines()[1:])
    ) == (by_series(whole))


@pytest.mark.slow
def test_two_predicts_sharing_a_state_file_take_turns_and_lose_no_update(
    panel_run, panel_file, tmp_path, run_cli
):
    _, run_dir = panel_run
    frame = pd.read_csv(panel_file)
    for name, part in (("early", frame[frame["time"] < 150]), ("late", frame[frame["time"] >= 150])):
        part.to_csv(tmp_path / f"{name}.csv", index=False)

    def argv(name: str, state: Path) -> list[str]:
        out = state.with_suffix(f".{name}.csv")
        keys = ["--series", "id", "--time", "time", "--state", str(state), "--out", str(out)]
        return ["predict", str(run_dir), "--input", str(tmp_path / f"{name}.csv"), *keys]

    one_after_the_other = set()
    for order in (("early", "late"), ("late", "early")):
        state = tmp_path / f"{'-then-'.join(order)}.json"
        for name in order:
            assert run_cli(argv(name, state))[0] == 0
        one_after_the_other.add(state.read_bytes())
    assert len(one_after_the_other) == 2
    for attempt in range(2):  # started together, as two processes of a service would be
        state = tmp_path / f"together-{attempt}.json"
        procs = [
            subprocess.Popen([sys.executable, "-m", "statelab", *argv(name, state)], stderr=subprocess.PIPE)
            for name in ("early", "late")
        ]
        assert [p.wait(180) for p in procs] == [0, 0], [p.stderr.read() for p in procs]
        assert state.read_bytes() in one_after_the_other  # neither update was lost
        written = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(f"together-{attempt}"))
        assert written == [f"together-{attempt}.{end}" for end in ("early.csv", "json", "late.csv")]


def test_a_state_file_and_an_output_reached_through_symbolic_links_are_written_through_them(
    panel_run, panel_file, tmp_path, run_cli
):
    _, run_dir = panel_run
    (tmp_path / "real").mkdir()
    (tmp_path / "links").mkdir()
    state, out = tmp_path / "real" / "state.json", tmp_path / "real" / "out.csv"
    args = ["predict", str(run_dir), "--input", str(panel_file), "--series", "id", "--time", "time"]
    assert run_cli([*args, "--state", str(state), "--out", str(out)])[0] == 0
    (tmp_path / "links" / "state.json").symlink_to(state)
    (tmp_path / "links" / "out.csv").symlink_to(out)
    first = state.read_bytes()
    code, _, err = run_cli(
        [
            *args,
            "--state",
            str(tmp_path / "links" / "state.json"),
            "--out",
            str(tmp_path / "links" / "out.csv"),
        ]
    )
    assert code == 0, err
    for name in ("state.json", "out.csv"):  # the links stay links; the files they name were updated
        assert (tmp_path / "links" / name).is_symlink()
    assert state.read_bytes() != first  # the second pass carried on from the first's states
    # the files the links name, each with its mark beside it (not beside the link)
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == [
        ".out.csv.statelab",
        ".state.json.statelab",
        "out.csv",
        "state.json",
    ]
    assert sorted(p.name for p in (tmp_path / "links").iterdir()) == ["out.csv", "state.json"]


def test_when_the_state_cannot_be_written_the_output_is_not_written_either(
    panel_run, panel_file, tmp_path, run_cli, monkeypatch
):
    import errno

    _, run_dir = panel_run
    write_bytes = Path.write_bytes

    def full_disk_for_states(self, data):
        if "state.json" in self.name:
            raise OSError(errno.ENOSPC, "No space left on device")
        return write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", full_disk_for_states)
    state, out = tmp_path / "state.json", tmp_path / "out.csv"
    args = ["predict", str(run_dir), "--input", str(panel_file), "--series", "id", "--time", "time"]
    code, stdout, err = run_cli([*args, "--state", str(state), "--out", str(out)])
    assert code == 2 and stdout == "" and err.count("\n") == 1
    expected = f"state must be a writable file path, got {str(state)!r} (No space left on device)"
    assert err == f"statelab: error: {expected}\n"
    assert list(tmp_path.iterdir()) == []  # neither file, and no temporary left


def test_a_predict_waiting_for_its_turn_still_answers_ctrl_c(tmp_path):
    import fcntl
    import os

    state = tmp_path / "state.json"
    holder = os.open(tmp_path, os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another predict has the turn
    looks = []

    def check() -> None:
        looks.append(1)
        if len(looks) == 3:
            raise KeyboardInterrupt

    try:
        with pytest.raises(KeyboardInterrupt), statefile.state_turn(state, check):
            pytest.fail("took a turn that another process holds")
    finally:
        os.close(holder)
    assert len(looks) == 3 and list(tmp_path.iterdir()) == []  # it waited, looking; it wrote nothing
    with statefile.state_turn(state):  # free again: taken at once
        pass


def test_a_state_file_in_a_folder_that_takes_no_locks_is_a_one_line_error(
    run_dir, tmp_path, run_cli, monkeypatch
):
    import errno
    import fcntl
    import os

    def no_locks(fd: int, operation: int) -> None:  # NFS without its lock daemon, say
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", no_locks)
    data = write_csv(tmp_path / "in.csv", ["x"], [[0.01], [0.02], [-0.03]])
    state = tmp_path / "state.json"
    argv = [
        "predict",
        str(run_dir),
        "--input",
        str(data),
        "--state",
        str(state),
        "--out",
        str(tmp_path / "p.csv"),
    ]
    code, out, err = run_cli(argv)
    assert (code, out) == (2, "")
    assert err == (
        f"statelab: error: state must be a file in a folder that can be locked (flock), got {str(state)!r} "
        "(No locks available)\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_predict_command_refuses_a_state_file_of_another_model(
    panel_run, panel_file, run_dir, series, tmp_path, run_cli
):
    _, panel_dir = panel_run
    data_file = write_csv(tmp_path / "in.csv", ["x"], [[v] for v in series])
    state = tmp_path / "state.json"
    code, _, err = run_cli(["predict", str(run_dir), "--input", str(data_file), "--state", str(state)])
    assert code == 0, err
    saved = state.read_bytes()
    out = tmp_path / "p.csv"
    code, _, err = run_cli(
        [
            "predict",
            str(panel_dir),
            "--input",
            str(panel_file),
            "--series",
            "id",
            "--state",
            str(state),
            "--out",
            str(out),
        ]
    )
    assert code == 2 and err.count("\n") == 1 and "state must come from this model" in err
    assert not out.exists() and state.read_bytes() == saved  # nothing written, the state untouched
    (tmp_path / "junk.json").write_text("not json")
    code, _, err = run_cli(
        ["predict", str(run_dir), "--input", str(data_file), "--state", str(tmp_path / "junk.json")]
    )
    assert (
        code == 2 and err.count("\n") == 1 and "state must be a state file written by statelab predict" in err
    )


def test_predict_command_names_the_features_the_run_needs(panel_run, tmp_path, run_cli):
    _, run_dir = panel_run
    data_file = write_csv(tmp_path / "one.csv", ["a", "c"], [[0.1, 0.2], [0.3, 0.4]])
    out = tmp_path / "p.csv"
    code, _, err = run_cli(["predict", str(run_dir), "--input", str(data_file), "--out", str(out)])
    assert code == 2 and err.count("\n") == 1
    assert "input must have the run's 2 feature columns a, b, got columns ['a', 'c']" in err
    code, _, err = run_cli(
        ["predict", str(run_dir), "--input", str(data_file), "--column", "a", "--out", str(out)]
    )
    assert code == 2 and "column must be left out for a model of 2 features" in err
    assert not out.exists()


def test_a_run_saved_before_models_data_json_still_loads(run_dir, series, tmp_path):
    """Such a run names no features and no scaling: its config's features, values as they are."""
    import shutil

    old = tmp_path / "old-run"
    shutil.copytree(run_dir, old)
    (old / "models" / "data.json").unlink()
    loaded = predict.load_predictor(old)
    assert loaded.features == ("x",)
    np.testing.assert_array_equal(loaded.predict(series), predict.load_predictor(run_dir).predict(series))


def test_predict_command_reads_parquet_input(panel_run, panel_file, tmp_path, run_cli):
    _, run_dir = panel_run
    parquet = tmp_path / "in.parquet"
    pd.read_csv(panel_file).to_parquet(parquet)
    outputs = []
    for path in (panel_file, parquet):
        code, out, err = run_cli(
            ["predict", str(run_dir), "--input", str(path), "--series", "id", "--time", "time"]
        )
        assert code == 0, err
        outputs.append(out)
    assert outputs[0] == outputs[1]


# --- what a hostile user meets: diverged models, huge values, Ctrl-C, files that are not ours ---


@pytest.fixture(scope="module")
def diverged(tmp_path_factory) -> tuple[experiment.ExperimentResult, Path]:
    """A run whose training diverged (learning rate 1e30): its saved weights are NaN."""
    result = experiment.run_experiment(from_mapping({"input_len": 200, "epochs": 1, "learning_rate": 1e30}))
    assert result.models["stateful"].diverged
    directory = tmp_path_factory.mktemp("diverged") / "run"
    directory.mkdir()
    rundir.save_result(result, directory)
    return result, directory


def test_a_diverged_model_is_refused_instead_of_predicting_nan(diverged, series, tmp_path, run_cli):
    result, run_dir = diverged
    with pytest.raises(ConfigError, match=r"^model must have finite weights \(its training diverged"):
        predict.Predictor.from_result(result, "stateful")
    with pytest.raises(ConfigError, match="model must have finite weights"):
        predict.load_predictor(run_dir, "stateless")
    data = write_csv(tmp_path / "in.csv", ["x"], [[v] for v in series])
    out = tmp_path / "p.csv"
    code, _, err = run_cli(["predict", str(run_dir), "--input", str(data), "--out", str(out)])
    assert code == 2 and err.count("\n") == 1 and "model must have finite weights" in err
    assert not out.exists()


def test_step_names_its_argument_and_values_beyond_float32_are_refused(run_dir):
    predictor = predict.load_predictor(run_dir)
    with pytest.raises(ConfigError, match=r"^x must hold finite numbers"):
        predictor.step(None)
    with pytest.raises(ConfigError, match=r"^x must hold values the model's float32 arithmetic can take"):
        predictor.step(1e300)
    with pytest.raises(ConfigError, match=r"^series must hold values the model's float32"):
        predictor.predict([0.1, -1e39])
    assert predictor.seen == 0  # nothing refused moved the stream on


def test_predict_never_writes_over_its_input_or_a_file_statelab_did_not_write(run_dir, tmp_path, run_cli):
    data = write_csv(tmp_path / "in.csv", ["x"], [[0.01], [0.02], [-0.03]])
    mine = tmp_path / "notes.csv"
    mine.write_text("my,own\n1,2\n")
    snapshot = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    for out, words in [
        (data, "out must be another file than input"),
        (mine, "out must be a new file or one"),
    ]:
        code, _, err = run_cli(["predict", str(run_dir), "--input", str(data), "--out", str(out)])
        assert code == 2 and err.count("\n") == 1 and words in err, err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == snapshot
    out = tmp_path / "p.csv"  # its own output it replaces: a rerun writes the same file again
    for _ in range(2):
        code, _, err = run_cli(["predict", str(run_dir), "--input", str(data), "--out", str(out)])
        assert code == 0, err
    assert out.read_text().splitlines()[0] == "t,input,prediction"


def test_ctrl_c_during_predict_exits_130_with_no_output_and_the_state_as_it_was(
    panel_run, panel_file, tmp_path, run_cli, monkeypatch
):
    """SIGINT while the first series is predicted: the flag is noticed before the next series (and
    before anything is written), so neither the output nor the state file appears."""
    import signal

    _, run_dir = panel_run
    real, pressed = predict.Predictor.predict, []

    def predict_then_ctrl_c(self, series):
        if not pressed:  # once: a second Ctrl-C would end the process at once
            pressed.append(signal.raise_signal(signal.SIGINT))  # statelab's handler sets its flag
        return real(self, series)

    monkeypatch.setattr(predict.Predictor, "predict", predict_then_ctrl_c)
    out, state = tmp_path / "p.csv", tmp_path / "state.json"
    argv = ["predict", str(run_dir), "--input", str(panel_file), "--series", "id", "--time", "time"]
    code, _, err = run_cli([*argv, "--out", str(out), "--state", str(state)])
    assert code == 130 and err.strip() == "statelab: interrupted"
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_an_output_or_state_file_in_a_missing_folder_is_refused_before_anything_is_printed(
    run_dir, tmp_path, run_cli
):
    data = write_csv(tmp_path / "in.csv", ["x"], [[0.01], [0.02], [-0.03]])
    for flag in ("--out", "--state"):
        code, out, err = run_cli(
            ["predict", str(run_dir), "--input", str(data), flag, str(tmp_path / "no/p")]
        )
        assert code == 2 and out == "" and err.count("\n") == 1, (out, err)
        assert f"{flag[2:]} must be in an existing directory, got" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_predict_accepts_missing_and_interpolates_a_gap(run_dir, tmp_path, run_cli):
    data = write_csv(tmp_path / "gap.csv", ["x"], [[0.01], [""], [0.03], [0.02]])
    code, _, err = run_cli(["predict", str(run_dir), "--input", str(data)])
    assert code == 2 and "or drop, interpolate" in err
    code, out, err = run_cli(["predict", str(run_dir), "--input", str(data), "--missing", "interpolate"])
    assert code == 0, err
    rows = out.splitlines()
    assert rows[0] == "t,input,prediction" and len(rows) == 5
    assert float(rows[2].split(",")[1]) == pytest.approx(0.02)
    code, _, err = run_cli(["predict", str(run_dir), "--input", str(data), "--missing", "guess"])
    assert code == 2 and "missing must be one of error, drop, interpolate, got 'guess'" in err
