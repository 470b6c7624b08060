"""Training: one epoch is one jit-compiled `lax.scan` over batches.

The work is thousands of tiny, strictly sequential optimiser steps, so what costs is per-step
overhead, not arithmetic. Compiling a whole epoch as one scan leaves no Python in the loop. Data
are arguments of the compiled function, never constants closed over, so one compiled program
serves every config of the same shapes; the stateful and the stateless model of a run are trained
side by side by one program, `vmap`ped over a leading model axis (`stateful` is data, not code).

Ladder (flax examples/sst2 style): `keras_adam` -> `create_train_state` -> `train_step` ->
`train_epoch` -> `evaluate` -> `fit`.
"""

from __future__ import annotations

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
from statelab.batching import Dataset
from statelab.config import ExperimentConfig, ModelConfig

MODELS = ("stateful", "stateless")  # the order of the leading model axis


def enable_compilation_cache(directory: str | Path) -> None:
    """Keep compiled programs on disk, so a second run with the same shapes skips compilation.

    XLA compilation of an epoch takes about half a second; loading it back, a few milliseconds.
    The numbers computed are the same either way: the cache holds the same executable.
    """
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


class AdamState(NamedTuple):
    count: jax.Array  # () int32
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
    params: cells.Params
    opt: AdamState


def create_train_state(config: ModelConfig, copies: int = 1) -> TrainState:
    """Keras-initialised parameters from `config.model_seed` and a fresh optimiser state, as
    NumPy arrays stacked `copies` times on a leading axis (the models of a run start alike)."""
    params = cells.init_params(np.random.default_rng(config.model_seed), config)
    state = TrainState(params, AdamState(np.zeros((), np.int32), *[zeros_like(params)] * 2))
    return jax.tree.map(lambda a: np.stack([a] * copies), state)


def zeros_like(tree):
    return jax.tree.map(np.zeros_like, tree)


def carry_state(state: cells.State, stateful: jax.Array) -> cells.State:
    """The state a batch starts from: the one subtle step of stateful training.

    stateful: the previous batch's final state, as values only. `stop_gradient` cuts the graph
    at the batch boundary, so the loss of batch k+1 is differentiated through batch k+1 alone
    (truncated backpropagation through time, as Keras' stateful RNNs and pytorch/examples'
    `repackage_hidden` do). Within the scan the carried state is already outside what
    `value_and_grad` differentiates; the explicit cut keeps that true if the step is ever
    differentiated across batches.
    stateless: a zero state for every batch.
    """
    return jax.tree.map(lambda s: jnp.where(stateful, jax.lax.stop_gradient(s), 0.0), state)


def _loss(params, state, x, y, cell):
    state, pred = cells.apply(params, state, x[..., None], cell)  # x: (B, T) -> (B, T, 1)
    return jnp.mean((pred - y) ** 2), state


def train_step(ts: TrainState, state, x, y, stateful, learning_rate, cell: str):
    """One optimiser step on one batch. x: (B, T), y: (B,). Returns (ts, final state, loss)."""
    state = carry_state(state, stateful)
    (loss, state), grads = jax.value_and_grad(_loss, has_aux=True)(ts.params, state, x, y, cell)
    updates, opt = keras_adam(learning_rate).update(grads, ts.opt)
    return TrainState(optax.apply_updates(ts.params, updates), opt), state, loss


def _zero_state_like(params: cells.Params, cell: str, batch: int) -> cells.State:
    units = params["dense"]["kernel"].shape[0]
    per_layer = cells.CELLS[cell].zero_state(batch, units)
    return tuple(per_layer for _ in params["cells"])


def run_batches(params, x, stateful, initial_state, cell: str):
    """Run over batches in order, carrying state if stateful. x: (K, B, T) -> (final state, (K, B))."""

    def body(state, x_k):
        return cells.apply(params, carry_state(state, stateful), x_k[..., None], cell)

    return jax.lax.scan(body, initial_state, x)


def predict_batches(params, x, stateful, initial_state, cell: str):
    """Predictions over batches in order, carrying state if stateful. x: (K, B, T) -> (K, B)."""
    return run_batches(params, x, stateful, initial_state, cell)[1]


def train_epoch(
    ts, stateful, learning_rate, continue_test, train_x, train_y, test_x, test_y, test_w, *, cell
):
    """One epoch over the training batches from a reset state, then one pass over the test.

    stateful, continue_test: () bool. train_x: (K, B, T), train_y: (K, B); test_x: (Kt, Bt, T),
    test_y, test_w: (Kt, Bt), test_w 1 where a row is scored. Returns
    (ts, mean training loss, test loss, test predictions (Kt, Bt)).
    """
    batch = train_x.shape[1]

    def body(carry, xy):
        ts, state = carry
        ts, state, loss = train_step(ts, state, *xy, stateful, learning_rate, cell)
        return (ts, state), loss

    start = _zero_state_like(ts.params, cell, batch)
    (ts, final), losses = jax.lax.scan(body, (ts, start), (train_x, train_y))

    # The test pass starts from zero, or from the end of training (the last Bt rows' states).
    rows = test_x.shape[1]
    test_start = jax.tree.map(lambda s: jnp.where(continue_test, s[batch - rows :], 0.0), final)
    preds = predict_batches(ts.params, test_x, stateful, test_start, cell)
    test_loss = jnp.sum(test_w * (preds - test_y) ** 2) / jnp.sum(test_w)
    return ts, jnp.mean(losses), test_loss, preds


