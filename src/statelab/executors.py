"""Where a sweep's groups run, as one value: `Executor.parse("inline")`, `"local:2"`, `"dask://host:8786"`.

An executor is a frozen value (it compares, hashes, pickles and prints as its spec) that is checked
when it is made, so a bad one is one error before anything runs. `open()` starts what it needs
(nothing, a local cluster, a connection) and yields a `Runner`: `runner.run(groups, on_epoch)`
yields `(group index, records)` as groups finish. A runner never writes the store (the sweep's
client does). The kinds, by the scheme of their spec:

    inline[:THREADS]           in this process, THREADS groups at a time (default: one per core)
    local:N                    a local Dask cluster of N worker processes, started for the sweep
    dask://HOST:PORT           a running Dask cluster (tcp://HOST:PORT too); ?timeout=S bounds
                               how long to wait for its scheduler (default 15 s)

A new kind is one subclass with a `scheme` and `from_spec`, `open` and `spec`: defining it makes
`Executor.parse` (and so `--executor`, `statelab.sweep(executor=...)`, the lab) know it. A Ray
executor, say, would be `class OnRay(Executor): scheme = "ray"` in a module of its own.
"""

from __future__ import annotations

import os
import urllib.parse
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from statelab.config import ConfigError, ExperimentConfig
from statelab.identity import config_hash
from statelab.params import check_count, check_float
from statelab.resources import available_memory
from statelab.store import TrialRecord
from statelab.trials import failure_record, run_group

SCHEDULER_TIMEOUT = 15.0  # seconds to reach a scheduler before it counts as bad input (--scheduler-timeout)
MAX_SCHEDULER_TIMEOUT = 3600.0
MAX_THREADS = 64
# A local worker is a Python process with JAX loaded: about 400 MB before it trains anything.
WORKER_BYTES = 400 * 2**20
WORKERS_PER_CORE = 4  # beyond this, workers only wait for a core and cost memory
DEFAULT = "inline"

GroupFn = Callable[..., list[TrialRecord]]
EpochFn = Callable[[int, float], None]  # on_epoch(group index, fraction of its epochs done)
GroupResults = Iterator[tuple[int, list[TrialRecord]]]  # (group index, its records) as groups finish
Status = Callable[[str], None]  # what takes time before the first trial: connecting, starting workers


class Runner(Protocol):
    """An executor once open: it runs groups of same-shape trials and yields their records."""

    @property
    def description(self) -> str: ...

    def run(self, groups: list[list[ExperimentConfig]], on_epoch: EpochFn | None) -> GroupResults: ...


class Executor(ABC):
    """Where a sweep runs. Subclasses are frozen dataclasses with a `scheme`; see the module."""

    scheme: ClassVar[str] = ""
    kinds: ClassVar[dict[str, type[Executor]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.scheme:
            Executor.kinds[cls.scheme] = cls

    @classmethod
    def parse(cls, spec: Executor | str | None, name: str = "executor") -> Executor:
        """An executor from its spec (an Executor is returned as it is; None: the default,
        inline). ConfigError naming `name`, the kinds and the value for anything else."""
        if spec is None:
            spec = DEFAULT
        if isinstance(spec, Executor):
            return spec
        rule = "one of " + ", ".join(sorted(f"{k}{Executor.kinds[k].syntax}" for k in Executor.kinds))
        if not isinstance(spec, str) or not spec.strip():
            raise ConfigError(f"{name} must be {rule}, got {spec!r}")
        text = spec.strip()
        scheme, sep, rest = text.partition("://")
        if not sep:
            scheme, _, rest = text.partition(":")
        kind = Executor.kinds.get(scheme)
        if kind is None:
            raise ConfigError(f"{name} must be {rule}, got {spec!r}")
        return kind.from_spec(rest, name)

    syntax: ClassVar[str] = ""  # what follows the scheme, for messages: ":N", "://HOST:PORT"

    @classmethod
    @abstractmethod
    def from_spec(cls, rest: str, name: str) -> Executor:
        """The executor of this kind from what follows its scheme; ConfigError if it is not one."""

    @abstractmethod
    def open(self, cache_dir: str | Path | None = None, on_status: Status | None = None) -> Any:
        """A context manager yielding a `Runner`; starts and stops what the executor needs.
        `cache_dir` turns the compilation cache on wherever the groups compile, where that is
        this machine."""

    @property
    @abstractmethod
    def spec(self) -> str:
        """The text `parse` reads back to an equal executor."""

    def __str__(self) -> str:
        return self.spec


def default_threads() -> int:
    """Cores this process may use, at most 8. Groups of different shapes run side by side:
    XLA runs each tiny program on one core, and JAX releases the GIL while it does."""
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1))


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# ---------------------------------------------------------------------------------------------
# In this process


