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
import functools
import hashlib
import json
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from statelab import tasks
from statelab.params import (
    ConfigError,
    check_choice,
    check_float,
    check_int,
    check_path,
    fail,
    given,
    parse_text,
    plain,
    shown_name,
)

# A model "converged" when its normalised test MSE (MSE / var(y)) is within this of the best any
# model can reach on the task (0 on every task but `ar`, whose innovations cannot be predicted):
# it then explains all but 10% of the target's variance that can be explained.
CONVERGED_NMSE = 0.1

LAYOUTS = ("streams", "seed")
WINDOW_ORDERS = ("oldest-first", "newest-first")
TEST_STARTS = ("reset", "continue")
CELLS = ("lstm", "gru", "simple")
MAX_BPTT = 512  # batches a gradient may reach back; each costs about one more training step
# Sizes. Compilation time grows linearly with depth (each layer is traced into every step): about
# 0.35 s per layer on a 2-core machine, so 64 layers compile in about 25 s and 1000 would take
# minutes. Width is bounded by memory (below); 8192 units already need 2 GB of weights per layer.
MAX_LAYERS = 64
MAX_UNITS = 8192
# Epochs: each keeps its losses in memory and takes at least a compiled step per batch; a million
# is weeks of training at the smallest size. Beyond it a run could never end.
MAX_EPOCHS = 1_000_000
# The weight seed is stored as a 64-bit integer (SQLite, and pandas' Int64 in a results frame).
MAX_SEED = 2**63 - 1

TASKS = tuple(tasks.TASKS)
# Fields of TaskConfig that some tasks take and others do not (None where not taken).
OPTIONAL_TASK_FIELDS = tuple(tasks.PARAMS)


def split_rows(n_rows: int, train_fraction: float) -> tuple[int, int]:
    """(training rows, test rows) of `n_rows` rows: the leading train_fraction trains."""
    n_train = int(n_rows * train_fraction)
    return n_train, n_rows - n_train


@dataclass(frozen=True)
class TaskConfig:
    """The data: a series, its target, and the input window a model sees per sample.

    Which parameters a task takes, their defaults and rules, live in the task's record
    (`statelab.tasks`); parameters a task does not take stay None. Synthetic tasks draw noise and
    compute a target from it: `moving-average` (the reference: the mean of the last `tsteps`
    inputs), `delay` (the input `delay` steps ago), `ema` (an exponential moving average) and `ar`
    (a linear autoregression). Real series forecast a column `horizon` steps ahead: `sunspots`,
    `macrodata`, `grunfeld`, or the user's `file`.
    """

    task: str = "moving-average"
    input_len: int | None = None  # rows left after the rows without full history are dropped
    tsteps: int | None = None  # moving-average: the target is the mean of the last tsteps inputs
    delay: int | None = None  # delay: the target is the input `delay` steps ago
    alpha: float | None = None  # ema: y[t] = alpha x[t] + (1 - alpha) y[t-1]
    ar_coefs: tuple[float, ...] | None = None  # ar: x[t] = sum_i ar_coefs[i-1] x[t-i] + noise
    amplitude: float | None = None  # inputs uniform in [-amplitude, +amplitude] (ar: noise std)
    seed: int | None = None  # data seed; 1986 is the original example's np.random.seed
    data: str | None = None  # file: path of a CSV or Parquet file
    target: str | None = None  # real series: the column to forecast
    features: tuple[str, ...] | None = None  # real series: the columns the model reads
    series: str | None = None  # file: a column of series ids
    time: str | None = None  # file: the column ordering rows within a series
    horizon: int | None = None  # real series: forecast this many steps ahead
    missing: str | None = None  # file: error, drop or interpolate
    lahead: int = 1  # each sample holds the last `lahead` inputs
    train_fraction: float = 0.8

    def __post_init__(self) -> None:
        record = tasks.get(self.task)
        object.__setattr__(self, "task", record.name)  # an alias becomes the task's name
        for name in OPTIONAL_TASK_FIELDS:
            value = plain(getattr(self, name))
            param = record.param(name)
            if param is None:
                if value is not None:
                    others = ", ".join([*(p.name for p in record.params), "lahead", "train_fraction"])
                    raise ConfigError(
                        f"{name} is not a parameter of task {record.name} (it takes {others}), got {value!r}"
                    )
                continue
            if value is None:
                value = param.default
            if value is not None:
                value = param.check(value)
            elif param.required:
                fail(name, f"{param.help.split(': ', 1)[-1]}; task {record.name} needs it", value)
            object.__setattr__(self, name, value)
        object.__setattr__(self, "lahead", check_int("lahead", self.lahead, 1))
        fraction = check_float("train_fraction", self.train_fraction, "in (0, 1)", lambda v: 0 < v < 1)
        object.__setattr__(self, "train_fraction", fraction)
        if self.input_len is not None:
            self.check_rows([self.input_len])

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

    def __post_init__(self) -> None:
        object.__setattr__(self, "batch_size", check_int("batch_size", self.batch_size, 1))
        object.__setattr__(self, "epochs", check_int("epochs", self.epochs, 1, MAX_EPOCHS))
        rate = check_float("learning_rate", self.learning_rate, "> 0", lambda v: v > 0)
        object.__setattr__(self, "learning_rate", rate)
        check_choice("layout", self.layout, LAYOUTS)
        check_choice("window_order", self.window_order, WINDOW_ORDERS)
        check_choice("test_start", self.test_start, TEST_STARTS)
        object.__setattr__(self, "bptt", check_int("bptt", self.bptt, 1, MAX_BPTT))


