"""Configuration: frozen dataclasses, validated when they are built.

An experiment is three parts, each frozen:

- `TaskConfig`   what the data are (series, target, the window the model sees, the split);
- `ModelConfig`  the recurrent network (cell, width, depth, initialisation seed);
- `TrainConfig`  how it is trained and evaluated (batching, epochs, optimiser, test start).

A task's own parameters (tsteps, delay, data, ...) are not fields written here: they belong to the
task records (`statelab.tasks`), and a `TaskConfig` holds the ones its task takes. Every field
name is unique across the three sections, so a flat mapping such as command-line flags or a flat
TOML file (`tsteps = 3`) maps onto them without ambiguity; `from_mapping` also accepts the nested
form that `config.json` is written in (`{"task": {...}, "model": {...}, "train": {...}}`).

Invalid values raise `ConfigError` (a `ValueError`) whose message names the parameter, the rule
and the value found, for example ``tsteps must be an integer >= 1, got 0``. (The memory a config
needs: `statelab.resources`; its identity: `statelab.identity`; its help text:
`statelab.confighelp`; reading it from a file: `statelab.configfile`.)
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from statelab import tasks
from statelab.params import (
    ConfigError,
    check_choice,
    check_float,
    check_int,
    fail,
    given,
    parse_text,
    plain,
    shown_name,
)

LAYOUTS = ("streams", "seed")
WINDOW_ORDERS = ("oldest-first", "newest-first")
TEST_STARTS = ("reset", "continue")
CELLS = ("lstm", "gru", "simple")  # the records of `statelab.cells.CELLS`, by name (no JAX here)
MAX_BPTT = 512  # batches a gradient may reach back; each costs about one more training step
# Sizes. Compilation time grows linearly with depth (each layer is traced into every step): about
# 0.35 s per layer on a 2-core machine, so 64 layers compile in about 25 s and 1000 would take
# minutes. Width is bounded by memory (statelab.resources); 8192 units already need 2 GB of
# weights per layer.
MAX_LAYERS = 64
MAX_UNITS = 8192
# Epochs: each keeps its losses in memory and takes at least a compiled step per batch; a million
# is weeks of training at the smallest size. Beyond it a run could never end.
MAX_EPOCHS = 1_000_000
# The weight seed is stored as a 64-bit integer (SQLite, and pandas' Int64 in a results frame).
MAX_SEED = 2**63 - 1
# The share of each real series' training part kept out of training to validate on, when
# val_fraction is not given. A synthetic task validates on its test rows, as the original did.
REAL_VAL_FRACTION = 0.2

split_rows = tasks.split_rows  # the one split rule, owned by the tasks


def _check_lahead(value: Any) -> int:
    return check_int("lahead", value, 1)


def _check_train_fraction(value: Any) -> float:
    return check_float("train_fraction", value, "in (0, 1)", lambda v: 0 < v < 1)


def _not_taken(name: str, record: tasks.Task, value: Any) -> ConfigError:
    others = ", ".join([*(p.name for p in record.params), "lahead", "train_fraction"])
    return ConfigError(f"{name} is not a parameter of task {record.name} (it takes {others}), got {value!r}")


@dataclass(frozen=True, init=False, repr=False)
class TaskConfig:
    """The data: a series, its target, and the input window a model sees per sample.

    `TaskConfig(task="delay", delay=2, lahead=3)`: the task's own parameters are keywords, checked
    by the task's record (`statelab.tasks`), their defaults filled in; a parameter of another task
    is an error, and reads as None (`config.task.tsteps` of a delay task). Synthetic tasks draw
    noise and compute a target from it: `moving-average` (the reference: the mean of the last
    `tsteps` inputs), `delay`, `ema`, `ar`. Real series forecast a column `horizon` steps ahead:
    `sunspots`, `macrodata`, `grunfeld`, or the user's `file`.
    """

    task: str
    lahead: int  # each sample holds the last `lahead` inputs
    train_fraction: float
    # The task's own parameters, (name, value) in the record's order, validated, defaults filled.
    own: tuple[tuple[str, Any], ...]

    def __init__(
        self,
        task: str | None = None,
        lahead: Any = 1,
        train_fraction: Any = 0.8,
        own: Sequence[tuple[str, Any]] = (),
        **params: Any,
    ) -> None:
        given_params = {**dict(own), **params}
        # No task named: the reference task, or the file task for a config that names a data file.
        record = tasks.get(tasks.implied({"task": task, **given_params}))
        for name, value in given_params.items():
            if name not in tasks.PARAMS:
                raise ConfigError(f"unknown parameter {shown_name(name)} = {value!r}")
            if record.param(name) is None and plain(value) is not None:
                raise _not_taken(name, record, plain(value))
        values = []
        for param in record.params:
            value = plain(given_params.get(param.name))
            if value is None:
                value = param.default
            if value is not None:
                value = param.check(value)
            elif param.required:
                fail(param.name, f"{param.help.split(': ', 1)[-1]}; task {record.name} needs it", value)
            values.append((param.name, value))
        object.__setattr__(self, "task", record.name)  # an alias becomes the task's name
        object.__setattr__(self, "own", tuple(values))
        object.__setattr__(self, "lahead", _check_lahead(lahead))
        object.__setattr__(self, "train_fraction", _check_train_fraction(train_fraction))
        if record.check is not None:
            record.check(self)
        if self.input_len is not None:
            self.check_rows([self.input_len])

    def __getattr__(self, name: str) -> Any:
        """A task parameter by name (`task.tsteps`): its value, or None where the task does not
        take it. Only called for names that are not fields."""
        if name.startswith("_") or name == "own":
            raise AttributeError(name)
        if name in tasks.PARAMS:
            return dict(self.own).get(name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def fields(self) -> dict[str, Any]:
        """Every field of the task section, in config.json's order: task, each task parameter
        statelab knows (None where this task does not take it), lahead, train_fraction."""
        own = dict(self.own)
        return {
            "task": self.task,
            **{name: own.get(name) for name in tasks.PARAMS},
            "lahead": self.lahead,
            "train_fraction": self.train_fraction,
        }

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.fields().items() if v is not None)
        return f"TaskConfig({shown})"

    @property
    def record(self) -> tasks.Task:
        """Everything statelab knows about this config's task."""
        return tasks.get(self.task)

    @property
    def synthetic(self) -> bool:
        return self.record.synthetic

    def split(self, n_rows: int) -> tuple[int, int]:
        """(training rows, test rows) of `n_rows` rows: the leading train_fraction trains."""
        return split_rows(n_rows, self.train_fraction)

    def check_rows(self, rows: Sequence[int], names: Sequence[str] | None = None) -> None:
        """The rules that depend on how many rows each series has (known late for real series)."""
        for i, n_rows in enumerate(rows):
            of = f"series {names[i]!r}'s" if names and names[i] else "the"
            n_train, n_test = self.split(n_rows)
            if n_train < 1 or n_test < 1:
                rule = f"such that train and test each get one of {of} {n_rows} rows"
                fail("train_fraction", rule, self.train_fraction)
            if self.lahead > n_train:
                fail("lahead", f"<= {of} {n_train} training rows", self.lahead)

    @property
    def n_train(self) -> int:
        """Training rows of a synthetic task (real series: see `split`)."""
        return self.split(given(self.input_len))[0]

    @property
    def n_test(self) -> int:
        return self.split(given(self.input_len))[1]


