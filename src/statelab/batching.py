"""Windows, the train/test split, and the two ways to lay a series out in batches.

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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from statelab.config import ExperimentConfig
from statelab.tasks import Series


@dataclass(frozen=True)
class Batches:
    """Samples in the order a model consumes them: K batches of B rows."""

    x: np.ndarray  # (K, B, lahead) float32 input windows
    y: np.ndarray  # (K, B) float32 targets
    row: np.ndarray  # (K, B) int64 index of each sample in the windowed series
    scored: np.ndarray  # (K, B) bool; False for rows fed only to warm the state up


@dataclass(frozen=True)
class Dataset:
    """Windowed data split into training and test batches."""

    windows: np.ndarray  # (n_rows, lahead) float64, the model inputs in time order
    target: np.ndarray  # (n_rows,) float64
    train: Batches
    test: Batches
    n_train: int  # training rows in the split (before trimming to batches)
    dropped: int  # training rows that did not fill a batch and were left out


def windows(x: np.ndarray, lahead: int, order: str = "oldest-first") -> np.ndarray:
    """Row t holds the `lahead` inputs ending at x[t]: (len(x) - lahead + 1, lahead).

    `oldest-first` is the order a recurrent network reads time in. `newest-first` puts x[t] in
    column 0 and x[t-j] in column j, which is what the original's shifted columns produced.
    """
    view = np.lib.stride_tricks.sliding_window_view(x, lahead)
    return np.ascontiguousarray(view if order == "oldest-first" else view[:, ::-1])


def stream_layout(rows: np.ndarray, batch_size: int) -> np.ndarray:
    """(N,) row indices -> (N // B, B): column i is the i-th contiguous stream. The tail is dropped."""
    length = len(rows) // batch_size
    return rows[: length * batch_size].reshape(batch_size, length).T


def seed_layout(rows: np.ndarray, batch_size: int) -> np.ndarray:
    """(N,) row indices -> (N // B, B): batch k holds B consecutive rows. The tail is dropped."""
    length = len(rows) // batch_size
    return rows[: length * batch_size].reshape(length, batch_size)


def _gather(window: np.ndarray, target: np.ndarray, index: np.ndarray, scored=None) -> Batches:
    return Batches(
        x=window[index].astype(np.float32),
        y=target[index].astype(np.float32),
        row=index.astype(np.int64),
        scored=np.ones(index.shape, bool) if scored is None else scored,
    )


def make_dataset(series: Series, config: ExperimentConfig) -> Dataset:
    """Window the series, drop the rows without history, split, and lay out the batches.

    Split as the original: the first int(n_rows * train_fraction) rows train, the rest test.
    Training is laid out by `config.train.layout`. The test series is read in time order: with
    `streams` as one stream of batch size 1; with `seed` as the original did, at the training
    batch size, trimmed by `n_rows % batch_size` rows at the end.
    With `test_start="continue"` and `streams`, the training rows dropped from the end of the
    last stream are fed before the test rows, unscored, so the test follows the carried state.
    """
    task, train = config.task, config.train
    n, b = series.n_rows, train.batch_size
    first = series.to_drop - (task.lahead - 1)  # the window ending at row to_drop starts here
    window = windows(series.x, task.lahead, train.window_order)[first : first + n]  # (n, lahead)
    target = series.y[series.to_drop : series.to_drop + n]  # (n,)
    rows = np.arange(n)
    n_split, _ = task.split(n)

    if train.layout == "streams":
        n_train = n_split
        train_index = stream_layout(rows[:n_train], b)
        first_test = train_index.size if train.test_start == "continue" else n_train
        test_index = rows[first_test:, None]  # (n_test [+ warm-up], 1): one stream
        scored = test_index >= n_train
    else:
        n_train = n_split - n_split % b
        train_index = seed_layout(rows[:n_train], b)
        test_index = seed_layout(rows[n_train : n - n % b], b)
        scored = None
    return Dataset(
        windows=window,
        target=target,
        train=_gather(window, target, train_index),
        test=_gather(window, target, test_index, scored),
        n_train=n_train,
        dropped=n_train - train_index.size,
    )