@dataclass
class InProcess:
    """A runner: groups run in this process, `threads` at a time (1: in the calling thread)."""

    threads: int = field(default_factory=default_threads)
    group_fn: GroupFn = run_group

    @property
    def description(self) -> str:
        return f"in-process, {self.threads} thread{'s' * (self.threads > 1)}"

    def run(self, groups: list[list[ExperimentConfig]], on_epoch: EpochFn | None = None) -> GroupResults:
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


@dataclass(frozen=True)
class Inline(Executor):
    """`inline[:THREADS]`: in this process (the default), one thread per core unless given."""

    threads: int | None = None
    scheme: ClassVar[str] = "inline"
    syntax: ClassVar[str] = "[:THREADS]"

    def __post_init__(self) -> None:
        if self.threads is not None:
            object.__setattr__(self, "threads", _bounded("threads", self.threads, MAX_THREADS))

    @classmethod
    def from_spec(cls, rest: str, name: str) -> Inline:
        if not rest:
            return cls()
        return cls(_bounded(name, rest, MAX_THREADS, f"inline:THREADS with THREADS in [1, {MAX_THREADS}]"))

    @property
    def spec(self) -> str:
        return "inline" if self.threads is None else f"inline:{self.threads}"

    @contextmanager
    def open(self, cache_dir: str | Path | None = None, on_status: Status | None = None) -> Iterator[Runner]:
        if cache_dir is not None:
            from statelab.train import enable_compilation_cache

            enable_compilation_cache(cache_dir)
        yield InProcess() if self.threads is None else InProcess(self.threads)


# ---------------------------------------------------------------------------------------------
# On Dask


