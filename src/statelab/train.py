"""Training: one epoch is one jit-compiled `lax.scan` over batches.

The work is thousands of tiny, strictly sequential optimiser steps, so what costs is per-step
overhead, not arithmetic. Compiling a whole epoch as one scan leaves no Python in the loop. Data
are arguments of the compiled function, never constants closed over, so one compiled program
serves every config of the same shapes; the stateful and the stateless model of a run are trained
side by side by one program, `vmap`ped over a leading model axis (`stateful` is data, not code).

Ladder (flax examples/sst2 style): `keras_adam` -> `create_train_state` -> `window_loss` ->
`train_step` -> `train_epoch` (training scan, then `test_pass`) -> `fit_trials` -> `fit`.
Two states never to confuse: the `TrainState` (parameters and Adam's moments, updated by the
optimiser) and the `cells.RnnState` (the network's hidden state, carried from batch to batch).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from statelab import cells
from statelab.batching import Dataset, aligned_empty
from statelab.config import ExperimentConfig, ModelConfig
from statelab.host import release_memory
from statelab.names import MODELS  # the order of the leading model axis


def enable_compilation_cache(directory: str | Path) -> None:
    """Keep compiled programs on disk, so a second run with the same shapes skips compilation.

    XLA compilation of an epoch takes about half a second; loading it back, a few milliseconds.
    The numbers computed are the same either way: the cache holds the same executable.
    """
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


class AdamState(NamedTuple):
    # () int32: NumPy on the host, a jax.Array in a step. (optax's name; the field hides tuple.count)
    count: np.ndarray | jax.Array  # type: ignore[assignment]
    mu: Any
    nu: Any


def keras_adam(learning_rate, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-7):
    """Adam as Keras computes it: p -= lr * sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps).

    Keras adds epsilon to sqrt(v) *before* bias correction; optax.adam adds it after. With
    Keras' epsilon of 1e-7 and this task's tiny gradients the two differ measurably, so the
    Keras form is kept. `learning_rate` may be a traced scalar.
    """

    def init(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return AdamState(jnp.zeros((), jnp.int32), zeros, zeros)

    def update(grads, state, params=None):
        del params
        count = state.count + 1
        mu = jax.tree.map(lambda m, g: m + (g - m) * (1 - b1), state.mu, grads)
        nu = jax.tree.map(lambda v, g: v + (g * g - v) * (1 - b2), state.nu, grads)
        t = count.astype(jnp.float32)
        alpha = learning_rate * jnp.sqrt(1 - b2**t) / (1 - b1**t)
        updates = jax.tree.map(lambda m, v: -alpha * m / (jnp.sqrt(v) + eps), mu, nu)
        return updates, AdamState(count, mu, nu)

    return optax.GradientTransformation(init, update)


class TrainState(NamedTuple):
    """What the optimiser updates: parameters and Adam's moments. Not the RNN's carried state."""

    params: cells.Params
    opt: AdamState


def create_train_state(config: ModelConfig, copies: int = 1, input_dim: int = 1) -> TrainState:
    """Keras-initialised parameters from `config.model_seed` and a fresh optimiser state, as
    NumPy arrays stacked `copies` times on a leading axis (the models of a run start alike)."""
    params = cells.init_params(np.random.default_rng(config.model_seed), config, input_dim)
    state = TrainState(params, AdamState(np.zeros((), np.int32), *[zeros_like(params)] * 2))
    return jax.tree.map(lambda a: np.stack([a] * copies), state)


def zeros_like(tree):
    return jax.tree.map(np.zeros_like, tree)


# ---------------------------------------------------------------------------------------------
# Data of an epoch, as one pytree


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Stream:
    """Batches in the order a model reads them (see `statelab.batching`), as rows of the epoch's
    windows: each batch's inputs are gathered on the device as it is read, so a large dataset is
    held once (its windows), not once more in batch order."""

    row: Any  # (K, B) int32 index of each sample's window in EpochData.windows; -1: padding (zeros)
    y: Any  # (K, B) float32 targets
    weight: Any  # (K, B) float32: 1 where a row is scored (training batches are always full)
    reset: Any  # (K, B) bool: the lane starts a new series here, from a zero state


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class EpochData:
    """Everything an epoch reads. Arguments of the compiled program, never constants in it."""

    windows: Any  # (N, T, F) float32 every window of the trial; the streams index it
    train: Stream
    val: Stream  # the rows scored after every epoch: the validation rows, or the test's (the original)
    val_warm: Any  # (Kv, Bv) float32: 1 on the val rows a reset stateful model has no history for
    learning_rate: Any  # () float32
    continue_test: Any  # () bool: the stateful passes after training continue from its end


def take_windows(windows: jax.Array, row: jax.Array) -> jax.Array:
    """The windows of a batch's rows: (N, T, F), (B,) -> (B, T, F), zeros where row is -1."""
    return jnp.where((row >= 0)[:, None, None], jnp.take(windows, jnp.maximum(row, 0), axis=0), 0.0)


