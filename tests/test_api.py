"""statelab from Python: sweeps like the CLI's, bad input, progress, NumPy integers, a cheap import,
documented signatures."""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import sqlite3
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import statelab
from conftest import SMALL_GRID
from statelab import ConfigError, display
from statelab.cli import main
from statelab.config import ExperimentConfig, ModelConfig, TaskConfig, TrainConfig
from statelab.identity import config_hash


def stored(path) -> dict[str, tuple[dict, int]]:
    db = sqlite3.connect(path)
    return {
        h: (json.loads(m), p) for h, m, p in db.execute("SELECT config_hash, metrics, position FROM trials")
    }


@pytest.mark.slow
def test_a_python_sweep_stores_what_the_cli_sweep_stores(small_sweep, tmp_path, capsys):
    cli_store = tmp_path / "cli.sqlite"
    args = ["--task", "moving-average,delay", "--tsteps", "1,2", "--delay", "1", "--lahead", "2,1"]
    assert (
        main(
            ["sweep", *args, "--input-len", "200", "--epochs", "2", "--seeds", "2", "--store", str(cli_store)]
        )
        == 0
    )
    capsys.readouterr()
    # The same trials, at the same grid positions, with bit-identical metrics.
    assert stored(cli_store) == stored(small_sweep.store)


def test_a_rerun_skips_every_stored_trial_and_returns_the_same_frame(small_sweep, tmp_path):
    again = statelab.sweep(
        SMALL_GRID, seeds=2, store=small_sweep.store, progress=False, report=tmp_path / "r"
    )
    done = dict(again.attrs["sweep"], wall_s=0)
    assert done == {"total": 12, "ran": 0, "skipped": 12, "failed": 0, "wall_s": 0}
    pd.testing.assert_frame_equal(again, small_sweep.frame)
    trials = pd.read_csv(tmp_path / "r" / "trials.csv")  # the report, drawn from the store
    assert (
        sorted(trials.config_hash) == sorted(again.config_hash) and (tmp_path / "r" / "report.html").is_file()
    )


def test_the_frame_follows_this_grids_order_even_in_a_store_written_in_another(small_sweep):
    # Axes in the other order: lahead varies slowest now. Every trial is already stored.
    grid = {"lahead": [1, 2], "task": ["delay", "moving-average"], "tsteps": [2, 1], "delay": 1}
    frame = statelab.sweep(
        {**grid, "input_len": 200, "epochs": 2}, seeds=2, store=small_sweep.store, progress=False
    )
    assert frame.attrs["sweep"]["ran"] == 0
    assert list(frame.lahead) == [1] * 6 + [2] * 6
    assert list(frame.task[:6]) == ["delay"] * 2 + ["moving-average"] * 4
    assert list(frame.tsteps[2:6]) == [2, 2, 1, 1]
    assert list(frame.index) == list(range(12))


