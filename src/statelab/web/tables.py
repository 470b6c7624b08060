"""A store's trials as one table: rows of `load_results`, filtered, sorted, paged; its downloads;
the per-epoch curves of chosen trials; the trials in parallel coordinates.

Every row comes from `frames.results_frame` over the store's records, exactly as
`statelab.load_results(store, where)` makes it: a filter on a config field in the grid syntax
(`tsteps:1:3`, `cell:gru,lstm`) is its `where`; a filter with an operator (`stateful_test_nmse:<0.1`,
`status:=error`, `error:~nan`) keeps rows by `frames.keep`. A download is that frame, in grid
order, written by `frames.write_frame`. Curves come from the store's history table
(`Store.history`), numbered as `load_history` numbers them.

A store of 10,000 trials takes a few seconds to read and turn into a frame, so the records and
the frames made of them are kept (`Tables`) until the store's files change: a page that sorts,
filters or turns pages asks again and gets its answer at once.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from statelab import frames
from statelab.config import FIELD_SECTION, ConfigError
from statelab.names import MODELS
from statelab.store import Store, TrialRecord
from statelab.web.figures import DASHES, Figure, layout_base, values
from statelab.web.stores import has_trials
from statelab.web.views import jsonable

PAGE = 100  # rows of a page unless asked otherwise
MAX_PAGE = 1000
MAX_CURVES = 40  # trials whose curves overlay at once
KEPT_FRAMES = 8  # filtered frames kept per store
FILTER = re.compile(r"^(?P<column>[A-Za-z0-9_]+):(?P<text>.*)$", re.S)
OPERATOR = re.compile(r"^\s*(?P<op><=|>=|!=|<|>|=|~)\s*(?P<value>.*?)\s*$", re.S)
PALETTE = (  # a colour per trial of an overlay (the models are told apart by line style)
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
    "#ff7f0e", "#7f7f7f",
)  # fmt: skip
MODEL_DASH = {"stateful": "solid", "stateless": "dash"}


# ---------------------------------------------------------------------------------------------
# Reading, once per change of the store


Stamp = tuple[int, ...]


def stamp(path: Path) -> Stamp:
    """Changes whenever a trial is committed: the store's and its write-ahead log's times and sizes."""
    out: list[int] = []
    for part in (path, path.with_name(path.name + "-wal")):
        try:
            info = part.stat()
            out += [info.st_mtime_ns, info.st_size]
        except OSError:
            out += [0, 0]
    return tuple(out)


@dataclass
class Snapshot:
    """A store's records as read at `stamp`, and the frames made of them by `where`."""

    stamp: Stamp
    records: list[TrialRecord]
    results: dict[str, pd.DataFrame] = field(default_factory=dict)


class Tables:
    """The latest snapshot of each store the pages asked about (thread-safe: FastAPI answers in
    a pool of threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshots: dict[Path, Snapshot] = {}

    def snapshot(self, path: Path) -> Snapshot:
        now = stamp(path)
        with self._lock:
            held = self._snapshots.get(path)
            if held is not None and held.stamp == now:
                return held
        records: list[TrialRecord] = []
        if has_trials(path):
            with Store.open(path) as store:
                records = store.records()
        fresh = Snapshot(now, records)
        with self._lock:
            self._snapshots[path] = fresh
        return fresh

    def results(self, path: Path, where: Mapping[str, Any] | None) -> pd.DataFrame:
        """`load_results(path, where)`, from the snapshot."""
        held = self.snapshot(path)
        key = repr(sorted((where or {}).items()))
        with self._lock:
            frame = held.results.get(key)
        if frame is None:
            frame = frames.results_frame(held.records, where)
            with self._lock:
                if len(held.results) >= KEPT_FRAMES:
                    held.results.pop(next(iter(held.results)))
                held.results[key] = frame
        return frame


# ---------------------------------------------------------------------------------------------
# Filters


def parse_filters(filters: Sequence[str]) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """`COLUMN:TEXT` filters as (where, conditions). A config field's text without an operator
    is a grid axis (`tsteps:1:3`): its values, as `load_results(where=)` takes them; any column's
    text led by an operator (=, !=, <, <=, >, >=, ~ for "holds") is a condition."""
    where: dict[str, str] = {}
    conditions: list[tuple[str, str, str]] = []
    for text in filters:
        match = FILTER.match(text)
        if match is None:
            raise ConfigError(
                f"filter must be COLUMN:VALUE (tsteps:1:3, stateful_test_nmse:<0.1), got {text!r}"
            )
        column, rest = match["column"], match["text"]
        if not rest.strip():
            continue  # an emptied filter box keeps every row
        op = OPERATOR.match(rest)
        if column in FIELD_SECTION and op is None:
            where[column] = rest.strip()
        else:
            conditions.append(
                (column, op["op"], op["value"]) if op is not None else (column, "=", rest.strip())
            )
    return where, conditions


def filtered(tables: Tables, path: Path, filters: Sequence[str]) -> pd.DataFrame:
    """The rows of `load_results(path, where)` that meet the filters' conditions, in grid order."""
    where, conditions = parse_filters(filters)
    return frames.keep(tables.results(path, where or None), conditions)


