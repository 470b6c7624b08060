"""Users' files: CSV and Parquet, several features, many series, time order, missing values.

    file --read_panel--> Panel (per series: features (L, F), target (L,), in time order)

(`statelab.tasks.forecast` turns a Panel into a task's standardised forecasting data.)

Files are read with Apache Arrow's readers (`pyarrow.csv`, `pyarrow.parquet`), which parse in
parallel, in native code, and only the columns asked for. Rows are grouped by the `series` column
(in order of first appearance) and sorted by the `time` column within each series (numbers,
timestamps and dates by value, text as text: write dates as ISO 8601); a time that appears twice
in one series is an error. Missing values (empty cells, NA, NaN, null) follow the `missing`
policy: `error` (the default) names the first missing cell of the file; `drop` drops its row;
`interpolate` fills interior gaps linearly within the series and drops leading and trailing ones.

Large files: the file is read as a stream of batches, each converted to NumPy at once and let go
(Arrow's allocator is asked to return its memory after each), so the file is never held twice;
rows are ordered by Arrow's sort, and each column is then put in order straight into its place
in one (rows, F) array. Reading 2,000,000 rows of 10 columns takes about a second and under
400 MB (bench/bench_data.py). The standardised inputs are float32, the precision the network
computes in. Arrow's own `to_numpy` is not used: with pandas installed it imports pandas.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from statelab.data.arrow import to_arrow, to_numpy
from statelab.params import ConfigError, check_path

MISSING = ("error", "drop", "interpolate")
PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_BLOCK = 1 << 20  # bytes per parse block of a CSV file (the reader keeps a few in flight)


@dataclass(frozen=True)
class Panel:
    """The columns of a file, cut into series and put in time order."""

    names: list[str]  # series ids in order of first appearance ("" for a file of one series)
    features: list[np.ndarray]  # per series (L_s, F) float64
    target: list[np.ndarray]  # per series (L_s,) float64
    feature_names: tuple[str, ...]
    target_name: str
    notes: dict[str, Any] = field(default_factory=dict)  # rows read, dropped, interpolated
    # per series (L_s,) the time column's values in order (`time_values`), or None without one
    times: list[np.ndarray] | None = None
    time_name: str | None = None  # the time column's name


SHOWN_CHARS = 60  # a cell quoted in an error message is cut to this many characters


def shown(value: Any) -> str:
    """A cell's value for an error message: its repr, cut short (a field may be megabytes long)."""
    text = repr(value if not isinstance(value, np.floating) else float(value))
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}... ({len(str(value))} characters)"


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= 200 else line[:200] + "..."


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in PARQUET_SUFFIXES


def arrow_source(path: Path) -> Any:
    """What Arrow's readers open: the path itself, or, for a name that is not valid UTF-8 (bytes
    a file system allows, which Arrow's own file opening cannot name), the file opened here."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return open(path, "rb")  # Arrow reads it; it is closed with its reader
    return str(path)


def _kind(path: Path) -> str:
    return "Parquet" if _is_parquet(path) else "CSV"


def _where(path: Path, index: int) -> str:
    """Where row `index` (0-based, file order) is: a CSV line (the header is line 1), a Parquet row."""
    return f"in row {index + 1}" if _is_parquet(path) else f"on line {index + 2}"


FILE_RULE = "a readable CSV or Parquet file"


def _check_file(path: Path, param: str) -> None:
    if not path.is_file():
        found = "not a file" if path.exists() else "no such file"
        raise ConfigError(f"{param} must be {FILE_RULE}, got {str(path)!r} ({found})")


def header(path: str | Path, param: str = "data") -> list[str]:
    """The column names of a CSV or Parquet file (read from its first block or its footer), as
    they are named: a CSV header's spaces around a name (`a, b`) are not part of it."""
    path = check_path(param, path, FILE_RULE)
    names = _file_names(path, param)
    return [name.strip() for name in names] if not _is_parquet(path) else names


