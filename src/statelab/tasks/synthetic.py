"""Synthetic tasks: a series drawn from a seed, a target with a known memory, analytic floors.

(NumPy is imported inside the functions that use it: `import statelab` loads no NumPy, so the
command line's Ctrl-C handler is in place before anything heavy loads.)

`moving-average`, `delay` and `ema` draw x i.i.d. uniform in [-a, a] (variance s2 = a^2 / 3); `ar`
draws a stationary Gaussian autoregression. For each, two floors: the smallest expected MSE of a
model that sees only the last `lahead` inputs (the stateless model), and of one that may remember
the whole past (the stateful model).

- `moving-average` (the reference; keras-team/keras examples/lstm_stateful.py): y[t] is the
  mean of x[t-tsteps+1 .. t]. var(y) = s2 / tsteps. A window of lahead inputs misses
  max(tsteps - lahead, 0) independent terms: floor s2 * max(tsteps - lahead, 0) / tsteps^2.
  The data equal the original example's to the bit.
- `delay`: y[t] = x[t-d]. var(y) = s2. The window holds x[t-d] only if lahead > d: floor s2
  when lahead <= d, else 0.
- `ema`: y[t] = alpha x[t] + (1 - alpha) y[t-1] = alpha sum_j (1-alpha)^j x[t-j].
  var(y) = s2 alpha / (2 - alpha). The best window predictor keeps the first lahead terms; the
  rest is independent of the window: floor var(y) (1 - alpha)^(2 lahead).
- `ar`: x[t] = sum_i phi_i x[t-i] + e[t], e ~ N(0, a^2), started in its stationary distribution;
  the target is the next value, y[t] = x[t+1]. For a Gaussian AR the best predictor from any
  set of past values is linear, so both floors are exact: from the last lahead values, the
  prediction error of the best linear predictor, gamma_0 - r' G^-1 r (G the lahead x lahead
  Toeplitz matrix of autocovariances, r = gamma_1..gamma_lahead); with the whole past, the
  innovation variance a^2.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from statelab.params import Param, check_float, check_floats, check_int, fail, given
from statelab.tasks.base import Floors, Series, Task, TaskData, TaskView

if TYPE_CHECKING:
    import numpy as np


MAX_AR_ORDER = 64
MIN_ALPHA = 0.001
# Rows drawn: the moving average and the EMA are computed value by value (about 0.4 us each), so
# ten million rows take a few seconds; beyond, the draw alone would outlast most trainings.
MAX_INPUT_LEN = 10_000_000
# Amplitudes: training runs in float32, whose normal numbers span about 1e-38 .. 3e38. The
# squares statelab computes (variances, MSEs: a^2, times 50 for the slowest-fading AR) must stay
# well inside that range, or the floors divide by zero and the losses overflow.
MIN_AMPLITUDE = 1e-12
MAX_AMPLITUDE = 1e12
MAX_AR_RADIUS = 0.99  # the largest |root| of a stationary AR accepted (its memory then fades by 1% a step)

INPUT_LEN = Param(
    "input_len",
    "int",
    1000,
    "synthetic tasks: rows of data after the rows without history are dropped",
    lambda v: check_int("input_len", v, 2, MAX_INPUT_LEN),
)
AMPLITUDE = Param(
    "amplitude",
    "float",
    0.1,
    "synthetic tasks: inputs uniform in [-amplitude, amplitude] (ar: the innovations' standard deviation)",
    lambda v: check_float(
        "amplitude",
        v,
        f"in [{MIN_AMPLITUDE:g}, {MAX_AMPLITUDE:g}]",
        lambda a: MIN_AMPLITUDE <= a <= MAX_AMPLITUDE,
    ),
)
SEED = Param(
    "seed",
    "int",
    1986,
    "synthetic tasks: data seed (the original example's np.random.seed)",
    lambda v: check_int("seed", v, 0, 2**32 - 1),  # NumPy's RandomState takes 32-bit seeds
)
TSTEPS = Param(
    "tsteps",
    "int",
    2,
    "moving-average: the target is the mean of the last tsteps inputs",
    lambda v: check_int("tsteps", v, 1),
)
DELAY = Param(
    "delay",
    "int",
    1,
    "delay: the target is the input this many steps ago",
    lambda v: check_int("delay", v, 1),
)
ALPHA = Param(
    "alpha",
    "float",
    0.5,
    "ema: smoothing factor in [0.001, 1] of y[t] = alpha x[t] + (1 - alpha) y[t-1]",
    # Below 0.001 the average would need more than 23 000 leading draws to forget its zero start.
    lambda v: check_float("alpha", v, f"in [{MIN_ALPHA}, 1]", lambda a: MIN_ALPHA <= a <= 1),
)


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _uniform(task: TaskView, n_drop: int) -> np.ndarray:
    """The original's draw: RandomState(seed).uniform equals legacy np.random.seed + uniform."""
    import numpy as np

    a = given(task.amplitude)
    return np.random.RandomState(task.seed).uniform(-a, a, given(task.input_len) + n_drop)