@dataclass(frozen=True)
class ExperimentConfig:
    """One experiment: a task, a model, and how to train it (both stateful and stateless)."""

    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if self.task.input_len is not None:
            self.check_rows([self.task.input_len])

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
        n_train = sum(self.task.split(n)[0] for n in rows)
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
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def replace(self, **flat: Any) -> ExperimentConfig:
        """A copy with some flat fields changed, validated again."""
        return from_mapping({**flatten(self), **flat})


SECTIONS: dict[str, type] = {"task": TaskConfig, "model": ModelConfig, "train": TrainConfig}
FIELD_SECTION: dict[str, str] = {
    f.name: section for section, cls in SECTIONS.items() for f in dataclasses.fields(cls)
}


# ---------------------------------------------------------------------------------------------
# Memory: what a config asks of the machine, checked before anything is allocated

GATES = 4  # gate blocks per cell, at most (an LSTM's); GRU has 3, SimpleRNN 1: an upper bound
MEMORY_HEADROOM = 512 * 2**20  # bytes for JAX's runtime, compiled programs and Python itself


def memory_estimate(config: ExperimentConfig, rows: int | None = None, trials: int = 1) -> dict[str, int]:
    """Bytes that training `trials` trials of this config's shapes side by side holds at once, by
    part: an upper bound within a factor of about two. rows: the data's rows (default input_len).

    - parameters: per model (stateful, stateless) its weights, Adam's two moments, the gradients
      and the updates, float32: 5 x sum over layers of GATES units (inputs + units + 2);
    - data: every window (rows x lahead x features) in float64 on the host and in float32 on
      the host and the device, 16 bytes a value;
    - activations: what one step keeps for its gradient, per model: the gates and states of
      batch_size x lahead x bptt x layers x units cells, about four floats per gate.
    """
    t, m, tr = config.task, config.model, config.train
    rows = t.input_len if rows is None else rows
    features = len(t.features) if t.features else 1
    widths = [features] + [m.units] * (m.layers - 1)
    weights = sum(GATES * m.units * (w + m.units + 2) for w in widths) + m.units + 1
    models = 2
    window = tr.batch_size * t.lahead * tr.bptt * m.layers * m.units
    return {
        "parameters": trials * models * 5 * weights * 4,
        "data": trials * (rows or 0) * t.lahead * features * 16,
        "activations": trials * models * 4 * GATES * window * 4,
    }


