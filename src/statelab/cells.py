"""Recurrent cells and the model, as pure functions of explicit parameters and state.

Equations and initialisers follow Keras 3 (`keras.layers.LSTM`, `GRU`, `SimpleRNN`, `Dense`):

    LSTM  z = x W + h U + b, split in gate order i, f, c, o
          c' = sigmoid(f) * c + sigmoid(i) * tanh(c~);  h' = sigmoid(o) * tanh(c')
    GRU   (reset_after=True) gates in order z, r, h with separate input and recurrent biases
          z = sigmoid(xz + hz); r = sigmoid(xr + hr); h~ = tanh(xh + r * hh)
          h' = z * h + (1 - z) * h~
    Simple h' = tanh(x W + h U + b)

Kernels are glorot-uniform, recurrent kernels orthogonal, biases zero, and the LSTM's forget-gate
bias is 1 (Keras' `unit_forget_bias=True`). The model is a stack of `layers` cells, each reading the
sequence of the one below, and Dense(1) on the top cell's last output.

A cell is `step(params, state, x) -> (state, h)`; a model's `RnnState` is a tuple with one cell
state per layer, so carrying it (stateful) or resetting it (stateless) is done by the caller.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from statelab.config import ModelConfig

Params = dict[str, Any]
# The recurrent network's carried state (h, or h and c, per layer): never the optimiser's state.
RnnState = tuple[Any, ...]


def glorot_uniform(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Keras' default kernel initialiser: U(-l, l) with l = sqrt(6 / (fan_in + fan_out))."""
    limit = np.sqrt(6.0 / (shape[0] + shape[1]))
    return rng.uniform(-limit, limit, shape).astype(np.float32)


def orthogonal(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Keras' default recurrent initialiser: a random matrix with orthonormal rows or columns.

    QR of a standard normal matrix of the taller orientation, signs fixed by diag(R) so the result
    is uniformly (Haar) distributed, transposed back when the matrix is wide.
    """
    rows, cols = shape
    q, r = np.linalg.qr(rng.standard_normal((max(rows, cols), min(rows, cols))))
    q *= np.sign(np.diag(r))
    return (q.T if rows < cols else q).astype(np.float32)


class Cell(NamedTuple):
    gates: int  # blocks of `units` columns in the kernels
    init: Any  # (key, input_dim, units) -> params
    zero_state: Any  # (batch, units) -> state
    step: Any  # (params, state, x (B, in)) -> (state, h (B, units))


def _kernels(rng: np.random.Generator, input_dim: int, units: int, gates: int) -> Params:
    return {
        "kernel": glorot_uniform(rng, (input_dim, gates * units)),  # (in, G*H)
        "recurrent": orthogonal(rng, (units, gates * units)),  # (H, G*H)
    }


def _lstm_init(rng: np.random.Generator, input_dim: int, units: int) -> Params:
    bias = np.zeros(4 * units, np.float32)
    bias[units : 2 * units] = 1.0  # forget gate
    return {**_kernels(rng, input_dim, units, 4), "bias": bias}


def _lstm_step(p: Params, state: RnnState, x: jax.Array) -> tuple[RnnState, jax.Array]:
    h, c = state  # (B, H), (B, H)
    z = x @ p["kernel"] + h @ p["recurrent"] + p["bias"]  # (B, 4H)
    i, f, g, o = jnp.split(z, 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return (h, c), h


def _gru_init(rng: np.random.Generator, input_dim: int, units: int) -> Params:
    return {**_kernels(rng, input_dim, units, 3), "bias": np.zeros((2, 3 * units), np.float32)}


def _gru_step(p: Params, state: RnnState, x: jax.Array) -> tuple[RnnState, jax.Array]:
    (h,) = state  # (B, H)
    xz, xr, xh = jnp.split(x @ p["kernel"] + p["bias"][0], 3, axis=-1)
    hz, hr, hh = jnp.split(h @ p["recurrent"] + p["bias"][1], 3, axis=-1)
    z = jax.nn.sigmoid(xz + hz)
    r = jax.nn.sigmoid(xr + hr)
    h = z * h + (1.0 - z) * jnp.tanh(xh + r * hh)
    return (h,), h


def _simple_init(rng: np.random.Generator, input_dim: int, units: int) -> Params:
    return {**_kernels(rng, input_dim, units, 1), "bias": np.zeros(units, np.float32)}


def _simple_step(p: Params, state: RnnState, x: jax.Array) -> tuple[RnnState, jax.Array]:
    (h,) = state
    h = jnp.tanh(x @ p["kernel"] + h @ p["recurrent"] + p["bias"])
    return (h,), h


def _zeros(n: int):
    return lambda batch, units: tuple(jnp.zeros((batch, units), jnp.float32) for _ in range(n))


CELLS: dict[str, Cell] = {
    "lstm": Cell(4, _lstm_init, _zeros(2), _lstm_step),
    "gru": Cell(3, _gru_init, _zeros(1), _gru_step),
    "simple": Cell(1, _simple_init, _zeros(1), _simple_step),
}


def init_params(rng: np.random.Generator, config: ModelConfig, input_dim: int = 1) -> Params:
    """Keras-initialised weights: {"cells": [per layer], "dense": {"kernel", "bias"}}.

    Drawn with NumPy from `rng`, layer by layer, then the Dense kernel: a few hundred numbers,
    which compiled JAX initialisers would take half a second to build.
    """
    cell = CELLS[config.cell]
    dims = [input_dim] + [config.units] * (config.layers - 1)
    layers = [cell.init(rng, d, config.units) for d in dims]
    dense = {"kernel": glorot_uniform(rng, (config.units, 1)), "bias": np.zeros(1, np.float32)}
    return {"cells": layers, "dense": dense}


def zero_state(config: ModelConfig, batch: int) -> RnnState:
    """The reset state: one zero cell state per layer."""
    cell = CELLS[config.cell]
    return tuple(cell.zero_state(batch, config.units) for _ in range(config.layers))


def apply(params: Params, state: RnnState, x: jax.Array, cell: str) -> tuple[RnnState, jax.Array]:
    """Run the model over a batch of windows from `state`.

    x: (B, T, in) windows, oldest first. Returns the state after the last step and the Dense(1)
    prediction from the top layer's last output, (B,).
    """
    step = CELLS[cell].step

    def one_time_step(layer_states, x_t):  # x_t: (B, in)
        new_states = []
        for p, s in zip(params["cells"], layer_states):
            s, x_t = step(p, s, x_t)
            new_states.append(s)
        return tuple(new_states), x_t

    steps = x.shape[1]
    # Windows are short; unrolling them lets XLA fuse across time steps.
    state, outputs = jax.lax.scan(one_time_step, state, jnp.swapaxes(x, 0, 1), unroll=min(steps, 16))
    dense = params["dense"]
    y = outputs[-1] @ dense["kernel"] + dense["bias"]  # (B, 1)
    return state, y[:, 0]
