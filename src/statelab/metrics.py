"""The records of a run's metrics, as metrics.json holds them: each model's test metrics, each
baseline's, each model's memory profile. Plain frozen dataclasses, importing nothing heavy, so
`import statelab` can export them (typed code names `result.models["stateful"]` a ModelMetrics).

They are made by `statelab.evaluate` (errors and verdicts) and `statelab.memory` (profiles).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

# The kinds of a diagnosis, in the order `statelab.diagnosis` looks for them.
DIAGNOSIS_KINDS = ("diverged", "truncation", "unstable", "at the floor", "under-trained", "stuck")


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
    # A real series (written only where they have a value): errors in the data's units, the
    # model's rank among every model, baseline and peer by test MSE (1: best), its skill against
    # the best non-network forecaster (1 - MSE / MSE_best), and the epoch whose weights were kept.
    rmse: float | None = None
    mae: float | None = None
    mase: float | None = None
    rank: int | None = None
    skill: float | None = None
    best_epoch: int | None = None

    def to_dict(self) -> dict:
        out = _without_unset(asdict(self))
        out["diagnosis"] = None if self.diagnosis is None else self.diagnosis.to_dict()
        return out


# What the linear AR baseline may cost (statelab.evaluate fits it; statelab.resources counts it).
MAX_AR_INPUTS = 1024  # inputs (lahead x features) it is fitted over at most; beyond, it is not fitted
BLOCK_VALUES = 1 << 22  # values per block of its design (32 MB in float64): wide designs take fewer rows

# Keys a metrics record writes only where they have a value (a generated series has none of
# them, and its metrics.json stays as it was).
REAL_SERIES_KEYS = ("rmse", "mae", "mase", "rank", "skill", "best_epoch")


def _without_unset(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if not (k in REAL_SERIES_KEYS and v is None)}


@dataclass(frozen=True)
class BaselineMetrics:
    """A model-free predictor on the same test rows as the networks; None where it was not
    computed (a linear AR over more inputs than MAX_AR_INPUTS) or is not finite. A real series'
    errors are in the data's units (test_mse too), with its RMSE, MAE, MASE and rank."""

    test_mse: float | None
    test_nmse: float | None
    rmse: float | None = None
    mae: float | None = None
    mase: float | None = None
    rank: int | None = None

    def to_dict(self) -> dict:
        return _without_unset(asdict(self))


@dataclass(frozen=True)
class PeerMetrics:
    """A classical forecaster (statelab.peers) on the same test rows as the networks, fitted on
    each series' training part and forecasting with its parameters fixed; or why it failed (a
    failed peer is reported, never dropped)."""

    status: str  # "ok" or "failed"
    detail: str  # what was fitted ("ARIMA(1,1,1) with drift"), or the reason it failed
    test_mse: float | None = None  # in the data's units
    test_nmse: float | None = None
    rmse: float | None = None
    mae: float | None = None
    mase: float | None = None
    rank: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Capacity:
    """What a model's state holds: how well x[t-k] is read back from it by a linear readout."""

    r2: list[float]  # r2(k), k = 0..K: squared correlation on the test rows (NaN: not known, diverged)
    total: float | None  # sum of r2(k): the short-term memory capacity; None for a diverged model
    state_size: int  # the numbers the readout reads (an LSTM's h and c): the capacity's bound


@dataclass(frozen=True)
class GradientReach:
    """How far back a gradient reaches through the state: |d h[t] / d h[t-k]| per lag k."""

    initial: list[float]  # g(k), k = 0..K, with the untrained weights (the run's model_seed)
    trained: list[float]  # g(k) with the trained weights
    samples: int  # start steps of the test stream averaged over


@dataclass(frozen=True)
class Memory:
    """A model's memory profile and its two summary numbers; what its state holds and how far a
    gradient reaches back through it."""

    sensitivity: list[float]  # s(k), k = 0..K, with respect to the profiled feature
    span: int | None  # largest k with |s(k)| >= 10% of the largest true weight; None: diffuse (or diverged)
    profile_error: float | None  # sum (s - true)^2 / sum true^2; None when the truth is all 0
    by_feature: dict[str, list[float]] | None = None  # every input feature, when there are several
    capacity: Capacity | None = None  # None: not measured (a run of an earlier statelab)
    gradient_reach: GradientReach | None = None

    def to_dict(self) -> dict:
        """For metrics.json: a NaN or infinite value (a diverged model's) is null, as JSON has none."""
        out = json_numbers(asdict(self))
        for key in ("by_feature", "capacity", "gradient_reach"):
            if out[key] is None:
                del out[key]
        return out