# ---------------------------------------------------------------------------------------------
# The table


def column_group(name: str) -> str:
    """Which group of the column chooser a results column belongs to."""
    if name in FIELD_SECTION:
        return "config"
    for model in MODELS:
        if name.startswith(f"{model}_"):
            return "memory" if name.endswith(("_span", "_profile_error")) else model
    if name.startswith(("last_value_", "linear_ar_")):
        return "baselines"
    if name in frames.TIMINGS:
        return "timings"
    return "trial"


def _kind(dtype: Any) -> str:
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    return "number" if pd.api.types.is_numeric_dtype(dtype) else "text"


def rows_of(frame: pd.DataFrame) -> list[list[Any]]:
    """A frame's rows as JSON lists, the trial number first; <NA> and NaN as null."""
    plain = frame.astype(object).where(frame.notna(), None)
    return jsonable([[int(trial), *row] for trial, row in zip(frame.index, plain.itertuples(index=False))])


def varying_fields(frame: pd.DataFrame) -> list[str]:
    """The config fields whose value differs between the frame's trials."""
    out = []
    for name in FIELD_SECTION:
        column = frame[name].map(repr)  # lists and missing values compare as text
        if column.nunique() > 1:
            out.append(name)
    return out


def table_view(
    tables: Tables,
    path: Path,
    filters: Sequence[str] = (),
    sort: str | None = None,
    descending: bool = False,
    offset: int = 0,
    limit: int = PAGE,
) -> dict[str, Any]:
    """One page of a store's trials: every column (with its group and kind), the rows from
    `offset` (sorted by `sort`; rows without a value last), how many match and how many there are."""
    if not 1 <= limit <= MAX_PAGE:
        raise ConfigError(f"limit must be an integer in [1, {MAX_PAGE}], got {limit}")
    everything = tables.results(path, None)
    frame = filtered(tables, path, filters)
    if sort:
        if sort not in frame.columns:
            raise ConfigError(f"sort must name a column of the results, got {sort!r}")
        key = (lambda c: c.map(repr)) if frame[sort].dtype == object else None  # lists sort as text
        frame = frame.sort_values(sort, ascending=not descending, na_position="last", kind="stable", key=key)
    return {
        "columns": [
            {"name": name, "group": column_group(name), "kind": _kind(frame[name].dtype)}
            for name in frame.columns
        ],
        "varying": varying_fields(everything),
        "total": len(everything),
        "matching": len(frame),
        "offset": offset,
        "rows": rows_of(frame.iloc[offset : offset + limit]),
    }


# ---------------------------------------------------------------------------------------------
# Curves and parallel coordinates


def _label(row: pd.Series, fields: Sequence[str]) -> str:
    shown = ", ".join(f"{f} {frames.cell_text(row[f])}" for f in fields if not pd.isna(row[f]))
    return f"#{row.name}" + (f" ({shown})" if shown else "")


