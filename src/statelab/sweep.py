"""Sweeps: a grid of configs, trained in shape groups, in-process or on Dask, into a store.

One run shows one point; the claim of the experiment is a boundary (stateless models converge
exactly where lahead >= tsteps, stateful ones everywhere), so a sweep trains many configs and
seeds and keeps every result in a SQLite store (`statelab.store`).

    grid --expand--> configs --skip done--> pending --plan_groups--> groups
         --run_group (in-process threads, or Dask workers)--> TrialRecords --client--> store

Grid syntax (command line and TOML file): any config field is an axis. A value is a single
value (`16`), a comma list (`1,16`), a half-open range `a:b[:step]` as Python's `range`
(`1:6` is 1..5), or a mix (`1:4,8`). Floats are allowed for float fields (`0.1:0.5:0.1`),
words for choice fields (`lstm,gru`). `seeds = N` replicates every grid point N times: replicate
r = 0..N-1 adds r to both the data seed (`seed`) and the weight seed (`model_seed`).

A grid point that is not a valid config is an error naming the parameter, the value and the
point, raised before anything is trained or written: a sweep either runs the grid asked for or
nothing.

Groups. Trials with equal `train.shape_key` run in one vmapped compiled program
(`train.fit_trials`), so a sweep compiles once per distinct shape, not once per trial. A shape's
trials are sorted by config hash and cut into near-equal chunks of at most `max_group`: the
groups depend only on the pending trials, never on where they run, so in-process and Dask sweeps
compute the same programs on the same data and give bit-identical metrics. (fit_trials is also
bit-identical to training each config alone, so a resumed sweep, whose groups differ, agrees too.)
"""

from __future__ import annotations

import itertools
import math
import os
import socket
import threading
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from statelab import __version__
from statelab.config import (
    FIELD_SECTION,
    OPTIONAL_TASK_FIELDS,
    SECTIONS,
    TASK_PARAMS,
    ConfigError,
    ExperimentConfig,
    config_hash,
    field_type,
    from_mapping,
    load_toml,
)
from statelab.store import Store, TrialRecord, utc_now

MAX_GROUP = 64  # trials per compiled program: 128 models side by side, still a few MB
MAX_AXIS_VALUES = 100_000
MAX_TRIALS = 1_000_000
SCHEDULER_TIMEOUT = 15.0  # seconds to reach a --scheduler before it counts as bad input
RANGE_RULE = "a value, a comma list, or a range a:b[:step]"

# ---------------------------------------------------------------------------------------------
# Grids


@dataclass(frozen=True)
class Grid:
    """Values per parameter (one value = fixed) and replicates per grid point."""

    axes: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    seeds: int = 1

    @property
    def n_points(self) -> int:
        return math.prod(len(v) for v in self.axes.values())


def _scalar(name: str, kind: type, text: str, whole: str) -> Any:
    if kind is str:
        return text
    try:
        return kind(text)
    except ValueError:
        noun = "integers" if kind is int else "numbers"
        raise ConfigError(f"{name} must be {RANGE_RULE} of {noun}, got {whole!r}") from None


def _range(name: str, kind: type, text: str, whole: str) -> list[Any]:
    """`a:b[:step]`, half-open like Python's range; float ranges for float fields."""
    parts = [_scalar(name, kind, p.strip(), whole) for p in text.split(":")]
    if len(parts) not in (2, 3):
        raise ConfigError(f"{name} must be {RANGE_RULE}, got {whole!r}")
    start, stop, step = (*parts, 1) if len(parts) == 2 else parts
    if step == 0:
        raise ConfigError(f"{name} must be a range a:b[:step] with a non-zero step, got {whole!r}")
    # Half-open as range(); the 1e-9 keeps 0.1:0.4:0.1 from growing a 4th value by rounding.
    count = max(0, math.ceil((stop - start) / step - 1e-9))
    if count == 0:
        raise ConfigError(
            f"{name} must be a non-empty range (a:b is a..b-1, as Python's range), got {whole!r}"
        )
    if count > MAX_AXIS_VALUES:
        raise ConfigError(f"{name} must have at most {MAX_AXIS_VALUES} values, got {whole!r}")
    if kind is int:
        return list(range(start, stop, step))
    return [round(start + i * step, 12) for i in range(count)]