def device_windows(dataset: Dataset) -> np.ndarray:
    """The windows as the compiled programs read them: float32 on a 64-byte boundary, which JAX
    uses in place. Those of a file are that already; a generated series' (float64, for its
    bit-exact targets) are rounded into a new array."""
    if dataset.windows.dtype == np.float32 and dataset.windows.ctypes.data % 64 == 0:
        return dataset.windows
    windows = aligned_empty(dataset.windows.shape, np.float32)
    windows[:] = dataset.windows
    return windows


def stream_of(batches) -> Stream:
    """A `batching.Batches` as the compiled programs read it."""
    return Stream(batches.row.astype(np.int32), batches.y, batches.scored.astype(np.float32), batches.reset)


def epoch_data(config: ExperimentConfig, dataset: Dataset) -> EpochData:
    """The NumPy arrays of one trial's epoch (no leading trial axis)."""
    return EpochData(
        windows=device_windows(dataset),
        train=stream_of(dataset.train),
        val=stream_of(dataset.validation),
        val_warm=dataset.validation_warm.astype(np.float32),
        learning_rate=np.asarray(config.train.learning_rate, np.float32),
        continue_test=np.asarray(config.train.test_start == "continue"),
    )


def epoch_shapes(dataset: Dataset) -> EpochData:
    """The shapes and dtypes of `epoch_data(config, dataset)`, without building it: what a program
    is compiled for before the data are put in place."""

    def spec(shape: tuple[int, ...], dtype: Any) -> jax.ShapeDtypeStruct:
        return jax.ShapeDtypeStruct(shape, np.dtype(dtype))

    def stream(batches) -> Stream:
        k_b = batches.shape
        return Stream(spec(k_b, np.int32), spec(k_b, np.float32), spec(k_b, np.float32), spec(k_b, bool))

    return EpochData(
        windows=spec(dataset.windows.shape, np.float32),
        train=stream(dataset.train),
        val=stream(dataset.validation),
        val_warm=spec(dataset.validation_warm.shape, np.float32),
        learning_rate=spec((), np.float32),
        continue_test=spec((), bool),
    )


# ---------------------------------------------------------------------------------------------
# The state across batch boundaries


def carry_state(state: cells.RnnState, stateful: jax.Array) -> cells.RnnState:
    """The state a batch starts from: the one subtle step of stateful training.

    stateful: the previous batch's final state, as values only. `stop_gradient` cuts the graph
    at the batch boundary, so the loss of batch k+1 is differentiated through batch k+1 alone
    (truncated backpropagation through time, as Keras' stateful RNNs and pytorch/examples'
    `repackage_hidden` do), or, with `bptt = K`, through the K - 1 batches before it, which
    `window_loss` runs from this cut state. stateless: a zero state for every batch.
    """
    return jax.tree.map(lambda s: jnp.where(stateful, jax.lax.stop_gradient(s), 0.0), state)


