"""dynamics.py: the state capacity equals a ridge readout fitted on the training stream's states
and scored on the test rows, each rebuilt here row by row; its total stays within the state size
(Jaeger's bound, up to the test sample) and nearly reaches it for a small GRU; a stateless state
holds nothing beyond its window, a model that learnt a delay holds it. The gradient reach equals
the Jacobian of the carried state, composed step by step with jax.jacfwd."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from statelab import cells, dynamics, experiment, memory, train
from statelab.config import from_mapping
from statelab.experiment import prepare, run_experiment


def series_values(config) -> np.ndarray:
    """The task's input x itself, regenerated from its seed: (L,), x[t] the newest value of row
    t - to_drop."""
    (series,) = config.task.record.generate(config.task).series
    return series.x[:, 0], series.to_drop


def states_row_by_row(params, config, dataset, batches, start, stateful) -> np.ndarray:
    """The last layer's state after every row of a one-lane stream, by plain calls of the model:
    (K, D). Independent of the chunked pass under test."""
    windows = dataset.windows.astype(np.float32)
    apply = jax.jit(cells.apply, static_argnames="cell")
    state, out = start, []
    for row in batches.row[:, 0]:
        if not stateful:
            state = cells.zero_state(config.model, 1)
        state, _ = apply(params, state, windows[row][None], config.model.cell)
        out.append(np.concatenate([np.asarray(part[0]) for part in state[-1]]))
    return np.array(out, np.float64)


def lagged(x: np.ndarray, newest: np.ndarray, k: int) -> np.ndarray:
    """x[t - j] for each index t in `newest` and j = 0..K: (n, K+1)."""
    return np.stack([x[newest - j] for j in range(k + 1)], axis=1)


def largest_lag_correlation(x: np.ndarray, newest: np.ndarray, k: int) -> float:
    """The largest eigenvalue of the sample correlation of x[t], ..., x[t-K] over the rows: 1 for
    an i.i.d. input in the limit. On a finite sample, sum_k R^2(k) of any readout from D numbers
    is at most D times it (Bessel's inequality in the sample)."""
    return float(np.linalg.eigvalsh(np.corrcoef(lagged(x, newest, k).T))[-1])


# --------------------------------------------------------------------------------------------
# What the state holds


@pytest.mark.parametrize("flat", [{}, {"lahead": 3, "window_order": "newest-first"}])
def test_capacity_is_a_ridge_readout_fitted_on_training_states_and_scored_on_test_rows(flat):
    config = from_mapping({"tsteps": 3, "input_len": 400, "epochs": 2, "units": 6, **flat})
    dataset = prepare(config)
    fit = train.fit(config, dataset)
    k = memory.lags(config)
    x, to_drop = series_values(config)
    for i, name in enumerate(train.MODELS):
        stateful = name == "stateful"
        held, _ = dynamics.profile(
            fit.params[i], dynamics.initial_params(config, dataset), config, dataset,
            fit.test_start[i], stateful, k,
        )  # fmt: skip
        z_train = states_row_by_row(
            fit.params[i], config, dataset, dataset.train, cells.zero_state(config.model, 1), stateful
        )
        z_test = states_row_by_row(fit.params[i], config, dataset, dataset.test, fit.test_start[i], stateful)
        train_t = dataset.train.row[:, 0] + to_drop  # index of each row's newest value in x
        keep = train_t - (to_drop - config.task.lahead + 1) >= k  # K values back in the windowed series
        design, target = z_train[keep], lagged(x, train_t[keep], k)
        mean, scale = design.mean(0), design.std(0)
        standard = (design - mean) / scale
        gram = standard.T @ standard / len(standard) + dynamics.RIDGE * np.eye(design.shape[1])
        coef = np.linalg.solve(gram, standard.T @ (target - target.mean(0)) / len(standard))
        test_t = dataset.test.row[:, 0] + to_drop
        use = ~dataset.warm[:, 0] if stateful else np.ones(len(test_t), bool)
        truth = lagged(x, test_t[use], k)
        predicted = (z_test[use] - mean) / scale @ coef + target.mean(0)
        r2 = [np.corrcoef(truth[:, j], predicted[:, j])[0, 1] ** 2 for j in range(k + 1)]
        np.testing.assert_allclose(held.r2, r2, atol=2e-4, err_msg=name)
        assert held.total == pytest.approx(sum(r2), abs=1e-3)
        assert held.state_size == 12  # an LSTM's h and c


@pytest.mark.parametrize("units", [1, 2])
def test_random_weights_hold_at_most_the_state_size_and_a_small_gru_nearly_all_of_it(units):
    """Jaeger's bound: on an i.i.d. input, sum_k r2(k) <= D. A one- or two-unit GRU, nearly
    linear at its initial weights, holds about as much as its state can."""
    config = from_mapping(
        {"task": "delay", "delay": 10, "cell": "gru", "units": units, "input_len": 4000, "model_seed": 3}
    )
    dataset = prepare(config)
    k = memory.lags(config)
    weights = dynamics.initial_params(config, dataset)
    held, _ = dynamics.profile(weights, weights, config, dataset, cells.zero_state(config.model, 1), True, k)
    x, to_drop = series_values(config)
    slack = largest_lag_correlation(x, dataset.test.row[:, 0] + to_drop, k)
    assert held.state_size == units and k + 1 > units  # more lags than numbers: the bound binds
    # About 1 + 2 sqrt((K+1) / n) for an i.i.d. sample (Marchenko-Pastur): 1.25 for 13 lags, 800 rows.
    assert slack < 1.3
    assert 0.85 * units < held.total <= units * slack


def test_a_trained_model_holds_at_most_its_state_size():
    config = from_mapping(
        {"task": "delay", "delay": 10, "cell": "gru", "units": 1, "input_len": 4000, "epochs": 3}
    )
    result = run_experiment(config)
    x, to_drop = series_values(config)
    k = len(result.task_profile) - 1
    slack = largest_lag_correlation(x, result.test_row + to_drop, k)
    for name in train.MODELS:
        held = result.memory[name].capacity
        assert held.total <= held.state_size * slack, name
    assert result.memory["stateful"].capacity.total > 0.5  # a stateful state remembers


def test_a_stateless_state_holds_nothing_beyond_its_window_on_an_iid_input():
    result = run_experiment(from_mapping({"tsteps": 4, "lahead": 2, "input_len": 2000, "epochs": 2}))
    r2 = np.asarray(result.memory["stateless"].capacity.r2)
    assert len(r2) == 6
    assert r2[0] > 0.9  # it holds what its window shows
    assert r2[2:].max() < 0.02, r2  # and nothing older: the inputs are independent (about 1/n by chance)
    assert result.memory["stateful"].capacity.r2[3] > 0.2  # a carried state holds older inputs


def test_a_model_that_learnt_a_delay_holds_the_delayed_input():
    result = run_experiment(from_mapping({"task": "delay", "delay": 2, "lahead": 1, "bptt": 3}))
    assert result.models["stateful"].converged
    r2 = result.memory["stateful"].capacity.r2
    assert r2[2] > 0.95
    # The stateless model holds x[t] just as well, and leaves it unused: the readout tells them apart.
    assert result.memory["stateless"].capacity.r2[0] > 0.95
    assert abs(result.memory["stateless"].sensitivity[0]) < 0.05


def test_capacity_and_reach_do_not_depend_on_how_the_streams_are_chunked(monkeypatch):
    config = from_mapping({"tsteps": 3, "input_len": 400, "epochs": 2, "batch_size": 4})
    dataset = prepare(config)
    fit = train.fit(config, dataset)
    k = memory.lags(config)
    weights = dynamics.initial_params(config, dataset)
    i = train.MODELS.index("stateful")
    whole = dynamics.profile(fit.params[i], weights, config, dataset, fit.test_start[i], True, k)
    assert dynamics.chunk_length(dataset, config.model) >= dataset.test.shape[0]  # one chunk
    monkeypatch.setattr(dynamics, "CHUNK_NUMBERS", 4 * 40 * 16)  # 16 batches of 4 lanes a chunk
    assert dynamics.chunk_length(dataset, config.model) == 16
    pieces = dynamics.profile(fit.params[i], weights, config, dataset, fit.test_start[i], True, k)
    np.testing.assert_allclose(pieces[0].r2, whole[0].r2, atol=1e-5)
    assert pieces[0].total == pytest.approx(whole[0].total, abs=1e-5)
    # The reach starts from the first chunk only: 16 start steps there, 64 over the whole stream.
    assert (pieces[1].samples, whole[1].samples) == (16, dynamics.SAMPLES)
    np.testing.assert_allclose(pieces[1].trained, whole[1].trained, rtol=0.2)


def test_a_panel_of_series_is_read_back_from_each_series_own_values(panel_fit, panel_file):
    from statelab.data import read_panel
    from statelab.tasks.forecast import forecast

    config, dataset, fit = panel_fit
    f = memory.profiled_feature(dataset)
    lags = dynamics.lags_of(dataset, f, config.train.window_order)
    task = forecast(read_panel(panel_file, "y", ("a", "b"), series="id", time="time"), 2, 1, 0.8)
    first = 0
    for series in task.series:
        rows = np.arange(first, first + series.n_rows)
        values, valid = lags.of(rows, 4)
        t = series.to_drop + np.arange(series.n_rows)
        for j in range(5):
            np.testing.assert_array_equal(valid[:, j], t - j >= 0)
            np.testing.assert_allclose(values[valid[:, j], j], series.x[t[t - j >= 0] - j, f], rtol=1e-6)
        first += series.n_rows
    k = memory.lags(config)
    i = train.MODELS.index("stateful")
    held, reach = dynamics.profile(
        fit.params[i], dynamics.initial_params(config, dataset), config, dataset, fit.test_start[i], True, k
    )
    assert np.all(np.isfinite(held.r2)) and np.all(np.isfinite(reach.trained))
    assert reach.samples == dynamics.SAMPLES


@pytest.fixture(scope="module")
def panel_fit(panel_file):
    from conftest import PANEL_RUN

    config = from_mapping({**PANEL_RUN, "data": str(panel_file), "lahead": 2, "epochs": 2})
    dataset = experiment.prepare(config)
    return config, dataset, train.fit(config, dataset)


# --------------------------------------------------------------------------------------------
# Whether the gradient gets there


def jacobian_reach(params, config, dataset, start, k) -> np.ndarray:
    """g(j), j = 0..K, from every test row with K rows after it: the Jacobians of one step of the
    carried state (jax.jacfwd at the test pass's states, one lane, one layer), multiplied out."""
    cell = config.model.cell
    windows = dataset.windows.astype(np.float32)
    rows = dataset.test.row[:, 0]
    hidden = states_row_by_row(params, config, dataset, dataset.test, start, True)  # (Kt, D)

    @jax.jit
    def one_step(s, window):  # d state after a row / d state before it: (D, D)
        def step(s):
            state, _ = cells.apply(params, _as_state(s, cell), window[None], cell)
            return jnp.concatenate([part[0] for part in state[-1]])

        return jax.jacfwd(step)(s)

    steps = [np.asarray(one_step(hidden[t - 1], windows[rows[t]]), np.float64) for t in range(1, len(rows))]
    d = hidden.shape[1]
    norms = np.zeros((len(rows) - k, k + 1))
    for t in range(len(rows) - k):
        product = np.eye(d)
        for j in range(k + 1):
            norms[t, j] = np.linalg.norm(product) / np.sqrt(d)
            if j < k:
                product = steps[t + j] @ product  # the step from row t + j to row t + j + 1
    return norms.mean(0)


def _as_state(s, cell):
    """A one-layer, one-lane state from its flat numbers (D,): (h,) or (h, c), each (1, H)."""
    return (tuple(p[None] for p in jnp.split(s, 2 if cell == "lstm" else 1)),)


def test_gradient_reach_is_the_jacobian_of_the_carried_state_averaged_over_start_steps():
    # 50 test rows: every start step with K rows after it is taken (fewer than SAMPLES).
    config = from_mapping({"tsteps": 3, "input_len": 250, "epochs": 2, "units": 5, "cell": "gru"})
    dataset = prepare(config)
    fit = train.fit(config, dataset)
    k = memory.lags(config)
    weights = dynamics.initial_params(config, dataset)
    i = train.MODELS.index("stateful")
    _, reach = dynamics.profile(fit.params[i], weights, config, dataset, fit.test_start[i], True, k)
    assert reach.samples == dataset.test.shape[0] - k < dynamics.SAMPLES
    expected = jacobian_reach(fit.params[i], config, dataset, fit.test_start[i], k)
    np.testing.assert_allclose(reach.trained, expected, rtol=1e-4)
    zero = cells.zero_state(config.model, 1)
    np.testing.assert_allclose(reach.initial, jacobian_reach(weights, config, dataset, zero, k), rtol=1e-4)
    assert reach.trained[0] == 1.0 and 0 < reach.trained[k] < reach.trained[1]


def test_a_stateless_models_gradient_never_reaches_the_row_before():
    result = run_experiment(from_mapping({"input_len": 300, "epochs": 1}))
    reach = result.memory["stateless"].gradient_reach
    assert reach.trained == reach.initial == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert all(v > 0 for v in result.memory["stateful"].gradient_reach.trained)


def test_in_the_seed_layout_the_gradient_reaches_only_lags_a_batch_apart():
    result = run_experiment(from_mapping({"input_len": 300, "epochs": 1, "batch_size": 2, "layout": "seed"}))
    g = result.memory["stateful"].gradient_reach.trained  # K = 4: rows of a lane are 2 lags apart
    assert g[0] == 1.0 and g[1] == 0.0 and g[3] == 0.0
    assert g[2] > 0.0 and g[4] > 0.0


def test_a_wide_states_reach_is_estimated_from_random_signs_close_to_the_exact_norm():
    config = from_mapping({"input_len": 300, "epochs": 1, "units": 40})  # D = 80 > MAX_EXACT
    dataset = prepare(config)
    fit = train.fit(config, dataset)
    i = train.MODELS.index("stateful")
    k = memory.lags(config)
    chunk = dynamics.chunk_length(dataset, config.model)
    estimated = dynamics.probe_of(dataset.test, k, chunk, 80)
    assert estimated.directions.shape == (dynamics.PROBES, 80)
    exact = estimated._replace(directions=np.eye(80, dtype=np.float32))
    run = dynamics.Pass(fit.params[i], "lstm", True, train.device_windows(dataset))
    g = {}
    for name, probe in (("exact", exact), ("estimate", estimated)):
        first = next(dynamics.stream(run, dataset.test, fit.test_start[i], chunk, probe, reach=True))
        g[name] = first.reach
    assert len(g["exact"]) == k and np.all(g["exact"] > 0)
    np.testing.assert_allclose(g["estimate"], g["exact"], rtol=0.1)


def test_a_truncation_diagnosis_cites_what_the_state_holds_and_how_far_the_gradient_reaches():
    result = run_experiment(from_mapping({"task": "delay", "delay": 2}))  # bptt 1: cut short of x[t-2]
    diagnosis = result.models["stateful"].diagnosis
    assert diagnosis is not None and diagnosis.kind == "truncation"
    held, reach = result.memory["stateful"].capacity, result.memory["stateful"].gradient_reach
    assert (
        f"its state holds x[t-2] at r² {held.r2[2]:.2f} and the gradient from there is "
        f"g(2) = {reach.trained[2]:.2f} (initial weights {reach.initial[2]:.2f})"
    ) in diagnosis.evidence
    assert reach.trained[2] > 0.3  # the gradient arrives: it is the cut that stops the model