def parse_values(name: str, text: str) -> tuple[Any, ...]:
    """The values of one axis from its command-line text: `16`, `1,16`, `1:6`, `1:4,8`, `lstm,gru`."""
    if name not in FIELD_SECTION:
        raise ConfigError(f"unknown parameter {name} = {text!r}")
    kind = field_type(name)
    values: list[Any] = []
    for item in str(text).split(","):
        item = item.strip()
        if not item:
            raise ConfigError(f"{name} must be {RANGE_RULE}, got {text!r}")
        if ":" in item and kind is not str:
            values.extend(_range(name, kind, item, text))
        else:
            values.append(_scalar(name, kind, item, text))
    return tuple(dict.fromkeys(values))  # duplicates would be the same trial twice


def _toml_values(name: str, value: Any) -> tuple[Any, ...]:
    """A TOML entry: a scalar (fixed), an array (the values), or a string in flag syntax."""
    if name not in FIELD_SECTION:
        raise ConfigError(f"unknown parameter {name} = {value!r}")
    kind = field_type(name)
    if isinstance(value, str) and kind is not str:
        return parse_values(name, value)
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ConfigError(f"{name} must be a non-empty list of values, got []")
    for item in items:
        ok = (
            isinstance(item, str)
            if kind is str
            else not isinstance(item, bool) and isinstance(item, (int, float) if kind is float else int)
        )
        if not ok:
            noun = {int: "an integer", float: "a number", str: "a string"}[kind]
            raise ConfigError(f"{name} must be {noun} or a list of them, got {value!r}")
    return tuple(dict.fromkeys(items))


def positive_int(name: str, value: Any) -> int:
    """An integer >= 1 from a flag's text or a TOML value; ConfigError otherwise."""
    try:
        number = int(value) if isinstance(value, str) else value
    except ValueError:
        number = None
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
    return number


def parse_seeds(value: Any) -> int:
    """`--seeds N` / `seeds = N`: replicates per grid point."""
    return positive_int("seeds", value)


def load_grid(path: str | Path) -> Grid:
    """A TOML grid file: flat keys or [task]/[model]/[train] tables, plus `seeds`.

    seeds = 5
    tsteps = "1:6"          # flag syntax in a string
    lahead = [1, 2, 3, 4, 5]
    batch_size = 1          # a single value
    """
    raw = load_toml(path)
    seeds = parse_seeds(raw.pop("seeds")) if "seeds" in raw else 1
    axes: dict[str, tuple[Any, ...]] = {}
    for key, value in raw.items():
        if key in SECTIONS and isinstance(value, dict):
            for sub_key, sub_value in value.items():
                if FIELD_SECTION.get(sub_key) != key:
                    raise ConfigError(f"unknown parameter {key}.{sub_key} = {sub_value!r}")
                axes[sub_key] = _toml_values(sub_key, sub_value)
        else:
            axes[key] = _toml_values(key, value)
    return Grid(axes, seeds)


def grid_from_inputs(
    flags: Mapping[str, str | None], seeds: str | int | None = None, grid_file: str | Path | None = None
) -> Grid:
    """The grid of `statelab sweep`: the grid file if given, then flags on top, per parameter."""
    base = load_grid(grid_file) if grid_file is not None else Grid()
    axes = dict(base.axes)
    for name, text in flags.items():
        if text is not None:
            axes[name] = parse_values(name, text)
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
    if point.get("task") not in TASK_PARAMS:
        return dict(point)  # an unknown task: let validation name it
    takes = TASK_PARAMS[point["task"]]
    return {k: v for k, v in point.items() if k not in OPTIONAL_TASK_FIELDS or k in takes}


def _point_label(point: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in point.items()) or "the default config"


