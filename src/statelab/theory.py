"""The theory: everything statelab predicts about a config before it trains, in one place.

A model *converges* when its normalised test MSE (MSE / var(y)) is within `CONVERGED_NMSE` of the
best any model can reach on the task: the floor of a model with unbounded memory, 0 on every task
whose target is a function of past inputs (only `ar`, whose next innovation nobody can predict,
has a higher one). The floors are the task records' (`statelab.tasks`): a stateless model sees a
window of `lahead` inputs and is held at the window-limited optimum; a stateful model may
remember the whole past, if it learns to.

Before training, each model gets one of three expected outcomes, with a one-sentence reason:

- **promised**: theory guarantees it can converge: its window holds what the target needs, or
  (stateful) its gradient reaches the oldest input the target needs and that memory is short
  enough to be learnt in the epochs given (`learnable`);
- **impossible**: its floor is above the threshold (a window that misses the target's memory; a
  stateful model under the `seed` layout, whose state comes from a batch apart);
- **not promised**: it can hold the memory in principle, but nothing guarantees it learns to: the
  gradient cannot reach the lag the target needs (truncation: `bptt` too short), yet untrained
  dynamics may still keep it (delay 1 at bptt 1 is often learnt); or the memory is long for the
  epochs given.

Only promised and impossible outcomes are tested ("the expected outcome held"); a real series has
no floor and no expected outcome.

The oldest input the target needs, `needed_lag`: the smallest m such that a window of the last
m + 1 inputs would get within the threshold (the target's own memory, read at the precision the
verdict asks for: a moving average over 20 steps needs x[t-18], not x[t-19], since a window of 19
leaves 5% of its variance unexplained). The gradient of a stateful model trained with truncation
length K reaches x[t - (lahead - 1) - (K - 1)]: through its window and the K - 1 batches before it.

After training, the verdict compares each model with the floors as *this* test set shows them
(`realised_floors`, with a 95% interval for a test set of this size), so a stateless model that
scores slightly under its expected floor on 200 rows is "at its floor", not "below" it.

Every caller (the terminal, the run and sweep reports, the lab, metrics.json, load_results) asks
here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from statelab import tasks
from statelab.config import ExperimentConfig
from statelab.names import MODELS
from statelab.tasks import Floors, TaskView

if TYPE_CHECKING:
    import numpy as np

# A model "converged" when its normalised test MSE is within this of the best any model can reach
# on the task: it then explains all but 10% of the target's variance that can be explained.
CONVERGED_NMSE = 0.1

PROMISED = "promised"
IMPOSSIBLE = "impossible"
NOT_PROMISED = "not promised"
OUTCOMES = (PROMISED, IMPOSSIBLE, NOT_PROMISED)

# The longest memory a stateful model is promised to learn, by optimiser steps: measured with
# `statelab sweep --task delay --delay 1:7 --bptt 1:9 --epochs 10,30 --seeds 3` (README, "Why
# stateful training fails"): every seed learnt delays 1-3 in 8000 steps (10 epochs of 800 rows)
# once bptt >= delay + 1, and delays 1-5 in 24000 steps (30 epochs); longer ones were learnt by
# some seeds or none. Between and beyond those two points `learnable` interpolates on a log scale
# (an assumption, not a measurement): two more steps of memory for every tripling of the steps.
LEARNABLE_LAG = 3
LEARNABLE_STEPS = 8000
LAGS_PER_DOUBLING = 2 / math.log2(3)
MAX_WINDOW = 1 << 16  # the longest window `needed_lag` looks at (an EMA with alpha 0.001 needs ~1150)
Z95 = 1.959963984540054  # the two-sided 95% point of a normal distribution


def best_nmse(floors: Floors | None) -> float:
    """The normalised floor of a model with unbounded memory: 0 unless the target holds noise no
    model can predict (None, a real series: 0)."""
    return 0.0 if floors is None else floors.unbounded / floors.var_y


def threshold_text(floors: Floors | None) -> str:
    """'0.1', or '0.190 + 0.1' where the best reachable error is above 0."""
    best = best_nmse(floors)
    return f"{CONVERGED_NMSE}" if best == 0 else f"{best:.3f} + {CONVERGED_NMSE}"


def floor_kind(config: ExperimentConfig | None, model: str) -> str:
    """Which floor holds a model: "windowed" for a stateless model (it sees a window), and for a
    stateful one whose state comes from a batch apart (the seed layout at batch size > 1);
    "unbounded" for a stateful model that carries its history."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    if model == "stateless" or (config is not None and not carries_history(config)):
        return "windowed"
    return "unbounded"


