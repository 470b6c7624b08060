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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
from statelab.web.paths import NotFound, Roots, inside

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


def config_from_form(params: Mapping[str, Any], roots: Roots) -> ExperimentConfig:
    """A config from the lab's fields: text is read as the command line reads a flag's value
    (`parse_value`), other JSON values are taken as they are, empty fields keep their defaults.

    A data file must lie inside the runs directory (given relative to it): the server reads
    nothing outside what it was given.
    """
    mapping: dict[str, Any] = {}
    for name, value in params.items():
        if value is None or value == "":
            continue
        if name not in FIELD_SECTION:
            raise ConfigError(f"unknown parameter {name} = {value!r}")
        mapping[name] = parse_value(name, value) if isinstance(value, str) else value
    if "data" in mapping:
        mapping["data"] = data_path(mapping["data"], roots)
    return from_mapping(mapping)


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
            "config_hash": run.metrics.get("config_hash"),
            "timings": run.timings,
            "files": files,
        }
    )


def compare_view(roots: Roots, a: str, b: str) -> dict[str, Any]:
    """Two runs side by side: every config field with both values (differing ones flagged), each
    run's verdict and metrics, and their figures overlaid (A solid, B dashed)."""
    runs = {label: read_run(roots, name) for label, name in (("A", a), ("B", b))}
    flat = {label: flatten(run.config) for label, run in runs.items()}
    rows = [
        {
            "name": name,
            "a": flat["A"][name],
            "b": flat["B"][name],
            "differs": flat["A"][name] != flat["B"][name],
        }
        for name in FIELD_SECTION
        if flat["A"][name] is not None or flat["B"][name] is not None
    ]
    views = {label: result_view(run) for label, run in runs.items()}
    for v in views.values():
        v.pop("figures")
    return jsonable(
        {
            "names": {"A": a, "B": b},
            "config": rows,
            "runs": views,
            "figures": figures.run_figures(list(runs.items())),
        }
    )
