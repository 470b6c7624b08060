"""Where a sweep's groups run: in this process, on a local Dask cluster, or on a running one.

An executor takes the planned groups and yields `(group index, records)` as groups finish; it
never writes the store (the sweep's client does). `open_executor` picks one from the command
line's `--workers` / `--scheduler`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from statelab.config import ConfigError, ExperimentConfig, config_hash
from statelab.params import check_count
from statelab.store import TrialRecord
from statelab.sweeps import failure_record, run_group

SCHEDULER_TIMEOUT = 15.0  # seconds to reach a --scheduler before it counts as bad input (--scheduler-timeout)
MAX_SCHEDULER_TIMEOUT = 3600.0
# A local worker is a Python process with JAX loaded: about 400 MB before it trains anything.
WORKER_BYTES = 400 * 2**20
WORKERS_PER_CORE = 4  # beyond this, workers only wait for a core and cost memory

GroupFn = Callable[..., list[TrialRecord]]
EpochFn = Callable[[int, float], None]  # on_epoch(group index, fraction of its epochs done)
GroupResults = Iterator[tuple[int, list[TrialRecord]]]  # (group index, its records) as groups finish


class Executor(Protocol):
    @property
    def description(self) -> str: ...

    def run(self, groups: list[list[ExperimentConfig]], on_epoch: EpochFn | None) -> GroupResults: ...


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
    from statelab.config import available_memory

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    available = available_memory() if available is None else available
    by_memory = cores * WORKERS_PER_CORE if available is None else available // WORKER_BYTES
    return max(1, min(cores * WORKERS_PER_CORE, by_memory))


def check_workers(workers: int | str) -> int:
    """`--workers N`: an integer in [1, max_workers()], or a ConfigError saying what the machine holds."""
    n = check_count("workers", workers)
    limit = max_workers()
    if n > limit:
        raise ConfigError(
            f"workers must be an integer in [1, {limit}] on this machine ({WORKERS_PER_CORE} per core, "
            f"{WORKER_BYTES // 2**20} MB each), got {workers!r}"
        )
    return n


def check_timeout(value: float | str | None) -> float:
    """`--scheduler-timeout SECONDS`: a number in (0, MAX_SCHEDULER_TIMEOUT]; default SCHEDULER_TIMEOUT."""
    from statelab.params import check_float

    if value is None:
        return SCHEDULER_TIMEOUT
    number: float | str
    try:
        number = float(value) if isinstance(value, str) else value
    except ValueError:
        number = value
    rule = f"in (0, {MAX_SCHEDULER_TIMEOUT:g}] seconds"
    return check_float("scheduler_timeout", number, rule, lambda v: 0 < v <= MAX_SCHEDULER_TIMEOUT)


def meet_scheduler(address: str, timeout: float) -> None:
    """Connect to `address` and close again within `timeout` s; OSError unless a Dask scheduler
    answered. Dask's Client, once connected, waits for the scheduler's handshake without a
    deadline, so a port held by another program (one that never answers, or answers in another
    protocol) would hold a sweep forever: it is met here first, with one."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

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


def check_cluster(
    workers: int | str | None, scheduler: str | None, scheduler_timeout: float | str | None
) -> tuple[int | None, float]:
    """Where a sweep runs, checked: (local workers or None, seconds to wait for `scheduler`).
    ConfigError for workers and a scheduler together, or for a bad value of either."""
    if workers is not None and scheduler is not None:
        raise ConfigError(f"workers must not be given together with --scheduler, got {workers!r}")
    return (None if workers is None else check_workers(workers)), check_timeout(scheduler_timeout)


@contextmanager
def open_executor(
    workers: int | str | None = None,
    scheduler: str | None = None,
    threads: int | None = None,
    cache_dir: str | Path | None = None,
    scheduler_timeout: float | str | None = None,
    on_status: Callable[[str], None] | None = None,
) -> Iterator[Executor]:
    """In-process by default; a local Dask cluster of `workers` processes; or a running cluster.

    `cache_dir` turns on JAX's compilation cache in this process and on local workers (not on a
    remote cluster, whose machines need not see this path). `scheduler_timeout`: seconds to wait
    for `scheduler`. `on_status(text)` hears what takes time before the first trial: connecting,
    starting workers.
    """
    status = on_status or (lambda text: None)
    workers, timeout = check_cluster(workers, scheduler, scheduler_timeout)
    if scheduler is None and workers is None:
        if cache_dir is not None:
            from statelab.train import enable_compilation_cache

            enable_compilation_cache(cache_dir)
        yield InProcess() if threads is None else InProcess(threads)
        return
    import logging
    import time

    from distributed import Client, LocalCluster

    t0 = time.perf_counter()
    if scheduler is not None:
        status(f"Connecting to the Dask scheduler at {scheduler} (waiting up to {timeout:g} s) ...")
        try:
            meet_scheduler(scheduler, timeout)
            client = Client(scheduler, timeout=timeout)
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigError(
                f"scheduler must be the address of a running Dask scheduler reachable within "
                f"{timeout:g} s (--scheduler-timeout), got {scheduler!r} ({exc})"
            ) from None
        status(f"Connected in {time.perf_counter() - t0:.1f} s.")
        with client:
            yield OnDask(client)
        return
    # One thread per worker: JAX already runs a group on one core, and worker processes
    # rather than threads keep a dying worker from taking the client down.
    status(f"Starting a local Dask cluster of {workers} worker processes ...")
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",  # a free port: the HTTP server always starts; 8787 may be taken
        silence_logs=logging.ERROR,
    )
    with cluster, Client(cluster) as client:
        status(f"Cluster ready in {time.perf_counter() - t0:.1f} s.")
        yield OnDask(client, cache_dir=None if cache_dir is None else str(cache_dir))
