"""Results and histories as pandas DataFrames: one flat row per trial, one tidy row per epoch.

The one module that imports pandas. Everything else imports it only when a DataFrame is made,
so `statelab run` never pays for pandas.

A results frame (`results_frame`; `statelab.load_results`,
`statelab.sweep`) has one row per trial, indexed by `trial` (its place in grid order), and the
columns (named as in the store's SQL `results` view wherever both have one):

    config_hash, status                         status: "ok" or "error"
    every config field, in config order         task, input_len, tsteps, ..., bptt; <NA> where
                                                the trial's task does not take the parameter
    <model>_<metric>                            model: stateful, stateless; metric: test_mse,
                                                test_nmse, test_mse_all, test_nmse_all,
                                                warmup_excluded, floor_mse, floor_nmse, converged,
                                                expected_converged, final_train_loss,
                                                final_val_loss, diverged, span, profile_error;
                                                a real series also rmse, mae, mase (in the
                                                data's units), rank, skill, best_epoch
    <baseline>_mse, <baseline>_nmse             baseline: last_value, linear_ar; a real series'
                                                also <baseline>_rmse, _mae, _mase, _rank
    <peer>_status, _detail, _mse, _nmse, _rmse, _mae, _mase, _rank
                                                a real series' classical peers: seasonal_naive,
                                                ets, arima (status "ok" or "failed", detail: what
                                                was fitted or why it failed); <NA> elsewhere
    best_network, best_peer, memory_p_value, memory_better, network_vs_peer_p_value,
    network_vs_peer_better                      a real series' verdict (Diebold-Mariano tests)
    var_y, claim_held, n_train, n_test, dropped_train_rows
    data_s, train_s, evaluate_s, group_train_s, group_size
                                                seconds; a sweep trains a group of trials in one
                                                program, so train_s is its time / group_size
    error, statelab_version, worker, finished_at

Integers are pandas' nullable Int64, verdicts its nullable boolean, so a failed trial's row holds
<NA> rather than turning whole columns into floats or objects. List-valued fields (ar_coefs,
features) hold tuples.

A history frame (`history_frame`; `statelab.load_history`) is tidy: one row per trial, model and
epoch, with columns trial, config_hash, model, epoch (from 1), train_loss, val_loss and val_nmse
(val_loss / var_y, on the same test rows as test_nmse). `ExperimentResult.history` is the same for
one run, without trial and config_hash.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd

from statelab import tasks
from statelab.config import FIELD_SECTION, field_kind
from statelab.grid import axis_values
from statelab.metrics import BaselineMetrics, ModelMetrics, PeerMetrics
from statelab.params import ConfigError
from statelab.result import ExperimentResult, history_rows
from statelab.store import HISTORY_COLUMNS, PEER_NAMES, TrialRecord, peer_column

if TYPE_CHECKING:
    from statelab.store import Store

T = TypeVar("T")

MODELS = ("stateful", "stateless")
BASELINES = ("last_value", "linear_ar")
# The scalars of a memory profile; a span is NaN where undefined (a diffuse or diverged profile).
MEMORY_DTYPES = {"span": "float64", "profile_error": "float64"}
TIMINGS = {"data_s": "float64", "train_s": "float64", "evaluate_s": "float64"}
TIMINGS |= {"group_train_s": "float64", "group_size": "Int64"}
RUN_NUMBERS = {"var_y": "float64", "claim_held": "boolean", "n_train": "Int64", "n_test": "Int64"}
RUN_NUMBERS |= {"dropped_train_rows": "Int64"}
TEXT = ("error", "statelab_version", "worker", "finished_at")
KIND_DTYPES = {"int": "Int64", "float": "float64"}  # config fields; words and lists stay objects


def _metric_dtype(annotation: Any) -> str:
    """A ModelMetrics field's dtype from its annotation: 'float | None' -> float64, 'str | None' ->
    string, and so on."""
    text = str(annotation)
    if text.startswith("str"):
        return "string"
    return "boolean" if text.startswith("bool") else "Int64" if text.startswith("int") else "float64"


def _listless(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value  # lists as tuples: hashable, groupable


def _metrics(record: TrialRecord) -> dict[str, Any]:
    return record.metrics if record.metrics is not None else {}  # a failed trial has none


# How a column is read from a trial's record.
Reader = Callable[[TrialRecord], Any]
# column name -> (dtype, or None to let pandas infer; its reader)
Column = tuple[str | None, Reader]


def _config_field(section: str, name: str) -> Reader:
    return lambda r: _listless(r.config.get(section, {}).get(name))


def _model_metric(model: str, key: str) -> Reader:
    return lambda r: _metrics(r).get("models", {}).get(model, {}).get(key)


def _model_diagnosis(model: str) -> Reader:
    return lambda r: (_metrics(r).get("models", {}).get(model, {}).get("diagnosis") or {}).get("kind")


def _model_memory(model: str, key: str) -> Reader:
    def read(r: TrialRecord) -> Any:
        value = (_metrics(r).get("models", {}).get(model, {}).get("memory") or {}).get(key)
        return None if key == "span" and value is not None and value < 0 else value  # 0.2 wrote -1

    return read


def _baseline(baseline: str, key: str) -> Reader:
    return lambda r: _metrics(r).get("baselines", {}).get(baseline, {}).get(key)


def _peer(peer: str, key: str) -> Reader:
    return lambda r: (_metrics(r).get("peers") or {}).get(peer, {}).get(key)


# A real series' verdict: {column: (dtype, path into metrics.json's "verdict")}
VERDICT_COLUMNS = {
    "best_network": ("string", ("best_network",)),
    "best_peer": ("string", ("best_peer",)),
    "memory_p_value": ("float64", ("memory", "p_value")),
    "memory_better": ("string", ("memory", "better")),
    "network_vs_peer_p_value": ("float64", ("network_vs_peer", "p_value")),
    "network_vs_peer_better": ("string", ("network_vs_peer", "better")),
}


def _verdict(*path: str) -> Reader:
    def read(r: TrialRecord) -> Any:
        value: Any = _metrics(r).get("verdict")
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        return value

    return read


def _run_number(key: str) -> Reader:
    return lambda r: _metrics(r).get(key)


def _timing(key: str) -> Reader:
    return lambda r: r.timings.get(key)


def _attribute(key: str) -> Reader:
    return lambda r: getattr(r, key)


def _schema() -> dict[str, Column]:
    """Every column of a results frame, in order (see the module docstring)."""
    columns: dict[str, Column] = {
        "config_hash": (None, _attribute("config_hash")),
        "status": (None, _attribute("status")),
    }
    for name, section in FIELD_SECTION.items():
        columns[name] = (KIND_DTYPES.get(field_kind(name)), _config_field(section, name))
    for model in MODELS:
        for f in dataclasses.fields(ModelMetrics):
            if f.name == "diagnosis":  # a record: its kind is the column
                columns[f"{model}_diagnosis"] = ("string", _model_diagnosis(model))
                continue
            columns[f"{model}_{f.name}"] = (_metric_dtype(f.type), _model_metric(model, f.name))
        for key, dtype in MEMORY_DTYPES.items():
            columns[f"{model}_{key}"] = (dtype, _model_memory(model, key))
    for baseline in BASELINES:
        for f in dataclasses.fields(BaselineMetrics):  # test_mse -> last_value_mse, ...
            dtype = "Int64" if f.name == "rank" else "float64"
            columns[f"{baseline}_{f.name.removeprefix('test_')}"] = (dtype, _baseline(baseline, f.name))
    for peer in PEER_NAMES:  # a real series' classical peers: seasonal_naive_nmse, ...
        for f in dataclasses.fields(PeerMetrics):
            name = f"{peer_column(peer)}_{f.name.removeprefix('test_')}"
            columns[name] = (_metric_dtype(f.type), _peer(peer, f.name))
    columns |= {key: (dtype, _verdict(*path)) for key, (dtype, path) in VERDICT_COLUMNS.items()}
    columns |= {key: (dtype, _run_number(key)) for key, dtype in RUN_NUMBERS.items()}
    columns |= {key: (dtype, _timing(key)) for key, dtype in TIMINGS.items()}
    columns |= {key: (None, _attribute(key)) for key in TEXT}
    return columns


def result_columns() -> dict[str, Column]:
    """Every column of a results frame (`_schema`), read afresh: a task registered later brings its
    parameters' columns."""
    return _schema()


