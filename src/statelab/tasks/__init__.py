"""Tasks: the series, its target, and the best error any model could reach on it.

Each task is one `Task` record (see `statelab.tasks.base`); `TASKS` maps names to records and
`get(name)` looks one up. Synthetic tasks (`statelab.tasks.synthetic`) draw data from a seed and
have analytic floors; real series (`statelab.tasks.real`) are forecast and compared with baselines.
"""

from __future__ import annotations

from statelab.params import ConfigError
from statelab.tasks.base import Floors, Series, Task, TaskData
from statelab.tasks.real import RECORDS as _REAL
from statelab.tasks.synthetic import RECORDS as _SYNTHETIC
from statelab.tasks.synthetic import exponential_average, trailing_mean

TASKS: dict[str, Task] = {task.name: task for task in (*_SYNTHETIC, *_REAL)}
ALIASES = {"csv": "file"}  # earlier name of the file task

# Every task parameter, by name: the first record that declares it gives its kind and help.
PARAMS = {p.name: p for task in TASKS.values() for p in task.params}


def get(name: str) -> Task:
    """The record of task `name` (or of its alias); ConfigError naming the choices otherwise."""
    task = TASKS.get(ALIASES.get(name, name)) if isinstance(name, str) else None
    if task is None:
        raise ConfigError(f"task must be one of {', '.join(TASKS)}, got {name!r}")
    return task


__all__ = [
    "ALIASES",
    "PARAMS",
    "TASKS",
    "Floors",
    "Series",
    "Task",
    "TaskData",
    "exponential_average",
    "get",
    "trailing_mean",
]