def _one_series(x: np.ndarray, y: np.ndarray, n_drop: int) -> TaskData:
    return TaskData([Series(x=x[:, None], y=y, last=x, to_drop=n_drop, best=y)])


def _noise_variance(task: TaskView) -> float:
    return given(task.amplitude) ** 2 / 3.0


def _common_why(metrics: Mapping[str, Any]) -> str:
    return (
        f"A model has <em>converged</em> when its normalised test MSE is within "
        f"{_fmt(metrics['threshold_nmse'])} of the best any model can reach on the task (the stateful "
        "floor); the expected verdict applies the same test to the floor of its kind."
    )


def _warmup_why(metrics: Mapping[str, Any], rule: str) -> str:
    warmup = metrics["models"].get("stateful", {}).get("warmup_excluded", 0)
    if not warmup:
        return ""
    return (
        f" The stateful model's test MSE leaves out its first {_count(warmup, 'test point')} ({rule}; the "
        "'incl. warm-up' column keeps them): after the reset it has no history to predict them from."
    )


# ---------------------------------------------------------------------------------------------
# moving-average


def trailing_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Mean of x[t-window+1 .. t] for each t (NaN before a full window), to the bit as pandas.

    `RandomState(seed).uniform` draws the same numbers as the original's legacy
    `np.random.seed(seed); np.random.uniform(...)`, and this reproduces the arithmetic of its
    `rolling(tsteps).mean()`: one running sum, updated by adding the newest value and
    subtracting the one that leaves the window, each with its own Kahan compensation term, then
    divided by the count, with a mean whose sign contradicts every value in the window clamped
    to 0. A plain `sliding_window_view(x, w).mean(1)` differs from it in the last bit on most
    rows, so the recurrence is followed step by step (about 8 ms per 20 000 values).
    """
    import numpy as np

    out = np.full(len(x), np.nan)
    values = x.tolist()
    total = comp_add = comp_remove = 0.0
    count = negatives = repeats = 0
    previous = math.nan
    for t, value in enumerate(values):
        if t >= window:
            old = values[t - window]
            count -= 1
            y = -old - comp_remove
            s = total + y
            comp_remove = s - total - y
            total = s
            negatives -= math.copysign(1.0, old) < 0
        count += 1
        y = value - comp_add
        s = total + y
        comp_add = s - total - y
        total = s
        negatives += math.copysign(1.0, value) < 0
        repeats = repeats + 1 if value == previous else 1
        previous = value
        if count == window:
            mean = total / count
            if repeats >= count:
                mean = previous  # a constant window averages to exactly its value
            elif (negatives == 0 and mean < 0) or (negatives == count and mean > 0):
                mean = 0.0
            out[t] = mean
    return out


def _ma_generate(task: TaskView) -> TaskData:
    n_drop = _ma_to_drop(task)
    x = _uniform(task, n_drop)
    return _one_series(x, trailing_mean(x, given(task.tsteps)), n_drop)


def _ma_to_drop(task: TaskView) -> int:
    return max(given(task.tsteps) - 1, task.lahead - 1)


def _ma_floors(task: TaskView) -> Floors:
    s2, tsteps = _noise_variance(task), given(task.tsteps)
    unseen = max(tsteps - task.lahead, 0)
    return Floors(var_y=s2 / tsteps, windowed=s2 * unseen / tsteps**2, unbounded=0.0)


def _ma_profile(task: TaskView, k: int) -> np.ndarray:
    import numpy as np

    tsteps = given(task.tsteps)
    lags = np.arange(k + 1)
    return np.where(lags < tsteps, 1.0 / tsteps, 0.0)


def _ma_optimal(x_windows: np.ndarray, task: TaskView) -> np.ndarray:
    lahead, tsteps = x_windows.shape[1], given(task.tsteps)
    seen = min(lahead, tsteps)
    return x_windows[:, lahead - seen :].sum(axis=1) / tsteps


def _ma_why(task: TaskView, metrics: Mapping[str, Any]) -> str:
    s2, tsteps = _noise_variance(task), given(task.tsteps)
    unseen = max(tsteps - task.lahead, 0)
    return (
        f"The inputs are uniform in [−a, a] with a = {_fmt(given(task.amplitude))}, so their variance is "
        f"σ² = a²/3 = {_fmt(s2)}. The target, the mean of the last tsteps = {tsteps} inputs, has "
        f"variance <code>var(y) = a²/(3·tsteps)</code> = {_fmt(metrics['var_y'])}; normalised MSE is "
        "MSE / var(y), so 1 is no better than always predicting the mean, 0 is perfect. "
        f"A model that sees only the last {_count(task.lahead, 'input')} (lahead) cannot know the rest "
        f"of the average ({_count(unseen, 'unseen input')}, independent noise), so its MSE is at least "
        f"<code>σ²·max(tsteps − lahead, 0)/tsteps²</code> = {_fmt(s2 * unseen / tsteps**2)} "
        f"(normalised {_fmt(unseen / tsteps)}): the stateless model's floor. It holds in "
        "expectation, so on a finite test set the measured MSE can come out slightly below it. A "
        "stateful model can remember the whole past: its floor is 0. Its memory profile should be "
        f"flat at 1/tsteps = {_fmt(1 / tsteps)} for the last {tsteps} inputs and 0 before. "
        + _common_why(metrics)
        + _warmup_why(metrics, "tsteps − 1")
    )


MOVING_AVERAGE = Task(
    name="moving-average",
    summary="the mean of the last tsteps inputs (the original Keras example)",
    params=(INPUT_LEN, TSTEPS, AMPLITUDE, SEED),
    generate=_ma_generate,
    describe=lambda t: f"the target is the mean of the last tsteps={t.tsteps} inputs",
    why=_ma_why,
    synthetic=True,
    floors=_ma_floors,
    profile=_ma_profile,
    reach=lambda t: given(t.tsteps) - 1,
    to_drop=_ma_to_drop,
    warmup=lambda t: given(t.tsteps) - 1,
    optimal=_ma_optimal,
    x_axis="tsteps",
    floor_formula=" = (tsteps - lahead) / tsteps",
)

# ---------------------------------------------------------------------------------------------
# delay


def _delay_generate(task: TaskView) -> TaskData:
    import numpy as np

    delay = given(task.delay)
    n_drop = max(delay, task.lahead - 1)
    x = _uniform(task, n_drop)
    y = np.concatenate([np.full(delay, np.nan), x[:-delay]])
    return _one_series(x, y, n_drop)


def _delay_floors(task: TaskView) -> Floors:
    s2 = _noise_variance(task)
    return Floors(var_y=s2, windowed=s2 if task.lahead <= given(task.delay) else 0.0, unbounded=0.0)


def _delay_optimal(x_windows: np.ndarray, task: TaskView) -> np.ndarray:
    import numpy as np

    lahead, delay = x_windows.shape[1], given(task.delay)
    return x_windows[:, -1 - delay] if lahead > delay else np.zeros(len(x_windows))


def _delay_profile(task: TaskView, k: int) -> np.ndarray:
    import numpy as np

    return (np.arange(k + 1) == task.delay).astype(float)


def _delay_why(task: TaskView, metrics: Mapping[str, Any]) -> str:
    delay = given(task.delay)
    seen = task.lahead > delay
    window = (
        f"The window of lahead = {task.lahead} holds x[t−{delay}], so even a stateless model can "
        "copy it: both floors are 0."
        if seen
        else f"The window of lahead = {task.lahead} does not reach back {delay} steps, and the "
        "input it needs is independent of everything it sees: a stateless model can do no better than "
        "predicting 0, normalised MSE 1."
    )
    return (
        f"The target is the input {delay} steps ago, y[t] = x[t−{delay}], so var(y) = σ² = a²/3 "
        f"= {_fmt(metrics['var_y'])}. {window} A stateful model can hold x[t−{delay}] in its state "
        "(floor 0), but it must learn to: its gradient has to reach the step where the input went in. "
        "With truncation length bptt = K the gradient reaches K − 1 batches back (the verdict above says "
        "whether it reaches this far). Short of that a stateful model can still read the input out of "
        "whatever its untrained dynamics happen to keep (for delay 1 that is often enough), but it "
        "cannot be taught to keep it; and a long delay takes more training even when it reaches. The "
        "memory profile of a model that "
        f"learnt the task is a single spike of 1 at lag {delay}. "
        + _common_why(metrics)
        + _warmup_why(metrics, "delay")
    )


DELAY_TASK = Task(
    name="delay",
    summary="the input delay steps ago",
    params=(INPUT_LEN, DELAY, AMPLITUDE, SEED),
    generate=_delay_generate,
    describe=lambda t: f"the target is the input delay={t.delay} steps ago",
    why=_delay_why,
    synthetic=True,
    floors=_delay_floors,
    profile=_delay_profile,
    reach=lambda t: given(t.delay),
    to_drop=lambda t: max(given(t.delay), t.lahead - 1),
    warmup=lambda t: given(t.delay),
    optimal=_delay_optimal,
    x_axis="delay",
)

# ---------------------------------------------------------------------------------------------
# ema


def exponential_average(x: np.ndarray, alpha: float) -> np.ndarray:
    """y[t] = alpha x[t] + (1 - alpha) y[t-1], from y[-1] = 0."""
    import numpy as np

    out = np.empty(len(x))
    level = 0.0
    for t, value in enumerate(x.tolist()):
        level = alpha * value + (1.0 - alpha) * level
        out[t] = level
    return out


def _ema_burn_in(alpha: float) -> int:
    """Leading samples after which the EMA has forgotten its zero start to 1e-10 of its weight."""
    return 0 if alpha >= 1.0 else math.ceil(math.log(1e-10) / math.log(1.0 - alpha))


def _ema_to_drop(task: TaskView) -> int:
    return max(_ema_burn_in(given(task.alpha)), task.lahead - 1)


def _ema_generate(task: TaskView) -> TaskData:
    n_drop = _ema_to_drop(task)
    x = _uniform(task, n_drop)
    return _one_series(x, exponential_average(x, given(task.alpha)), n_drop)


def _ema_floors(task: TaskView) -> Floors:
    alpha = given(task.alpha)
    var_y = _noise_variance(task) * alpha / (2.0 - alpha)
    return Floors(var_y=var_y, windowed=var_y * (1.0 - alpha) ** (2 * task.lahead), unbounded=0.0)


def _ema_warmup(task: TaskView) -> int:
    alpha = given(task.alpha)
    if alpha >= 1.0:
        return 0
    # until the history the model has not seen weighs less than 1% of var(y)
    return math.ceil(math.log(0.01) / (2.0 * math.log(1.0 - alpha)))


def _ema_optimal(x_windows: np.ndarray, task: TaskView) -> np.ndarray:
    import numpy as np

    lahead, alpha = x_windows.shape[1], given(task.alpha)
    weights = alpha * (1.0 - alpha) ** np.arange(lahead)[::-1]  # oldest first
    return x_windows @ weights


def _ema_profile(task: TaskView, k: int) -> np.ndarray:
    import numpy as np

    alpha = given(task.alpha)
    return alpha * (1.0 - alpha) ** np.arange(k + 1)


def _ema_why(task: TaskView, metrics: Mapping[str, Any]) -> str:
    a = given(task.alpha)
    return (
        f"The target is an exponential moving average, y[t] = α·x[t] + (1 − α)·y[t−1] with α = {_fmt(a)}: "
        f"it weighs x[t−k] by α(1 − α)^k, so it depends on the whole past, fading. var(y) = σ²·α/(2 − α) "
        f"= {_fmt(metrics['var_y'])}. A window of lahead = {task.lahead} inputs holds the first "
        f"{task.lahead} weights; the rest is independent of the window, so the stateless floor is "
        f"(1 − α)^(2·lahead) = {_fmt((1 - a) ** (2 * task.lahead))} in normalised MSE, falling with lahead "
        "but never 0 for α < 1. A stateful model can keep the running average itself in its state "
        "(floor 0), and its memory profile should follow α(1 − α)^k. "
        + _common_why(metrics)
        + _warmup_why(metrics, "until the unseen history weighs under 1% of var(y)")
    )


EMA = Task(
    name="ema",
    summary="an exponential moving average of all past inputs",
    params=(INPUT_LEN, ALPHA, AMPLITUDE, SEED),
    generate=_ema_generate,
    describe=lambda t: f"the target is an exponential moving average of all past inputs (alpha={t.alpha})",
    why=_ema_why,
    synthetic=True,
    floors=_ema_floors,
    profile=_ema_profile,
    reach=lambda t: 0 if given(t.alpha) >= 1.0 else None,
    to_drop=_ema_to_drop,
    warmup=_ema_warmup,
    optimal=_ema_optimal,
    x_axis="alpha",
    floor_formula=" = (1 - alpha)^(2 lahead)",
)

# ---------------------------------------------------------------------------------------------
# ar


def _companion_radius(coefs: tuple[float, ...]) -> float:
    """The largest |eigenvalue| of the AR's companion matrix: < 1 exactly when it is stationary."""
    import numpy as np

    p = len(coefs)
    companion = np.zeros((p, p))
    companion[0] = coefs
    companion[1:, :-1] = np.eye(p - 1)
    return float(np.max(np.abs(np.linalg.eigvals(companion))))


