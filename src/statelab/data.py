"""Users' files: CSV and Parquet, several features, many series, time order, missing values.

    file --read_panel--> Panel (per series: features (L, F), target (L,), in time order)
         --forecast--> TaskData (standardised; y[t] = target[t + horizon])

Files are read with Apache Arrow's readers (`pyarrow.csv`, `pyarrow.parquet`), which parse in
parallel, in native code, and only the columns asked for. Rows are grouped by the `series` column
(in order of first appearance) and sorted by the `time` column within each series; a time that
appears twice in one series is an error. Missing values (empty cells, NA, NaN, null) follow the
`missing` policy: `error` (the default) names the first missing cell; `drop` drops its row;
`interpolate` fills interior gaps linearly within the series and drops leading and trailing ones.

Scaling: every column is standardised with the mean and standard deviation of the values the
training part reads (the first `train_fraction` of each series' windows, their inputs and their
targets), pooled over series, so nothing of the test part leaks into it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from statelab.params import ConfigError
from statelab.tasks.base import Series, TaskData

MISSING = ("error", "drop", "interpolate")
PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True)
class Panel:
    """The columns of a file, cut into series and put in time order."""

    names: list[str]  # series ids in order of first appearance ("" for a file of one series)
    features: list[np.ndarray]  # per series (L_s, F) float64
    target: list[np.ndarray]  # per series (L_s,) float64
    feature_names: tuple[str, ...]
    target_name: str
    notes: dict[str, Any] = field(default_factory=dict)  # rows read, dropped, interpolated


SHOWN_CHARS = 60  # a cell quoted in an error message is cut to this many characters


def _shown(value: Any) -> str:
    """A cell's value for an error message: its repr, cut short (a field may be megabytes long)."""
    text = repr(value if not isinstance(value, np.floating) else float(value))
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}... ({len(str(value))} characters)"


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= 200 else line[:200] + "..."


def read_table(path: str | Path, columns: list[str], param: str = "data") -> dict[str, np.ndarray]:
    """The named columns of a CSV or Parquet file as NumPy arrays (numbers as float64 with NaN
    for missing cells; other types as object arrays). ConfigError for a missing or unreadable
    file or column."""
    import pyarrow as pa

    path = Path(path)
    if not path.is_file():
        found = "not a file" if path.exists() else "no such file"
        raise ConfigError(f"{param} must be a readable CSV or Parquet file, got {str(path)!r} ({found})")
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            import pyarrow.parquet as pq

            schema = pq.read_schema(path)
            _check_columns(columns, list(schema.names), param, path)
            table = pq.read_table(path, columns=columns)
        else:
            import pyarrow.csv as pcsv

            header = _csv_header(path, param)
            _check_columns(columns, header, param, path)
            table = pcsv.read_csv(
                path,
                read_options=pcsv.ReadOptions(block_size=1 << 24),
                convert_options=pcsv.ConvertOptions(include_columns=columns, strings_can_be_null=True),
            )
    except ConfigError:
        raise
    except (OSError, pa.ArrowException, ValueError) as exc:
        kind = "Parquet" if path.suffix.lower() in PARQUET_SUFFIXES else "CSV"
        raise ConfigError(
            f"{param} must be a readable {kind} file, got {str(path)!r} ({_reason(exc)})"
        ) from None
    return {name: _to_numpy(table.column(name)) for name in columns}


