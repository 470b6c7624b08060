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
                                                final_val_loss, diverged, span, profile_error
    <baseline>_mse, <baseline>_nmse             baseline: last_value, linear_ar
    var_y, claim_held, n_train, n_test, dropped_train_rows
    data_s, train_s, evaluate_s, group_train_s, group_size
                                                seconds; a sweep trains a group of trials in one
                                                program, so train_s is its time / group_size
    error, statelab_version, worker, finished_at

Integers are pandas' nullable Int64, verdicts its nullable boolean, so a failed trial's row holds
<NA> rather than turning whole columns into floats or objects. List-valued fields (ar_coefs,
features) hold tuples.

Rows are kept by config fields with `where` (as `load_results` takes it) and by any column with
`keep` (conditions such as ("stateful_test_nmse", "<", 0.1)); `write_frame` writes a frame as CSV
or Parquet (the lab's downloads).

A history frame (`history_frame`; `statelab.load_history`) is tidy: one row per trial, model and
epoch, with columns trial, config_hash, model, epoch (from 1), train_loss, val_loss and val_nmse
(val_loss / var_y, on the same test rows as test_nmse). `ExperimentResult.history` is the same for
one run, without trial and config_hash.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import pandas as pd

from statelab import tasks
from statelab.config import FIELD_SECTION, field_kind
from statelab.grid import axis_values
from statelab.metrics import BaselineMetrics, ModelMetrics
from statelab.params import ConfigError
from statelab.result import ExperimentResult, history_rows
from statelab.store import HISTORY_COLUMNS, TrialRecord

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
            columns[f"{baseline}_{f.name.removeprefix('test_')}"] = ("float64", _baseline(baseline, f.name))
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


OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
FORMATS = ("csv", "parquet")


def keep(frame: pd.DataFrame, conditions: Sequence[tuple[str, str, Any]]) -> pd.DataFrame:
    """The rows of `frame` that meet every condition (column, operator, value). Operators: =, !=,
    <, <=, >, >= (a number against a number column, else compared as text), and ~ (the text
    holds the value, any case). A row without a value in the column meets none but !=.
    ConfigError names an unknown column or operator, or a value of the wrong kind."""
    mask = pd.Series(True, index=frame.index)
    for column, op, value in conditions:
        if column not in frame.columns:
            raise ConfigError(f"filter must name a column of the results, got {column!r}")
        if op != "~" and op not in OPERATORS:
            raise ConfigError(f"filter must use one of {', '.join([*OPERATORS, '~'])}, got {op!r}")
        values = frame[column]
        if op == "~":
            text = values.map(cell_text, na_action="ignore").astype("string")
            met = text.str.contains(str(value), case=False, regex=False)
        elif pd.api.types.is_bool_dtype(values.dtype):
            wanted = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
            if str(value).lower() not in wanted:
                raise ConfigError(f"filter {column} must compare with true or false, got {value!r}")
            met = OPERATORS[op](values, wanted[str(value).lower()])
        elif pd.api.types.is_numeric_dtype(values.dtype):
            try:
                number = float(value)
            except ValueError:
                raise ConfigError(f"filter {column} must compare with a number, got {value!r}") from None
            met = OPERATORS[op](values, number)
        else:
            met = OPERATORS[op](values.map(cell_text, na_action="ignore").astype("string"), str(value))
        met = met.astype("boolean")
        mask &= met.fillna(op == "!=")
    return frame[mask.astype(bool)]


def cell_text(value: Any) -> str:
    """A value as the command line writes it: a list as a comma list."""
    return ",".join(str(v) for v in value) if isinstance(value, tuple) else str(value)


def write_frame(frame: pd.DataFrame, fh: IO[bytes], kind: str) -> None:
    """A results or history frame as a file, its index (`trial`) first: "csv" (list values as
    comma lists, as the command line takes them; no value as an empty field) or "parquet"
    (Apache Arrow: nullable integers and verdicts keep their types, lists stay lists)."""
    if kind == "parquet":
        frame.to_parquet(fh, engine="pyarrow")
    elif kind == "csv":
        shown = frame.copy()
        for column in shown.columns[[dtype == "object" for dtype in shown.dtypes]]:
            shown[column] = shown[column].map(cell_text, na_action="ignore")
        fh.write(shown.to_csv().encode("utf-8"))
    else:
        raise ConfigError(f"format must be one of {', '.join(FORMATS)}, got {kind!r}")


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
