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

from statelab import dynamics, evaluate, memory, peers, rundir, theory, train
from statelab.batching import Dataset, layout_of, make_dataset
from statelab.cache import compilation_cache
from statelab.config import ConfigError, ExperimentConfig, from_mapping
from statelab.diagnosis import diagnose
from statelab.host import release_memory
from statelab.identity import file_sha256
from statelab.metrics import BaselineMetrics, PeerMetrics
from statelab.names import BASELINE_LABELS, MODELS
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
    config.check_rows([s.split_rows for s in data.series], [s.name for s in data.series])
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
    """var(y): the analytic variance of a synthetic task's target, or that of the test targets in
    the data's units (the denominator of every NMSE of a real series)."""
    floors = config.task.record.floors(config.task)
    if floors is not None:
        return floors.var_y
    return float(np.var(dataset.data_target(dataset.test.row[dataset.test.scored])))


def validation_variance(config: ExperimentConfig, dataset: Dataset) -> float:
    """The denominator of the history's val_nmse: var(y) of a synthetic task, or the variance of
    the validation targets on the scale the networks train on (a real series' val_loss is the
    MSE of its transformed, standardised target)."""
    floors = config.task.record.floors(config.task)
    if floors is not None:
        return floors.var_y
    val = dataset.validation
    return float(np.var(dataset.target[val.row[val.scored]]))


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
    callback = None if on_epoch is None else epoch_logs(validation_variance(config, dataset), on_epoch)
    fitted = train.fit(config, dataset, callback)
    release_memory()
    t2 = time.perf_counter()
    result = evaluate_fit(config, dataset, fitted)
    release_memory()
    t3 = time.perf_counter()
    peers_s = result.timings.get("peers_s", 0.0)
    timings = {
        "data_s": dataset.prepare_s,
        "train_s": t2 - t1,
        "evaluate_s": t3 - t2 - result.timings["memory_s"] - peers_s,
        "memory_s": result.timings["memory_s"],
    } | ({"peers_s": peers_s} if "peers_s" in result.timings else {})
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
        before = np.bincount(dataset.series[dataset.before_test], minlength=len(dataset.names))
        out["series"] = [
            {"name": name, "rows": int(r), "train": int(t), "test": int(r - k)}
            | ({"validation": int(k - t)} if dataset.separate_validation else {})
            for name, r, t, k in zip(dataset.names, rows, train_rows, before)
        ]
        out["notes"] = dict(dataset.notes)
    if dataset.scaling is not None:
        out["scaling"] = {name: {"mean": m, "scale": s} for name, (m, s) in dataset.scaling.items()}
    if dataset.levels is not None:
        out["transform"] = dataset.levels.transform.name
        out["time"] = dataset.levels.time_name
        cut = time_cut(dataset)
        if cut:
            out["cut"] = cut
    return out


def time_cut(dataset: Dataset) -> dict[str, list[str]]:
    """Where the split falls in the file's time: {"train" | "validation" | "test": [the earliest,
    the latest target time of its rows over every series]}, as text; empty without a time column."""
    levels = dataset.levels
    if levels is None or levels.times is None:
        return {}
    parts = {"train": dataset.train_rows, "test": ~dataset.before_test}
    if dataset.separate_validation and dataset.val_rows is not None:
        parts = {"train": dataset.train_rows, "validation": dataset.val_rows, "test": ~dataset.before_test}
    out = {}
    for label, mask in parts.items():
        rows = np.flatnonzero(mask)
        if len(rows):
            times = levels.time(dataset.series[rows], dataset.positions(rows))
            assert times is not None
            out[label] = [str(min(times)), str(max(times))]
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


def mase_scales(config: ExperimentConfig, dataset: Dataset) -> np.ndarray:
    """Per series (S,): the in-sample MAE of the seasonal naive forecast over its training part
    (every value the rows before its test part read or predict), at the task's season."""
    levels = dataset.levels
    assert levels is not None
    before = np.bincount(dataset.series[dataset.before_test], minlength=len(dataset.names))
    ends = levels.first + before + levels.horizon  # the training part's last target, + 1
    return evaluate.seasonal_scales(levels.history, levels.starts, ends, config.task.season or 1)