def _check_ar_coefs(value: Any) -> tuple[float, ...]:
    coefs = check_floats("ar_coefs", value)
    if len(coefs) > MAX_AR_ORDER:
        fail("ar_coefs", f"at most {MAX_AR_ORDER} coefficients", value)
    radius = _companion_radius(coefs)
    if not radius < MAX_AR_RADIUS:
        fail(
            "ar_coefs",
            f"the coefficients of an AR whose spectral radius (the largest |root|, which is below 1 for a "
            f"stationary AR) is below {MAX_AR_RADIUS}; these have {radius:.4g}",
            value,
        )
    return coefs


AR_COEFS = Param(
    "ar_coefs",
    "floats",
    (0.0, 0.9),  # x[t+1] = 0.9 x[t-1] + noise: a window of the last input alone knows nothing
    "ar: coefficients phi_1..phi_p of x[t] = sum phi_i x[t-i] + noise (stationary)",
    _check_ar_coefs,
)


def autocovariances(coefs: tuple[float, ...], noise_var: float, n: int) -> np.ndarray:
    """gamma_0 .. gamma_{n-1} of a stationary AR(p): (n,).

    Yule-Walker for gamma_0..gamma_p (p + 1 linear equations), then the recursion
    gamma_k = sum_i phi_i gamma_{k-i}.
    """
    import numpy as np

    phi = np.asarray(coefs, float)
    p = len(phi)
    # gamma_k - sum_i phi_i gamma_|k-i| = noise_var [k == 0], for k = 0..p
    system = np.eye(p + 1)
    for k in range(p + 1):
        for i in range(1, p + 1):
            system[k, abs(k - i)] -= phi[i - 1]
    rhs = np.zeros(p + 1)
    rhs[0] = noise_var
    gamma = list(np.linalg.solve(system, rhs))
    for k in range(p + 1, n):
        gamma.append(sum(phi[i] * gamma[k - 1 - i] for i in range(p)))
    return np.asarray(gamma[:n])