def _file_names(path: Path, param: str) -> list[str]:
    """The column names exactly as the file holds them (what Arrow's readers select by)."""
    import pyarrow as pa

    _check_file(path, param)
    try:
        if _is_parquet(path):
            import pyarrow.parquet as pq

            return list(pq.read_schema(arrow_source(path)).names)
        import pyarrow.csv as pcsv

        reader = pcsv.open_csv(arrow_source(path), read_options=pcsv.ReadOptions(block_size=CSV_BLOCK))
        return list(reader.schema.names)
    except (OSError, pa.ArrowException, ValueError) as exc:
        if "Empty CSV file" in str(exc):
            raise ConfigError(
                f"{param} must be a CSV file with a header row, got an empty file {str(path)!r}"
            ) from None
        raise ConfigError(
            f"{param} must be a readable {_kind(path)} file, got {str(path)!r} ({_reason(exc)})"
        ) from None


def _check_columns(path: Path, columns: dict[str, str], param: str) -> list[str]:
    """The file's column names as it holds them, after checking that every column asked for is
    in it, once (a name twice would leave which column is meant to chance)."""
    raw = _file_names(path, param)
    present = [name.strip() for name in raw] if not _is_parquet(path) else raw
    for name, role in columns.items():
        if name not in present:
            listed = (
                "[" + ", ".join(shown(p) for p in present[:12]) + (", ...]" if len(present) > 12 else "]")
            )
            raise ConfigError(
                f"{role} must name columns of {str(path)!r} (one of {listed}), got {shown(name)}"
            )
        if present.count(name) > 1:
            raise ConfigError(
                f"{role} must name a column that {str(path)!r} holds once, got {shown(name)} "
                f"({present.count(name)} columns of that name)"
            )
    return raw


def record_batches(
    path: str | Path, columns: dict[str, str], numbers: tuple[str, ...] = (), param: str = "data"
) -> Iterator[Any]:
    """The named columns of a CSV or Parquet file, in batches of rows in file order: Arrow's
    `RecordBatch`es of a CSV file, the `RowGroup`s of a Parquet file (each has `num_rows` and
    `column(name)`).

    columns: {column name: the parameter that named it}, for the error when one is missing
    ("features must name columns of 'x.csv' ..., got 'q'"). numbers: columns a CSV reader is
    to parse as numbers (the type is otherwise guessed from the first block alone). Read as a
    stream, so a large file is never held twice: whoever reads converts each batch and lets it go.
    ConfigError for a missing, empty, corrupt or unreadable file, or a cell that is not a number.
    """
    import pyarrow as pa

    path = check_path(param, path, FILE_RULE)
    present = _check_columns(path, columns, param)
    real = {name.strip(): name for name in present}  # a CSV header's `a, b` names b " b"
    pool = pa.default_memory_pool()
    try:
        if _is_parquet(path):
            import pyarrow.parquet as pq

            parquet = pq.ParquetFile(arrow_source(path), pre_buffer=False)
            reader = (RowGroup(parquet, i, path, param) for i in range(parquet.metadata.num_row_groups))
        else:
            import pyarrow.csv as pcsv

            types = {real[name]: pa.float64() for name in numbers}
            types.update({real[name]: pa.string() for name, role in columns.items() if role == "series"})
            csv_reader = pcsv.open_csv(
                arrow_source(path),
                read_options=pcsv.ReadOptions(block_size=CSV_BLOCK),
                convert_options=pcsv.ConvertOptions(
                    include_columns=[real[name] for name in columns],
                    column_types=types,
                    strings_can_be_null=True,
                ),
            )
            reader = (  # batches under the names asked for (no copy)
                pa.RecordBatch.from_arrays(batch.columns, names=[n.strip() for n in batch.schema.names])
                for batch in csv_reader
            )
        for batch in reader:
            yield batch
            del batch
            pool.release_unused()  # Arrow's allocator keeps the freed parse buffers otherwise
    except pa.ArrowInvalid as exc:
        bad = re.match(r"In CSV column #(\d+): CSV conversion error to double", str(exc))
        if bad is not None and int(bad.group(1)) < len(present):
            _not_a_number(path, present[int(bad.group(1))], param)
        raise ConfigError(
            f"{param} must be a readable {_kind(path)} file, got {str(path)!r} ({_reason(exc)})"
        ) from None
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise ConfigError(
            f"{param} must be a readable {_kind(path)} file, got {str(path)!r} ({_reason(exc)})"
        ) from None


