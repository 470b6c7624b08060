"""Users' files (statelab.data): reading CSV and Parquet, series, time order, missing values,
standardisation and forecasting targets; and the multi-series path end to end."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import PANEL_RUN, panel_frame, write_frame
from statelab import data, predict
from statelab.config import ConfigError
from statelab.tasks.forecast import forecast


def read(path, **kwargs) -> data.Panel:
    kwargs.setdefault("target", "y")
    return data.read_panel(path, **kwargs)


# --- reading ----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_series_come_in_order_of_first_appearance_each_sorted_by_time(tmp_path, suffix):
    frame = panel_frame(5, 40, seed=1)
    order = np.random.default_rng(2).permutation(len(frame["y"]))  # rows in no order at all
    shuffled = {k: v[order] for k, v in frame.items()}
    panel = read(
        write_frame(tmp_path / f"f{suffix}", shuffled), features=("b", "a"), series="id", time="time"
    )

    # An independent reading: pandas, stable sort within each series.
    df = pd.DataFrame(shuffled)
    first_seen = list(dict.fromkeys(df["id"]))
    assert panel.names == first_seen
    for name, x, y in zip(panel.names, panel.features, panel.target):
        rows = df[df["id"] == name].sort_values("time", kind="stable")
        np.testing.assert_array_equal(x, rows[["b", "a"]].to_numpy())  # features in the order asked
        np.testing.assert_array_equal(y, rows["y"].to_numpy())
    assert panel.feature_names == ("b", "a") and panel.target_name == "y"
    assert panel.notes["rows_read"] == len(order)


def test_csv_and_parquet_of_the_same_columns_read_alike(tmp_path):
    frame = panel_frame(3, 50, seed=4)
    csv = read(write_frame(tmp_path / "a.csv", frame), features=("a", "b"), series="id", time="time")
    parquet = read(write_frame(tmp_path / "a.parquet", frame), features=("a", "b"), series="id", time="time")
    assert csv.names == parquet.names
    for one, other in zip(csv.features + csv.target, parquet.features + parquet.target):
        np.testing.assert_array_equal(one, other)


def test_only_the_columns_asked_for_are_read(tmp_path):
    path = tmp_path / "extra.csv"
    # A column of text nobody asked for is never parsed as numbers.
    path.write_text("note,x,y\nhello,1,2\n,3,4\nworld,5,6\n")
    panel = read(path, features=("x",))
    np.testing.assert_array_equal(panel.features[0][:, 0], [1.0, 3.0, 5.0])


def test_a_number_column_whose_first_block_holds_only_integers_reads_later_decimals(tmp_path):
    # The streaming CSV reader guesses types from its first block; statelab tells it "numbers".
    n = 120_000  # several 1 MB blocks
    values = np.arange(n, dtype=float)
    values[-5:] += 0.25
    path = tmp_path / "late.csv"
    path.write_text("y\n" + "\n".join(repr(float(v)) if v != int(v) else str(int(v)) for v in values) + "\n")
    np.testing.assert_array_equal(read(path).target[0], values)


def test_times_sort_as_numbers_or_iso_dates_not_as_file_order(tmp_path):
    path = tmp_path / "dates.csv"
    path.write_text("day,y\n2024-01-03,3\n2024-01-01,1\n2023-12-31,0\n2024-01-02,2\n")
    np.testing.assert_array_equal(read(path, time="day").target[0], [0, 1, 2, 3])
    path = tmp_path / "numbers.csv"
    path.write_text("t,y\n10,2\n9,1\n100,3\n-1,0\n")  # as text, "100" would sort before "9"
    np.testing.assert_array_equal(read(path, time="t").target[0], [0, 1, 2, 3])


def test_a_time_twice_in_one_series_names_the_series_and_the_time(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("id,t,y\na,1,1\nb,1,2\nb,2,3\na,2,4\nb,1,5\n")
    with pytest.raises(ConfigError, match=r"time must be unique within a series, got 1 twice in series 'b'"):
        read(path, series="id", time="t")


def test_the_same_time_in_two_series_is_fine(tmp_path):
    path = tmp_path / "ok.csv"
    path.write_text("id,t,y\na,1,1\nb,1,2\na,2,3\nb,2,4\n")
    panel = read(path, series="id", time="t")
    assert [list(y) for y in panel.target] == [[1, 3], [2, 4]]


# --- missing values ---------------------------------------------------------------------------


GAPPY = "id,t,x,y\na,1,1,10\nb,1,5,\na,2,,20\na,3,3,30\nb,2,6,60\na,4,4,\nb,3,7,70\n"


def test_a_header_with_spaces_after_its_commas_reads_by_the_names_without_them(tmp_path):
    path = tmp_path / "spaced.csv"
    path.write_text("id, time, a, y\n" + "".join(f"s{i % 2}, {i // 2}, {i}.5, {i * i}\n" for i in range(8)))
    panel = read(path, features=("a",), series="id", time="time")
    assert panel.names == ["s0", "s1"]
    np.testing.assert_array_equal(panel.features[1][:, 0], [1.5, 3.5, 5.5, 7.5])
    np.testing.assert_array_equal(panel.target[0], [0, 4, 16, 36])


def test_a_column_named_twice_is_refused_not_read_by_chance(tmp_path):
    path = tmp_path / "twice.csv"
    path.write_text("y,a,y\n" + "".join(f"{i},{i},{i + 100}\n" for i in range(8)))
    with pytest.raises(
        ConfigError, match=r"^target must name a column that .* holds once, got 'y' \(2 columns"
    ):
        read(path)
    assert read(path, target="a").target[0][-1] == 7  # another column of the file reads as ever


def test_integers_beyond_2_to_the_53_in_parquet_read_as_the_nearest_floats(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    big = [2**63 + 2**11 * i for i in range(6)]
    pq.write_table(pa.table({"y": pa.array(big, pa.uint64())}), tmp_path / "big.parquet")
    np.testing.assert_array_equal(read(tmp_path / "big.parquet").target[0], np.array(big, np.float64))


def test_missing_error_names_the_first_empty_cell_of_the_file(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text(GAPPY)
    with pytest.raises(ConfigError) as info:
        read(path, features=("x",), series="id", time="t")
    assert "got an empty cell in column 'y' on line 3" in str(info.value)  # b,1,5, (line 3)


def test_missing_drop_drops_the_rows_and_counts_them(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text(GAPPY)
    panel = read(path, features=("x",), series="id", time="t", missing="drop")
    assert [list(y) for y in panel.target] == [[10, 30], [60, 70]]
    assert panel.notes["rows_dropped"] == 3 and panel.notes["rows_read"] == 7


def test_missing_interpolate_fills_inside_each_series_and_drops_its_ends(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text(GAPPY)
    panel = read(path, features=("x",), series="id", time="t", missing="interpolate")
    a = panel.features[0]
    np.testing.assert_array_equal(a[:, 0], [1, 2, 3])  # x at t=2 between 1 and 3; the row t=4 (no y) dropped
    np.testing.assert_array_equal(panel.target[0], [10, 20, 30])
    np.testing.assert_array_equal(panel.target[1], [60, 70])  # b's leading gap is not filled from a's values
    assert panel.notes["cells_interpolated"] == 1 and panel.notes["rows_dropped"] == 2


# --- forecasting data -------------------------------------------------------------------------


def test_forecast_targets_are_the_value_horizon_steps_ahead_and_inputs_are_standardised(tmp_path):
    frame = panel_frame(2, 60, seed=5)
    panel = read(write_frame(tmp_path / "f.csv", frame), features=("a", "b"), series="id", time="time")
    lahead, horizon, fraction = 3, 2, 0.75
    task = forecast(panel, lahead, horizon, fraction)

    # Statistics of what the training windows read (inputs) and predict (targets), pooled.
    reads, targets = [], []
    for x, y in zip(panel.features, panel.target):
        n_rows = len(x) - (lahead - 1) - horizon
        n_train = int(n_rows * fraction)
        reads.append(x[: lahead - 1 + n_train])
        targets.append(y[: lahead - 1 + n_train + horizon])
    reads, targets = np.concatenate(reads), np.concatenate(targets)
    for j, name in enumerate(("a", "b")):
        assert task.scaling[name] == pytest.approx((reads[:, j].mean(), reads[:, j].std()), rel=1e-12)
    mean, scale = targets.mean(), targets.std()
    assert task.scaling["y"] == pytest.approx((mean, scale), rel=1e-12)

    for series, x, y in zip(task.series, panel.features, panel.target):
        assert series.x.dtype == np.float32 and series.to_drop == lahead - 1 and series.drop_end == horizon
        np.testing.assert_allclose(series.x, (x - reads.mean(axis=0)) / reads.std(axis=0), rtol=1e-6)
        np.testing.assert_allclose(series.y[:-horizon], (y[horizon:] - mean) / scale)  # y[t] = target[t + h]
        assert np.all(np.isnan(series.y[-horizon:]))
        np.testing.assert_allclose(series.last, (y - mean) / scale)  # the value now, for the baseline
        assert series.n_rows == len(x) - (lahead - 1) - horizon


def test_nothing_of_the_test_part_leaks_into_the_scaling(tmp_path):
    frame = panel_frame(1, 100, seed=6)
    changed = {k: v.copy() for k, v in frame.items()}
    changed["a"][-10:] += 1000.0  # only test rows differ
    one = forecast(read(write_frame(tmp_path / "1.csv", frame), features=("a",)), 1, 1, 0.8)
    two = forecast(read(write_frame(tmp_path / "2.csv", changed), features=("a",)), 1, 1, 0.8)
    assert one.scaling == two.scaling


def test_a_series_too_short_for_its_window_horizon_and_split_is_named(tmp_path):
    path = tmp_path / "short.csv"
    rows = [f"long,{t},{t}" for t in range(20)] + [f"stub,{t},{t}" for t in range(4)]
    path.write_text("id,t,y\n" + "\n".join(rows) + "\n")
    with pytest.raises(ConfigError, match=r"series 'stub' at least lahead \+ horizon \+ 1 = 5 values"):
        forecast(read(path, series="id", time="t"), 2, 2, 0.8)


# --- bad input: one line naming the parameter, exit 2, nothing written --------------------------


@pytest.fixture
def sensors(tmp_path):
    return write_frame(tmp_path / "sensors.csv", panel_frame(3, 40, seed=7))


def run_argv(path, out, **flags):
    params = {**PANEL_RUN, "data": str(path), "epochs": 1, **flags}
    argv = ["run", "--out", str(out)]
    for key, value in params.items():
        if value is not None:
            argv += [f"--{key.replace('_', '-')}", str(value)]
    return argv


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        ({"features": "a,nope"}, "features must name columns of"),
        ({"series": "unit"}, "series must name columns of"),
        ({"time": "when"}, "time must name columns of"),
        ({"target": "z"}, "target must name columns of"),
        ({"features": "a,id", "series": None}, "column 'id' must hold numbers, got 'unit-0' on line 2"),
        ({"lahead": 30}, "lahead must be <= series 'unit-0''s 5 training rows"),
        ({"horizon": 40}, "data must give series 'unit-0' at least lahead + horizon + 1 = 42 values"),
        ({"series": "a"}, "series must not also be a feature or the target"),
    ],
)
def test_bad_columns_are_one_line_errors_and_write_nothing(sensors, tmp_path, run_cli, flags, words):
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = run_cli(run_argv(sensors, tmp_path / "run", **flags))
    assert code == 2, err
    assert err.startswith("statelab: error: ") and err.count("\n") == 1 and words in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_non_numeric_cell_in_a_feature_is_named_with_its_line(tmp_path):
    path = tmp_path / "text.csv"
    path.write_text("x,y\n1,2\n3,4\nabc,5\n")
    with pytest.raises(ConfigError, match=r"column 'x' must hold numbers, got 'abc' on line 4"):
        read(path, features=("x",))
    path = tmp_path / "inf.csv"
    path.write_text("x,y\n1,2\ninf,4\n")
    with pytest.raises(ConfigError, match=r"column 'x' must hold finite numbers, got inf on line 3"):
        read(path, features=("x",))


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "Parquet file size is 0 bytes"),
        (b"PAR1 not really a parquet file PAR1", "must be a readable Parquet file"),
        (b"x,y\n1,2\n", "must be a readable Parquet file"),
    ],
)
def test_an_empty_or_corrupt_parquet_file_is_one_line_error(tmp_path, run_cli, content, words):
    path = tmp_path / "broken.parquet"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=words):
        read(path)
    code, _, err = run_cli(
        ["run", "--task", "file", "--data", str(path), "--target", "y", "--out", str(tmp_path / "r")]
    )
    assert code == 2 and err.count("\n") == 1 and words in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.parquet"]


def test_a_parquet_file_without_rows_is_an_error(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "none.parquet"
    pq.write_table(pa.table({"y": pa.array([], pa.float64())}), path)
    with pytest.raises(ConfigError, match="must hold at least one row of values, got none"):
        read(path)


def test_an_empty_csv_file_is_an_error(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(ConfigError, match="must be a CSV file with a header row, got an empty file"):
        read(path)


# --- the multi-series path end to end ----------------------------------------------------------


def test_a_stateful_model_trained_per_series_beats_the_stateless_floor(panel_run):
    """The target is the mean of feature b over its last three steps; the window shows one. A model
    that remembers nothing cannot pass normalised MSE 2/3 (panel_frame); the stateful one, whose
    state never passes from one series to another, gets well below it."""
    result, _ = panel_run
    floor = 2 / 3
    assert result.models["stateful"].test_nmse < 0.3 * floor
    assert result.models["stateless"].test_nmse > 0.9 * floor
    assert result.baselines["linear_ar"].test_nmse > 0.9 * floor  # the best linear window predictor


def test_the_run_reports_how_the_data_were_cut(panel_run):
    result, run_dir = panel_run
    cut = result.metrics_dict()["data"]
    assert cut["features"] == ["a", "b"] and cut["target"] == "y"
    assert [s["name"] for s in cut["series"]] == [f"unit-{s}" for s in range(6)]
    for s in cut["series"]:
        # The training part's tail validates (--val-fraction 0.2 on a real series' file).
        train_part = int(296 * 0.8)
        assert (
            s["rows"] == 296 and s["train"] + s["validation"] == train_part and s["test"] == 296 - train_part
        )
        assert s["validation"] == round(0.2 * train_part)
    assert cut["notes"]["rows_read"] == 6 * 297 and cut["notes"]["rows_dropped"] == 0
    assert cut["lanes"] == 4 and cut["test_lanes"] == 4
    assert cut["test_fill"] == pytest.approx(6 * 60 / (4 * 120))  # 6 whole series in 4 lanes
    html = (run_dir / "report.html").read_text()
    section = html[html.index("<h2>Data</h2>") : html.index("<h2>Input</h2>")]
    assert (
        "<td>unit-5</td><td>296</td><td>189</td><td>47</td><td>60</td>" in section
    )  # rows, train, validation, test
    assert "1782 rows read, 0 dropped" in section and "75.0% full" in section


def test_the_data_section_stays_compact_for_a_hundred_series():
    from statelab.report.run import data_html

    series = [{"name": f"s{i}", "rows": 100 + i, "train": 80 + i, "test": 20} for i in range(100)]
    metrics = {"data": {"features": ["x"], "target": "x", "series": series, "notes": {"rows_read": 12_345}}}
    section = data_html(metrics)
    assert "s57" not in section  # not listed one by one
    assert "Shortest: s0 (100 rows), s1 (101 rows)" in section and "12345 rows read" in section
    assert ">149.5<" in section and ">199<" in section  # median and largest rows per series


def test_test_predictions_of_each_series_are_its_own_stream_from_a_reset_state(panel_run, panel_file):
    """The run's packed test lanes give each series what a fresh predictor reading that series alone
    gives from its first test window: no state crosses from one series to another."""
    result, _ = panel_run
    predictor = predict.Predictor.from_result(result, "stateful")
    panel = data.read_panel(panel_file, "y", ("a", "b"), series="id", time="time")
    n_rows = len(panel.features[0]) - 1  # horizon 1, lahead 1
    first_test = int(n_rows * 0.8)
    t_scale = result.data["scaling"]["y"]["scale"]
    for s, x in enumerate(panel.features):
        predictor.reset()
        mine = predictor.predict(x[first_test:n_rows])
        theirs = result.test_pred["stateful"][result.test_series == s]  # in the data's units
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6 * t_scale)


def test_a_series_predicts_the_same_alone_or_among_others_in_any_order(
    panel_run, panel_file, tmp_path, run_cli
):
    _, run_dir = panel_run
    frame = pd.read_csv(panel_file)
    alone = frame[frame["id"] == "unit-2"]
    reordered = frame.sample(frac=1.0, random_state=1)  # series and rows in another order
    reversed_series = pd.concat([frame[frame["id"] == f"unit-{s}"] for s in (5, 2, 0)])
    outputs = {}
    for name, part in {"alone": alone, "shuffled": reordered, "three": reversed_series}.items():
        path = tmp_path / f"{name}.csv"
        part.to_csv(path, index=False)
        code, out, err = run_cli(
            ["predict", str(run_dir), "--input", str(path), "--series", "id", "--time", "time"]
        )
        assert code == 0, err
        lines = [line.split(",") for line in out.splitlines()[1:]]
        outputs[name] = [float(r[-1]) for r in lines if r[0].strip('"') == "unit-2"]
    assert len(outputs["alone"]) == len(alone)
    assert outputs["alone"] == outputs["shuffled"] == outputs["three"]


def test_the_terminal_preview_shows_series_and_every_feature(panel_file, tmp_path, run_cli):
    argv = run_argv(panel_file, tmp_path / "run", epochs=1)
    code, out, err = run_cli(argv)
    assert code == 0, err
    head = out[out.index("Input and target (standardised), head") :].splitlines()
    assert head[1].split() == ["series", "t", "a[t]", "b[t]", "target"]
    assert head[2].split()[:2] == ["unit-0", "0"]
    tail = out[out.index("Input and target (standardised), tail") :].splitlines()
    assert tail[6].split()[:2] == ["unit-5", "295"]  # the tail is the last series', numbered in it
    train_part = int(296 * 0.8)  # its tail validates (--val-fraction 0.2 on a real series' file)
    val = round(0.2 * train_part)
    counts = f"rows per series 296, of which train {train_part - val}, validation {val}"
    assert f"6 series, 2 features (a, b); {counts}" in out
    assert (
        "lanes: 4 training, 99.8% of the training rows used; 4 test, 75.0% full" in out
    )  # 6 x 189 rows in 4 lanes


def test_a_missing_file_is_named_whether_or_not_a_target_is_given(tmp_path, run_cli):
    missing = tmp_path / "gone.csv"
    for target in ("y", None):
        with pytest.raises(
            ConfigError, match=r"^data must be a readable CSV or Parquet file, got .*\(no such file\)$"
        ):
            read(missing, target=target)
    code, _, err = run_cli(
        ["run", "--task", "file", "--data", str(missing), "--target", "y", "--epochs", "1"]
    )
    assert code == 2 and err.count("\n") == 1 and "(no such file)" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_a_target_that_is_also_a_feature_counts_its_interpolated_cells_once(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text("t,y,z\n1,1,5\n2,,6\n3,3,\n4,,8\n5,5,9\n6,6,10\n")  # 2 gaps in y, 1 in z
    panel = read(path, features=("y", "z"), time="t", missing="interpolate")
    assert panel.notes["cells_interpolated"] == 3
    np.testing.assert_array_equal(panel.target[0], [1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(panel.features[0][:, 0], panel.target[0])
    np.testing.assert_array_equal(panel.features[0][:, 1], [5, 6, 7, 8, 9, 10])


def test_each_series_keeps_its_time_values_in_order_and_in_their_own_units(tmp_path):
    path = tmp_path / "dated.csv"
    path.write_text(
        "id,day,y\nb,2024-01-03,1\na,2024-01-02,2\na,2024-01-01,3\nb,2024-01-01,\nb,2024-01-02,5\n"
    )
    panel = read(path, series="id", time="day", missing="drop")
    assert panel.names == ["b", "a"] and panel.time_name == "day"
    assert panel.times is not None
    assert [str(t) for t in panel.times[0]] == ["2024-01-02", "2024-01-03"]  # b's empty cell dropped
    assert [str(t) for t in panel.times[1]] == ["2024-01-01", "2024-01-02"]
    assert panel.times[0].dtype.kind == "M"
    untimed = read(path, series="id", missing="drop")
    assert untimed.times is None
