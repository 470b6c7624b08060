"""batching.py: windows equal the original's shifted columns; the two layouts, drawn out."""

from __future__ import annotations

import numpy as np
import pytest

from statelab import batching
from statelab.config import from_mapping
from statelab.experiment import prepare, run_experiment

PAIRS = [(1, 1), (2, 1), (3, 2), (2, 5), (5, 3), (1, 4)]


def _config(**flat):
    return from_mapping(flat)


@pytest.mark.parametrize(("tsteps", "lahead"), PAIRS)
def test_newest_first_windows_equal_original_shifted_columns(original, tsteps, lahead):
    config = _config(tsteps=tsteps, lahead=lahead, window_order="newest-first")
    data = prepare(config)
    ref = original(1000, tsteps, lahead, 0.1, 1986)
    assert data.windows.shape == (1000, lahead, 1)  # (rows, lahead, features)
    assert data.windows.dtype == np.float64
    assert np.array_equal(data.windows[..., 0], ref.inputs)
    assert np.array_equal(data.target, ref.target)


@pytest.mark.parametrize(("tsteps", "lahead"), PAIRS)
def test_oldest_first_windows_are_original_columns_reversed(original, tsteps, lahead):
    data = prepare(_config(tsteps=tsteps, lahead=lahead))  # oldest-first is the default
    ref = original(1000, tsteps, lahead, 0.1, 1986)
    assert np.array_equal(data.windows[..., 0], ref.inputs[:, ::-1])
    assert np.array_equal(data.target, ref.target)


def test_windows_equal_original_for_other_amplitude_and_seed(original):
    config = _config(input_len=640, tsteps=4, lahead=6, amplitude=3.0, seed=42, window_order="newest-first")
    ref = original(640, 4, 6, 3.0, 42)
    data = prepare(config)
    assert np.array_equal(data.windows[..., 0], ref.inputs)
    assert np.array_equal(data.target, ref.target)


@pytest.mark.parametrize(("tsteps", "lahead", "batch_size"), [(2, 1, 1), (2, 1, 16), (3, 2, 7), (2, 5, 3)])
def test_seed_layout_splits_and_batches_as_the_original(
    original, split_like_original, tsteps, lahead, batch_size
):
    """The seed layout read in batch order is the original's x_train / x_test, as float32."""
    config = _config(
        tsteps=tsteps, lahead=lahead, batch_size=batch_size, layout="seed", window_order="newest-first"
    )
    data = prepare(config)
    ref = original(1000, tsteps, lahead, 0.1, 1986)
    (x_train, y_train), (x_test, y_test) = split_like_original(ref.inputs, ref.target, 1000, batch_size)

    assert data.train.x.shape[1] == batch_size
    assert data.test.x.shape[1] == batch_size
    assert np.array_equal(data.train.x.reshape(-1, lahead), x_train.astype(np.float32))
    assert np.array_equal(data.train.y.reshape(-1), y_train.astype(np.float32))
    assert np.array_equal(data.test.x.reshape(-1, lahead), x_test.astype(np.float32))
    assert np.array_equal(data.test.y.reshape(-1), y_test.astype(np.float32))
    assert data.n_train == len(x_train)
    assert data.test.scored.all()


def test_stream_layout_of_twelve_rows_in_three_streams():
    expected = np.array([[0, 4, 8], [1, 5, 9], [2, 6, 10], [3, 7, 11]])
    assert np.array_equal(batching.stream_layout(np.arange(12), 3), expected)
    # A tail that does not fill a stream is dropped from the end.
    assert np.array_equal(batching.stream_layout(np.arange(14), 3), expected)


def test_seed_layout_of_twelve_rows_in_batches_of_three():
    expected = np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]])
    assert np.array_equal(batching.seed_layout(np.arange(12), 3), expected)
    assert np.array_equal(batching.seed_layout(np.arange(13), 3), expected)


def test_streams_dataset_rows_and_batches():
    # 17 rows: 13 train (int(17 * 0.8)), 4 test; 3 streams of 4 rows, row 12 left out.
    config = _config(input_len=17, batch_size=3, lahead=2)
    data = prepare(config)
    expected_train = np.array([[0, 4, 8], [1, 5, 9], [2, 6, 10], [3, 7, 11]])
    assert np.array_equal(data.train.row, expected_train)
    assert np.array_equal(data.test.row, np.array([[13], [14], [15], [16]]))
    assert data.n_train == 13
    assert data.dropped == 1
    assert data.test.scored.all() and data.train.scored.all()
    # Each batch entry is the window and target of its row, in float32.
    assert data.train.x.shape == (4, 3, 2, 1)
    assert np.array_equal(data.train.x, data.windows[expected_train].astype(np.float32))
    assert np.array_equal(data.train.y, data.target[expected_train].astype(np.float32))
    assert np.array_equal(data.test.x[:, 0], data.windows[13:].astype(np.float32))


