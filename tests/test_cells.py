"""cells.py: the cells compute Keras' equations (checked against float64 NumPy), start from
Keras' initialisers, and carry state across calls exactly as one long call would."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from statelab import cells
from statelab.config import ModelConfig

GATES = {"lstm": 4, "gru": 3, "simple": 1}


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


# Keras' equations in float64, one step for one layer. state is a tuple of (B, H) arrays.


def _np_lstm(p, state, x):
    h, c = state
    units = h.shape[1]
    pre = x @ p["kernel"] + h @ p["recurrent"] + p["bias"]
    i = _sigmoid(pre[:, :units])
    f = _sigmoid(pre[:, units : 2 * units])
    candidate = np.tanh(pre[:, 2 * units : 3 * units])
    o = _sigmoid(pre[:, 3 * units :])
    c = f * c + i * candidate
    h = o * np.tanh(c)
    return (h, c), h


def _np_gru(p, state, x):
    (h,) = state
    units = h.shape[1]
    w, u = p["kernel"], p["recurrent"]
    b_in, b_rec = p["bias"][0], p["bias"][1]

    def block(k):
        return slice(k * units, (k + 1) * units)

    z = _sigmoid(x @ w[:, block(0)] + b_in[block(0)] + h @ u[:, block(0)] + b_rec[block(0)])
    r = _sigmoid(x @ w[:, block(1)] + b_in[block(1)] + h @ u[:, block(1)] + b_rec[block(1)])
    # reset_after=True: r scales the whole recurrent part, its bias included.
    candidate = np.tanh(x @ w[:, block(2)] + b_in[block(2)] + r * (h @ u[:, block(2)] + b_rec[block(2)]))
    h = z * h + (1 - z) * candidate
    return (h,), h


def _np_simple(p, state, x):
    (h,) = state
    h = np.tanh(x @ p["kernel"] + h @ p["recurrent"] + p["bias"])
    return (h,), h


NP_STEP = {"lstm": _np_lstm, "gru": _np_gru, "simple": _np_simple}


def _np_model(params, state, x, cell):
    """Layer by layer over the whole window (B, T, in), then Dense(1) on the top layer's last h."""
    params = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
    state = jax.tree.map(lambda a: np.asarray(a, np.float64), state)
    sequence = np.asarray(x, np.float64)
    finals = []
    for p, s in zip(params["cells"], state):
        outputs = []
        for t in range(sequence.shape[1]):
            s, h = NP_STEP[cell](p, s, sequence[:, t])
            outputs.append(h)
        finals.append(s)
        sequence = np.stack(outputs, axis=1)
    pred = sequence[:, -1] @ params["dense"]["kernel"] + params["dense"]["bias"]
    return tuple(finals), pred[:, 0]


def _random_params(config: ModelConfig, input_dim: int, seed: int):
    """Init's structure with every entry redrawn (biases too), so no term hides behind a zero."""
    template = cells.init_params(np.random.default_rng(0), config, input_dim)
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda a: rng.normal(0, 0.6, a.shape).astype(np.float32), template)


def _random_state(config: ModelConfig, batch: int, seed: int):
    rng = np.random.default_rng(seed)
    zero = cells.zero_state(config, batch)
    return jax.tree.map(lambda a: rng.uniform(-0.9, 0.9, a.shape).astype(np.float32), zero)


_apply = jax.jit(cells.apply, static_argnames="cell")


@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("cell", ["lstm", "gru", "simple"])
def test_apply_matches_keras_equations_in_float64(cell, layers):
    config = ModelConfig(cell=cell, units=6, layers=layers)
    input_dim, batch, steps = 3, 5, 7
    params = _random_params(config, input_dim, seed=layers)
    state = _random_state(config, batch, seed=10 + layers)
    x = np.random.default_rng(20 + layers).uniform(-1, 1, (batch, steps, input_dim)).astype(np.float32)

    got_state, got_pred = _apply(params, state, x, cell=cell)
    want_state, want_pred = _np_model(params, state, x, cell)

    assert got_pred.shape == (batch,)
    np.testing.assert_allclose(np.asarray(got_pred), want_pred, rtol=1e-5, atol=1e-6)
    assert len(got_state) == layers
    for got, want in zip(jax.tree.leaves(got_state), jax.tree.leaves(want_state)):
        assert got.dtype == np.float32
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple"])
def test_initial_state_matters(cell):
    config = ModelConfig(cell=cell, units=4)
    params = _random_params(config, 1, seed=1)
    x = np.random.default_rng(2).uniform(-1, 1, (3, 2, 1)).astype(np.float32)
    _, from_zero = _apply(params, cells.zero_state(config, 3), x, cell=cell)
    _, from_other = _apply(params, _random_state(config, 3, seed=3), x, cell=cell)
    assert np.abs(np.asarray(from_zero) - np.asarray(from_other)).min() > 1e-4


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple"])
def test_zero_state_shapes(cell):
    config = ModelConfig(cell=cell, units=5, layers=2)
    state = cells.zero_state(config, 4)
    per_layer = 2 if cell == "lstm" else 1
    assert len(state) == 2
    assert all(len(s) == per_layer for s in state)
    for leaf in jax.tree.leaves(state):
        assert leaf.shape == (4, 5)
        assert not np.asarray(leaf).any()


