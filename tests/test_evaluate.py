"""Metrics, verdicts and baselines."""

from __future__ import annotations

import numpy as np
import pytest

from statelab import evaluate, experiment, tasks, theory
from statelab.config import from_mapping
from statelab.theory import CONVERGED_NMSE


def test_model_metrics_normalise_exclude_the_warm_up_and_judge_by_the_threshold():
    target = np.array([1.0, 0.0, 0.0, 0.0])
    pred = np.array([0.0, 0.0, 0.0, 0.2])
    warm = np.array([True, False, False, False])
    m = evaluate.model_metrics(
        pred, target, floor_mse=0.0, var_y=2.0, warm=warm, final_train_loss=1, final_val_loss=1
    )
    assert m.test_mse == pytest.approx(0.04 / 3) and m.test_mse_all == pytest.approx(1.04 / 4)
    assert m.test_nmse == pytest.approx(m.test_mse / 2.0) and m.warmup_excluded == 1
    assert m.converged is True and m.expected_converged is True
    high = evaluate.model_metrics(
        pred, target, floor_mse=1.0, var_y=2.0, warm=~warm & warm, final_train_loss=1, final_val_loss=1
    )
    assert high.floor_nmse == 0.5 and high.expected_converged is False
    assert high.converged == (high.test_nmse < CONVERGED_NMSE)
    # With noise no model can predict (best normalised MSE 0.45), converged means within 0.1 of it.
    noisy = evaluate.model_metrics(
        pred,
        target,
        floor_mse=1.0,
        var_y=2.0,
        warm=warm,
        final_train_loss=1,
        final_val_loss=1,
        best_nmse=0.45,
    )
    assert noisy.expected_converged == (0.45 + CONVERGED_NMSE > 0.5)


def test_a_diverged_model_has_null_errors_and_did_not_converge():
    target = np.zeros(4)
    pred = np.array([0.0, np.nan, 1.0, np.inf])
    m = evaluate.model_metrics(
        pred,
        target,
        floor_mse=0.0,
        var_y=1.0,
        warm=np.zeros(4, bool),
        final_train_loss=np.nan,
        final_val_loss=1,
    )
    assert m.diverged and not m.converged
    assert m.test_mse is None and m.test_nmse is None and m.final_train_loss is None


def test_claim_tests_only_promised_and_impossible_outcomes():
    promised, impossible, open_ = theory.PROMISED, theory.IMPOSSIBLE, theory.NOT_PROMISED
    both = {"a": promised, "b": impossible}
    assert theory.claim_held(both, {"a": True, "b": False}) is True
    assert theory.claim_held(both, {"a": False, "b": False}) is False  # a promise missed
    assert theory.claim_held(both, {"a": True, "b": True}) is False  # the impossible happened
    # a model theory neither promised nor ruled out is not tested, whatever it did
    assert theory.claim_held({"a": open_, "b": impossible}, {"a": False, "b": False}) is True
    assert theory.claim_held({"a": open_, "b": open_}, {"a": True, "b": False}) is None
    assert theory.claim_held({"a": None, "b": None}, {"a": True, "b": False}) is None  # no floor


def test_floor_of_each_model_kind():
    floors = tasks.Floors(var_y=1.0, windowed=0.5, unbounded=0.0)
    assert theory.floor_of("stateless", floors) == 0.5
    assert theory.floor_of("stateful", floors) == 0.0
    assert theory.floor_of("stateful", None) is None


@pytest.mark.parametrize(("tsteps", "lahead"), [(2, 1), (4, 1), (5, 3), (3, 3)])
def test_linear_ar_baseline_reaches_the_window_limited_floor(tsteps, lahead):
    """On the moving average the best window predictor is linear, so least squares finds it."""
    config = from_mapping({"tsteps": tsteps, "lahead": lahead, "input_len": 100_000})
    dataset = experiment.prepare(config)
    floors = config.task.record.floors(config.task)
    test = np.flatnonzero(~dataset.train_rows)
    out = evaluate.baselines(
        dataset.windows, dataset.target, dataset.last, dataset.train_rows, test, floors.var_y
    )
    assert out["linear_ar"].test_nmse == pytest.approx(floors.windowed / floors.var_y, abs=0.02)


@pytest.mark.parametrize("order", ["oldest-first", "newest-first"])
def test_last_value_baseline_is_the_newest_input_in_either_window_order(order):
    config = from_mapping({"input_len": 50, "lahead": 3, "window_order": order})
    dataset = experiment.prepare(config)
    newest = dataset.windows[:, -1 if order == "oldest-first" else 0, 0]
    assert np.array_equal(dataset.last, newest)
    test = np.flatnonzero(~dataset.train_rows)
    out = evaluate.baselines(dataset.windows, dataset.target, dataset.last, dataset.train_rows, test, 1.0)
    assert out["last_value"].test_mse == pytest.approx(np.mean((newest[test] - dataset.target[test]) ** 2))


def _metrics(converged: dict, claim, nmse: dict | None = None, expected: dict | None = None) -> dict:
    nmse = nmse or {m: 0.5 for m in converged}
    floor = None if expected is None else 0.0  # no expected outcomes: a real series, without floors
    return {
        "models": {
            m: {
                "converged": c,
                "test_nmse": nmse[m],
                "floor_nmse": floor,
                "expected": (expected or {}).get(m),
            }
            for m, c in converged.items()
        },
        "claim_held": claim,
        "baselines": {"linear_ar": {"test_nmse": 0.25}},
    }


def test_verdict_says_whether_the_expected_outcome_held_and_names_each_models_outcome():
    expected = {"stateful": "promised", "stateless": "impossible"}
    held = evaluate.verdict(_metrics({"stateful": True, "stateless": False}, True, expected=expected))
    assert held == evaluate.Verdict(
        "Expected outcome held: stateful converged (promised), stateless not converged (impossible).", True
    )
    missed = evaluate.verdict(_metrics({"stateful": False, "stateless": False}, False, expected=expected))
    assert missed.text == (
        "Expected outcome did NOT hold: stateful not converged (promised), "
        "stateless not converged (impossible)."
    )
    assert missed.held is False
    open_ = {"stateful": "not promised", "stateless": "not promised"}
    untested = evaluate.verdict(_metrics({"stateful": True, "stateless": False}, None, expected=open_))
    assert untested.held is None and untested.text.startswith("No outcome here was promised or ruled out")


def test_verdict_without_a_floor_names_the_best_network_and_the_linear_baseline():
    said = evaluate.verdict(
        _metrics({"stateful": False, "stateless": False}, None, {"stateful": 0.4, "stateless": 0.3})
    )
    assert said.held is None
    assert said.text == (
        "No floor to test against (a real series): best network stateless with NMSE 0.3000; "
        "linear AR baseline 0.2500."
    )
