"""train.py: a step moves every parameter, Adam is Keras' Adam, state is carried (stateful) or
reset (stateless) exactly, training lowers the loss, and trials trained together equal trials
trained alone."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from statelab import cells, train
from statelab.config import ModelConfig, from_mapping
from statelab.experiment import prepare

_train_step = jax.jit(train.train_step, static_argnames="cell")
_predict = jax.jit(train.predict_batches, static_argnames="cell")
_apply = jax.jit(cells.apply, static_argnames="cell")


def _step(ts, state, x, y, stateful, lr, cell="lstm"):
    """One bptt-1 step with no reset: x (B, T, F), y (B,). Returns (train state, state, loss)."""
    history = train.empty_history(x[None], 1)
    ts, final, start_next, loss = _train_step(
        ts, state, history, x, y, jnp.zeros(x.shape[0], bool), stateful, lr, cell=cell
    )
    assert _leaves_equal(final, start_next)  # with bptt 1 the next window starts where this ended
    return ts, final, loss


def _epoch_data(x, y, tx, ty, lr=1e-2, continue_test=False):
    """EpochData of training batches x (K, B, T, F), y (K, B) and test batches tx, ty: their
    windows laid end to end, the streams indexing them in batch order."""
    f32 = jnp.float32
    windows = jnp.concatenate([x.reshape(-1, *x.shape[2:]), tx.reshape(-1, *tx.shape[2:])])
    rows = jnp.arange(y.size, dtype=jnp.int32).reshape(y.shape)
    test_rows = y.size + jnp.arange(ty.size, dtype=jnp.int32).reshape(ty.shape)
    return train.EpochData(
        windows=windows,
        train=train.Stream(rows, y, jnp.ones(y.shape, f32), jnp.zeros(y.shape, bool)),
        val=train.Stream(test_rows, ty, jnp.ones(ty.shape, f32), jnp.zeros(ty.shape, bool)),
        val_warm=jnp.zeros(ty.shape, f32),
        learning_rate=jnp.asarray(lr, f32),
        continue_test=jnp.asarray(continue_test),
    )


def _single(ts):
    """create_train_state stacks copies on a leading axis; take the first."""
    return jax.tree.map(lambda a: jnp.asarray(a[0]), ts)


def _random_state(config: ModelConfig, batch: int, seed: int):
    rng = np.random.default_rng(seed)
    return jax.tree.map(
        lambda a: jnp.asarray(rng.uniform(-0.5, 0.5, a.shape), jnp.float32), cells.zero_state(config, batch)
    )


def _leaves_equal(a, b) -> bool:
    return all(
        np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))
    )


# --------------------------------------------------------------------------------------------
# One step


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple"])
@pytest.mark.slow
def test_train_step_updates_every_parameter(cell):
    config = ModelConfig(cell=cell, units=8, layers=2)
    ts = _single(train.create_train_state(config))
    rng = np.random.default_rng(0)
    # Inputs of order 1, so every gradient is far above Adam's epsilon.
    x = jnp.asarray(rng.uniform(-1, 1, (4, 3, 1)), jnp.float32)  # (B, T, F)
    y = jnp.asarray(rng.uniform(-1, 1, 4), jnp.float32)
    lr = 1e-3
    new, _, loss = _step(ts, cells.zero_state(config, 4), x, y, True, lr, cell=cell)

    assert np.isfinite(float(loss))
    assert int(new.opt.count) == 1
    for before, after in zip(jax.tree.leaves(ts.params), jax.tree.leaves(new.params)):
        step = np.abs(np.asarray(after, np.float64) - np.asarray(before, np.float64))
        # Adam's first step moves each weight by about lr * sign(gradient), never more.
        assert step.max() > 0.5 * lr
        assert step.max() <= lr * 1.001


@pytest.mark.slow
def test_train_step_loss_is_the_batch_mse_before_the_update():
    config = ModelConfig(units=5)
    ts = _single(train.create_train_state(config))
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.uniform(-0.1, 0.1, (3, 2, 1)), jnp.float32)
    y = jnp.asarray(rng.uniform(-0.1, 0.1, 3), jnp.float32)
    start = _random_state(config, 3, seed=2)
    _, state, loss = _step(ts, start, x, y, True, 1e-3)
    want_state, pred = _apply(ts.params, start, x, cell="lstm")
    np.testing.assert_allclose(float(loss), np.mean((np.asarray(pred) - np.asarray(y)) ** 2), rtol=1e-5)
    # The state handed on is the one the old parameters reached from the carried state.
    for got, want in zip(jax.tree.leaves(state), jax.tree.leaves(want_state)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6)


def test_stateless_step_ignores_the_incoming_state_and_stateful_uses_it():
    config = ModelConfig(units=6)
    ts = _single(train.create_train_state(config))
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.uniform(-0.1, 0.1, (2, 1, 1)), jnp.float32)
    y = jnp.asarray(rng.uniform(-0.1, 0.1, 2), jnp.float32)
    zero, other = cells.zero_state(config, 2), _random_state(config, 2, seed=4)

    a = _step(ts, zero, x, y, False, 1e-3)
    b = _step(ts, other, x, y, False, 1e-3)
    assert _leaves_equal(a, b)

    c = _step(ts, zero, x, y, True, 1e-3)
    d = _step(ts, other, x, y, True, 1e-3)
    assert _leaves_equal(a, c)  # from a zero state the two kinds agree
    assert float(c[2]) != float(d[2])
    assert not _leaves_equal(c[0].params, d[0].params)


def test_carry_state_cuts_the_gradient_but_keeps_the_value():
    s = jnp.asarray(np.random.default_rng(5).normal(size=(2, 3)), jnp.float32)
    carried = train.carry_state((s,), jnp.asarray(True))[0]
    reset = train.carry_state((s,), jnp.asarray(False))[0]
    assert np.array_equal(np.asarray(carried), np.asarray(s))
    assert not np.asarray(reset).any()
    grad = jax.grad(lambda v: jnp.sum(train.carry_state((v,), jnp.asarray(True))[0] ** 2))(s)
    assert not np.asarray(grad).any()


# --------------------------------------------------------------------------------------------
# Keras Adam


@pytest.mark.slow
def test_keras_adam_matches_float64_keras_update():
    lr, b1, b2, eps = 1e-2, 0.9, 0.999, 1e-7
    rng = np.random.default_rng(6)
    params = {"big": rng.normal(size=(3, 4)), "tiny": rng.normal(size=5)}
    # Gradients near epsilon's scale make where epsilon is added matter.
    grads = [{"big": rng.normal(size=(3, 4)), "tiny": rng.normal(size=5) * 3e-7} for _ in range(6)]

    opt = train.keras_adam(lr)
    p32 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params)
    state = opt.init(p32)
    ref = {k: v.copy() for k, v in params.items()}
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(val) for k, val in params.items()}
    for t, g in enumerate(grads, start=1):
        g32 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), g)
        updates, state = opt.update(g32, state, p32)
        p32 = optax.apply_updates(p32, updates)
        for k in ref:
            gk = np.asarray(g32[k], np.float64)  # the same float32 gradient
            m[k] = b1 * m[k] + (1 - b1) * gk
            v[k] = b2 * v[k] + (1 - b2) * gk**2
            ref[k] -= lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m[k] / (np.sqrt(v[k]) + eps)
        assert int(state.count) == t

    for k in ref:
        moved = ref[k] - params[k]
        np.testing.assert_allclose(np.asarray(p32[k], np.float64) - params[k], moved, rtol=1e-3, atol=1e-7)

    # optax.adam adds epsilon after bias correction: on the tiny leaf that is a different update.
    o = optax.adam(lr, b1=b1, b2=b2, eps=eps)
    q = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params)
    os = o.init(q)
    for g in grads:
        u, os = o.update(jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), g), os, q)
        q = optax.apply_updates(q, u)
    optax_moved = np.asarray(q["tiny"], np.float64) - params["tiny"]
    keras_moved = ref["tiny"] - params["tiny"]
    assert np.abs(optax_moved - keras_moved).max() > 0.1 * np.abs(keras_moved).max()


# --------------------------------------------------------------------------------------------
# State carry over batches


@pytest.fixture(scope="module")
def stream():
    """A model with its Keras initialisation and a stream of K=8 batches of B=3 windows."""
    config = ModelConfig(units=7, model_seed=3)
    params = _single(train.create_train_state(config)).params
    x = jnp.asarray(np.random.default_rng(7).uniform(-0.5, 0.5, (8, 3, 2, 1)), jnp.float32)  # (K, B, T, F)
    return config, params, x


def test_stateful_prediction_equals_state_carried_by_hand(stream):
    config, params, x = stream
    preds = np.asarray(_predict(params, x, True, cells.zero_state(config, 3), cell="lstm"))
    state = cells.zero_state(config, 3)
    for k in range(x.shape[0]):
        state, pred = _apply(params, state, x[k], cell="lstm")
        np.testing.assert_allclose(preds[k], np.asarray(pred), rtol=1e-6, atol=1e-8)


def test_stateful_prediction_equals_one_pass_over_the_whole_stream(stream):
    """Batch k of a carried stream has seen every window before it: its prediction is the one a
    model stepping through the concatenated windows one input at a time makes at its last input."""
    config, params, x = stream
    preds = np.asarray(_predict(params, x, True, cells.zero_state(config, 3), cell="lstm"))
    joined = jnp.concatenate(list(x), axis=1)  # (B, K T, F): the windows end to end
    steps = x.shape[2]
    state = cells.zero_state(config, 3)
    for t in range(joined.shape[1]):
        state, pred = _apply(params, state, joined[:, t : t + 1], cell="lstm")
        if (t + 1) % steps == 0:
            np.testing.assert_allclose(preds[t // steps], np.asarray(pred), rtol=1e-5, atol=1e-7)


def test_stateful_prediction_from_a_given_initial_state(stream):
    config, params, x = stream
    start = _random_state(config, 3, seed=8)
    preds = np.asarray(_predict(params, x, True, start, cell="lstm"))
    _, first = _apply(params, start, x[0], cell="lstm")
    np.testing.assert_allclose(preds[0], np.asarray(first), rtol=1e-6, atol=1e-8)
    # A stateless model ignores the initial state it is handed.
    ignored = np.asarray(_predict(params, x, False, start, cell="lstm"))
    fresh = np.asarray(_predict(params, x, False, cells.zero_state(config, 3), cell="lstm"))
    assert np.array_equal(ignored, fresh)


def test_stateless_outputs_depend_only_on_their_own_window(stream):
    config, params, x = stream
    zero = cells.zero_state(config, 3)
    changed = x.at[:3].set(-x[:3] + 0.2)
    before = np.asarray(_predict(params, x, False, zero, cell="lstm"))
    after = np.asarray(_predict(params, changed, False, zero, cell="lstm"))
    assert np.array_equal(before[3:], after[3:])
    assert (before[:3] != after[:3]).all()
    for k in (0, 5):
        _, alone = _apply(params, zero, x[k], cell="lstm")
        np.testing.assert_allclose(before[k], np.asarray(alone), rtol=1e-6, atol=1e-8)


def test_stateful_outputs_depend_on_earlier_batches(stream):
    config, params, x = stream
    zero = cells.zero_state(config, 3)
    changed = x.at[:3].set(-x[:3] + 0.2)
    before = np.asarray(_predict(params, x, True, zero, cell="lstm"))
    after = np.asarray(_predict(params, changed, True, zero, cell="lstm"))
    assert (before[3] != after[3]).all()
    assert np.abs(before[3:] - after[3:]).max() > 1e-5


@pytest.mark.slow
def test_train_epoch_carries_state_between_batches_as_a_loop_would():
    config = ModelConfig(units=5)
    rng = np.random.default_rng(9)
    x = jnp.asarray(rng.uniform(-0.1, 0.1, (12, 2, 1, 1)), jnp.float32)  # (K, B, T, F)
    y = jnp.asarray(rng.uniform(-0.1, 0.1, (12, 2)), jnp.float32)
    data = _epoch_data(x, y, x[:2, :1], y[:2, :1])
    for stateful in (True, False):
        ts = _single(train.create_train_state(config))
        got, batch_losses, _, _ = jax.jit(train.train_epoch, static_argnames=("cell", "bptt"))(
            ts, stateful, data, cell="lstm", bptt=1
        )
        state, losses = cells.zero_state(config, 2), []
        for k in range(x.shape[0]):
            carried = state if stateful else cells.zero_state(config, 2)
            ts, state, loss = _step(ts, carried, x[k], y[k], stateful, 1e-2)
            losses.append(float(loss))
        np.testing.assert_allclose(np.asarray(batch_losses), losses, rtol=1e-5)
        for a, b in zip(jax.tree.leaves(got.params), jax.tree.leaves(ts.params)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)


# --------------------------------------------------------------------------------------------
# Training


@pytest.fixture(scope="module")
def small_fit():
    config = from_mapping({"input_len": 400, "epochs": 6})
    return config, train.fit(config, prepare(config))


def test_create_train_state_is_keras_init_from_model_seed():
    config = ModelConfig(units=6, model_seed=11)
    ts = train.create_train_state(config, copies=2)
    want = cells.init_params(np.random.default_rng(11), config)
    for got, w in zip(jax.tree.leaves(ts.params), jax.tree.leaves(want)):
        assert got.shape == (2, *w.shape)
        assert np.array_equal(got[0], w) and np.array_equal(got[1], w)
    assert not any(np.asarray(a).any() for a in jax.tree.leaves(ts.opt))


def test_fit_result_shapes(small_fit):
    config, result = small_fit
    assert result.train_loss.shape == (2, config.train.epochs)
    assert result.val_loss.shape == (2, config.train.epochs)
    assert result.test_pred.shape == (2, config.task.n_test, 1)
    assert len(result.test_start) == 2
    assert len(result.params) == 2


def test_training_loss_decreases_across_epochs(small_fit):
    config, result = small_fit
    assert (np.diff(result.train_loss, axis=1) < 0).all(), result.train_loss
    floor = config.task.record.floors(config.task)
    stateful, stateless = train.MODELS.index("stateful"), train.MODELS.index("stateless")
    # The stateful model ends below the best a stateless one can do, the stateless one cannot.
    assert result.train_loss[stateful, -1] < 0.5 * floor.windowed
    assert result.train_loss[stateless, -1] > 0.8 * floor.windowed
    assert result.val_loss[stateful, -1] < 0.5 * result.val_loss[stateful, 0]


def test_training_loss_decreases_within_the_first_epoch():
    config = ModelConfig()
    data = prepare(from_mapping({}))
    ts = _single(train.create_train_state(config))
    state, losses = cells.zero_state(config, 1), []
    for k in range(data.train.x.shape[0]):
        ts, state, loss = _step(ts, state, data.train.x[k], data.train.y[k], True, 1e-3)
        losses.append(float(loss))
    losses = np.array(losses)
    assert losses[-200:].mean() < 0.5 * losses[:200].mean()


def test_trained_parameters_differ_between_the_two_models(small_fit):
    _, result = small_fit
    a, b = result.params
    assert not _leaves_equal(a, b)


def _trial_configs():
    base = {"input_len": 240, "epochs": 3, "batch_size": 2, "lahead": 2}
    return [
        from_mapping({**base}),
        from_mapping({**base, "tsteps": 3, "model_seed": 1, "learning_rate": 3e-3}),
        from_mapping({**base, "amplitude": 0.5, "seed": 5, "window_order": "newest-first", "model_seed": 2}),
    ]


@pytest.fixture(scope="module")
def trials():
    """Three configs of one shape trained together, with what on_epoch saw."""
    configs = _trial_configs()
    datasets = [prepare(c) for c in configs]
    seen = []
    results = train.fit_trials(configs, datasets, on_epoch=lambda *a: seen.append(a))
    return configs, datasets, results, seen


@pytest.mark.slow
def test_fit_trials_equals_fit_of_each_alone(trials):
    configs, datasets, together, _ = trials
    assert len(together) == len(configs)
    for config, data, joint in zip(configs, datasets, together):
        alone = train.fit(config, data)
        assert np.array_equal(joint.train_loss, alone.train_loss)
        assert np.array_equal(joint.val_loss, alone.val_loss)
        assert np.array_equal(joint.test_pred, alone.test_pred)
        assert _leaves_equal(joint.params, alone.params)
    # The trials really are different runs.
    assert not np.array_equal(together[0].test_pred, together[1].test_pred)
    assert not np.array_equal(together[0].test_pred, together[2].test_pred)


def test_fit_trials_reports_every_epoch(trials):
    configs, _, results, seen = trials
    assert [epoch for epoch, _, _ in seen] == [0, 1, 2]
    for epoch, train_loss, val_loss in seen:
        assert train_loss.shape == val_loss.shape == (len(configs), 2)
        for t, r in enumerate(results):
            assert np.array_equal(train_loss[t], r.train_loss[:, epoch])
            assert np.array_equal(val_loss[t], r.val_loss[:, epoch])


def _assert_same_fit(a: train.FitResult, b: train.FitResult) -> None:
    assert np.array_equal(a.train_loss, b.train_loss)
    assert np.array_equal(a.val_loss, b.val_loss)
    assert np.array_equal(a.test_pred, b.test_pred)
    assert _leaves_equal(a.params, b.params)
    assert _leaves_equal(a.test_start, b.test_start)


def test_a_trial_has_the_losses_of_training_it_alone_in_a_group_at_the_reference_size():
    """1000 rows (800 batches an epoch): a mean taken in the compiled program over a group's
    losses was summed in another order than over one trial's, and differed in its last bits."""
    configs = [
        from_mapping({"tsteps": 1 + i, "lahead": 2, "seed": 1986 + i, "model_seed": i, "epochs": 1})
        for i in range(3)
    ]
    datasets = [prepare(c) for c in configs]
    for config, data, joint in zip(configs, datasets, train.fit_trials(configs, datasets)):
        _assert_same_fit(joint, train.fit(config, data))