def test_seed_dataset_rows_and_batches():
    # 22 rows, batch 3: int(22 * 0.8) = 17 train rows trimmed to 15, as the original did, so rows
    # 15 and 16 join the test rows 15..21, which are trimmed at the end by 22 % 3 = 1.
    data = prepare(_config(input_len=22, batch_size=3, layout="seed"))
    expected_train = np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11], [12, 13, 14]])
    assert np.array_equal(data.train.row, expected_train)
    assert np.array_equal(data.test.row, np.array([[15, 16, 17], [18, 19, 20]]))
    assert data.n_train == 15
    assert data.dropped == 0


@pytest.mark.parametrize(
    ("input_len", "batch_size", "dropped", "used"),
    [(17, 3, 1, 12), (17, 5, 3, 10), (100, 7, 3, 77), (1000, 16, 0, 800), (1000, 1, 0, 800)],
)
def test_streams_report_the_dropped_tail(input_len, batch_size, dropped, used):
    data = prepare(_config(input_len=input_len, batch_size=batch_size))
    assert data.dropped == dropped
    assert data.train.row.size == used
    # The dropped rows are the last training rows; no training row appears twice.
    assert np.array_equal(np.sort(data.train.row.ravel()), np.arange(used))


def test_continue_feeds_dropped_training_rows_unscored_before_test():
    data = prepare(_config(input_len=17, batch_size=3, test_start="continue"))
    assert np.array_equal(data.test.row[:, 0], np.arange(12, 17))
    assert np.array_equal(data.test.scored[:, 0], [False, True, True, True, True])
    assert np.array_equal(data.test.x[:, 0], data.windows[12:17].astype(np.float32))


def test_continue_with_nothing_dropped_scores_every_test_row():
    data = prepare(_config(input_len=20, batch_size=4, test_start="continue"))
    assert data.dropped == 0
    assert np.array_equal(data.test.row[:, 0], np.arange(16, 20))
    assert data.test.scored.all()


def test_windows_orders_on_a_small_series():
    x = np.arange(6.0)
    oldest = np.array([[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]], float)
    assert np.array_equal(batching.windows(x, 3), oldest)
    assert np.array_equal(batching.windows(x, 3, "newest-first"), oldest[:, ::-1])


def _dataset_arrays(data):
    parts = {"windows": data.windows, "target": data.target}
    for name in ("train", "test"):
        batches = getattr(data, name)
        parts.update({f"{name}.{f}": getattr(batches, f) for f in ("x", "y", "row", "scored")})
    return parts


def test_layouts_agree_at_batch_size_one():
    streams = prepare(_config(tsteps=3, lahead=2))
    seed = prepare(_config(tsteps=3, lahead=2, layout="seed"))
    a, b = _dataset_arrays(streams), _dataset_arrays(seed)
    for key in a:
        assert a[key].shape == b[key].shape, key
        assert np.array_equal(a[key], b[key]), key
    assert (streams.n_train, streams.dropped) == (seed.n_train, seed.dropped) == (800, 0)


def test_layouts_train_alike_at_batch_size_one():
    base = {"input_len": 300, "epochs": 2, "tsteps": 3}
    streams = run_experiment(_config(**base))
    seed = run_experiment(_config(**base, layout="seed"))
    assert {k: m.to_dict() for k, m in streams.models.items()} == {
        k: m.to_dict() for k, m in seed.models.items()
    }
    for name in streams.test_pred:
        assert np.array_equal(streams.test_pred[name], seed.test_pred[name])
        assert np.array_equal(streams.train_loss[name], seed.train_loss[name])


def test_layouts_differ_beyond_batch_size_one():
    streams = prepare(_config(batch_size=4))
    seed = prepare(_config(batch_size=4, layout="seed"))
    assert not np.array_equal(streams.train.row, seed.train.row)
    # Both cover the same training rows, only in a different arrangement.
    assert np.array_equal(np.sort(streams.train.row.ravel()), np.sort(seed.train.row.ravel()))
    # In streams, row i of batch k+1 is the row after row i of batch k; in seed, B rows later.
    assert (np.diff(streams.train.row, axis=0) == 1).all()
    assert (np.diff(seed.train.row, axis=0) == 4).all()


# --- several series -----------------------------------------------------------------------------


def _series_data(lengths: list[int], lahead: int, horizon: int = 1):
    """Series whose inputs say where they come from: x[t] = 1000 * series + t (two features, the
    second negated), targets x[t + horizon]."""
    from statelab.tasks import Series, TaskData

    out = []
    for s, n in enumerate(lengths):
        x = np.stack([1000.0 * s + np.arange(n), -(1000.0 * s + np.arange(n))], axis=1)
        y = np.append(x[horizon:, 0], np.full(horizon, np.nan))
        out.append(Series(x=x, y=y, last=x[:, 0], to_drop=lahead - 1, drop_end=horizon, name=f"s{s}"))
    return TaskData(out, features=("up", "down"), target="up")


def _multi_config(batch_size: int, lahead: int):
    return from_mapping({"task": "file", "data": "unused.csv", "lahead": lahead, "batch_size": batch_size})


