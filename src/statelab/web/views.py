"""What the API answers about parameters and runs: plain JSON from the library's own readers.

Parameters for the lab's form come from the config's fields and the task records (the help line
is `confighelp.field_help`, the text of `--help`); a submitted form becomes a config through
`config.parse_value` and `config.from_mapping`, as the command line's flags do. Runs are read
with `statelab.rundir` and their verdict is `evaluate.verdict`. Nothing here trains or
decides. (Stores: web/stores.py.)
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from statelab import rundir, tasks
from statelab.config import (
    CELLS,
    FIELD_SECTION,
    LAYOUTS,
    TEST_STARTS,
    WINDOW_ORDERS,
    ConfigError,
    ExperimentConfig,
    field_kind,
    flatten,
    from_mapping,
    parse_value,
)
from statelab.confighelp import field_help
from statelab.evaluate import range_hint, real_series, verdict
from statelab.metrics import REAL_SERIES_KEYS
from statelab.report.run import subtitle
from statelab.rundir import RunFiles, load_run
from statelab.web import figures
from statelab.web.jobs import field_of
from statelab.web.paths import NotFound, Roots, inside

T = TypeVar("T")
DropRule = Callable[[str, Mapping[str, Any]], list[str]]  # a refused field -> the fields to take out

COMMON_TASK_FIELDS = ("lahead", "train_fraction")  # every task takes these
CHOICES: dict[str, tuple[str, ...]] = {
    "task": tuple(tasks.TASKS),
    "cell": CELLS,
    "layout": LAYOUTS,
    "window_order": WINDOW_ORDERS,
    "test_start": TEST_STARTS,
}


def jsonable(obj: Any) -> Any:
    """`obj` with NumPy values as Python ones, tuples as lists, NaN and infinities as None."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def _text(value: Any) -> str:
    """A default as the form shows it: lists as comma lists (the syntax `parse_value` reads)."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


# ---------------------------------------------------------------------------------------------
# The lab's form


def params_view() -> dict[str, Any]:
    """Every run parameter: its section, kind, help line (as --help), default, choices, and which
    tasks take it; and every task with its one-line summary and its own parameters."""
    defaults = flatten(ExperimentConfig())
    fields = []
    for name, section in FIELD_SECTION.items():
        task_param = name in tasks.PARAMS
        fields.append(
            {
                "name": name,
                "section": section,
                "kind": field_kind(name),
                "help": field_help(name),
                "default": "" if task_param else _text(defaults[name]),
                "choices": list(CHOICES.get(name, ())),
                # None: every task takes it; else {task: its default there}
                "tasks": (
                    {
                        t.name: _text(p.default)
                        for t in tasks.TASKS.values()
                        if (p := t.param(name)) is not None
                    }
                    if task_param
                    else None
                ),
            }
        )
    return {
        "fields": fields,
        "tasks": [
            {
                "name": t.name,
                "summary": t.summary,
                "synthetic": t.synthetic,
                "params": [*(p.name for p in t.params), *COMMON_TASK_FIELDS],
            }
            for t in tasks.TASKS.values()
        ],
    }


class FormErrors(ConfigError):
    """Every invalid field of a form at once: `problems` lists (field or None, one-line message),
    the first of them being the message of the error itself."""

    def __init__(self, problems: list[tuple[str | None, str]]):
        super().__init__(problems[0][1])
        self.problems = problems


def every_problem(build: Callable[[dict[str, Any]], T], values: Mapping[str, Any], drop: DropRule) -> T:
    """`build(values)`, or FormErrors naming every field it refuses.

    The library stops at the first bad value; to name them all, each refused field is taken out
    (`drop` says what else goes with it: a bad task takes its parameters along) and the rest is
    tried again, until it builds or an error names no field still given (that one ends the list).
    """
    left = dict(values)
    problems: list[tuple[str | None, str]] = []
    while True:
        try:
            built = build(left)
        except ConfigError as exc:
            message = str(exc)
            name = field_of(message)
            problems.append((name, message))
            if name is None or name not in left:
                raise FormErrors(problems) from None
            for gone in drop(name, left):
                left.pop(gone, None)
            continue
        if problems:
            raise FormErrors(problems)
        return built


def _drop_field(name: str, values: Mapping[str, Any]) -> list[str]:
    """A refused field goes; a refused task takes its own parameters with it (they cannot be
    judged without it)."""
    if name == "task":
        return ["task", *(k for k in values if k in tasks.PARAMS)]
    return [name]


def config_from_form(params: Mapping[str, Any], roots: Roots) -> ExperimentConfig:
    """A config from the lab's fields: text is read as the command line reads a flag's value
    (`parse_value`), other JSON values are taken as they are, empty fields keep their defaults.
    FormErrors names every invalid field, not just the first.

    A data file must lie inside the runs directory (given relative to it): the server reads
    nothing outside what it was given.
    """
    mapping: dict[str, Any] = {}
    problems: list[tuple[str | None, str]] = []
    for name, value in params.items():
        if value is None or value == "":
            continue
        try:
            if name not in FIELD_SECTION:
                raise ConfigError(f"unknown parameter {name} = {value!r}")
            mapping[name] = parse_value(name, value) if isinstance(value, str) else value
            if name == "data":
                mapping["data"] = data_path(mapping["data"], roots)
        except ConfigError as exc:
            mapping.pop(name, None)
            problems.append((name if name in FIELD_SECTION else None, str(exc)))
    try:
        config = every_problem(from_mapping, mapping, _drop_field)
    except FormErrors as exc:
        problems += exc.problems
    if problems:
        order = {name: k for k, name in enumerate(FIELD_SECTION)}
        raise FormErrors(sorted(problems, key=lambda p: order.get(p[0] or "", len(order))))  # form order
    return config


def form_values(config: ExperimentConfig, roots: Roots) -> dict[str, str]:
    """A config as the lab's form holds it: {field: text}, for "Open in Lab". A data file is named
    relative to the runs directory, as the form takes it (one outside is left out)."""
    out = {}
    for name, value in flatten(config).items():
        if value is None:
            continue
        if name == "data":
            try:
                value = Path(value).resolve().relative_to(roots.runs.resolve()).as_posix()
            except ValueError:
                continue
        out[name] = _text(value)
    return out


def data_path(value: Any, roots: Roots) -> str:
    """A data file named relative to the runs directory, as the absolute path the task reads."""
    rule = f"a file inside the runs directory {str(roots.runs)!r}, named relative to it"
    try:
        path = inside(roots.runs, str(value))
    except NotFound:
        raise ConfigError(f"data must be {rule}, got {value!r}") from None
    if not path.is_file():
        raise ConfigError(f"data must be {rule}, got {value!r} (no such file)")
    return str(path)


# ---------------------------------------------------------------------------------------------
# Runs


def result_view(run: RunFiles) -> dict[str, Any]:
    """A run's verdict, both models against their floors, the baselines and the figures."""
    said = verdict(run.metrics)
    models = {
        name: {
            k: m.get(k)
            for k in (
                "test_mse",
                "test_nmse",
                "test_nmse_all",
                "floor_nmse",
                "converged",
                "expected_converged",
                "expected",
                "expected_reason",
                "realised_floor_nmse",
                "floor_low",
                "floor_high",
                "at_floor",
                "diagnosis",
                *REAL_SERIES_KEYS,
            )
        }
        | {"warmup_excluded": m.get("warmup_excluded"), "diverged": m.get("diverged", False)}
        for name, m in run.metrics["models"].items()
    }
    return jsonable(
        {
            "verdict": {"text": said.text, "held": said.held},
            "subtitle": subtitle(run.config, run.metrics),
            "models": models,
            "baselines": run.metrics.get("baselines", {}),
            "threshold_nmse": run.metrics["threshold_nmse"],
            "var_y": run.metrics.get("var_y"),
            "figures": figures.run_figures([("", run)]),
            "real_series": real_series_view(run),
        }
    )


