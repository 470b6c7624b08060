"""Grids of configs: the syntax of `statelab sweep` and of grid files, and their expansion.

Any config field is an axis. On the command line and in a grid file's strings a value is a single
value (`16`), a comma list (`1,16`), a half-open range `a:b[:step]` as Python's `range` (`1:6` is
1..5), or a mix (`1:4,8`). Floats are allowed for float fields (`0.1:0.5:0.1`), words for choice
fields (`lstm,gru`). A field whose value is itself a list (`ar_coefs`, `features`) separates its
alternatives with `;` instead: `--ar-coefs "0.9;0,0.9"` is two values, (0.9,) and (0, 0.9).
From Python, `grid_from_mapping` takes lists, tuples, ranges and NumPy values; a scalar fixes a field.
`seeds = N` replicates every grid point N times: replicate r = 0..N-1 adds r to both the data seed
(`seed`) and the weight seed (`model_seed`).

A grid point that is not a valid config is an error naming the parameter, the value and the point,
raised before anything is trained or written: a sweep runs the grid asked for or nothing.

Pure: no JAX, no files but the grid file.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from statelab import tasks
from statelab.config import FIELD_SECTION, SECTIONS, ConfigError, ExperimentConfig, field_kind, from_mapping
from statelab.configfile import load_config_file
from statelab.identity import config_hash
from statelab.params import check_count, parse_text, plain, shown_name
from statelab.tasks import get as get_task

MAX_AXIS_VALUES = 100_000
MAX_TRIALS = 1_000_000
RANGE_RULE = "a value, a comma list, or a range a:b[:step]"
LIST_RULE = "lists separated by ';' (each a comma list)"
NOUNS = {
    "int": "integers",
    "float": "numbers",
    "str": "words",
    "floats": "lists of numbers",
    "strs": "lists of names",
}


@dataclass(frozen=True)
class Grid:
    """Values per parameter (one value = fixed) and replicates per grid point."""

    axes: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    seeds: int = 1

    @property
    def n_points(self) -> int:
        """Distinct grid points: the product of the axes, less the points that coincide once each
        task keeps only the parameters it takes (several tasks on the `task` axis; `applicable`)."""
        if len(self.axes.get("task", ())) <= 1:
            return math.prod(len(v) for v in self.axes.values())
        names = list(self.axes)
        points = itertools.product(*self.axes.values())
        return len({tuple(applicable(dict(zip(names, values))).items()) for values in points})

    @property
    def n_trials(self) -> int:
        """Trials of the whole product, replicates included: what the size limit counts (before
        the points that coincide are merged)."""
        return math.prod(len(v) for v in self.axes.values()) * self.seeds


def _number(name: str, kind: str, text: str, whole: str) -> Any:
    try:
        value = int(text) if kind == "int" else float(text)
    except ValueError:
        raise ConfigError(f"{name} must be {RANGE_RULE} of {NOUNS[kind]}, got {whole!r}") from None
    if kind == "float" and not math.isfinite(value):
        raise ConfigError(f"{name} must be {RANGE_RULE} of finite numbers, got {whole!r}")
    return value


def _range(name: str, kind: str, text: str, whole: str) -> list[Any]:
    """`a:b[:step]`, half-open like Python's range; float ranges for float fields."""
    parts = [_number(name, kind, p.strip(), whole) for p in text.split(":")]
    if len(parts) not in (2, 3):
        raise ConfigError(f"{name} must be {RANGE_RULE}, got {whole!r}")
    start, stop, step = (*parts, 1) if len(parts) == 2 else parts
    if step == 0:
        raise ConfigError(f"{name} must be a range a:b[:step] with a non-zero step, got {whole!r}")
    # Half-open as range(); the 1e-9 keeps 0.1:0.4:0.1 from growing a 4th value by rounding.
    try:
        span = (stop - start) / step
    except OverflowError:  # integers beyond a float's range
        span = math.inf
    if not math.isfinite(span) or span > MAX_AXIS_VALUES:
        raise ConfigError(f"{name} must have at most {MAX_AXIS_VALUES} values, got {whole!r}")
    count = max(0, math.ceil(span - 1e-9))
    if count == 0:
        raise ConfigError(
            f"{name} must be a non-empty range (a:b is a..b-1, as Python's range), got {whole!r}"
        )
    if count > MAX_AXIS_VALUES:
        raise ConfigError(f"{name} must have at most {MAX_AXIS_VALUES} values, got {whole!r}")
    if kind == "int":
        return list(range(start, stop, step))
    return [round(start + i * step, 12) for i in range(count)]


def _known(name: str, value: Any) -> str:
    if name not in FIELD_SECTION:
        raise ConfigError(f"unknown parameter {shown_name(name)} = {value!r}")
    return field_kind(name)


