"""Sweeps: a grid of configs, trained in shape groups, wherever an executor runs them, into a store.

One run shows one point; the claim of the experiment is a boundary (stateless models converge
exactly where lahead >= tsteps, stateful ones everywhere), so a sweep trains many configs and
seeds and keeps every result in a SQLite store (`statelab.store`).

    grid (statelab.grid) --expand--> configs --skip done--> pending --plan_groups--> groups
         --run_group (statelab.executors: threads, Dask)--> TrialRecords --this process--> store

Groups. Trials with equal `train.shape_key` and epochs run in one vmapped compiled program
(`train.fit_trials`), so a sweep compiles once per distinct shape, not once per trial. A shape's
trials are sorted by config hash and cut into near-equal chunks of at most `max_group`: the
groups depend only on the pending trials, never on where they run, so in-process and Dask sweeps
compute the same programs on the same data and give bit-identical metrics. (fit_trials is also
bit-identical to training each config alone, losses included, so a resumed sweep, whose groups
differ, agrees too.)

Progress: `run_sweep` reports through one callback, `progress(completed, finished, failed)`, which
the terminal's bar and the web page's live view both consume.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from statelab.config import ConfigError, ExperimentConfig
from statelab.executors import Executor, Runner
from statelab.identity import config_hash
from statelab.params import check_output_path
from statelab.store import Store, TrialRecord

MAX_GROUP = 64  # trials per compiled program: 128 models side by side, still a few MB

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

    A group holds configs of one `shape_key` and one number of epochs, sorted by config hash, in
    near-equal chunks of at most `max_group` (65 trials -> 33 + 32). The result depends only on
    the set of configs. Largest groups first, so workers finish together.

    Trials of different epochs could share a group (`fit_trials` takes each after its own last
    epoch), but every trial of a group costs about the same per epoch (the work is linear in the
    trials: bench/RESULTS.md), so one that stops early would waste the group's remaining epochs.
    """
    from statelab.train import shape_key  # JAX; not needed to check a grid

    shapes: dict[tuple, list[ExperimentConfig]] = defaultdict(list)
    for config in configs:
        shapes[(shape_key(config), config.train.epochs)].append(config)
    groups: list[list[ExperimentConfig]] = []
    for members in shapes.values():
        members = sorted(members, key=config_hash)
        n_chunks = math.ceil(len(members) / max_group)
        size = math.ceil(len(members) / n_chunks)
        groups.extend(members[i : i + size] for i in range(0, len(members), size))
    return sorted(groups, key=lambda g: (-_cost(g[0]) * len(g), config_hash(g[0])))


# ---------------------------------------------------------------------------------------------
# The sweep

# progress(completed trials, fractional while groups train; finished trials; failed trials)
SweepProgress = Callable[[float, int, int], None]


@dataclass(frozen=True)
class SweepOutcome:
    total: int  # trials in the grid
    skipped: int  # already in the store
    ran: int  # trained by this sweep
    failed: int
    groups: int
    shapes: int
    wall_s: float
    failures: list[TrialRecord] = field(default_factory=list)
    by_others: int = 0  # recorded meanwhile by another sweep sharing the store


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

    def elsewhere(self, n: int) -> None:
        """n trials were recorded by another sweep: they count as finished here too."""
        with self.lock:
            self.finished += n
            self._emit()

    def _emit(self) -> None:
        if self.callback is not None:
            # A group's last epoch is not the end (evaluation follows): cap it just below done.
            running = sum(0.95 * f * self.sizes[g] for g, f in self.partial.items())
            self.callback(self.finished + running, self.finished, self.failed)


@contextmanager
def open_sweep(
    store_path: str | Path,
    executor: Executor | str | None = None,
    cache_dir: str | Path | None = None,
    *,
    configs: Sequence[ExperimentConfig] = (),
    on_status: Callable[[str], None] | None = None,
    interrupt: Callable[[], None] | None = None,
) -> Iterator[tuple[Store, Runner]]:
    """The store and the running executor of a sweep, as `statelab sweep`, `statelab.sweep` and the
    lab open them.

    Every check comes first (the executor, `Executor.parse`; then `check_sweep`: the store path,
    a file at it that is not a statelab store this version can write to, what the `configs`
    need; then an unreachable scheduler): each raises ConfigError before a cluster starts or a
    file is written. The store file (and its folder) is created only then. `on_status` hears
    what a cluster start waits for; `interrupt` is called between the checks and the start.
    """
    where = Executor.parse(executor)
    store_path = check_sweep(store_path, configs)
    if interrupt is not None:
        interrupt()
    with where.open(cache_dir, on_status) as runner, Store.create(store_path) as store:
        yield store, runner


def check_sweep(store_path: str | Path, configs: Sequence[ExperimentConfig] = ()) -> Path:
    """Everything a sweep into `store_path` checks before a file is written or a trial trained:
    the path, a file at it that is not a statelab store this version can write to (left as it
    was), and what the `configs` need (`check_configs`: memory, their data files). Every front
    end (`statelab sweep`, `statelab.sweep`, the lab's sweep jobs) goes through it, so bad input is
    one error everywhere. Returns the store's path."""
    store_path = check_output_path("store", store_path, "file")
    if store_path.exists():  # a file that is not a store this version can write to: refuse it now
        with Store.open(store_path) as existing:
            existing.check_writable(opened=False)
    check_configs(configs)
    return store_path


def pending_configs(configs: Sequence[ExperimentConfig], store: Store) -> list[ExperimentConfig]:
    done = store.done()
    return [c for c in configs if config_hash(c) not in done]


WAIT_S = 0.5  # how often a sweep looks whether the trials another sweep holds are finished