def expand(grid: Grid) -> list[ExperimentConfig]:
    """Every config of the grid: points in axis order, each with its `seeds` replicates.

    Raises ConfigError naming the parameter, the value and the grid point of the first invalid
    config. Configs equal after validation (1 and 1.0 for a float field) appear once.
    """
    if grid.n_points * grid.seeds > MAX_TRIALS:
        raise ConfigError(f"grid must have at most {MAX_TRIALS} trials, got {grid.n_points * grid.seeds}")
    names = list(grid.axes)
    several_tasks = len(grid.axes.get("task", ())) > 1
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


# ---------------------------------------------------------------------------------------------
# Groups


def _cost(config: ExperimentConfig) -> float:
    """Relative time of one trial: optimiser steps x window length. Orders the work queue."""
    rows = config.task.input_len or 1000  # a real series' length is known only once loaded
    steps = int(rows * config.task.train_fraction) // config.train.batch_size * config.train.epochs
    return steps * config.task.lahead * config.model.layers


def plan_groups(
    configs: Sequence[ExperimentConfig], max_group: int = MAX_GROUP
) -> list[list[ExperimentConfig]]:
    """Cut configs into groups that each train as one compiled program.

    A group holds configs of one `shape_key`, sorted by config hash, in near-equal chunks of at
    most `max_group` (65 trials -> 33 + 32). The result depends only on the set of configs.
    Largest groups first, so workers finish together.
    """
    from statelab.train import shape_key  # JAX; not needed to check a grid

    shapes: dict[tuple, list[ExperimentConfig]] = defaultdict(list)
    for config in configs:
        shapes[shape_key(config)].append(config)
    groups = []
    for members in shapes.values():
        members = sorted(members, key=config_hash)
        n_chunks = math.ceil(len(members) / max_group)
        size = math.ceil(len(members) / n_chunks)
        groups.extend(members[i : i + size] for i in range(0, len(members), size))
    return sorted(groups, key=lambda g: (-_cost(g[0]) * len(g), config_hash(g[0])))


# ---------------------------------------------------------------------------------------------
# One group, wherever it runs

# on_epoch(fraction of the group's epochs done), from the thread training the group
GroupProgress = Callable[[float], None]


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def failure_record(config: ExperimentConfig, exc: BaseException, timings: dict | None = None) -> TrialRecord:
    """The row of a trial that raised: its error text instead of metrics."""
    return TrialRecord(
        config_hash=config_hash(config),
        config=config.to_dict(),
        status="error",
        metrics=None,
        error=f"{type(exc).__name__}: {exc}",
        traceback="".join(traceback.format_exception(exc)),
        timings=timings or {},
        statelab_version=__version__,
        worker=_worker_name(),
        finished_at=utc_now(),
    )


def run_group(
    configs: list[ExperimentConfig],
    on_epoch: GroupProgress | None = None,
    cache_dir: str | None = None,
) -> list[TrialRecord]:
    """Train and evaluate a group of same-shape trials; one record per config, in order.

    Runs in the client process or on a Dask worker and never raises for a trial's own failure:
    a trial whose data or evaluation fails gets an error record; if training the group raises,
    its trials are retried one by one so that only the failing ones are recorded as failed.
    `cache_dir`: a compilation cache for this process (Dask workers: the client passes its own).
    """
    from statelab import experiment, train  # JAX; imported where the work happens

    if cache_dir is not None:
        train.enable_compilation_cache(cache_dir)

    records: dict[str, TrialRecord] = {}
    ready = []  # (config, dataset, data seconds)
    for config in configs:
        t0 = time.perf_counter()
        try:
            ready.append((config, experiment.prepare(config), time.perf_counter() - t0))
        except Exception as exc:
            records[config_hash(config)] = failure_record(config, exc)
    if ready:
        callback = None
        if on_epoch is not None:
            epochs = ready[0][0].train.epochs

            def callback(epoch: int, *losses: Any) -> None:
                on_epoch((epoch + 1) / epochs)

        t0 = time.perf_counter()
        try:
            fits = train.fit_trials([c for c, _, _ in ready], [d for _, d, _ in ready], callback)
        except Exception as exc:
            if len(ready) == 1:
                records[config_hash(ready[0][0])] = failure_record(ready[0][0], exc)
            else:
                for config, _, _ in ready:
                    records[config_hash(config)] = run_group([config])[0]
        else:
            group_s = time.perf_counter() - t0
            for (config, dataset, data_s), fit in zip(ready, fits):
                timings = {
                    "data_s": data_s,
                    "train_s": group_s / len(ready),
                    "group_train_s": group_s,
                    "group_size": len(ready),
                }
                records[config_hash(config)] = _evaluate(config, dataset, fit, timings)
    return [records[config_hash(c)] for c in configs]


