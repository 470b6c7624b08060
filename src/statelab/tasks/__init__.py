"""Tasks: the series, its target, and the best error any model could reach on it.

Each task is one `Task` record (see `statelab.tasks.base`) that owns everything statelab knows
about it, its parameters included: a parameter's flag, validation, help line, lab form field,
grid axis and config.json key all follow from the `Param` objects of the records. `TASKS` maps
names to records and `get(name)` looks one up. Synthetic tasks (`statelab.tasks.synthetic`) draw
data from a seed and have analytic floors; real series (`statelab.tasks.real`) are forecast and
compared with baselines.

A new task is one record in one file, made known with `register(record)`: the built-in ones are
registered here; a user's or a test's own task is registered by whoever defines it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from statelab.params import ConfigError, Param
from statelab.tasks.base import Floors, Series, Task, TaskData, TaskView, split_rows
from statelab.tasks.real import RECORDS as _REAL
from statelab.tasks.synthetic import RECORDS as _SYNTHETIC
from statelab.tasks.synthetic import exponential_average, trailing_mean

REFERENCE_TASK = "moving-average"  # the original Keras example's task, and every config's default
FILE_TASK = "file"  # the task of a config that names a data file and no task
ALIASES = {"csv": "file"}  # earlier name of the file task
# Names a task parameter may not take: every task config has these already.
COMMON_FIELDS = ("task", "lahead", "train_fraction")

TASKS: dict[str, Task] = {}
# Every task parameter, by name: the first record that declares it gives its kind and help.
PARAMS: dict[str, Param] = {}

# The order statelab 0.2 wrote the task parameters in (config.json, the store's config column,
# the columns of a results frame); parameters registered later follow in registration order, so
# a new task changes none of the files an existing one writes.
_SAVED_ORDER = (
    "input_len",
    "tsteps",
    "delay",
    "alpha",
    "ar_coefs",
    "amplitude",
    "seed",
    "data",
    "target",
    "features",
    "series",
    "time",
    "horizon",
    "missing",
)


def _index_params() -> None:
    declared: dict[str, Param] = {}
    for task in TASKS.values():
        for param in task.params:
            declared.setdefault(param.name, param)
    ranked = sorted(
        enumerate(declared),
        key=lambda item: (
            _SAVED_ORDER.index(item[1]) if item[1] in _SAVED_ORDER else len(_SAVED_ORDER),
            item[0],
        ),
    )
    PARAMS.clear()
    PARAMS.update((name, declared[name]) for _, name in ranked)


def register(task: Task) -> Task:
    """Make `task` known to statelab: its name becomes a value of `--task`, its parameters flags,
    config keys and grid axes. Returns the record (so a module can write `TASK = register(Task(...))`).

    ValueError for a name already taken, or a parameter that clashes with a common field or with
    another task's parameter of the same name but another kind (one name is one kind everywhere).
    """
    if task.name in TASKS or task.name in ALIASES:
        raise ValueError(f"task name {task.name!r} is taken")
    for param in task.params:
        if param.name in COMMON_FIELDS:
            raise ValueError(f"task parameter {param.name!r} clashes with a field every task has")
        known = PARAMS.get(param.name)
        if known is not None and known.kind != param.kind:
            raise ValueError(f"task parameter {param.name!r} is a {known.kind} elsewhere, not a {param.kind}")
    TASKS[task.name] = task
    _index_params()
    return task


def unregister(name: str) -> None:
    """Forget task `name` (and the parameters only it declared): for tests and plug-ins."""
    TASKS.pop(name, None)
    _index_params()


def implied(params: Mapping[str, Any]) -> str:
    """The task a flat mapping of parameters means: the one it names; else the file task where it
    names a data file (`--data x.csv` alone is unambiguous); else the reference task."""
    named = params.get("task")
    if named is not None:
        return named
    return FILE_TASK if params.get("data") is not None else REFERENCE_TASK


def get(name: str) -> Task:
    """The record of task `name` (or of its alias); ConfigError naming the choices otherwise."""
    task = TASKS.get(ALIASES.get(name, name)) if isinstance(name, str) else None
    if task is None:
        raise ConfigError(f"task must be one of {', '.join(TASKS)}, got {name!r}")
    return task


for _record in (*_SYNTHETIC, *_REAL):
    register(_record)

__all__ = [
    "ALIASES",
    "COMMON_FIELDS",
    "FILE_TASK",
    "PARAMS",
    "REFERENCE_TASK",
    "TASKS",
    "Floors",
    "Series",
    "Task",
    "TaskData",
    "TaskView",
    "exponential_average",
    "get",
    "implied",
    "register",
    "split_rows",
    "trailing_mean",
    "unregister",
]