@dataclass(frozen=True)
class ModelConfig:
    """A stack of recurrent cells followed by Dense(1), initialised as Keras does."""

    cell: str = "lstm"
    units: int = 20
    layers: int = 1
    model_seed: int = 0  # key for weight initialisation; both models of a run share it

    def __post_init__(self) -> None:
        check_choice("cell", self.cell, CELLS)
        object.__setattr__(self, "units", check_int("units", self.units, 1, MAX_UNITS))
        object.__setattr__(self, "layers", check_int("layers", self.layers, 1, MAX_LAYERS))
        object.__setattr__(self, "model_seed", check_int("model_seed", self.model_seed, 0, MAX_SEED))


@dataclass(frozen=True)
class TrainConfig:
    """Batching, optimiser and evaluation. Adam's defaults are Keras' (epsilon 1e-7)."""

    batch_size: int = 1
    epochs: int = 10
    learning_rate: float = 1e-3
    layout: str = "streams"  # how the series is cut into batches; see batching.py
    window_order: str = "oldest-first"  # "newest-first" is the original's column order
    test_start: str = "reset"  # stateful test from a zero state, or continuing from training
    bptt: int = 1  # stateful: each batch's loss reaches back through the bptt - 1 batches before it
    # The tail of each series' training part the history's val_loss is measured on, in [0, 1);
    # 0: on the test rows (the original's "validation data"). None: 0.2 for a real series, 0 for
    # a synthetic task (`ExperimentConfig.val_share`).
    val_fraction: float | None = None
    # Stop once the validation loss has not improved for this many epochs, and keep each model's
    # weights of its best epoch. None: train every epoch, keep the last.
    early_stopping: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "batch_size", check_int("batch_size", self.batch_size, 1))
        object.__setattr__(self, "epochs", check_int("epochs", self.epochs, 1, MAX_EPOCHS))
        rate = check_float("learning_rate", self.learning_rate, "> 0", lambda v: v > 0)
        object.__setattr__(self, "learning_rate", rate)
        check_choice("layout", self.layout, LAYOUTS)
        check_choice("window_order", self.window_order, WINDOW_ORDERS)
        check_choice("test_start", self.test_start, TEST_STARTS)
        object.__setattr__(self, "bptt", check_int("bptt", self.bptt, 1, MAX_BPTT))
        if self.val_fraction is not None:
            share = check_float("val_fraction", self.val_fraction, "in [0, 1)", lambda v: 0 <= v < 1)
            object.__setattr__(self, "val_fraction", share)
        if self.early_stopping is not None:
            patience = check_int("early_stopping", self.early_stopping, 1, MAX_EPOCHS)
            object.__setattr__(self, "early_stopping", patience)


