"""One group of same-shape trials, trained and evaluated together: the worker side of a sweep.

`run_group` is what an executor runs wherever it runs (this process, a Dask worker): it prepares
each trial's data, trains the group as one compiled program (`train.fit_trials`), evaluates each
trial and returns one `TrialRecord` per trial. It never raises for a trial's own failure: such a
trial gets an error record, and the group goes on. It never writes the store either: the sweep's
client does (`statelab.sweeps`).
"""

from __future__ import annotations

import json
import os
import socket
import time
import traceback
from collections.abc import Callable
from typing import Any

from statelab.config import ExperimentConfig
from statelab.identity import config_hash
from statelab.result import history_rows
from statelab.store import TrialRecord, utc_now
from statelab.version import __version__

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

    # By place in the group, not by hash: a hash reads the data file, which may change meanwhile.
    records: list[TrialRecord | None] = [None] * len(configs)
    ready = []  # (place, config, dataset, data seconds)
    for i, config in enumerate(configs):
        t0 = time.perf_counter()
        try:
            ready.append((i, config, experiment.prepare(config), time.perf_counter() - t0))
        except Exception as exc:
            records[i] = failure_record(config, exc)
    if ready:
        callback = None
        if on_epoch is not None:
            epochs = max(c.train.epochs for _, c, _, _ in ready)

            def callback(epoch: int, *losses: Any) -> None:
                on_epoch((epoch + 1) / epochs)

        t0 = time.perf_counter()
        try:
            fits = train.fit_trials([c for _, c, _, _ in ready], [d for _, _, d, _ in ready], callback)
        except Exception as exc:
            if len(ready) == 1:
                records[ready[0][0]] = failure_record(ready[0][1], exc)
            else:
                for i, config, _, _ in ready:
                    records[i] = run_group([config])[0]
        else:
            group_s = time.perf_counter() - t0
            for (i, config, dataset, data_s), fit in zip(ready, fits):
                timings = {
                    "data_s": data_s,
                    "train_s": group_s / len(ready),
                    "group_train_s": group_s,
                    "group_size": len(ready),
                }
                records[i] = _evaluate(config, dataset, fit, timings)
    return [r for r in records if r is not None]


def _evaluate(config: ExperimentConfig, dataset: Any, fit: Any, timings: dict) -> TrialRecord:
    from statelab import experiment

    t0 = time.perf_counter()
    try:
        result = experiment.evaluate_fit(config, dataset, fit)
        metrics = result.metrics_dict()
        history = history_rows(result)
        json.dumps(metrics, allow_nan=False)  # strict JSON, or the trial fails here, not in the store
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
        history=history,
    )
