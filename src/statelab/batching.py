"""Windows, the train/test split, and the ways to lay series out in batches.

A stateful network carries the state of row i of one batch into row i of the next. Whether that
state belongs to the *preceding* sample depends on how the series is laid out. Take a training
series of 12 windows w0..w11 and batch size 3.

`streams` (the default; the layout of pytorch/examples word_language_model's `batchify`): cut the
series into 3 contiguous streams and advance every stream by one window per batch. Row i of every
batch is stream i, so each row's carried state comes from the window just before it::

                batch 0  batch 1  batch 2  batch 3
    row 0 ->      w0       w1       w2       w3       stream 0
    row 1 ->      w4       w5       w6       w7       stream 1
    row 2 ->      w8       w9       w10      w11      stream 2

`seed` (the original Keras example): consecutive windows side by side. Row i of batch k+1 follows
row i of batch k at a stride of the batch size, so a stateful model sees three series subsampled
by 3 and the history it is meant to carry is gone::

                batch 0  batch 1  batch 2  batch 3
    row 0 ->      w0       w3       w6       w9
    row 1 ->      w1       w4       w7       w10
    row 2 ->      w2       w5       w8       w11

At batch size 1 the two layouts are the same.

Several series (a file with a series column): each series is windowed on its own, so no window
spans two series, and split in time. Their training parts are laid end to end and cut into
streams as above; a row whose lane moves on to a new series there has its `reset` flag set, and
the model starts that row from a zero state, so a carried state never passes from one series to
another. Series a, b, c (a0..a5, b0..b3, c0..c1) in 3 lanes, `*` = reset::

                batch 0  batch 1  batch 2  batch 3
    lane 0 ->     a0       a1       a2       a3
    lane 1 ->     a4       a5      *b0       b1
    lane 2 ->     b2       b3      *c0       c1

The test parts are packed whole into lanes (longest first, each into the emptiest lane) and the
lanes padded at the end with unscored rows, so every test row is scored from its series' own
state. With one series this is one lane: the test series read in time order at batch size 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from statelab.config import ExperimentConfig
from statelab.tasks import TaskData

GATHER_CHUNK = 1 << 16  # rows gathered into the batches at a time


def aligned_empty(shape: tuple[int, ...], dtype: np.dtype | type, alignment: int = 64) -> np.ndarray:
    """An uninitialised array whose data start on a 64-byte boundary. JAX's CPU backend uses such
    memory in place when the array is passed to a compiled program, where it would copy an array
    at NumPy's usual 16-byte alignment: a large training set is then held once, not twice."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(size + alignment, np.uint8)
    offset = -raw.ctypes.data % alignment
    return raw[offset : offset + size].view(dtype).reshape(shape)


@dataclass(frozen=True)
class Batches:
    """Samples in the order a model consumes them: K batches of B rows.

    The rows are indices into the windowed data; the float32 input and target arrays are gathered
    from it when asked for (`x`, `y`), so a large dataset holds its windows once, not once more
    for each layout of them.
    """

    windows: np.ndarray = field(repr=False)  # (N, lahead, F) the windowed data `row` indexes
    target: np.ndarray = field(repr=False)  # (N,)
    row: np.ndarray  # (K, B) int64 index of each sample in the windowed data; -1 for padding
    scored: np.ndarray  # (K, B) bool; False for padding and rows fed only to warm the state up
    reset: np.ndarray  # (K, B) bool; True where a lane starts a new series: the state resets there

    @property
    def shape(self) -> tuple[int, int]:
        """(K, B): batches and rows per batch."""
        return self.row.shape

    @property
    def x(self) -> np.ndarray:
        """(K, B, lahead, F) float32 input windows, zeros where padded (a new array each time)."""
        real = self.row >= 0
        rows = np.where(real, self.row, 0).ravel()
        x = aligned_empty((*self.row.shape, *self.windows.shape[1:]), np.float32)
        flat = x.reshape(len(rows), *self.windows.shape[1:])
        for start in range(0, len(rows), GATHER_CHUNK):  # bounded temporaries for float64 windows
            part = slice(start, start + GATHER_CHUNK)
            flat[part] = self.windows[rows[part]]
        if not real.all():
            x[~real] = 0.0
        return x

    @property
    def y(self) -> np.ndarray:
        """(K, B) float32 targets, zeros where padded."""
        real = self.row >= 0
        return np.where(real, self.target[np.where(real, self.row, 0)], 0.0).astype(np.float32)


