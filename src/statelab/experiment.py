"""One experiment from config to a typed result, and the run directory it is saved in.

    config --prepare--> Dataset --fit--> FitResult --evaluate--> ExperimentResult --save--> run dir

A run directory holds `config.json`, `metrics.json` (the stable interface; see README),
`history.csv`, `predictions.csv`, `timings.json` and `models/` (trained parameters); `report.py`
adds the figures and `report.html` from those files.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from statelab import __version__, evaluate, tasks, train
from statelab.batching import Dataset, make_dataset
from statelab.config import CONVERGED_NMSE, ConfigError, ExperimentConfig, config_hash
from statelab.evaluate import BaselineMetrics, ModelMetrics
from statelab.predict import save_models

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ExperimentResult:
    """Everything a run produced, in plain arrays and numbers."""

    config: ExperimentConfig
    var_y: float  # the target's variance: analytic (synthetic) or of the test targets (real)
    floors: tasks.Floors | None  # None for a real series
    models: dict[str, ModelMetrics]  # "stateful", "stateless"
    baselines: dict[str, BaselineMetrics]  # "last_value", "linear_ar"
    claim_held: bool | None
    train_loss: dict[str, np.ndarray]  # (epochs,) per model: mean loss over the epoch's batches
    val_loss: dict[str, np.ndarray]  # (epochs,) per model: test MSE after each epoch
    test_row: np.ndarray  # (N,) index of each scored test row in the windowed series
    test_target: np.ndarray  # (N,) float64
    test_pred: dict[str, np.ndarray]  # (N,) float32 per model
    n_train: int
    dropped: int  # training rows that did not fill a batch
    params: dict[str, dict] = field(repr=False)  # trained parameters per model
    timings: dict[str, float] = field(default_factory=dict)

    def metrics_dict(self) -> dict:
        """The content of metrics.json. Bit-identical for the same config on the same machine."""
        return {
            "schema_version": SCHEMA_VERSION,
            "statelab_version": __version__,
            "config_hash": config_hash(self.config),
            "var_y": self.var_y,
            "threshold_nmse": CONVERGED_NMSE,
            "n_train": self.n_train,
            "n_test": len(self.test_target),
            "dropped_train_rows": self.dropped,
            "models": {name: m.to_dict() for name, m in self.models.items()},
            "baselines": {name: b.to_dict() for name, b in self.baselines.items()},
            "claim_held": self.claim_held,
        }


def prepare(config: ExperimentConfig) -> Dataset:
    """Generate (or load) the task's series and lay it out in training and test batches.

    A real series' length is known only now: the rules that depend on it are checked here,
    before anything is trained or written.
    """
    series = tasks.generate(config.task)
    config.check_rows(series.n_rows)
    dataset = make_dataset(series, config)
    test_target = dataset.target[dataset.test.row[dataset.test.scored]]
    if not config.task.synthetic and not np.var(test_target) > 0:
        raise ConfigError(f"data must vary over its {len(test_target)} test rows, got a constant target")
    return dataset


def run_experiment(
    config: ExperimentConfig,
    dataset: Dataset | None = None,
    on_epoch: train.EpochCallback | None = None,
) -> ExperimentResult:
    """Train the stateful and the stateless model on the task and evaluate both on the test rows."""
    t0 = time.perf_counter()
    dataset = prepare(config) if dataset is None else dataset
    t1 = time.perf_counter()
    fitted = train.fit(config, dataset, on_epoch)
    t2 = time.perf_counter()
    result = evaluate_fit(config, dataset, fitted)
    timings = {"data_s": t1 - t0, "train_s": t2 - t1, "evaluate_s": time.perf_counter() - t2}
    return dataclasses.replace(result, timings=timings)


def evaluate_fit(config: ExperimentConfig, dataset: Dataset, fitted: train.FitResult) -> ExperimentResult:
    """Metrics of both models against the analytic floors of their kinds."""
    floors = tasks.floors(config.task)
    scored = dataset.test.scored.reshape(-1)  # C order is time order in both layouts
    rows = dataset.test.row.reshape(-1)[scored]
    target = dataset.target[rows]
    var_y = float(np.var(target)) if floors is None else floors.var_y
    reset = config.train.test_start == "reset"
    models, preds = {}, {}
    for i, name in enumerate(train.MODELS):
        preds[name] = fitted.test_pred[i].reshape(-1)[scored]
        # A reset stateful model has no history for the first test rows; keep at least one row.
        warmup = min(tasks.warmup(config.task), len(target) - 1) if name == "stateful" and reset else 0
        models[name] = evaluate.model_metrics(
            preds[name],
            target,
            floor_mse=evaluate.floor_of(name, floors),
            var_y=var_y,
            warmup=warmup,
            final_train_loss=fitted.train_loss[i, -1],
            final_val_loss=fitted.test_loss[i, -1],
        )
    newest_first = config.train.window_order == "newest-first"
    return ExperimentResult(
        config=config,
        var_y=var_y,
        floors=floors,
        models=models,
        baselines=evaluate.baselines(
            dataset.windows, dataset.target, dataset.n_train, rows, var_y, newest_first
        ),
        claim_held=evaluate.claim_held(models),
        train_loss={name: fitted.train_loss[i] for i, name in enumerate(train.MODELS)},
        val_loss={name: fitted.test_loss[i] for i, name in enumerate(train.MODELS)},
        test_row=rows,
        test_target=target,
        test_pred=preds,
        n_train=dataset.n_train,
        dropped=dataset.dropped,
        params=dict(zip(train.MODELS, fitted.params)),
    )


# ---------------------------------------------------------------------------------------------
# The run directory


def default_run_dir(config: ExperimentConfig, root: str | Path = "runs") -> Path:
    """runs/<UTC time>-<short config hash>/"""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return Path(root) / f"{stamp}-{config_hash(config)[:8]}"


def write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def save_result(result: ExperimentResult, directory: Path) -> None:
    """Write config.json, metrics.json, timings.json, history.csv, predictions.csv, models/."""
    write_json(directory / "config.json", result.config.to_dict())
    write_json(directory / "metrics.json", result.metrics_dict())
    write_json(directory / "timings.json", result.timings)
    with open(directory / "history.csv", "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["model", "epoch", "train_loss", "val_loss"])
        for name in result.models:
            for epoch, (tl, vl) in enumerate(zip(result.train_loss[name], result.val_loss[name]), 1):
                out.writerow([name, epoch, repr(float(tl)), repr(float(vl))])
    with open(directory / "predictions.csv", "w", newline="") as fh:
        out = csv.writer(fh)
        names = list(result.models)
        out.writerow(["row", "target", *(f"pred_{n}" for n in names)])
        for j, row in enumerate(result.test_row):
            preds = (repr(float(result.test_pred[n][j])) for n in names)
            out.writerow([int(row), repr(float(result.test_target[j])), *preds])
    save_models(result.params, result.config, directory / "models")


class RunDirectory:
    """Write a run into a hidden temporary sibling and rename it into place only when complete.

    Whatever fails in between (training, plotting, a full disk, Ctrl-C) leaves no half-written
    run directory behind, and no parent directories that this run created.
    """

    def __init__(self, final: Path):
        self.final = Path(final)
        self.tmp = self.final.parent / f".{self.final.name}.partial"
        self.created: list[Path] = []  # parents made for this run, deepest first

    def __enter__(self) -> Path:
        parent = self.final.parent.absolute()
        while not parent.exists():
            self.created.append(parent)
            parent = parent.parent
        try:
            self.final.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp.mkdir()
        except OSError as exc:
            self._remove_parents()
            reason = exc.strerror or type(exc).__name__
            raise ConfigError(
                f"out must be a writable directory, got {str(self.final)!r} ({reason})"
            ) from None
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.tmp.rename(self.final)
            return
        shutil.rmtree(self.tmp, ignore_errors=True)
        self._remove_parents()

    def _remove_parents(self) -> None:
        for path in self.created:
            try:
                path.rmdir()
            except OSError:
                break
