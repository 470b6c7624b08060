"""Shared test helpers: the original Keras example's data recipe, written out independently."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pytest


class OriginalData(NamedTuple):
    raw: np.ndarray  # (input_len + to_drop,) the uniform draws, before anything is dropped
    inputs: np.ndarray  # (input_len, lahead) the shifted columns: column i holds x[t - i]
    target: np.ndarray  # (input_len,) the rolling mean


def original_data(input_len: int, tsteps: int, lahead: int, amplitude: float, seed: int) -> OriginalData:
    """The data of keras-team/keras examples/lstm_stateful.py, step by step as it did them.

    Legacy global seeding, a one-column DataFrame, pandas' rolling mean as the target, and for
    lahead > 1 the column repeated lahead times with column i shifted down by i rows. The first
    rows without full history are then dropped. The global NumPy state is restored afterwards.
    """
    saved = np.random.get_state()
    try:
        np.random.seed(seed)
        n_drop = max(tsteps - 1, lahead - 1)
        frame = pd.DataFrame(np.random.uniform(-1 * amplitude, +1 * amplitude, input_len + n_drop))
    finally:
        np.random.set_state(saved)
    raw = frame.values[:, 0].copy()
    expected = frame.rolling(window=tsteps, center=False).mean()
    inputs = frame
    if lahead > 1:
        inputs = pd.DataFrame(np.repeat(inputs.values, repeats=lahead, axis=1))
        for i, column in enumerate(inputs.columns):
            inputs[column] = inputs[column].shift(i)
    expected = expected[n_drop:]
    inputs = inputs[n_drop:]
    return OriginalData(raw=raw, inputs=inputs.values, target=expected.values[:, 0])


def original_split(x: np.ndarray, y: np.ndarray, input_len: int, batch_size: int, ratio: float = 0.8):
    """The original's split_data: train trimmed to whole batches, test trimmed by input_len % B."""
    to_train = int(input_len * ratio)
    to_train -= to_train % batch_size
    x_train, y_train, x_test, y_test = x[:to_train], y[:to_train], x[to_train:], y[to_train:]
    tail = x.shape[0] % batch_size
    if tail > 0:
        x_test, y_test = x_test[:-tail], y_test[:-tail]
    return (x_train, y_train), (x_test, y_test)


@pytest.fixture(scope="session", autouse=True)
def no_compilation_cache():
    """statelab keeps compiled programs in a per-user cache by default; tests never write there
    (tests of the cache itself lift this for themselves, in a directory of their own)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STATELAB_NO_CACHE", "1")
        yield


@pytest.fixture(scope="session")
def original() -> Callable[..., OriginalData]:
    return original_data


@pytest.fixture(scope="session")
def split_like_original() -> Callable:
    return original_split


@pytest.fixture
def run_cli(capsys) -> Callable[[list[str]], tuple[int, str, str]]:
    """Run `statelab ARGV` in this process: (exit code, stdout, stderr).

    In-process, so the compiled programs are shared between tests.
    """
    from statelab.cli import main

    def run(argv: list[str]) -> tuple[int, str, str]:
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err

    return run


# A small sweep shared by the DataFrame and API tests: two tasks, two window lengths, two seeds.
# Axes in this order give the trials in this order (points in axis order, replicates together;
# `delay` applies to the delay task only, `tsteps` to moving-average only).
SMALL_GRID = {
    "task": ["moving-average", "delay"],
    "tsteps": [1, 2],
    "delay": 1,
    "lahead": [2, 1],
    "input_len": 200,
    "epochs": 2,
}
SMALL_GRID_ORDER = [  # (task, tsteps, delay, lahead, seed, model_seed)
    (task, tsteps, delay, lahead, 1986 + r, r)
    for task, tsteps, delay, lahead in [
        ("moving-average", 1, None, 2),
        ("moving-average", 1, None, 1),
        ("moving-average", 2, None, 2),
        ("moving-average", 2, None, 1),
        ("delay", None, 1, 2),
        ("delay", None, 1, 1),
    ]
    for r in range(2)
]


class SmallSweep(NamedTuple):
    store: Path
    frame: pd.DataFrame  # what statelab.sweep returned


@pytest.fixture(scope="session")
def small_sweep(tmp_path_factory) -> SmallSweep:
    """SMALL_GRID x 2 seeds (12 trials, two compiled shapes) run by statelab.sweep into a store."""
    import statelab

    store = tmp_path_factory.mktemp("small-sweep") / "small.sqlite"
    return SmallSweep(store, statelab.sweep(SMALL_GRID, seeds=2, store=store, progress=False))


# --- users' files: several features, many series ----------------------------------------------


def panel_frame(n_series: int, length: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Columns of a synthetic multi-series file, rows in time-major order (every series at time 0,
    then every series at time 1, ...), as sensor logs come.

    Per series: features `a` and `b` are independent standard normal noise and the target `y[t]` is
    the mean of `b` over the three steps before t, so the next value y[t + 1] is the mean of
    b[t-2..t]: a model that sees only b[t] (a window of one) explains a third of its variance at
    best (normalised MSE 2/3), one that remembers b's last three values explains all of it.
    """
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n_series, length))
    b = rng.standard_normal((n_series, length))
    y = np.full((n_series, length), np.nan)
    for t in range(3, length):
        y[:, t] = b[:, t - 3 : t].mean(axis=1)
    t = np.arange(3, length)  # the first three steps have no target: not written
    return {
        "id": np.array([f"unit-{s}" for s in range(n_series)] * len(t)),
        "time": np.repeat(t, n_series),
        "a": a[:, 3:].T.ravel(),
        "b": b[:, 3:].T.ravel(),
        "y": y[:, 3:].T.ravel(),
    }


def write_frame(path, columns: dict[str, np.ndarray]):
    """A dict of columns as a CSV or Parquet file (by the path's suffix), written with Arrow."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    table = pa.table({k: pa.array(np.asarray(v).tolist()) for k, v in columns.items()})
    if str(path).endswith(".parquet"):
        pq.write_table(table, path)
    else:
        pcsv.write_csv(table, path)
    return path


@pytest.fixture(scope="session")
def panel_file(tmp_path_factory):
    """A CSV of 6 series x 297 rows (panel_frame)."""
    return write_frame(tmp_path_factory.mktemp("panel") / "sensors.csv", panel_frame(6, 300, seed=3))


PANEL_RUN = {
    "task": "file",
    "target": "y",
    "features": "a,b",
    "series": "id",
    "time": "time",
    "lahead": 1,
    "batch_size": 4,
    "epochs": 12,
    "learning_rate": 0.01,
    "model_seed": 0,
}


@pytest.fixture(scope="session")
def panel_run(panel_file, tmp_path_factory):
    """A stateful and a stateless model trained on panel_file with --series: (result, run dir)."""
    from statelab import experiment
    from statelab.config import from_mapping

    result = experiment.run_experiment(from_mapping({**PANEL_RUN, "data": str(panel_file)}))
    out = experiment.save_run(result, tmp_path_factory.mktemp("panel-run") / "run")
    return result, out
