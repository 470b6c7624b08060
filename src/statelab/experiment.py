"""One experiment from config to a typed result, and its run directory written and drawn.

    config --prepare--> Dataset --fit--> FitResult --evaluate--> ExperimentResult --save_run--> run dir

The run directory's files are `statelab.rundir`'s; `statelab.report.run` draws the figures and
`report.html` from them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from statelab import evaluate, memory, rundir, theory, train
from statelab.batching import Dataset, layout_of, make_dataset
from statelab.cache import compilation_cache
from statelab.config import ConfigError, ExperimentConfig, from_mapping
from statelab.diagnosis import diagnose
from statelab.host import release_memory
from statelab.names import MODELS
from statelab.params import check_callable, check_flag, check_output_path
from statelab.resources import check_memory
from statelab.result import EpochLogs, ExperimentResult


def prepare(config: ExperimentConfig) -> Dataset:
    """Generate (or load) the task's series and lay it out in training and test batches.

    A real series' length is known only now: the rules that depend on it are checked here,
    before anything is trained or written, and so is the memory the run needs (`check_memory`).
    """
    if config.task.input_len is not None:
        check_memory(config)  # before a synthetic series is drawn
    start = time.perf_counter()
    data = config.task.record.generate(config.task)
    config.check_rows([s.n_rows for s in data.series], [s.name for s in data.series])
    if config.task.input_len is None:
        check_memory(config, rows=sum(s.n_rows for s in data.series))
    dataset = make_dataset(data, config)
    del data
    release_memory()
    test_target = dataset.target[dataset.test.row[dataset.test.scored]]
    if not config.task.synthetic and not np.var(test_target) > 0:
        raise ConfigError(f"data must vary over its {len(test_target)} test rows, got a constant target")
    return dataclasses.replace(dataset, prepare_s=time.perf_counter() - start)


def check(config: ExperimentConfig, trials: int = 1) -> None:
    """What `prepare` would refuse, checked without keeping its work: the memory `trials` trials of
    this shape need trained together (`check_memory`), and for a real series its data, read and
    cut (a missing file or column, a series too short) and let go. For a front end that checks
    a request now and trains later (a sweep, the lab)."""
    if config.task.synthetic:
        check_memory(config, trials=trials)
    else:
        prepare(config)


def check_dataset(dataset: Any, config: ExperimentConfig) -> None:
    """ConfigError unless `dataset` is a Dataset laid out for `config` (`prepare(config)`, or that
    of a config with the same task and layout): another one would train and score silently wrong."""
    if not isinstance(dataset, Dataset):
        raise ConfigError(
            f"dataset must be a Dataset made by experiment.prepare(config), got {type(dataset).__name__}"
        )
    mine = layout_of(config)
    for name, value in dataset.layout_params.items():
        if mine.get(name) != value:
            raise ConfigError(
                f"dataset must be prepared for this config (experiment.prepare(config); this config "
                f"has {name}={mine.get(name)!r}), got one prepared for {name}={value!r}"
            )


def epoch_logs(var_y: float, on_epoch: EpochLogs) -> train.EpochCallback:
    """The training loop's callback (arrays over trials and models) as a named-logs callback."""

    def callback(epoch: int, train_loss: np.ndarray, val_loss: np.ndarray) -> None:
        logs = {
            name: {
                "loss": float(train_loss[0, i]),
                "val_loss": float(val_loss[0, i]),
                "val_nmse": float(val_loss[0, i]) / var_y,
            }
            for i, name in enumerate(MODELS)
        }
        on_epoch(epoch, logs)

    return callback


def target_variance(config: ExperimentConfig, dataset: Dataset) -> float:
    """var(y): the analytic variance of a synthetic task's target, or that of the test targets."""
    floors = config.task.record.floors(config.task)
    if floors is not None:
        return floors.var_y
    return float(np.var(dataset.target[dataset.test.row[dataset.test.scored]]))