@functools.partial(jax.jit, static_argnames="cell")
def train_trials_epoch(ts, stateful, learning_rate, continue_test, *data, cell):
    """`train_epoch` for T trials of M models each: one compiled program for a whole group.

    ts: (T, M, ...) train states; stateful: (M,); learning_rate, continue_test: (T,);
    data: the five arrays of `train_epoch`, each with a leading trial axis T. The models of a
    trial share its data; trials share nothing but their shapes.
    """
    epoch = functools.partial(train_epoch, cell=cell)
    models = jax.vmap(epoch, in_axes=(0, 0, None, None, None, None, None, None, None))
    return jax.vmap(models, in_axes=(0, None, 0, 0, 0, 0, 0, 0, 0))(
        ts, stateful, learning_rate, continue_test, *data
    )


@dataclass(frozen=True)
class FitResult:
    """What training produced, for the models of `MODELS` in order."""

    params: list[cells.Params]  # one parameter tree per model
    train_loss: np.ndarray  # (M, epochs)
    test_loss: np.ndarray  # (M, epochs)
    test_pred: np.ndarray  # (M, Kt, Bt) predictions after the last epoch


# on_epoch(epoch, train_loss (T, M), test_loss (T, M)) after every epoch
EpochCallback = Callable[[int, np.ndarray, np.ndarray], None]


def shape_key(config: ExperimentConfig) -> tuple:
    """Configs with equal keys train together in one compiled program (`fit_trials`).

    Everything that sets an array shape, a static argument, or the number of epochs; the rest
    (tsteps, amplitude, seeds, learning rate, window order, test start) is data.
    """
    t, m, tr = config.task, config.model, config.train
    rows = (t.input_len, t.train_fraction) if t.synthetic else (t.task, t.data, t.column, t.train_fraction)
    shapes = (m.cell, m.units, m.layers, *rows, t.lahead, tr.batch_size, tr.layout)
    return (*shapes, tr.epochs, tr.test_start)


def _stack(arrays) -> jax.Array:
    return jax.device_put(np.stack(arrays))


def fit_trials(
    configs: list[ExperimentConfig],
    datasets: list[Dataset],
    on_epoch: EpochCallback | None = None,
) -> list[FitResult]:
    """Train the stateful and the stateless model of every trial, all trials at once.

    Every config must have the same `shape_key`. Each trial's models start from the same
    Keras-initialised weights (from its `model_seed`).
    """
    keys = {shape_key(c) for c in configs}
    if len(keys) != 1:
        raise ValueError(f"fit_trials needs configs of one shape, got {len(keys)} shapes")
    first = configs[0]
    n_models = len(MODELS)
    states = [create_train_state(c.model, n_models) for c in configs]
    ts = jax.tree.map(lambda *a: jax.device_put(np.stack(a)), *states)  # (T, M, ...)
    stateful = np.array([m == "stateful" for m in MODELS])
    lr = np.array([c.train.learning_rate for c in configs], np.float32)
    continue_test = np.array([c.train.test_start == "continue" for c in configs])
    data = [
        _stack([getattr(getattr(d, part), name).astype(np.float32) for d in datasets])
        for part, name in [("train", "x"), ("train", "y"), ("test", "x"), ("test", "y"), ("test", "scored")]
    ]
    train_hist, test_hist = [], []
    for epoch in range(first.train.epochs):
        ts, train_loss, test_loss, preds = train_trials_epoch(
            ts, stateful, lr, continue_test, *data, cell=first.model.cell
        )
        train_hist.append(np.asarray(train_loss))  # (T, M)
        test_hist.append(np.asarray(test_loss))
        if on_epoch is not None:
            on_epoch(epoch, train_hist[-1], test_hist[-1])
    host = jax.tree.map(np.asarray, ts.params)
    train_loss, test_loss, preds = np.stack(train_hist, -1), np.stack(test_hist, -1), np.asarray(preds)
    return [
        FitResult(
            params=[jax.tree.map(lambda a, t=t, m=m: a[t, m], host) for m in range(n_models)],
            train_loss=train_loss[t],
            test_loss=test_loss[t],
            test_pred=preds[t],
        )
        for t in range(len(configs))
    ]


def fit(config: ExperimentConfig, dataset: Dataset, on_epoch: EpochCallback | None = None) -> FitResult:
    """Train the stateful and the stateless model of one config (a group of one trial)."""
    return fit_trials([config], [dataset], on_epoch)[0]
