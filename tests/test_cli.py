"""The `statelab` command end to end: a small real run, and every kind of bad input."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from statelab import cli, rundir
from statelab.config import from_mapping

SMALL = ["--input-len", "200", "--epochs", "2", "--no-cache"]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "run"
    assert cli.main(["run", *SMALL, "--out", str(out)]) == 0
    return out


def test_run_writes_every_file_and_each_parses(small_run):
    out = small_run
    config = json.loads((out / "config.json").read_text())
    assert from_mapping(config) == from_mapping({"input_len": 200, "epochs": 2})
    metrics = json.loads((out / "metrics.json").read_text())
    for model in ("stateful", "stateless"):
        m = metrics["models"][model]
        assert {"test_mse", "test_nmse", "floor_nmse", "converged", "expected_converged"} <= set(m)
        assert m["test_nmse"] == pytest.approx(m["test_mse"] / metrics["var_y"])
    assert isinstance(metrics["claim_held"], bool)
    with open(out / "history.csv") as fh:
        history = list(csv.DictReader(fh))
    assert [(r["model"], int(r["epoch"])) for r in history] == [
        (m, e) for m in ("stateful", "stateless") for e in (1, 2)
    ]
    with open(out / "predictions.csv") as fh:
        preds = list(csv.DictReader(fh))
    assert len(preds) == metrics["n_test"] == 40
    assert all(np.isfinite(float(r["pred_stateful"])) for r in preds)
    for png in ("input.png", "results.png", "history.png"):
        assert matplotlib.image.imread(out / png).shape[0] > 100
    assert "<html" in (out / "report.html").read_text()
    assert {p.name for p in (out / "models").iterdir()} == {
        "config.json",
        "data.json",
        "stateful.npz",
        "stateless.npz",
    }
    assert not list(out.parent.glob(".*partial"))


def test_run_prints_banner_table_and_a_last_line_with_the_verdict(tmp_path, run_cli):
    code, out, err = run_cli(["run", *SMALL, "--out", str(tmp_path / "r")])
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[1] == "The target is the mean of the last tsteps=2 inputs."
    assert lines[2] == "STATELESS LSTM CANNOT CONVERGE (impossible)"
    assert "STATEFUL LSTM MAY CONVERGE, NOT PROMISED" in lines  # bptt 1: its gradient misses x[t-1]
    assert "Input shape: (200, 1)" in out and "-0.084532" in out  # the original's first input
    assert "epoch  2/2" in out and "stateful" in out and "floor NMSE" in out
    assert lines[-1].startswith("Expected outcome")


def test_config_file_is_read_and_flags_override_it(tmp_path, run_cli):
    config = tmp_path / "exp.toml"
    config.write_text("input_len = 200\nepochs = 3\n[train]\nbatch_size = 2\n")
    out = tmp_path / "r"
    code, _, err = run_cli(["run", "--config", str(config), "--epochs", "1", "--no-cache", "--out", str(out)])
    assert code == 0, err
    written = json.loads((out / "config.json").read_text())
    assert written["train"]["epochs"] == 1 and written["train"]["batch_size"] == 2
    assert written["task"]["input_len"] == 200


def test_same_config_gives_bit_identical_metrics(tmp_path, run_cli):
    for name in ("a", "b"):
        assert run_cli(["run", *SMALL, "--out", str(tmp_path / name)])[0] == 0
    assert (tmp_path / "a" / "metrics.json").read_bytes() == (tmp_path / "b" / "metrics.json").read_bytes()


BAD_RUNS = [
    (["--tsteps", "0"], "tsteps"),
    (["--input-len", "-5"], "input_len"),
    (["--units", "0"], "units"),
    (["--epochs", "ten"], "epochs"),
    (["--amplitude", "abc"], "amplitude"),
    (["--lahead", "500"], "lahead"),
    (["--tsteps", "100"], "tsteps"),
    (["--batch-size", "900"], "batch_size"),
    (["--batch-size", "150", "--layout", "seed"], "batch_size"),  # 200 // 150 == 160 // 150
    (["--train-fraction", "1.0"], "train_fraction"),
    (["--train-fraction", "0"], "train_fraction"),
    (["--layout", "diagonal"], "layout"),
    (["--cell", "transformer"], "cell"),
    (["--task", "delay", "--tsteps", "3"], "tsteps"),
    (["--task", "delay", "--delay", "0"], "delay"),
    (["--task", "ema", "--alpha", "1.5"], "alpha"),
    (["--task", "nope"], "task"),
    (["--config", "missing.toml"], "config"),
    (["--frobnicate", "3"], "frobnicate"),
]


@pytest.mark.parametrize(("argv", "parameter"), BAD_RUNS)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(argv, parameter, tmp_path, run_cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # --input-len 200 keeps validation cheap; a later --input-len in argv wins.
    code, _, err = run_cli(["run", "--input-len", "200", *argv, "--out", "r"])
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("statelab: error: ")
    assert parameter in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_malformed_and_unknown_config_files_are_errors(tmp_path, run_cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.toml").write_text("tsteps = \n")
    (tmp_path / "unknown.toml").write_text("tsteps = 2\ncolour = 'red'\n")
    for name, words in (("bad.toml", "valid TOML"), ("unknown.toml", "colour")):
        code, _, err = run_cli(["run", "--config", name])
        assert code == 2 and words in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml", "unknown.toml"]


def test_an_output_directory_that_cannot_be_written_is_an_error(tmp_path, run_cli):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code, _, err = run_cli(["run", *SMALL, "--out", str(blocker / "deeper" / "run")])
    assert code == 2 and "out must be a writable directory" in err and err.count("\n") == 1
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    code, _, err = run_cli(["run", *SMALL, "--out", str(tmp_path / "full")])
    assert code == 2 and "out must be a new or empty directory" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "full"]


def test_a_run_that_fails_midway_leaves_no_directory(tmp_path, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(rundir, "save_result", explode)
    with pytest.raises(RuntimeError):
        cli.main(["run", *SMALL, "--out", str(tmp_path / "a" / "b" / "run")])
    assert list(tmp_path.iterdir()) == []


def test_console_script_and_python_dash_m_run(tmp_path):
    for command in (["statelab"], [sys.executable, "-m", "statelab"]):
        exe = command if command[0] != "statelab" else [str(Path(sys.executable).with_name("statelab"))]
        result = subprocess.run([*exe, "run", "--tsteps", "0"], capture_output=True, text=True)
        assert result.returncode == 2, result.stderr
        assert result.stderr == "statelab: error: tsteps must be an integer >= 1, got 0\n"
    result = subprocess.run([sys.executable, "-m", "statelab", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("statelab ")


def test_python_dash_m_run_exits_zero_with_all_output_and_files(tmp_path):
    """The fast exit after a run loses neither printed output nor written files."""
    out = tmp_path / "r"
    argv = [sys.executable, "-m", "statelab", "run", *SMALL, "--out", str(out)]
    result = subprocess.run(argv, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().splitlines()[-1].startswith("Expected outcome")
    assert (out / "report.html").stat().st_size > 10_000
    assert json.loads((out / "metrics.json").read_text())["schema_version"] == 3


def test_report_redraws_a_run_directory_in_place_without_training(small_run, tmp_path, run_cli, monkeypatch):
    import shutil

    import statelab.train

    run = tmp_path / "copy"
    shutil.copytree(small_run, run)
    for name in ("report.html", "input.png", "results.png", "history.png"):
        (run / name).unlink()

    def no_training(*args, **kwargs):
        raise AssertionError("report must not train")

    monkeypatch.setattr(statelab.train, "fit_trials", no_training)
    code, _, err = run_cli(["report", str(run)])
    assert code == 0, err
    assert (run / "report.html").read_text() == (small_run / "report.html").read_text()
    assert all((run / name).stat().st_size > 1000 for name in ("input.png", "results.png", "history.png"))
    code, _, err = run_cli(["report", str(tmp_path)])
    assert code == 2 and "run directory with metrics.json" in err


def test_a_ctrl_c_while_a_report_is_being_written_ends_normally_once_it_is_whole(
    small_run, tmp_path, run_cli, monkeypatch
):
    """The files are written after the last check: a Ctrl-C then cannot undo them, so the command
    says it wrote them (exit 0) rather than that it was interrupted (130)."""
    import shutil
    import signal

    from statelab.report import run as report_run

    run = tmp_path / "copy"
    shutil.copytree(small_run, run)
    real, pressed = report_run.write_atomic, []

    def write_then_ctrl_c(path, data):
        real(path, data)
        if not pressed:
            pressed.append(signal.raise_signal(signal.SIGINT))  # statelab's handler sets its flag

    monkeypatch.setattr(report_run, "write_atomic", write_then_ctrl_c)
    code, out, err = run_cli(["report", str(run)])
    assert pressed and code == 0, err
    assert "Report:" in out and (run / "report.html").read_text() == (small_run / "report.html").read_text()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--config", ""], "config must be a readable file, got ''"),
        (["sweep", "--config", ""], "config must be a readable file, got ''"),
        (["report", ""], "store must be a sweep store or a run directory, got ''"),
        (["predict", "r", "--input", ""], "input must be a readable CSV or Parquet file, got ''"),
    ],
)
def test_an_empty_path_is_an_error_not_the_current_folder_nor_no_file(
    argv, message, tmp_path, run_cli, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # `run --config ''` ran the default experiment into runs/ here
    code, _, err = run_cli(argv)
    assert code == 2 and err == f"statelab: error: {message}\n"
    assert list(tmp_path.iterdir()) == []