@pytest.mark.parametrize(
    ("grid", "seeds", "message"),
    [
        ({"colour": ["red"]}, 1, "unknown parameter colour = ['red']"),
        ({"tsteps": [1.5]}, 1, "tsteps must be an integer or a list of them, got [1.5]"),
        ({"cell": ["lstm", "transformer"]}, 1, "cell must be one of lstm, gru, simple, got 'transformer'"),
        ({"tsteps": range(3, 3)}, 1, "tsteps must be a non-empty list of values, got range(3, 3)"),
        ({"lahead": "0:2"}, 1, "lahead must be an integer >= 1, got 0 (at grid point lahead=0)"),
        ({"tsteps": 2}, 0, "seeds must be an integer >= 1, got 0"),
        ({"tsteps": 2}, 2.5, "seeds must be an integer >= 1, got 2.5"),
        (
            [("tsteps", 2)],
            1,
            "grid must be a mapping of parameters to values or a grid file, got [('tsteps', 2)]",
        ),
    ],
)
def test_bad_grids_are_config_errors_naming_the_parameter_and_write_nothing(tmp_path, grid, seeds, message):
    with pytest.raises(ConfigError) as error:
        statelab.sweep(grid, seeds=seeds, store=tmp_path / "s.sqlite", progress=False)
    assert message in str(error.value)
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_a_store_is_refused_and_left_alone(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    with pytest.raises(ConfigError, match="store must be an existing statelab sweep store"):
        statelab.sweep({"tsteps": 2}, store=notes, progress=False)
    assert notes.read_text() == "my notes\n"


def test_progress_goes_to_a_callable_or_nowhere(tmp_path, capsys):
    seen: list[tuple[float, int, int]] = []
    grid = {"tsteps": [1, 2, 3], "input_len": 200, "epochs": 2}
    statelab.sweep(grid, store=tmp_path / "a.sqlite", progress=lambda *news: seen.append(news))
    assert seen[-1] == (3, 3, 0)
    assert [c for c, _, _ in seen] == sorted(c for c, _, _ in seen)
    # Off a terminal and outside a notebook the default shows nothing, as `statelab sweep` does.
    statelab.sweep(grid, store=tmp_path / "b.sqlite")
    statelab.sweep({**grid, "epochs": 1}, store=tmp_path / "c.sqlite", progress=False)
    assert capsys.readouterr() == ("", "")


def test_in_a_notebook_the_sweep_shows_a_tqdm_bar(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(display, "in_notebook", lambda: True)
    statelab.sweep({"tsteps": [1, 2], "input_len": 200, "epochs": 2}, store=tmp_path / "s.sqlite")
    err = capsys.readouterr().err
    assert "trials 100%" in err and "2/2 done, 0 failed" in err


def test_numpy_integers_are_taken_wherever_integers_are(tmp_path):
    plain = ExperimentConfig(TaskConfig(tsteps=3, input_len=200), ModelConfig(units=8), TrainConfig(epochs=2))
    numpy = ExperimentConfig(
        TaskConfig(tsteps=np.int64(3), input_len=np.int32(200)),
        ModelConfig(units=np.int16(8)),
        TrainConfig(epochs=np.uint8(2)),
    )
    assert numpy == plain and config_hash(numpy) == config_hash(plain)
    assert type(numpy.task.tsteps) is int
    frame = statelab.sweep(
        {"tsteps": np.arange(1, 3), "input_len": np.int64(200), "epochs": np.int64(2)},
        seeds=np.int64(2),
        store=tmp_path / "s.sqlite",
        progress=False,
    )
    assert list(frame.tsteps) == [1, 1, 2, 2] and list(frame.seed) == [1986, 1987, 1986, 1987]
    picked = statelab.load_results(
        tmp_path / "s.sqlite", where={"tsteps": np.int64(2), "seed": np.arange(1987, 1990)}
    )
    assert list(picked.index) == [3]


def test_import_statelab_and_its_cli_load_neither_jax_nor_pandas():
    code = (
        "import sys, statelab, statelab.cli\n"
        "try:\n    statelab.cli.main(['run', '--tsteps', '0'])\nexcept SystemExit:\n    pass\n"
        "print(' '.join(m for m in ('jax', 'pandas', 'matplotlib', 'tqdm') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    assert "tsteps must be an integer >= 1, got 0" in out.stderr


NOT_FOR_A_RUN = ("pandas", "dask", "distributed", "fastapi", "uvicorn", "starlette", "scipy", "statsmodels")
LISTED = "print(' '.join(m for m in sys.argv[1:] if m in sys.modules))"


@pytest.fixture(scope="module")
def run_imports(tmp_path_factory) -> dict[str, set[str]]:
    """The heavy packages a one-epoch `statelab run` (every other setting its default) imports, in
    its own process and in the helper process that draws its report (statelab.report.worker).

    The run is `statelab.cli.main` in a fresh interpreter; the helper's part is replayed after it
    by the helper's own `main`, fed what the run fed it: the config, then the run directory."""
    out = tmp_path_factory.mktemp("imports") / "run"
    watched = [*NOT_FOR_A_RUN, "pyarrow"]
    argv = ["run", "--epochs", "1", "--out", str(out)]
    run = f"import sys, statelab.cli\nassert statelab.cli.main({argv!r}) == 0\n"
    ran = subprocess.run(
        [sys.executable, "-c", run + LISTED, *watched], capture_output=True, text=True, check=True
    )
    helper = f"import sys\nfrom statelab.report.worker import main\nmain()\n{LISTED}"
    config = (out / "config.json").read_text()
    feed = json.dumps(json.loads(config)) + "\n" + json.dumps(str(out)) + "\n"
    drew = subprocess.run(
        [sys.executable, "-c", helper, *watched], input=feed, capture_output=True, text=True, check=True
    )
    assert drew.stdout.splitlines()[:2] == ["ready", "ok"], drew.stdout + drew.stderr
    return {
        "run": set(ran.stdout.splitlines()[-1].split()),
        "report": set(drew.stdout.splitlines()[2].split()),
    }


@pytest.mark.slow
def test_statelab_run_imports_no_dataframes_cluster_web_server_or_statistics_library(run_imports):
    for process, modules in run_imports.items():
        assert not modules & set(NOT_FOR_A_RUN), process


@pytest.mark.xfail(
    strict=True,
    reason="predictions.csv is written with Arrow (rundir.write_predictions) and read back with it "
    "for the report in the helper process (rundir.read_predictions -> data.files.header)",
)
@pytest.mark.slow
def test_statelab_run_imports_no_pyarrow(run_imports):
    assert "pyarrow" not in run_imports["run"] and "pyarrow" not in run_imports["report"]


def test_import_statelab_loads_no_numpy_so_the_cli_handles_ctrl_c_before_anything_heavy():
    code = "import sys, statelab, statelab.interrupt; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_public_function_is_annotated_and_documented():
    for name in ("run_experiment", "sweep", "load_results", "load_history"):
        function = getattr(statelab, name)
        signature = inspect.signature(function)
        assert signature.return_annotation is not inspect.Signature.empty, name
        for parameter in signature.parameters.values():
            assert parameter.annotation is not inspect.Parameter.empty, (name, parameter.name)
        doc = inspect.getdoc(function)
        for section in ("Args:", "Returns:", "Raises:"):
            assert section in doc, (name, section)
        for parameter in signature.parameters:
            assert f"{parameter}:" in doc, (name, parameter)
    assert "(N,)" in inspect.getdoc(statelab.ExperimentResult)  # array shapes are stated
    assert "DataFrame" in inspect.getdoc(statelab.ExperimentResult.history)
    exported = {name for name in statelab.__all__ if not name.startswith("_")}
    # every export resolves (each loads its module when first asked for) and dir() lists it
    assert all(hasattr(statelab, name) for name in exported) and exported <= set(dir(statelab))


NOT_STATELABS = {"Any", "Mapping", "Path", "np", "ndarray", "integer", "pd", "DataFrame", "None"}
NOT_STATELABS |= {"str", "int", "float", "bool", "dict", "list", "tuple", "Callable"}


def _names(annotation: object) -> set[str]:
    return set(re.findall(r"[A-Za-z_]\w*", str(annotation)))


def test_every_type_a_public_signature_or_result_record_names_can_be_imported_from_statelab():
    """Typed code can name whatever the API hands it or takes: `result.models["stateful"]` is a
    statelab.ModelMetrics, `result.floors` a statelab.Floors, `store=` a statelab.Store, and so
    on down every record (each loads its module when first used: `import statelab` stays cheap)."""
    named: set[str] = set()
    functions = (statelab.run_experiment, statelab.save_run, statelab.sweep, statelab.load_results)
    for function in (*functions, statelab.doctor):
        signature = inspect.signature(function)
        named |= _names(signature.return_annotation)
        for parameter in signature.parameters.values():
            named |= _names(parameter.annotation)
    records = [statelab.ExperimentResult, statelab.ExperimentConfig, statelab.ModelMetrics, statelab.Memory]
    records += [statelab.Diagnosis, statelab.RealisedFloor]
    for record in records:
        for field in dataclasses.fields(record):
            named |= _names(field.type)
    ours = named - NOT_STATELABS
    assert {"ModelMetrics", "BaselineMetrics", "Memory", "Floors", "ExperimentConfig", "EpochLogs"} <= ours
    for name in sorted(ours):
        assert name in statelab.__all__ and hasattr(statelab, name), name


def test_a_grid_file_that_cannot_be_read_is_named_as_the_grid_argument(tmp_path):
    with pytest.raises(ConfigError, match=r"^grid must be a readable file, got 'tsteps=3' \(No such file"):
        statelab.sweep("tsteps=3", store=tmp_path / "s.sqlite", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_grid_file_is_a_grid_and_seeds_overrides_its_replicates(tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text('seeds = 2\ntsteps = "1:3"\n[task]\ninput_len = 200\n[train]\nepochs = 2\n')
    frame = statelab.sweep(grid, store=tmp_path / "s.sqlite", progress=False)
    assert list(zip(frame.tsteps, frame.seed)) == [(1, 1986), (1, 1987), (2, 1986), (2, 1987)]
    one = statelab.sweep(str(grid), seeds=1, store=tmp_path / "s.sqlite", progress=False)
    assert list(one.tsteps) == [1, 2] and one.attrs["sweep"]["ran"] == 0


# --- bad values a hostile caller passes: each a one-line ConfigError before any work ----------------

TINY = {"input_len": 200, "epochs": 1}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"on_epoch": 5}, "on_epoch must be a callable taking 2 positional arguments, or None, got 5"),
        ({"on_epoch": lambda logs: None}, "on_epoch must be a callable taking 2 positional arguments"),
        ({"out": 5}, "out must be a writable directory path, got 5"),
        ({"cache": "no"}, "cache must be True or False, got 'no'"),
        ({"dataset": 5}, "dataset must be a Dataset made by experiment.prepare(config), got int"),
    ],
)
def test_bad_arguments_to_run_experiment_are_config_errors_before_training(arguments, message, monkeypatch):
    from statelab import train

    monkeypatch.setattr(train, "fit", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(ConfigError) as error:
        statelab.run_experiment(TINY, **arguments)
    assert str(error.value) == message or str(error.value).startswith(message)


def test_a_dataset_of_another_config_is_refused_and_one_of_the_same_layout_is_shared():
    from statelab import experiment
    from statelab.config import from_mapping

    dataset = experiment.prepare(from_mapping({**TINY, "tsteps": 5}))
    with pytest.raises(
        ConfigError, match=r"^dataset must be prepared for this config .*tsteps=2\), got .*tsteps=5$"
    ):
        statelab.run_experiment(TINY, dataset=dataset)
    # Another model on the same data: the dataset serves it (and gives what its own would).
    result = statelab.run_experiment({**TINY, "tsteps": 5, "units": 4}, dataset=dataset)
    alone = statelab.run_experiment({**TINY, "tsteps": 5, "units": 4})
    assert result.metrics_dict()["models"] == alone.metrics_dict()["models"]


def test_bad_sweep_arguments_are_config_errors_before_anything_is_trained_or_written(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine\n")
    store = tmp_path / "s.sqlite"
    for arguments, message in [
        ({"report": theirs}, "report must be a new or empty directory, or a report directory statelab"),
        ({"report": 5}, "report must be a writable directory path, got 5"),
        ({"progress": lambda: None}, "progress must be a callable taking 3 positional arguments"),
        ({"cache": "x"}, "cache must be True or False, got 'x'"),
    ]:
        with pytest.raises(ConfigError) as error:
            statelab.sweep(TINY, store=store, **{"progress": False, **arguments})
        assert str(error.value).startswith(message), error.value
    assert sorted(p.name for p in tmp_path.iterdir()) == ["theirs"]


def test_a_config_error_is_one_line_even_for_a_value_whose_repr_is_not(tmp_path):
    with pytest.raises(ConfigError) as error:
        statelab.sweep({"tsteps": np.ones((2, 2), int)}, store=tmp_path / "s.sqlite", progress=False)
    assert "\n" not in str(error.value) and str(error.value).startswith("tsteps must be an integer or a list")


def test_load_results_of_a_folder_says_a_store_is_needed(tmp_path):
    with pytest.raises(
        ConfigError, match=r"^store must be an existing statelab sweep store .* \(not a file\)$"
    ):
        statelab.load_results(tmp_path)
