"""What a model's state holds, and whether a gradient gets back to it: two profiles per model,
k = 0..K (the lags of its memory profile, `memory.lags`), beside the sensitivity s(k).

State capacity r2(k): how well x[t-k] (the profiled feature) is read back from the state by the
best linear readout,

    r2(k) = corr(x[t-k], readout_k(h[t]))^2   over the test rows the sensitivity averages over,

the readout fitted by ridge regression on the training stream's states (Jaeger's measure: the
squared correlation, blind to a readout's offset and scale, which a state that drifts after a
reset puts off on the test rows; a lag the state does not hold scores about 1/n on n rows). The
state is the last layer's: h, or h and c concatenated for an LSTM (D = units, or 2 units,
numbers). Both streams run as the model was tested: the same layout and resets, the stateful
model carrying its state (the training stream from zero, the test stream from the state its test
pass started from), the stateless model from zero for every window. The fit uses the training
rows with K values of history in their series; each state number is scaled to unit variance on
them, and the ridge is RIDGE on that scale (it only steadies numbers that move together or hardly
at all). The total, sum_k r2(k), is the short-term memory capacity of Jaeger (2001, "Short term
memory in echo state networks", GMD Report 152): for an i.i.d. input it is at most D. The profile
tells "the state holds x[t-2] and the prediction leaves it unused" (r2(2) high, s(2) near 0) from
"the state never held it" (both near 0). A stateless model's state is a function of its window
alone, so on an i.i.d. input its r2(k) is about 0 for k >= lahead.

Gradient reach g(k): the size of the Jacobian of the last layer's state k steps on with respect
to the state k steps back, through the recurrence the test pass runs (one step is one row of a
test lane, `stride` lags apart, as in `memory.profile_sums`; a lag between two rows of a lane
has no path and g is 0 there),

    g(k) = |d h[t0 + k] / d h[t0]|_F / sqrt(D)   (the root mean square of its singular values),

averaged over up to SAMPLES start steps t0 spread evenly over the test stream's first chunk
(those with k steps after them in their lane and no reset between), with the initial weights
(the run's model_seed, the test stream run from a zero state) and the trained ones. g(0) = 1.
Above MAX_EXACT state numbers the Frobenius norm is estimated from PROBES random sign vectors v
(E |J v|^2 = |J|_F^2). Where g stays large but training cut the gradient at bptt batches,
truncation is what stopped the model; where g has vanished (or exploded) within bptt, the
dynamics did (Pascanu, Mikolov and Bengio 2013, "On the difficulty of training recurrent neural
networks"). A stateless model starts every window from zero: its g(k) is 0 for k >= 1.

Both are cheap next to training: one compiled program runs a stream chunk by chunk (each chunk's
states at most CHUNK_NUMBERS numbers, brought to the host, where the readout is fitted in
float64), and from the first chunk of the test stream, the K Jacobian-vector steps of the reach.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from statelab import cells
from statelab.batching import Batches, Dataset
from statelab.config import ExperimentConfig, ModelConfig
from statelab.memory import profiled_feature
from statelab.metrics import Capacity, GradientReach
from statelab.train import carry_state, device_windows, keep_state, reset_lanes, take_windows

RIDGE = 1e-3  # on the state numbers scaled to unit variance
SAMPLES = 64  # start steps of the gradient reach
MAX_EXACT = 64  # state numbers up to which the Jacobian's Frobenius norm is exact
PROBES = 32  # random sign vectors that estimate it above that
CHUNK_NUMBERS = 1 << 22  # state numbers a chunk of a stream brings to the host (16 MiB)


def state_size(model: ModelConfig) -> int:
    """D: the numbers of the last layer's state (h, and c for an LSTM)."""
    return model.units * _components(model.cell)


def _components(cell: str) -> int:
    return 2 if cell == "lstm" else 1