def keep_state(state: cells.RnnState, stateful: jax.Array) -> cells.RnnState:
    """The state carried into the next batch *inside* a truncation window: no cut."""
    return jax.tree.map(lambda s: jnp.where(stateful, s, 0.0), state)


def reset_lanes(state: cells.RnnState, reset: jax.Array) -> cells.RnnState:
    """Zero the state of the lanes (rows) that start a new series. reset: (B,) bool."""
    return jax.tree.map(lambda s: jnp.where(reset[:, None], 0.0, s), state)


class History(NamedTuple):
    """The bptt - 1 batches before the current one, oldest first, that its loss reaches back through."""

    x: Any  # (K-1, B, T, F)
    reset: Any  # (K-1, B) bool
    valid: Any  # (K-1,) bool; False until that many batches have been seen this epoch


def empty_history(x: Any, bptt: int) -> History:
    """No batches yet. x: (K, B, T, F) the epoch's batches, or their shape and dtype."""
    n = bptt - 1
    return History(
        jnp.zeros((n, *x.shape[1:]), x.dtype), jnp.zeros((n, x.shape[1]), bool), jnp.zeros((n,), bool)
    )


def push(history: History, x: jax.Array, reset: jax.Array) -> History:
    """The history of the next batch: the oldest batch drops out, this one comes in."""
    if history.valid.shape[0] == 0:
        return history

    def shift(old, new):
        return jnp.concatenate([old[1:], new[None]])

    return History(shift(history.x, x), shift(history.reset, reset), shift(history.valid, jnp.array(True)))


def window_loss(params, state_in, history: History, x, y, reset, stateful, cell: str):
    """MSE of one batch, run from `state_in` through the `history` batches first.

    The graph is cut where `state_in` enters (`carry_state`) and reaches through every history
    batch, so with bptt = K the gradient of this batch's loss reaches K - 1 batches back. Returns
    (loss, (final state, state after the oldest history batch)): the latter is where the next
    step's window starts, as values.
    """

    def through(state, past):
        x_j, reset_j, valid_j = past
        moved, _ = cells.apply(params, keep_state(reset_lanes(state, reset_j), stateful), x_j, cell)
        state = jax.tree.map(lambda new, old: jnp.where(valid_j, new, old), moved, state)
        return state, state

    state = carry_state(state_in, stateful)
    if history.valid.shape[0]:
        state, passed = jax.lax.scan(through, state, history)
        after_oldest = jax.tree.map(lambda s: s[0], passed)
        state = keep_state(reset_lanes(state, reset), stateful)
    else:
        after_oldest = None
        state = reset_lanes(state, reset)  # (a reset of a cut state: still cut)
    state, pred = cells.apply(params, state, x, cell)
    return jnp.mean((pred - y) ** 2), (state, state if after_oldest is None else after_oldest)


def train_step(ts: TrainState, state_in, history: History, x, y, reset, stateful, learning_rate, cell: str):
    """One optimiser step on one batch. x: (B, T, F), y: (B,).

    Returns (train state, final RNN state, where the next window starts, loss)."""
    grad_fn = jax.value_and_grad(window_loss, has_aux=True)
    (loss, (final, start_next)), grads = grad_fn(ts.params, state_in, history, x, y, reset, stateful, cell)
    updates, opt = keras_adam(learning_rate).update(grads, ts.opt)
    return TrainState(optax.apply_updates(ts.params, updates), opt), final, start_next, loss


def _zero_state_like(params: cells.Params, cell: str, batch: int) -> cells.RnnState:
    units = params["dense"]["kernel"].shape[0]
    per_layer = cells.CELLS[cell].zero_state(batch, units)
    return tuple(per_layer for _ in params["cells"])