@dataclass(frozen=True)
class ExperimentConfig:
    """One experiment: a task, a model, and how to train it (both stateful and stateless)."""

    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        train = self.train
        if train.early_stopping is not None and self.val_share == 0:
            fail(
                "early_stopping",
                "left out when val_fraction is 0 (choosing the epoch by the test rows would leak them)",
                train.early_stopping,
            )
        if self.task.input_len is not None:
            self.check_rows([self.task.input_len])

    @property
    def val_share(self) -> float:
        """The share of each series' training part validated on: `train.val_fraction`, or by
        default 0.2 for a real series and 0 (the test rows, as the original) for a synthetic task."""
        if self.train.val_fraction is not None:
            return self.train.val_fraction
        return 0.0 if self.task.synthetic else REAL_VAL_FRACTION

    def val_rows(self, before_test: int) -> int:
        """Validation rows of a series with `before_test` rows before its test part: the tail
        `val_share` of them, at least one when the share is above 0."""
        share = self.val_share
        return 0 if share == 0 else max(1, round(before_test * share))

    def check_rows(self, rows: Sequence[int], names: Sequence[str] | None = None) -> None:
        """Rules that depend on the rows of each series: the task's, whether batches can be filled,
        and whether test rows are left once a reset stateful model's warm-up is excluded."""
        self.task.check_rows(rows, names)
        b, train = self.train.batch_size, self.train
        if len(rows) > 1:
            # Several series: each is its own stream, packed into the lanes of a batch.
            if train.layout != "streams":
                fail("layout", "streams when the data hold several series", train.layout)
            if train.test_start != "reset":
                fail("test_start", "reset when the data hold several series", train.test_start)
        if train.layout == "seed" and self.val_share > 0:
            fail(
                "layout",
                "streams when validating on the tail of the training part (or val_fraction 0: the test rows "
                "validate, as the original)",
                train.layout,
            )
        for i, n_rows in enumerate(rows):
            before = self.task.split(n_rows)[0]
            if self.val_rows(before) >= before:
                of = f"series {names[i]!r}'s" if names and names[i] else "the"
                fail("val_fraction", f"small enough to leave training rows of {of} {before}", self.val_share)
        n_train = sum(self.task.split(n)[0] - self.val_rows(self.task.split(n)[0]) for n in rows)
        if b > n_train:
            fail("batch_size", f"<= the {n_train} training rows", b)
        if train.layout == "seed":
            # As the original: training keeps whole batches, the test rows run from there to the
            # last whole batch of the data, so it needs more whole batches than training has.
            n_rows = rows[0]
            if b * (n_rows // b - n_train // b) < b:
                fail("batch_size", f"small enough to leave a whole test batch of the {n_rows} rows", b)
        record = self.task.record
        warmup = record.warmup(self.task)
        for i, n_rows in enumerate(rows):
            n_test = self.task.split(n_rows)[1] if train.layout == "streams" else b * (n_rows // b) - n_train
            if warmup and warmup >= n_test:
                name = record.x_axis or "lahead"
                of = f" of series {names[i]!r}" if names and names[i] else ""
                fail(
                    name,
                    f"small enough to leave test rows with full history ({n_test} test rows{of})",
                    getattr(self.task, name),
                )

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """{"task": {...}, "model": {...}, "train": {...}}: config.json, lists for tuples."""
        parts = {
            "task": self.task.fields(),
            "model": dataclasses.asdict(self.model),
            "train": dataclasses.asdict(self.train),
        }
        return json.loads(json.dumps(parts))

    def replace(self, **flat: Any) -> ExperimentConfig:
        """A copy with some flat fields changed, validated again."""
        return from_mapping({**flatten(self), **flat})


SECTIONS: dict[str, type] = {"task": TaskConfig, "model": ModelConfig, "train": TrainConfig}


class _FieldSections(Mapping[str, str]):
    """{field: section} over all three sections, task parameters included: read live from the task
    records, so a task registered later brings its parameters with it."""

    def _fields(self) -> dict[str, str]:
        task = ["task", *tasks.PARAMS, "lahead", "train_fraction"]
        out = dict.fromkeys(task, "task")
        for section in ("model", "train"):
            for f in dataclasses.fields(SECTIONS[section]):
                if f.name in out:  # a task parameter named like a model or train field
                    raise ValueError(f"task parameter {f.name!r} clashes with the {section} field")
                out[f.name] = section
        return out

    def __getitem__(self, name: str) -> str:
        return self._fields()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields())

    def __len__(self) -> int:
        return len(self._fields())


FIELD_SECTION: Mapping[str, str] = _FieldSections()


def flatten(config: ExperimentConfig) -> dict[str, Any]:
    """`{field: value}` over all three sections."""
    return {k: v for part in config.to_dict().values() for k, v in part.items()}


ALIASES = {"column": "target"}  # earlier names of fields


def from_mapping(mapping: ExperimentConfig | Mapping[str, Any]) -> ExperimentConfig:
    """Build a config from flat keys, nested sections, or a mix; unknown keys are errors. A config
    given is returned as it is."""
    if isinstance(mapping, ExperimentConfig):
        return mapping
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"config must be an ExperimentConfig or a mapping of parameters, got {mapping!r}")
    parts: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}

    def put(section: str, key: str, value: Any) -> None:
        if key in parts[section]:
            raise ConfigError(f"{key} must be given once, got it both flat and in [{section}]")
        parts[section][key] = plain(value)

    for key, value in mapping.items():
        if not isinstance(key, str):
            raise ConfigError(f"unknown parameter {key!r} = {value!r}")
        if key in SECTIONS and (isinstance(value, Mapping) or key not in FIELD_SECTION):
            # "task" is both a section and a field (the task's name): a table is the section.
            if not isinstance(value, Mapping):
                raise ConfigError(f"{key} must be a table of {key} parameters, got {value!r}")
            for sub_key, sub_value in value.items():
                if isinstance(sub_key, str):
                    sub_key = ALIASES.get(sub_key, sub_key)
                if FIELD_SECTION.get(sub_key) != key:
                    raise ConfigError(f"unknown parameter {key}.{shown_name(sub_key)} = {sub_value!r}")
                put(key, sub_key, sub_value)
        elif ALIASES.get(key, key) in FIELD_SECTION:
            key = ALIASES.get(key, key)
            put(FIELD_SECTION[key], key, value)
        else:
            raise ConfigError(f"unknown parameter {shown_name(key)} = {value!r}")
    try:
        return ExperimentConfig(**{s: SECTIONS[s](**parts[s]) for s in SECTIONS})
    except TypeError as exc:  # pragma: no cover - guarded by the key checks above
        raise ConfigError(str(exc)) from None