def zero_state(model: ModelConfig, lanes: int) -> cells.RnnState:
    """`cells.zero_state` in NumPy: a JAX array made outside a compiled program costs a small
    compiled program of its own."""
    return tuple(
        tuple(np.zeros((lanes, model.units), np.float32) for _ in range(_components(model.cell)))
        for _ in range(model.layers)
    )


def initial_params(config: ExperimentConfig, dataset: Dataset) -> cells.Params:
    """The weights both models started from: Keras' initialisers drawn from the model seed."""
    return cells.init_params(np.random.default_rng(config.model.model_seed), config.model, dataset.n_features)


# ---------------------------------------------------------------------------------------------
# The compiled program: a stream's states, and the reach from its first chunk


def _flat(state: cells.RnnState) -> jax.Array:
    """Every layer's state as one row per lane, (B, S): layer after layer, h before c."""
    return jnp.concatenate([part for layer in state for part in layer], axis=-1)


def _unflat(flat: jax.Array, layers: int, components: int) -> cells.RnnState:
    """`_flat` undone: (B, S) -> one tuple of `components` (B, H) arrays per layer."""
    parts = jnp.split(flat, layers * components, axis=-1)
    return tuple(tuple(parts[i * components : (i + 1) * components]) for i in range(layers))


class Moments(NamedTuple):
    """Weighted sums of the last layer's state z (D,) and the lagged inputs x (K+1,) over rows:
    their count, means, and the sums of products of their deviations from those means."""

    n: Any  # ()
    mean_z: Any  # (D,)
    mean_x: Any  # (K+1,)
    zz: Any  # (D, D)
    zx: Any  # (D, K+1)

    def __add__(self, other: Moments) -> Moments:  # type: ignore[override]
        """The moments of both sets of rows (Chan, Golub and LeVeque's pairwise update), float64."""
        n = self.n + other.n
        if n == 0:
            return self
        dz, dx, share = other.mean_z - self.mean_z, other.mean_x - self.mean_x, self.n * other.n / n
        return Moments(
            n,
            self.mean_z + dz * other.n / n,
            self.mean_x + dx * other.n / n,
            self.zz + other.zz + np.outer(dz, dz) * share,
            self.zx + other.zx + np.outer(dz, dx) * share,
        )


SMALL_CHUNK = 1 << 13  # rows up to which the sums of products are einsums, not BLAS products


def moments_of(z: np.ndarray, x: np.ndarray) -> Moments:
    """Moments of z (n, D) and x (n, K+1), float64, about their own means.

    In NumPy, on the states the chunk brought to the host: in the compiled program they cost more
    to compile than the stream itself. A few rows' sums of products are einsums: OpenBLAS's
    threads, woken for so little work, can wait tens of milliseconds for a loaded core."""
    n = len(z)
    if n == 0:
        return Moments(
            0.0,
            np.zeros(z.shape[1]),
            np.zeros(x.shape[1]),
            np.zeros((z.shape[1],) * 2),
            np.zeros((z.shape[1], x.shape[1])),
        )
    mean_z, mean_x = z.mean(0), x.mean(0)
    zd, xd = z - mean_z, x - mean_x
    if n <= SMALL_CHUNK:
        return Moments(
            float(n), mean_z, mean_x, np.einsum("nd,ne->de", zd, zd), np.einsum("nd,ne->de", zd, xd)
        )
    return Moments(float(n), mean_z, mean_x, zd.T @ zd, zd.T @ xd)