def training_range(dataset: Dataset, rows: np.ndarray) -> dict[str, Any]:
    """The range of the training part's targets (in the data's units), and the share of the test
    targets `rows` outside it: where a model of the levels would have to extrapolate."""
    seen = dataset.data_target(np.flatnonzero(dataset.before_test))
    test = dataset.data_target(rows)
    low, high = float(seen.min()), float(seen.max())
    share = float(np.mean((test < low) | (test > high))) if len(test) else 0.0
    return {"training_range": [low, high], "outside_training_range": share}


def peer_series(dataset: Dataset, rows: np.ndarray) -> list[peers.PeerSeries]:
    """Each series of a real dataset as the peers see it: its values in the data's units, its
    training part (every value before its first test target) and the origins of its test rows
    `rows` (the last position known: the row's own, or the one before for a nowcast)."""
    levels = dataset.levels
    assert levels is not None
    lengths = np.diff(np.append(levels.starts, len(levels.history)))
    before = np.bincount(dataset.series[dataset.before_test], minlength=len(dataset.names))
    row_series, positions = dataset.series[rows], dataset.positions(rows)
    out = []
    for s in np.unique(row_series):
        start = levels.starts[s]
        out.append(
            peers.PeerSeries(
                name=dataset.names[s],
                values=levels.history[start : start + lengths[s]],
                fit_end=int(levels.first + before[s] + levels.horizon),
                origins=positions[row_series == s] - (0 if levels.horizon else 1),
            )
        )
    return out


# The peers' forecasts depend on the data and its cut alone, not on the networks: kept for the
# trials of a sweep (or runs of a session) that share them. {key: (PeerMetrics, pred, seconds)}
_PEER_CACHE: dict[tuple, tuple[PeerMetrics, np.ndarray | None, float]] = {}
PEER_CACHE_SIZE = 32


def _peer_key(config: ExperimentConfig, name: str) -> tuple:
    """What a peer's forecasts depend on: every task parameter but the transform and the peers
    (the peers forecast the series as the file holds it, on rows every transform shares), and a
    data file's content."""
    task = config.task
    fields = tuple((k, v) for k, v in task.fields().items() if k not in ("transform", "peers"))
    return (name, fields, None if task.data is None else file_sha256(task.data))


def peer_results(
    config: ExperimentConfig,
    dataset: Dataset,
    rows: np.ndarray,
    target: np.ndarray,
    var_y: float,
    scales: np.ndarray,
) -> tuple[dict[str, PeerMetrics], dict[str, np.ndarray], float]:
    """Every peer of the config on the test rows `rows`, in the data's units: ({name: metrics},
    {name: predictions (N,)} of those that did not fail, seconds spent fitting them)."""
    names = [n for n in (config.task.peers or ()) if n != "none"]
    metrics, preds, seconds = {}, {}, 0.0
    series: list[peers.PeerSeries] | None = None
    for name in names:
        key = _peer_key(config, name)
        if key not in _PEER_CACHE:
            series = peer_series(dataset, rows) if series is None else series
            t0 = time.perf_counter()
            entry: tuple[PeerMetrics, np.ndarray | None, float]
            try:
                done = peers.forecast(name, series, dataset.levels.horizon, config.task.season or 1)  # type: ignore[union-attr]
            except peers.PeerFailure as exc:
                entry = (PeerMetrics(status="failed", detail=str(exc)), None, time.perf_counter() - t0)
            else:
                error = evaluate.mse(done.pred, target)
                errors = evaluate.data_errors(done.pred, target, dataset.series[rows], scales)
                peer = PeerMetrics(
                    status="ok",
                    detail=done.detail,
                    test_mse=error,
                    test_nmse=error / var_y,
                    **dataclasses.asdict(errors),
                )
                entry = (peer, done.pred, time.perf_counter() - t0)
            while len(_PEER_CACHE) >= PEER_CACHE_SIZE:
                _PEER_CACHE.pop(next(iter(_PEER_CACHE)))
            _PEER_CACHE[key] = entry
        peer, pred, spent = _PEER_CACHE[key]
        metrics[name] = peer
        if pred is not None:
            preds[name] = pred
        seconds += spent
    return metrics, preds, seconds