def parse_values(name: str, text: str) -> tuple[Any, ...]:
    """The values of one axis from its command-line text: `16`, `1,16`, `1:6`, `1:4,8`, `lstm,gru`;
    for a list-valued field, lists separated by `;`."""
    kind = _known(name, text)
    text = str(text)
    values: list[Any] = []
    if kind in ("floats", "strs"):
        for item in text.split(";"):
            if not item.strip():
                raise ConfigError(f"{name} must be {LIST_RULE}, got {text!r}")
            values.append(parse_text(name, kind, item))
        return tuple(dict.fromkeys(values))
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise ConfigError(f"{name} must be {RANGE_RULE}, got {text!r}")
        if ":" in item and kind != "str":
            values.extend(_range(name, kind, item, text))
        elif kind == "str":
            values.append(item)
        else:
            values.append(_number(name, kind, item, text))
    return tuple(dict.fromkeys(values))  # duplicates would be the same trial twice


def _is_value(kind: str, item: Any) -> bool:
    """Whether `item` is one value of a field of `kind` (not yet checked against its rule)."""
    if kind == "str":
        return isinstance(item, str)
    if kind in ("floats", "strs"):
        return isinstance(item, (list, tuple))
    if isinstance(item, bool):
        return False
    return isinstance(item, int) if kind == "int" else isinstance(item, (int, float))


def axis_values(name: str, value: Any) -> tuple[Any, ...]:
    """One axis from a Python value or a grid file's entry: a scalar fixes the field; a list, tuple
    or range gives its values; a string is read in command-line syntax, as the flag's text is
    (`"1:6"`, `"lstm,gru"`; a name holding a comma is given in a list: `["a,b"]`)."""
    kind = _known(name, value)
    if isinstance(value, str):
        return parse_values(name, value)
    listy = kind in ("floats", "strs")
    if listy:
        # A flat list of numbers/names is one value; a list of lists is the values.
        several = (
            isinstance(value, (list, tuple)) and value and all(isinstance(v, (list, tuple)) for v in value)
        )
        items = _bounded(name, value) if several else [value]
    else:
        several = isinstance(value, (list, tuple, range)) or _is_iterable(value)
        items = _bounded(name, value) if several else [value]
    if not items:
        raise ConfigError(f"{name} must be a non-empty list of values, got {_brief(value)}")
    out = []
    for item in items:
        item = tuple(plain(v) for v in item) if listy and isinstance(item, (list, tuple)) else plain(item)
        nested = (
            listy and isinstance(item, tuple) and any(isinstance(v, (list, tuple, Mapping)) for v in item)
        )
        if nested or not _is_value(kind, item):
            noun = {"int": "an integer", "float": "a number", "str": "a string"}.get(kind, "a list")
            raise ConfigError(f"{name} must be {noun} or a list of them, got {_brief(value)}")
        out.append(item)
    return tuple(dict.fromkeys(out))


def _bounded(name: str, values: Any) -> list[Any]:
    """The values of an axis as a list, refused before they are made if there are more than
    MAX_AXIS_VALUES: `len()` of a range or an array costs nothing (a range of 10**9 is never
    built), and any other iterable is read no further than the limit."""
    items: list[Any] | None = None
    try:
        count = len(values)
    except OverflowError:  # a range longer than sys.maxsize
        count = MAX_AXIS_VALUES + 1
    except TypeError:  # an iterable without a length: read up to the limit
        items = list(itertools.islice(values, MAX_AXIS_VALUES + 1))
        count = len(items)
    if count > MAX_AXIS_VALUES:
        raise ConfigError(f"{name} must have at most {MAX_AXIS_VALUES} values, got {_brief(values)}")
    return list(values) if items is None else items