HISTORY_FRAME_COLUMNS = ("trial", "config_hash", *HISTORY_COLUMNS)


def trial_row(record: TrialRecord) -> dict[str, Any]:
    """One trial as a flat row: {column: value}, None where the trial has no value."""
    return {name: read(record) for name, (_, read) in result_columns().items()}


def matches(where: Mapping[str, Any] | None) -> Callable[[Mapping[str, Any]], bool]:
    """A test of a flat row against `where` ({config field: value or list of values}).

    Values are read as a grid axis is (`grid.axis_values`): a scalar, or a list, tuple or range
    of values (for a list-valued field, a list of lists). ConfigError names an unknown field or a
    value of the wrong type.
    """
    if where is None:
        return lambda row: True
    if not isinstance(where, Mapping):
        raise ConfigError(f"where must be a mapping of config fields to values, got {where!r}")
    wanted = {name: {_as_stored(name, v) for v in axis_values(name, value)} for name, value in where.items()}
    return lambda row: all(row.get(name) in values for name, values in wanted.items())


def _as_stored(name: str, value: Any) -> Any:
    """A value as a trial's config holds it: a task by its name (`csv` is `file`), a task
    parameter as its rule normalises it (a data file's absolute path, a list as a tuple)."""
    if name == "task":
        return tasks.get(value).name
    param = tasks.PARAMS.get(name)
    return _listless(param.check(value)) if param is not None else value