def _ar_window_predictor(task: TaskView) -> tuple[np.ndarray, float]:
    """Weights of the best linear predictor of x[t+1] from x[t-lahead+1..t], oldest first, and its
    error variance."""
    import numpy as np

    L = task.lahead
    gamma = autocovariances(given(task.ar_coefs), given(task.amplitude) ** 2, L + 1)
    toeplitz = gamma[np.abs(np.subtract.outer(np.arange(L), np.arange(L)))]  # (L, L), lag 0 = newest
    r = gamma[1 : L + 1]  # cov(x[t+1], x[t-j]), j = 0..L-1
    weights = np.linalg.solve(toeplitz, r)  # newest first
    return weights[::-1], float(gamma[0] - r @ weights)


def _ar_to_drop(task: TaskView) -> int:
    return task.lahead - 1


def _ar_generate(task: TaskView) -> TaskData:
    """A stationary AR(p) path: the first p values from the stationary distribution, the rest by
    the recursion, so no burn-in is needed. The target is the next value (the last one has none)."""
    import numpy as np

    ar_coefs, a = given(task.ar_coefs), given(task.amplitude)
    coefs = np.asarray(ar_coefs)
    p = len(coefs)
    n = given(task.input_len) + _ar_to_drop(task) + 1
    rng = np.random.RandomState(task.seed)
    gamma = autocovariances(ar_coefs, a**2, p)
    start = np.linalg.cholesky(gamma[np.abs(np.subtract.outer(np.arange(p), np.arange(p)))])
    x = np.empty(n + p)
    x[:p] = start @ rng.standard_normal(p)
    noise = rng.standard_normal(n) * a
    for t in range(p, n + p):
        x[t] = coefs @ x[t - p : t][::-1] + noise[t - p]  # phi_1 x[t-1] + ... + phi_p x[t-p] + e[t]
    x = x[p:]
    y = np.append(x[1:], np.nan)
    best = np.append(x[1:] - noise[1:], np.nan)  # the next value without its innovation
    return TaskData([Series(x=x[:, None], y=y, last=x, to_drop=_ar_to_drop(task), drop_end=1, best=best)])


