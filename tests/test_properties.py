"""Property-based tests (Hypothesis): the parsers meet generated bad input.

The config parser (`config.from_mapping`, command-line values), the grid parser
(`grid.parse_values`, `grid.grid_from_mapping`, `grid.load_grid`) and the file reader
(`data.read_panel`, on generated CSV bytes) either return a valid result or raise a ConfigError
whose message is one line; never another exception.
"""

from __future__ import annotations

import math
import os
import string
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statelab import data, grid
from statelab.config import FIELD_SECTION, SECTIONS, ConfigError, ExperimentConfig, from_mapping, parse_value

FIELDS = sorted(FIELD_SECTION)
# STATELAB_EXAMPLES=3000 for a thorough search (about a minute); the default keeps the suite fast.
EXAMPLES = int(os.environ.get("STATELAB_EXAMPLES", "150"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def one_line(exc: ConfigError) -> None:
    message = str(exc)
    assert message and "\n" not in message and "\r" not in message, repr(message)


def valid_or_config_error(build):
    """The invariant: build() returns, or raises a one-line ConfigError (any other exception fails)."""
    try:
        return build()
    except ConfigError as exc:
        one_line(exc)
        return None


# Values a user or a file could put anywhere: numbers at and beyond every edge, words, lists, tables.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([0, 1, -1, 2**31, 2**63, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e-320, 1e300, -0.0, 1e-12, 1e12, 0.001]),
    st.text(max_size=12),
    st.sampled_from(["lstm", "moving-average", "ema", "file", "1:5", "nan", "", " ", "\n", "x\x00y"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
keys = st.one_of(st.sampled_from(FIELDS), st.sampled_from(["column", "seeds", "colour"]), st.text(max_size=8))


@SETTINGS
@given(st.dictionaries(keys, values, max_size=5))
def test_from_mapping_gives_a_config_or_a_one_line_config_error(mapping):
    config = valid_or_config_error(lambda: from_mapping(mapping))
    assert config is None or isinstance(config, ExperimentConfig)


@SETTINGS
@given(
    st.dictionaries(
        st.sampled_from([*SECTIONS, *FIELDS[:6]]),
        st.one_of(values, st.dictionaries(st.sampled_from(FIELDS), values, max_size=3)),
        max_size=4,
    )
)
def test_nested_mappings_give_a_config_or_a_one_line_config_error(mapping):
    valid_or_config_error(lambda: from_mapping(mapping))


flag_text = st.one_of(
    st.text(max_size=20),
    st.text(alphabet="0123456789.-+eE:,;naifNI ", max_size=20),
    st.sampled_from(["1e400", "-1e400", "nan", "inf", "0x10", "1_000", "１", "٣", "1" * 5000]),
)


@SETTINGS
@given(st.sampled_from(FIELDS), flag_text)
def test_a_command_line_value_gives_a_config_or_a_one_line_config_error(name, text):
    valid_or_config_error(lambda: from_mapping({name: parse_value(name, text)}))


@SETTINGS
@given(st.sampled_from(FIELDS), flag_text)
def test_grid_syntax_gives_values_or_a_one_line_config_error(name, text):
    parsed = valid_or_config_error(lambda: grid.parse_values(name, text))
    if parsed is not None:
        assert 1 <= len(parsed) <= grid.MAX_AXIS_VALUES * text.count(",") + grid.MAX_AXIS_VALUES
        for value in parsed:
            assert not (isinstance(value, float) and not math.isfinite(value))


@SETTINGS
@given(st.dictionaries(keys, st.one_of(values, flag_text), max_size=4), st.one_of(scalars, flag_text))
def test_grids_from_mappings_expand_or_give_a_one_line_config_error(mapping, seeds):
    the_grid = valid_or_config_error(lambda: grid.grid_from_mapping(mapping, seeds))
    if the_grid is not None and the_grid.n_trials <= 20:
        configs = valid_or_config_error(lambda: grid.expand(the_grid))
        assert configs is None or all(isinstance(c, ExperimentConfig) for c in configs)


toml_lines = st.lists(
    st.one_of(
        st.builds(
            lambda k, v: f"{k} = {v}",
            st.sampled_from([*FIELDS, "seeds"]),
            st.sampled_from(
                [
                    '"1:4"',
                    "[1, 2]",
                    "3",
                    "1.5",
                    "nan",
                    "inf",
                    '"lstm,gru"',
                    "[]",
                    "{}",
                    '"x"',
                    "true",
                    "[[1], [2]]",
                ]
            ),
        ),
        st.sampled_from(["[task]", "[model]", "[train]", "[other]", "[[task]]", "seeds = 0", "x = "]),
        st.text(max_size=15),
    ),
    max_size=8,
)


@SETTINGS
@given(toml_lines, st.sampled_from([".toml", ".json"]))
def test_grid_files_give_a_grid_or_a_one_line_config_error(lines, suffix):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"grid{suffix}"
        path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass"))
        valid_or_config_error(lambda: grid.load_grid(path))


cells = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.sampled_from(
        ["", "NA", "nan", "null", "1e308", "1e309", "-1e300", "1,5", '"1"', "x", " 2 ", "1" * 400]
    ),
    st.text(alphabet=string.printable, max_size=8),
)
csv_rows = st.lists(st.lists(cells, min_size=1, max_size=3), min_size=0, max_size=30)


@settings(max_examples=EXAMPLES * 2 // 3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    header=st.lists(st.sampled_from(["x", "y", "id", "t", "", "x"]), min_size=1, max_size=3),
    rows=csv_rows,
    bom=st.booleans(),
    target=st.sampled_from(["x", "y", None]),
    series=st.sampled_from([None, "id"]),
    time=st.sampled_from([None, "t"]),
    missing=st.sampled_from(["error", "drop", "interpolate"]),
)
def test_read_panel_gives_series_or_a_one_line_config_error(header, rows, bom, target, series, time, missing):
    text = ",".join(header) + "\n" + "".join(",".join(row) + "\n" for row in rows)
    raw = (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8", "replace")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.csv"
        path.write_bytes(raw)
        panel = valid_or_config_error(
            lambda: data.read_panel(path, target, series=series, time=time, missing=missing)
        )
        if panel is not None:
            for x, y in zip(panel.features, panel.target):
                assert x.ndim == 2 and len(x) == len(y)
                if missing != "error":
                    assert not (x != x).any() and not (y != y).any()  # no NaN left


@pytest.mark.parametrize("target", ["x", "y"])
def test_read_panel_of_a_plain_file_reads_its_numbers(tmp_path, target):
    """The property's happy path really happens: a well-formed file gives its columns back."""
    path = tmp_path / "d.csv"
    path.write_bytes(b"\xef\xbb\xbfx,y\n1,2\n3,4\n")
    panel = data.read_panel(path, target)
    assert panel.target[0].tolist() == ([1.0, 3.0] if target == "x" else [2.0, 4.0])


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(FIELDS), flag_text), max_size=3))
def test_command_line_flags_give_a_config_or_a_one_line_error(pairs):
    from statelab import cli

    argv = ["run", *(f"--{name.replace('_', '-')}={text}" for name, text in pairs)]
    try:
        args = cli.build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse's own refusals go through cli.fail: one line, exit 2
        assert exc.code == 2
        return
    valid_or_config_error(lambda: cli.config_from_args(args))


# --- Parquet files of every kind of column ------------------------------------------------------


def _arrow_types():
    import pyarrow as pa

    plain = [
        pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint32(), pa.uint64(),
        pa.float16(), pa.float32(), pa.float64(), pa.bool_(), pa.string(), pa.large_string(),
        pa.binary(), pa.decimal128(5, 2), pa.decimal128(38, 0), pa.decimal256(60, 10),
        pa.date32(), pa.date64(), pa.timestamp("s"), pa.timestamp("ns", "UTC"), pa.time32("s"),
        pa.time64("us"), pa.duration("ms"), pa.null(),
    ]  # fmt: skip
    nested = [
        pa.list_(pa.int64()), pa.large_list(pa.float64()), pa.struct([("a", pa.int64())]),
        pa.map_(pa.string(), pa.int64()), pa.list_(pa.int32(), 2),
    ]  # fmt: skip
    dictionary = [pa.dictionary(pa.int32(), pa.string()), pa.dictionary(pa.int8(), pa.int64())]
    return plain + nested + dictionary


ARROW_TYPES = _arrow_types()


@st.composite
def arrow_columns(draw, n: int, kind=None):
    """A column of `n` rows of Arrow type `kind` (by default a random one), nulls included: numbers
    at their limits, text, temporal values outside Python's datetime range, decimals,
    dictionaries, nested values."""
    import decimal

    import pyarrow as pa

    kind = draw(st.sampled_from(ARROW_TYPES)) if kind is None else kind
    some = lambda strategy: draw(st.lists(st.none() | strategy, min_size=n, max_size=n))  # noqa: E731
    if pa.types.is_null(kind):
        return pa.nulls(n)
    if pa.types.is_dictionary(kind):
        inner = st.text(max_size=3) if pa.types.is_string(kind.value_type) else st.integers(-5, 5)
        return pa.array(some(inner), kind.value_type).dictionary_encode().cast(kind)
    if pa.types.is_integer(kind):
        info = (0, 2 ** kind.bit_width - 1) if pa.types.is_unsigned_integer(kind) else (
            -(2 ** (kind.bit_width - 1)), 2 ** (kind.bit_width - 1) - 1
        )  # fmt: skip
        return pa.array(some(st.integers(*info) | st.integers(max(info[0], -3), 3)), kind)
    if pa.types.is_floating(kind):
        width = {16: 16, 32: 32, 64: 64}[kind.bit_width]
        values = some(st.floats(width=width) | st.sampled_from([0.0, 1.5, -2.0]))
        import numpy as np

        if width == 16:  # pa.array takes float16 only as NumPy's
            array = np.array([np.nan if v is None else v for v in values], np.float16)
            return pa.array(array, kind, mask=np.array([v is None for v in values], bool))
        return pa.array(values, kind)
    if pa.types.is_boolean(kind):
        return pa.array(some(st.booleans()), kind)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return pa.array(some(st.text(max_size=4) | st.sampled_from(["1", "2.5", "nan", "2020-01-01"])), kind)
    if pa.types.is_binary(kind):
        return pa.array(some(st.binary(max_size=4)), kind)
    if pa.types.is_decimal(kind):
        digits = 10 ** (kind.precision - kind.scale) - 1
        whole = st.integers(-digits, digits).map(lambda i: decimal.Decimal(i))
        return pa.array(some(whole), kind)
    if pa.types.is_temporal(kind):
        storage = pa.int32() if kind.bit_width == 32 else pa.int64()
        top = 2**31 - 1 if kind.bit_width == 32 else 2**63 - 1
        if pa.types.is_time(kind):  # a time of day: within one day
            top = 86_399 if kind.unit == "s" else 86_399_999_999
            return pa.array(some(st.integers(0, top)), storage).cast(kind)
        if pa.types.is_timestamp(kind) and kind.unit == "s":  # Parquet stores seconds as milliseconds
            top = 2**63 // 1000 - 1
        return pa.array(some(st.integers(-top, top) | st.integers(-1000, 1000)), storage).cast(kind)
    if pa.types.is_map(kind):
        return pa.array(some(st.lists(st.tuples(st.text(max_size=2), st.integers(0, 9)), max_size=2)), kind)
    if pa.types.is_struct(kind):
        return pa.array(some(st.fixed_dictionaries({"a": st.integers(0, 9)})), kind)
    if pa.types.is_fixed_size_list(kind):
        return pa.array(some(st.lists(st.integers(0, 9), min_size=2, max_size=2)), kind)
    element = st.floats() if pa.types.is_floating(kind.value_type) else st.integers(0, 9)
    return pa.array(some(st.lists(element, max_size=2)), kind)


@SETTINGS
@given(
    data_=st.data(),
    rows=st.integers(0, 9),
    row_group=st.integers(1, 4),
    series=st.booleans(),
    time=st.booleans(),
    missing=st.sampled_from(["error", "drop", "interpolate"]),
)
def test_parquet_columns_of_random_arrow_types_give_series_or_a_one_line_config_error(
    data_, rows, row_group, series, time, missing
):
    """Random Arrow schemas (nested, dictionary, decimal, temporal, ...) as the target, the series
    and the time column of a Parquet file: read_panel gives series, or a one-line ConfigError."""
    columns = {"y": data_.draw(arrow_columns(rows))}
    if series:
        columns["s"] = data_.draw(arrow_columns(rows))
    if time:
        columns["t"] = data_.draw(arrow_columns(rows))
    read_parquet_columns(columns, row_group, series, time, missing)


@pytest.mark.parametrize("role", ["target", "series", "time"])
@pytest.mark.parametrize("kind", ARROW_TYPES, ids=str)
@settings(max_examples=max(6, EXAMPLES // 20), deadline=None, suppress_health_check=list(HealthCheck))
@given(data_=st.data(), rows=st.integers(1, 6), row_group=st.integers(1, 3))
def test_every_arrow_type_in_every_role_gives_series_or_a_one_line_config_error(
    kind, role, data_, rows, row_group
):
    """Each Arrow type as the target, as the series column and as the time column (the others
    plain), so that no type is left to chance."""
    import pyarrow as pa

    numbers = pa.array(data_.draw(st.lists(st.floats(-1e6, 1e6), min_size=rows, max_size=rows)), pa.float64())
    columns = {"y": data_.draw(arrow_columns(rows, kind)) if role == "target" else numbers}
    if role != "target":
        columns["s" if role == "series" else "t"] = data_.draw(arrow_columns(rows, kind))
    read_parquet_columns(columns, row_group, role == "series", role == "time", "drop")


def read_parquet_columns(columns, row_group: int, series: bool, time: bool, missing: str) -> None:
    """Write `columns` as a Parquet file and read it as statelab reads a user's file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.parquet"
        pq.write_table(pa.table(columns), path, row_group_size=row_group)
        panel = valid_or_config_error(
            lambda: data.read_panel(
                path, "y", series="s" if series else None, time="t" if time else None, missing=missing
            )
        )
        if panel is not None:
            assert sum(len(y) for y in panel.target) >= 1
            for x, y in zip(panel.features, panel.target):
                assert x.shape == (len(y), 1) and x.dtype.kind == "f"


def test_a_dictionary_time_column_is_decoded_and_sorted(tmp_path):
    """Dictionary-encoded text (as Parquet writers store it) is read as its values."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    times = pa.array(["2020-03", "2020-01", "2020-02"]).dictionary_encode()
    pq.write_table(pa.table({"y": [3.0, 1.0, 2.0], "t": times}), tmp_path / "d.parquet")
    panel = data.read_panel(tmp_path / "d.parquet", "y", time="t")
    assert panel.target[0].tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("role", ["series", "time", "target"])
def test_a_nested_column_is_refused_naming_the_column_and_its_type(tmp_path, role):
    import pyarrow as pa
    import pyarrow.parquet as pq

    nested = pa.array([[1], [2], [3]], pa.list_(pa.int64()))
    columns = {"y": [1.0, 2.0, 3.0], "k": nested}
    pq.write_table(pa.table(columns), tmp_path / "d.parquet")
    names = {"series": {"series": "k"}, "time": {"time": "k"}, "target": {}}[role]
    with pytest.raises(ConfigError, match=r"^column 'k' must hold one plain value per row .*list<"):
        data.read_panel(tmp_path / "d.parquet", "k" if role == "target" else "y", **names)
