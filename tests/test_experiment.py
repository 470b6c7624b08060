"""experiment.py: the reference experiment reproduces the claim, and stateful batching at scale
works with the streams layout and fails with the original's seed layout."""

from __future__ import annotations

import json
import math

import jax
import numpy as np
import pytest

import statelab
from statelab import cells, experiment, train
from statelab.config import ConfigError, from_mapping

AMPLITUDE, TSTEPS = 0.1, 2
VAR_Y = AMPLITUDE**2 / 3 / TSTEPS  # uniform noise variance a^2/3, averaged over tsteps inputs
STATELESS_FLOOR_NMSE = 0.5  # one of the two inputs of the mean is unseen: half the variance


@pytest.fixture(scope="module")
def reference():
    return statelab.run_experiment(statelab.ExperimentConfig())


@pytest.mark.slow
def test_stateful_model_learns_what_the_stateless_cannot(reference):
    stateful, stateless = reference.models["stateful"], reference.models["stateless"]
    assert stateless.floor_nmse == pytest.approx(STATELESS_FLOOR_NMSE, rel=1e-12)
    assert stateful.floor_nmse == 0.0
    assert stateful.test_nmse < 0.1
    assert stateful.test_nmse < 0.2 * stateless.floor_nmse


@pytest.mark.slow
def test_stateless_model_sits_near_its_floor(reference):
    nmse = reference.models["stateless"].test_nmse
    assert STATELESS_FLOOR_NMSE * 0.9 < nmse < 0.7


@pytest.mark.slow
def test_reference_claim_holds(reference):
    """At bptt 1 the stateful model's gradient never reaches x[t-1]: theory does not promise it
    converges (it does here, on the untrained dynamics' memory), so only the stateless model's
    impossible outcome is tested."""
    stateful, stateless = reference.models["stateful"], reference.models["stateless"]
    assert (stateful.converged, stateful.expected, stateful.expected_converged) == (
        True,
        "not promised",
        None,
    )
    assert (stateless.converged, stateless.expected, stateless.expected_converged) == (
        False,
        "impossible",
        False,
    )
    assert "--bptt 2" in stateful.expected_reason
    assert reference.claim_held is True


@pytest.mark.slow
def test_metrics_dict_has_the_documented_keys(reference):
    metrics = reference.metrics_dict()
    assert metrics["var_y"] == pytest.approx(VAR_Y, rel=1e-12)
    assert metrics["claim_held"] is True
    assert set(metrics["models"]) == {"stateful", "stateless"}
    for model in metrics["models"].values():
        assert {"test_mse", "test_nmse", "floor_nmse", "converged", "expected_converged"} <= set(model)
    assert (metrics["n_train"], metrics["n_test"], metrics["dropped_train_rows"]) == (800, 200, 0)
    assert json.loads(json.dumps(metrics)) == metrics  # metrics.json holds exactly this


@pytest.mark.slow
def test_reported_errors_are_those_of_the_predictions(reference, original):
    ref = original(1000, TSTEPS, 1, AMPLITUDE, 1986)
    assert np.array_equal(reference.test_row, np.arange(800, 1000))
    assert np.array_equal(reference.test_target, ref.target[800:])
    for name, warmup in (("stateful", TSTEPS - 1), ("stateless", 0)):
        m = reference.models[name]
        error = reference.test_pred[name].astype(np.float64) - ref.target[800:]
        assert m.warmup_excluded == warmup
        assert m.test_mse == pytest.approx(np.mean(error[warmup:] ** 2), rel=1e-12)
        assert m.test_mse_all == pytest.approx(np.mean(error**2), rel=1e-12)
        assert m.test_nmse == pytest.approx(m.test_mse / VAR_Y, rel=1e-12)


@pytest.mark.slow
def test_same_config_gives_bit_identical_results(reference):
    again = statelab.run_experiment(statelab.ExperimentConfig())
    assert again.metrics_dict() == reference.metrics_dict()
    for name in train.MODELS:
        assert np.array_equal(again.test_pred[name], reference.test_pred[name])
        assert np.array_equal(again.train_loss[name], reference.train_loss[name])


@pytest.mark.slow
def test_training_loss_falls_across_epochs_at_the_reference(reference):
    for name in train.MODELS:
        assert reference.train_loss[name][-1] < reference.train_loss[name][0]
    assert reference.val_loss["stateful"][-1] < 0.2 * reference.val_loss["stateful"][0]