def results_frame(records: Sequence[TrialRecord], where: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The results frame of `records` (in their order; the index counts them from 0), keeping
    the trials that match `where`. See the module docstring for the columns."""
    keep = matches(where)
    columns = result_columns()
    rows = {
        i: row
        for i, record in enumerate(records)
        if keep(row := {name: read(record) for name, (_, read) in columns.items()})
    }
    frame = pd.DataFrame.from_records(list(rows.values()), columns=list(columns))
    frame.index = pd.Index(list(rows), name="trial", dtype="int64")
    return frame.astype({name: dtype for name, (dtype, _) in columns.items() if dtype is not None})


def history_frame(
    records: Sequence[TrialRecord],
    history: Sequence[Mapping[str, Any]],
    where: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """The tidy history of `records` from their history rows (`Store.history()`), `trial`
    numbered as in `results_frame(records)`, keeping the trials that match `where`."""
    keep = matches(where)
    trial = {r.config_hash: i for i, r in enumerate(records) if keep(trial_row(r))}
    rows = [{"trial": trial[h["config_hash"]], **h} for h in history if h["config_hash"] in trial]
    frame = pd.DataFrame.from_records(rows, columns=list(HISTORY_FRAME_COLUMNS))
    return frame.astype({"trial": "int64", "epoch": "int64"} | dict.fromkeys(HISTORY_COLUMNS[2:], "float64"))


def run_history(result: ExperimentResult) -> pd.DataFrame:
    """One run's history: model, epoch, train_loss, val_loss, val_nmse."""
    frame = pd.DataFrame.from_records(history_rows(result), columns=list(HISTORY_COLUMNS))
    return frame.astype({"epoch": "int64"} | dict.fromkeys(HISTORY_COLUMNS[2:], "float64"))


def _read(store: Store | str | Path, read: Callable[[Store], T]) -> T:
    """read(store) on a Store, or on the store at a path (opened for this call only)."""
    from statelab.store import Store

    if isinstance(store, Store):
        return read(store)
    with Store.open(store) as opened:
        return read(opened)


def load_results(store: Store | str | Path, where: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The results frame of every trial in a store (a Store or its path), in grid order."""
    return _read(store, lambda s: results_frame(s.records(), where))


def load_history(store: Store | str | Path, where: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The history frame of every trial in a store (a Store or its path), in grid order."""
    return _read(store, lambda s: history_frame(s.records(), s.history(), where))
