"""The theory: everything statelab predicts about a config before it trains, in one place.

A model "converges" when its normalised test MSE (MSE / var(y)) is within `CONVERGED_NMSE` of
the best any model can reach on the task: the floor of a model with unbounded memory, 0 on every
task whose target is a function of past inputs (only the `ar` task, whose next innovation nobody
can predict, has a higher one). The floors themselves are the task records' (`statelab.tasks`):
a stateless model sees a window of `lahead` inputs and is held at the window-limited optimum; a
stateful model may remember the whole past.

Every caller (the terminal, the run and sweep reports, the lab, metrics.json) asks here.
"""

from __future__ import annotations

from statelab import tasks
from statelab.names import MODELS
from statelab.tasks import Floors, TaskView

# A model "converged" when its normalised test MSE is within this of the best any model can reach
# on the task: it then explains all but 10% of the target's variance that can be explained.
CONVERGED_NMSE = 0.1


def best_nmse(floors: Floors | None) -> float:
    """The normalised floor of a model with unbounded memory: 0 unless the target holds noise no
    model can predict (None, a real series: 0)."""
    return 0.0 if floors is None else floors.unbounded / floors.var_y


def threshold_text(floors: Floors | None) -> str:
    """'0.1', or '0.190 + 0.1' where the best reachable error is above 0."""
    best = best_nmse(floors)
    return f"{CONVERGED_NMSE}" if best == 0 else f"{best:.3f} + {CONVERGED_NMSE}"


def floor_of(model: str, floors: Floors | None) -> float | None:
    """The floor that applies to a model: stateless sees a window, stateful may remember all."""
    if floors is None:
        return None
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    return floors.windowed if model == "stateless" else floors.unbounded


def can_converge(floor_mse: float, floors: Floors) -> bool:
    """Whether a model whose floor is `floor_mse` can get within the threshold of the best."""
    return floor_mse / floors.var_y < best_nmse(floors) + CONVERGED_NMSE


def stateless_can_converge(task: TaskView) -> bool | None:
    """Whether a stateless model (a window of `lahead` inputs) can converge on this task; None for
    a real series, which has no analytic floor. A task may state it exactly (the moving average:
    lahead >= tsteps); otherwise its floor decides."""
    record = tasks.get(task.task)
    if record.stateless_can_converge is not None:
        return record.stateless_can_converge(task)
    floors = record.floors(task)
    return None if floors is None else can_converge(floors.windowed, floors)
