"""Metrics and verdicts: every error next to the best error possible for a model of its kind.

A model's verdict is "converged" when its normalised test MSE (MSE / var(y)) is within
`theory.CONVERGED_NMSE` of the best any model can reach on the task: the floor of a model with
unbounded memory, 0 on every task whose target is a function of past inputs. The *expected*
verdict applies the same test to the analytic floor of its kind: the stateless model's floor is the
window-limited optimum, the stateful model's is that of a model with unbounded memory. A model
whose training produced NaN or infinite numbers is marked `diverged`, its errors are null, and it
did not converge.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from statelab.metrics import BaselineMetrics, ModelMetrics
from statelab.theory import CONVERGED_NMSE, IMPOSSIBLE, PROMISED, Expectation, RealisedFloor


def finite(value: float) -> float | None:
    """A number for metrics.json: None (JSON null) where it is NaN or infinite."""
    value = float(value)
    return value if math.isfinite(value) else None


def mse(pred: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean((np.asarray(pred, np.float64) - target) ** 2))


def model_metrics(
    pred: np.ndarray,
    target: np.ndarray,
    floor_mse: float | None,
    var_y: float,
    warm: np.ndarray,
    final_train_loss: float,
    final_val_loss: float,
    best_nmse: float | None = 0.0,
    threshold: float = CONVERGED_NMSE,
    expectation: Expectation | None = None,
    realised: RealisedFloor | None = None,
) -> ModelMetrics:
    """pred, target: (N,) test predictions and targets; warm: (N,) bool, the rows left out of
    test_mse. best_nmse: the normalised floor of a model with unbounded memory on these rows (0
    unless the target holds noise no model can predict; None: no floor, a real series, and no
    verdict); "converged" means within `threshold` of it. expectation: what theory said before
    training; realised: the floor of the model's kind as these rows show it."""
    with np.errstate(over="ignore", invalid="ignore"):
        test_mse = finite(mse(pred[~warm], target[~warm]))
        test_mse_all = finite(mse(pred, target))
    diverged = test_mse is None or test_mse_all is None or not math.isfinite(final_train_loss)
    nmse = None if test_mse is None else test_mse / var_y
    floor_nmse = None if floor_mse is None else floor_mse / var_y
    converged = (
        None
        if best_nmse is None
        else bool(not diverged and nmse is not None and nmse < best_nmse + threshold)
    )
    if expectation is not None:
        expected_converged = expectation.converges
    else:
        expected_converged = (
            None if floor_nmse is None or best_nmse is None else bool(floor_nmse < best_nmse + threshold)
        )
    return ModelMetrics(
        test_mse=test_mse,
        test_nmse=nmse,
        test_mse_all=test_mse_all,
        test_nmse_all=None if test_mse_all is None else test_mse_all / var_y,
        warmup_excluded=int(warm.sum()),
        floor_mse=floor_mse,
        floor_nmse=floor_nmse,
        converged=converged,
        expected_converged=expected_converged,
        final_train_loss=finite(final_train_loss),
        final_val_loss=finite(final_val_loss),
        diverged=bool(diverged),
        expected=None if expectation is None else expectation.outcome,
        expected_reason=None if expectation is None else expectation.reason,
        realised_floor_nmse=None if realised is None else finite(realised.realised),
        floor_low=None if realised is None else realised.interval[0],
        floor_high=None if realised is None else realised.interval[1],
        at_floor=None if realised is None else bool(not diverged and realised.at(nmse)),
    )


BLOCK = 1 << 16  # rows per block of a least-squares fit or prediction