def curves_figure(tables: Tables, path: Path, hashes: Sequence[str]) -> Figure:
    """The per-epoch losses of the trials `hashes` overlaid: training MSE above, validation
    normalised MSE below; each trial in its colour, the stateful model solid and the stateless
    dashed, one legend entry per trial and model."""
    if not 1 <= len(hashes) <= MAX_CURVES:
        raise ConfigError(f"hash must be given 1 to {MAX_CURVES} times, got {len(hashes)}")
    held = tables.snapshot(path)
    frame = tables.results(path, None)
    chosen = frame[frame["config_hash"].isin(list(hashes))]
    if len(chosen) != len(set(hashes)):
        missing = sorted(set(hashes) - set(chosen["config_hash"]))
        raise ConfigError(f"hash must name a trial of the store, got {missing[0]!r}")
    with Store.open(path) as store:
        history = frames.history_frame(held.records, store.history(list(hashes)))
    fields = [f for f in varying_fields(chosen) if f not in ("seed",)][:3] or varying_fields(chosen)[:3]
    data: list[dict[str, Any]] = []
    for k, (trial, row) in enumerate(chosen.iterrows()):
        colour = PALETTE[k % len(PALETTE)]
        label = _label(row, fields)
        for model in MODELS:
            mine = history[(history["trial"] == trial) & (history["model"] == model)]
            for key, axis in (("train_loss", "y"), ("val_nmse", "y2")):
                data.append(
                    {
                        "type": "scatter",
                        "mode": "lines",
                        "x": (mine["epoch"] + 1).tolist(),  # from 0 in the store, from 1 on the page
                        "y": values(mine[key].to_numpy(np.float64)),
                        "name": f"{label} {model}",
                        "legendgroup": f"{trial}-{model}",
                        "showlegend": axis == "y",
                        "line": {"color": colour, "dash": MODEL_DASH.get(model, DASHES[1]), "width": 2},
                        "yaxis": axis,
                        "hovertemplate": f"{label} {model}<br>epoch %{{x}}: %{{y:.4g}}<extra></extra>",
                    }
                )
    layout = layout_base(
        height=480,
        title={
            "text": "Per-epoch curves: training MSE (top), validation normalised MSE (bottom)",
            "font": {"size": 13},
        },
        xaxis={
            "title": {"text": "epoch"},
            "anchor": "y2",
            "dtick": 1 if history["epoch"].max() <= 20 else None,
        },
        yaxis={"type": "log", "title": {"text": "train MSE"}, "exponentformat": "e", "domain": [0.55, 1]},
        yaxis2={"type": "log", "title": {"text": "val nMSE"}, "exponentformat": "e", "domain": [0, 0.45]},
        legend={"orientation": "h", "y": -0.15},
        margin={"l": 60, "r": 10, "t": 40, "b": 45},
    )
    return jsonable({"data": data, "layout": layout})


def parcoords_figure(tables: Tables, path: Path, filters: Sequence[str], colour: str) -> Figure:
    """The finished trials in parallel coordinates: an axis per config field that varies, then
    each model's normalised test MSE (and the colouring column), lines coloured by `colour`."""
    frame = filtered(tables, path, filters)
    if colour not in frame.columns or _kind(frame[colour].dtype) == "text":
        raise ConfigError(f"color must name a number or verdict column of the results, got {colour!r}")
    axes = [*varying_fields(frame), "stateful_test_nmse", "stateless_test_nmse"]
    if colour not in axes:
        axes.append(colour)
    numeric = [a for a in axes if _kind(frame[a].dtype) != "text" and frame[a].dtype != object]
    # A line needs a value on every axis: failed trials and diverged models (no finite error)
    # are left out, and counted in the title.
    finite = np.isfinite(frame[numeric].astype("float64").to_numpy(na_value=np.nan)).all(axis=1)
    left_out = int((~finite).sum())
    frame = frame[finite]
    dimensions = []
    for name in axes:
        column = frame[name]
        if _kind(column.dtype) == "text" or column.dtype == object:
            text = column.map(frames.cell_text, na_action="ignore").fillna("—")
            levels = sorted(set(text))
            codes = text.map({v: i for i, v in enumerate(levels)})
            dimensions.append(
                {
                    "label": name,
                    "values": codes.tolist(),
                    "tickvals": list(range(len(levels))),
                    "ticktext": levels,
                }
            )
        else:
            numbers = column.astype("float64").to_numpy(na_value=np.nan)
            dimension: dict[str, Any] = {"label": name, "values": values(numbers)}
            whole = np.unique(numbers[np.isfinite(numbers)])
            if pd.api.types.is_integer_dtype(column.dtype) and len(whole) <= 12:
                dimension["tickvals"] = whole.tolist()  # whole numbers only: a seed is not 1986.2
            dimensions.append(dimension)
    shade = values(frame[colour].astype("float64").to_numpy(na_value=np.nan))
    trace = {
        "type": "parcoords",
        "line": {
            "color": shade,
            "colorscale": "Viridis",
            "showscale": True,
            "reversescale": True,
            "colorbar": {"title": {"text": colour}, "thickness": 12},
        },
        "dimensions": dimensions,
        "labelangle": -20,
    }
    layout = layout_base(
        height=420,
        title={
            "text": f"{len(frame)} trials, coloured by {colour}"
            + (f" ({left_out} without a finite value left out)" if left_out else ""),
            "font": {"size": 13},
        },
        margin={"l": 60, "r": 60, "t": 90, "b": 30},
    )
    return jsonable({"data": [trace], "layout": layout})


def download(tables: Tables, path: Path, filters: Sequence[str], kind: str) -> bytes:
    """The filtered results frame as a CSV or Parquet file's bytes."""
    import io

    if kind not in frames.FORMATS:
        raise ConfigError(f"format must be one of {', '.join(frames.FORMATS)}, got {kind!r}")
    buffer = io.BytesIO()
    frames.write_frame(filtered(tables, path, filters), buffer, kind)
    return buffer.getvalue()
