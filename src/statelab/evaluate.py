"""Metrics and verdicts: every error next to the best error possible for a model of its kind.

A model's verdict is "converged" when its normalised test MSE (MSE / var(y)) is below
`config.CONVERGED_NMSE`. The *expected* verdict applies the same threshold to the analytic floor
of its kind: the stateless model's floor is the window-limited optimum, the stateful model's is
that of a model with unbounded memory.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from statelab.config import CONVERGED_NMSE
from statelab.tasks import Floors


@dataclass(frozen=True)
class ModelMetrics:
    """Test metrics of one model. MSEs are over the test rows in time order."""

    test_mse: float  # without the first `warmup_excluded` rows
    test_nmse: float
    test_mse_all: float  # with every test row
    test_nmse_all: float
    warmup_excluded: int  # rows a reset stateful model had no history for
    floor_mse: float | None  # the analytic optimum of a model of this kind (None: real series)
    floor_nmse: float | None
    converged: bool  # test_nmse < threshold
    expected_converged: bool | None  # floor_nmse < threshold (None: no floor is known)
    final_train_loss: float
    final_val_loss: float

    def to_dict(self) -> dict:
        return asdict(self)


def mse(pred: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean((np.asarray(pred, np.float64) - target) ** 2))


def model_metrics(
    pred: np.ndarray,
    target: np.ndarray,
    floor_mse: float | None,
    var_y: float,
    warmup: int,
    final_train_loss: float,
    final_val_loss: float,
    threshold: float = CONVERGED_NMSE,
) -> ModelMetrics:
    """pred, target: (N,) test predictions and targets in time order."""
    test_mse = mse(pred[warmup:], target[warmup:])
    test_mse_all = mse(pred, target)
    return ModelMetrics(
        test_mse=test_mse,
        test_nmse=test_mse / var_y,
        test_mse_all=test_mse_all,
        test_nmse_all=test_mse_all / var_y,
        warmup_excluded=warmup,
        floor_mse=floor_mse,
        floor_nmse=None if floor_mse is None else floor_mse / var_y,
        converged=bool(test_mse / var_y < threshold),
        expected_converged=None if floor_mse is None else bool(floor_mse / var_y < threshold),
        final_train_loss=float(final_train_loss),
        final_val_loss=float(final_val_loss),
    )


def floor_of(model: str, floors: Floors | None) -> float | None:
    """The floor that applies to a model: stateless sees a window, stateful may remember all."""
    if floors is None:
        return None
    return floors.windowed if model == "stateless" else floors.unbounded


def claim_held(models: dict[str, ModelMetrics]) -> bool | None:
    """The experiment's claim: every model converged exactly where theory says it can.

    None where theory says nothing (a real series has no analytic floor).
    """
    if any(m.expected_converged is None for m in models.values()):
        return None
    return all(m.converged == m.expected_converged for m in models.values())


@dataclass(frozen=True)
class BaselineMetrics:
    """A model-free predictor on the same test rows as the networks."""

    test_mse: float
    test_nmse: float

    def to_dict(self) -> dict:
        return asdict(self)


def baselines(
    windows: np.ndarray,
    target: np.ndarray,
    n_train: int,
    test_rows: np.ndarray,
    var_y: float,
    newest_first: bool,
) -> dict[str, BaselineMetrics]:
    """Two predictors that see the same window as the networks and remember nothing.

    - `last_value`: the newest input of the window (a random walk's optimum).
    - `linear_ar`: y ~ w . window + b, fitted by least squares on the training rows: the best
      linear window-limited predictor, so for the synthetic tasks it reaches the stateless floor.

    windows: (N, lahead) all rows; target: (N,); the first n_train rows train; test_rows index
    the test rows.
    """
    newest = windows[:, 0] if newest_first else windows[:, -1]
    design = np.hstack([windows, np.ones((len(windows), 1))])  # (N, lahead + 1)
    coef, *_ = np.linalg.lstsq(design[:n_train], target[:n_train], rcond=None)
    preds = {"last_value": newest[test_rows], "linear_ar": design[test_rows] @ coef}
    out = {}
    for name, pred in preds.items():
        error = mse(pred, target[test_rows])
        out[name] = BaselineMetrics(test_mse=error, test_nmse=error / var_y)
    return out