def run_rows(params, windows, rows, stateful, initial_state, cell: str, reset=None):
    """Run over batches in order, carrying state if stateful; each batch's windows are gathered
    from `windows` (N, T, F) by its rows (K, B) (-1: a zero window). reset: (K, B) bool or None.
    Returns (final state, predictions (K, B))."""
    if reset is None:
        reset = jnp.zeros(rows.shape, bool)

    def body(state, batch):
        row_k, reset_k = batch
        x_k = take_windows(windows, row_k)
        return cells.apply(params, carry_state(reset_lanes(state, reset_k), stateful), x_k, cell)

    return jax.lax.scan(body, initial_state, (rows, reset))


def run_batches(params, x, stateful, initial_state, cell: str, reset=None):
    """`run_rows` over batches given as windows, x: (K, B, T, F)."""
    k, b = x.shape[:2]
    rows = jnp.arange(k * b, dtype=jnp.int32).reshape(k, b)
    return run_rows(params, x.reshape(k * b, *x.shape[2:]), rows, stateful, initial_state, cell, reset)


def predict_batches(params, x, stateful, initial_state, cell: str, reset=None):
    """Predictions over batches in order, carrying state if stateful. x: (K, B, T, F) -> (K, B)."""
    return run_batches(params, x, stateful, initial_state, cell, reset)[1]


def test_start_state(final: cells.RnnState, continue_test: jax.Array, lanes: int) -> cells.RnnState:
    """The state the test pass starts from: zero (reset), or where training ended (continue).

    Coupled to the layouts of `statelab.batching`: with `streams` the test series (one lane)
    follows the *last* training stream, row B - 1, in time; with `seed` the test batches have
    the training batch size and each row follows its own row. Either way the test lanes continue
    the last `lanes` training rows.
    """
    return jax.tree.map(lambda s: jnp.where(continue_test, s[s.shape[0] - lanes :], 0.0), final)


def test_pass(params, windows, test: Stream, stateful, start: cells.RnnState, cell: str):
    """Predictions over the test batches from `start`: (Kt, Bt)."""
    return run_rows(params, windows, test.row, stateful, start, cell, test.reset)[1]


def train_epoch(ts: TrainState, stateful, data: EpochData, *, cell: str, bptt: int):
    """One epoch over the training batches from a reset state, then one pass over the validation
    rows (the test rows where there are none, as the original).

    stateful: () bool. Returns (train state, each batch's training loss (K,), validation
    predictions (Kv, Bv), the state the pass started from). The epoch's mean training loss and
    its validation loss are summed from these on the host (`epoch_losses`).
    """
    train = data.train
    batch = train.row.shape[1]

    def body(carry, batch_k):
        ts, state_in, history, _ = carry
        row, y, reset = batch_k
        x = take_windows(data.windows, row)  # (B, T, F)
        ts, final, start_next, loss = train_step(
            ts, state_in, history, x, y, reset, stateful, data.learning_rate, cell
        )
        return (ts, start_next, push(history, x, reset), final), loss

    zero = _zero_state_like(ts.params, cell, batch)
    batches = jax.ShapeDtypeStruct((*train.row.shape, *data.windows.shape[1:]), data.windows.dtype)
    carry = (ts, zero, empty_history(batches, bptt), zero)
    (ts, _, _, final), losses = jax.lax.scan(body, carry, (train.row, train.y, train.reset))

    start = test_start_state(final, data.continue_test, data.val.row.shape[1])
    preds = test_pass(ts.params, data.windows, data.val, stateful, start, cell)
    return ts, losses, preds, start


def validation_weights(data: EpochData, stateful: np.ndarray) -> np.ndarray:
    """(M, Kv, Bv) float64: the weight of each validation row in each model's validation loss,
    from a trial's NumPy EpochData. The scored rows, without a reset stateful model's warm-up
    rows; validating on the test rows, the rows of `test_mse`, so the last epoch's validation
    loss is the test MSE (to float32)."""
    weight = np.asarray(data.val.weight, np.float64)
    skip_warm = stateful & ~bool(data.continue_test)
    return np.where(skip_warm[:, None, None], weight * (1.0 - np.asarray(data.val_warm)), weight)