@dataclass
class OnDask:
    """A runner: groups run as tasks on a Dask cluster; results come back to this (the client) process.

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

    def run(self, groups: list[list[ExperimentConfig]], on_epoch: EpochFn | None = None) -> GroupResults:
        from distributed import as_completed

        futures = {
            self.client.submit(
                self.group_fn,
                group,
                None,
                self.cache_dir,
                key=f"statelab-group-{config_hash(group[0])[:16]}-{i}",
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


def max_workers(available: int | None = None) -> int:
    """The most local Dask workers this machine can hold: WORKERS_PER_CORE per core, and as many
    as WORKER_BYTES each fit in the memory available now."""
    cores = _cores()
    available = available_memory() if available is None else available
    by_memory = cores * WORKERS_PER_CORE if available is None else available // WORKER_BYTES
    return max(1, min(cores * WORKERS_PER_CORE, by_memory))


def check_workers(workers: int | str, name: str = "workers") -> int:
    """`--workers N`: an integer in [1, max_workers()], or a ConfigError saying what the machine holds."""
    n = check_count(name, workers)
    limit = max_workers()
    if n > limit:
        raise ConfigError(
            f"{name} must be an integer in [1, {limit}] on this machine ({WORKERS_PER_CORE} per core, "
            f"{WORKER_BYTES // 2**20} MB each), got {workers!r}"
        )
    return n


@dataclass(frozen=True)
class LocalDask(Executor):
    """`local:N`: a local Dask cluster of N worker processes, started for the sweep and stopped
    after it. One thread per worker: JAX already runs a group on one core, and worker processes
    rather than threads keep a dying worker from taking the client down."""

    workers: int
    scheme: ClassVar[str] = "local"
    syntax: ClassVar[str] = ":N"

    def __post_init__(self) -> None:
        object.__setattr__(self, "workers", check_workers(self.workers))

    @classmethod
    def from_spec(cls, rest: str, name: str) -> LocalDask:
        if not rest:
            raise ConfigError(f"{name} must be local:N with N worker processes, got 'local:'")
        return cls(check_workers(rest, name))

    @property
    def spec(self) -> str:
        return f"local:{self.workers}"

    @contextmanager
    def open(self, cache_dir: str | Path | None = None, on_status: Status | None = None) -> Iterator[Runner]:
        import logging
        import time

        from distributed import Client, LocalCluster

        status = on_status or (lambda text: None)
        t0 = time.perf_counter()
        status(f"Starting a local Dask cluster of {self.workers} worker processes ...")
        cluster = LocalCluster(
            n_workers=self.workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # a free port: the HTTP server always starts; 8787 may be taken
            silence_logs=logging.ERROR,
        )
        with cluster, Client(cluster) as client:
            status(f"Cluster ready in {time.perf_counter() - t0:.1f} s.")
            yield OnDask(client, cache_dir=None if cache_dir is None else str(cache_dir))


def check_timeout(value: float | str | None, name: str = "scheduler_timeout") -> float:
    """`--scheduler-timeout SECONDS`: a number in (0, MAX_SCHEDULER_TIMEOUT]; default SCHEDULER_TIMEOUT."""
    if value is None:
        return SCHEDULER_TIMEOUT
    number: float | str
    try:
        number = float(value) if isinstance(value, str) else value
    except ValueError:
        number = value
    rule = f"in (0, {MAX_SCHEDULER_TIMEOUT:g}] seconds"
    return check_float(name, number, rule, lambda v: 0 < v <= MAX_SCHEDULER_TIMEOUT)


def meet_scheduler(address: str, timeout: float) -> None:
    """Connect to `address` and close again within `timeout` s; OSError unless a Dask scheduler
    answered. Dask's Client, once connected, waits for the scheduler's handshake without a
    deadline, so a port held by another program (one that never answers, or answers in another
    protocol) would hold a sweep forever: it is met here first, with one."""
    import asyncio

    from distributed.comm import connect

    async def meet() -> None:
        comm = await asyncio.wait_for(connect(address, timeout=timeout), timeout)
        await comm.close()

    with ThreadPoolExecutor(1) as pool:  # an event loop of its own, wherever this is called from
        try:
            pool.submit(asyncio.run, meet()).result()
        except TimeoutError:
            raise OSError(f"no Dask scheduler answered within {timeout:g} s") from None
        except (OSError, ValueError, TypeError):
            raise
        except Exception as exc:  # a garbled answer (its "frame length" can ask for exabytes)
            raise OSError(f"it did not answer as a Dask scheduler ({type(exc).__name__})") from None


@dataclass(frozen=True)
class DaskCluster(Executor):
    """`dask://HOST:PORT` (or `tcp://HOST:PORT`): a running Dask cluster, its scheduler met within
    `timeout` seconds. The compilation cache stays off on its workers, whose machines need not
    see this one's cache path."""

    address: str  # tcp://HOST:PORT, as Dask's client takes it
    timeout: float = SCHEDULER_TIMEOUT
    scheme: ClassVar[str] = "dask"
    syntax: ClassVar[str] = "://HOST:PORT"

    def __post_init__(self) -> None:
        object.__setattr__(self, "timeout", check_timeout(self.timeout))

    @classmethod
    def from_spec(cls, rest: str, name: str) -> DaskCluster:
        where, _, query = rest.partition("?")
        if not where or "/" in where:
            raise ConfigError(f"{name} must be dask://HOST:PORT, got {'dask://' + rest!r}")
        options = urllib.parse.parse_qs(query, keep_blank_values=True)
        unknown = sorted(set(options) - {"timeout"})
        if unknown:
            raise ConfigError(f"{name} must take only ?timeout=SECONDS, got {'dask://' + rest!r}")
        timeout = (
            check_timeout(options["timeout"][-1], "timeout") if "timeout" in options else SCHEDULER_TIMEOUT
        )
        return cls(f"tcp://{where}", timeout)

    @property
    def spec(self) -> str:
        where = self.address.split("://", 1)[-1]
        return f"dask://{where}" + ("" if self.timeout == SCHEDULER_TIMEOUT else f"?timeout={self.timeout:g}")

    @contextmanager
    def open(self, cache_dir: str | Path | None = None, on_status: Status | None = None) -> Iterator[Runner]:
        import time

        from distributed import Client

        status = on_status or (lambda text: None)
        t0 = time.perf_counter()
        status(f"Connecting to the Dask scheduler at {self.address} (waiting up to {self.timeout:g} s) ...")
        try:
            meet_scheduler(self.address, self.timeout)
            client = Client(self.address, timeout=self.timeout)
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigError(
                f"scheduler must be the address of a running Dask scheduler reachable within "
                f"{self.timeout:g} s (--scheduler-timeout), got {self.address!r} ({exc})"
            ) from None
        status(f"Connected in {time.perf_counter() - t0:.1f} s.")
        with client:
            yield OnDask(client)