def floor_of(model: str, floors: Floors | None, config: ExperimentConfig | None = None) -> float | None:
    """The floor that applies to a model (`floor_kind`): stateless sees a window, stateful may
    remember all, unless its layout keeps its history from it."""
    if floors is None:
        return None
    return floors.windowed if floor_kind(config, model) == "windowed" else floors.unbounded


def can_converge(floor_mse: float, floors: Floors) -> bool:
    """Whether a model whose floor is `floor_mse` can get within the threshold of the best."""
    return floor_mse / floors.var_y < best_nmse(floors) + CONVERGED_NMSE


class _Window:
    """A task as a model with a window of `lahead` inputs sees it (for the floors of other windows)."""

    def __init__(self, task: TaskView, lahead: int) -> None:
        self._task = task
        self.lahead = lahead

    def __getattr__(self, name: str) -> Any:
        return getattr(self._task, name)


def window_floors(task: TaskView, lahead: int) -> Floors | None:
    """The task's floors for a window of `lahead` inputs."""
    return tasks.get(task.task).floors(_Window(task, lahead))


def needed_lag(task: TaskView) -> int | None:
    """m: the oldest input x[t-m] a model must use to get within the threshold (a window of the last
    m + 1 inputs would). None for a real series (no floor), or where no window up to MAX_WINDOW
    inputs would do. The windowed floor falls as the window grows, so a bisection finds it."""
    record = tasks.get(task.task)
    if record.floors(task) is None:
        return None

    def enough(lahead: int) -> bool:
        floors = window_floors(task, lahead)
        return floors is not None and can_converge(floors.windowed, floors)

    reach = record.reach(task)
    high = MAX_WINDOW if reach is None else reach + 1
    if not enough(high):
        return None
    low = 1
    while low < high:  # the smallest window that is enough lies in [low, high]
        middle = (low + high) // 2
        if enough(middle):
            high = middle
        else:
            low = middle + 1
    return low - 1


def gradient_reach(config: ExperimentConfig) -> int:
    """The oldest lag the training gradient of a stateful model reaches: its window, then the
    bptt - 1 batches before it (one row each in a lane of the streams layout)."""
    return config.task.lahead - 1 + config.train.bptt - 1


def carries_history(config: ExperimentConfig) -> bool:
    """Whether a lane's carried state belongs to the row just before it: the streams layout, or
    batches of one row. With the `seed` layout and batch size B > 1 it comes from B rows back."""
    return config.train.layout == "streams" or config.train.batch_size == 1