def _evaluate(config: ExperimentConfig, dataset: Any, fit: Any, timings: dict) -> TrialRecord:
    from statelab import experiment

    t0 = time.perf_counter()
    try:
        metrics = experiment.evaluate_fit(config, dataset, fit).metrics_dict()
    except Exception as exc:
        return failure_record(config, exc, timings)
    return TrialRecord(
        config_hash=config_hash(config),
        config=config.to_dict(),
        status="ok",
        metrics=metrics,
        error=None,
        traceback=None,
        timings={**timings, "evaluate_s": time.perf_counter() - t0},
        statelab_version=__version__,
        worker=_worker_name(),
        finished_at=utc_now(),
    )


# ---------------------------------------------------------------------------------------------
# Executors: where groups run. Each yields (group index, records) as groups finish.

GroupFn = Callable[..., list[TrialRecord]]


class Executor(Protocol):
    description: str

    def run(
        self, groups: list[list[ExperimentConfig]], on_epoch: Callable[[int, float], None] | None
    ) -> Iterator[tuple[int, list[TrialRecord]]]: ...


def default_threads() -> int:
    """Cores this process may use, at most 8. Groups of different shapes run side by side:
    XLA runs each tiny program on one core, and JAX releases the GIL while it does."""
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1))


@dataclass
class InProcess:
    """Groups run in this process, `threads` at a time (1: in the calling thread)."""

    threads: int = field(default_factory=default_threads)
    group_fn: GroupFn = run_group

    @property
    def description(self) -> str:
        return f"in-process, {self.threads} thread{'s' * (self.threads > 1)}"

    def run(self, groups, on_epoch=None):
        def task(i: int) -> list[TrialRecord]:
            progress = None if on_epoch is None else (lambda f, i=i: on_epoch(i, f))
            return self.group_fn(groups[i], progress)

        if self.threads <= 1:
            for i in range(len(groups)):
                yield i, task(i)
            return
        pool = ThreadPoolExecutor(self.threads, thread_name_prefix="statelab-group")
        try:
            pending: dict[Future, int] = {pool.submit(task, i): i for i in range(len(groups))}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield pending.pop(future), future.result()  # run_group does not raise
        finally:
            # On Ctrl-C or an error in the consumer: drop queued groups; running ones finish.
            pool.shutdown(wait=False, cancel_futures=True)


@dataclass
class OnDask:
    """Groups run as tasks on a Dask cluster; results come back to this (the client) process.

    A worker that dies mid-task has its task rerun elsewhere by the scheduler (up to
    `distributed.scheduler.allowed-failures` times, 3 by default); a task that still cannot
    finish is recorded as failed for each of its trials.
    """

    client: Any  # distributed.Client
    group_fn: GroupFn = run_group
    cache_dir: str | None = None  # a compilation cache path valid on the workers' machine

    @property
    def description(self) -> str:
        workers = self.client.scheduler_info().get("workers", {})
        return f"Dask at {self.client.scheduler.address}, {len(workers)} workers"

    def run(self, groups, on_epoch=None):
        from distributed import as_completed

        futures = {
            self.client.submit(
                self.group_fn, group, key=f"statelab-group-{config_hash(group[0])[:16]}-{i}"
            ): i
            for i, group in enumerate(groups)
        }
        try:
            for future in as_completed(futures):
                i = futures[future]
                try:
                    records = future.result()
                except Exception as exc:  # infrastructure: KilledWorker, unpicklable, no statelab
                    records = [failure_record(c, exc) for c in groups[i]]
                yield i, records
        finally:
            self.client.cancel(list(futures))