class _TcpAlias(DaskCluster):
    """`tcp://HOST:PORT`, the address form Dask itself prints: the same as dask://HOST:PORT."""

    scheme: ClassVar[str] = "tcp"
    syntax: ClassVar[str] = "://HOST:PORT"

    @classmethod
    def from_spec(cls, rest: str, name: str) -> DaskCluster:
        return DaskCluster.from_spec(rest, name)


# ---------------------------------------------------------------------------------------------
# From the command line's flags


def _bounded(name: str, value: Any, maximum: int, rule: str | None = None) -> int:
    n = check_count(name, value)
    if n > maximum:
        raise ConfigError(f"{name} must be {rule or f'an integer in [1, {maximum}]'}, got {value!r}")
    return n


def from_flags(
    executor: Executor | str | None = None,
    workers: int | str | None = None,
    scheduler: str | None = None,
    scheduler_timeout: float | str | None = None,
) -> Executor:
    """The executor of `--executor SPEC`, or of the older `--workers N` (local:N) and `--scheduler
    ADDRESS [--scheduler-timeout S]` (dask://...). ConfigError for two of them at once, or a bad
    value of any."""
    given = [
        n
        for n, v in (("executor", executor), ("workers", workers), ("scheduler", scheduler))
        if v is not None
    ]
    if len(given) > 1:
        first, second = given[:2]
        value = {"executor": executor, "workers": workers, "scheduler": scheduler}[first]
        raise ConfigError(f"{first} must not be given together with --{second}, got {value!r}")
    timeout = check_timeout(scheduler_timeout)  # checked even where no scheduler takes it
    if workers is not None:
        return LocalDask(check_workers(workers))
    if scheduler is not None:
        if not isinstance(scheduler, str) or not scheduler.strip():
            raise ConfigError(f"scheduler must be the address of a Dask scheduler, got {scheduler!r}")
        address = scheduler.strip()
        if "://" not in address:
            address = "tcp://" + address
        return DaskCluster(address, timeout)
    parsed = Executor.parse(executor)
    if scheduler_timeout is not None and isinstance(parsed, DaskCluster):
        parsed = DaskCluster(parsed.address, timeout)
    return parsed