def test_fit_trials_takes_each_trial_after_its_own_last_epoch():
    base = {"input_len": 200, "batch_size": 2, "lahead": 2}
    configs = [from_mapping({**base, "epochs": e, "model_seed": e, "tsteps": e}) for e in (3, 1, 2)]
    datasets = [prepare(c) for c in configs]
    assert len({train.shape_key(c) for c in configs}) == 1  # the epochs are not part of the shape
    seen = []
    together = train.fit_trials(configs, datasets, on_epoch=lambda *a: seen.append(a))
    for config, data, joint in zip(configs, datasets, together):
        assert joint.train_loss.shape == joint.val_loss.shape == (2, config.train.epochs)
        _assert_same_fit(joint, train.fit(config, data))
    assert [epoch for epoch, _, _ in seen] == [0, 1, 2]  # every trial, up to the longest
    assert np.array_equal(seen[0][1][1], together[1].train_loss[:, 0])


def test_fit_trials_rejects_configs_of_different_shapes():
    a = from_mapping({"input_len": 240, "epochs": 2})
    b = from_mapping({"input_len": 240, "epochs": 2, "units": 10})
    with pytest.raises(ValueError, match="shape"):
        train.fit_trials([a, b], [prepare(a), prepare(b)])


@pytest.mark.slow
def test_continued_test_changes_only_the_stateful_test_predictions():
    base = {"input_len": 203, "epochs": 2, "batch_size": 4}  # 162 train rows, 2 dropped
    reset = from_mapping(base)
    cont = from_mapping({**base, "test_start": "continue"})
    r, c = train.fit(reset, prepare(reset)), train.fit(cont, prepare(cont))
    assert np.array_equal(r.train_loss, c.train_loss)
    assert _leaves_equal(r.params, c.params)
    stateful, stateless = train.MODELS.index("stateful"), train.MODELS.index("stateless")
    # cont's test stream has the 2 dropped rows first, unscored; align on the scored rows.
    assert c.test_pred.shape[1] == r.test_pred.shape[1] + 2
    assert np.array_equal(c.test_pred[stateless, 2:], r.test_pred[stateless])
    assert not np.array_equal(c.test_pred[stateful, 2:], r.test_pred[stateful])


