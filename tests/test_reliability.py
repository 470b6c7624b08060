"""statelab as a hostile user meets it: bad files, signals, kills, races, damaged directories.

Each test holds one of the README's reliability promises (notes/README-rel.md lists them):
bad input gets one line and exit 2 with nothing written; a run directory appears whole or not at
all; a sweep survives SIGKILL at any moment; `report` only reads; Ctrl-C gives exit 130 and leaves
nothing behind. Most tests drive the command line, in this process (`run_cli`) or as a real
process (`statelab`), so they check what a user sees.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from statelab import cli

TINY = ["--input-len", "200", "--epochs", "1"]


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """The environment of a statelab process: one compilation cache for the whole module (the
    session turns the cache off for everything else: STATELAB_NO_CACHE is lifted here)."""
    return {
        **{k: v for k, v in os.environ.items() if k != "STATELAB_NO_CACHE"},
        "STATELAB_CACHE_DIR": str(tmp_path_factory.mktemp("cache")),
    }


def statelab(*args: str, cwd: Path | None = None, env: dict | None = None, **kwargs) -> subprocess.Popen:
    """A real `statelab` process (python -m statelab), its output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "statelab", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder`, by relative path, with its bytes: to prove nothing changed."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def one_line_error(code: int, err: str, *words: str) -> None:
    assert code == 2, err
    assert err.startswith("statelab: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in err, err


def strict_json(path: Path):
    """JSON as other tools read it: a bare NaN or Infinity is an error."""

    def no_constants(name: str):
        raise ValueError(f"{path.name} holds {name}, which is not JSON")

    return json.loads(path.read_text(), parse_constant=no_constants)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rel") / "run"
    assert cli.main(["run", *TINY, "--no-cache", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def small_store(tmp_path_factory) -> Path:
    store = tmp_path_factory.mktemp("rel") / "s.sqlite"
    assert cli.main(["sweep", *TINY, "--tsteps", "1,2", "--no-cache", "--store", str(store)]) == 0
    return store


# ---------------------------------------------------------------------------------------------
# Lost or damaged user data


def test_report_refuses_a_directory_of_other_files_and_leaves_them_untouched(small_store, tmp_path, run_cli):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "report.html").write_text("my own report")
    (mine / "heatmap-old.png").write_bytes(b"my picture")
    before = snapshot(mine)
    code, _, err = run_cli(["report", str(small_store), "--out", str(mine)])
    one_line_error(code, err, "out must be a new or empty directory", "holds other files")
    assert snapshot(mine) == before


def test_sweep_refuses_a_report_directory_of_other_files_before_training(tmp_path, run_cli):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    store = tmp_path / "s.sqlite"
    code, out, err = run_cli(["sweep", *TINY, "--store", str(store), "--out", str(mine)])
    one_line_error(code, err, "out must be a new or empty directory")
    assert out == "" and not store.exists()
    assert snapshot(mine) == {"notes.txt": b"keep me"}


def test_report_rewrites_a_report_directory_it_wrote_and_removes_only_its_own_files(
    small_store, tmp_path, run_cli
):
    out = tmp_path / "report"
    assert run_cli(["report", str(small_store), "--out", str(out)])[0] == 0
    assert (out / ".statelab-report").is_file()
    from statelab.written import write_file

    write_file(out / "heatmap-gone.png", b"a facet an earlier report drew")  # with its mark
    first = (out / "summary.csv").read_bytes()
    assert run_cli(["report", str(small_store), "--out", str(out)])[0] == 0
    assert (out / "summary.csv").read_bytes() == first and not (out / "heatmap-gone.png").exists()
    assert not (out / ".heatmap-gone.png.statelab").exists()
    # A heatmap statelab cannot prove it drew is neither removed nor written over: refused first.
    (out / "heatmap-mine.png").write_bytes(b"a picture of the user's")
    before = snapshot(out)
    code, _, err = run_cli(["report", str(small_store), "--out", str(out)])
    one_line_error(code, err, "out must be a new file or one statelab wrote", "heatmap-mine.png")
    assert snapshot(out) == before


@pytest.mark.parametrize("command", ["sweep", "report"])
def test_an_empty_file_as_store_is_refused_and_left_byte_for_byte(command, tmp_path, run_cli):
    store = tmp_path / "zero.sqlite"
    store.write_bytes(b"")
    argv = ["sweep", *TINY, "--store", str(store)] if command == "sweep" else ["report", str(store)]
    code, _, err = run_cli(argv)
    one_line_error(code, err, "store must be an existing statelab sweep store", "an empty file")
    assert store.read_bytes() == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["zero.sqlite"]


@pytest.mark.parametrize("command", ["sweep", "report"])
def test_a_foreign_sqlite_database_is_refused_and_never_switched_to_wal(command, tmp_path, run_cli):
    store = tmp_path / "theirs.sqlite"
    db = sqlite3.connect(store)
    db.execute("CREATE TABLE accounts (name TEXT, balance REAL)")
    db.execute("INSERT INTO accounts VALUES ('alice', 10)")
    db.commit()
    db.close()
    before = store.read_bytes()
    argv = ["sweep", *TINY, "--store", str(store)] if command == "sweep" else ["report", str(store)]
    code, _, err = run_cli(argv)
    one_line_error(code, err, "store must be an existing statelab sweep store")
    assert store.read_bytes() == before
    assert before[18:20] == b"\x01\x01"  # the header's journal mode bytes: still a rollback journal
    assert sorted(p.name for p in tmp_path.iterdir()) == ["theirs.sqlite"]


def test_report_leaves_the_store_and_its_folder_byte_for_byte_unchanged(small_store, tmp_path, run_cli):
    folder = small_store.parent
    before = snapshot(folder)
    code, _, err = run_cli(["report", str(small_store), "--out", str(tmp_path / "r")])
    assert code == 0, err
    assert snapshot(folder) == before  # no -wal, no -shm, no journal mode change, no new table


# ---------------------------------------------------------------------------------------------
# A sweep killed at any moment


def committed(store: Path) -> int:
    """Trials committed in the store, read as another process would (0 if there is none yet)."""
    if not store.exists():
        return 0
    try:
        db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
        try:
            return db.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_a_sweep_killed_at_random_moments_leaves_a_sound_store_that_a_rerun_completes(tmp_path, env):
    """Fault injection: SIGKILL a real sweep 20 times. Twelve kills come at random moments of its
    first 1.5 s (five within 50 ms: before and while the store is created, then start-up), eight
    at a random moment up to 0.2 s after its next trial is committed (mid-commit, mid-group).
    After every kill the store is whole (integrity_check) or absent and keeps every trial
    committed before; a rerun then completes the grid, each trial once."""
    store = tmp_path / "s.sqlite"
    grid = [
        *TINY,
        "--tsteps",
        "1:4",
        "--lahead",
        "1:5",
        "--store",
        str(store),
        "--out",
        str(tmp_path / "rep"),
    ]
    rng = np.random.default_rng(20261129)
    moments = [*rng.uniform(0.0, 0.05, 5), *rng.uniform(0.05, 1.5, 7), *[None] * 8]
    kept: dict[str, str] = {}
    counts = []  # trials in the store after each kill (None: no store yet)
    for moment in moments:
        proc = statelab("sweep", *grid, env=env)
        if moment is None:  # after the next commit
            deadline = time.monotonic() + 60
            while committed(store) <= len(kept) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            moment = rng.uniform(0.0, 0.2)
        time.sleep(moment)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        if store.exists():
            db = sqlite3.connect(store)
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            rows = dict(db.execute("SELECT config_hash, finished_at FROM trials WHERE status = 'ok'"))
            db.close()
            assert {h: rows[h] for h in kept} == kept  # a committed trial is never lost or redone
            kept = rows
        counts.append(len(kept) if store.exists() else None)
    # The kills hit every phase: before the store existed, and part way through the grid.
    assert None in counts and any(0 < n < 12 for n in counts if n is not None), counts
    code, out, err = finish(statelab("sweep", *grid, env=env))
    assert code == 0, err
    db = sqlite3.connect(store)
    rows = dict(db.execute("SELECT config_hash, finished_at FROM trials WHERE status = 'ok'"))
    (count,) = db.execute("SELECT COUNT(*) FROM trials").fetchone()
    (claims,) = db.execute("SELECT COUNT(*) FROM claims").fetchone()
    db.close()
    assert count == len(rows) == 12 and claims == 0
    assert {h: rows[h] for h in kept} == kept
    assert f"{len(kept)} already in" in out
    assert not list(tmp_path.glob(".s.sqlite.*"))  # temporaries of killed creations were removed


# ---------------------------------------------------------------------------------------------
# Concurrency


@pytest.mark.slow
def test_two_identical_runs_at_once_are_both_saved_under_distinct_names(tmp_path, env):
    procs = [statelab("run", *TINY, cwd=tmp_path, env=env) for _ in range(2)]
    results = [finish(p) for p in procs]
    assert [code for code, _, _ in results] == [0, 0], [err for _, _, err in results]
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(runs) == 2 and all(not name.startswith(".") for name in runs)
    saved = {out.splitlines()[-2].split()[2].rstrip("/") for out in (o for _, o, _ in results)}
    assert saved == {f"runs/{name}" for name in runs}
    metrics = [(tmp_path / "runs" / name / "metrics.json").read_bytes() for name in runs]
    assert metrics[0] == metrics[1]


def test_runs_of_one_config_in_one_second_get_distinct_names(small_run, tmp_path, monkeypatch):
    from statelab import experiment, rundir
    from statelab.rundir import load_run

    run = load_run(small_run)
    result = experiment.run_experiment(run.config)
    monkeypatch.setattr(rundir, "default_run_dir", lambda config, root="runs": Path(root) / "same")
    first = experiment.save_run(result, root=tmp_path)
    second = experiment.save_run(result, root=tmp_path)
    assert (first.name, second.name) == ("same", "same-2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same", "same-2"]


@pytest.mark.slow
def test_two_sweeps_started_together_on_a_new_store_both_succeed(tmp_path, env):
    store = tmp_path / "new.sqlite"
    argv = ["sweep", *TINY, "--tsteps", "1,2", "--store", str(store)]
    procs = [statelab(*argv, "--out", str(tmp_path / f"rep{i}"), env=env) for i in range(2)]
    results = [finish(p) for p in procs]
    assert [code for code, _, _ in results] == [0, 0], [err for _, _, err in results]
    db = sqlite3.connect(store)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert db.execute("SELECT COUNT(*) FROM trials WHERE status = 'ok'").fetchone() == (2,)


@pytest.mark.slow
def test_two_concurrent_sweeps_on_one_store_train_each_trial_once(tmp_path, env):
    store = tmp_path / "s.sqlite"
    assert cli.main(["sweep", *TINY, "--tsteps", "1", "--store", str(store), "--no-cache"]) == 0
    argv = ["sweep", *TINY, "--tsteps", "1:5", "--lahead", "1,2", "--store", str(store)]
    procs = [statelab(*argv, "--out", str(tmp_path / f"rep{i}"), env=env) for i in range(2)]
    results = [finish(p) for p in procs]
    assert [code for code, _, _ in results] == [0, 0], [err for _, _, err in results]
    ran = [int(out.split("Ran ")[1].split()[0]) for _, out, _ in results]
    assert sum(ran) == 7  # 8 trials, 1 already in the store: each trained by exactly one sweep
    for (_, out, _), n in zip(results, ran):
        if n < 7:
            assert f"{7 - n} trials were trained meanwhile by another sweep" in out
    db = sqlite3.connect(store)
    workers = db.execute("SELECT COUNT(*), COUNT(DISTINCT config_hash) FROM trials").fetchone()
    assert workers == (8, 8)
    assert db.execute("SELECT COUNT(*) FROM claims").fetchone() == (0,)


# ---------------------------------------------------------------------------------------------
# Signals


def wait_for(proc: subprocess.Popen, text: str, timeout: float = 60) -> str:
    """Read the process's stdout until a line containing `text`; returns what was read."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"the process ended before printing {text!r}: {''.join(seen)}")
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"{text!r} did not appear")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) a process has used so far, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime in ticks


def wait_cpu(proc: subprocess.Popen, seconds: float) -> None:
    """Wait until `proc` has used `seconds` of CPU (or has ended). A moment measured in the
    process's own CPU time falls in the same phase of its work however busy the machine is; on
    a loaded machine 0.15 s of wall time can end before the interpreter has even found statelab."""
    if not Path(f"/proc/{proc.pid}/stat").exists():  # no procfs: wall time, as good as it gets
        time.sleep(seconds)
        return
    while proc.poll() is None and cpu_seconds(proc.pid) < seconds:
        time.sleep(0.002)


@pytest.mark.parametrize("moment", [0.15, 0.3, 0.8, "Input shape", "epoch  1/"])
@pytest.mark.slow
def test_ctrl_c_at_any_moment_of_a_run_exits_130_and_leaves_nothing(moment, tmp_path, env):
    """SIGINT during start-up (its imports), data preparation, compilation and training: after
    0.15, 0.3 and 0.8 s of the process's CPU time, and when it prints a line."""
    proc = statelab("run", "--input-len", "2000", "--epochs", "30", cwd=tmp_path, env=env)
    if isinstance(moment, str):
        wait_for(proc, moment)
    else:
        wait_cpu(proc, moment)
    proc.send_signal(signal.SIGINT)
    code, _, err = finish(proc)
    assert code == 130, err
    assert err.rstrip().splitlines()[-1] == "statelab: interrupted" and "Traceback" not in err
    assert "Exception ignored" not in err
    assert not (tmp_path / "runs").exists() or list((tmp_path / "runs").iterdir()) == []


@pytest.mark.slow
def test_ctrl_c_during_a_sweep_exits_130_and_keeps_the_committed_trials(tmp_path, env):
    store = tmp_path / "s.sqlite"
    argv = ["sweep", "--input-len", "1000", "--epochs", "20", "--tsteps", "1:4", "--lahead", "1:4"]
    proc = statelab(*argv, "--store", str(store), env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if store.exists():
            db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
            (count,) = db.execute("SELECT COUNT(*) FROM trials").fetchone()
            db.close()
            if count:
                break
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    code, _, err = finish(proc)
    assert code == 130, err
    assert err.rstrip().splitlines()[-1] == "statelab: interrupted" and "Traceback" not in err
    db = sqlite3.connect(store)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    (kept,) = db.execute("SELECT COUNT(*) FROM trials WHERE status = 'ok'").fetchone()
    assert 1 <= kept < 9
    assert db.execute("SELECT COUNT(*) FROM claims").fetchone() == (0,)  # released
    assert not (tmp_path / "s-report").exists()


@pytest.mark.slow
def test_a_killed_runs_temporary_is_removed_by_the_next_run(tmp_path, env):
    proc = statelab("run", "--input-len", "2000", "--epochs", "30", cwd=tmp_path, env=env)
    wait_for(proc, "Test results")  # the run is being saved: its temporary exists
    deadline = time.monotonic() + 30
    while not list((tmp_path / "runs").glob(".*.partial")) and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    left = list((tmp_path / "runs").glob(".*.partial"))
    assert len(left) == 1
    mine = tmp_path / "runs" / ".notes.partial"  # not statelab's pattern: never touched
    mine.mkdir()
    code, _, err = finish(statelab("run", *TINY, cwd=tmp_path, env=env))
    assert code == 0, err
    assert not left[0].exists() and mine.is_dir()


# ---------------------------------------------------------------------------------------------
# Inputs that pass validation and then crash


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--amplitude", "1e300"], ["amplitude must be in [1e-12, 1e+12]"]),
        (["--amplitude", "1e-300"], ["amplitude must be in"]),
        (["--task", "ar", "--amplitude", "1e200"], ["amplitude must be in"]),
        (["--task", "ema", "--alpha", "1e-9"], ["alpha must be in [0.001, 1]"]),
        (["--units", "10000000"], ["units must be an integer in [1, 8192]"]),
        (["--layers", "100000"], ["layers must be an integer in [1, 64]"]),
        (["--layers", "1000000000"], ["layers must be an integer in [1, 64]"]),
        (["--input-len", "1000000000"], ["input_len must be an integer in [2, 10000000]"]),
        (["--units", "8192", "--layers", "64"], ["units must be small enough for the run to fit in memory"]),
        (
            ["--input-len", "10000000", "--lahead", "100000"],
            ["input_len must be small enough", "fit in memory"],
        ),
    ],
)
def test_sizes_and_numbers_that_cannot_be_honoured_are_one_line_errors(argv, words, tmp_path, run_cli):
    t0 = time.monotonic()
    code, _, err = run_cli(["run", *argv, "--out", str(tmp_path / "r")])
    one_line_error(code, err, *words)
    assert list(tmp_path.iterdir()) == []
    assert time.monotonic() - t0 < 60  # refused, not attempted


@pytest.mark.parametrize("task", ["moving-average", "delay", "ema", "ar"])
@pytest.mark.parametrize("amplitude", [1e-12, 1e12])
def test_at_the_amplitude_limits_data_and_floors_are_finite(task, amplitude):
    from statelab.config import from_mapping

    config = from_mapping({"task": task, "amplitude": amplitude, "input_len": 200})
    floors = config.task.record.floors(config.task)
    assert np.isfinite(floors.var_y) and floors.var_y > 0 and np.isfinite(floors.windowed)
    x = config.task.record.generate(config.task).series[0].x.astype(np.float32)
    assert np.all(np.isfinite(x)) and np.any(x != 0)
    assert np.isfinite(np.float32(x.max()) ** 2 * 100)


def test_the_memory_check_names_what_does_not_fit_before_anything_is_allocated():
    from statelab.config import ConfigError, from_mapping
    from statelab.resources import check_memory, memory_estimate

    config = from_mapping({"units": 1000, "layers": 4})
    parts = memory_estimate(config)
    assert parts["parameters"] == 2 * 5 * 4 * (4 * 1000 * (1 + 1000 + 2) + 3 * 4 * 1000 * 2002 + 1001)
    check_memory(config, available=sum(parts.values()) + 2**30)
    with pytest.raises(ConfigError, match=r"^units must be small enough .* 0\.5 GB available\), got 1000$"):
        check_memory(config, available=2**29)
    with pytest.raises(ConfigError, match="for 64 trials trained together"):
        check_memory(config, trials=64, available=sum(parts.values()) + 2**30)


def test_a_diverged_run_writes_strict_json_warns_and_says_diverged(tmp_path, run_cli):
    out = tmp_path / "r"
    code, stdout, err = run_cli(["run", *TINY, "--learning-rate", "1e30", "--out", str(out)])
    assert code == 0, err
    assert "Warning: the stateful model diverged" in stdout and "stateful diverged" in stdout
    metrics = strict_json(out / "metrics.json")
    assert metrics["models"]["stateful"]["diverged"] is True
    assert metrics["models"]["stateful"]["test_mse"] is None and metrics["claim_held"] is False
    assert "diverged" in (out / "report.html").read_text()
    code, _, err = run_cli(["report", str(out)])  # the report draws from the nulls again
    assert code == 0, err


def test_a_diverged_sweep_stores_valid_json_that_the_results_view_and_report_read(tmp_path, run_cli):
    store = tmp_path / "s.sqlite"
    code, _, err = run_cli(["sweep", *TINY, "--learning-rate", "1e30", "--store", str(store)])
    assert code == 0, err
    db = sqlite3.connect(store)
    (metrics,) = db.execute("SELECT metrics FROM trials").fetchone()
    json.loads(metrics, parse_constant=lambda name: pytest.fail(f"the store holds {name}"))
    row = db.execute(
        "SELECT stateful_test_nmse, stateful_diverged, claim_held, stateful_span FROM results"
    ).fetchone()
    assert row == (None, 1, 0, None)  # its memory span is unknown, not -1 ("no lag matters")
    import statelab

    frame = statelab.load_results(store)
    assert frame.stateful_span.isna().all() and frame.stateful_diverged.all()
    assert (tmp_path / "s-report" / "report.html").stat().st_size > 1000


@pytest.fixture
def model_copy(small_run, tmp_path) -> Path:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    return run


def _damage(kind: str, npz: Path) -> None:
    if kind == "empty":
        npz.write_bytes(b"")
    elif kind == "truncated":
        npz.write_bytes(npz.read_bytes()[:200])
    elif kind == "wrong keys":
        np.savez(npz, weights=np.zeros(3))
    elif kind == "wrong shapes":
        with np.load(npz) as data:
            arrays = {k: data[k] for k in data.files}
        arrays["cells.0.kernel"] = np.zeros((3, 80), np.float32)
        np.savez(npz, **arrays)
    elif kind == "not numbers":
        with np.load(npz) as data:
            arrays = {k: data[k] for k in data.files}
        arrays["dense.bias"] = np.array(["x"])
        np.savez(npz, **arrays)


@pytest.mark.parametrize("kind", ["empty", "truncated", "wrong keys", "wrong shapes", "not numbers"])
def test_predict_refuses_a_damaged_saved_model_with_one_line(kind, model_copy, tmp_path, run_cli):
    _damage(kind, model_copy / "models" / "stateful.npz")
    series = tmp_path / "series.csv"
    series.write_text("x\n" + "\n".join(str(v) for v in np.linspace(-0.1, 0.1, 20)) + "\n")
    code, _, err = run_cli(["predict", str(model_copy), "--input", str(series), "--column", "x"])
    one_line_error(code, err, "run_dir must hold")


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda run: (run / "metrics.json").write_text("{not json"), ["metrics.json", "JSONDecodeError"]),
        (lambda run: (run / "metrics.json").write_text("[]"), ["metrics.json"]),
        (lambda run: (run / "predictions.csv").unlink(), ["predictions.csv: missing"]),
        (lambda run: (run / "history.csv").unlink(), ["history.csv: missing"]),
        (lambda run: (run / "history.csv").write_text("model,epoch\nstateful,x\n"), ["history.csv"]),
        (lambda run: (run / "config.json").write_text('{"tsteps": 0}'), ["config.json", "tsteps"]),
        (
            lambda run: (run / "predictions.csv").write_text("row,target\n1,0.5\n"),
            ["predictions.csv", "no column pred_stateful"],
        ),
        (
            lambda run: (run / "history.csv").write_text("model,epoch,train_loss,val_loss\n"),
            ["history.csv", "no rows of model 'stateful'"],
        ),
    ],
)
def test_report_refuses_a_damaged_run_directory_with_one_line(damage, words, model_copy, run_cli):
    damage(model_copy)
    before = snapshot(model_copy)
    code, _, err = run_cli(["report", str(model_copy)])
    one_line_error(code, err, "must be a run directory written by `statelab run`", *words)
    assert snapshot(model_copy) == before


@pytest.mark.parametrize(
    "argv",
    [
        ["sweep", *TINY, "--store", "afile/s.sqlite"],
        ["sweep", *TINY, "--store", ""],
        ["sweep", *TINY, "--store", "s.sqlite", "--out", "afile/x"],
        ["report", "s.sqlite", "--out", "afile/x"],
        ["report", ""],
        ["run", *TINY, "--out", "afile/x"],
        ["run", *TINY, "--out", ""],
    ],
)
def test_paths_under_a_file_or_empty_fail_before_any_work(argv, tmp_path, run_cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("a file")
    if argv[0] == "report" and argv[1]:
        Path(argv[1]).touch()
    before = snapshot(tmp_path)
    code, out, err = run_cli(argv)
    one_line_error(code, err)
    assert out == "" and snapshot(tmp_path) == before


def test_csv_a_field_longer_than_any_block_is_one_short_line(tmp_path, run_cli):
    data = tmp_path / "long.csv"
    data.write_text("x,y\n" + "".join(f"{i / 100},{i}\n" for i in range(300)) + "0.5," + "a" * 200_000 + "\n")
    code, _, err = run_cli(["run", "--task", "file", "--data", str(data), "--column", "y", "--out", "r"])
    one_line_error(code, err, "column 'y' must hold numbers", "(200000 characters)", "on line 302")
    assert len(err) < 400
    # The long field in a column the run does not read is no obstacle.
    out = tmp_path / "ok"
    code, _, err = run_cli(
        ["run", "--task", "file", "--data", str(data), "--column", "x", *TINY[2:], "--out", str(out)]
    )
    assert code == 0, err


def test_csv_a_utf8_bom_is_not_part_of_the_first_column_name(tmp_path, run_cli):
    data = tmp_path / "bom.csv"
    data.write_bytes(b"\xef\xbb\xbfprice,volume\n" + b"".join(b"%f,1\n" % np.sin(i / 5) for i in range(300)))
    out = tmp_path / "r"
    code, _, err = run_cli(
        [
            "run",
            "--task",
            "file",
            "--data",
            str(data),
            "--column",
            "price",
            "--epochs",
            "1",
            "--out",
            str(out),
        ]
    )
    assert code == 0, err
    assert strict_json(out / "metrics.json")["data"]["target"] == "price"


def test_csv_values_near_1e140_are_standardised_without_warnings_or_a_false_constant(tmp_path, run_cli):
    import warnings

    data = tmp_path / "huge.csv"
    values = 1e140 * (1 + np.sin(np.arange(300) / 7))
    data.write_text("x\n" + "".join(f"{float(v)!r}\n" for v in values))
    out = tmp_path / "r"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        code, _, err = run_cli(
            ["run", "--task", "file", "--data", str(data), "--epochs", "1", "--out", str(out)]
        )
    assert code == 0, err
    metrics = strict_json(out / "metrics.json")  # errors in the data's units: squares near 1e280
    assert metrics["var_y"] > 1e278 and metrics["baselines"]["last_value"]["test_nmse"] < 1
    assert not any(m["diverged"] for m in metrics["models"].values())


def test_a_target_whose_squared_errors_overflow_float64_is_one_line_before_training(tmp_path, run_cli):
    data = tmp_path / "huge.csv"
    values = 1e300 * (1 + np.sin(np.arange(300) / 7))  # its errors' squares are beyond 1.8e308
    data.write_text("x\n" + "".join(f"{float(v)!r}\n" for v in values))
    out = tmp_path / "r"
    code, stdout, err = run_cli(
        ["run", "--task", "file", "--data", str(data), "--epochs", "1", "--out", str(out)]
    )
    one_line_error(code, err, "column 'x' must hold values within 1e+150 of its mean", "got 1")
    assert "Epoch" not in stdout and not out.exists()


def test_a_range_with_nan_or_an_infinite_count_is_one_line(tmp_path, run_cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for value in ("nan:1:0.1", "0:1e300:1e-300", "0:1:1e-320", "1:" + "9" * 400):
        flag = "--tsteps" if value.startswith("1:9") else "--amplitude"
        code, _, err = run_cli(["sweep", f"{flag}={value}"])
        one_line_error(code, err, flag.removeprefix("--"))
    assert list(tmp_path.iterdir()) == []


def test_a_grid_file_giving_a_parameter_flat_and_in_its_section_is_refused_as_run_refuses_it(
    tmp_path, run_cli
):
    both = tmp_path / "grid.toml"
    both.write_text('tsteps = "1:3"\n[task]\ntsteps = [4, 5]\n')
    code, _, err_sweep = run_cli(["sweep", "--config", str(both), "--store", str(tmp_path / "s.sqlite")])
    one_line_error(code, err_sweep, "tsteps must be given once, got it both flat and in [task]")
    single = tmp_path / "run.toml"
    single.write_text("tsteps = 2\n[task]\ntsteps = 4\n")
    code, _, err_run = run_cli(["run", "--config", str(single)])
    one_line_error(code, err_run, "tsteps must be given once, got it both flat and in [task]")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.toml", "run.toml"]


def test_a_sweep_over_a_missing_file_is_bad_input_before_anything_runs(tmp_path, run_cli):
    store = tmp_path / "s.sqlite"
    argv = ["sweep", "--task", "file", "--data", str(tmp_path / "gone.csv"), "--lahead", "1,2"]
    code, out, err = run_cli([*argv, "--store", str(store)])
    one_line_error(code, err, "data must be a readable CSV or Parquet file", "no such file", "at grid point")
    assert out == "" and list(tmp_path.iterdir()) == []


def test_workers_beyond_what_the_machine_holds_are_refused_at_once(tmp_path, run_cli):
    t0 = time.monotonic()
    code, _, err = run_cli(["sweep", *TINY, "--workers", "1000", "--store", str(tmp_path / "s.sqlite")])
    one_line_error(code, err, "workers must be an integer in [1, ", "on this machine", "got '1000'")
    assert list(tmp_path.iterdir()) == [] and time.monotonic() - t0 < 30


# ---------------------------------------------------------------------------------------------
# Smaller truths


def test_a_runs_config_json_reads_back_as_a_config_file(small_run, tmp_path, run_cli):
    out = tmp_path / "again"
    code, _, err = run_cli(
        ["run", "--config", str(small_run / "config.json"), "--no-cache", "--out", str(out)]
    )
    assert code == 0, err
    assert (out / "config.json").read_bytes() == (small_run / "config.json").read_bytes()
    assert (out / "metrics.json").read_bytes() == (small_run / "metrics.json").read_bytes()


@pytest.mark.slow
def test_a_relative_data_path_is_stored_resolved_and_its_run_reports_from_elsewhere(tmp_path, env):
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    (work / "series.csv").write_text("x\n" + "".join(f"{np.sin(i / 4):.6f}\n" for i in range(300)))
    code, _, err = finish(
        statelab(
            "run", "--task", "file", "--data", "series.csv", "--epochs", "1", "--out", "r", cwd=work, env=env
        )
    )
    assert code == 0, err
    assert json.loads((work / "r" / "config.json").read_text())["task"]["data"] == str(work / "series.csv")
    code, _, err = finish(statelab("report", str(work / "r"), cwd=elsewhere, env=env))
    assert code == 0, err


def test_two_files_of_one_name_are_different_trials(tmp_path, monkeypatch):
    from statelab.config import from_mapping
    from statelab.identity import config_hash

    monkeypatch.chdir(tmp_path)
    for folder, phase in (("a", 0.0), ("b", 1.0)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "s.csv").write_text(
            "x\n" + "".join(f"{np.sin(i / 4 + phase):.6f}\n" for i in range(50))
        )
    a = from_mapping({"task": "file", "data": "a/s.csv"})
    b = from_mapping({"task": "file", "data": "b/s.csv"})
    assert a.task.data == str(tmp_path / "a" / "s.csv")
    assert config_hash(a) != config_hash(b)
    (tmp_path / "b" / "s.csv").write_bytes((tmp_path / "a" / "s.csv").read_bytes())
    assert config_hash(a) != config_hash(b)  # same content now, but another path
    monkeypatch.chdir(tmp_path / "a")
    assert config_hash(from_mapping({"task": "file", "data": "s.csv"})) == config_hash(a)  # one file


def test_timings_json_times_the_loading_of_the_data(tmp_path, run_cli, monkeypatch):
    from statelab import experiment

    make_dataset = experiment.make_dataset

    def slow_make_dataset(data, config):
        time.sleep(0.3)  # a stand-in for a large file: known time spent cutting it into batches
        return make_dataset(data, config)

    monkeypatch.setattr(experiment, "make_dataset", slow_make_dataset)
    out = tmp_path / "r"
    code, _, err = run_cli(["run", *TINY, "--out", str(out)])
    assert code == 0, err
    assert json.loads((out / "timings.json").read_text())["data_s"] >= 0.3


def test_the_scheduler_timeout_is_a_documented_option():
    help_text = subprocess.run(
        [sys.executable, "-m", "statelab", "sweep", "--help"], capture_output=True, text=True
    ).stdout
    assert "--scheduler-timeout SECONDS" in help_text and "default: 15" in help_text


@pytest.mark.parametrize(
    "argv", [["run", "--ep", "1"], ["sweep", "--sto", "x.sqlite"], ["report", "x", "--o", "d"]]
)
def test_abbreviated_flags_are_refused(argv, tmp_path, run_cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(argv)
    one_line_error(code, err, "unrecognized arguments")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# No user file written over: statelab writes over only what it can prove it wrote


def series_file(folder: Path, n: int = 20, name: str = "in.csv") -> Path:
    path = folder / name
    path.write_text("x\n" + "".join(f"{0.01 * (i % 7) - 0.03}\n" for i in range(n)))
    return path


@pytest.mark.parametrize("header", ["t,prediction", "series,t,input,prediction", '"t","prediction"'])
def test_predict_never_writes_over_a_users_csv_that_merely_looks_like_its_output(
    header, small_run, tmp_path, run_cli
):
    data = series_file(tmp_path)
    out = tmp_path / "mine.csv"
    out.write_text(f"{header}\n1,2\n")
    before = snapshot(tmp_path)
    argv = ["predict", str(small_run), "--input", str(data), "--out", str(out)]
    code, _, err = run_cli(argv)
    one_line_error(code, err, "out must be a new file or one statelab wrote", "--overwrite")
    assert snapshot(tmp_path) == before
    assert run_cli([*argv, "--overwrite"])[0] == 0  # told to: replaced
    assert out.read_text().startswith("t,input,prediction\n")
    data.write_text(data.read_text() + "0.02\n")
    assert run_cli(argv)[0] == 0  # its own output now: replaced without being told
    assert len(out.read_text().splitlines()) == 22


@pytest.mark.parametrize("shape", ["one name", "./name", "a link to it", "a hard link", "the input"])
def test_two_outputs_that_name_one_file_are_a_one_line_error(
    shape, small_run, tmp_path, run_cli, monkeypatch
):
    """--state X --out X (X new) would leave the state where the predictions were meant to go."""
    monkeypatch.chdir(tmp_path)
    series_file(tmp_path)
    args = ["predict", str(small_run), "--input", "in.csv"]
    state, out = (
        "X",
        {"one name": "X", "./name": "./X", "a link to it": "L", "the input": "in.csv"}.get(shape),
    )
    if shape == "a link to it":
        Path("L").symlink_to("X")  # dangling: X does not exist yet
    if shape == "a hard link":
        assert run_cli([*args, "--state", "X"])[0] == 0
        os.link("X", "H")
        out = "H"
    before = snapshot(tmp_path)
    code, stdout, err = run_cli([*args, "--state", state, "--out", out])
    one_line_error(code, err, "out must be another file than")
    assert stdout == "" and snapshot(tmp_path) == before
    if shape == "the input":  # the state file may not be the input either
        code, _, err = run_cli([*args, "--state", "in.csv"])
        one_line_error(code, err, "state must be another file than input")
        assert snapshot(tmp_path) == before


def test_report_never_writes_over_a_run_file_statelab_cannot_prove_it_wrote(model_copy, tmp_path, run_cli):
    # A run directory written today carries the marks of its redrawable files: `report` redraws it.
    assert run_cli(["report", str(model_copy)])[0] == 0
    mine = tmp_path / "mine.html"
    mine.write_text("my own notes")
    (model_copy / "report.html").unlink()
    (model_copy / "report.html").symlink_to(mine)  # a link to a user's file
    code, _, err = run_cli(["report", str(model_copy)])
    one_line_error(code, err, "report.html", "one statelab wrote")
    assert mine.read_text() == "my own notes"
    (model_copy / "report.html").unlink()
    (model_copy / "history.png").write_bytes(b"my edited figure")  # edited since statelab wrote it
    code, _, err = run_cli(["report", str(model_copy)])
    one_line_error(code, err, "history.png")
    assert (model_copy / "history.png").read_bytes() == b"my edited figure"
    assert run_cli(["report", str(model_copy), "--overwrite"])[0] == 0
    assert (model_copy / "history.png").read_bytes().startswith(b"\x89PNG")


def test_a_sweep_report_leaves_a_users_file_in_its_directory(small_store, tmp_path, run_cli):
    out = tmp_path / "rep"
    assert run_cli(["report", str(small_store), "--out", str(out)])[0] == 0
    (out / "heatmap-mine.png").write_bytes(b"my own heatmap")  # a name statelab removes when stale
    (out / "summary.csv").write_text("my own summary\n")
    code, _, err = run_cli(["report", str(small_store), "--out", str(out)])
    one_line_error(code, err, "summary.csv", "--overwrite")
    assert (out / "summary.csv").read_text() == "my own summary\n"
    assert run_cli(["report", str(small_store), "--out", str(out), "--overwrite"])[0] == 0
    assert (out / "summary.csv").read_text() != "my own summary\n"  # told to: written over
    assert (out / "heatmap-mine.png").read_bytes() == b"my own heatmap"  # never removed


# ---------------------------------------------------------------------------------------------
# No finished work lost: numbers beyond float32


def column_file(path: Path, values, name: str = "y") -> Path:
    path.write_text(name + "\n" + "".join(f"{float(v)!r}\n" for v in values))
    return path


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_a_test_value_beyond_float32_once_standardised_is_refused_before_training(command, tmp_path, run_cli):
    values = np.random.default_rng(0).standard_normal(200)
    values[190] = 1e40  # in the test part: far beyond what float32 holds once standardised
    data = column_file(tmp_path / "big.csv", values)
    argv = [command, "--task", "file", "--data", str(data), "--epochs", "1", "--no-cache"]
    where = ["--out", str(tmp_path / "r")] if command == "run" else ["--store", str(tmp_path / "s.sqlite")]
    code, out, err = run_cli([*argv, *where])
    one_line_error(code, err, "column 'y' must hold values within", "1e+40")
    assert out == "" and sorted(p.name for p in tmp_path.iterdir()) == ["big.csv"]


def test_non_finite_numbers_anywhere_in_metrics_json_are_null(small_run):
    """A result whose numbers overflowed (a baseline, the target's variance) still saves as strict
    JSON: the non-finite numbers are null, as the README documents."""
    import dataclasses

    from statelab import experiment, rundir
    from statelab.metrics import BaselineMetrics

    result = experiment.run_experiment(rundir.load_run(small_run).config)
    broken = dataclasses.replace(
        result,
        var_y=float("inf"),
        baselines={
            "last_value": BaselineMetrics(float("inf"), float("nan")),
            "linear_ar": result.baselines["linear_ar"],
        },
    )
    text = json.dumps(broken.metrics_dict(), allow_nan=False)
    metrics = json.loads(text)
    assert metrics["var_y"] is None and metrics["baselines"]["last_value"] == {
        "test_mse": None,
        "test_nmse": None,
    }
    assert metrics["baselines"]["linear_ar"]["test_mse"] == result.baselines["linear_ar"].test_mse


@pytest.fixture(scope="module")
def window_run(tmp_path_factory) -> Path:
    """A run whose predictor carries the last lahead - 1 steps in its state."""
    out = tmp_path_factory.mktemp("rel") / "run"
    assert cli.main(["run", *TINY, "--lahead", "3", "--no-cache", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda s: s.update(recent=[[1e39], [0.0]]), "within float32's range"),
        (lambda s: s.update(state=[[[1e39] * 20, [0.0] * 20]]), "NaN or infinite"),
    ],
    ids=["recent beyond float32", "a state beyond float32"],
)
def test_a_state_beyond_float32_is_one_line_and_nothing_is_written(
    edit, words, window_run, tmp_path, run_cli
):
    data = series_file(tmp_path)
    state = tmp_path / "state.json"
    args = ["predict", str(window_run), "--input", str(data), "--state", str(state)]
    assert run_cli([*args, "--out", str(tmp_path / "first.csv")])[0] == 0
    content = json.loads(state.read_text())
    edit(content["series"][""])
    state.write_text(json.dumps(content))
    before = snapshot(tmp_path)
    code, _, err = run_cli([*args, "--out", str(tmp_path / "second.csv")])
    one_line_error(code, err, "state must hold", words)
    assert snapshot(tmp_path) == before


def test_a_state_at_the_count_limit_is_written_back_within_it_and_reads_back(window_run, tmp_path, run_cli):
    from statelab.predictor import MAX_SEEN

    data = series_file(tmp_path)
    state = tmp_path / "state.json"
    args = [
        "predict",
        str(window_run),
        "--input",
        str(data),
        "--state",
        str(state),
        "--out",
        str(tmp_path / "p.csv"),
    ]
    assert run_cli(args)[0] == 0
    content = json.loads(state.read_text())
    content["series"][""]["seen"] = MAX_SEEN
    state.write_text(json.dumps(content))
    assert run_cli(args)[0] == 0
    assert json.loads(state.read_text())["series"][""]["seen"] == MAX_SEEN  # saturated: its reader's limit
    code, _, err = run_cli(args)
    assert code == 0, err


# ---------------------------------------------------------------------------------------------
# Hangs and sizes


@pytest.mark.parametrize("flag", ["--state", "--config", "--data"])
def test_a_fifo_given_as_a_file_is_refused_at_once(flag, small_run, tmp_path, env):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    data = series_file(tmp_path)
    argv = {
        "--state": ["predict", str(small_run), "--input", str(data), "--state", str(fifo)],
        "--config": ["run", "--config", str(fifo)],
        "--data": ["run", "--task", "file", "--data", str(fifo)],  # its content is part of a run's identity
    }[flag]
    proc = statelab(*argv, env=env)
    try:
        code, out, err = finish(proc, timeout=60)  # reading the FIFO would block here forever
    finally:
        proc.kill()
    one_line_error(code, err, "FIFO" if flag != "--data" else "not a file")
    assert out == ""


def test_a_linear_ar_over_thousands_of_inputs_is_not_fitted_and_the_run_finishes(tmp_path, run_cli):
    """1,000 features with a window of 8 on 40 rows: the linear AR would solve an 8001 x 8001 system;
    it is left out (n/a) and the networks train as ever."""
    rng = np.random.default_rng(0)
    names = [f"f{i}" for i in range(1000)]
    table = rng.standard_normal((40, 1000))
    path = tmp_path / "wide.csv"
    path.write_text(
        ",".join(names) + "\n" + "".join(",".join(f"{v:.4f}" for v in row) + "\n" for row in table)
    )
    out = tmp_path / "r"
    argv = ["run", "--task", "file", "--data", str(path), "--target", "f0", "--features", ",".join(names)]
    code, stdout, err = run_cli(
        [*argv, "--lahead", "8", "--epochs", "1", "--units", "4", "--out", str(out), "--no-cache"]
    )
    assert code == 0, err
    row = next(line for line in stdout.splitlines() if "linear AR(8)" in line)
    assert [cell.strip() for cell in row.strip("│ ").split("│")][1:6] == ["n/a"] * 5  # RMSE ... rank
    metrics = strict_json(out / "metrics.json")
    assert metrics["baselines"]["linear_ar"] == {"test_mse": None, "test_nmse": None}
    assert metrics["baselines"]["last_value"]["test_mse"] is not None


def test_the_memory_check_counts_the_linear_ar_baseline():
    from statelab.config import from_mapping
    from statelab.metrics import MAX_AR_INPUTS
    from statelab.resources import memory_estimate

    def baseline(lahead: int) -> int:
        return memory_estimate(from_mapping({"lahead": lahead, "input_len": 10_000}))["baseline"]

    narrow, wide, beyond = baseline(1), baseline(MAX_AR_INPUTS), baseline(MAX_AR_INPUTS + 1)
    assert 0 < narrow < wide and wide >= 4 * (MAX_AR_INPUTS + 1) ** 2 * 8 and beyond == 0


@pytest.mark.parametrize("missing", ["drop", "interpolate"])
def test_missing_values_that_leave_no_row_are_one_line(missing, tmp_path, run_cli):
    data = tmp_path / "gaps.csv"
    data.write_text("y,a\n1,\n2,\n3,\n")  # a holds no value: nothing to keep or to interpolate from
    argv = ["run", "--task", "file", "--data", str(data), "--target", "y", "--features", "a"]
    code, out, err = run_cli([*argv, "--missing", missing, "--out", str(tmp_path / "r")])
    one_line_error(code, err, "must keep at least one row", f"missing = {missing}")
    assert out == "" and sorted(p.name for p in tmp_path.iterdir()) == ["gaps.csv"]


# ---------------------------------------------------------------------------------------------
# Damaged files statelab wrote: one line


@pytest.mark.parametrize(
    "content",
    [
        "[]",
        '{"scaling": 5}',
        '{"x": {}}',
        '{"features": 5}',
        '{"features": ["x"], "target": 3}',
        '{"features": ["x"], "scaling": {"x": {"mean": "a", "scale": 1}}}',
        '{"features": ["x"], "scaling": {"x": {"mean": 0, "scale": 0}}}',
        '{"features": ["x"], "scaling": {"x": 5}}',
        '{"features": ["x", "y"]}',
    ],
)
@pytest.mark.parametrize("command", ["predict", "export"])
def test_a_damaged_models_data_json_is_one_line(content, command, model_copy, tmp_path, run_cli):
    (model_copy / "models" / "data.json").write_text(content)
    data = series_file(tmp_path)
    argv = (
        ["predict", str(model_copy), "--input", str(data), "--column", "x"]
        if command == "predict"
        else ["export", str(model_copy), "--out", str(tmp_path / "m.keras")]
    )
    before = snapshot(tmp_path)
    code, _, err = run_cli(argv)
    one_line_error(code, err, "data")
    assert snapshot(tmp_path) == before


DEEP_JSON = "[" * 100_000 + "]" * 100_000
DEEP_TOML = "a = " + "[" * 5_000 + "]" * 5_000 + "\n"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("deep.json", '{"tsteps": ' + DEEP_JSON + "}"),
        ("deep.toml", DEEP_TOML),
        ("shallow.json", '{"x": ' + "[" * 40 + "]" * 40 + "}"),
    ],
    ids=["json", "toml", "json-40-levels"],
)
def test_deeply_nested_config_files_are_one_line(name, content, tmp_path, run_cli):
    path = tmp_path / name
    path.write_text(content)
    for argv in (
        ["run", "--config", str(path)],
        ["sweep", "--config", str(path), "--store", str(tmp_path / "s")],
    ):
        code, out, err = run_cli(argv)
        one_line_error(code, err, "config")
        assert out == "" and sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_a_deeply_nested_state_file_is_one_line(small_run, tmp_path, run_cli):
    data = series_file(tmp_path)
    state = tmp_path / "state.json"
    state.write_text('{"format": "statelab.predict-states", "series": ' + DEEP_JSON + "}")
    code, _, err = run_cli(["predict", str(small_run), "--input", str(data), "--state", str(state)])
    one_line_error(code, err, "state must be a state file written by statelab predict", "nested deeper")


DAMAGED_ROWS = [
    ("metrics", "'{not json'"),
    ("metrics", "'5'"),
    ("metrics", """'{"models": 5}'"""),
    ("metrics", """'{"models": {"stateful": {"memory": 5}}}'"""),
    ("metrics", """'{"models": {"stateful": {"test_nmse": "x"}}}'"""),
    ("metrics", """'{"baselines": {"linear_ar": []}}'"""),
    ("metrics", "'" + "[" * 5000 + "]" * 5000 + "'"),
    ("config", "'[]'"),
    ("config", """'{"task": {"tsteps": "two"}}'"""),
    ("timings", """'"x"'"""),
    ("metrics", "x'00ff'"),  # a BLOB where text goes
]


@pytest.fixture
def damaged_store(small_store, tmp_path, request) -> tuple[Path, str]:
    """A copy of small_store whose first trial's row is damaged: (store, the trial's key)."""
    import shutil

    column, value = request.param
    store = tmp_path / "damaged.sqlite"
    shutil.copy(small_store, store)
    db = sqlite3.connect(store)
    (key,) = db.execute("SELECT config_hash FROM trials ORDER BY position LIMIT 1").fetchone()
    db.execute(f"UPDATE trials SET {column} = {value} WHERE config_hash = ?", (key,))
    db.commit()
    db.close()
    return store, key


@pytest.mark.parametrize(
    "damaged_store", DAMAGED_ROWS, indirect=True, ids=[f"{c}={v[:24]}" for c, v in DAMAGED_ROWS]
)
def test_a_damaged_store_row_is_one_line_naming_the_trial(damaged_store, tmp_path, run_cli):
    import statelab
    from statelab.store import StoreError

    store, key = damaged_store
    before = store.read_bytes()
    code, _, err = run_cli(["report", str(store), "--out", str(tmp_path / "rep")])
    one_line_error(code, err, "store must hold trials as statelab records them", key[:16])
    # a sweep refuses it before it trains anything (not once the trials are trained)
    code, out, err = run_cli(["sweep", *TINY, "--tsteps", "1,2,3", "--no-cache", "--store", str(store)])
    one_line_error(code, err, key[:16])
    assert out == "" and store.read_bytes() == before
    for load in (statelab.load_results, statelab.load_history):
        with pytest.raises(StoreError, match=key[:16]):
            load(store)
    assert not (tmp_path / "rep").exists()


# ---------------------------------------------------------------------------------------------
# Faults: a full disk, a read-only folder. One line naming the path and the cause, nothing
# half-written, and a store that a rerun completes.


@pytest.fixture
def small_disk(tmp_path):
    """mount(size) -> a folder on a tmpfs of `size` bytes (root only: skipped where mount is not
    permitted); remount(size=..., read_only=...) changes it. Unmounted afterwards."""
    mounted: list[Path] = []

    def mount(size: int) -> Path:
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")
        mounted.append(folder)
        return folder

    def remount(folder: Path, size: int | None = None, read_only: bool = False) -> None:
        options = ["remount", "ro" if read_only else "rw", *([f"size={size}"] if size else [])]
        subprocess.run(["mount", "-o", ",".join(options), str(folder)], check=True)

    mount.remount = remount  # type: ignore[attr-defined]
    yield mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def visible(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def test_a_run_saved_on_a_full_disk_is_one_line_and_leaves_nothing(small_disk, run_cli):
    disk = small_disk(160 * 1024)  # the run's files fit; its figures and report do not
    code, _, err = run_cli(["run", *TINY, "--no-cache", "--out", str(disk / "r")])
    one_line_error(code, err, "out must be a writable", str(disk / "r"), "No space left on device")
    assert visible(disk) == []


def test_a_sweep_on_a_filling_disk_is_one_line_and_its_store_resumes(small_disk, run_cli):
    disk = small_disk(320 * 1024)  # room for the store and a few trials, not for 40
    store = disk / "s.sqlite"
    argv = [
        "sweep",
        *TINY,
        "--tsteps",
        "1:41",
        "--no-cache",
        "--store",
        str(store),
        "--out",
        str(disk / "rep"),
    ]
    code, _, err = run_cli(argv)
    one_line_error(code, err, str(store), "full")
    assert store.is_file()
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        kept = db.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
    small_disk.remount(disk, size=64 * 2**20)  # room again: the rerun completes the grid
    code, out, err = run_cli(argv)
    assert code == 0, err
    assert f"{kept} already in" in out and committed(store) == 40


def test_predictions_on_a_full_disk_are_one_line_and_write_neither_file(
    small_run, small_disk, tmp_path, run_cli
):
    disk = small_disk(64 * 1024)
    data = series_file(tmp_path, n=20_000)  # about 900 kB of predictions
    args = ["predict", str(small_run), "--input", str(data), "--state", str(disk / "state.json")]
    code, stdout, err = run_cli([*args, "--out", str(disk / "p.csv")])
    one_line_error(code, err, "out must be a writable file path", "No space left on device")
    assert stdout == "" and visible(disk) == []


def test_an_export_on_a_full_disk_is_one_line_and_leaves_nothing(small_run, small_disk, run_cli):
    pytest.importorskip("keras")
    disk = small_disk(8 * 1024)
    code, _, err = run_cli(["export", str(small_run), "--out", str(disk / "m.keras")])
    one_line_error(code, err, "out must be a writable path", "No space left on device")
    assert visible(disk) == []


def test_every_command_in_a_read_only_folder_is_one_line_and_changes_nothing(
    small_run, small_store, small_disk, tmp_path, run_cli
):
    disk = small_disk(4 * 2**20)
    data = series_file(tmp_path)
    assert run_cli(["predict", str(small_run), "--input", str(data), "--out", str(disk / "p.csv")])[0] == 0
    small_disk.remount(disk, read_only=True)
    before = snapshot(disk)
    commands = [
        ["run", *TINY, "--no-cache", "--out", str(disk / "r")],
        ["sweep", *TINY, "--no-cache", "--store", str(disk / "s.sqlite")],
        ["predict", str(small_run), "--input", str(data), "--out", str(disk / "p.csv")],
        ["predict", str(small_run), "--input", str(data), "--state", str(disk / "state.json")],
        ["report", str(small_store), "--out", str(disk / "rep")],
    ]
    if __import__("importlib").util.find_spec("keras") is not None:
        commands.append(["export", str(small_run), "--out", str(disk / "m.keras")])
    for argv in commands:
        code, _, err = run_cli(argv)
        one_line_error(code, err, "Read-only file system")
        assert snapshot(disk) == before, argv


# The same faults injected, where no tmpfs can be mounted (any machine, any user).


@pytest.mark.parametrize("code", [28, 30], ids=["ENOSPC", "EROFS"])
def test_a_run_whose_save_fails_is_one_line_and_leaves_nothing(code, tmp_path, run_cli, monkeypatch):
    import statelab.rundir

    def fails(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(statelab.rundir.np, "savez", fails)
    code_, _, err = run_cli(["run", *TINY, "--no-cache", "--out", str(tmp_path / "r")])
    one_line_error(code_, err, "out must be a writable directory", os.strerror(code))
    assert list(tmp_path.iterdir()) == []


def test_a_sweep_whose_store_fills_up_is_one_line_and_keeps_what_it_committed(tmp_path, run_cli, monkeypatch):
    import statelab.store

    real = statelab.store._encode
    calls = []

    def fills(record):
        calls.append(record.config_hash)
        if len(calls) > 2:
            raise sqlite3.OperationalError("database or disk is full")
        return real(record)

    monkeypatch.setattr(statelab.store, "_encode", fills)
    store = tmp_path / "s.sqlite"
    argv = ["sweep", *TINY, "--tsteps", "1:6", "--no-cache", "--store", str(store)]
    code, _, err = run_cli(argv)
    one_line_error(code, err, f"store must be a writable file, got {str(store)!r} (database or disk is full)")
    assert committed(store) == 2
    monkeypatch.undo()
    code, out, err = run_cli(argv)
    assert code == 0 and "2 already in" in out and committed(store) == 5, err


@pytest.mark.parametrize("code", [28, 30], ids=["ENOSPC", "EROFS"])
def test_an_export_whose_write_fails_is_one_line_and_leaves_nothing(
    code, small_run, tmp_path, run_cli, monkeypatch
):
    keras = pytest.importorskip("keras")

    def fails(self, path, *args, **kwargs):
        Path(path).write_bytes(b"half a model")
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(keras.Model, "save", fails)
    code_, _, err = run_cli(["export", str(small_run), "--out", str(tmp_path / "m.keras")])
    one_line_error(code_, err, "out must be a writable path", os.strerror(code))
    assert list(tmp_path.iterdir()) == []


def test_paths_that_are_not_utf8_are_read_and_written_like_any_other(tmp_path, run_cli):
    """A file system takes names of any bytes; a run, its report, a prediction, a sweep and a data
    file so named work (Arrow and SQLite are handed what they can open), and the reports show
    the odd bytes escaped instead of failing once the training is done."""
    odd = Path(os.fsdecode(bytes(tmp_path) + b"/odd-\xff"))
    odd.mkdir()
    run = odd / "run"
    assert run_cli(["run", *TINY, "--no-cache", "--out", str(run)])[0] == 0
    assert run_cli(["report", str(run)])[0] == 0
    data = series_file(odd)
    assert run_cli(["predict", str(run), "--input", str(data), "--out", str(odd / "p.csv")])[0] == 0
    column_file(odd / "y.csv", np.random.default_rng(0).standard_normal(200))
    store = odd / "s.sqlite"
    argv = ["sweep", "--task", "file", "--data", str(odd / "y.csv"), "--epochs", "1", "--store", str(store)]
    code, _, err = run_cli([*argv, "--no-cache"])
    assert code == 0, err
    assert "odd-\\xff" in (odd / "s-report" / "report.html").read_text()
    assert committed(store) == 1