def _where(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(series, time) encoded in input values."""
    return values // 1000, values % 1000


@pytest.mark.parametrize(
    ("lengths", "batch_size", "lahead"), [([13, 9, 30, 6], 3, 2), ([40, 41], 4, 3), ([25], 2, 1)]
)
def test_no_window_spans_two_series_and_each_series_is_split_in_time(lengths, batch_size, lahead):
    data = _series_data(lengths, lahead)
    dataset = batching.make_dataset(data, _multi_config(batch_size, lahead))
    series, time = _where(dataset.windows[..., 0])
    assert np.all(series == series[:, :1])  # every value of a window from one series
    assert np.all(np.diff(time, axis=1) == 1)  # consecutive steps, oldest first
    np.testing.assert_array_equal(series[:, 0], dataset.series)
    np.testing.assert_array_equal(dataset.windows[..., 1], -dataset.windows[..., 0])  # features kept apart
    for s, n in enumerate(lengths):
        rows = dataset.series == s
        n_rows = n - (lahead - 1) - 1
        assert rows.sum() == n_rows
        n_before = int(n_rows * 0.8)
        # The first n_before windows of the series come before the test: a split in time. Of
        # them, the last fifth validate (a real series' default) and the rest train.
        np.testing.assert_array_equal(dataset.before_test[rows], np.arange(n_rows) < n_before)
        n_val = max(1, round(n_before * 0.2))
        np.testing.assert_array_equal(dataset.train_rows[rows], np.arange(n_rows) < n_before - n_val)
        np.testing.assert_array_equal(
            dataset.val_rows[rows], (np.arange(n_rows) >= n_before - n_val) & (np.arange(n_rows) < n_before)
        )
        np.testing.assert_array_equal(time[rows, -1], np.arange(lahead - 1, lahead - 1 + n_rows))
        np.testing.assert_array_equal(dataset.target[rows], 1000 * s + np.arange(lahead, lahead + n_rows))


def test_training_lanes_reset_exactly_where_they_move_to_another_series():
    dataset = batching.make_dataset(_series_data([13, 9, 30, 6], 2), _multi_config(3, 2))
    train = dataset.train
    owner = np.where(train.row >= 0, dataset.series[np.maximum(train.row, 0)], -1)
    expected = np.zeros(train.row.shape, bool)
    expected[1:] = owner[1:] != owner[:-1]
    np.testing.assert_array_equal(train.reset, expected)
    assert train.reset.any()
    # Each lane reads a contiguous stream of the training rows laid end to end (series after series).
    training = np.flatnonzero(dataset.train_rows)
    for lane in train.row.T:
        assert np.all(np.diff(np.searchsorted(training, lane)) == 1)
    assert dataset.fill == train.row.size / dataset.n_train and dataset.dropped == dataset.n_train % 3


def test_test_parts_are_packed_whole_into_the_emptiest_lanes_and_padding_is_unscored():
    lengths = [13, 9, 30, 6, 22]
    dataset = batching.make_dataset(_series_data(lengths, 1), _multi_config(3, 1))
    test = dataset.test
    assert test.shape[1] == 3  # min(batch size, series)
    seen = set()
    for lane in range(3):
        rows = test.row[:, lane]
        real = rows[rows >= 0]
        assert np.all(rows[len(real) :] == -1)  # padding only at the end
        np.testing.assert_array_equal(test.scored[:, lane], rows >= 0)
        owners = dataset.series[real]
        for s in np.unique(owners):
            mine = real[owners == s]
            assert np.all(np.diff(mine) == 1)  # whole, in time order, not interleaved
            assert len(mine) == np.sum((dataset.series == s) & ~dataset.before_test)
            seen.add(int(s))
        starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
        np.testing.assert_array_equal(np.flatnonzero(test.reset[: len(real), lane]), starts[1:])
    assert seen == set(range(len(lengths)))
    assert dataset.test_fill == pytest.approx(test.scored.sum() / test.row.size)
    assert np.all(test.x[~test.scored] == 0.0) and np.all(test.y[~test.scored] == 0.0)


def test_batches_gather_float32_windows_and_targets_of_their_rows():
    dataset = batching.make_dataset(_series_data([13, 9, 30], 2), _multi_config(3, 2))
    for batches in (dataset.train, dataset.test):
        real = batches.row >= 0
        assert batches.x.dtype == np.float32 and batches.x.shape == (*batches.shape, 2, 2)
        np.testing.assert_array_equal(batches.x[real], dataset.windows[batches.row[real]].astype(np.float32))
        np.testing.assert_array_equal(batches.y[real], dataset.target[batches.row[real]].astype(np.float32))
        assert batches.x.ctypes.data % 64 == 0  # aligned: JAX uses it in place


def test_several_series_refuse_the_seed_layout_and_a_continued_test():
    from statelab.config import ConfigError

    data = _series_data([20, 20], 1)
    rows = [s.n_rows for s in data.series]
    with pytest.raises(ConfigError, match="layout must be streams when the data hold several series"):
        _multi_config(2, 1).replace(layout="seed").check_rows(rows, ["s0", "s1"])
    with pytest.raises(ConfigError, match="test_start must be reset when the data hold several series"):
        _multi_config(2, 1).replace(test_start="continue").check_rows(rows, ["s0", "s1"])