# --------------------------------------------------------------------------------------------
# Resets and truncation length


def test_reset_lanes_zero_only_the_flagged_rows():
    s = jnp.asarray(np.random.default_rng(10).normal(size=(3, 4)), jnp.float32)
    (out,) = train.reset_lanes((s,), jnp.asarray([False, True, False]))
    assert np.array_equal(np.asarray(out)[[0, 2]], np.asarray(s)[[0, 2]])
    assert not np.asarray(out)[1].any()


def test_a_reset_flag_starts_that_lane_from_zero_mid_stream(stream):
    config, params, x = stream
    reset = np.zeros(x.shape[:2], bool)
    reset[4, 1] = True  # lane 1 starts a new series at batch 4
    got = np.asarray(
        _predict(params, x, True, cells.zero_state(config, 3), cell="lstm", reset=jnp.asarray(reset))
    )
    plain = np.asarray(_predict(params, x, True, cells.zero_state(config, 3), cell="lstm"))
    fresh = np.asarray(_predict(params, x[4:], True, cells.zero_state(config, 3), cell="lstm"))
    assert np.array_equal(got[:4], plain[:4])
    np.testing.assert_allclose(got[4:, 1], fresh[:, 1], rtol=1e-6, atol=1e-8)  # as if lane 1 began there
    assert np.array_equal(got[:, [0, 2]], plain[:, [0, 2]])  # the other lanes carry on


