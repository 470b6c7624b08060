"""What a task is: one record holding everything statelab knows about it.

A `Task` says what its series and target are (`generate`), which rows have no history, what the
best possible error is for a model that sees only a window and for one with unbounded memory
(`floors`), how the target depends on past inputs (`profile`, the true memory profile), the best
window-limited prediction (`optimal`), and the words the terminal and the reports use for it.
Everything else in statelab looks the task up; nothing outside `statelab.tasks` asks for a task
by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from statelab.params import Param

if TYPE_CHECKING:
    import numpy as np


class TaskView(Protocol):
    """What a task's functions read of a validated task config (`statelab.config.TaskConfig`):
    the task's name, the window and the split, and each of the task's own parameters as an
    attribute (`task.tsteps`; None for a parameter the task does not take)."""

    @property
    def task(self) -> str: ...
    @property
    def lahead(self) -> int: ...
    @property
    def train_fraction(self) -> float: ...
    def __getattr__(self, name: str) -> Any: ...


def split_rows(n_rows: int, train_fraction: float) -> tuple[int, int]:
    """(training rows, test rows) of `n_rows` rows: the leading train_fraction trains. The one
    split rule: generated series, users' files and their standardisation all use it."""
    n_train = int(n_rows * train_fraction)
    return n_train, n_rows - n_train


@dataclass(frozen=True)
class Series:
    """One series before windowing. Rows [to_drop, len - drop_end) have a full window and a target."""

    x: np.ndarray  # (L, F) model inputs: float64, or float32 for a standardised file
    y: np.ndarray  # (L,) float64 targets, NaN where undefined
    last: np.ndarray  # (L,) float64 what the last-value baseline predicts at each row
    to_drop: int  # leading rows without full history
    drop_end: int = 0  # trailing rows without a target (a forecast's last `horizon` inputs)
    name: str = ""  # the series' id, where a file holds several
    # (L,) float64 the best prediction of a model that remembers the whole past (its errors make
    # the unbounded floor as the test set sees it): the target itself where it is a function of
    # past inputs; None where nobody knows it (a real series)
    best: np.ndarray | None = None

    @property
    def n_rows(self) -> int:
        return len(self.x) - self.to_drop - self.drop_end


@dataclass(frozen=True)
class TaskData:
    """A task's series (one, or one per series id of a file) and how they were read."""

    series: list[Series]
    features: tuple[str, ...] = ("x",)  # names of the input columns
    target: str = "y"
    # How the data were cut: rows read, rows dropped for missing values, ... (shown in reports)
    notes: dict[str, Any] = field(default_factory=dict)
    # Real series: each column's (mean, scale), the standardisation x' = (x - mean) / scale that
    # the inputs and the target went through; None where the values are used as they are.
    scaling: dict[str, tuple[float, float]] | None = None

    @property
    def n_features(self) -> int:
        return self.series[0].x.shape[1]


@dataclass(frozen=True)
class Floors:
    """The smallest MSE a model can reach, in expectation, by the memory it has."""

    var_y: float  # variance of the target
    windowed: float  # best MSE of a model that sees only the last `lahead` inputs
    unbounded: float  # best MSE of a model that may remember the whole past


def _no_floors(task: TaskView) -> Floors | None:
    return None


def _no_warmup(task: TaskView) -> int:
    return 0


def _window_only(task: TaskView) -> int:
    return task.lahead - 1


@dataclass(frozen=True)
class Task:
    """One task, whole. Functions take the validated `TaskView`."""

    name: str
    summary: str  # one line for --help and the lab: what the target is
    params: tuple[Param, ...]  # the task's own parameters (every task also takes lahead, train_fraction)
    generate: Callable[[TaskView], TaskData]
    describe: Callable[[TaskView], str]  # "the target is the mean of the last tsteps=2 inputs"
    why: Callable[[TaskView, Mapping[str, Any]], str]  # the report's "Why" paragraph (HTML)
    synthetic: bool = False  # drawn from a seed, with analytic floors
    floors: Callable[[TaskView], Floors | None] = _no_floors
    # The target's true dependence on x[t-k], k = 0..K (a synthetic task), or None: the memory
    # profile then compares with a least-squares linear AR fitted on the training part.
    profile: Callable[[TaskView, int], np.ndarray] | None = None
    # The largest lag the target depends on (None: unbounded, as an EMA's), for choosing K.
    reach: Callable[[TaskView], int | None] = lambda task: None
    to_drop: Callable[[TaskView], int] = _window_only  # leading rows generated, then dropped
    warmup: Callable[[TaskView], int] = _no_warmup  # test rows a reset model has no history for
    optimal: Callable[[np.ndarray, TaskView], np.ndarray] | None = None  # E[y | window], (N,)
    x_axis: str | None = None  # the parameter on a sweep heatmap's x axis
    floor_formula: str = ""  # " = (tsteps - lahead) / tsteps", shown after the stateless floor

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)
