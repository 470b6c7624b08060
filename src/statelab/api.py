"""statelab from Python: the functions `import statelab` exports.

    statelab.run_experiment(config)        one run, both models -> ExperimentResult
    statelab.save_run(result, out)         its run directory, as `statelab run` writes it
    statelab.sweep(grid, seeds, store)     a grid of runs into a store -> results DataFrame
    statelab.load_results(store, where)    a store's trials -> results DataFrame
    statelab.load_history(store, where)    a store's per-epoch losses -> tidy DataFrame
    statelab.doctor(result_or_run_dir)     candidate fixes of a failed run, trained -> DataFrame

Each function imports its machinery when it is called: `import statelab` (which the command line
does too) loads neither JAX (about half a second) nor pandas, and the types stay visible to type
checkers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from statelab.config import ExperimentConfig
from statelab.params import ConfigError, check_callable, check_count, check_flag

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from statelab.batching import Dataset
    from statelab.executors import Executor
    from statelab.result import EpochLogs, ExperimentResult
    from statelab.store import Store
    from statelab.sweeps import SweepProgress


def run_experiment(
    config: ExperimentConfig | Mapping[str, Any],
    *,
    dataset: Dataset | None = None,
    on_epoch: EpochLogs | None = None,
    out: str | Path | None = None,
    cache: bool = True,
) -> ExperimentResult:
    """Train a stateful and a stateless model on one config and evaluate both on the test rows.

    Every argument but `config` is a keyword: `run_experiment(config, on_epoch=show)`.

    Args:
        config: an ExperimentConfig, or a mapping of parameters, flat (`{"tsteps": 3}`) or in
            sections (`{"task": {...}, "model": {...}, "train": {...}}`), as a config file;
            NumPy scalars are taken for numbers. Unset parameters keep their defaults.
        dataset: the prepared data of `config` (`experiment.prepare`), if already at hand.
        on_epoch: called after every epoch as `on_epoch(epoch, logs)`, epoch counted from 0 as
            Keras' callbacks count it (and as `result.history` does), logs = {"stateful": {"loss",
            "val_loss", "val_nmse"}, "stateless": {...}} (floats; loss: the epoch's mean training
            loss; val_loss: MSE on the scored test rows).
        out: if given, the run directory is written there as `statelab run` writes it (new or
            empty; checked before training).
        cache: keep compiled programs in the per-user compilation cache (see statelab.cache).

    Returns:
        ExperimentResult: metrics, verdicts, per-epoch losses ((E,) arrays) and the test
        predictions ((N,) arrays) of both models.

    Raises:
        ConfigError: a parameter breaks its rule (the message names it, the rule and the value).
    """
    from statelab import experiment

    return experiment.run_experiment(config, dataset, on_epoch, out, cache=cache)


def save_run(result: ExperimentResult, out: str | Path | None = None, root: str | Path = "runs") -> Path:
    """Write a result's run directory exactly as `statelab run` does: config.json, metrics.json,
    history.csv, predictions.csv, timings.json, models/, the figures and report.html, appearing
    all at once.

    Args:
        result: what `run_experiment` returned.
        out: the directory, new or empty; by default `root/<UTC time>-<short config hash>/`.
        root: where the default directory goes.

    Returns:
        The directory written.

    Raises:
        ConfigError: `out` is not a new or empty directory, or cannot be written.
    """
    from statelab import experiment
    from statelab.result import ExperimentResult

    if not isinstance(result, ExperimentResult):
        raise ConfigError(f"result must be an ExperimentResult, got {type(result).__name__}")
    return experiment.save_run(result, out, root)


def sweep(
    grid: Mapping[str, Any] | str | Path | None = None,
    seeds: int | np.integer[Any] | None = None,
    store: str | Path = "sweep.sqlite",
    workers: int | np.integer[Any] | None = None,
    *,
    scheduler: str | None = None,
    executor: Executor | str | None = None,
    progress: bool | SweepProgress = True,
    cache: bool = True,
    report: str | Path | None = None,
) -> pd.DataFrame:
    """Train both models on every config of a grid, times `seeds` replicates, into a store.

    Runs as `statelab sweep` does: the same trials in the same shape groups, committed to the
    same SQLite store one by one, and a rerun skips every trial already stored without error (an
    interrupted sweep resumes where it stopped).

    Args:
        grid: {parameter: values}, flat or in [task]/[model]/[train] sections. Values are lists,
            tuples, ranges or NumPy arrays of values; a scalar fixes the parameter; a string is
            read in command-line syntax ("1:6"); a list-valued parameter (ar_coefs, features)
            takes a list of lists. Or the path of a TOML/JSON grid file. None: the default config.
        seeds: replicates per grid point; replicate r adds r to `seed` and to `model_seed`
            (default: the grid's `seeds` key, else 1).
        store: the SQLite store (created if missing).
        workers: run on a local Dask cluster of this many worker processes (the same as
            executor="local:N").
        scheduler: run on a running Dask cluster at this address (the same as
            executor="dask://host:port").
        executor: where the trials run: an `statelab.executors.Executor`, or its spec, "inline"
            (the default: in this process, one thread per core), "inline:N", "local:N" or
            "dask://host:port"; at most one of workers, scheduler and executor.
        progress: show a bar over the trials (in a notebook, or on a terminal); False for none;
            or a callable `progress(completed, done, failed)` to receive the progress yourself.
        cache: keep compiled programs in the per-user compilation cache (see statelab.cache).
        report: if given, also write the sweep report (heatmaps, CSV, report.html) there.

    Returns:
        The results DataFrame of this grid's trials, one row per trial in grid order (points in
        axis order, each with its replicates), failed trials included (status "error"); the
        columns are those of `load_results`. `frame.attrs["sweep"]` holds what this call did:
        {"total", "ran", "skipped", "failed", "wall_s"}.

    Raises:
        ConfigError: an unknown parameter, a value of the wrong type, or a grid point that is not
            a valid config (the message names the parameter and the point), before anything is
            trained or written; also a file at `store` that is not a statelab store.

    A trial that fails is recorded with its error and the sweep goes on; a RuntimeWarning then
    says how many failed.
    """
    from statelab import display, sweeps
    from statelab import grid as grids
    from statelab.cache import compilation_cache
    from statelab.executors import from_flags
    from statelab.frames import results_frame
    from statelab.identity import config_hash
    from statelab.report.output import check_report_dir

    if grid is None or isinstance(grid, Mapping):
        the_grid = grids.grid_from_mapping(grid or {}, 1 if seeds is None else seeds)
    elif isinstance(grid, (str, Path)):
        the_grid = grids.load_grid(grid, "grid")
        if seeds is not None:
            the_grid = dataclasses.replace(the_grid, seeds=grids.parse_seeds(seeds))
    else:
        raise ConfigError(f"grid must be a mapping of parameters to values or a grid file, got {grid!r}")
    where = from_flags(executor, None if workers is None else check_count("workers", workers), scheduler)
    if not isinstance(progress, bool):
        check_callable("progress", progress, 3)
    report_dir = None if report is None else check_report_dir(report, "report")
    configs = grids.expand(the_grid)
    hashes = [config_hash(c) for c in configs]
    cache_dir = compilation_cache(check_flag("cache", cache))
    with sweeps.open_sweep(store, where, cache_dir, configs=configs) as (opened, runner):
        pending = len(sweeps.pending_configs(configs, opened))
        if callable(progress):
            outcome = sweeps.run_sweep(configs, opened, runner, progress)
        else:
            with display.sweep_progress(pending, progress) as bar:
                outcome = sweeps.run_sweep(configs, opened, runner, bar)
        records = {r.config_hash: r for r in opened.records()}
        if report_dir is not None:
            from statelab.report.sweep import write_report

            write_report(list(records.values()), report_dir, source=str(opened.path))
    frame = results_frame([records[h] for h in hashes])
    frame.attrs["sweep"] = {
        "total": outcome.total,
        "ran": outcome.ran,
        "skipped": outcome.skipped,
        "failed": outcome.failed,
        "wall_s": outcome.wall_s,
    }
    if outcome.failed:
        first = outcome.failures[0]
        warnings.warn(
            f"{outcome.failed} of {outcome.ran} trials failed (first: {first.error}); their rows have "
            "status 'error' and the error text",
            RuntimeWarning,
            stacklevel=2,
        )
    return frame


def load_results(store: Store | str | Path, where: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Every trial of a sweep store as one flat row of a DataFrame, in grid order.

    Args:
        store: a Store, or the path of a store written by `statelab sweep` or `statelab.sweep`.
        where: keep only the trials whose config fields match: {field: value} or {field: [values]}
            (values as in a grid), e.g. {"cell": "gru", "lahead": 1}.

    Returns:
        A DataFrame indexed by `trial` (the trial's place in the store's grid order) with columns
        config_hash, status, every config field, per model (stateful_, stateless_) test_mse,
        test_nmse, test_mse_all, test_nmse_all, warmup_excluded, floor_mse, floor_nmse,
        converged, expected_converged, final_train_loss, final_val_loss, diverged, expected,
        expected_reason, realised_floor_nmse, floor_low, floor_high, at_floor, diagnosis, span,
        profile_error and capacity (the total state capacity), the baselines (last_value_mse,
        last_value_nmse, linear_ar_mse, linear_ar_nmse), var_y, claim_held, n_train, n_test,
        dropped_train_rows, the timings (data_s, train_s, evaluate_s, group_train_s, group_size),
        error, statelab_version,
        worker and finished_at. Each column has its own dtype whatever the rows (the README's
        table of columns): categorical choice fields and status, nullable Int64, Float64 and
        boolean numbers, string text, a UTC timestamp; ar_coefs, features and peers hold tuples. A
        failed trial's metrics are <NA>.

    Raises:
        ConfigError: `store` is not a statelab store, or `where` names an unknown config field,
            a value of the wrong type or one no config can hold (naming the allowed values). A
            value a config can hold that no trial has gives an empty frame.
    """
    from statelab import frames

    return frames.load_results(store, where)