def field_kind(name: str) -> str:
    """The kind of a config field: int, float, str, floats or strs (see `statelab.params`)."""
    if name in tasks.PARAMS:
        return tasks.PARAMS[name].kind
    cls = SECTIONS[FIELD_SECTION[name]]
    annotation = next(str(f.type) for f in dataclasses.fields(cls) if f.name == name)
    return annotation.removesuffix(" | None")


# The word fields of the model and train sections and their allowed values (a task parameter's
# are its Param's `choices`; the task's, the registered tasks).
CHOICES: dict[str, tuple[str, ...]] = {
    "cell": CELLS,
    "layout": LAYOUTS,
    "window_order": WINDOW_ORDERS,
    "test_start": TEST_STARTS,
}


def field_choices(name: str) -> tuple[str, ...]:
    """The allowed values of a choice field (task, cell, layout, missing, ...); () for any other."""
    if name == "task":
        return tuple(tasks.TASKS)
    if name in tasks.PARAMS:
        return tasks.PARAMS[name].choices
    return CHOICES.get(name, ())


def check_field(name: str, value: Any) -> Any:
    """One field's value by its own rule, normalised as a config holds it (a task by its name, a
    float for a float field, a tuple for a list); ConfigError naming the rule otherwise, and for
    a choice field the allowed values. Rules that tie fields together (lahead within the training
    rows, a parameter another task takes) are not checked: a value possible for some config passes.
    """
    value = plain(value)
    if name not in FIELD_SECTION:
        raise ConfigError(f"unknown parameter {shown_name(name)} = {value!r}")
    if name == "task":
        return tasks.get(value).name
    if name in tasks.PARAMS:
        return tasks.PARAMS[name].check(value)
    if name == "lahead":
        return _check_lahead(value)
    if name == "train_fraction":
        return _check_train_fraction(value)
    section = SECTIONS[FIELD_SECTION[name]]  # model and train fields are checked one by one
    return getattr(section(**{name: value}), name)


def parse_value(name: str, text: str) -> Any:
    """Convert the text of a command-line value to the field's kind; ConfigError if it is not one."""
    return parse_text(name, field_kind(name), text)
