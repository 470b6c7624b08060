"""Results and histories as pandas DataFrames: one flat row per trial, one tidy row per epoch.

The one module that imports pandas. Everything else imports it only when a DataFrame is made,
so `statelab run` never pays for pandas.

A results frame (`results_frame`; `statelab.load_results`, `statelab.sweep`) has one row per
trial, indexed by `trial` (its place in grid order), and the columns (named as in the store's
SQL `results` view wherever both have one):

    config_hash, status                         status: "ok" or "error"
    every config field, in config order         task, input_len, tsteps, ..., bptt; <NA> where
                                                the trial's task does not take the parameter
    <model>_<metric>                            model: stateful, stateless; metric: test_mse,
                                                test_nmse, test_mse_all, test_nmse_all,
                                                warmup_excluded, floor_mse, floor_nmse, converged,
                                                expected_converged, final_train_loss,
                                                final_val_loss, diverged, expected,
                                                expected_reason, realised_floor_nmse, floor_low,
                                                floor_high, at_floor, diagnosis (its kind), span,
                                                profile_error, capacity (the total of the state capacity,
                                                sum_k r2(k), at most the state size);
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

Every column has a dtype of its own, whatever the rows (`result_columns`; the README's table of
columns is checked against it): a choice field (task, cell, layout, window_order, test_start,
missing), status, and each model's expected outcome and diagnosis are categorical, with the
allowed values as categories in their order, so frames of different stores and filters
agree; numbers are pandas' nullable Int64 and Float64 and verdicts its nullable boolean, so a
failed trial's row holds <NA> rather than turning a column into objects; text is the nullable
string dtype; finished_at is a UTC timestamp. List-valued fields (ar_coefs, features) are the
one object column: they hold tuples, which pandas can group by, compare with `==` and pass back
into a config (it has no tuple dtype, and its Arrow list
dtype can be neither grouped by nor compared with a tuple).

Rows are kept by config fields with `where` (as `load_results` takes it) and by any column with
`keep` (conditions such as ("stateful_test_nmse", "<", 0.1)); `write_frame` writes a frame as CSV
or Parquet (the lab's downloads).

A history frame (`history_frame`; `statelab.load_history`) is tidy: one row per trial, model and
epoch, with columns trial, config_hash, model, epoch (counted from 0, as Keras counts epochs),
train_loss, val_loss and val_nmse (val_loss / var_y, on the same test rows as test_nmse).
`ExperimentResult.history` is the same for one run, without trial and config_hash.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, TypeVar

import pandas as pd

from statelab.config import FIELD_SECTION, check_field, field_choices, field_kind
from statelab.grid import axis_values
from statelab.metrics import DIAGNOSIS_KINDS, BaselineMetrics, ModelMetrics, PeerMetrics
from statelab.names import BASELINES, HISTORY_COLUMNS, MEMORY_NUMBERS, MODELS
from statelab.params import ConfigError
from statelab.result import HISTORY_DTYPES, ExperimentResult, history_rows
from statelab.store import PEER_NAMES, TrialRecord, peer_column
from statelab.theory import OUTCOMES

if TYPE_CHECKING:
    from statelab.store import Store

T = TypeVar("T")

# How a column is read from a trial's record.
Reader = Callable[[TrialRecord], Any]

CATEGORY = "category"
TUPLES = "object"  # list-valued config fields: tuples (see the module docstring)
TIMESTAMP: Final = "datetime64[ns, UTC]"
STATUSES = ("ok", "error")
PEER_STATUSES = ("ok", "failed")
KIND_DTYPES = {"int": "Int64", "float": "Float64", "str": "string", "floats": TUPLES, "strs": TUPLES}
# The scalars of a memory profile; a span is <NA> where undefined (a diffuse or diverged profile).
MEMORY_DTYPES = {"span": "Int64", "profile_error": "Float64"}
TIMINGS = {"data_s": "Float64", "train_s": "Float64", "evaluate_s": "Float64"}
TIMINGS |= {"group_train_s": "Float64", "group_size": "Int64"}
RUN_NUMBERS = {"var_y": "Float64", "claim_held": "boolean", "n_train": "Int64", "n_test": "Int64"}
RUN_NUMBERS |= {"dropped_train_rows": "Int64"}
TEXT = {"error": "string", "statelab_version": "string", "worker": "string", "finished_at": TIMESTAMP}


@dataclass(frozen=True)
class Column:
    """A results frame's column: its dtype and how a trial's record gives its value."""

    dtype: str  # a pandas dtype name; "category" with `categories`
    read: Reader
    categories: tuple[str, ...] = ()  # a categorical column's allowed values, in their order


def _metric_dtype(annotation: Any) -> str:
    """A ModelMetrics field's dtype from its annotation: 'float | None' -> Float64, 'str | None' ->
    string, and so on."""
    text = str(annotation)
    if text.startswith("str"):
        return "string"
    return "boolean" if text.startswith("bool") else "Int64" if text.startswith("int") else "Float64"


def _listless(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value  # lists as tuples: hashable, groupable


def _metrics(record: TrialRecord) -> dict[str, Any]:
    return record.metrics if record.metrics is not None else {}  # a failed trial has none


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


def _model_capacity(model: str) -> Reader:
    """The total of the model's state capacity, sum r2(k); None before statelab measured it."""

    def read(r: TrialRecord) -> Any:
        memory = _metrics(r).get("models", {}).get(model, {}).get("memory") or {}
        return (memory.get("capacity") or {}).get("total")

    return read


