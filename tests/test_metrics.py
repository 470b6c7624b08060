"""metrics.py: a memory record is strict JSON, with its state profiles when it has them."""

from __future__ import annotations

import json
import math

from statelab.metrics import Capacity, GradientReach, Memory


def test_a_memory_record_writes_its_state_profiles_and_a_diverged_ones_as_null():
    memory = Memory(
        sensitivity=[0.5, math.nan],
        span=None,
        profile_error=None,
        capacity=Capacity(r2=[0.9, math.nan], total=None, state_size=40),
        gradient_reach=GradientReach(initial=[1.0, 0.6], trained=[1.0, math.inf], samples=64),
    )
    out = memory.to_dict()
    assert json.loads(json.dumps(out, allow_nan=False)) == {
        "sensitivity": [0.5, None],
        "span": None,
        "profile_error": None,
        "capacity": {"r2": [0.9, None], "total": None, "state_size": 40},
        "gradient_reach": {"initial": [1.0, 0.6], "trained": [1.0, None], "samples": 64},
    }


def test_a_memory_record_without_state_profiles_writes_no_keys_for_them():
    assert set(Memory([0.5], 0, 0.0).to_dict()) == {"sensitivity", "span", "profile_error"}