@contextmanager
def open_executor(
    workers: int | str | None = None,
    scheduler: str | None = None,
    threads: int | None = None,
    cache_dir: str | Path | None = None,
) -> Iterator[Executor]:
    """In-process by default; a local Dask cluster of `workers` processes; or a running cluster.

    `cache_dir` turns on JAX's compilation cache in this process and on local workers (not on a
    remote cluster, whose machines need not see this path).
    """
    if workers is not None and scheduler is not None:
        raise ConfigError(f"workers must not be given together with --scheduler, got {workers!r}")
    if workers is not None:
        workers = positive_int("workers", workers)
    if scheduler is None and workers is None:
        if cache_dir is not None:
            from statelab.train import enable_compilation_cache

            enable_compilation_cache(cache_dir)
        yield InProcess() if threads is None else InProcess(threads)
        return
    import logging

    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=SCHEDULER_TIMEOUT)
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigError(
                f"scheduler must be the address of a running Dask scheduler, got {scheduler!r} ({exc})"
            ) from None
        with client:
            yield OnDask(client)
        return
    # One thread per worker: JAX already runs a group on one core, and worker processes
    # rather than threads keep a dying worker from taking the client down.
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",  # a free port: the HTTP server always starts; 8787 may be taken
        silence_logs=logging.ERROR,
    )
    with cluster, Client(cluster) as client:
        yield OnDask(client, cache_dir=None if cache_dir is None else str(cache_dir))


# ---------------------------------------------------------------------------------------------
# The sweep

# progress(completed trials, fractional while groups train; finished trials; failed trials)
SweepProgress = Callable[[float, int, int], None]


@dataclass(frozen=True)
class SweepOutcome:
    total: int  # trials in the grid
    skipped: int  # already in the store
    ran: int
    failed: int
    groups: int
    shapes: int
    wall_s: float
    failures: list[TrialRecord] = field(default_factory=list)