def real_verdict(
    config: ExperimentConfig,
    forecasts: dict[str, np.ndarray],
    target: np.ndarray,
    series: np.ndarray,
    models: dict[str, Any],
    baselines: dict[str, BaselineMetrics],
    peer_metrics: dict[str, PeerMetrics],
) -> dict[str, Any]:
    """The verdict of a series without a floor: every model, baseline and peer ranked by test MSE;
    each network's skill against the best non-network forecaster (the best "peer": a baseline or
    a classical peer); Diebold-Mariano tests on the same rows of stateful vs stateless and of the
    best network vs the best peer; and the sentence saying what they mean."""
    mses: dict[str, float | None] = {n: m.test_mse for n, m in models.items() if not m.diverged}
    mses |= {n: b.test_mse for n, b in baselines.items()}
    mses |= {n: p.test_mse for n, p in peer_metrics.items() if p.ok}
    order = evaluate.ranking(mses)
    networks = [n for n in order if n in models]
    others = [n for n in order if n not in models]
    best_network = networks[0] if networks else None
    best_peer = others[0] if others else None
    horizon = config.task.horizon or 0

    def test(a: str, b: str) -> dict[str, Any]:
        dm = evaluate.diebold_mariano(forecasts[a] - target, forecasts[b] - target, horizon, series)
        return evaluate.compared(a, b, dm)

    verdict: dict[str, Any] = {
        "ranking": order,
        "best_network": best_network,
        "best_peer": best_peer,
        "skill": {n: evaluate.skill(mses.get(n), mses.get(best_peer or "")) for n in models},
        "memory": test("stateful", "stateless") if len(networks) == len(models) == 2 else None,
        "network_vs_peer": test(best_network, best_peer) if best_network and best_peer else None,
    }
    verdict["text"] = evaluate.real_verdict_text(verdict, BASELINE_LABELS)
    return verdict