def run_experiment(
    config: ExperimentConfig | Mapping[str, Any],
    dataset: Dataset | None = None,
    on_epoch: EpochLogs | None = None,
    out: str | Path | None = None,
    *,
    cache: bool = True,
) -> ExperimentResult:
    """Train the stateful and the stateless model on the task and evaluate both on the test rows.

    The library's engine; `statelab.run_experiment` documents the arguments. `dataset`: the
    prepared data of `config` (`prepare`, which times itself for timings.json's data_s), if the
    caller already has them.
    """
    config = from_mapping(config)
    check_callable("on_epoch", on_epoch, 2)
    if out is not None:
        rundir.check_run_dir(out)  # before training: a bad `out` costs nothing and writes nothing
    if dataset is not None:
        check_dataset(dataset, config)
    directory = compilation_cache(check_flag("cache", cache))
    if directory is not None:
        train.enable_compilation_cache(directory)
    dataset = prepare(config) if dataset is None else dataset
    t1 = time.perf_counter()
    callback = None if on_epoch is None else epoch_logs(target_variance(config, dataset), on_epoch)
    fitted = train.fit(config, dataset, callback)
    release_memory()
    t2 = time.perf_counter()
    result = evaluate_fit(config, dataset, fitted)
    release_memory()
    t3 = time.perf_counter()
    timings = {
        "data_s": dataset.prepare_s,
        "train_s": t2 - t1,
        "evaluate_s": t3 - t2 - result.timings["memory_s"],
        "memory_s": result.timings["memory_s"],
    }
    result = dataclasses.replace(result, timings=timings)
    if out is not None:
        save_run(result, out)
    return result


def data_summary(dataset: Dataset) -> dict[str, Any]:
    """How the data were cut: features, target, lanes and their fill, and for a file or a real
    series, per series its rows, training and test rows, how the file was read (rows read,
    dropped, interpolated) and the standardisation of every column."""
    out: dict[str, Any] = {
        "features": list(dataset.features),
        "target": dataset.target_name,
        "fill": dataset.fill,
        "test_fill": dataset.test_fill,
        "lanes": int(dataset.train.shape[1]),
        "test_lanes": int(dataset.test.shape[1]),
    }
    if dataset.scaling is not None or len(dataset.names) > 1 or dataset.notes:
        rows = np.bincount(dataset.series, minlength=len(dataset.names))
        train_rows = np.bincount(dataset.series[dataset.train_rows], minlength=len(dataset.names))
        out["series"] = [
            {"name": name, "rows": int(r), "train": int(t), "test": int(r - t)}
            for name, r, t in zip(dataset.names, rows, train_rows)
        ]
        out["notes"] = dict(dataset.notes)
    if dataset.scaling is not None:
        out["scaling"] = {name: {"mean": m, "scale": s} for name, (m, s) in dataset.scaling.items()}
    return out


def realised_floors(
    config: ExperimentConfig, dataset: Dataset, rows: np.ndarray, target: np.ndarray
) -> dict[str, theory.RealisedFloor] | None:
    """The floors as the test rows `rows` show them: the optimal window-limited predictor's and the
    optimal unbounded-memory predictor's normalised MSE there, each with the 95% interval of a test
    set of that many rows around its expected floor (`theory.realised_floor`). None for a real
    series: nobody knows its optimal predictors."""
    task = config.task
    record = task.record
    floors = record.floors(task)
    best = dataset.best[rows]
    if floors is None or record.optimal is None or not np.all(np.isfinite(best)):
        return None
    windows = dataset.windows if config.train.window_order == "oldest-first" else dataset.windows[:, ::-1]
    window_errors = target - record.optimal(np.asarray(windows[rows, :, 0], np.float64), task)
    width = theory.bandwidth(config)
    return {
        "windowed": theory.realised_floor(window_errors, floors.windowed, floors.var_y, width),
        "unbounded": theory.realised_floor(target - best, floors.unbounded, floors.var_y, width),
    }