def load_history(store: Store | str | Path, where: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Every trial's per-epoch losses as a tidy DataFrame: one row per trial, model and epoch.

    Args:
        store: a Store, or the path of a sweep store.
        where: keep only the matching trials, as in `load_results`.

    Returns:
        A DataFrame with columns trial (as the index of `load_results`), config_hash, model
        ("stateful" or "stateless"), epoch (counted from 0, as Keras counts epochs), train_loss
        (the epoch's mean training loss), val_loss (MSE on the scored test rows after the epoch)
        and val_nmse (val_loss / var_y; the last epoch's is the trial's test_nmse). Trials in grid
        order, then model and epoch. A store written when epochs counted from 1 is read counted
        from 0.

    Raises:
        ConfigError: as `load_results`.
    """
    from statelab import frames

    return frames.load_history(store, where)


def doctor(
    run: ExperimentResult | str | Path,
    *,
    seeds: int = 3,
    store: str | Path | None = None,
    executor: Executor | str | None = None,
    progress: bool | SweepProgress = True,
    cache: bool = True,
) -> pd.DataFrame:
    """Find, by experiment, a change that makes a failed run converge (what `statelab doctor` does).

    The run's diagnosis (`result.models[m].diagnosis`) names what went wrong; the doctor trains
    the candidate changes (a longer bptt, more epochs, a smaller learning rate, other model seeds)
    side by side, each with `seeds` model seeds (the run's own first), and judges them.

    Args:
        run: an ExperimentResult, or a run directory written by `statelab run`.
        seeds: model seeds each change is tried with.
        store: where the trials go (default: the run directory's doctor.sqlite, so a rerun resumes;
            a temporary store for a result in memory).
        executor: where they train, as for `sweep`.
        progress: a bar over the trials (True), none (False), or a callable
            `progress(completed, done, failed)`.
        cache: keep compiled programs in the per-user compilation cache.

    Returns:
        One row per candidate, indexed by its flags ("--bptt 2"): reason, cost (training time
        relative to the run's), per treated model `<m>_converged` (seeds that converged),
        `<m>_nmse` (the run's own seed) and its median, min and max over seeds, `fixes` (converged
        on every seed), `recommended` and `command` (the line to paste). `frame.attrs["command"]`
        is the recommended command, or None when no change fixed it. Empty when nothing needs
        fixing.

    Raises:
        ConfigError: `run` is not a result or a run directory, or an argument breaks its rule.
    """
    from statelab import display, doctors
    from statelab.cache import compilation_cache

    cache_dir = compilation_cache(check_flag("cache", cache))
    if not isinstance(progress, bool):
        check_callable("progress", progress, 3)
    show = progress if callable(progress) else None
    bars: list[Any] = []
    with contextlib.ExitStack() as stack:

        def on_plan(candidates: list[Any], pending: int) -> None:
            if show is None:
                bars.append(stack.enter_context(display.sweep_progress(pending, bool(progress))))

        def forward(completed: float, done: int, failed: int) -> None:
            target = show or (bars[0] if bars else None)
            if target is not None:
                target(completed, done, failed)

        report = doctors.doctor(
            run,
            seeds=seeds,
            store=store,
            executor=executor,
            cache_dir=cache_dir,
            on_plan=on_plan,
            progress=forward,
        )
    return report.frame()
