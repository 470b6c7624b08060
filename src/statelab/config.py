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
TASKS = ("moving-average",)


class ConfigError(ValueError):
    """A parameter broke a rule. The message names the parameter, the rule and the value."""


def _fail(name: str, rule: str, value: Any) -> None:
    raise ConfigError(f"{name} must be {rule}, got {value!r}")


def _int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(name, f"an integer >= {minimum}", value)
    if value < minimum:
        _fail(name, f"an integer >= {minimum}", value)


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


@dataclass(frozen=True)
class TaskConfig:
    """The data: a noise series, its target, and the input window a model sees per sample."""

    task: str = "moving-average"
    input_len: int = 1000  # rows left after the rows without full history are dropped
    tsteps: int = 2  # the target is the mean of the last `tsteps` inputs
    lahead: int = 1  # each sample holds the last `lahead` inputs
    amplitude: float = 0.1  # inputs are uniform in [-amplitude, +amplitude]
    seed: int = 1986  # the original example's np.random.seed
    train_fraction: float = 0.8

    def __post_init__(self) -> None:
        _choice("task", self.task, TASKS)
        _int("input_len", self.input_len, 2)
        _int("tsteps", self.tsteps, 1)
        _int("lahead", self.lahead, 1)
        _float(self, "amplitude", "> 0", lambda v: v > 0)
        _int("seed", self.seed, 0)
        _float(self, "train_fraction", "in (0, 1)", lambda v: 0 < v < 1)
        n_train, n_test = self.n_train, self.n_test
        if n_train < 1 or n_test < 1:
            _fail(
                "train_fraction",
                f"such that train and test each get a row of the {self.input_len} rows",
                self.train_fraction,
            )
        if self.lahead > n_train:
            _fail("lahead", f"<= the {n_train} training rows", self.lahead)
        if self.tsteps > n_test - 1:
            _fail("tsteps", f"< the {n_test} test rows, so some test rows have full history", self.tsteps)

    @property
    def n_train(self) -> int:
        return int(self.input_len * self.train_fraction)

    @property
    def n_test(self) -> int:
        return self.input_len - self.n_train


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
        b, n_train, n_test = self.train.batch_size, self.task.n_train, self.task.n_test
        if b > n_train:
            _fail("batch_size", f"<= the {n_train} training rows", b)
        # The seed layout trims the test rows by `input_len % batch_size`, as the original did.
        if self.train.layout == "seed" and n_test - self.task.input_len % b < b:
            _fail("batch_size", f"small enough to fill a test batch of the {n_test} test rows", b)

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


def from_mapping(mapping: Mapping[str, Any]) -> ExperimentConfig:
    """Build a config from flat keys, nested sections, or a mix; unknown keys are errors."""
    parts: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
    for key, value in mapping.items():
        if key in SECTIONS and isinstance(value, Mapping):
            for sub_key, sub_value in value.items():
                if FIELD_SECTION.get(sub_key) != key:
                    raise ConfigError(f"unknown parameter {key}.{sub_key}")
                parts[key][sub_key] = sub_value
        elif key in FIELD_SECTION:
            parts[FIELD_SECTION[key]][key] = value
        else:
            raise ConfigError(f"unknown parameter {key!r}")
    try:
        return ExperimentConfig(**{s: SECTIONS[s](**parts[s]) for s in SECTIONS})
    except TypeError as exc:  # pragma: no cover - guarded by the key checks above
        raise ConfigError(str(exc)) from None


def field_type(name: str) -> type:
    """The Python type of a config field: int, float or str."""
    cls = SECTIONS[FIELD_SECTION[name]]
    return {"int": int, "float": float, "str": str}[
        next(f.type for f in dataclasses.fields(cls) if f.name == name)
    ]


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
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config must be valid TOML, got {str(path)!r} ({exc})") from None
