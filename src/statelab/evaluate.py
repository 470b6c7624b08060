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
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from statelab.metrics import BLOCK_VALUES, MAX_AR_INPUTS, BaselineMetrics, ModelMetrics
from statelab.names import BASELINES
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
    for x, y in blocks:  # (n, D) each
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


def blocks_of(rows: np.ndarray, size: int = BLOCK, width: int = 1) -> Iterator[np.ndarray]:
    """The indices `rows` in consecutive pieces of at most `size`, and at most BLOCK_VALUES values
    of `width` each (a wide design's block stays a few tens of megabytes)."""
    size = max(1, min(size, BLOCK_VALUES // max(width, 1)))
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def baseline_predictions(
    windows: np.ndarray,
    target: np.ndarray,
    last: np.ndarray,
    train_rows: np.ndarray,
    test_rows: np.ndarray,
) -> dict[str, np.ndarray]:
    """Two predictors that see the same window as the networks and remember nothing, on the
    networks' scale (the transformed, standardised target of a real series):

    - `last_value`: the newest value of the series (for a forecast, the target's value now).
    - `linear_ar`: y ~ w . window + b over every input of the window (all features), fitted by
      least squares on the training rows of every series: the best linear window-limited
      predictor, so for the synthetic tasks it reaches the stateless floor.

    windows: (N, lahead, F) all rows; target, last: (N,); train_rows: (N,) bool, the rows fitted
    on; test_rows: indices of the scored test rows. Returns {name: (len(test_rows),)}.

    The linear AR's cost grows with the square of its inputs (its normal equations) and their cube
    (their solution): over more than MAX_AR_INPUTS inputs it is not fitted and is absent from the
    result (its numbers are None; the networks train all the same).
    """
    flat = windows.reshape(len(windows), -1)  # (N, lahead * F), a view
    preds = {"last_value": last[test_rows]}
    width = flat.shape[1] + 1
    if flat.shape[1] <= MAX_AR_INPUTS:
        fit_rows = np.flatnonzero(train_rows)
        coef = least_squares((flat[part], target[part]) for part in blocks_of(fit_rows, width=width))
        parts = [flat[part] @ coef[:-1] + coef[-1] for part in blocks_of(test_rows, width=width)]
        preds["linear_ar"] = np.concatenate(parts or [[]])
    return preds


def baselines(
    windows: np.ndarray,
    target: np.ndarray,
    last: np.ndarray,
    train_rows: np.ndarray,
    test_rows: np.ndarray,
    var_y: float,
) -> dict[str, BaselineMetrics]:
    """The MSE of each of `baseline_predictions` on the test rows, on the networks' scale."""
    preds = baseline_predictions(windows, target, last, train_rows, test_rows)
    return baseline_metrics(preds, target[test_rows], var_y)


def baseline_metrics(
    preds: Mapping[str, np.ndarray],
    target: np.ndarray,
    var_y: float,
    errors: Callable[[np.ndarray], Mapping[str, Any]] | None = None,
) -> dict[str, BaselineMetrics]:
    """Each baseline's metrics from its predictions `preds` of `target` (both on the test rows);
    a baseline missing from `preds` (a linear AR over more inputs than is fitted), or whose error
    is not finite, has None. errors: a real series' errors in the data's units, per prediction."""
    out = {}
    for name in BASELINES:
        if name not in preds:
            out[name] = BaselineMetrics(test_mse=None, test_nmse=None)
            continue
        with np.errstate(over="ignore", invalid="ignore"):
            error = finite(mse(preds[name], target))
        extra = {} if errors is None else errors(preds[name])
        out[name] = BaselineMetrics(
            test_mse=error, test_nmse=None if error is None else error / var_y, **extra
        )
    return out


@dataclass(frozen=True)
class DataErrors:
    """Errors in the data's own units on the test rows: root mean squared, mean absolute, and
    mean absolute scaled (MASE: each series' MAE over the in-sample MAE of its seasonal naive
    forecast on its training part, averaged over series, as the M4 competition scores)."""

    rmse: float | None
    mae: float | None
    mase: float | None


def seasonal_scales(history: np.ndarray, starts: np.ndarray, ends: np.ndarray, season: int) -> np.ndarray:
    """Per series (S,): the mean absolute error of the seasonal naive forecast y[i] ~ y[i - season]
    over the series' training part, positions [season, end): MASE's denominator. NaN where the
    part is shorter than a season or the forecast is exact (a constant series)."""
    out = np.full(len(starts), np.nan)
    for s, (start, end) in enumerate(zip(starts, ends)):
        part = history[start : start + end]
        if len(part) > season:
            scale = float(np.mean(np.abs(part[season:] - part[:-season])))
            out[s] = scale if scale > 0 else np.nan
    return out


def data_errors(pred: np.ndarray, target: np.ndarray, series: np.ndarray, scales: np.ndarray) -> DataErrors:
    """RMSE, MAE and MASE of predictions `pred` of `target` (N,), rows of series `series` (N,),
    each series' MASE scale in `scales` (S,). None where not finite (a diverged model)."""
    with np.errstate(over="ignore", invalid="ignore"):
        error = np.asarray(pred, np.float64) - target
        rmse = finite(float(np.sqrt(np.mean(error**2)))) if len(error) else None
        mae = finite(float(np.mean(np.abs(error)))) if len(error) else None
        per_series = []
        for s in np.unique(series):
            scale = scales[s]
            if np.isfinite(scale):
                per_series.append(float(np.mean(np.abs(error[series == s]))) / scale)
        mase = finite(float(np.mean(per_series))) if per_series else None
    return DataErrors(rmse=rmse, mae=mae, mase=mase)


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
    if real_series(metrics) and metrics.get("verdict"):
        return Verdict(metrics["verdict"]["text"], None)
    if real_series(metrics):
        scored = [n for n, m in models.items() if m["test_nmse"] is not None] or list(models)
        best = min(scored, key=lambda n: models[n]["test_nmse"] or float("inf"))
        nmse = models[best]["test_nmse"]
        ar = metrics["baselines"]["linear_ar"]["test_nmse"]
        return Verdict(
            f"No floor to test against (a real series): best network {best} with NMSE "
            f"{'n/a' if nmse is None else format(nmse, '.4f')}; linear AR baseline "
            f"{'n/a' if ar is None else format(ar, '.4f')}.",
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


# A test part with more than this share of its targets outside the training targets' range gets
# a hint to difference the series, when no transform is on.
OUTSIDE_RANGE_HINT = 0.05


def range_hint(metrics: Mapping[str, Any], season: int = 1) -> str | None:
    """One sentence when a real series' test targets leave the training range and no transform
    is on (a network of the levels cannot extrapolate), from the content of metrics.json; None
    otherwise."""
    data = metrics.get("data", {})
    share = data.get("outside_training_range")
    if share is None or share <= OUTSIDE_RANGE_HINT or data.get("transform", "none") != "none":
        return None
    low, high = data["training_range"]
    seasonal = f", or --transform sdiff (a difference at --season {season})" if season > 1 else ""
    return (
        f"Hint: {share:.0%} of the test targets lie outside the training targets' range "
        f"[{low:.4g}, {high:.4g}]; a network of the levels cannot extrapolate there: try "
        f"--transform diff{seasonal}."
    )


# ---------------------------------------------------------------------------------------------
# Series without a floor: rank, skill, and Diebold-Mariano tests

DM_LEVEL = 0.05  # a difference of accuracy is called significant below this p-value


@dataclass(frozen=True)
class DieboldMariano:
    """A Diebold-Mariano test of equal accuracy (squared error) of two forecasts of the same rows,
    with the Harvey-Leybourne-Newbold small-sample correction: `statistic` > 0 when the first
    forecast's errors are larger; `p_value` two-sided, against Student's t with n - 1 degrees of
    freedom."""

    statistic: float
    p_value: float
    n: int


def diebold_mariano(
    error_a: np.ndarray, error_b: np.ndarray, horizon: int, groups: np.ndarray | None = None
) -> DieboldMariano:
    """The loss differential d = e_a^2 - e_b^2 over the n rows, in time order within each group
    (a series): its mean over the square root of its long-run variance, estimated with the
    autocovariances of d up to lag h - 1 (h = max(horizon, 1): an h-step forecast's errors are
    correlated over h - 1 steps), counted within a group only:

        V = (g_0 + 2 sum_{k=1}^{h-1} g_k) / n,   g_k = sum_t (d_t - dbar)(d_{t-k} - dbar) / n
        DM = dbar / sqrt(V),   DM* = DM sqrt((n + 1 - 2h + h (h - 1) / n) / n)

    (Diebold and Mariano 1995; Harvey, Leybourne and Newbold 1997). Where the truncated sum makes
    V <= 0, V is g_0 / n. Identical losses: statistic 0, p-value 1."""
    from scipy import stats

    a, b = np.asarray(error_a, np.float64), np.asarray(error_b, np.float64)
    # The statistic does not change when both errors are divided by one number: by the largest,
    # the squares of d stay within float64 whatever the data's units.
    scale = float(max(np.max(np.abs(a), initial=0.0), np.max(np.abs(b), initial=0.0)))
    if np.isfinite(scale) and scale > 0:
        a, b = a / scale, b / scale
    d = a**2 - b**2
    n, h = len(d), max(horizon, 1)
    groups = np.zeros(n, np.int64) if groups is None else np.asarray(groups)
    centred = d - d.mean()
    gamma = [float(np.sum(centred**2)) / n]
    for k in range(1, h):
        same = groups[k:] == groups[:-k]
        gamma.append(float(np.sum((centred[k:] * centred[:-k])[same])) / n)
    variance = (gamma[0] + 2 * sum(gamma[1:])) / n
    if variance <= 0:
        variance = gamma[0] / n
    if variance <= 0 or n < 2:
        return DieboldMariano(statistic=0.0, p_value=1.0, n=n)
    dm = float(d.mean()) / math.sqrt(variance)
    corrected = dm * math.sqrt(max(n + 1 - 2 * h + h * (h - 1) / n, 0.0) / n)
    p_value = float(2 * stats.t.sf(abs(corrected), n - 1))
    return DieboldMariano(statistic=corrected, p_value=p_value, n=n)


def ranking(errors: Mapping[str, float | None]) -> list[str]:
    """Names by test MSE, best first; those without one (diverged, failed) left out."""
    scored = {name: e for name, e in errors.items() if e is not None and math.isfinite(e)}
    return sorted(scored, key=lambda name: scored[name])


def skill(mse_model: float | None, mse_reference: float | None) -> float | None:
    """1 - MSE / MSE of the reference: above 0 where the model is better."""
    if mse_model is None or mse_reference is None or mse_reference <= 0:
        return None
    return finite(1.0 - mse_model / mse_reference)


def compared(name_a: str, name_b: str, test: DieboldMariano) -> dict[str, Any]:
    """A DM test as metrics.json holds it: who was compared, the statistic, the p-value, and the
    better forecast where the difference is significant (else None)."""
    better = None
    if test.p_value < DM_LEVEL:
        better = name_b if test.statistic > 0 else name_a
    return {
        "first": name_a,
        "second": name_b,
        "statistic": test.statistic,
        "p_value": test.p_value,
        "better": better,
    }


def _p(p_value: float) -> str:
    return "p < 0.001" if p_value < 0.001 else f"p = {p_value:.3f}"


def real_verdict_text(verdict: Mapping[str, Any], labels: Mapping[str, str] | None = None) -> str:
    """One sentence: whether memory helped, and whether a network is worth it over the classical
    forecasters, on this data (from metrics.json's "verdict")."""
    labels = labels or {}

    def name(n: str) -> str:
        return labels.get(n, n)

    memory = verdict.get("memory")
    if memory is None:
        said_memory = "one of the networks diverged, so memory cannot be judged"
    elif memory["better"] == "stateful":
        said_memory = f"memory helped (the stateful model beat the stateless one, DM {_p(memory['p_value'])})"
    elif memory["better"] == "stateless":
        said_memory = f"memory hurt (the stateless model beat the stateful one, DM {_p(memory['p_value'])})"
    else:
        said_memory = f"memory made no clear difference (stateful vs stateless, DM {_p(memory['p_value'])})"
    peer, best = verdict.get("best_peer"), verdict.get("best_network")
    versus = verdict.get("network_vs_peer")
    if best is None:
        said_worth = "both networks diverged"
    elif peer is None or versus is None:
        said_worth = "no classical forecaster could be compared"
    else:
        gain = verdict["skill"].get(best)
        gain_text = "n/a" if gain is None else f"{gain:+.3f}"
        if versus["better"] == best:
            said_worth = (
                f"a network is worth it: the {best} model beat the best classical forecaster, {name(peer)}, "
                f"with skill {gain_text} (DM {_p(versus['p_value'])})"
            )
        elif versus["better"] == peer:
            said_worth = (
                f"no network is worth it: the best classical forecaster, {name(peer)}, beat the {best} model "
                f"(skill {gain_text}, DM {_p(versus['p_value'])})"
            )
        elif gain is not None and gain < 0:
            said_worth = (
                f"no network is worth it: the best, the {best} model, does worse than {name(peer)} (skill "
                f"{gain_text}), though not significantly (DM {_p(versus['p_value'])})"
            )
        else:
            said_worth = (
                f"no network is clearly worth it: the best, the {best} model, does better than {name(peer)} "
                f"(skill {gain_text}), but not significantly (DM {_p(versus['p_value'])})"
            )
    return f"On this data {said_memory}, and {said_worth}."