def evaluate_fit(config: ExperimentConfig, dataset: Dataset, fitted: train.FitResult) -> ExperimentResult:
    """Metrics of both models against the floors of their kinds (expected, and as the test rows
    show them), what theory expected of each, their memory, and a diagnosis of each miss. A real
    series' predictions and errors are in the data's units, the transform and the
    standardisation undone."""
    floors = config.task.record.floors(config.task)
    test = dataset.test
    order = np.argsort(test.row[test.scored], kind="stable")  # time order within each series
    rows = test.row[test.scored][order]
    target = dataset.data_target(rows)
    var_y = target_variance(config, dataset)
    reset = config.train.test_start == "reset"
    warm = dataset.warm[test.scored][order]
    expected = theory.expectations(config, dataset.n_train)
    real = dataset.levels is not None
    scales = mase_scales(config, dataset) if real else None
    row_series = dataset.series[rows]

    def errors(pred: np.ndarray) -> dict[str, Any]:
        if scales is None:
            return {}
        return dataclasses.asdict(evaluate.data_errors(pred, target, row_series, scales))

    models, preds, memories = {}, {}, {}
    t0 = time.perf_counter()
    k = memory.lags(config)
    reference, kind = memory.true_profile(config, dataset, k)  # (F, K+1)
    profiled = memory.profiled_feature(dataset, reference) if len(reference) > 1 else 0
    truth = reference[profiled]
    by_feature = None
    if len(reference) > 1:
        by_feature = {name: [float(v) for v in reference[f]] for f, name in enumerate(dataset.features)}
    initial = dynamics.initial_params(config, dataset)
    for i, name in enumerate(MODELS):
        stateful = name == "stateful"
        skip = warm if stateful and reset else np.zeros(len(target), bool)
        preds[name] = dataset.in_data_units(fitted.test_pred[i][test.scored][order], rows)
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
        profile = memory.profile(
            fitted.params[i],
            config,
            dataset,
            fitted.test_start[i],
            stateful,
            truth,
            None if by_feature is None else profiled,
        )
        held, reach = dynamics.profile(
            fitted.params[i], initial, config, dataset, fitted.test_start[i], stateful, k, profiled
        )
        memories[name] = dataclasses.replace(profile, capacity=held, gradient_reach=reach)
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
            **errors(preds[name]),
            best_epoch=None if fitted.best_epoch is None else fitted.best_epoch[i],
        )
        release_memory()  # what compiling the profile's pass took
    memory_s = time.perf_counter() - t0
    base_preds = evaluate.baseline_predictions(
        dataset.windows, dataset.target, dataset.last, dataset.before_test, rows
    )
    if real:  # in the data's units: the last value as the file holds it, the AR's transform undone
        base_preds = {
            "last_value": dataset.data_last(rows),
            **{k: dataset.in_data_units(v, rows) for k, v in base_preds.items() if k == "linear_ar"},
        }
    baselines = evaluate.baseline_metrics(base_preds, target, var_y, errors)
    raw = None if dataset.levels is None else dataset.levels.raw_inputs(row_series, dataset.positions(rows))
    if raw is not None:  # a real series' inputs as the file holds them
        newest = raw
    else:
        newest = dataset.windows[rows, -1 if config.train.window_order == "oldest-first" else 0]  # (N, F)
    data = data_summary(dataset)
    peer_metrics, peer_preds, peers_s = None, None, 0.0
    if real and scales is not None:
        data.update(training_range(dataset, rows))
        peer_metrics, peer_preds, peers_s = peer_results(config, dataset, rows, target, var_y, scales)
    verdict = None
    if real:
        forecasts = (
            {n: preds[n] for n, m in models.items() if not m.diverged} | base_preds | (peer_preds or {})
        )
        verdict = real_verdict(config, forecasts, target, row_series, models, baselines, peer_metrics or {})
        ranks = {name: i + 1 for i, name in enumerate(verdict["ranking"])}
        models = {
            n: dataclasses.replace(m, rank=ranks.get(n), skill=verdict["skill"].get(n))
            for n, m in models.items()
        }
        baselines = {n: dataclasses.replace(b, rank=ranks.get(n)) for n, b in baselines.items()}
        peer_metrics = {n: dataclasses.replace(p, rank=ranks.get(n)) for n, p in (peer_metrics or {}).items()}
    return ExperimentResult(
        config=config,
        var_y=var_y,
        floors=floors,
        models=models,
        baselines=baselines,
        claim_held=theory.claim_held(
            {n: m.expected for n, m in models.items()},
            {n: bool(m.converged) for n, m in models.items()},
            {n: m.diverged for n, m in models.items()},
        ),
        realised_floors=realised_floors(config, dataset, rows, target),
        train_loss={name: fitted.train_loss[i] for i, name in enumerate(MODELS)},
        val_loss={name: fitted.val_loss[i] for i, name in enumerate(MODELS)},
        test_row=rows,
        test_series=row_series,
        test_input=newest,
        test_target=target,
        test_pred=preds,
        memory=memories,
        task_profile=truth,
        task_profile_kind=kind,
        task_profile_by_feature=by_feature,
        n_train=dataset.n_train,
        dropped=dataset.dropped,
        data=data,
        params=dict(zip(MODELS, fitted.params)),
        timings={"memory_s": memory_s} | ({"peers_s": peers_s} if real else {}),
        peers=peer_metrics,
        peer_pred=peer_preds,
        verdict=verdict,
        val_var_y=validation_variance(config, dataset) if real else None,
        test_time=None if not real else dataset.levels.time(row_series, dataset.positions(rows)),  # type: ignore[union-attr]
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