def json_numbers(value: Any) -> Any:
    """`value` (dicts, lists and tuples of numbers) with every NaN or infinite float as None: what
    strict JSON can hold, as metrics.json and the store write it."""
    if isinstance(value, dict):
        return {k: json_numbers(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_numbers(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ---------------------------------------------------------------------------------------------
# Reading a metrics document back (metrics.json, a store's row): every key a reader uses, checked


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number_or_null(value: Any) -> bool:
    return value is None or _is_number(value)


def _int_or_null(value: Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool))


def _bool_or_null(value: Any) -> bool:
    return value is None or isinstance(value, bool)


def _numbers(value: Any) -> bool:
    return isinstance(value, list) and all(_number_or_null(v) for v in value)


def _string(value: Any) -> bool:
    return isinstance(value, str)


# key -> (test, rule): the kinds a metrics document's keys hold (numbers may be null: a diverged
# model's errors are).
RUN_KEYS: dict[str, tuple[Any, str]] = {
    "schema_version": (_int_or_null, "an integer"),
    "statelab_version": (_string, "a string"),
    "config_hash": (_string, "a string"),
    "var_y": (_number_or_null, "a number or null"),
    "threshold_nmse": (_is_number, "a number"),
    "n_train": (_int_or_null, "an integer"),
    "n_test": (_int_or_null, "an integer"),
    "dropped_train_rows": (_int_or_null, "an integer"),
    "claim_held": (_bool_or_null, "true, false or null"),
    "task_profile": (_numbers, "a list of numbers"),
    "task_profile_kind": (_string, "a string"),
    "data": (lambda v: isinstance(v, dict), "an object"),
    "realised_floors": (lambda v: v is None or isinstance(v, dict), "an object or null"),
}
MODEL_KEYS: dict[str, tuple[Any, str]] = {
    **{
        key: (_number_or_null, "a number or null")
        for key in (
            "test_mse",
            "test_nmse",
            "test_mse_all",
            "test_nmse_all",
            "floor_mse",
            "floor_nmse",
            "final_train_loss",
            "final_val_loss",
        )
    },
    "warmup_excluded": (_int_or_null, "an integer"),
    "converged": (_bool_or_null, "true or false"),
    "expected_converged": (_bool_or_null, "true, false or null"),
    "diverged": (_bool_or_null, "true or false"),
    "memory": (lambda v: v is None or isinstance(v, dict), "an object"),
    "expected": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "expected_reason": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "realised_floor_nmse": (_number_or_null, "a number or null"),
    "floor_low": (_number_or_null, "a number or null"),
    "floor_high": (_number_or_null, "a number or null"),
    "at_floor": (_bool_or_null, "true, false or null"),
    "diagnosis": (lambda v: v is None or isinstance(v, dict), "an object or null"),
}
MEMORY_KEYS: dict[str, tuple[Any, str]] = {
    "sensitivity": (_numbers, "a list of numbers"),
    "span": (_int_or_null, "an integer or null"),
    "profile_error": (_number_or_null, "a number or null"),
    "by_feature": (
        lambda v: v is None or (isinstance(v, dict) and all(_numbers(x) for x in v.values())),
        "an object of lists of numbers",
    ),
}
REQUIRED_RUN_KEYS = ("config_hash", "n_train", "n_test", "threshold_nmse", "models", "statelab_version")
REQUIRED_MODEL_KEYS = ("test_mse", "test_nmse", "test_nmse_all", "floor_mse", "floor_nmse", "warmup_excluded")


def _check_keys(where: str, document: dict, kinds: dict[str, tuple[Any, str]]) -> None:
    for key, (ok, rule) in kinds.items():
        if key in document and not ok(document[key]):
            raise ValueError(f"{where}{key} must be {rule}, got {_brief(document[key])}")


def check_metrics(metrics: Any, required: bool = True) -> None:
    """ValueError (KeyError for a missing key) naming the first key of a metrics document
    (metrics.json, a store's row) that is missing or of the wrong kind, so that a damaged
    document is one line where it is read, not a TypeError where it is used. `required=False`
    checks the kinds of the keys present only (a version-1 store's rows hold fewer)."""
    if not isinstance(metrics, dict):
        raise ValueError(f"a JSON object expected, got {type(metrics).__name__}")
    if required:
        for key in REQUIRED_RUN_KEYS:
            if key not in metrics:
                raise KeyError(key)
    _check_keys("", metrics, RUN_KEYS)
    models = metrics.get("models", {})
    if not isinstance(models, dict) or (required and not models):
        raise ValueError("models must be an object of models")
    for name, m in models.items():
        if not isinstance(m, dict):
            raise ValueError(f"models.{name} must be an object")
        if required:
            for key in REQUIRED_MODEL_KEYS:
                if key not in m:
                    raise KeyError(f"models.{name}.{key}")
        _check_keys(f"models.{name}.", m, MODEL_KEYS)
        if isinstance(m.get("memory"), dict):
            _check_keys(f"models.{name}.memory.", m["memory"], MEMORY_KEYS)
    baselines = metrics.get("baselines", {})
    if not isinstance(baselines, dict):
        raise ValueError("baselines must be an object of baselines")
    for name, b in baselines.items():
        if not isinstance(b, dict):
            raise ValueError(f"baselines.{name} must be an object")
        _check_keys(
            f"baselines.{name}.",
            b,
            {k: (_number_or_null, "a number or null") for k in ("test_mse", "test_nmse")},
        )


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