def test_push_keeps_the_last_bptt_minus_one_batches_oldest_first():
    x = jnp.arange(5 * 2 * 1 * 1, dtype=jnp.float32).reshape(5, 2, 1, 1)
    history = train.empty_history(x, 3)
    assert history.x.shape == (2, 2, 1, 1) and not np.asarray(history.valid).any()
    for k in range(3):
        history = train.push(history, x[k], jnp.zeros(2, bool))
    assert np.array_equal(np.asarray(history.x), np.asarray(x[1:3]))
    assert np.asarray(history.valid).all()
    assert train.push(train.empty_history(x, 1), x[0], jnp.zeros(2, bool)).x.shape[0] == 0


def _history_of(x, valid):
    return train.History(x, jnp.zeros(x.shape[:2], bool), jnp.asarray(valid))


@pytest.mark.slow
def test_window_loss_runs_the_history_before_the_batch_and_differentiates_through_it(stream):
    config, params, x = stream
    y = jnp.asarray(np.random.default_rng(12).uniform(-0.1, 0.1, 3), jnp.float32)
    start = _random_state(config, 3, seed=13)
    no_reset = jnp.zeros(3, bool)

    # Compiled, as inside train_step (op by op, the same checks compile some 80 small programs).
    def loss_from(p, state, history, stateful):
        return train.window_loss(p, state, history, x[3], y, no_reset, stateful, "lstm")

    value_of = jax.jit(loss_from)
    grad_of = jax.jit(jax.grad(lambda *args: loss_from(*args)[0]))

    full = _history_of(x[1:3], [True, True])
    none = _history_of(x[:0], [])
    value, (final, after_oldest) = value_of(params, start, full, True)
    # The value: the two history batches run from the start state, then the batch itself.
    state, _ = _apply(params, start, x[1], cell="lstm")
    want_oldest = state
    state, _ = _apply(params, state, x[2], cell="lstm")
    want_final, pred = _apply(params, state, x[3], cell="lstm")
    np.testing.assert_allclose(float(value), float(jnp.mean((pred - y) ** 2)), rtol=1e-5)
    for got, want in zip(jax.tree.leaves((final, after_oldest)), jax.tree.leaves((want_final, want_oldest))):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-7)

    # The gradient reaches back through the history: it differs from the cut (bptt 1) gradient
    # from the same state, and an invalid history entry passes the state through untouched.
    cut = grad_of(params, state, none, True)
    through = grad_of(params, start, full, True)
    assert not _leaves_equal(cut, through)
    skipped = value_of(params, start, _history_of(x[1:3], [False, False]), True)[0]
    direct = value_of(params, start, none, True)[0]
    np.testing.assert_allclose(float(skipped), float(direct), rtol=1e-6)
    # A stateless model's loss and gradient ignore the history entirely.
    stateless = grad_of(params, start, full, False)
    alone = grad_of(params, start, none, False)
    for a, b in zip(jax.tree.leaves(stateless), jax.tree.leaves(alone)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-12)