class RowGroup:
    """One row group of a Parquet file as a batch of `record_batches`: its columns are read one at
    a time, when asked for (a row group of a large file holds a million rows, and all its columns
    at once would take a hundred megabytes)."""

    def __init__(self, source: Any, index: int, path: Path, param: str):
        self.source, self.index, self.path, self.param = source, index, path, param
        self.num_rows = source.metadata.row_group(index).num_rows

    def column(self, name: str) -> Any:
        import pyarrow as pa

        try:
            column = self.source.read_row_group(self.index, columns=[name]).column(0).combine_chunks()
        except (OSError, pa.ArrowException) as exc:
            raise ConfigError(
                f"{self.param} must be a readable Parquet file, got {str(self.path)!r} ({_reason(exc)})"
            ) from None
        return plain_column(column, name)


def plain_column(column: Any, name: str) -> Any:
    """A column of plain values: a dictionary-encoded column decoded (Parquet writes text that
    way), an extension type as its storage; ConfigError naming the column and its type for a
    nested one (lists, structs, maps, unions), which holds no single value per row."""
    import pyarrow as pa

    if isinstance(column.type, pa.ExtensionType):
        column = column.storage
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if pa.types.is_nested(column.type) or pa.types.is_dictionary(column.type):
        raise ConfigError(
            f"column {name!r} must hold one plain value per row (a number, a text, a time), got a "
            f"column of {shown(str(column.type))}"
        )
    return column


def _not_a_number(path: Path, name: str, param: str) -> NoReturn:
    """The error for a CSV column with a cell that is not a number, naming the cell and its line
    (the streaming reader says only which column): the column is read again, as text."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    table = pcsv.read_csv(
        arrow_source(path),
        read_options=pcsv.ReadOptions(block_size=CSV_BLOCK),
        convert_options=pcsv.ConvertOptions(
            include_columns=[name], column_types={name: pa.string()}, strings_can_be_null=True
        ),
    )
    numeric(table.column(name), name, path)
    raise ConfigError(f"column {name!r} must hold numbers, got a cell that is not one in {str(path)!r}")


def numeric(column: Any, name: str, path: Path, offset: int = 0) -> np.ndarray:
    """A column (or a batch of it, starting at row `offset`) that must hold numbers, as float64
    (N,) with NaN where a cell is missing. ConfigError names the first cell that is not a finite
    number, and where it is in the file."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_null(kind):
        return np.full(len(column), np.nan)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        try:
            column = pc.cast(column, pa.float64())
        except pa.ArrowInvalid:
            for index, value in enumerate(column.to_pylist()):
                try:
                    float(value if value is not None else "nan")
                except ValueError:
                    where = _where(path, offset + index)
                    raise ConfigError(
                        f"column {name!r} must hold numbers, got {shown(value)} {where}"
                    ) from None
            raise  # pragma: no cover - Arrow refused a value Python parses
    elif not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)):
        raise ConfigError(f"column {name!r} must hold numbers, got a column of {kind}")
    # A copy in NumPy's memory: a view would keep Arrow's buffers (a whole row group) alive.
    # Unchecked: an integer beyond 2**53 becomes the nearest float, as any float column's value
    # is (Arrow's checked cast refuses it).
    values = to_numpy(pc.cast(column, pa.float64(), safe=False), np.float64)
    bad = np.isinf(values)
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        where = _where(path, offset + index)
        raise ConfigError(f"column {name!r} must hold finite numbers, got {float(values[index])!r} {where}")
    return values