@dataclass(frozen=True)
class Dataset:
    """Windowed data split into training and test batches. Rows of all series, series after series."""

    # (n_rows, lahead, F) the model inputs in time order, 64-byte aligned: float64 for a generated
    # series, float32 for a file
    windows: np.ndarray
    target: np.ndarray  # (n_rows,) float64
    last: np.ndarray  # (n_rows,) float64 the last-value baseline's prediction
    best: np.ndarray  # (n_rows,) float64 the best unbounded-memory prediction; NaN where unknown
    series: np.ndarray  # (n_rows,) int64 which series each row belongs to
    train_rows: np.ndarray  # (n_rows,) bool, the training part of each series
    train: Batches
    test: Batches
    warm: np.ndarray  # (Kt, Bt) bool, the first test rows of each series (a reset model's warm-up)
    n_train: int  # training rows in the split (before trimming to batches)
    dropped: int  # training rows that did not fill a batch and were left out
    names: tuple[str, ...] = ("",)  # series ids
    features: tuple[str, ...] = ("x",)
    target_name: str = "y"
    notes: dict[str, Any] = field(default_factory=dict)  # how the task's data were read (TaskData.notes)
    scaling: dict[str, tuple[float, float]] | None = None  # (mean, scale) per column (TaskData.scaling)
    prepare_s: float = 0.0  # seconds spent reading and cutting the data (set by experiment.prepare)
    # The parameters it was laid out for (`layout_of`): a dataset serves any config that has them.
    layout_params: dict[str, Any] = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return self.windows.shape[2]

    @property
    def fill(self) -> float:
        """Share of the training rows laid out in the batches: the rest is the tail that did not
        fill a batch (training lanes are never padded)."""
        return float(np.sum(self.train.row >= 0)) / self.n_train if self.n_train else 0.0

    @property
    def test_fill(self) -> float:
        """Share of the test lanes' slots that hold a test row: the rest pads the lanes that end
        early (series are packed whole, longest first, each into the emptiest lane)."""
        return float(np.mean(self.test.row >= 0)) if self.test.row.size else 0.0


def windows(x: np.ndarray, lahead: int, order: str = "oldest-first") -> np.ndarray:
    """Row t holds the `lahead` inputs ending at x[t]: (L, F) -> (L - lahead + 1, lahead, F).

    `oldest-first` is the order a recurrent network reads time in. `newest-first` puts x[t] in
    position 0 and x[t-j] in position j, which is what the original's shifted columns produced.
    A one-dimensional x gives (L - lahead + 1, lahead).
    """
    return np.ascontiguousarray(window_view(x, lahead, order))


def window_view(x: np.ndarray, lahead: int, order: str = "oldest-first") -> np.ndarray:
    """`windows` as a view of x, without copying: (L - lahead + 1, lahead[, F])."""
    view = np.lib.stride_tricks.sliding_window_view(x, lahead, axis=0)  # (N, [F,] lahead)
    if x.ndim == 2:
        view = np.swapaxes(view, 1, 2)  # (N, lahead, F)
    return view if order == "oldest-first" else view[:, ::-1]


def stream_layout(rows: np.ndarray, batch_size: int) -> np.ndarray:
    """(N,) row indices -> (N // B, B): column i is the i-th contiguous stream. The tail is dropped."""
    length = len(rows) // batch_size
    return rows[: length * batch_size].reshape(batch_size, length).T


def seed_layout(rows: np.ndarray, batch_size: int) -> np.ndarray:
    """(N,) row indices -> (N // B, B): batch k holds B consecutive rows. The tail is dropped."""
    length = len(rows) // batch_size
    return rows[: length * batch_size].reshape(length, batch_size)


def pack_lanes(segments: list[np.ndarray], lanes: int) -> np.ndarray:
    """Whole segments of row indices into `lanes` lanes, longest first into the emptiest lane,
    padded with -1 at the end: (max lane length, lanes)."""
    content: list[list[int]] = [[] for _ in range(lanes)]
    for i in sorted(range(len(segments)), key=lambda i: -len(segments[i])):
        lane = min(range(lanes), key=lambda j: len(content[j]))
        content[lane].extend(segments[i].tolist())
    length = max(len(c) for c in content)
    out = np.full((length, lanes), -1, np.int64)
    for j, c in enumerate(content):
        out[: len(c), j] = c
    return out


def lane_resets(index: np.ndarray, series: np.ndarray) -> np.ndarray:
    """(K, B) True where a lane's row belongs to another series than the row before it."""
    owner = np.where(index >= 0, series[np.maximum(index, 0)], -1)
    reset = np.zeros(index.shape, bool)
    reset[1:] = (owner[1:] != owner[:-1]) & (index[1:] >= 0)
    return reset