def optimiser_steps(config: ExperimentConfig, n_train: int | None = None) -> int:
    """Optimiser steps the training takes: one per batch, every epoch."""
    rows = n_train if n_train is not None else config.task.split(config.task.input_len or 0)[0]
    return max(1, rows // config.train.batch_size) * config.train.epochs


def learnable_depth(steps: int) -> int:
    """The deepest memory (steps back through the state, beyond the window) a stateful model is
    promised to learn in `steps` optimiser steps, once its gradient reaches it (see LEARNABLE_LAG)."""
    return math.floor(LEARNABLE_LAG + LAGS_PER_DOUBLING * math.log2(max(steps, 1) / LEARNABLE_STEPS))


def learnable(depth: int, steps: int) -> bool:
    """Whether a memory `depth` steps back through the state (the lag beyond the window) is
    promised to be learnt in `steps` optimiser steps."""
    return depth <= 0 or depth <= learnable_depth(steps)


@dataclass(frozen=True)
class Expectation:
    """What theory says of one model of a config before it trains."""

    outcome: str | None  # PROMISED, IMPOSSIBLE, NOT_PROMISED; None: no floor (a real series)
    reason: str  # one sentence: why
    floor_nmse: float | None  # the expected floor of the model's kind
    needed_lag: int | None  # the oldest input the target needs (see `needed_lag`)
    reach: int | None  # the oldest input the model can use: its window (stateless), its gradient

    @property
    def tested(self) -> bool:
        """Whether "the expected outcome held" tests this model (promised or impossible)."""
        return self.outcome in (PROMISED, IMPOSSIBLE)

    @property
    def converges(self) -> bool | None:
        """True if promised, False if impossible, None otherwise: the expected verdict."""
        return {PROMISED: True, IMPOSSIBLE: False}.get(self.outcome or "")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def lag_name(m: int) -> str:
    """x[t] for lag 0, x[t-m] beyond."""
    return "x[t]" if m == 0 else f"x[t-{m}]"


def _inputs(n: int) -> str:
    return f"{n} input" if n == 1 else f"{n} inputs"


def expect(config: ExperimentConfig, model: str, n_train: int | None = None) -> Expectation:
    """The expected outcome of `model` ("stateful" or "stateless") on `config`, and why.

    n_train: the training rows, where the config alone does not say (a real series)."""
    task = config.task
    floors = tasks.get(task.task).floors(task)
    if floors is None:
        return Expectation(
            None, "A real series has no analytic floor: it is compared with baselines.", None, None, None
        )
    threshold = threshold_text(floors)
    lahead = task.lahead
    windowed = floors.windowed / floors.var_y
    m = needed_lag(task)
    need = "the whole past" if m is None else lag_name(m)

    formula = tasks.get(task.task).floor_formula

    def by_window(name: str, extra: str = "") -> Expectation:
        if can_converge(floors.windowed, floors):
            whole = floors.windowed <= floors.unbounded * (1 + 1e-9)
            holds = "holds all" if whole else "holds enough"
            return Expectation(
                PROMISED,
                f"{name}'s window of {_inputs(lahead)} {holds} of what the target needs (up to {need}): its "
                f"floor, NMSE {windowed:.3f}, is under the threshold {threshold}.{extra}",
                windowed,
                m,
                lahead - 1,
            )
        return Expectation(
            IMPOSSIBLE,
            f"{name} sees only the last {_inputs(lahead)}, but the target needs {need}: its floor, NMSE "
            f"{windowed:.3f}{formula}, is above the threshold {threshold}.{extra}",
            windowed,
            m,
            lahead - 1,
        )

    if model == "stateless":
        return by_window("A stateless model")
    if model != "stateful":
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    if not carries_history(config):
        b = config.train.batch_size
        return by_window(
            "The stateful model",
            f" Under the seed layout a row's state comes from {b} rows back, so the inputs between "
            "never reach it; the streams layout carries them.",
        )
    best = best_nmse(floors)
    if m is not None and m < lahead:
        return by_window("The stateful model")
    reach = gradient_reach(config)
    k = config.train.bptt
    if m is None or m > reach:
        fix = "" if m is None else f"; --bptt {m - lahead + 2} would let it reach"
        return Expectation(
            NOT_PROMISED,
            f"The stateful model can hold {need} in its state (floor NMSE {best:.3f}), but at bptt {k} its "
            f"gradient reaches only {lag_name(reach)}: it can read what its untrained dynamics keep, not be "
            f"taught to keep it{fix}.",
            best,
            m,
            reach,
        )
    steps = optimiser_steps(config, n_train)
    if not learnable(m - (lahead - 1), steps):
        return Expectation(
            NOT_PROMISED,
            f"The stateful model's gradient reaches {lag_name(m)} at bptt {k}, the oldest input the target "
            f"needs, but a memory of {m} steps is not reliably learnt in {steps} optimiser steps "
            f"({config.train.epochs} epochs).",
            best,
            m,
            reach,
        )
    return Expectation(
        PROMISED,
        f"The stateful model's gradient reaches {lag_name(m)} at bptt {k}, the oldest input the target "
        f"needs, and it can keep it in its state: its floor is NMSE {best:.3f}.",
        best,
        m,
        reach,
    )


def expectations(config: ExperimentConfig, n_train: int | None = None) -> dict[str, Expectation]:
    """`expect` for both models, in MODELS order."""
    return {name: expect(config, name, n_train) for name in MODELS}


def stateless_can_converge(task: TaskView) -> bool | None:
    """Whether a stateless model (a window of `lahead` inputs) can converge on this task; None for
    a real series, which has no analytic floor."""
    floors = tasks.get(task.task).floors(task)
    return None if floors is None else can_converge(floors.windowed, floors)


def claim_held(
    outcomes: Mapping[str, str | None],
    converged: Mapping[str, bool],
    diverged: Mapping[str, bool] | None = None,
) -> bool | None:
    """Whether the expected outcome held: every promised model converged and every impossible one
    did not. Models whose outcome is not promised are not tested; None when none is tested. A
    tested model that diverged tested nothing: the claim did not hold."""
    tested = [name for name, outcome in outcomes.items() if outcome in (PROMISED, IMPOSSIBLE)]
    if not tested:
        return None
    if diverged and any(diverged.get(name) for name in tested):
        return False
    return all(converged[name] == (outcomes[name] == PROMISED) for name in tested)


# ---------------------------------------------------------------------------------------------
# Floors as the test set sees them


@dataclass(frozen=True)
class RealisedFloor:
    """The optimal predictor of a kind (window-limited, or with unbounded memory) on the test rows a
    model is scored on, next to the expected floor, in normalised MSE."""

    expected: float  # the analytic floor, in expectation
    realised: float  # the optimal predictor's normalised MSE on these rows
    interval: tuple[float, float]  # where a test set of this size puts it 95% of the time

    def to_dict(self) -> dict[str, Any]:
        return {"expected": self.expected, "realised": self.realised, "interval": list(self.interval)}

    def at(self, nmse: float | None) -> bool:
        """Whether a model scoring `nmse` is at this floor: within the interval's half-width of what
        the optimal predictor scored on the same rows."""
        if nmse is None:
            return False
        half = (self.interval[1] - self.interval[0]) / 2
        return abs(nmse - self.realised) <= max(half, 1e-12)


def mean_interval(values: np.ndarray, bandwidth: int) -> float:
    """The standard error of the mean of `values` (N,), allowing for correlation up to `bandwidth`
    lags (Newey-West, Bartlett weights): squared errors of overlapping windows are correlated."""
    n = len(values)
    if n < 2:
        return 0.0
    centred = values - values.mean()
    variance = float(centred @ centred) / n
    for lag in range(1, min(bandwidth, n - 1) + 1):
        weight = 1.0 - lag / (bandwidth + 1)
        variance += 2.0 * weight * float(centred[lag:] @ centred[:-lag]) / n
    return math.sqrt(max(variance, 0.0) / n)


def correlation_length(values: np.ndarray, minimum: int) -> int:
    """How many lags apart `values` (N,) are still visibly correlated: the first lag, from
    `minimum` on, whose sample autocorrelation is under 2 / sqrt(N) (at most N / 4). A persistent
    series (an AR close to its unit circle) has squared errors correlated far beyond its window."""
    n = len(values)
    if n < 8:
        return max(1, minimum)
    centred = values - values.mean()
    variance = float(centred @ centred)
    if variance == 0.0:
        return max(1, minimum)
    bound = 2.0 / math.sqrt(n)
    for lag in range(max(1, minimum), n // 4):
        if abs(float(centred[lag:] @ centred[:-lag]) / variance) < bound:
            return lag
    return max(1, n // 4)


def realised_floor(errors: np.ndarray, expected_mse: float, var_y: float, bandwidth: int) -> RealisedFloor:
    """The realised floor of an optimal predictor whose errors on the scored rows are `errors` (N,),
    and the 95% interval of a test set of N rows around the expected floor. `bandwidth`: the
    fewest lags to count as correlated (the target's memory and the window); longer where the
    squared errors show it (`correlation_length`)."""
    import numpy as np

    squared = np.asarray(errors, np.float64) ** 2
    realised = float(squared.mean()) / var_y if len(squared) else math.nan
    half = Z95 * mean_interval(squared, correlation_length(squared, bandwidth)) / var_y
    expected = expected_mse / var_y
    return RealisedFloor(expected, realised, (max(expected - half, 0.0), expected + half))


def bandwidth(config: ExperimentConfig) -> int:
    """How far apart two rows' optimal errors may still be correlated: the target's memory and the
    window, so the interval counts overlapping windows once."""
    m = needed_lag(config.task)
    return max(1, (m if m is not None else 8) + config.task.lahead)