@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("cell", ["lstm", "gru", "simple"])
def test_init_params_shapes_and_dtypes(cell, layers):
    units, input_dim, gates = 5, 2, GATES[cell]
    params = cells.init_params(
        np.random.default_rng(0), ModelConfig(cell=cell, units=units, layers=layers), input_dim
    )
    assert len(params["cells"]) == layers
    for depth, p in enumerate(params["cells"]):
        fan_in = input_dim if depth == 0 else units
        assert p["kernel"].shape == (fan_in, gates * units)
        assert p["recurrent"].shape == (units, gates * units)
        assert p["bias"].shape == ((2, 3 * units) if cell == "gru" else (gates * units,))
    assert params["dense"]["kernel"].shape == (units, 1)
    assert params["dense"]["bias"].shape == (1,)
    for leaf in jax.tree.leaves(params):
        assert leaf.dtype == np.float32


def test_lstm_bias_is_one_on_the_forget_gate_only():
    units = 7
    params = cells.init_params(np.random.default_rng(0), ModelConfig(units=units, layers=2))
    expected = np.concatenate([np.zeros(units), np.ones(units), np.zeros(2 * units)])
    for p in params["cells"]:
        assert np.array_equal(p["bias"], expected)
    assert not params["dense"]["bias"].any()


@pytest.mark.parametrize("cell", ["gru", "simple"])
def test_other_biases_start_at_zero(cell):
    params = cells.init_params(np.random.default_rng(0), ModelConfig(cell=cell, units=4, layers=2))
    for p in params["cells"]:
        assert not p["bias"].any()


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple"])
def test_recurrent_kernels_have_orthonormal_rows(cell):
    units = 20
    params = cells.init_params(np.random.default_rng(4), ModelConfig(cell=cell, units=units, layers=2))
    for p in params["cells"]:
        u = p["recurrent"].astype(np.float64)
        np.testing.assert_allclose(u @ u.T, np.eye(units), atol=1e-5)
    # Layers draw their own matrices.
    assert not np.array_equal(params["cells"][0]["recurrent"], params["cells"][1]["recurrent"])


@pytest.mark.parametrize("shape", [(8, 3), (3, 8), (6, 6)])
def test_orthogonal_is_orthonormal_along_the_short_side(shape):
    q = cells.orthogonal(np.random.default_rng(1), shape).astype(np.float64)
    assert q.shape == shape
    gram = q.T @ q if shape[0] >= shape[1] else q @ q.T
    np.testing.assert_allclose(gram, np.eye(min(shape)), atol=1e-6)


def test_orthogonal_is_not_biased_toward_positive_diagonal_signs():
    """The sign fix by diag(R) makes the distribution Haar: E[Q] = 0. Without it, QR's own sign
    convention would bias Q's entries."""
    rng = np.random.default_rng(0)
    mean = np.mean([cells.orthogonal(rng, (4, 4)).astype(np.float64) for _ in range(4000)], axis=0)
    assert np.abs(mean).max() < 5 * 0.5 / np.sqrt(4000)


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple"])
def test_kernels_are_glorot_uniform(cell):
    units, gates = 20, GATES[cell]
    params = cells.init_params(np.random.default_rng(2), ModelConfig(cell=cell, units=units, layers=2))
    kernels = [
        (params["cells"][0]["kernel"], 1, gates * units),
        (params["cells"][1]["kernel"], units, gates * units),
        (params["dense"]["kernel"], units, 1),
    ]
    for kernel, fan_in, fan_out in kernels:
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        values = np.abs(kernel.ravel())
        assert values.max() <= limit
        # Uniform on (-limit, limit): all n draws fall below q * limit with probability q^n.
        assert values.max() > limit * 1e-6 ** (1 / values.size)
    big = np.abs(params["cells"][1]["kernel"].ravel()) / np.sqrt(6.0 / (units + gates * units))
    # |U(-1, 1)| is U(0, 1): its mean is 1/2 (sd 0.29 / sqrt(n)).
    assert abs(big.mean() - 0.5) < 5 * 0.29 / np.sqrt(big.size)


def test_init_is_a_function_of_the_seed():
    config = ModelConfig(units=8, layers=2)
    a = cells.init_params(np.random.default_rng(3), config)
    b = cells.init_params(np.random.default_rng(3), config)
    c = cells.init_params(np.random.default_rng(4), config)
    assert all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
    assert not np.array_equal(a["cells"][0]["kernel"], c["cells"][0]["kernel"])


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple"])
def test_state_carried_across_chunks_equals_one_long_call(cell):
    config = ModelConfig(cell=cell, units=6, layers=2)
    params = _random_params(config, 1, seed=5)
    x = np.random.default_rng(6).uniform(-1, 1, (3, 12, 1)).astype(np.float32)
    start = _random_state(config, 3, seed=7)

    whole_state, whole_pred = _apply(params, start, x, cell=cell)
    state = start
    for a, b in [(0, 4), (4, 8), (8, 12)]:
        state, pred = _apply(params, state, x[:, a:b], cell=cell)
    np.testing.assert_allclose(np.asarray(pred), np.asarray(whole_pred), rtol=1e-6, atol=1e-7)
    for got, want in zip(jax.tree.leaves(state), jax.tree.leaves(whole_state)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6, atol=1e-7)
    # Restarting the last chunk from zero forgets the first eight steps.
    _, forgetful = _apply(params, cells.zero_state(config, 3), x[:, 8:], cell=cell)
    assert np.abs(np.asarray(forgetful) - np.asarray(whole_pred)).max() > 1e-4


def test_a_cell_is_known_by_the_same_name_to_the_config_the_engine_and_the_export():
    from statelab import config, export

    assert tuple(config.CELLS) == tuple(cells.CELLS) == tuple(export.LAYERS)