def series_ids(column: Any, lookup: dict[str, int]) -> np.ndarray:
    """The series code of each row of a batch of ids (N,) int32; `lookup` (id -> code, in order
    of first appearance over the file) grows with the ids seen for the first time."""
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(column)  # this batch's ids, in order of first appearance
    local = [lookup.setdefault(v, len(lookup)) for v in _texts(encoded.dictionary)]
    return np.asarray(local, np.int32)[to_numpy(encoded.indices, np.int32)]


def _texts(values: Any) -> list[str]:
    """Series ids as text: as Python shows them (1, 2.5, 2020-01-01), or as Arrow does for a value
    Python cannot hold (a date beyond year 9999)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        return [str(v) for v in values.to_pylist()]
    except (ValueError, OverflowError, pa.ArrowException):
        return [str(v) for v in pc.cast(values, pa.string()).to_pylist()]


def _codes(column: Any, lookup: dict[str, int], name: str, path: Path, offset: int) -> np.ndarray:
    """`series_ids` of a batch of the series column, refused if an id is missing."""
    import pyarrow as pa

    if column.null_count:
        index = offset + int(np.flatnonzero(to_numpy(column.is_null(), bool))[0])
        raise ConfigError(
            f"series column {name!r} must have no missing ids, got an empty cell {_where(path, index)}"
        )
    try:
        return series_ids(column, lookup)
    except (ValueError, OverflowError, pa.ArrowException):
        kind = shown(str(column.type))
        raise ConfigError(
            f"series column {name!r} must hold ids (text or numbers), got a column of {kind}"
        ) from None


def _check_times(column: Any, name: str, path: Path, offset: int) -> Any:
    """A batch of the time column, refused if a cell is missing (or NaN)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    missing = column.is_null()
    if pa.types.is_floating(column.type):
        missing = pc.or_(missing, pc.is_nan(column))
    if pc.any(missing).as_py():
        index = offset + int(np.flatnonzero(to_numpy(missing, bool))[0])
        raise ConfigError(
            f"time column {name!r} must have no missing values, got an empty cell {_where(path, index)}"
        )
    return column


def time_values(column: Any) -> np.ndarray:
    """A time column (Arrow, no nulls) as NumPy, in its own units: integers as int64, other numbers
    as float64, timestamps and dates as datetime64 (a timestamp's time zone is dropped: UTC),
    durations as timedelta64, text and anything else as Python objects."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_integer(kind):
        return to_numpy(column, np.int64)
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return to_numpy(pc.cast(column, pa.float64()), np.float64)
    if pa.types.is_timestamp(kind):
        ticks = to_numpy(pc.cast(column, pa.int64()), np.int64)
        return ticks.view(f"datetime64[{kind.unit}]")
    if pa.types.is_date32(kind):
        return to_numpy(pc.cast(column, pa.int32()), np.int64).astype("datetime64[D]")
    if pa.types.is_date64(kind):
        return to_numpy(pc.cast(column, pa.int64()), np.int64).view("datetime64[ms]")
    if pa.types.is_duration(kind):  # as timedelta64: Python's timedelta holds fewer (|days| < 1e9)
        return to_numpy(pc.cast(column, pa.int64()), np.int64).view(f"timedelta64[{kind.unit}]")
    return np.asarray(column.to_pylist(), dtype=object)


def row_bound(path: Path, param: str = "data") -> int:
    """At least as many as the rows of values in a file: a Parquet file's row count, or the line
    breaks of a CSV file (counted in 16 MB reads, about a tenth of a second per 200 MB).
    ConfigError (naming the file's parameter) for a file that is missing or cannot be read."""
    _check_file(path, param)
    if _is_parquet(path):
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(arrow_source(path)).metadata.num_rows
        except Exception:  # a damaged file: record_batches says how
            return 0
    lines = 1  # a last line without a line break
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 24), b""):
                lines += block.count(b"\n") + block.count(b"\r")  # old Mac line ends count too
    except OSError as exc:
        raise ConfigError(
            f"{param} must be a readable CSV file, got {str(path)!r} ({exc.strerror or _reason(exc)})"
        ) from None
    return lines


