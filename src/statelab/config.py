"""Configuration: frozen dataclasses, validated when they are built.

An experiment is three parts, each a frozen dataclass:

- `TaskConfig`   what the data are (series, target, the window the model sees, the split);
- `ModelConfig`  the recurrent network (cell, width, depth, initialisation seed);
- `TrainConfig`  how it is trained and evaluated (batching, epochs, optimiser, test start).

Every field name is unique across the three, so a flat mapping such as command-line flags or a
flat TOML file (`tsteps = 3`) maps onto them without ambiguity; `from_mapping` also accepts the
nested form that `config.json` is written in (`{"task": {...}, "model": {...}, "train": {...}}`).

Invalid values raise `ConfigError` (a `ValueError`) whose message names the parameter, the rule
and the value found, for example ``tsteps must be an integer >= 1, got 0``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# A model "converged" when its normalised test MSE (MSE / var(y)) is below this: it explains
# more than 90% of the target's variance. The stateless floor of the reference experiment is 0.5.
CONVERGED_NMSE = 0.1

LAYOUTS = ("streams", "seed")
WINDOW_ORDERS = ("oldest-first", "newest-first")
TEST_STARTS = ("reset", "continue")
CELLS = ("lstm", "gru", "simple")


class ConfigError(ValueError):
    """A parameter broke a rule. The message names the parameter, the rule and the value."""


def _fail(name: str, rule: str, value: Any) -> None:
    raise ConfigError(f"{name} must be {rule}, got {value!r}")


def _int(name: str, value: Any, minimum: int, maximum: int | None = None) -> None:
    rule = f"an integer >= {minimum}" if maximum is None else f"an integer in [{minimum}, {maximum}]"
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(name, rule, value)
    if value < minimum or (maximum is not None and value > maximum):
        _fail(name, rule, value)


def _float(obj: Any, name: str, rule: str, ok) -> None:
    """Check a real-valued field and store it as a float, so 1 and 1.0 hash alike."""
    value = getattr(obj, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _fail(name, f"a finite number {rule}", value)
    if not ok(value):
        _fail(name, rule, value)
    object.__setattr__(obj, name, float(value))


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        _fail(name, "one of " + ", ".join(choices), value)


# Each task takes these parameters (beyond lahead and train_fraction, which every task takes),
# with these defaults. A parameter a task does not take must be left unset (None).
TASK_PARAMS: dict[str, dict[str, Any]] = {
    "moving-average": {"input_len": 1000, "tsteps": 2, "amplitude": 0.1, "seed": 1986},
    "delay": {"input_len": 1000, "delay": 1, "amplitude": 0.1, "seed": 1986},
    "ema": {"input_len": 1000, "alpha": 0.5, "amplitude": 0.1, "seed": 1986},
    "sunspots": {},
    "csv": {"data": None, "column": None},
}
TASKS = tuple(TASK_PARAMS)
SYNTHETIC_TASKS = ("moving-average", "delay", "ema")
OPTIONAL_TASK_FIELDS = ("input_len", "tsteps", "delay", "alpha", "amplitude", "seed", "data", "column")


@dataclass(frozen=True)
class TaskConfig:
    """The data: a series, its target, and the input window a model sees per sample.

    Synthetic tasks draw uniform noise and compute a target from it: `moving-average` (the
    reference: the mean of the last `tsteps` inputs), `delay` (the input `delay` steps ago) and
    `ema` (an exponential moving average with factor `alpha`). Real tasks forecast the next value
    of a series: `sunspots` (yearly sunspot numbers 1700-2008, shipped with statsmodels) or `csv`
    (column `column` of the file `data`). Parameters a task does not take stay None.
    """

    task: str = "moving-average"
    input_len: int | None = None  # rows left after the rows without full history are dropped
    tsteps: int | None = None  # moving-average: the target is the mean of the last tsteps inputs
    delay: int | None = None  # delay: the target is the input `delay` steps ago
    alpha: float | None = None  # ema: y[t] = alpha x[t] + (1 - alpha) y[t-1]
    amplitude: float | None = None  # inputs are uniform in [-amplitude, +amplitude]
    seed: int | None = None  # data seed; 1986 is the original example's np.random.seed
    data: str | None = None  # csv: path of the file
    column: str | None = None  # csv: the column to read (may be left out for a one-column file)
    lahead: int = 1  # each sample holds the last `lahead` inputs
    train_fraction: float = 0.8

    def __post_init__(self) -> None:
        _choice("task", self.task, TASKS)
        takes = TASK_PARAMS[self.task]
        for name in OPTIONAL_TASK_FIELDS:
            value = getattr(self, name)
            if name not in takes and value is not None:
                others = ", ".join([*takes, "lahead", "train_fraction"])
                raise ConfigError(
                    f"{name} is not a parameter of task {self.task} (it takes {others}), got {value!r}"
                )
            if name in takes and value is None:
                object.__setattr__(self, name, takes[name])
        if self.input_len is not None:
            _int("input_len", self.input_len, 2)
        if self.tsteps is not None:
            _int("tsteps", self.tsteps, 1)
        if self.delay is not None:
            _int("delay", self.delay, 1)
        if self.alpha is not None:
            _float(self, "alpha", "in (0, 1]", lambda v: 0 < v <= 1)
        if self.amplitude is not None:
            _float(self, "amplitude", "> 0", lambda v: v > 0)
        if self.seed is not None:
            _int("seed", self.seed, 0, 2**32 - 1)  # NumPy's RandomState takes 32-bit seeds
        if self.task == "csv" and not (isinstance(self.data, str) and self.data):
            _fail("data", "the path of a CSV file for task csv", self.data)
        _int("lahead", self.lahead, 1)
        _float(self, "train_fraction", "in (0, 1)", lambda v: 0 < v < 1)
        if self.input_len is not None:
            self.check_rows(self.input_len)

    @property
    def synthetic(self) -> bool:
        return self.task in SYNTHETIC_TASKS

    def split(self, n_rows: int) -> tuple[int, int]:
        """(training rows, test rows) of `n_rows` rows: the leading train_fraction trains."""
        n_train = int(n_rows * self.train_fraction)
        return n_train, n_rows - n_train

    def check_rows(self, n_rows: int) -> None:
        """The rules that depend on how many rows the data have (known late for real series)."""
        n_train, n_test = self.split(n_rows)
        if n_train < 1 or n_test < 1:
            rule = f"such that train and test each get one of the {n_rows} rows"
            _fail("train_fraction", rule, self.train_fraction)
        if self.lahead > n_train:
            _fail("lahead", f"<= the {n_train} training rows", self.lahead)

    @property
    def n_train(self) -> int:
        """Training rows of a synthetic task (real series: see `split`)."""
        return self.split(self.input_len)[0]

    @property
    def n_test(self) -> int:
        return self.split(self.input_len)[1]


@dataclass(frozen=True)
class ModelConfig:
    """A stack of recurrent cells followed by Dense(1), initialised as Keras does."""

    cell: str = "lstm"
    units: int = 20
    layers: int = 1
    model_seed: int = 0  # key for weight initialisation; both models of a run share it

    def __post_init__(self) -> None:
        _choice("cell", self.cell, CELLS)
        _int("units", self.units, 1)
        _int("layers", self.layers, 1)
        _int("model_seed", self.model_seed, 0)


@dataclass(frozen=True)
class TrainConfig:
    """Batching, optimiser and evaluation. Adam's defaults are Keras' (epsilon 1e-7)."""

    batch_size: int = 1
    epochs: int = 10
    learning_rate: float = 1e-3
    layout: str = "streams"  # how the series is cut into batches; see batching.py
    window_order: str = "oldest-first"  # "newest-first" is the original's column order
    test_start: str = "reset"  # stateful test from a zero state, or continuing from training

    def __post_init__(self) -> None:
        _int("batch_size", self.batch_size, 1)
        _int("epochs", self.epochs, 1)
        _float(self, "learning_rate", "> 0", lambda v: v > 0)
        _choice("layout", self.layout, LAYOUTS)
        _choice("window_order", self.window_order, WINDOW_ORDERS)
        _choice("test_start", self.test_start, TEST_STARTS)


@dataclass(frozen=True)
class ExperimentConfig:
    """One experiment: a task, a model, and how to train it (both stateful and stateless)."""

    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if self.task.input_len is not None:
            self.check_rows(self.task.input_len)

    def check_rows(self, n_rows: int) -> None:
        """Rules that depend on the number of rows: the task's, whether batches can be filled,
        and whether some test rows are left once a reset stateful model's warm-up is excluded."""
        self.task.check_rows(n_rows)
        b = self.train.batch_size
        n_train, n_test = self.task.split(n_rows)
        if b > n_train:
            _fail("batch_size", f"<= the {n_train} training rows", b)
        if self.train.layout == "seed":
            # As the original: training keeps whole batches, the test rows run from there to the
            # last whole batch of the data, so it needs more whole batches than training has.
            n_test = b * (n_rows // b - n_train // b)
            if n_test < b:
                _fail("batch_size", f"small enough to leave a whole test batch of the {n_rows} rows", b)
        for name, warmup in (("tsteps", (self.task.tsteps or 1) - 1), ("delay", self.task.delay or 0)):
            if warmup >= n_test:
                value = getattr(self.task, name)
                _fail(name, f"small enough to leave test rows with full history ({n_test} test rows)", value)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return dataclasses.asdict(self)

    def replace(self, **flat: Any) -> ExperimentConfig:
        """A copy with some flat fields changed, validated again."""
        return from_mapping({**flatten(self), **flat})


SECTIONS: dict[str, type] = {"task": TaskConfig, "model": ModelConfig, "train": TrainConfig}
FIELD_SECTION: dict[str, str] = {
    f.name: section for section, cls in SECTIONS.items() for f in dataclasses.fields(cls)
}


def config_hash(config: ExperimentConfig) -> str:
    """SHA-256 of the canonical JSON of a config: the identity of a trial."""
    canonical = json.dumps(config.to_dict(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def flatten(config: ExperimentConfig) -> dict[str, Any]:
    """`{field: value}` over all three sections."""
    return {k: v for part in config.to_dict().values() for k, v in part.items()}


def _plain(value: Any) -> Any:
    """NumPy scalars (from np.arange grids, say) as the Python numbers they stand for."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return value


def from_mapping(mapping: Mapping[str, Any]) -> ExperimentConfig:
    """Build a config from flat keys, nested sections, or a mix; unknown keys are errors."""
    parts: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}

    def put(section: str, key: str, value: Any) -> None:
        if key in parts[section]:
            raise ConfigError(f"{key} must be given once, got it both flat and in [{section}]")
        parts[section][key] = _plain(value)

    for key, value in mapping.items():
        if key in SECTIONS and (isinstance(value, Mapping) or key not in FIELD_SECTION):
            # "task" is both a section and a field (the task's name): a table is the section.
            if not isinstance(value, Mapping):
                raise ConfigError(f"{key} must be a table of {key} parameters, got {value!r}")
            for sub_key, sub_value in value.items():
                if FIELD_SECTION.get(sub_key) != key:
                    raise ConfigError(f"unknown parameter {key}.{sub_key} = {sub_value!r}")
                put(key, sub_key, sub_value)
        elif key in FIELD_SECTION:
            put(FIELD_SECTION[key], key, value)
        else:
            raise ConfigError(f"unknown parameter {key} = {value!r}")
    try:
        return ExperimentConfig(**{s: SECTIONS[s](**parts[s]) for s in SECTIONS})
    except TypeError as exc:  # pragma: no cover - guarded by the key checks above
        raise ConfigError(str(exc)) from None


def field_type(name: str) -> type:
    """The Python type of a config field: int, float or str."""
    cls = SECTIONS[FIELD_SECTION[name]]
    annotation = next(str(f.type) for f in dataclasses.fields(cls) if f.name == name)
    return {"int": int, "float": float, "str": str}[annotation.removesuffix(" | None")]


def parse_value(name: str, text: str) -> Any:
    """Convert the text of a command-line value to the field's type; ConfigError if it is not one."""
    kind = field_type(name)
    if kind is str:
        return text
    try:
        return kind(text)
    except ValueError:
        _fail(name, "an integer" if kind is int else "a number", text)


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file into a mapping; unreadable or malformed files are ConfigErrors."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"config must be a readable file, got {str(path)!r} ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config must be valid TOML, got {str(path)!r} ({exc})") from None