def epoch_losses(
    losses: np.ndarray, preds: np.ndarray, y: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One trial's (mean training loss, validation loss) of an epoch, (M,) float32 each, from its
    batches' losses (M, K), its validation predictions (M, Kv, Bv), the targets y (Kv, Bv) and
    `validation_weights`.

    Summed here, in float64, not in the compiled program: XLA picks the order in which it sums a
    reduction by the shape of the whole array, trial axis included, so an in-program mean of the
    same losses differs in its last bits between a trial trained alone and in a group.
    """
    train_loss = np.asarray(np.mean(losses, axis=-1, dtype=np.float64), np.float32)
    errors = (preds.astype(np.float64) - y) ** 2
    val_loss = np.asarray(np.sum(weights * errors, axis=(1, 2)) / np.sum(weights, axis=(1, 2)), np.float32)
    return train_loss, val_loss


# Where the trial axis sits in a group's EpochData: just after the batch axis K of everything
# read batch by batch (the scan over batches then reads each trial's data in place; a leading
# trial axis would make XLA transpose them first), first on the windows and the scalars.
TRIAL_AXES = EpochData(
    windows=0, train=Stream(1, 1, 1, 1), val=Stream(1, 1, 1, 1), val_warm=1, learning_rate=0, continue_test=0
)


@functools.partial(jax.jit, static_argnames=("cell", "bptt"))
def train_trials_epoch(ts, stateful, data: EpochData, *, cell: str, bptt: int):
    """`train_epoch` for T trials of M models each: one compiled program for a whole group.

    ts: (T, M, ...) train states; stateful: (M,); data: one EpochData with a trial axis T on every
    array, where `TRIAL_AXES` puts it (x: (K, T, B, lahead, F)). The models of a trial share its
    data; trials share nothing but shapes.
    """
    epoch = functools.partial(train_epoch, cell=cell, bptt=bptt)
    models = jax.vmap(epoch, in_axes=(0, 0, None))
    return jax.vmap(models, in_axes=(0, None, TRIAL_AXES))(ts, stateful, data)


@functools.partial(jax.jit, static_argnames=("cell",))
def test_trials(params, stateful, windows, test: Stream, start, *, cell: str):
    """The test pass of T trials of M models each, once training is over: (T, M, Kt, Bt).

    Where validation rows of their own are scored after every epoch, the test rows are read by
    this program alone, once. params, start: (T, M, ...); stateful: (M,); windows: (T, N, lahead,
    F); test: a Stream with its trial axis after the batch axis, as `TRIAL_AXES` puts it."""

    def one(p, flag, state, win, stream):
        return test_pass(p, win, stream, flag, state, cell)

    models = jax.vmap(one, in_axes=(0, 0, 0, None, None))
    return jax.vmap(models, in_axes=(0, None, 0, 0, Stream(1, 1, 1, 1)))(
        params, stateful, start, windows, test
    )


@dataclass(frozen=True)
class FitResult:
    """What training produced, for the models of `MODELS` in order."""

    params: list[cells.Params]  # one parameter tree per model: the last epoch's, or the best kept
    train_loss: np.ndarray  # (M, epochs run)
    val_loss: np.ndarray  # (M, epochs run)
    test_pred: np.ndarray  # (M, Kt, Bt) test predictions of those parameters
    test_start: list[cells.RnnState]  # per model: the state its test pass started from
    best_epoch: list[int] | None = None  # early stopping: per model the epoch kept (from 0)


def _keep(kept: Any, new: Any, better: np.ndarray) -> Any:
    """Leaves of `new` (T, M, ...) where `better` (T, M) holds, else those of `kept` (on the host)."""

    def pick(k: np.ndarray, n: Any) -> np.ndarray:
        n = np.asarray(n)
        return np.where(better.reshape(better.shape + (1,) * (n.ndim - 2)), n, k)

    return jax.tree.map(pick, kept, new)


# on_epoch(epoch, train_loss (T, M), val_loss (T, M)) after every epoch
EpochCallback = Callable[[int, np.ndarray, np.ndarray], None]


def shape_key(config: ExperimentConfig) -> tuple:
    """Configs with equal keys can train together in one compiled program (`fit_trials`).

    Everything that sets an array shape or a static argument; the rest (tsteps, amplitude, seeds,
    learning rate, window order) is data, and the epochs are how often the program runs.

    Not shared: `lahead` (the window length) and `bptt` (the batches a gradient reaches back
    through). A program for several would mask the steps a trial does not take, and XLA:CPU then
    rounds the steps it does take differently: whether it contracts a multiply and an add into
    one FMA instruction depends on how it fuses the whole program. Windows padded to the longest
    lahead and masked gave 8 of 24 trials bit-identical to their own program (24 of 24 with FMA
    instructions off), and at the reference size ran slower than the programs they replaced
    (bench/RESULTS.md, "One program for several lahead").
    """
    t, m, tr = config.task, config.model, config.train
    if t.synthetic:
        rows: tuple = (t.input_len, t.train_fraction)
    else:  # a real series' shapes depend on its file, its columns and every parameter of its cut
        rows = tuple(t.fields().items())
    shapes = (m.cell, m.units, m.layers, *rows, t.lahead, tr.batch_size, tr.layout, tr.bptt, config.val_share)
    return (*shapes, tr.test_start)


def stack(arrays: tuple[np.ndarray, ...], axis: int = 0) -> np.ndarray:
    """Arrays on a new trial axis at `axis`; one array as a view (a large dataset is not copied
    on its way to the device)."""
    if len(arrays) == 1:
        return np.expand_dims(np.asarray(arrays[0]), axis)
    return np.stack(arrays, axis)


def fit_trials(
    configs: list[ExperimentConfig],
    datasets: list[Dataset],
    on_epoch: EpochCallback | None = None,
) -> list[FitResult]:
    """Train the stateful and the stateless model of every trial, all trials at once.

    Every config must have the same `shape_key`. Each trial's models start from the same
    Keras-initialised weights (from its `model_seed`). Their epochs may differ: the program runs
    for the most epochs and each trial's result is taken after its own last epoch. Trials share
    nothing but the program, so training one further changes no other; `on_epoch` hears every
    trial at every epoch, past its own last one too.
    """
    keys = {shape_key(c) for c in configs}
    if len(keys) != 1:
        raise ValueError(f"fit_trials needs configs of one shape, got {len(keys)} shapes")
    first = configs[0]
    n_models = len(MODELS)
    n_features = datasets[0].n_features
    states = [create_train_state(c.model, n_models, n_features) for c in configs]
    ts = jax.tree.map(lambda *a: jax.device_put(stack(a)), *states)  # (T, M, ...)
    stateful = np.array([m == "stateful" for m in MODELS])
    # Compiled before the data are gathered: on a large dataset the compiler's memory and the
    # data's are then never held at once.
    shapes = jax.tree.map(
        lambda axis, s: jax.ShapeDtypeStruct((*s.shape[:axis], len(configs), *s.shape[axis:]), s.dtype),
        TRIAL_AXES,
        epoch_shapes(datasets[0]),
    )
    epoch_program = train_trials_epoch.lower(
        ts, stateful, shapes, cell=first.model.cell, bptt=first.train.bptt
    ).compile()
    release_memory()  # what the compiler freed, before the data take its place
    trials = [epoch_data(c, d) for c, d in zip(configs, datasets)]
    scoring = [(t.val.y, validation_weights(t, stateful)) for t in trials]  # (Kv, Bv), (M, Kv, Bv)
    data = jax.tree.map(lambda axis, *a: jax.device_put(stack(a, axis)), TRIAL_AXES, *trials)
    del trials  # the device holds the windows now (a group of one: the same memory)
    epochs = [c.train.epochs for c in configs]
    patience = [c.train.early_stopping for c in configs]
    train_hist, val_hist = [], []
    results: list[FitResult | None] = [None] * len(configs)
    # Early stopping: a host copy of each model's parameters (and the state its test pass starts
    # from) at its best validation loss so far; NaN is never better.
    best_loss = best_epoch = kept = None
    for epoch in range(max(epochs)):
        ts, losses, preds, start = epoch_program(ts, stateful, data)
        losses, preds = np.asarray(losses), np.asarray(preds)  # (T, M, K), (T, M, Kv, Bv)
        both = [epoch_losses(losses[t], preds[t], *scoring[t]) for t in range(len(configs))]
        train_hist.append(np.stack([b[0] for b in both]))  # (T, M)
        val_hist.append(np.stack([b[1] for b in both]))
        if on_epoch is not None:
            on_epoch(epoch, train_hist[-1], val_hist[-1])
        if any(p is not None for p in patience):
            loss = np.where(np.isnan(val_hist[-1]), np.inf, val_hist[-1])
            if best_loss is None or best_epoch is None or kept is None:
                kept = jax.tree.map(np.asarray, (ts.params, start))
                best_loss, best_epoch = loss, np.zeros(loss.shape, np.int64)
            elif (better := loss < best_loss).any():
                kept = _keep(kept, (ts.params, start), better)
                best_loss = np.where(better, loss, best_loss)
                best_epoch = np.where(better, epoch, best_epoch)
        done = [
            t
            for t, e in enumerate(epochs)
            if results[t] is None
            and (
                e == epoch + 1
                or (
                    patience[t] is not None
                    and best_epoch is not None
                    and np.all(epoch - best_epoch[t] >= patience[t])
                )
            )
        ]
        if done:
            params, begin = jax.tree.map(np.asarray, (ts.params, start))
            train_loss, val_loss = np.stack(train_hist, -1), np.stack(val_hist, -1)  # (T, M, epoch + 1)
            for t in done:
                chosen, state = (params, begin) if patience[t] is None or kept is None else kept
                results[t] = FitResult(
                    params=[jax.tree.map(lambda a, t=t, m=m: a[t, m], chosen) for m in range(n_models)],
                    train_loss=train_loss[t],
                    val_loss=val_loss[t],
                    test_pred=preds[t],
                    test_start=[jax.tree.map(lambda a, t=t, m=m: a[t, m], state) for m in range(n_models)],
                    best_epoch=None
                    if patience[t] is None or best_epoch is None
                    else [int(e) for e in best_epoch[t]],
                )
        if all(r is not None for r in results):
            break
    out = [r for r in results if r is not None]
    if datasets[0].separate_validation:  # the test rows, read once, by the parameters kept
        out = _test_once(out, datasets, stateful, data.windows, first.model.cell)
    return out


def _test_once(
    results: list[FitResult], datasets: list[Dataset], stateful: np.ndarray, windows: Any, cell: str
) -> list[FitResult]:
    """Each trial's test predictions by its final (or kept) parameters, from the state its test
    pass starts from: one run of `test_trials` over the group."""

    def by_trial(trees: list[Any]) -> Any:  # [per model] of each trial -> (T, M, ...)
        return jax.tree.map(
            lambda *a: np.stack(a), *[jax.tree.map(lambda *m: np.stack(m), *t) for t in trees]
        )

    params = by_trial([r.params for r in results])
    start = by_trial([r.test_start for r in results])
    test = jax.tree.map(lambda *a: jax.device_put(stack(a, 1)), *[stream_of(d.test) for d in datasets])
    preds = np.asarray(test_trials(params, stateful, windows, test, start, cell=cell))
    return [dataclasses.replace(r, test_pred=preds[t]) for t, r in enumerate(results)]


def fit(config: ExperimentConfig, dataset: Dataset, on_epoch: EpochCallback | None = None) -> FitResult:
    """Train the stateful and the stateless model of one config (a group of one trial)."""
    return fit_trials([config], [dataset], on_epoch)[0]