@dataclass
class _Tracker:
    """Turns per-epoch and per-group news from any thread into one progress figure."""

    sizes: list[int]
    callback: SweepProgress | None
    finished: int = 0
    failed: int = 0
    partial: dict[int, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def epoch(self, group: int, fraction: float) -> None:
        with self.lock:
            self.partial[group] = fraction
            self._emit()

    def group_done(self, group: int, records: list[TrialRecord]) -> None:
        with self.lock:
            self.partial.pop(group, None)
            self.finished += len(records)
            self.failed += sum(not r.ok for r in records)
            self._emit()

    def _emit(self) -> None:
        if self.callback is not None:
            # A group's last epoch is not the end (evaluation follows): cap it just below done.
            running = sum(0.95 * f * self.sizes[g] for g, f in self.partial.items())
            self.callback(self.finished + running, self.finished, self.failed)


def pending_configs(configs: Sequence[ExperimentConfig], store: Store) -> list[ExperimentConfig]:
    done = store.done()
    return [c for c in configs if config_hash(c) not in done]


def run_sweep(
    configs: Sequence[ExperimentConfig],
    store: Store,
    executor: Executor,
    progress: SweepProgress | None = None,
    max_group: int = MAX_GROUP,
) -> SweepOutcome:
    """Run every config not yet in the store; commit each trial's record as its group finishes.

    Returns counts; trials that raised are in `failures` (and in the store with their error).
    """
    from statelab.train import shape_key

    t0 = time.perf_counter()
    pending = pending_configs(configs, store)
    groups = plan_groups(pending, max_group) if pending else []
    tracker = _Tracker([len(g) for g in groups], progress)
    failures = []
    for i, records in executor.run(groups, tracker.epoch if progress is not None else None):
        for record in records:
            store.record(record)  # one transaction per trial, written by this process only
        failures.extend(r for r in records if not r.ok)
        tracker.group_done(i, records)
    return SweepOutcome(
        total=len(configs),
        skipped=len(configs) - len(pending),
        ran=len(pending),
        failed=len(failures),
        groups=len(groups),
        shapes=len({shape_key(c) for c in pending}),
        wall_s=time.perf_counter() - t0,
        failures=failures,
    )


def exit_status(failed: int) -> int:
    """0: every trial succeeded. 3..102: 2 + the number of failed trials (102: 100 or more).

    1 stays Python's status for an unexpected error and 2 is bad input, so a script can read
    `status - 2` as the failure count.
    """
    return 0 if failed == 0 else 2 + min(failed, 100)


# ---------------------------------------------------------------------------------------------
# Command-line glue: `statelab sweep` and `statelab report` call these after parsing.


def report_directory(store_path: str | Path, out: str | Path | None) -> Path:
    """`out`, or by default sweep.sqlite -> sweep-report/ beside the store."""
    path = Path(store_path)
    report_dir = path.with_name(f"{path.stem}-report") if out is None else Path(out)
    if report_dir.exists() and not report_dir.is_dir():
        raise ConfigError(f"out must be a directory, got {str(report_dir)!r} (a file)")
    return report_dir


@contextmanager
def terminal_progress(console: Any, total: int) -> Iterator[SweepProgress | None]:
    """A rich progress bar over trials with an ETA; nothing when the console is not a terminal."""
    if not console.is_terminal or total == 0:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (
        TextColumn("trials"),
        BarColumn(bar_width=30),
        TextColumn("{task.fields[done]}/{task.total:.0f}"),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("sweep", total=total, done=0, failed=0)

        def update(completed: float, done: int, failed: int) -> None:
            bar.update(task, completed=completed, done=done, failed=failed)

        yield update


def sweep_command(
    grid: Grid,
    store_path: str | Path,
    out: str | Path | None,
    console: Any,
    err_console: Any,
    workers: int | str | None = None,
    scheduler: str | None = None,
    cache_dir: str | Path | None = None,
) -> int:
    """`statelab sweep`: check the grid, run what is not done, write the report; exit status.

    Every check (grid, store file, cluster) happens before the store is created.
    """
    configs = expand(grid)
    store_path, report_dir = Path(store_path), report_directory(store_path, out)
    if store_path.exists():
        Store.open(store_path).close()  # a file that is not a store is bad input: refuse it now
    with (
        open_executor(workers, scheduler, cache_dir=cache_dir) as executor,
        Store.create(store_path) as store,
    ):
        n_pending = len(pending_configs(configs, store))
        console.print(
            f"{len(configs)} trials ({grid.n_points} grid points x {grid.seeds} seeds), "
            f"{len(configs) - n_pending} already in {store_path}; running {n_pending} "
            f"({executor.description})",
            soft_wrap=True,
        )
        with terminal_progress(err_console, n_pending) as progress:
            outcome = run_sweep(configs, store, executor, progress)
        _print_outcome(console, outcome)
        report = write_store_report(store, report_dir)
    console.print(f"Report: {report}", soft_wrap=True)
    return exit_status(outcome.failed)


def _print_outcome(console: Any, outcome: SweepOutcome) -> None:
    per_trial = outcome.wall_s / outcome.ran * 1000 if outcome.ran else 0.0
    console.print(
        f"Ran {outcome.ran} trials in {outcome.wall_s:.1f} s ({per_trial:.0f} ms per trial, "
        f"{outcome.groups} groups, {outcome.shapes} compiled shapes); skipped {outcome.skipped}; "
        f"failed {outcome.failed}.",
        soft_wrap=True,
    )
    for record in outcome.failures[:10]:
        console.print(
            f"  failed {record.config_hash[:12]}: {record.error}", style="red", markup=False, soft_wrap=True
        )
    if outcome.failed > 10:
        console.print(f"  ... and {outcome.failed - 10} more (see the store or the report)")


def write_store_report(store: Store, out: Path) -> Path:
    from statelab.report.sweep import write_report

    return write_report(store.records(), out, source=str(store.path))


def report_command(store_path: str | Path, out: str | Path | None, console: Any) -> int:
    """`statelab report STORE`: redraw heatmaps, table, CSV and HTML from the store alone."""
    report_dir = report_directory(store_path, out)
    with Store.open(store_path) as store:
        report = write_store_report(store, report_dir)
    console.print(f"Report: {report}", soft_wrap=True)
    return 0