def _csv_header(path: Path, param: str) -> list[str]:
    """The column names of a CSV file, read with Arrow from its first block."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    try:
        reader = pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=1 << 24))
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            raise ConfigError(
                f"{param} must be a CSV file with a header row, got an empty file {str(path)!r}"
            ) from None
        raise
    return [name.strip() for name in reader.schema.names]


def _check_columns(columns: list[str], present: list[str], param: str, path: Path) -> None:
    for name in columns:
        if name not in present:
            shown = ", ".join(_shown(p) for p in present[:12]) + (", ..." if len(present) > 12 else "")
            raise ConfigError(f"column must be one of [{shown}] in {str(path)!r}, got {_shown(name)}")


def _to_numpy(column: Any) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    if (
        pa.types.is_integer(column.type)
        or pa.types.is_floating(column.type)
        or pa.types.is_decimal(column.type)
    ):
        return pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
    if pa.types.is_null(column.type):
        return np.full(len(column), np.nan)
    return np.asarray(column.to_pylist(), dtype=object)


def _numeric(values: np.ndarray, name: str) -> np.ndarray:
    """A column that must hold numbers: float64, NaN where missing. ConfigError names the first
    cell that is not a number, with its line in the file (the header is line 1)."""
    if values.dtype == object:
        for line, value in enumerate(values.tolist(), start=2):
            if value is None:
                continue
            try:
                float(value)
            except (TypeError, ValueError):
                raise ConfigError(
                    f"column {name!r} must hold numbers, got {_shown(value)} on line {line}"
                ) from None
        values = np.array([np.nan if v is None else float(v) for v in values.tolist()])
    bad = np.isinf(values)
    if bad.any():
        line = int(np.flatnonzero(bad)[0]) + 2
        raise ConfigError(
            f"column {name!r} must hold finite numbers, got {_shown(values[line - 2])} on line {line}"
        )
    return values


def read_panel(
    path: str | Path,
    target: str | None,
    features: tuple[str, ...] | None = None,
    series: str | None = None,
    time: str | None = None,
    missing: str = "error",
    param: str = "data",
    target_param: str = "target",
) -> Panel:
    """Read a file into series in time order. `target` may be left out for a one-column file;
    `features` default to the target alone. Errors name the file's parameter as `param` and the
    target's as `target_param`."""
    if target is None:
        header = _header_of(path, param)
        if len(header) != 1:
            raise ConfigError(
                f"{target_param} must name one of the {len(header)} columns {header[:12]}, got none"
            )
        target = header[0]
    features = tuple(features) if features else (target,)
    keys = [c for c in (series, time) if c is not None]
    numeric = list(dict.fromkeys([*features, target]))
    for name in keys:
        if name in numeric:
            role = "series" if name == series else "time"
            raise ConfigError(f"{role} must not also be a feature or the target, got {name!r}")
    columns = read_table(path, list(dict.fromkeys([*numeric, *keys])), param)
    values = {name: _numeric(columns[name], name) for name in numeric}
    n = len(values[target])
    if n == 0:
        raise ConfigError(f"{param} must hold at least one row of values, got none in {str(path)!r}")
    line = np.arange(n) + 2  # file line of each row (the header is line 1), for messages
    ids = columns[series].astype(str) if series is not None else np.full(n, "", dtype=object)
    names = list(dict.fromkeys(ids.tolist()))
    order = _time_order(ids, names, columns.get(time) if time is not None else None, time)
    x = np.stack([values[f] for f in features], axis=1)[order]  # (n, F)
    y = values[target][order]
    ids, line = ids[order], line[order]
    x, y, ids, notes = _apply_missing(x, y, ids, line, features, target, missing, param)
    notes["rows_read"] = n
    bounds = np.flatnonzero(ids[1:] != ids[:-1]) + 1 if len(ids) else np.array([], int)
    starts, ends = np.r_[0, bounds], np.r_[bounds, len(ids)]
    kept = [str(ids[s]) for s in starts] if len(ids) else []
    return Panel(
        names=kept,
        features=[x[s:e] for s, e in zip(starts, ends)],
        target=[y[s:e] for s, e in zip(starts, ends)],
        feature_names=features,
        target_name=target,
        notes=notes,
    )


def _header_of(path: str | Path, param: str) -> list[str]:
    path = Path(path)
    if not path.is_file():
        found = "not a file" if path.exists() else "no such file"
        raise ConfigError(f"{param} must be a readable CSV or Parquet file, got {str(path)!r} ({found})")
    if path.suffix.lower() in PARQUET_SUFFIXES:
        import pyarrow.parquet as pq

        try:
            return list(pq.read_schema(path).names)
        except Exception as exc:
            raise ConfigError(
                f"{param} must be a readable Parquet file, got {str(path)!r} ({_reason(exc)})"
            ) from None
    try:
        return _csv_header(path, param)
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(
            f"{param} must be a readable CSV file, got {str(path)!r} ({_reason(exc)})"
        ) from None


def _time_order(ids: np.ndarray, names: list[str], times: np.ndarray | None, time: str | None) -> np.ndarray:
    """Row order: series in order of first appearance, then time (stable: file order on ties)."""
    rank = {name: i for i, name in enumerate(names)}
    series_rank = (
        np.array([rank[i] for i in ids.tolist()], dtype=np.int64)
        if len(names) > 1
        else np.zeros(len(ids), np.int64)
    )
    if times is None:
        return np.argsort(series_rank, kind="stable")
    if times.dtype == object:
        if any(t is None for t in times):
            raise ConfigError(f"time column {time!r} must have no missing values, got an empty cell")
        try:
            _, key = np.unique(times, return_inverse=True)
        except TypeError:
            raise ConfigError(
                f"time column {time!r} must hold values of one sortable kind, got mixed values"
            ) from None
    else:
        if np.isnan(times).any():
            raise ConfigError(f"time column {time!r} must have no missing values, got an empty cell")
        key = times
    order = np.lexsort((key, series_rank))
    same = (series_rank[order][1:] == series_rank[order][:-1]) & (
        np.asarray(key)[order][1:] == np.asarray(key)[order][:-1]
    )
    if same.any():
        i = order[int(np.flatnonzero(same)[0]) + 1]
        where = f" in series {_shown(ids[i])}" if len(names) > 1 else ""
        raise ConfigError(f"time must be unique within a series, got {_shown(times[i])} twice{where}")
    return order


