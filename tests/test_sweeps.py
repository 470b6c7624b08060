"""Sweeps: grid syntax, shape groups, failures, crash safety, Dask, and the phase diagram itself.

Every run here trains for real. Small grids use input_len 200 and 2 epochs (a group takes about
a second, mostly compilation); the phase diagram runs at the reference size.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from statelab import experiment, trials
from statelab import grid as gr
from statelab import sweeps as sw
from statelab.cli import main
from statelab.config import from_mapping
from statelab.identity import config_hash
from statelab.report.sweep import summarise
from statelab.store import Store

SMALL = ["--input-len", "200", "--epochs", "2", "--no-cache"]
SMALL_FLAGS = {"input_len": "200", "epochs": "2"}


def run_cli(*args: str) -> int:
    """`statelab ...` in this process; bad input raises SystemExit(2) as the real command exits."""
    return main(list(args))


def store_rows(path: Path) -> dict[str, sqlite3.Row]:
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    return {row["config_hash"]: row for row in db.execute("SELECT * FROM trials")}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tsteps", "5:1"], "tsteps must be a non-empty range"),
        (["--tsteps", "1:3", "--lahead", "x"], "lahead must be a value, a comma list, or a range"),
        (
            ["--cell", "lstm,transformer"],
            "cell must be one of lstm, gru, simple, got 'transformer' (at grid point",
        ),
        (
            ["--amplitude=-1,1"],
            "amplitude must be in [1e-12, 1e+12], got -1.0 (at grid point amplitude=-1.0)",
        ),
        (["--seeds", "0"], "seeds must be an integer >= 1, got '0'"),
        (["--workers", "0"], "workers must be an integer >= 1, got '0'"),
        (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "workers must not be given together with"),
        (["--colour", "red"], "unrecognized arguments: --colour red"),
        (["--config", "GRID"], "tsteps must be an integer or a list of them, got ['two']"),
    ],
)
def test_cli_bad_grid_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, args, message):
    (tmp_path / "GRID").write_text('tsteps = ["two"]\n')
    args = [str(tmp_path / "GRID") if a == "GRID" else a for a in args]
    store = tmp_path / "s.sqlite"
    with pytest.raises(SystemExit) as exit_:
        run_cli("sweep", *args, "--store", str(store), "--no-cache")
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("statelab: error: ")
    assert message in err
    assert list(tmp_path.iterdir()) == [tmp_path / "GRID"]  # no store, no report


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--store", "NOTES"], "store must be an existing statelab sweep store"),
        (["--store", "s.sqlite", "--out", "NOTES"], "out must be a writable directory path, got"),
    ],
)
def test_cli_refuses_a_foreign_store_file_or_a_file_as_report_directory(tmp_path, capsys, args, message):
    notes = tmp_path / "NOTES"
    notes.write_text("not a store")
    with pytest.raises(SystemExit) as exit_:
        run_cli(
            "sweep", *[str(tmp_path / a) if a in ("NOTES", "s.sqlite") else a for a in args], "--no-cache"
        )
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [notes] and notes.read_text() == "not a store"


def test_cli_bad_grid_in_a_real_process_prints_no_traceback(tmp_path):
    store = tmp_path / "s.sqlite"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "statelab",
            "sweep",
            "--tsteps",
            "1:6",
            "--lahead",
            "0:2",
            "--store",
            str(store),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert (
        done.stderr
        == "statelab: error: lahead must be an integer >= 1, got 0 (at grid point tsteps=1, lahead=0)\n"
    )
    assert not store.exists()


def test_plan_groups_keeps_one_shape_per_group_in_near_equal_chunks_whatever_the_order():
    from statelab.train import shape_key

    configs = gr.expand(gr.grid_from_inputs({"tsteps": "1:14", "lahead": "1,2", **SMALL_FLAGS}, seeds=5))
    groups = sw.plan_groups(configs, max_group=64)
    assert sorted(len(g) for g in groups) == [32, 32, 33, 33]  # 65 trials per lahead -> 33 + 32
    assert all(len({shape_key(c) for c in g}) == 1 for g in groups)
    assert sorted(config_hash(c) for g in groups for c in g) == sorted(config_hash(c) for c in configs)
    shuffled = sw.plan_groups(configs[::-1], max_group=64)
    assert [[config_hash(c) for c in g] for g in shuffled] == [[config_hash(c) for c in g] for g in groups]


def test_plan_groups_trains_trials_of_different_epochs_apart_though_they_share_a_program():
    from statelab.train import shape_key

    configs = gr.expand(gr.grid_from_inputs({"tsteps": "1:4", "epochs": "2,4", "input_len": "200"}))
    assert len({shape_key(c) for c in configs}) == 1
    groups = sw.plan_groups(configs)
    assert sorted([c.train.epochs for c in g] for g in groups) == [[2, 2, 2], [4, 4, 4]]


def test_exit_status_counts_failures_but_never_says_bad_input():
    assert sw.exit_status(0) == 0
    assert [sw.exit_status(n) for n in (1, 2, 3, 100, 5000)] == [3, 4, 5, 102, 102]
    assert all(sw.exit_status(n) not in (1, 2) for n in range(500))


def test_sweep_metrics_are_those_of_single_runs_and_a_rerun_skips_them(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    assert (
        run_cli("sweep", "--tsteps", "1:4", "--lahead", "1,2", "--seeds", "2", *SMALL, "--store", str(store))
        == 0
    )
    assert "0 already in" in capsys.readouterr().out
    rows = store_rows(store)
    assert len(rows) == 12 and all(r["status"] == "ok" for r in rows.values())

    # A group trains its trials side by side; each trial's metrics are those of training it alone.
    for tsteps, lahead, seed in [(3, 1, 1987), (2, 2, 1986)]:
        flat = dict(tsteps=tsteps, lahead=lahead, seed=seed, model_seed=seed - 1986, input_len=200, epochs=2)
        config = from_mapping(flat)
        alone = experiment.run_experiment(config).metrics_dict()
        assert json.loads(rows[config_hash(config)]["metrics"]) == alone

    assert (
        run_cli("sweep", "--tsteps", "1:4", "--lahead", "1,2", "--seeds", "2", *SMALL, "--store", str(store))
        == 0
    )
    out = capsys.readouterr().out
    assert "12 already in" in out and "Ran 0 trials" in out
    again = store_rows(store)
    assert {h: r["finished_at"] for h, r in again.items()} == {h: r["finished_at"] for h, r in rows.items()}
    assert (tmp_path / "s-report" / "report.html").exists()


def test_a_failing_trial_is_recorded_with_its_error_and_the_sweep_goes_on(tmp_path, monkeypatch, capsys):
    real = experiment.evaluate_fit

    def evaluate_fit(config, dataset, fitted):
        if config.task.tsteps == 2:
            raise FloatingPointError(f"tsteps {config.task.tsteps} diverged")
        return real(config, dataset, fitted)

    monkeypatch.setattr(experiment, "evaluate_fit", evaluate_fit)
    store = tmp_path / "s.sqlite"
    args = ("sweep", "--tsteps", "1:4", "--lahead", "1,2", *SMALL, "--store", str(store))
    assert run_cli(*args) == sw.exit_status(2) == 4  # two failed trials: tsteps 2 at lahead 1 and 2
    assert "failed 2." in capsys.readouterr().out
    rows = store_rows(store)
    failed = {h: r for h, r in rows.items() if r["status"] == "error"}
    assert len(rows) == 6 and len(failed) == 2
    for row in failed.values():
        assert row["error"] == "FloatingPointError: tsteps 2 diverged"
        assert row["metrics"] is None and "evaluate_fit" in row["traceback"]

    monkeypatch.setattr(experiment, "evaluate_fit", real)  # fixed: a rerun retries only the failures
    assert run_cli(*args) == 0
    assert "4 already in" in capsys.readouterr().out
    assert all(r["status"] == "ok" for r in store_rows(store).values())


def test_a_group_that_fails_to_train_is_retried_trial_by_trial(monkeypatch):
    from statelab import train

    real = train.fit_trials

    def fit_trials(configs, datasets, on_epoch=None):
        if any(c.task.tsteps == 3 for c in configs):
            raise MemoryError("no room for tsteps 3")
        return real(configs, datasets, on_epoch)

    monkeypatch.setattr(train, "fit_trials", fit_trials)
    configs = gr.expand(gr.grid_from_inputs({"tsteps": "1:5", **SMALL_FLAGS}))
    records = trials.run_group(configs)
    assert [r.config["task"]["tsteps"] for r in records] == [1, 2, 3, 4]
    assert [r.status for r in records] == ["ok", "ok", "error", "ok"]
    assert records[2].error == "MemoryError: no room for tsteps 3"
    assert records[0].timings["group_size"] == 1  # trained alone, after the group failed


def test_a_data_file_edited_during_its_trial_is_recorded_as_failed_and_a_rerun_trains_it(
    tmp_path, monkeypatch
):
    from statelab import train
    from statelab.executors import InProcess

    data = tmp_path / "series.csv"
    data.write_text("y\n" + "".join(f"{(i * 7) % 11}\n" for i in range(120)))
    configs = gr.expand(
        gr.grid_from_inputs({"task": "file", "data": str(data), "lahead": "1,2", "epochs": "1"})
    )
    claimed = [config_hash(c) for c in configs]
    real = train.fit_trials

    def edited_while_training(configs, datasets, on_epoch=None):
        fits = real(configs, datasets, on_epoch)
        if configs[0].task.lahead == 1:  # trained last; the user saves the file meanwhile
            data.write_text(data.read_text() + "5\n")
        return fits

    monkeypatch.setattr(train, "fit_trials", edited_while_training)
    with Store.create(tmp_path / "s.sqlite") as store:
        outcome = sw.run_sweep(configs, store, InProcess(threads=1))
        assert outcome.failed == 1
        records = {r.config_hash: r for r in store.records()}
        assert set(records) == set(claimed)  # under the identities the sweep claimed them with
        changed, before = records[claimed[0]], records[claimed[1]]
        assert changed.status == "error" and changed.error == f"ConfigError: {sw.CHANGED_DATA}"
        assert before.status == "ok"
        monkeypatch.setattr(train, "fit_trials", real)
        again = gr.expand(
            gr.grid_from_inputs({"task": "file", "data": str(data), "lahead": "1,2", "epochs": "1"})
        )
        rerun = sw.run_sweep(again, store, InProcess(threads=1))  # the file as it is now: new trials
        assert (rerun.ran, rerun.failed) == (2, 0)


def test_sigkill_mid_sweep_loses_no_finished_trial_and_a_rerun_completes_the_grid(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    grid = ["--tsteps", "1:3", "--lahead", "1:7", *SMALL, "--store", str(store)]
    expected = {
        config_hash(c)
        for c in gr.expand(gr.grid_from_inputs({"tsteps": "1:3", "lahead": "1:7", **SMALL_FLAGS}))
    }
    assert len(expected) == 12  # six shapes, so six groups finishing one after another

    proc = subprocess.Popen([sys.executable, "-m", "statelab", "sweep", *grid], stdout=subprocess.DEVNULL)
    try:
        finished = wait_for_rows(store, proc, timeout=180)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert 1 <= finished < 12, "the sweep must be killed part way"

    db = sqlite3.connect(store)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    with Store.open(store) as opened:
        before = {r.config_hash: r.finished_at for r in opened.records()}
    assert len(before) >= finished and set(before) <= expected

    assert run_cli("sweep", *grid) == 0
    assert f"{len(before)} already in" in capsys.readouterr().out
    rows = store_rows(store)
    assert set(rows) == expected and len(rows) == 12
    assert all(r["status"] == "ok" for r in rows.values())
    assert {h: rows[h]["finished_at"] for h in before} == before  # kept, not recomputed


def wait_for_rows(store: Path, proc: subprocess.Popen, timeout: float) -> int:
    """Poll the store (as another process would) until a trial is committed; return the count."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the sweep ended before it could be killed"
        if store.exists():
            try:
                db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
                (count,) = db.execute("SELECT COUNT(*) FROM trials").fetchone()
                db.close()
                if count:
                    return count
            except sqlite3.Error:  # the schema is not written yet
                pass
        time.sleep(0.01)
    raise AssertionError("no trial finished in time")


def test_the_phase_diagram_shows_the_boundary_lahead_equals_tsteps(tmp_path):
    """Reference size (1000 rows, batch 1, 10 epochs), tsteps x lahead 1..3, two seeds."""
    store = tmp_path / "s.sqlite"
    assert (
        run_cli(
            "sweep", "--tsteps", "1:4", "--lahead", "1:4", "--seeds", "2", "--no-cache", "--store", str(store)
        )
        == 0
    )
    with Store.open(store) as opened:
        points = summarise(opened.records()).points
    assert len(points) == 9 and all(p.n == 2 for p in points)
    for p in points:
        stateless = p.nmse["stateless"].median
        if p.lahead < p.x:  # the window misses inputs the target averages: stuck at the floor
            floor = p.floor_nmse["stateless"]
            assert floor - 0.05 <= stateless <= floor + 0.25, (p.x, p.lahead, stateless, floor)
            assert not p.median_converged("stateless")
        else:
            assert p.median_converged("stateless"), (p.x, p.lahead, stateless)
        if p.x <= 2:
            assert p.median_converged("stateful"), (p.x, p.lahead, p.nmse["stateful"].median)
