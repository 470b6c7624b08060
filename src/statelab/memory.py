"""Memory profiles: how much a trained model's prediction leans on the input k steps back.

    s(k) = mean over scored test rows t of  d yhat[t] / d x[t-k],   k = 0..K

the total derivative with respect to the series value x[t-k]: with lahead > 1 one value sits in
several overlapping windows, and every appearance counts. It is exact: JAX's forward mode carries,
beside the state, its derivatives with respect to the last K+1 inputs through the whole test
stream, as the model was tested (same start state, same resets, same layout); no derivative is
truncated. The rows averaged over are those test_mse is measured on.

Beside it, the task's true profile (its record's `profile`: 1/tsteps for a moving average, a spike
at the delay, alpha (1-alpha)^k for an EMA, the coefficients of an AR), or for a real series the
coefficients of a least-squares distributed-lag regression of the target on K + 1 lags of every
input feature, fitted on the rows before the test part, labelled as a linear reference, not a
truth. Two summary numbers per model:

- span: the largest k with |s(k)| >= 10% of the largest true weight, defined only where the
  profile leans where the truth does (at least half its energy on the lags the truth weighs):
  None otherwise ("none (diffuse)"), and for a diverged model, whose profile is not finite;
- profile error: sum_k (s(k) - true(k))^2 / sum_k true(k)^2.

A stateless model starts every window from zero, so its s(k) is exactly 0 for k >= lahead.

K covers the task's memory: at least lahead + 3, at least the oldest lag the target depends on
plus 2 (for an EMA, the lag where its weight falls under 1% of the newest one; for a real series,
8), at most `MAX_LAG`. Several features: a profile per feature, s_f(k), beside the reference's
row for f; the summary numbers are those of the target's own column (or, when the model does not
read the target, of the feature the reference weighs most).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from statelab import cells
from statelab.batching import Dataset
from statelab.config import ExperimentConfig
from statelab.evaluate import blocks_of, least_squares
from statelab.metrics import MAX_AR_INPUTS, Memory
from statelab.train import device_windows, keep_state, reset_lanes, take_windows

MAX_LAG = 64
SPAN_FRACTION = 0.1
RESEMBLES = 0.5  # the share of a profile's energy on the truth's lags that gives it a span


def lags(config: ExperimentConfig) -> int:
    """K: the oldest lag a profile covers (see the module docstring)."""
    task = config.task
    reach = task.record.reach(task)
    if reach is None and task.alpha is not None and task.alpha < 1.0:
        reach = math.ceil(math.log(0.01) / math.log(1.0 - task.alpha))  # EMA weight under 1%
    need = max(task.lahead + 3, (reach if reach is not None else 6) + 2)
    return min(need, MAX_LAG)


def true_profile(config: ExperimentConfig, dataset: Dataset, k: int) -> tuple[np.ndarray, str]:
    """(profile (F, K+1), kind): the task's truth (one feature), or for a real series a linear
    distributed-lag reference with a row per input feature."""
    record = config.task.record
    if record.profile is not None:
        return np.asarray(record.profile(config.task, k), float)[None], "truth"
    return linear_reference(dataset, k, config.train.window_order), "linear reference"


def profiled_feature(dataset: Dataset, reference: np.ndarray | None = None) -> int:
    """The feature a profile's summary numbers are taken against: the target's own column if the
    model reads it; else the feature the reference (F, K+1) weighs most (sum of squares); else the
    first."""
    if dataset.target_name in dataset.features:
        return dataset.features.index(dataset.target_name)
    if reference is not None and reference.size and np.isfinite(reference).any():
        return int(np.argmax(np.nansum(reference**2, axis=1)))
    return 0


def linear_reference(dataset: Dataset, k: int, window_order: str = "oldest-first") -> np.ndarray:
    """A distributed-lag regression of the target on x_f[t], ..., x_f[t-K] of every feature f
    (with an intercept), by least squares over the rows before the test part of every series that
    have K lags of history: the coefficients (F, K+1), on the networks' scale.

    Its cost grows with the cube of its F (K+1) inputs: beyond MAX_AR_INPUTS of them (as for the
    linear AR baseline) only the profiled feature's lags are regressed on (the target's own column
    if the model reads it, else the first feature), and every other feature's row is NaN: not
    known.

    The inputs are read back from the windows: a series' first window holds its first lahead
    values, and every later row adds its newest one."""
    windows = dataset.windows if window_order == "oldest-first" else dataset.windows[:, ::-1]
    if windows.shape[2] * (k + 1) > MAX_AR_INPUTS:
        alone = profiled_feature(dataset)
        out = np.full((windows.shape[2], k + 1), np.nan)
        out[alone] = _regression(dataset, windows[:, :, alone : alone + 1], k)[0]
        return out
    return _regression(dataset, windows, k)


def _regression(dataset: Dataset, windows: np.ndarray, k: int) -> np.ndarray:
    """The coefficients (F, K+1) of `linear_reference` over the features of `windows` (N, L, F),
    oldest input first."""
    lahead, n_features = windows.shape[1], windows.shape[2]
    counts = np.bincount(dataset.series, minlength=len(dataset.names))
    n_fit = np.bincount(dataset.series[dataset.before_test], minlength=len(dataset.names))
    firsts = np.cumsum(counts) - counts

    def blocks():
        for first, n in zip(firsts, n_fit):
            if n == 0:
                continue
            # x[0 .. lahead - 1 + n - 1] of this series (F columns); row i ends at x[lahead - 1 + i].
            x = np.concatenate([windows[first], windows[first + 1 : first + n, -1]])
            t = lahead - 1 + np.arange(n)
            for part in blocks_of(np.flatnonzero(t >= k)):
                lags = [x[t[part] - j] for j in range(k + 1)]  # each (n, F)
                design = np.stack(lags, axis=2).reshape(len(part), n_features * (k + 1))  # f-major
                yield design, dataset.target[first + part]

    try:
        return least_squares(blocks())[:-1].reshape(n_features, k + 1)
    except ValueError:  # no training row has K lags of history
        return np.zeros((n_features, k + 1))


def summarise(sensitivity: np.ndarray, truth: np.ndarray) -> tuple[int | None, float | None]:
    """(span, profile error) of a profile against the truth (both (K+1,)).

    The span is the oldest lag k with |s(k)| >= SPAN_FRACTION of the largest true weight, defined
    only where the profile resembles the truth in where it leans: at least RESEMBLES of its
    energy (sum of s(k)^2) on the lags the truth itself weighs (|true(k)| >= SPAN_FRACTION of its
    largest weight). A diffuse profile, a failed model's spread over lags the target does not use,
    would otherwise get the longest span of all: it has none, None, shown as "none (diffuse)" and
    NaN in stores and frames; so has a profile of zeros. Both None for a profile that is not finite
    (a diverged model's) or a truth that is all 0."""
    if not np.all(np.isfinite(sensitivity)):
        return None, None
    top = float(np.max(np.abs(truth))) if truth.size else 0.0
    if top == 0.0:
        return None, None
    error = float(np.sum((sensitivity - truth) ** 2) / np.sum(truth**2))
    energy = float(np.sum(sensitivity**2))
    on_truth = float(np.sum(sensitivity[np.abs(truth) >= SPAN_FRACTION * top] ** 2))
    if energy == 0.0 or on_truth < RESEMBLES * energy:
        return None, error
    above = np.flatnonzero(np.abs(sensitivity) >= SPAN_FRACTION * top)
    return (int(above[-1]) if len(above) else None), error


# ---------------------------------------------------------------------------------------------
# The derivative


def _window_basis(k: int, lahead: int, n_features: int, newest_first: bool) -> np.ndarray:
    """Tangents of a window with respect to x[t-j, f], for j = 0..K and every feature f:
    (D = (K+1) F, 1, lahead, F), one-hot where the window holds that value (zero for j >= lahead)."""
    basis = np.zeros((k + 1, n_features, lahead, n_features), np.float32)
    for j in range(min(k + 1, lahead)):
        position = j if newest_first else lahead - 1 - j
        for f in range(n_features):
            basis[j, f, position, f] = 1.0
    return basis.reshape((k + 1) * n_features, 1, lahead, n_features)


# The profile's program runs once per model and run, so its compile time counts more than its run
# time: XLA's backend optimisation level 1 (of 3) compiles it about 0.07 s faster and runs it no
# slower (bench/bench_run.py; measured on 1000 and 200,000 rows).
@functools.partial(
    jax.jit,
    static_argnames=("cell", "k", "stride", "newest_first"),
    compiler_options={"xla_backend_optimization_level": 1},
)
def profile_sums(
    params,
    start,
    windows,
    rows,
    reset,
    weight,
    stateful,
    *,
    cell: str,
    k: int,
    stride: int,
    newest_first: bool,
):
    """sum over test rows t of weight[t] * d yhat[t] / d x[t-j, f]: (K+1, F), by forward mode.

    windows: (N, T, F) float32; rows, reset, weight: (Kt, Bt), the test batches as rows of the
    windows (-1: padding), where lanes start a series, and each row's weight.

    One pass over the test batches, as `train.test_pass` makes it, carrying beside the state its
    derivatives with respect to the last K+1 values of every feature (D = (K+1) F tangents per
    lane). Each batch: the carried tangents move `stride` lags back (the rows of a lane are
    `stride` apart), the new window adds its own one-hot tangents, and one Jacobian-vector product
    per tangent gives the state's and the prediction's. The state entering the test pass is a
    value (the pass starts from it), and a reset or a stateless model zeroes the state and with it
    every tangent. Exact: no derivative is truncated.
    """
    lanes = rows.shape[1]
    lahead, n_features = windows.shape[1:]
    n_dir = (k + 1) * n_features
    basis = jnp.broadcast_to(
        _window_basis(k, lahead, n_features, newest_first), (n_dir, lanes, lahead, n_features)
    )

    def older(t):  # (D, B, H): the derivative with respect to x[t-j] becomes that to x[t'-(j+stride)]
        t = t.reshape(k + 1, n_features, *t.shape[1:])
        if stride > k:
            t = jnp.zeros_like(t)
        else:
            t = jnp.concatenate([jnp.zeros_like(t[:stride]), t[: k + 1 - stride]])
        return t.reshape(n_dir, *t.shape[2:])

    def body(carry, batch):
        state, tangents, total = carry
        row, reset, w = batch
        x = take_windows(windows, row)

        def step(s, window):  # the test pass's step, without the cut: d/dx flows through the state
            return cells.apply(params, keep_state(reset_lanes(s, reset), stateful), window, cell)

        def jvp(t_state, t_window):
            return jax.jvp(step, (state, x), (t_state, t_window))

        (state, _), (tangents, t_pred) = jax.vmap(jvp, out_axes=((None, None), (0, 0)))(
            jax.tree.map(older, tangents), basis
        )
        return (state, tangents, total + t_pred @ w), None

    zero = jax.tree.map(lambda s: jnp.zeros((n_dir, *s.shape), s.dtype), start)
    (_, _, total), _ = jax.lax.scan(body, (start, zero, jnp.zeros(n_dir)), (rows, reset, weight))
    return total.reshape(k + 1, n_features)


def sensitivity(
    params: cells.Params,
    config: ExperimentConfig,
    dataset: Dataset,
    start: cells.RnnState,
    stateful: bool,
    k: int,
) -> np.ndarray:
    """s(k) for every input feature: (F, K+1), averaged over the rows test_mse is measured on.

    `start`: the state the test pass started from (zero, or the end of training)."""
    test = dataset.test
    use = test.scored.copy()
    if stateful and config.train.test_start == "reset":
        use &= ~dataset.warm  # a reset stateful model's warm-up rows are not scored either
    weight = use.astype(np.float32)
    # The rows of a lane are consecutive in time (streams), or a batch apart (seed layout).
    stride = test.shape[1] if config.train.layout == "seed" else 1
    # Both models go through one compiled program (`stateful` is data). A stateless model's
    # derivatives beyond its window are exactly 0: carrying them costs less than compiling a
    # second program for fewer lags would.
    sums = profile_sums(
        params,
        start,
        device_windows(dataset),
        test.row.astype(np.int32),
        test.reset,
        weight,
        np.asarray(stateful),
        cell=config.model.cell,
        k=k,
        stride=stride,
        newest_first=config.train.window_order == "newest-first",
    )
    return np.asarray(sums, np.float64).T / weight.sum()


def profile(
    params: cells.Params,
    config: ExperimentConfig,
    dataset: Dataset,
    start: cells.RnnState,
    stateful: bool,
    truth: np.ndarray,
    feature: int | None = None,
) -> Memory:
    """A model's `Memory` against the profile `truth` (K+1,) of feature `feature` (by default
    `profiled_feature`): s(k) of that feature, and s_f(k) of every feature when there are several."""
    by_feature = sensitivity(params, config, dataset, start, stateful, len(truth) - 1)
    s = by_feature[profiled_feature(dataset) if feature is None else feature]
    span, error = summarise(s, truth)
    named = None
    if by_feature.shape[0] > 1:
        named = {name: [float(v) for v in by_feature[i]] for i, name in enumerate(dataset.features)}
    return Memory([float(v) for v in s], span, error, named)