def warmup_rows(index: np.ndarray, scored: np.ndarray, series: np.ndarray, warmup: int) -> np.ndarray:
    """(K, B) True on the first `warmup` scored test rows of each series: a stateful model tested
    from a reset state has no history for them. At least one row of each series stays out of it."""
    rows = index[scored]
    owner = series[rows]
    first = np.full(series.max() + 1, np.iinfo(np.int64).max)
    np.minimum.at(first, owner, rows)
    count = np.bincount(owner, minlength=len(first))
    limit = np.minimum(warmup, np.maximum(count - 1, 0))
    warm = np.zeros(index.shape, bool)
    warm[scored] = rows - first[owner] < limit[owner]
    return warm


def _batches(
    data: tuple[np.ndarray, np.ndarray], index: np.ndarray, scored: np.ndarray, reset: np.ndarray
) -> Batches:
    """The batches of row indices `index` (K, B), -1 for padding."""
    window, target = data
    return Batches(window, target, row=index.astype(np.int64), scored=scored & (index >= 0), reset=reset)


def layout_of(config: ExperimentConfig) -> dict[str, Any]:
    """The parameters a dataset depends on, {name: value}: the task's and how its rows are laid
    out; not the model, the optimiser or the epochs, so several models may share one dataset."""
    t = config.train
    return {
        **config.task.fields(),
        "batch_size": t.batch_size,
        "layout": t.layout,
        "window_order": t.window_order,
        "test_start": t.test_start,
    }


def make_dataset(data: TaskData, config: ExperimentConfig) -> Dataset:
    """Window each series, drop the rows without history, split each in time, lay out batches.

    Split as the original: the first int(n_rows * train_fraction) rows of a series train, the rest
    test. Training is laid out by `config.train.layout`. With `streams` the test is read lane by
    lane (one series: one lane at batch size 1); with `seed` as the original did, at the training
    batch size, trimmed by `n_rows % batch_size` rows at the end. With `test_start="continue"` (one
    series), the training rows dropped from the end of the last stream are fed before the test
    rows, unscored, so the test continues the carried state.
    """
    task, train = config.task, config.train
    counts = [s.n_rows for s in data.series]
    first = data.series[0]
    window = aligned_empty((sum(counts), task.lahead, first.x.shape[1]), first.x.dtype)
    target, last, best = np.empty(len(window)), np.empty(len(window)), np.full(len(window), np.nan)
    owner, train_mask = np.empty(len(window), np.int64), np.empty(len(window), bool)
    start = 0
    for s, series in enumerate(data.series):  # straight into place: one copy of the windows
        n, part = series.n_rows, slice(start, start + series.n_rows)
        begin = series.to_drop - (task.lahead - 1)  # the window ending at row to_drop starts here
        window[part] = window_view(series.x, task.lahead, train.window_order)[begin : begin + n]
        target[part] = series.y[series.to_drop : series.to_drop + n]
        last[part] = series.last[series.to_drop : series.to_drop + n]
        if series.best is not None:
            best[part] = series.best[series.to_drop : series.to_drop + n]
        owner[part] = s
        train_mask[part] = np.arange(n) < task.split(n)[0]
        start += n
    rows = np.arange(len(target))
    train_rows, test_rows = rows[train_mask], rows[~train_mask]
    b, n_train = train.batch_size, len(train_rows)

    if train.layout == "streams":
        train_index = stream_layout(train_rows, b)
        if len(data.series) == 1:
            first_test = train_index.size if train.test_start == "continue" else n_train
            test_index = rows[first_test:, None]  # (n_test [+ warm-up], 1): one stream
            scored = test_index >= n_train
        else:
            n_test = [n - task.split(n)[0] for n in counts]
            segments = np.split(test_rows, np.cumsum(n_test)[:-1])  # each series' test rows
            test_index = pack_lanes(segments, min(b, len(segments)))
            scored = test_index >= 0
    else:  # seed: one series, as the original
        n_train -= n_train % b
        train_index = seed_layout(rows[:n_train], b)
        test_index = seed_layout(rows[n_train : len(rows) - len(rows) % b], b)
        scored = np.ones(test_index.shape, bool)
    pair = (window, target)
    return Dataset(
        windows=window,
        target=target,
        last=last,
        best=best,
        series=owner,
        train_rows=train_mask,
        train=_batches(pair, train_index, np.ones(train_index.shape, bool), lane_resets(train_index, owner)),
        test=_batches(pair, test_index, scored, lane_resets(test_index, owner)),
        warm=warmup_rows(test_index, scored, owner, task.record.warmup(task)),
        n_train=n_train,
        dropped=n_train - train_index.size,
        names=tuple(s.name for s in data.series),
        features=data.features,
        target_name=data.target,
        notes=dict(data.notes),
        scaling=data.scaling,
        layout_params=layout_of(config),
    )