def _ar_floors(task: TaskView) -> Floors:
    noise_var = given(task.amplitude) ** 2
    var_y = float(autocovariances(given(task.ar_coefs), noise_var, 1)[0])
    return Floors(var_y=var_y, windowed=_ar_window_predictor(task)[1], unbounded=noise_var)


def _ar_profile(task: TaskView, k: int) -> np.ndarray:
    import numpy as np

    out = np.zeros(k + 1)
    coefs = np.asarray(given(task.ar_coefs))[: k + 1]
    out[: len(coefs)] = coefs  # y[t] = x[t+1] weighs x[t-k] by phi_{k+1}
    return out


def _ar_optimal(x_windows: np.ndarray, task: TaskView) -> np.ndarray:
    return x_windows @ _ar_window_predictor(task)[0]


def _ar_why(task: TaskView, metrics: Mapping[str, Any]) -> str:
    f, coefs = _ar_floors(task), given(task.ar_coefs)
    p = len(coefs)
    return (
        f"The series is a stationary Gaussian autoregression of order {p}, x[t] = Σ φ_i·x[t−i] + e[t] "
        f"with φ = ({', '.join(_fmt(c) for c in coefs)}) and innovations of standard deviation "
        f"{_fmt(given(task.amplitude))}; the target is the next value. var(y) = γ₀ = {_fmt(f.var_y)}. Even a "
        "model that knows the whole past cannot predict the next innovation, so the stateful floor is "
        f"the innovation variance, normalised {_fmt(f.unbounded / f.var_y)}. A model that sees only the "
        f"last {_count(task.lahead, 'value')} does best with the linear predictor from the "
        "autocovariances (exact for a Gaussian AR): normalised "
        f"{_fmt(f.windowed / f.var_y)}{', the same' if task.lahead >= p else ''}. The memory profile of "
        "the best predictor is the coefficients themselves: weight φ_(k+1) on x[t−k]. "
        + _common_why(metrics)
        + _warmup_why(metrics, "p − 1")
    )


AR = Task(
    name="ar",
    summary="the next value of a stationary linear autoregression (Gaussian)",
    params=(INPUT_LEN, AR_COEFS, AMPLITUDE, SEED),
    generate=_ar_generate,
    describe=lambda t: (
        "the target is the next value of an AR("
        + str(len(given(t.ar_coefs)))
        + ") series with coefficients "
        + ",".join(f"{c:g}" for c in given(t.ar_coefs))
    ),
    why=_ar_why,
    synthetic=True,
    floors=_ar_floors,
    profile=_ar_profile,
    reach=lambda t: len(given(t.ar_coefs)) - 1,
    to_drop=_ar_to_drop,
    warmup=lambda t: len(given(t.ar_coefs)) - 1,
    optimal=_ar_optimal,
    x_axis="ar_coefs",
)

RECORDS = (MOVING_AVERAGE, DELAY_TASK, EMA, AR)