def real_series_view(run: RunFiles) -> dict[str, Any] | None:
    """A series without a floor (None otherwise): the classical peers with their errors (or why
    they failed), the ranking, each network's skill, the Diebold-Mariano tests and the sentence
    (metrics.json "verdict"), the transform, the time column and the cut in its values, and the
    hint shown when the test part leaves the training range with no transform on."""
    metrics = run.metrics
    if not real_series(metrics) or "verdict" not in metrics:
        return None
    data = metrics.get("data") or {}
    return {
        "peers": metrics.get("peers") or {},
        "verdict": metrics["verdict"],
        "transform": data.get("transform", "none"),
        "time": data.get("time"),
        "cut": data.get("cut"),
        "hint": range_hint(metrics, run.config.task.season or 1),
        "season": run.config.task.season,
    }


def run_dirs(roots: Roots) -> list[Path]:
    """The run directories directly under the runs directory (each with metrics.json), newest
    first; only those the server may read (no symbolic link leading out)."""
    found = []
    for path in rundir.list_runs(roots.runs):
        try:
            found.append(roots.run_dir(path.name))
        except NotFound:
            continue
    return found


def shown_name(name: str) -> str:
    """A file name as the lab shows it: itself, or, if it is not valid UTF-8 (bytes a file system
    allows), with those bytes written as \\xNN: text every page and JSON reader can take."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def run_summary(run_dir: Path) -> dict[str, Any]:
    """One line of the runs list: when, what, and the verdict. Reads config.json and metrics.json.
    A run whose name is not valid UTF-8 is listed escaped, as unreadable: rename it to open it."""
    entry: dict[str, Any] = {
        "name": shown_name(run_dir.name),
        "modified": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(rundir.modified(run_dir))),
    }
    if entry["name"] != run_dir.name:
        return {**entry, "error": "unreadable: its name is not valid UTF-8 (rename it to open it here)"}
    try:
        config, metrics = rundir.read_summary(run_dir)
        said = verdict(metrics)
    except (ConfigError, KeyError, TypeError) as exc:  # not a run this statelab can read
        return {**entry, "error": f"unreadable: {exc}".splitlines()[0]}
    nmse = {name: m.get("test_nmse") for name, m in metrics["models"].items()}
    return jsonable(
        {
            **entry,
            "task": config.task.task,
            "subtitle": subtitle(config, metrics),
            "verdict": {"text": said.text, "held": said.held},
            "nmse": nmse,
            "config_hash": metrics.get("config_hash"),  # the same config, the same hash: a group
            "config": {k: v for k, v in flatten(config).items() if v is not None},
        }
    )


def read_run(roots: Roots, name: str) -> RunFiles:
    """The parsed files of run `name`; NotFound if it is not a run this server may read, and a
    ConfigError naming the file and what is wrong with it if it is damaged."""
    return load_run(roots.run_dir(name), param="run", shown=name)


def run_detail(roots: Roots, name: str) -> dict[str, Any]:
    """Everything the run page shows: the result view, the configuration and the files."""
    run_dir = roots.run_dir(name)
    run = read_run(roots, name)
    files = []
    for relative, size in rundir.run_files(run_dir).items():
        try:
            inside(run_dir, relative)  # what the server may serve: nothing hidden, no link out
        except NotFound:
            continue
        files.append({"path": shown_name(relative), "bytes": size})
    return jsonable(
        {
            "name": name,
            **result_view(run),
            "config": run.config.to_dict(),
            "form": form_values(run.config, roots),  # what "Open in Lab" fills the form with
            "config_hash": run.metrics.get("config_hash"),
            "timings": run.timings,
            "files": files,
        }
    )


MAX_COMPARED = 8  # runs overlaid at once: beyond this the figures are a tangle


def compare_view(roots: Roots, names: Sequence[str]) -> dict[str, Any]:
    """Runs side by side: every config field with each run's value (those that differ flagged),
    each run's verdict and metrics, and their figures overlaid, run k in line style k (the
    `styles` say which, in the words the legend shows)."""
    if not 2 <= len(names) <= MAX_COMPARED:
        raise ConfigError(f"run must be given 2 to {MAX_COMPARED} times, got {len(names)}")
    labels = [chr(ord("A") + k) for k in range(len(names))]
    runs = {label: read_run(roots, name) for label, name in zip(labels, names)}
    flat = {label: flatten(run.config) for label, run in runs.items()}
    rows = [
        {
            "name": name,
            "values": [flat[label][name] for label in labels],
            "differs": len({repr(flat[label][name]) for label in labels}) > 1,
        }
        for name in FIELD_SECTION
        if any(flat[label][name] is not None for label in labels)
    ]
    views = {label: result_view(run) for label, run in runs.items()}
    for v in views.values():
        v.pop("figures")
    return jsonable(
        {
            "names": dict(zip(labels, names)),
            "styles": dict(zip(labels, figures.style_names(len(labels)))),
            "config": rows,
            "runs": views,
            "figures": figures.run_figures(list(runs.items())),
        }
    )
