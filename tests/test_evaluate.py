"""Metrics, verdicts and baselines."""

from __future__ import annotations

import numpy as np
import pytest

from statelab import evaluate, experiment, tasks
from statelab.config import CONVERGED_NMSE, from_mapping


def test_model_metrics_normalise_exclude_the_warm_up_and_judge_by_the_threshold():
    target = np.array([1.0, 0.0, 0.0, 0.0])
    pred = np.array([0.0, 0.0, 0.0, 0.2])
    m = evaluate.model_metrics(
        pred, target, floor_mse=0.0, var_y=2.0, warmup=1, final_train_loss=1, final_val_loss=1
    )
    assert m.test_mse == pytest.approx(0.04 / 3) and m.test_mse_all == pytest.approx(1.04 / 4)
    assert m.test_nmse == pytest.approx(m.test_mse / 2.0) and m.warmup_excluded == 1
    assert m.converged is True and m.expected_converged is True
    high = evaluate.model_metrics(
        pred, target, floor_mse=1.0, var_y=2.0, warmup=0, final_train_loss=1, final_val_loss=1
    )
    assert high.floor_nmse == 0.5 and high.expected_converged is False
    assert high.converged == (high.test_nmse < CONVERGED_NMSE)


def test_claim_holds_only_when_every_verdict_matches_and_is_unknown_without_floors():
    def metrics(converged, expected):
        return evaluate.ModelMetrics(0, 0, 0, 0, 0, 0, 0, converged, expected, 0, 0)

    assert evaluate.claim_held({"a": metrics(True, True), "b": metrics(False, False)}) is True
    assert evaluate.claim_held({"a": metrics(True, True), "b": metrics(True, False)}) is False
    assert evaluate.claim_held({"a": metrics(True, None), "b": metrics(True, False)}) is None


def test_floor_of_each_model_kind():
    floors = tasks.Floors(var_y=1.0, windowed=0.5, unbounded=0.0)
    assert evaluate.floor_of("stateless", floors) == 0.5
    assert evaluate.floor_of("stateful", floors) == 0.0
    assert evaluate.floor_of("stateful", None) is None


@pytest.mark.parametrize(("tsteps", "lahead"), [(2, 1), (4, 1), (5, 3), (3, 3)])
def test_linear_ar_baseline_reaches_the_window_limited_floor(tsteps, lahead):
    """On the moving average the best window predictor is linear, so least squares finds it."""
    config = from_mapping({"tsteps": tsteps, "lahead": lahead, "input_len": 100_000})
    dataset = experiment.prepare(config)
    floors = tasks.floors(config.task)
    test = np.arange(dataset.n_train, len(dataset.target))
    out = evaluate.baselines(dataset.windows, dataset.target, dataset.n_train, test, floors.var_y, False)
    assert out["linear_ar"].test_nmse == pytest.approx(floors.windowed / floors.var_y, abs=0.02)


def test_last_value_baseline_is_the_newest_input_in_either_window_order():
    windows = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    target = np.array([2.0, 4.0, 7.0])
    rows = np.array([1, 2])
    oldest_first = evaluate.baselines(windows, target, 2, rows, 1.0, newest_first=False)
    assert oldest_first["last_value"].test_mse == pytest.approx((0 + 1) / 2)
    newest_first = evaluate.baselines(windows[:, ::-1], target, 2, rows, 1.0, newest_first=True)
    assert newest_first["last_value"].test_mse == oldest_first["last_value"].test_mse