def run_sweep(
    configs: Sequence[ExperimentConfig],
    store: Store,
    executor: Runner,
    progress: SweepProgress | None = None,
    max_group: int = MAX_GROUP,
    interrupt: Callable[[], None] | None = None,
) -> SweepOutcome:
    """Run every config not yet in the store; commit each trial's record as its group finishes.

    Trials are claimed in the store before they are trained, so sweeps sharing a store train each
    trial once: this one trains what it claims, waits for what another live sweep holds, and
    retakes the claims of a sweep that died. A trial another sweep recorded meanwhile (even as
    failed) is its result, not retried here; `by_others` counts them.
    interrupt: called between epochs and between groups; it raises to stop the sweep (Ctrl-C).
    Committed trials stay; claims not finished are released.
    Returns counts; trials that raised are in `failures` (and in the store with their error).
    """
    from statelab.store import Claimer, Heartbeat
    from statelab.train import shape_key

    t0 = time.perf_counter()
    store.check_writable()
    hash_of = {c: config_hash(c) for c in configs}  # each trial's identity as this sweep claims it
    position = {hash_of[c]: i for i, c in enumerate(configs)}
    by_hash = {hash_of[c]: c for c in configs}
    pending = pending_configs(configs, store)
    todo = {config_hash(c) for c in pending}
    before = store.attempts(todo)
    claimer = Claimer()
    tracker = _Tracker([], progress)
    check = interrupt or (lambda: None)

    def epochs_of_round(offset: int) -> Callable[[int, float], None]:
        def on_epoch(group: int, fraction: float) -> None:
            check()  # in the thread training the group: it stops there, between two epochs
            tracker.epoch(offset + group, fraction)

        return on_epoch

    failures: list[TrialRecord] = []
    ran = n_groups = by_others = 0
    shapes: set[tuple] = set()
    try:
        with Heartbeat(store.path, claimer):
            while todo:
                check()
                mine, held = store.claim(sorted(todo, key=position.__getitem__), claimer)
                if mine:
                    round_configs = [by_hash[h] for h in sorted(mine, key=position.__getitem__)]
                    groups = plan_groups(round_configs, max_group)
                    offset = len(tracker.sizes)
                    tracker.sizes.extend(len(g) for g in groups)
                    for i, records in executor.run(groups, epochs_of_round(offset)):
                        # After a Ctrl-C a group's records may be its workers' deaths: keep none.
                        check()
                        records = [as_claimed(r, hash_of[c]) for c, r in zip(groups[i], records, strict=True)]
                        for record in records:
                            # one transaction per trial, written by this process only
                            store.record(dataclasses.replace(record, position=position[record.config_hash]))
                        failures.extend(r for r in records if not r.ok)
                        tracker.group_done(offset + i, records)
                    todo -= mine
                    ran += len(mine)
                    n_groups += len(groups)
                    shapes |= {shape_key(c) for c in round_configs}
                elif held:
                    time.sleep(WAIT_S)  # every trial left is being trained by another sweep
                now = store.attempts(todo)
                settled = {h for h in todo if now[h] != before[h]}
                todo -= settled
                by_others += len(settled)
                if settled:
                    tracker.elsewhere(len(settled))
    finally:
        store.release(claimer)
    return SweepOutcome(
        total=len(configs),
        skipped=len(configs) - len(pending),
        ran=ran,
        failed=len(failures),
        groups=n_groups,
        shapes=len(shapes),
        wall_s=time.perf_counter() - t0,
        failures=failures,
        by_others=by_others,
    )


CHANGED_DATA = "data must stay as it was while a sweep trains on it, got a file that changed during the trial"


def as_claimed(record: TrialRecord, claimed: str) -> TrialRecord:
    """`record` under the identity its trial was claimed with. A trial whose data file changed
    while it trained has another hash now (it includes the file's content), and which content it
    read is unknown: it is recorded as failed, under its claimed identity, and a rerun trains it
    on the file as it is then."""
    if record.config_hash == claimed:
        return record
    return dataclasses.replace(
        record,
        config_hash=claimed,
        status="error",
        metrics=None,
        error=f"ConfigError: {CHANGED_DATA}",
        traceback="",
        history=None,
    )


def check_configs(configs: Sequence[ExperimentConfig], max_group: int = MAX_GROUP) -> None:
    """What a sweep checks before anything runs or is written, so that bad input is one error:

    - memory: each shape's largest group must fit (`resources.check_memory`);
    - data: each distinct shape of a real series is loaded once (`experiment.prepare`), so a
      missing or unreadable file, a missing column or a series too short for the config is
      refused now, not recorded as a failed trial for every seed.

    ConfigError names the grid point's parameters."""
    from statelab import experiment
    from statelab.train import shape_key

    shapes: dict[tuple, list[ExperimentConfig]] = defaultdict(list)
    for config in configs:
        shapes[shape_key(config)].append(config)
    for members in shapes.values():
        config = members[0]
        try:
            experiment.check(config, trials=min(len(members), max_group))
        except ConfigError as exc:
            raise ConfigError(f"{exc} (at grid point {_describe(config)})") from None


def _describe(config: ExperimentConfig) -> str:
    """The parameters of a config that differ from the defaults, `name=value, ...`."""
    from statelab.config import flatten

    default = flatten(ExperimentConfig())
    mine = flatten(config)
    shown = [f"{k}={v}" for k, v in mine.items() if v is not None and v != default.get(k)]
    return ", ".join(shown) or "the default config"


def exit_status(failed: int) -> int:
    """0: every trial succeeded. 3..102: 2 + the number of failed trials (102: 100 or more).

    1 stays Python's status for an unexpected error and 2 is bad input, so a script can read
    `status - 2` as the failure count.
    """
    return 0 if failed == 0 else 2 + min(failed, 100)