def available_memory() -> int | None:
    """Bytes this machine can give a new allocation (Linux: MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def gigabytes(n: float) -> str:
    """Bytes as an error message shows them: "1.4 GB"."""
    return f"{n / 1e9:.1f} GB"


def check_memory(
    config: ExperimentConfig, rows: int | None = None, trials: int = 1, available: int | None = None
) -> None:
    """ConfigError if `memory_estimate` (plus MEMORY_HEADROOM) exceeds the memory available now.

    The message names the parameter behind the largest part: units (parameters), input_len or
    lahead (data), batch_size (activations)."""
    parts = memory_estimate(config, rows, trials)
    available = available_memory() if available is None else available
    need = sum(parts.values()) + MEMORY_HEADROOM
    if available is None or need <= available:
        return
    biggest = max(parts, key=parts.__getitem__)
    t = config.task
    name = {
        "parameters": "units" if config.model.units >= config.model.layers else "layers",
        "data": "input_len" if t.input_len is not None and t.input_len >= t.lahead else "lahead",
        "activations": "batch_size" if config.train.batch_size >= t.lahead else "lahead",
    }[biggest]
    value = getattr(config.model, name, None) or getattr(config.train, name, None) or getattr(t, name, None)
    group = f" for {trials} trials trained together" if trials > 1 else ""
    fail(
        name,
        f"small enough for the run to fit in memory (about {gigabytes(need)} needed{group}, "
        f"{gigabytes(parts[biggest])} of it {biggest}; {gigabytes(available)} available)",
        value,
    )


def config_hash(config: ExperimentConfig) -> str:
    """SHA-256 of the canonical JSON of a config, unset (None) parameters left out: the identity
    of a trial, which a parameter added to statelab later (unset) does not change.

    A task that reads a file (`data`, stored as an absolute path) adds the SHA-256 of the file's
    content as `data_sha256`: two different files at one path, or one file edited between two
    sweeps, are different trials."""
    parts = {k: {f: v for f, v in p.items() if v is not None} for k, p in config.to_dict().items()}
    if config.task.data is not None:
        parts["task"]["data_sha256"] = file_sha256(config.task.data)
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's content ("" if it cannot be read: reading it will then fail clearly).

    Remembered per (path, size, modification time), so a sweep hashes each file once."""
    try:
        stat = os.stat(path)
    except OSError:
        return ""
    return _file_sha256(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return ""
    return digest.hexdigest()


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


def parse_value(name: str, text: str) -> Any:
    """Convert the text of a command-line value to the field's kind; ConfigError if it is not one."""
    return parse_text(name, field_kind(name), text)


def load_config_file(path: str | Path, name: str = "config") -> dict[str, Any]:
    """Read a config file, TOML or JSON (a run's config.json reads back), into a mapping;
    unreadable or malformed files are ConfigErrors naming `name`, the parameter that gave it."""
    path = check_path(name, path, "a readable file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{name} must be a readable file, got {str(path)!r} ({exc.strerror})") from None
    is_json = path.suffix.lower() == ".json" or raw.lstrip()[:1] == b"{"
    try:
        text = raw.decode("utf-8-sig")
        mapping = json.loads(text) if is_json else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        kind = "JSON" if is_json else "TOML"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{name} must be valid {kind}, got {str(path)!r} ({reason})") from None
    if not isinstance(mapping, dict):
        raise ConfigError(f"{name} must hold a table of parameters, got {str(path)!r}")
    return mapping


load_toml = load_config_file  # the earlier name


# One line of help per config field that is not a task parameter (those come from the task records).
FIELD_HELP = {
    "task": "one of: " + "; ".join(f"{t.name} ({t.summary})" for t in tasks.TASKS.values()),
    "lahead": "inputs the network sees per sample",
    "train_fraction": "leading fraction of each series used for training",
    "cell": "recurrent cell: lstm, gru or simple",
    "units": "units per recurrent layer",
    "layers": "stacked recurrent layers",
    "model_seed": "seed of the weight initialisation (both models start from the same weights)",
    "batch_size": "rows per batch",
    "epochs": "passes over the training series",
    "learning_rate": "Adam learning rate (Keras default 1e-3)",
    "layout": "stateful batch layout: streams (contiguous streams) or seed (the original's)",
    "window_order": "order of each input window: oldest-first or newest-first (the original's)",
    "test_start": "stateful test from a reset state, or continuing the training state",
    "bptt": "stateful: truncation length; each batch's loss reaches back through the bptt - 1 batches "
    "before it (1: the original)",
}


def field_help(name: str) -> str:
    """The one line of help of a config field, with its default(s): the text of --help and the lab."""
    if name not in tasks.PARAMS:
        default = ExperimentConfig().to_dict()[FIELD_SECTION[name]][name]
        return FIELD_HELP[name] + f" (default: {default})"
    defaults = {t.name: p.default for t in tasks.TASKS.values() if (p := t.param(name)) is not None}
    shown = {_show(v) for v in defaults.values() if v is not None}
    if not shown:
        return tasks.PARAMS[name].help
    if len(shown) == 1:
        return tasks.PARAMS[name].help + f" (default: {shown.pop()})"
    per_task = ", ".join(f"{t} {_show(v)}" for t, v in defaults.items() if v is not None)
    return tasks.PARAMS[name].help + f" (default: {per_task})"


def _show(value: Any) -> str:
    return ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)