def time_order(codes: np.ndarray, names: list[str], times: Any, time: str | None) -> np.ndarray | None:
    """Row order: series in order of first appearance, then time (stable: file order on ties).

    codes: (N,) int32 series codes; times: the time column (Arrow) or None. None when the file is
    already in that order (no copies then). A time twice in one series is a ConfigError."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if times is None:
        if len(codes) < 2 or np.all(codes[1:] >= codes[:-1]):
            return None
        return np.argsort(codes, kind="stable")
    keys = pa.Table.from_arrays([to_arrow(codes), times], names=["series", "time"])
    try:
        indices = pc.sort_indices(keys, sort_keys=[("series", "ascending"), ("time", "ascending")])
        order = to_numpy(indices, np.int64)
        ordered = pc.take(times, indices) if len(order) > 1 else None
        equal = to_numpy(pc.equal(ordered[1:], ordered[:-1]), bool) if ordered is not None else None
    except (pa.ArrowNotImplementedError, pa.ArrowTypeError, pa.ArrowInvalid):
        raise ConfigError(
            f"time column {time!r} must hold sortable values, got a column of {shown(str(times.type))}"
        ) from None
    if ordered is None or equal is None:
        return None  # a single row
    same = equal & (codes[order[1:]] == codes[order[:-1]])
    if same.any():
        at = int(np.flatnonzero(same)[0]) + 1
        where = f" in series {shown(names[codes[order[at]]])}" if len(names) > 1 else ""
        try:
            value = ordered[at].as_py()
        except (ValueError, OverflowError, pa.ArrowException):  # a time Python cannot hold
            value = str(ordered[at])
        raise ConfigError(f"time must be unique within a series, got {shown(value)} twice{where}")
    if np.all(order[1:] > order[:-1]):
        return None
    return order


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
    target's as `target_param`.

    The file is read as a stream of batches, each converted straight into its place in one
    (N, F) float64 array; then every column is put in series-and-time order in place."""
    import pyarrow as pa

    path = check_path(param, path, FILE_RULE)
    if target is None:
        names = header(path, param)
        if len(names) != 1:
            raise ConfigError(
                f"{target_param} must name one of the {len(names)} columns {names[:12]}, got none"
            )
        target = names[0]
    features = tuple(features) if features else (target,)
    numbers = tuple(dict.fromkeys([*features, target]))
    for role, name in (("series", series), ("time", time)):
        if name is not None and name in numbers:
            raise ConfigError(f"{role} must not also be a feature or the target, got {name!r}")
    if series is not None and series == time:
        raise ConfigError(f"time must be another column than series, got {time!r}")
    roles = {target: target_param, **{f: "features" for f in features if f != target}}
    roles.update({name: role for role, name in (("series", series), ("time", time)) if name is not None})

    # Every number goes straight into its column of one array as its batch is read. Its rows are
    # allocated for the most the file can hold: pages never written are never given memory.
    capacity = row_bound(path, param)
    x = np.empty((capacity, len(features)), order="F")  # columns contiguous: gathered in place
    y = np.empty(capacity) if target not in features else None  # a target that is not a feature
    code_chunks: list[np.ndarray] = []
    time_chunks: list[Any] = []
    lookup: dict[str, int] = {}
    n = 0
    for batch in record_batches(path, roles, numbers, param):
        m = batch.num_rows
        if n + m > capacity:  # pragma: no cover - row_bound is an upper bound
            raise ConfigError(f"{param} must be a file statelab can count the rows of, got {str(path)!r}")
        for name in numbers:
            into = y if y is not None and name == target else x[:, features.index(name)]
            into[n : n + m] = numeric(batch.column(name), name, path, n)
        if series is not None:
            code_chunks.append(_codes(batch.column(series), lookup, series, path, n))
        if time is not None:
            time_chunks.append(_check_times(batch.column(time), time, path, n))
        n += m
        del batch  # (record_batches returns its memory before reading the next)
    if n == 0:
        raise ConfigError(f"{param} must hold at least one row of values, got none in {str(path)!r}")
    x = x[:n]
    names = list(lookup) if series is not None else [""]
    codes = np.concatenate(code_chunks) if series is not None else np.zeros(n, np.int32)
    times = pa.chunked_array(time_chunks) if time is not None else None
    order = time_order(codes, names, times, time)
    stamps = None if times is None else time_values(times)  # (N,) in file order
    del times, time_chunks
    if order is not None:
        codes = codes[order]
        stamps = None if stamps is None else stamps[order]
    first_missing: list[tuple[int, str]] = []  # (file row, column) of each column's first gap
    for name in numbers:
        column = y[:n] if y is not None and name == target else x[:, features.index(name)]
        gaps = np.isnan(column)
        if gaps.any():
            first_missing.append((int(np.argmax(gaps)), name))
        del gaps
        if order is not None:
            np.take(column.copy(), order, out=column)  # in file order -> in series-and-time order
    y = x[:, features.index(target)].copy() if y is None else y[:n]
    pa.default_memory_pool().release_unused()
    notes: dict[str, Any] = {"rows_read": n, "rows_dropped": 0, "cells_interpolated": 0}
    if first_missing:
        target_column = features.index(target) if target in features else None
        keep = _apply_missing(x, y, codes, names, first_missing, missing, param, path, notes, target_column)
        if keep is not None:
            x, y, codes = x[keep], y[keep], codes[keep]
            stamps = None if stamps is None else stamps[keep]
    counts = np.bincount(codes, minlength=len(names))
    bounds = np.cumsum(counts)
    kept = [s for s in range(len(names)) if counts[s]]
    if len(kept) < len(names):
        notes["series_dropped"] = [names[s] for s in range(len(names)) if not counts[s]]
    return Panel(
        names=[names[s] for s in kept],
        features=[x[bounds[s] - counts[s] : bounds[s]] for s in kept],
        target=[y[bounds[s] - counts[s] : bounds[s]] for s in kept],
        feature_names=features,
        target_name=target,
        notes=notes,
        times=None if stamps is None else [stamps[bounds[s] - counts[s] : bounds[s]] for s in kept],
        time_name=time,
    )