def _reach(params, start, windows, ahead, stateful, directions, cell: str) -> jax.Array:
    """g for 1..m steps on, averaged over start steps: (m,).

    start: (n, S) flat states at n start steps; ahead: (m, n) the rows each start step's lane
    reads next; directions: (P, D) tangents of the last layer's state. Forward mode carries the P
    tangents J v through the m steps, one Jacobian-vector product per tangent (vmapped; lower
    layers' tangents are 0 and stay 0). g^2 = sum_p |J v_p|^2 / sum_p |v_p|^2 per start step."""
    layers, components = len(params["cells"]), _components(cell)
    p, n = directions.shape[0], start.shape[0]
    state = _unflat(start, layers, components)
    top = jnp.split(jnp.broadcast_to(directions[:, None, :], (p, n, directions.shape[1])), components, -1)
    tangents = tuple(
        tuple(top) if i == layers - 1 else tuple(jnp.zeros((p, *s.shape), s.dtype) for s in layer)
        for i, layer in enumerate(state)
    )
    size = jnp.sum(directions**2)

    def body(carry, row):
        state, tangents = carry
        x = take_windows(windows, row)  # (n, T, F)

        def step(s):
            return cells.apply(params, keep_state(s, stateful), x, cell)[0]

        def jvp(t):
            return jax.jvp(step, (state,), (t,))

        state, tangents = jax.vmap(jvp, out_axes=(None, 0))(tangents)
        moved = sum(jnp.sum(t**2, axis=(0, 2)) for t in tangents[-1])  # (n,)
        return (state, tangents), jnp.mean(jnp.sqrt(moved / size))

    _, g = jax.lax.scan(body, (state, tangents), ahead)
    return g


@functools.partial(jax.jit, static_argnames=("cell",), compiler_options={"xla_backend_optimization_level": 1})
def state_pass(params, start, windows, rows, reset, stateful, probe, reach, *, cell: str):
    """A chunk of a stream as the test pass runs it: rows, reset (C, B), from `start`; and, when
    `reach`, the reach from the probe's start steps in it (`Probe`).

    Returns (final state, (C, B, S) flat states after each row, g (m,) or 0). Rows of -1 read
    zeros. One program for both streams and both weights, so a run compiles it once."""

    def body(state, batch):
        row, reset_k = batch
        x = take_windows(windows, row)  # (B, T, F)
        state, _ = cells.apply(params, carry_state(reset_lanes(state, reset_k), stateful), x, cell)
        return state, _flat(state)

    final, flat = jax.lax.scan(body, start, (rows, reset))
    starts = flat[probe.batch, probe.lane]  # (n, S)
    g = jax.lax.cond(
        reach,
        lambda: _reach(params, starts, windows, probe.ahead, stateful, probe.directions, cell),
        lambda: jnp.zeros(probe.ahead.shape[0], flat.dtype),
    )
    return final, flat, g


class Probe(NamedTuple):
    """Where the reach starts and what it reads: n start steps (batch in the first chunk, lane),
    the rows each one's lane reads in the m steps after it, the P tangent directions."""

    batch: Any  # (n,) int32
    lane: Any  # (n,) int32
    ahead: Any  # (m, n) int32
    directions: Any  # (P, D) float32


def probes(d: int) -> np.ndarray:
    """The tangent directions, (P, D): the unit vectors (exact), or above MAX_EXACT numbers,
    PROBES fixed random sign vectors (an unbiased estimate of |J|_F^2, the same every run)."""
    if d <= MAX_EXACT:
        return np.eye(d, dtype=np.float32)
    return np.random.default_rng(0).choice(np.array([-1.0, 1.0], np.float32), (PROBES, d))


def probe_of(test: Batches, steps: int, chunk: int, d: int, samples: int = SAMPLES) -> Probe:
    """Up to `samples` start steps spread evenly over the test stream's first chunk: those with
    `steps` real rows after them in their lane and no reset among them."""
    k, lanes = test.shape
    ok = np.zeros((max(min(k - steps, chunk), 0), lanes), bool)
    if len(ok):
        ok[:] = test.row[: len(ok)] >= 0
        for j in range(1, steps + 1):
            ok &= (test.row[j : len(ok) + j] >= 0) & ~test.reset[j : len(ok) + j]
    batch, lane = np.nonzero(ok)
    if len(batch) > samples:
        pick = np.unique(np.linspace(0, len(batch) - 1, samples).round().astype(np.int64))
        batch, lane = batch[pick], lane[pick]
    ahead = np.stack([test.row[batch + j, lane] for j in range(1, steps + 1)]) if steps else None
    if ahead is None:
        ahead = np.zeros((0, len(batch)), np.int64)
    return Probe(batch.astype(np.int32), lane.astype(np.int32), ahead.astype(np.int32), probes(d))