def _brief(value: Any) -> str:
    """A value for a message: its repr, cut short (an axis may hold a million values)."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def _is_iterable(value: Any) -> bool:
    """NumPy arrays and other sequences of values (not strings, not mappings)."""
    return hasattr(value, "__iter__") and not isinstance(value, (str, bytes, Mapping))


def parse_seeds(value: Any) -> int:
    """`--seeds N` / `seeds = N` / `seeds=N`: replicates per grid point, an integer >= 1."""
    return check_count("seeds", value)


def grid_from_mapping(axes: Mapping[str, Any], seeds: Any = 1) -> Grid:
    """A grid from flat keys or [task]/[model]/[train] tables; `seeds` may be a key too.

    A parameter given both flat and in its section is an error, as in a run's config; one given
    as None (JSON's null) is unset, as in a run's config, so a run's config.json is a grid of one
    point (`statelab sweep --config runs/RUN/config.json --seeds 5` replicates that run)."""
    raw = dict(axes)
    if "seeds" in raw:
        seeds = raw.pop("seeds")
    out: dict[str, tuple[Any, ...]] = {}

    def put(key: str, value: Any, where: str) -> None:
        if key in out:
            raise ConfigError(f"{key} must be given once, got it both flat and in [{where}]")
        if value is None:
            _known(key, value)  # unset, but it must be a parameter
            return
        out[key] = axis_values(key, value)

    for key, value in raw.items():
        if key in SECTIONS and isinstance(value, Mapping):
            for sub_key, sub_value in value.items():
                if FIELD_SECTION.get(sub_key) != key:
                    raise ConfigError(f"unknown parameter {key}.{shown_name(sub_key)} = {sub_value!r}")
                put(sub_key, sub_value, key)
        else:
            put(key, value, FIELD_SECTION.get(key, "?"))
    return Grid(out, parse_seeds(seeds))


def load_grid(path: str | Path, name: str = "config") -> Grid:
    """A grid file (TOML or JSON): flat keys or [task]/[model]/[train] tables, plus `seeds`.

    seeds = 5
    tsteps = "1:6"          # command-line syntax in a string
    lahead = [1, 2, 3, 4, 5]
    batch_size = 1          # a single value

    `name`: the parameter that named the file, for its errors (`--config`; `grid` from Python).
    """
    return grid_from_mapping(load_config_file(path, name))


def grid_from_inputs(
    flags: Mapping[str, Any], seeds: str | int | None = None, grid_file: str | Path | None = None
) -> Grid:
    """The grid of `statelab sweep`: the grid file if given, then flags on top, per parameter.

    A flag's value is command-line text, or any Python value `axis_values` takes."""
    base = load_grid(grid_file) if grid_file is not None else Grid()
    axes = dict(base.axes)
    for name, value in flags.items():
        if value is not None:
            axes[name] = parse_values(name, value) if isinstance(value, str) else axis_values(name, value)
    return Grid(axes, base.seeds if seeds is None else parse_seeds(seeds))


def nested(flat: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """{field: value} -> {section: {field: value}}: unambiguous even for the field `task`."""
    out: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
    for name, value in flat.items():
        out[FIELD_SECTION[name]][name] = value
    return out


def replicate(config: ExperimentConfig, r: int) -> ExperimentConfig:
    """Replicate r of a grid point: both seeds moved by r (a real series has no data seed)."""
    if r == 0:
        return config
    parts = config.to_dict()
    parts["model"]["model_seed"] += r
    if parts["task"]["seed"] is not None:
        parts["task"]["seed"] += r
    return from_mapping(parts)


def applicable(point: Mapping[str, Any]) -> dict[str, Any]:
    """A point without the task parameters its task does not take.

    With `task` as an axis, each task parameter applies to the tasks that take it: a grid of
    tasks moving-average,delay and tsteps 2,3 gives moving-average at tsteps 2 and 3, and delay
    once (equal configs are kept once). With a single task, such a parameter stays an error.
    """
    try:
        record = get_task(tasks.implied(point))
    except ConfigError:
        return dict(point)  # an unknown task: let validation name it
    return {k: v for k, v in point.items() if k not in tasks.PARAMS or record.param(k) is not None}


def _check_taken(grid: Grid) -> None:
    """With several tasks, each task parameter on an axis must be taken by one of them at least:
    one that none takes would be dropped from every point, silently."""
    try:
        records = [get_task(t) for t in grid.axes["task"]]
    except ConfigError:
        return  # an unknown task: validation names it at its grid point
    for name, values in grid.axes.items():
        if name in tasks.PARAMS and all(r.param(name) is None for r in records):
            names = ", ".join(r.name for r in records)
            shown = values[0] if len(values) == 1 else list(values)
            raise ConfigError(f"{name} is not a parameter of any task of the grid ({names}), got {shown!r}")


def _point_label(point: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in point.items()) or "the default config"


def expand(grid: Grid) -> list[ExperimentConfig]:
    """Every config of the grid: points in axis order, each with its `seeds` replicates.

    Raises ConfigError naming the parameter, the value and the grid point of the first invalid
    config. Configs equal after validation (1 and 1.0 for a float field) appear once.
    """
    if grid.n_trials > MAX_TRIALS:
        raise ConfigError(f"grid must have at most {MAX_TRIALS} trials, got {grid.n_trials}")
    names = list(grid.axes)
    several_tasks = len(grid.axes.get("task", ())) > 1
    if several_tasks:
        _check_taken(grid)
    configs: dict[str, ExperimentConfig] = {}
    for values in itertools.product(*grid.axes.values()):
        point = dict(zip(names, values))
        if several_tasks:
            point = applicable(point)
        try:
            base = from_mapping(nested(point))
            for r in range(grid.seeds):
                configs.setdefault(config_hash(config := replicate(base, r)), config)
        except ConfigError as exc:
            raise ConfigError(f"{exc} (at grid point {_point_label(point)})") from None
    return list(configs.values())