@pytest.fixture(scope="module")
def at_scale():
    base = {"tsteps": 2, "lahead": 1, "batch_size": 16, "input_len": 16_000, "epochs": 10}
    return {
        layout: statelab.run_experiment(from_mapping({**base, "layout": layout}))
        for layout in ("streams", "seed")
    }


@pytest.mark.slow
def test_streams_layout_keeps_the_stateful_advantage_at_batch_16(at_scale):
    result = at_scale["streams"]
    assert result.models["stateful"].test_nmse < 0.05
    assert result.claim_held is True


@pytest.mark.slow
def test_seed_layout_loses_the_stateful_advantage_at_batch_16(at_scale):
    """Theory knows it: under the seed layout a row's state comes from 16 rows back, so the
    stateful model is held at the window's floor, and its failure is the expected outcome."""
    result = at_scale["seed"]
    stateful = result.models["stateful"]
    assert stateful.test_nmse > 0.4
    assert stateful.expected == "impossible" and "seed layout" in stateful.expected_reason
    assert stateful.floor_nmse == pytest.approx(0.5)
    assert result.claim_held is True


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["streams", "seed"])
def test_stateless_model_sits_near_its_floor_at_scale(at_scale, layout):
    nmse = at_scale[layout].models["stateless"].test_nmse
    assert STATELESS_FLOOR_NMSE * 0.9 < nmse < 0.6


def test_continued_test_scores_every_test_row():
    config = from_mapping({"input_len": 203, "epochs": 1, "batch_size": 4, "test_start": "continue"})
    result = statelab.run_experiment(config)
    assert result.dropped == 2  # int(203 * 0.8) = 162 = 4 * 40 + 2
    assert np.array_equal(result.test_row, np.arange(162, 203))
    assert result.models["stateful"].warmup_excluded == 0
    assert result.models["stateful"].test_mse == result.models["stateful"].test_mse_all


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_every_valid_config_scores_some_stateful_test_rows():
    # The seed layout tests on one whole batch of 16 rows here: 17 warm-up rows would leave none.
    with pytest.raises(ConfigError, match="tsteps must be small enough"):
        from_mapping({"input_len": 100, "batch_size": 16, "layout": "seed", "tsteps": 18, "epochs": 1})
    config = from_mapping({"input_len": 100, "batch_size": 16, "layout": "seed", "tsteps": 16, "epochs": 1})
    data = experiment.prepare(config)
    # Metrics of a model predicting 0 everywhere: no training needed to reach the bug.
    n_test_batches, batch = data.test.y.shape
    untrained = train.create_train_state(config.model).params
    params = jax.tree.map(lambda a: a[0], untrained)
    fitted = train.FitResult(
        params=[params, params],
        train_loss=np.ones((2, 1)),
        val_loss=np.ones((2, 1)),
        test_pred=np.zeros((2, n_test_batches, batch), np.float32),
        test_start=[cells.zero_state(config.model, batch)] * 2,
    )
    result = experiment.evaluate_fit(config, data, fitted)
    assert len(result.test_row) > config.task.record.warmup(config.task)
    assert math.isfinite(result.models["stateful"].test_mse)


def test_on_epoch_gets_named_logs_and_out_writes_the_run_directory(tmp_path):
    seen = []
    out = tmp_path / "run"
    result = statelab.run_experiment(
        {"input_len": 200, "epochs": 3}, on_epoch=lambda epoch, logs: seen.append((epoch, logs)), out=out
    )
    assert [e for e, _ in seen] == [0, 1, 2]
    last = seen[-1][1]
    assert set(last) == {"stateful", "stateless"}
    for name, logs in last.items():
        assert logs["loss"] == pytest.approx(float(result.train_loss[name][-1]))
        assert logs["val_loss"] == pytest.approx(float(result.val_loss[name][-1]))
        assert logs["val_nmse"] == pytest.approx(logs["val_loss"] / result.var_y)
    # The last epoch's validation loss is the test MSE, on the same rows (float32 against float64).
    assert last["stateful"]["val_loss"] == pytest.approx(result.models["stateful"].test_mse, rel=1e-5)
    assert (out / "report.html").is_file() and (out / "models" / "stateful.npz").is_file()
    assert json.loads((out / "metrics.json").read_text()) == json.loads(json.dumps(result.metrics_dict()))
    # result.save writes the same again elsewhere; a directory that is not empty is refused.
    again = statelab.save_run(result, tmp_path / "again")
    assert (again / "metrics.json").read_text() == (out / "metrics.json").read_text()
    with pytest.raises(ConfigError, match="out must be a new or empty directory"):
        statelab.save_run(result, out)