def test_longer_truncation_learns_a_delay_the_cut_gradient_cannot():
    """Delay 2 seen one input at a time: with bptt 1 the gradient never reaches the input the
    target copies; with bptt 3 it does, and the stateful model learns the task."""
    base = {"task": "delay", "delay": 2, "lahead": 1, "epochs": 10}
    nmse = {}
    for bptt in (1, 3):
        config = from_mapping({**base, "bptt": bptt})
        data = prepare(config)
        fitted = train.fit(config, data)
        stateful = train.MODELS.index("stateful")
        var_y = config.task.record.floors(config.task).var_y
        nmse[bptt] = float(fitted.val_loss[stateful, -1]) / var_y
    assert nmse[3] < 0.05, nmse
    assert nmse[1] > 0.4, nmse


def test_epoch_shapes_describe_epoch_data_without_gathering_it(panel_file):
    """The program is compiled from epoch_shapes before epoch_data gathers the windows: the two
    must agree leaf by leaf, or the compiled program would refuse the data."""
    from conftest import PANEL_RUN

    for flat in ({"input_len": 50, "batch_size": 3, "lahead": 2}, {**PANEL_RUN, "data": str(panel_file)}):
        config = from_mapping(flat)
        dataset = prepare(config)
        shapes = jax.tree.map(lambda a: (a.shape, np.dtype(a.dtype)), train.epoch_shapes(dataset))
        actual = jax.tree.map(lambda a: (np.shape(a), np.asarray(a).dtype), train.epoch_data(config, dataset))
        assert shapes == actual