def _apply_missing(x, y, codes, names, first_missing, policy, param, path, notes, target_column=None):
    """Missing cells by policy: error (naming the first one in the file), drop the row, or
    interpolate within the series. x: (N, F), y: (N,), codes: (N,) in series-then-time order;
    target_column: the feature y is a copy of, if any (its cells are counted once). Returns the
    rows to keep (N,) bool, or None to keep them all."""
    if policy == "error":
        index, name = min(first_missing)
        raise ConfigError(
            f"{param} must have no missing values (missing = error; or drop, interpolate), got an empty "
            f"cell in column {name!r} {_where(path, index)}"
        )
    if policy == "interpolate":
        counts = np.bincount(codes, minlength=len(names))
        starts = np.cumsum(counts) - counts
        filled = 0
        own_target = [y] if target_column is None else []  # a target that is a feature: once
        for column in [*(x[:, j] for j in range(x.shape[1])), *own_target]:  # views: filled in place
            if not np.isnan(column).any():
                continue
            for start, count in zip(starts, counts):
                part = column[start : start + count]
                gaps = np.isnan(part)
                known = np.flatnonzero(~gaps)
                if not gaps.any() or len(known) == 0:
                    continue
                inner = np.flatnonzero(gaps)
                inner = inner[(inner > known[0]) & (inner < known[-1])]
                part[inner] = np.interp(inner, known, part[known])
                filled += len(inner)
        notes["cells_interpolated"] = filled
        if target_column is not None:
            y[:] = x[:, target_column]
    keep = ~(np.isnan(x).any(axis=1) | np.isnan(y))
    notes["rows_dropped"] = int(len(keep) - keep.sum())
    if not keep.any():
        raise ConfigError(
            f"{param} must keep at least one row of values once missing cells are handled (missing = "
            f"{policy}), got none of its {len(keep)} rows in {str(path)!r}"
        )
    return None if keep.all() else keep
