"""The records of a run's metrics, as metrics.json holds them: each model's test metrics, each
baseline's, each model's memory profile. Plain frozen dataclasses, importing nothing heavy, so
`import statelab` can export them (typed code names `result.models["stateful"]` a ModelMetrics).

They are made by `statelab.evaluate` (errors and verdicts) and `statelab.memory` (profiles).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Diagnosis:
    """Why a model missed what theory promised, or ended far above its floor, and what to change.

    kind: truncation (the gradient cannot reach the lag the target needs), diverged, unstable (a
    loss that jumps), under-trained (still falling at the last epoch), stuck (the gradient reaches,
    the loss is flat, the profile is wrong) or at the floor (within the test set's interval of its
    floor: training cannot do better). `change`: the suggestion as config fields (`{"bptt": 3}`),
    empty where no change of training helps; `statelab doctor` tries it and others."""

    kind: str
    evidence: str  # the numbers behind the kind, one sentence
    suggestion: str  # what to change, one sentence
    change: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ModelMetrics:
    """Test metrics of one model. MSEs are over the test rows in time order; None if it diverged."""

    test_mse: float | None  # without the first `warmup_excluded` rows of each series
    test_nmse: float | None
    test_mse_all: float | None  # with every test row
    test_nmse_all: float | None
    warmup_excluded: int  # rows a reset stateful model had no history for
    floor_mse: float | None  # the analytic optimum of a model of this kind (None: real series)
    floor_nmse: float | None
    converged: bool | None  # test_nmse within the threshold of the best reachable (None: no floor)
    expected_converged: bool | None  # True if promised, False if impossible, else None
    final_train_loss: float | None
    final_val_loss: float | None
    diverged: bool = False  # training produced non-finite numbers
    expected: str | None = None  # promised, impossible or not promised (statelab.theory); None: no floor
    expected_reason: str | None = None  # why, in one sentence
    realised_floor_nmse: float | None = None  # the optimal predictor of its kind on the same rows
    floor_low: float | None = None  # the 95% interval of the floor on a test set of this size
    floor_high: float | None = None
    at_floor: bool | None = None  # within that interval of the realised floor
    diagnosis: Diagnosis | None = None  # why it missed, and what to change

    def to_dict(self) -> dict:
        out = asdict(self)
        out["diagnosis"] = None if self.diagnosis is None else self.diagnosis.to_dict()
        return out


@dataclass(frozen=True)
class BaselineMetrics:
    """A model-free predictor on the same test rows as the networks."""

    test_mse: float
    test_nmse: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Memory:
    """A model's memory profile and its two summary numbers."""

    sensitivity: list[float]  # s(k), k = 0..K, with respect to the profiled feature
    span: int | None  # largest k with |s(k)| >= 10% of the largest true weight; None: diffuse (or diverged)
    profile_error: float | None  # sum (s - true)^2 / sum true^2; None when the truth is all 0
    by_feature: dict[str, list[float]] | None = None  # every input feature, when there are several

    def to_dict(self) -> dict:
        """For metrics.json: a NaN or infinite value (a diverged model's) is null, as JSON has none."""
        out = _json_numbers(asdict(self))
        if self.by_feature is None:
            del out["by_feature"]
        return out


def _json_numbers(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_numbers(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