@dataclass(frozen=True)
class Pass:
    """How a model runs over a stream's batches: its weights, whether it carries its state, and the
    float32 windows its rows index."""

    params: cells.Params
    cell: str
    stateful: bool
    windows: np.ndarray


def chunk_length(dataset: Dataset, model: ModelConfig) -> int:
    """Batches per chunk, C: one length for the training and the test stream (one compiled program
    serves both when their lanes agree), a power of two that covers both streams or keeps a
    chunk's states under CHUNK_NUMBERS."""
    longest = max(dataset.train.shape[0], dataset.test.shape[0], 1)
    lanes = max(dataset.train.shape[1], dataset.test.shape[1])
    numbers = lanes * model.layers * model.units * _components(model.cell)
    cap = max(1, CHUNK_NUMBERS // numbers)
    return min(1 << math.ceil(math.log2(longest)), 1 << int(math.log2(cap)))


Weigh = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # rows (c, B) -> lagged (c, B, K+1), use (c, B)


class Chunk(NamedTuple):
    flat: np.ndarray  # (c, B, S) the states after each row, c <= C
    moments: Moments | None  # of the rows `weigh` picked (None without it)
    reach: np.ndarray | None  # (m,) g from the probe's start steps (the first chunk, when asked)


def stream(
    run: Pass,
    batches: Batches,
    start: cells.RnnState,
    chunk: int,
    probe: Probe,
    weigh: Weigh | None = None,
    reach: bool = False,
) -> Iterator[Chunk]:
    """`batches` run chunk by chunk. Every chunk has C batches (the last padded with rows of -1,
    whose states are dropped), so one compiled program runs them all; the reach is run in the
    first one when asked."""
    for first in range(0, batches.shape[0], chunk):
        rows = batches.row[first : first + chunk].astype(np.int32)
        reset = batches.reset[first : first + chunk]
        n = len(rows)
        if n < chunk:
            rows = np.concatenate([rows, np.full((chunk - n, rows.shape[1]), -1, np.int32)])
            reset = np.concatenate([reset, np.zeros((chunk - n, reset.shape[1]), bool)])
        asked = reach and first == 0 and probe.ahead.size > 0
        args = (
            run.params,
            start,
            run.windows,
            rows,
            reset,
            np.asarray(run.stateful),
            probe,
            np.asarray(asked),
        )
        start, flat, g = state_pass(*args, cell=run.cell)
        flat = np.asarray(flat)[:n]  # sliced by NumPy: slicing a JAX array compiles a program
        moments = None
        if weigh is not None:
            lagged, use = weigh(rows[:n])
            d = run.params["dense"]["kernel"].shape[0] * _components(run.cell)
            moments = moments_of(np.asarray(flat[use][:, -d:], np.float64), lagged[use])
        yield Chunk(flat, moments, np.asarray(g, np.float64) if asked else None)


# ---------------------------------------------------------------------------------------------
# What the state holds


@dataclass(frozen=True)
class Lags:
    """The profiled feature's values, to read x[t-k] for any row: each series' values end to end."""

    x: np.ndarray  # (L,) float64
    newest: np.ndarray  # (N,) index into x of each row's newest value x[t]
    history: np.ndarray  # (N,) how many values of its series come before x[t]

    def of(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(x[t-j] for j = 0..K, whether the series reaches back that far): both (n, K+1)."""
        back = np.arange(k + 1)
        valid = self.history[rows, None] >= back
        return self.x[np.where(valid, self.newest[rows, None] - back, 0)], valid


def lags_of(dataset: Dataset, feature: int, window_order: str) -> Lags:
    """Each series' values read back from its windows: its first window holds its first lahead
    values, and every later row adds its newest one."""
    windows = dataset.windows if window_order == "oldest-first" else dataset.windows[:, ::-1]
    lahead = windows.shape[1]
    counts = np.bincount(dataset.series, minlength=len(dataset.names))
    firsts = np.cumsum(counts) - counts
    parts = []
    for first, n in zip(firsts, counts):
        parts += [windows[first, :, feature], windows[first + 1 : first + n, -1, feature]]
    x = np.concatenate(parts).astype(np.float64)
    offsets = np.cumsum(counts + lahead - 1) - (counts + lahead - 1)  # where each series starts in x
    position = np.arange(len(dataset.series)) - firsts[dataset.series]  # row's place in its series
    history = lahead - 1 + position
    return Lags(x, offsets[dataset.series] + history, history)


@dataclass(frozen=True)
class Readout:
    """x[t-k] ~ (z - mean) @ weights + intercept for k = 0..K, z the last layer's state (D,)."""

    mean: np.ndarray  # (D,)
    weights: np.ndarray  # (D, K+1)
    intercept: np.ndarray  # (K+1,)

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return (z - self.mean) @ self.weights + self.intercept


def fit_readout(moments: Moments, ridge: float = RIDGE) -> Readout | None:
    """Ridge regression of x (K+1,) on z (D,) from their moments, in float64.

    The state numbers are centred and scaled to unit variance, those that do not vary are left
    out, and `ridge` is added to the diagonal of their correlation matrix. None when there is no
    row, or a moment is not finite (a diverged model's)."""
    if moments.n == 0 or not all(np.all(np.isfinite(m)) for m in moments):
        return None
    scale = np.sqrt(np.maximum(np.diag(moments.zz) / moments.n, 0.0))
    varies = scale > 1e-7  # a state number that never moves holds nothing (and would not scale)
    weights = np.zeros(moments.zx.shape)
    if varies.any():
        s = scale[varies]
        corr = moments.zz[np.ix_(varies, varies)] / moments.n / np.outer(s, s)
        corr[np.diag_indices_from(corr)] += ridge
        weights[varies] = np.linalg.solve(corr, moments.zx[varies] / moments.n / s[:, None]) / s[:, None]
    return Readout(moments.mean_z, weights, moments.mean_x)


class Score:
    """The readout's predictions against the lagged inputs on test rows, per lag, summed chunk by
    chunk: r2(k), their squared correlation, at the end."""

    def __init__(self, readout: Readout, lags: Lags, d: int, k: int) -> None:
        self.readout, self.lags, self.d, self.k = readout, lags, d, k
        self.sums = np.zeros((6, k + 1))  # n, x, y, xx, yy, xy per lag

    def add(self, rows: np.ndarray, flat: np.ndarray) -> None:
        """rows: (n,) test rows scored; flat: (n, S) the states after them."""
        x, valid = self.lags.of(rows, self.k)
        # Both about the training mean of the lagged input: sums without cancellation.
        x = np.where(valid, x - self.readout.intercept, 0.0)
        y = np.where(
            valid, self.readout(np.asarray(flat[:, -self.d :], np.float64)) - self.readout.intercept, 0.0
        )
        self.sums += np.stack([valid, x, y, x * x, y * y, x * y]).sum(1)

    def capacity(self) -> Capacity:
        """r2(k) = corr(x[t-k], readout)^2 (NaN for a lag no test row reaches back to; 0 where the
        readout is constant), and their sum."""
        n, x, y, xx, yy, xy = self.sums
        if not np.all(np.isfinite(self.sums)):
            return Capacity([math.nan] * (self.k + 1), None, self.d)
        with np.errstate(invalid="ignore", divide="ignore"):
            cov, var_x, var_y = xy - x * y / n, xx - x * x / n, yy - y * y / n
            r2 = np.where(var_y > 1e-12 * np.maximum(var_x, 1e-300), cov**2 / (var_x * var_y), 0.0)
            r2 = np.where((n > 1) & (var_x > 0), np.clip(r2, 0.0, 1.0), math.nan)
        return Capacity([float(v) for v in r2], float(r2[np.isfinite(r2)].sum()), self.d)


# ---------------------------------------------------------------------------------------------
# Both profiles of a model


def _reach_profile(g: np.ndarray | None, steps: int, stride: int, k: int) -> list[float]:
    """g(k), k = 0..K, from the reach of the m = K // stride lane steps: a lag between two rows of
    a lane is 0. NaN throughout when it is not known (no start step; a diverged model)."""
    out = np.zeros(k + 1)
    out[0] = 1.0
    if steps == 0:
        return [float(v) for v in out]  # no lane step within K lags: nothing reaches back
    if g is None or not np.all(np.isfinite(g)):
        return [math.nan] * (k + 1)
    out[stride : steps * stride + 1 : stride] = g
    return [float(v) for v in out]


def profile(
    params: cells.Params,
    initial: cells.Params,
    config: ExperimentConfig,
    dataset: Dataset,
    start: cells.RnnState,
    stateful: bool,
    k: int,
    feature: int | None = None,
) -> tuple[Capacity, GradientReach]:
    """A model's state capacity and gradient reach, k = 0..K.

    params: its trained weights; initial: the weights it started from (`initial_params`);
    start: the state its test pass started from (zero, or the end of training); feature: the
    input column whose past the state is read back for (`memory.profiled_feature` by default)."""
    windows = device_windows(dataset)
    model, d = config.model, state_size(config.model)
    trained, untrained = (
        Pass(params, model.cell, stateful, windows),
        Pass(initial, model.cell, stateful, windows),
    )
    chunk = chunk_length(dataset, model)
    train, test = dataset.train, dataset.test
    # The rows of a lane are consecutive in time (streams), or a batch apart (seed layout).
    stride = test.shape[1] if config.train.layout == "seed" else 1
    steps = k // stride
    probe = probe_of(test, steps, chunk, d)
    column = profiled_feature(dataset) if feature is None else feature
    lags = lags_of(dataset, column, config.train.window_order)

    def weigh(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # the training rows with K lags
        real = np.maximum(rows, 0)
        lagged, _ = lags.of(real.ravel(), k)
        return lagged.reshape(*rows.shape, k + 1), (rows >= 0) & (lags.history[real] >= k)

    total = moments_of(np.zeros((0, d)), np.zeros((0, k + 1)))
    for part in stream(trained, train, zero_state(model, train.shape[1]), chunk, probe, weigh):
        assert part.moments is not None
        total = total + part.moments
    readout = fit_readout(total)
    score = None if readout is None else Score(readout, lags, d, k)
    scored = test.scored.copy()
    if stateful and config.train.test_start == "reset":
        scored &= ~dataset.warm  # the rows the sensitivity averages over
    g_trained, first = None, 0
    for part in stream(trained, test, start, chunk, probe, reach=True):
        g_trained = part.reach if part.reach is not None else g_trained
        if score is not None:
            use = scored[first : first + len(part.flat)]
            score.add(test.row[first : first + len(part.flat)][use], part.flat[use])
        first += len(part.flat)
    held = Capacity([math.nan] * (k + 1), None, d) if score is None else score.capacity()
    # The initial weights' reach needs the first chunk of the test stream only.
    untrained_first = next(
        stream(untrained, test, zero_state(model, test.shape[1]), chunk, probe, reach=True)
    )
    gradient = GradientReach(
        initial=_reach_profile(untrained_first.reach, steps, stride, k),
        trained=_reach_profile(g_trained, steps, stride, k),
        samples=len(probe.batch) if steps else 0,
    )
    return held, gradient
