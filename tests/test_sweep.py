"""Sweeps: grid syntax, shape groups, failures, crash safety, Dask, and the phase diagram itself.

Every run here trains for real. Small grids use input_len 200 and 2 epochs (a group takes about
a second, mostly compilation); the phase diagram runs at the reference size.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from statelab import ConfigError, experiment
from statelab import sweep as sw
from statelab.cli import main
from statelab.config import config_hash, from_mapping
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


# ---------------------------------------------------------------------------------------------
# Grid syntax


@pytest.mark.parametrize(
    ("name", "text", "values"),
    [
        ("tsteps", "1:6", (1, 2, 3, 4, 5)),
        ("tsteps", "3", (3,)),
        ("batch_size", "1,16", (1, 16)),
        ("lahead", "1:4,8", (1, 2, 3, 8)),
        ("lahead", "1:10:3", (1, 4, 7)),
        ("lahead", "5:1:-2", (5, 3)),
        ("lahead", "2,2,1", (2, 1)),
        ("amplitude", "0.1:0.4:0.1", (0.1, 0.2, 0.3)),
        ("learning_rate", "1e-3,0.01", (0.001, 0.01)),
        ("cell", "lstm, gru", ("lstm", "gru")),
    ],
)
def test_parse_values_reads_lists_and_half_open_ranges(name, text, values):
    assert sw.parse_values(name, text) == values


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("tsteps", "5:1", r"^tsteps must be a non-empty range .*, got '5:1'$"),
        ("tsteps", "3:3", r"^tsteps must be a non-empty range"),
        ("tsteps", "1:5:0", r"^tsteps must be a range a:b\[:step\] with a non-zero step, got '1:5:0'$"),
        (
            "tsteps",
            "a",
            r"^tsteps must be a value, a comma list, or a range a:b\[:step\] of integers, got 'a'$",
        ),
        ("tsteps", "1.5", r"^tsteps must be .* of integers, got '1.5'$"),
        ("tsteps", "1:2:3:4", r"^tsteps must be a value, a comma list, or a range"),
        ("tsteps", "1,,2", r"^tsteps must be a value, a comma list, or a range a:b\[:step\], got '1,,2'$"),
        ("amplitude", "0.1:x", r"^amplitude must be .* of numbers, got '0.1:x'$"),
        ("nonsense", "1", r"^unknown parameter nonsense = '1'$"),
    ],
)
def test_parse_values_rejects_bad_text_naming_the_parameter(name, text, message):
    with pytest.raises(ConfigError, match=message):
        sw.parse_values(name, text)


def test_grid_file_reads_ranges_lists_scalars_sections_and_seeds(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text(
        'seeds = 3\ntsteps = "1:4"\nlahead = [1, 2]\nepochs = 2\n[train]\nbatch_size = [1, 16]\n'
        '[model]\ncell = "gru"\n'
    )
    grid = sw.load_grid(path)
    assert grid.seeds == 3
    assert grid.axes == {
        "tsteps": (1, 2, 3),
        "lahead": (1, 2),
        "epochs": (2,),
        "batch_size": (1, 16),
        "cell": ("gru",),
    }
    assert grid.n_points == 12


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tsteps = []", r"^tsteps must be a non-empty list of values, got \[\]$"),
        ('tsteps = "4:2"', r"^tsteps must be a non-empty range"),
        ('tsteps = "x"', r"^tsteps must be .* of integers, got 'x'$"),
        ("tsteps = 1.5", r"^tsteps must be an integer or a list of them, got 1.5$"),
        ('tsteps = [1, "a"]', r"^tsteps must be an integer or a list of them, got \[1, 'a'\]$"),
        ("tsteps = true", r"^tsteps must be an integer or a list of them, got True$"),
        ("cell = 3", r"^cell must be a string or a list of them, got 3$"),
        ("colour = [1, 2]", r"^unknown parameter colour = \[1, 2\]$"),
        ("[task]\nunits = 3", r"^unknown parameter task.units = 3$"),
        ("seeds = 0", r"^seeds must be an integer >= 1, got 0$"),
        ("tsteps = [1, 2", r"^config must be valid TOML"),
    ],
)
def test_grid_file_rejects_bad_grids(tmp_path, text, message):
    path = tmp_path / "grid.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError, match=message):
        sw.load_grid(path)


def test_flags_override_the_grid_file_per_parameter(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text('tsteps = "1:4"\nlahead = [1, 2]\nseeds = 2\n')
    grid = sw.grid_from_inputs({"tsteps": "5", "lahead": None, "units": None}, seeds="4", grid_file=path)
    assert grid.axes == {"tsteps": (5,), "lahead": (1, 2)}
    assert grid.seeds == 4


def test_expand_gives_every_point_times_seeds_with_shifted_seeds():
    grid = sw.grid_from_inputs({"tsteps": "1:3", "lahead": "1,2", "model_seed": "10"}, seeds=3)
    configs = sw.expand(grid)
    assert len(configs) == 2 * 2 * 3
    assert len({config_hash(c) for c in configs}) == len(configs)
    point = [c for c in configs if c.task.tsteps == 2 and c.task.lahead == 1]
    assert [(c.task.seed, c.model.model_seed) for c in point] == [(1986, 10), (1987, 11), (1988, 12)]


def test_expand_names_the_invalid_grid_point():
    grid = sw.grid_from_inputs({"input_len": "20", "tsteps": "1,3,9"})
    with pytest.raises(
        ConfigError,
        match=r"^tsteps must be .*, got 9 \(at grid point input_len=20, tsteps=9\)$",
    ):
        sw.expand(grid)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tsteps", "5:1"], "tsteps must be a non-empty range"),
        (["--tsteps", "1:3", "--lahead", "x"], "lahead must be a value, a comma list, or a range"),
        (
            ["--cell", "lstm,transformer"],
            "cell must be one of lstm, gru, simple, got 'transformer' (at grid point",
        ),
        (["--amplitude=-1,1"], "amplitude must be > 0, got -1.0 (at grid point amplitude=-1.0)"),
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
        (["--store", "s.sqlite", "--out", "NOTES"], "out must be a directory, got"),
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


# ---------------------------------------------------------------------------------------------
# Groups


def test_plan_groups_keeps_one_shape_per_group_in_near_equal_chunks_whatever_the_order():
    from statelab.train import shape_key

    configs = sw.expand(sw.grid_from_inputs({"tsteps": "1:14", "lahead": "1,2", **SMALL_FLAGS}, seeds=5))
    groups = sw.plan_groups(configs, max_group=64)
    assert sorted(len(g) for g in groups) == [32, 32, 33, 33]  # 65 trials per lahead -> 33 + 32
    assert all(len({shape_key(c) for c in g}) == 1 for g in groups)
    assert sorted(config_hash(c) for g in groups for c in g) == sorted(config_hash(c) for c in configs)
    shuffled = sw.plan_groups(configs[::-1], max_group=64)
    assert [[config_hash(c) for c in g] for g in shuffled] == [[config_hash(c) for c in g] for g in groups]


def test_exit_status_counts_failures_but_never_says_bad_input():
    assert sw.exit_status(0) == 0
    assert [sw.exit_status(n) for n in (1, 2, 3, 100, 5000)] == [3, 4, 5, 102, 102]
    assert all(sw.exit_status(n) not in (1, 2) for n in range(500))


# ---------------------------------------------------------------------------------------------
# Running


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
    configs = sw.expand(sw.grid_from_inputs({"tsteps": "1:5", **SMALL_FLAGS}))
    records = sw.run_group(configs)
    assert [r.config["task"]["tsteps"] for r in records] == [1, 2, 3, 4]
    assert [r.status for r in records] == ["ok", "ok", "error", "ok"]
    assert records[2].error == "MemoryError: no room for tsteps 3"
    assert records[0].timings["group_size"] == 1  # trained alone, after the group failed


def test_sigkill_mid_sweep_loses_no_finished_trial_and_a_rerun_completes_the_grid(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    grid = ["--tsteps", "1:3", "--lahead", "1:7", *SMALL, "--store", str(store)]
    expected = {
        config_hash(c)
        for c in sw.expand(sw.grid_from_inputs({"tsteps": "1:3", "lahead": "1:7", **SMALL_FLAGS}))
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


# ---------------------------------------------------------------------------------------------
# Dask

DASK_GRID = {"tsteps": "1:3", "lahead": "1:3", **SMALL_FLAGS}


@pytest.fixture(scope="module")
def in_process_metrics(tmp_path_factory) -> dict[str, str]:
    """The small Dask grid run in-process: {config hash: metrics JSON}."""
    path = tmp_path_factory.mktemp("reference") / "s.sqlite"
    with Store.create(path) as store:
        sw.run_sweep(sw.expand(sw.grid_from_inputs(DASK_GRID)), store, sw.InProcess(threads=1))
    return {h: r["metrics"] for h, r in store_rows(path).items()}


def test_a_local_dask_cluster_gives_the_metrics_of_an_in_process_sweep(tmp_path, in_process_metrics):
    store = tmp_path / "s.sqlite"
    flags = [f"--{k.replace('_', '-')}" if i == 0 else v for k, v in DASK_GRID.items() for i in (0, 1)]
    assert run_cli("sweep", *flags, "--workers", "2", "--no-cache", "--store", str(store)) == 0
    rows = store_rows(store)
    assert {h: r["metrics"] for h, r in rows.items()} == in_process_metrics  # bit for bit
    workers = {r["worker"] for r in rows.values()}
    assert f"{os.uname().nodename}:{os.getpid()}" not in workers  # computed in worker processes


def test_an_existing_cluster_reruns_the_trials_of_a_worker_that_died(tmp_path, in_process_metrics):
    import logging

    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.CRITICAL,
        ) as cluster,
        Client(cluster) as client,
    ):
        (victim,) = client.run(os.getpid).values()
        killed = threading.Event()

        def kill_once_busy() -> None:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not any(client.processing().values()):
                time.sleep(0.02)
            time.sleep(0.3)  # inside the task: importing JAX and compiling take longer than this
            os.kill(victim, signal.SIGKILL)
            killed.set()

        killer = threading.Thread(target=kill_once_busy)
        killer.start()
        store = tmp_path / "s.sqlite"
        flags = [f"--{k.replace('_', '-')}" if i == 0 else v for k, v in DASK_GRID.items() for i in (0, 1)]
        status = run_cli(
            "sweep", *flags, "--scheduler", cluster.scheduler_address, "--no-cache", "--store", str(store)
        )
        killer.join()
    assert killed.is_set() and status == 0
    rows = store_rows(store)
    assert {h: r["metrics"] for h, r in rows.items()} == in_process_metrics
    assert all(not r["worker"].endswith(f":{victim}") for r in rows.values())  # redone by the new worker


def test_an_unreachable_scheduler_is_bad_input_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sw, "SCHEDULER_TIMEOUT", 1.0)
    store = tmp_path / "s.sqlite"
    with pytest.raises(SystemExit) as exit_:
        run_cli("sweep", "--scheduler", "tcp://127.0.0.1:9", "--store", str(store))
    assert exit_.value.code == 2
    assert capsys.readouterr().err.startswith(
        "statelab: error: scheduler must be the address of a running Dask scheduler, got 'tcp://127.0.0.1:9'"
    )
    assert not store.exists()


# ---------------------------------------------------------------------------------------------
# The phase diagram


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


def test_task_parameters_apply_only_to_the_tasks_that_take_them():
    grid = sw.Grid(
        axes={
            "task": ("moving-average", "delay", "ema"),
            "tsteps": (2, 3),
            "delay": (1, 2),
            "cell": ("lstm", "gru"),
        },
        seeds=1,
    )
    configs = sw.expand(grid)
    kinds = sorted((c.task.task, c.task.tsteps, c.task.delay, c.model.cell) for c in configs)
    assert kinds == sorted(
        [("moving-average", t, None, cell) for t in (2, 3) for cell in ("lstm", "gru")]
        + [("delay", None, d, cell) for d in (1, 2) for cell in ("lstm", "gru")]
        + [("ema", None, None, cell) for cell in ("lstm", "gru")]
    )
    # With one task, a parameter it does not take is still an error.
    with pytest.raises(ConfigError, match="tsteps is not a parameter of task delay"):
        sw.expand(sw.Grid(axes={"task": ("delay",), "tsteps": (2, 3)}))