def evaluate_fit(config: ExperimentConfig, dataset: Dataset, fitted: train.FitResult) -> ExperimentResult:
    """Metrics of both models against the floors of their kinds (expected, and as the test rows
    show them), what theory expected of each, their memory, and a diagnosis of each miss."""
    floors = config.task.record.floors(config.task)
    test = dataset.test
    order = np.argsort(test.row[test.scored], kind="stable")  # time order within each series
    rows = test.row[test.scored][order]
    target = dataset.target[rows]
    var_y = target_variance(config, dataset)
    reset = config.train.test_start == "reset"
    warm = dataset.warm[test.scored][order]
    expected = theory.expectations(config, dataset.n_train)
    models, preds, memories = {}, {}, {}
    t0 = time.perf_counter()
    k = memory.lags(config)
    truth, kind = memory.true_profile(config, dataset, k)
    for i, name in enumerate(MODELS):
        stateful = name == "stateful"
        skip = warm if stateful and reset else np.zeros(len(target), bool)
        preds[name] = fitted.test_pred[i][test.scored][order]
        # The floors as this model's scored rows show them (a reset stateful model skips its warm-up).
        realised = realised_floors(config, dataset, rows[~skip], target[~skip])
        kind_of = theory.floor_kind(config, name)
        # "Converged": within the threshold of the best predictor's error on the same rows.
        best: float | None = None
        if floors is not None:
            best = theory.best_nmse(floors) if realised is None else realised["unbounded"].realised
        models[name] = evaluate.model_metrics(
            preds[name],
            target,
            floor_mse=theory.floor_of(name, floors, config),
            var_y=var_y,
            warm=skip,
            final_train_loss=fitted.train_loss[i, -1],
            final_val_loss=fitted.val_loss[i, -1],
            best_nmse=best,
            expectation=expected[name],
            realised=None if realised is None else realised[kind_of],
        )
        memories[name] = memory.profile(
            fitted.params[i], config, dataset, fitted.test_start[i], stateful, truth
        )
        models[name] = dataclasses.replace(
            models[name],
            diagnosis=diagnose(
                config,
                name,
                models[name],
                expected[name],
                [float(v) for v in fitted.train_loss[i]],
                memories[name],
                None if realised is None else realised[kind_of],
            ),
        )
        release_memory()  # what compiling the profile's pass took
    memory_s = time.perf_counter() - t0
    newest = dataset.windows[rows, -1 if config.train.window_order == "oldest-first" else 0]  # (N, F)
    return ExperimentResult(
        config=config,
        var_y=var_y,
        floors=floors,
        models=models,
        baselines=evaluate.baselines(
            dataset.windows, dataset.target, dataset.last, dataset.train_rows, rows, var_y
        ),
        claim_held=theory.claim_held(
            {n: m.expected for n, m in models.items()},
            {n: bool(m.converged) for n, m in models.items()},
            {n: m.diverged for n, m in models.items()},
        ),
        realised_floors=realised_floors(config, dataset, rows, target),
        train_loss={name: fitted.train_loss[i] for i, name in enumerate(MODELS)},
        val_loss={name: fitted.val_loss[i] for i, name in enumerate(MODELS)},
        test_row=rows,
        test_series=dataset.series[rows],
        test_input=newest,
        test_target=target,
        test_pred=preds,
        memory=memories,
        task_profile=truth,
        task_profile_kind=kind,
        n_train=dataset.n_train,
        dropped=dataset.dropped,
        data=data_summary(dataset),
        params=dict(zip(MODELS, fitted.params)),
        timings={"memory_s": memory_s},
    )


# ---------------------------------------------------------------------------------------------
# The run directory


def save_run(
    result: ExperimentResult,
    out: str | Path | None = None,
    root: str | Path = "runs",
    before_commit: Callable[[], None] | None = None,
    draw: Callable[[Path], None] | None = None,
) -> Path:
    """Write `result` as a run directory, as `statelab run` does: the files, the models, the
    figures and report.html, all appearing at once (written in a hidden sibling, then renamed).

    out: the directory (new or empty); by default `root/<UTC time>-<short config hash>/`, with
    `-2`, `-3`, ... appended if another run of the same config took that name in the same second.
    before_commit: called just before the rename; if it raises, nothing is left behind.
    draw: what draws the figures and report.html into the written files' directory; by default
    `report.run.write_run_report` (the command line hands it to `report.worker.ReportWorker`).
    Returns the directory."""
    if draw is None:
        from statelab.report.run import write_run_report

        draw = write_run_report

    default = out is None
    if out is None:
        # taken already: the rename picks out-2, ...
        out = check_output_path("out", rundir.default_run_dir(result.config, root), "directory")
    else:
        out = rundir.check_run_dir(out)
    run_dir = rundir.RunDirectory(out, unique=default, before_commit=before_commit)
    with run_dir as tmp:
        rundir.save_result(result, tmp)
        release_memory()
        draw(tmp)
    return run_dir.final