def _apply_missing(x, y, ids, line, features, target, policy, param):
    """Missing cells by policy: error, drop the row, or interpolate within the series."""
    table = np.column_stack([x, y])  # (n, F + 1)
    bad = np.isnan(table)
    notes: dict[str, Any] = {"rows_dropped": 0, "cells_interpolated": 0}
    if not bad.any():
        return x, y, ids, notes
    if policy == "error":
        row, col = np.argwhere(bad)[0]
        name = features[col] if col < len(features) else target
        where = f" (series {_shown(ids[row])})" if ids[row] != "" else ""
        raise ConfigError(
            f"{param} must have no missing values (missing = error; or drop, interpolate), got an empty "
            f"cell in column {name!r} on line {int(line[row])}{where}"
        )
    if policy == "interpolate":
        filled = 0
        for s in dict.fromkeys(ids.tolist()):
            rows = np.flatnonzero(ids == s)
            for c in range(table.shape[1]):
                column = table[rows, c]
                gaps = np.isnan(column)
                known = np.flatnonzero(~gaps)
                if len(known) == 0:
                    continue
                inner = gaps & (np.arange(len(column)) > known[0]) & (np.arange(len(column)) < known[-1])
                column[inner] = np.interp(np.flatnonzero(inner), known, column[known])
                table[rows, c] = column
                filled += int(inner.sum())
        notes["cells_interpolated"] = filled
        bad = np.isnan(table)
    keep = ~bad.any(axis=1)
    notes["rows_dropped"] = int((~keep).sum())
    return table[keep, :-1], table[keep, -1], ids[keep], notes


# ---------------------------------------------------------------------------------------------
# From a panel to forecasting data


def _stats(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation; a constant column keeps scale 1. Values beyond 1e150 would
    overflow their squares, so those are computed at a smaller scale."""
    top = float(np.max(np.abs(values))) if len(values) else 0.0
    if top < 1e150:
        return float(values.mean()), float(values.std()) or 1.0
    scaled = values / top
    return float(scaled.mean()) * top, (float(scaled.std()) * top) or 1.0


def forecast(panel: Panel, lahead: int, horizon: int, train_fraction: float) -> TaskData:
    """Forecasting data: the window of features ending at t predicts target[t + horizon].

    Each series is split in time (its first `train_fraction` of windows trains). Every column is
    standardised with the statistics of the values the training windows read or predict.
    """
    from statelab.config import split_rows  # one split rule everywhere

    fit_x, fit_y = [], []  # per series: what the training windows read, and read or predict
    for s, (x, y) in enumerate(zip(panel.features, panel.target)):
        n_rows = len(x) - (lahead - 1) - horizon
        if n_rows < 2:
            name = f"series {panel.names[s]!r}" if panel.names[s] else "the series"
            raise ConfigError(
                f"data must give {name} more than lahead + horizon = {lahead + horizon} values, got {len(x)}"
            )
        reads = lahead - 1 + split_rows(n_rows, train_fraction)[0]  # inputs of the training windows
        fit_x.append(x[:reads])
        fit_y.append(y[: reads + horizon])  # up to the last training target
    # Each column once, with the same statistics wherever it appears.
    stats = {panel.target_name: _stats(np.concatenate(fit_y))}
    for j, name in enumerate(panel.feature_names):
        stats.setdefault(name, _stats(np.concatenate([f[:, j] for f in fit_x])))
    t_mean, t_scale = stats[panel.target_name]
    out = []
    for name, x, y in zip(panel.names, panel.features, panel.target):
        xs = np.column_stack(
            [(x[:, j] - stats[f][0]) / stats[f][1] for j, f in enumerate(panel.feature_names)]
        )
        ys = (y - t_mean) / t_scale
        target = np.append(ys[horizon:], np.full(horizon, np.nan))  # y[t] = target[t + horizon]
        out.append(Series(x=xs, y=target, last=ys, to_drop=lahead - 1, drop_end=horizon, name=name))
    notes = {**panel.notes, "horizon": horizon}
    return TaskData(out, features=panel.feature_names, target=panel.target_name, notes=notes)
