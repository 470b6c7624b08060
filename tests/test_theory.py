"""The one theory: what a config is expected to do, said the same way by every caller."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from statelab import evaluate, terminal, theory
from statelab.config import ConfigError, from_mapping
from statelab.report.sweep import predictions


def test_the_needed_lag_is_the_shortest_window_that_gets_within_the_threshold():
    assert theory.needed_lag(from_mapping({"tsteps": 2}).task) == 1
    # A mean over 20 steps: a window of 19 leaves 1/20 of the variance, within 0.1; 18 leaves 0.1.
    assert theory.needed_lag(from_mapping({"tsteps": 20}).task) == 18
    assert theory.needed_lag(from_mapping({"task": "delay", "delay": 3}).task) == 3
    assert theory.needed_lag(from_mapping({"task": "ar", "ar_coefs": "0,0.9"}).task) == 1
    # An EMA: (1 - alpha)^(2 L) < 0.1 from L = 4 at alpha 0.3 (0.7^8 = 0.058; 0.7^6 = 0.118).
    assert theory.needed_lag(from_mapping({"task": "ema", "alpha": 0.3}).task) == 3
    assert theory.needed_lag(from_mapping({"task": "sunspots"}).task) is None


@pytest.mark.parametrize(
    ("flat", "stateless", "stateful"),
    [
        ({}, "impossible", "not promised"),  # bptt 1: the gradient misses x[t-1]
        ({"bptt": 2}, "impossible", "promised"),
        ({"tsteps": 3, "lahead": 3}, "promised", "promised"),  # the window holds it all
        ({"tsteps": 20, "lahead": 19}, "promised", "promised"),  # floor 0.05: within the threshold
        ({"task": "delay", "delay": 2}, "impossible", "not promised"),
        ({"task": "delay", "delay": 2, "bptt": 3}, "impossible", "promised"),
        ({"task": "delay", "delay": 5, "bptt": 6}, "impossible", "not promised"),  # long for 10 epochs
        ({"task": "delay", "delay": 5, "bptt": 6, "epochs": 30}, "impossible", "promised"),
        ({"batch_size": 16, "layout": "seed", "input_len": 16000}, "impossible", "impossible"),
        ({"task": "sunspots"}, None, None),
    ],
)
def test_the_expected_outcome_of_each_model(flat, stateless, stateful):
    expected = theory.expectations(from_mapping(flat))
    assert (expected["stateless"].outcome, expected["stateful"].outcome) == (stateless, stateful)


def test_a_window_missing_one_of_twenty_inputs_is_promised_and_says_so():
    """Round two's report called this stateless model both able and unable to converge."""
    e = theory.expect(from_mapping({"tsteps": 20, "lahead": 19}), "stateless")
    assert e.outcome == "promised" and e.floor_nmse == pytest.approx(0.05)
    assert "holds enough of what the target needs (up to x[t-18])" in e.reason


def test_learnable_memory_follows_the_measured_points():
    assert theory.learnable_depth(8000) == 3 and theory.learnable_depth(24000) == 5
    assert theory.learnable(3, 8000) and not theory.learnable(4, 8000)
    assert theory.learnable(0, 1)  # nothing to learn beyond the window


def test_the_interval_of_a_mean_counts_correlated_rows():
    rng = np.random.default_rng(0)
    independent = rng.standard_normal(10_000) ** 2
    se = theory.mean_interval(independent, 1)
    assert se == pytest.approx(np.sqrt(2 / 10_000), rel=0.1)  # var(z^2) = 2
    repeated = np.repeat(independent[:2500], 4)  # each value four times: four times the variance
    assert theory.mean_interval(repeated, 8) > 1.6 * theory.mean_interval(repeated, 0)


tasks_ = st.sampled_from(["moving-average", "delay", "ema", "ar"])


@st.composite
def configs(draw):
    task = draw(tasks_)
    flat = {"task": task, "lahead": draw(st.integers(1, 8)), "bptt": draw(st.integers(1, 8))}
    flat["epochs"] = draw(st.sampled_from([2, 10, 30]))
    flat["input_len"] = 400
    if task == "moving-average":
        flat["tsteps"] = draw(st.integers(1, 12))
    elif task == "delay":
        flat["delay"] = draw(st.integers(1, 8))
    elif task == "ema":
        flat["alpha"] = draw(st.sampled_from([0.05, 0.3, 0.5, 1.0]))
    else:
        flat["ar_coefs"] = draw(st.sampled_from(["0.9", "0,0.9", "0.5,-0.3,0.2"]))
    if draw(st.booleans()):
        flat |= {"batch_size": 4, "layout": draw(st.sampled_from(["streams", "seed"]))}
    try:
        return from_mapping(flat)
    except ConfigError:
        return from_mapping({"task": task})


@settings(max_examples=60, deadline=None)
@given(configs())
def test_every_caller_gives_the_theorys_answer(config):
    """The banner, the metrics (and with them metrics.json, the report, the lab and load_results),
    the sweep report's prediction and the verdict all read the one theory."""
    expected = theory.expectations(config)
    out = io.StringIO()
    terminal.banner(Console(file=out, width=400), config)
    text = out.getvalue()
    cell = config.model.cell.upper()
    for name, e in expected.items():
        assert f"{name.upper()} {cell} {terminal.HEADINGS[e.outcome]}" in text
        assert e.reason in text
        m = evaluate.model_metrics(
            np.zeros(4), np.zeros(4), 0.0, 1.0, np.zeros(4, bool), 0.0, 0.0, expectation=e
        )
        assert (m.expected, m.expected_converged) == (e.outcome, e.converges)
    said = predictions(config.to_dict(), {})
    assert said["stateless"] == (expected["stateless"].outcome == "promised")
    need = theory.needed_lag(config.task)
    if need is not None:
        assert said["stateful"] == (need <= theory.gradient_reach(config))
    metrics = {
        "models": {
            name: {
                "converged": e.outcome == "promised",
                "expected": e.outcome,
                "floor_nmse": 0.0,
                "test_nmse": 0.0,
            }
            for name, e in expected.items()
        },
        "claim_held": theory.claim_held(
            {n: e.outcome for n, e in expected.items()}, {n: True for n in expected}
        ),
        "baselines": {},
    }
    line = evaluate.verdict(metrics).text
    for name, e in expected.items():
        assert f"{name} " in line and f"({e.outcome})" in line


def test_realised_floor_is_the_optimal_predictors_error_on_those_rows():
    errors = np.array([0.1, -0.1, 0.2, 0.0])
    floor = theory.realised_floor(errors, expected_mse=0.012, var_y=0.02, bandwidth=1)
    assert floor.realised == pytest.approx(np.mean(errors**2) / 0.02)
    assert floor.expected == pytest.approx(0.6)
    low, high = floor.interval
    assert low < 0.6 < high and math.isclose(0.6 - low, high - 0.6)
    assert floor.at(floor.realised) and not floor.at(floor.realised + (high - low))