def least_squares(blocks: Iterable[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Coefficients w, b of y ~ X w + b by least squares: (D + 1,), the intercept last.

    blocks: (X (n, D), y (n,)) pieces of the rows, in float32 or float64. The normal equations are
    summed block by block in float64 (a (D+1, D+1) matrix, whatever the number of rows), so a fit
    over millions of rows never holds a float64 copy of its design; they are solved by SVD, which
    also gives the minimum-norm answer when columns repeat.
    """
    gram, moment = None, None
    for x, y in blocks:
        design = np.empty((len(x), x.shape[1] + 1))
        design[:, :-1] = x
        design[:, -1] = 1.0
        if gram is None:
            gram, moment = np.zeros((design.shape[1],) * 2), np.zeros(design.shape[1])
        gram += design.T @ design
        moment += design.T @ np.asarray(y, np.float64)
    if gram is None or moment is None:
        raise ValueError("least_squares needs at least one block of rows")
    coef, *_ = np.linalg.lstsq(gram, moment, rcond=None)
    return coef


def blocks_of(rows: np.ndarray, size: int = BLOCK) -> Iterator[np.ndarray]:
    """The indices `rows` in consecutive pieces of at most `size`."""
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def baselines(
    windows: np.ndarray,
    target: np.ndarray,
    last: np.ndarray,
    train_rows: np.ndarray,
    test_rows: np.ndarray,
    var_y: float,
) -> dict[str, BaselineMetrics]:
    """Two predictors that see the same window as the networks and remember nothing.

    - `last_value`: the newest value of the series (for a forecast, the target's value now).
    - `linear_ar`: y ~ w . window + b over every input of the window (all features), fitted by
      least squares on the training rows of every series: the best linear window-limited
      predictor, so for the synthetic tasks it reaches the stateless floor.

    windows: (N, lahead, F) all rows; target, last: (N,); train_rows: (N,) bool; test_rows:
    indices of the scored test rows.
    """
    flat = windows.reshape(len(windows), -1)  # (N, lahead * F), a view
    fit_rows = np.flatnonzero(train_rows)
    coef = least_squares((flat[part], target[part]) for part in blocks_of(fit_rows))
    linear = np.concatenate([flat[part] @ coef[:-1] + coef[-1] for part in blocks_of(test_rows)] or [[]])
    preds = {"last_value": last[test_rows], "linear_ar": linear}
    out = {}
    for name, pred in preds.items():
        error = mse(pred, target[test_rows])
        out[name] = BaselineMetrics(test_mse=error, test_nmse=error / var_y)
    return out


@dataclass(frozen=True)
class Verdict:
    """The last line of `statelab run`, as the terminal and the lab both show it."""

    text: str  # "Expected outcome held: stateful converged, stateless not converged."
    held: bool | None  # the claim held, did not, or None: no floor to test against (a real series)


def _said(m: Mapping[str, Any]) -> str:
    if m.get("diverged"):
        return "diverged"
    return "n/a" if m.get("converged") is None else "converged" if m["converged"] else "not converged"


def expected_outcome(m: Mapping[str, Any]) -> str | None:
    """A model's expected outcome in metrics.json; for a run saved before schema 3, from its
    expected verdict (True: promised, False: impossible)."""
    if "expected" in m:
        return m["expected"]
    expected = m.get("expected_converged")
    return None if expected is None else PROMISED if expected else IMPOSSIBLE


def real_series(metrics: Mapping[str, Any]) -> bool:
    """Whether a run's metrics are a real series' (no floor: no expected outcome, no verdict)."""
    return all(m.get("floor_nmse") is None for m in metrics["models"].values())


def verdict(metrics: Mapping[str, Any]) -> Verdict:
    """Did the outcome theory predicts hold? From the content of metrics.json (or
    `ExperimentResult.metrics_dict()`), so a saved run gives the sentence its run printed.

    'Expected outcome held: stateful converged (not promised), stateless not converged
    (impossible).' Only the promised and impossible outcomes are tested; a model whose outcome
    theory did not promise is reported, not tested."""
    models = metrics["models"]
    if real_series(metrics):
        scored = [n for n, m in models.items() if m["test_nmse"] is not None] or list(models)
        best = min(scored, key=lambda n: models[n]["test_nmse"] or float("inf"))
        nmse = models[best]["test_nmse"]
        ar = metrics["baselines"]["linear_ar"]["test_nmse"]
        return Verdict(
            f"No floor to test against (a real series): best network {best} with NMSE "
            f"{'n/a' if nmse is None else format(nmse, '.4f')}; linear AR baseline {ar:.4f}.",
            None,
        )
    parts = []
    for name, m in models.items():
        outcome = expected_outcome(m)
        parts.append(f"{name} {_said(m)}" + (f" ({outcome})" if outcome else ""))
    said = ", ".join(parts)
    claim = metrics["claim_held"]
    if claim is None:
        return Verdict(f"No outcome here was promised or ruled out by theory: {said}.", None)
    if claim:
        return Verdict(f"Expected outcome held: {said}.", True)
    return Verdict(f"Expected outcome did NOT hold: {said}.", False)