def _baseline(baseline: str, key: str) -> Reader:
    return lambda r: _metrics(r).get("baselines", {}).get(baseline, {}).get(key)


def _peer(peer: str, key: str) -> Reader:
    return lambda r: (_metrics(r).get("peers") or {}).get(peer, {}).get(key)


# A real series' verdict: {column: (dtype, path into metrics.json's "verdict")}
VERDICT_COLUMNS = {
    "best_network": ("string", ("best_network",)),
    "best_peer": ("string", ("best_peer",)),
    "memory_p_value": ("Float64", ("memory", "p_value")),
    "memory_better": ("string", ("memory", "better")),
    "network_vs_peer_p_value": ("Float64", ("network_vs_peer", "p_value")),
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


def _config_column(section: str, name: str) -> Column:
    choices = field_choices(name)
    if choices:
        return Column(CATEGORY, _config_field(section, name), choices)
    return Column(KIND_DTYPES[field_kind(name)], _config_field(section, name))


def _metric_column(model: str, f: dataclasses.Field) -> Column:
    """A ModelMetrics field's column: a diagnosis by its kind, and the names of an expected
    outcome or a diagnosis as categories; the rest by their annotation."""
    if f.name == "diagnosis":  # a record: its kind is the column
        return Column(CATEGORY, _model_diagnosis(model), DIAGNOSIS_KINDS)
    if f.name == "expected":
        return Column(CATEGORY, _model_metric(model, f.name), OUTCOMES)
    return Column(_metric_dtype(f.type), _model_metric(model, f.name))


def result_columns() -> dict[str, Column]:
    """Every column of a results frame, in order (see the module docstring); config fields are
    read live from the tasks, so a task registered later brings its parameters' columns."""
    columns = {
        "config_hash": Column("string", _attribute("config_hash")),
        "status": Column(CATEGORY, _attribute("status"), STATUSES),
    }
    for name, section in FIELD_SECTION.items():
        columns[name] = _config_column(section, name)
    for model in MODELS:
        for f in dataclasses.fields(ModelMetrics):
            columns[f"{model}_{f.name}"] = _metric_column(model, f)
        for key in MEMORY_NUMBERS:
            columns[f"{model}_{key}"] = Column(MEMORY_DTYPES[key], _model_memory(model, key))
        columns[f"{model}_capacity"] = Column("Float64", _model_capacity(model))
    for baseline in BASELINES:
        for f in dataclasses.fields(BaselineMetrics):  # test_mse -> last_value_mse, ...
            columns[f"{baseline}_{f.name.removeprefix('test_')}"] = Column(
                _metric_dtype(f.type), _baseline(baseline, f.name)
            )
    for peer in PEER_NAMES:  # a real series' classical peers: seasonal_naive_nmse, ...
        for f in dataclasses.fields(PeerMetrics):
            name = f"{peer_column(peer)}_{f.name.removeprefix('test_')}"
            if f.name == "status":
                columns[name] = Column(CATEGORY, _peer(peer, f.name), PEER_STATUSES)
            else:
                columns[name] = Column(_metric_dtype(f.type), _peer(peer, f.name))
    columns |= {key: Column(dtype, _verdict(*path)) for key, (dtype, path) in VERDICT_COLUMNS.items()}
    columns |= {key: Column(dtype, _run_number(key)) for key, dtype in RUN_NUMBERS.items()}
    columns |= {key: Column(dtype, _timing(key)) for key, dtype in TIMINGS.items()}
    columns |= {key: Column(dtype, _attribute(key)) for key, dtype in TEXT.items()}
    return columns


HISTORY_FRAME_COLUMNS = ("trial", "config_hash", *HISTORY_COLUMNS)


def _series(column: Column, values: list[Any]) -> pd.Series:
    """A column's values with its dtype. A categorical column keeps its allowed values as its
    categories (a value outside them, from a task this process does not know, is added after)."""
    if column.dtype == CATEGORY:
        extra = sorted({v for v in values if v is not None} - set(column.categories))
        return pd.Series(pd.Categorical(values, categories=[*column.categories, *extra]))
    if column.dtype == TIMESTAMP:
        return pd.Series(pd.to_datetime(values, utc=True, format="ISO8601")).astype(TIMESTAMP)
    return pd.Series(values, dtype=column.dtype)


def trial_row(record: TrialRecord, columns: Mapping[str, Column] | None = None) -> dict[str, Any]:
    """One trial as a flat row: {column: value}, None where the trial has no value."""
    return {name: column.read(record) for name, column in (columns or result_columns()).items()}


def matches(where: Mapping[str, Any] | None) -> Callable[[Mapping[str, Any]], bool]:
    """A test of a flat row against `where` ({config field: value or list of values}).

    Values are read as a grid axis is (`grid.axis_values`): a scalar, or a list, tuple or range
    of values (for a list-valued field, a list of lists), and each is checked by its field's own
    rule (`config.check_field`): an unknown field, a value of the wrong type or one no config can
    hold (`cell="gruu"`, `lahead=0`, a task that does not exist) is a ConfigError naming the rule
    or the allowed values; a possible value that no trial has matches nothing.
    """
    if where is None:
        return lambda row: True
    if not isinstance(where, Mapping):
        raise ConfigError(f"where must be a mapping of config fields to values, got {where!r}")
    wanted = {name: {_as_stored(name, v) for v in axis_values(name, value)} for name, value in where.items()}
    return lambda row: all(row.get(name) in values for name, values in wanted.items())


def _as_stored(name: str, value: Any) -> Any:
    """A value as a trial's config holds it: a task by its name (`csv` is `file`), a value as its
    rule normalises it (a data file's absolute path, a list as a tuple)."""
    return _listless(check_field(name, value))


def results_frame(records: Sequence[TrialRecord], where: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The results frame of `records` (in their order; the index counts them from 0), keeping
    the trials that match `where`. See the module docstring for the columns."""
    keep = matches(where)
    columns = result_columns()
    rows = {i: row for i, record in enumerate(records) if keep(row := trial_row(record, columns))}
    index = pd.Index(list(rows), name="trial", dtype="int64")
    data = {name: _series(column, [row[name] for row in rows.values()]) for name, column in columns.items()}
    return pd.DataFrame({name: series.set_axis(index) for name, series in data.items()}, index=index)


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
    columns = result_columns()
    trial = {r.config_hash: i for i, r in enumerate(records) if keep(trial_row(r, columns))}
    rows = [{"trial": trial[h["config_hash"]], **h} for h in history if h["config_hash"] in trial]
    frame = pd.DataFrame.from_records(rows, columns=list(HISTORY_FRAME_COLUMNS))
    return frame.astype({"trial": "int64", "config_hash": "string"} | HISTORY_DTYPES)


def run_history(result: ExperimentResult) -> pd.DataFrame:
    """One run's history: model, epoch (from 0), train_loss, val_loss, val_nmse."""
    frame = pd.DataFrame.from_records(history_rows(result), columns=list(HISTORY_COLUMNS))
    return frame.astype(HISTORY_DTYPES)


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
