"""What one run gives back: the `ExperimentResult` record, its per-epoch history, and how it shows.

Plain data (NumPy arrays and numbers) and no JAX: `import statelab` exports this class without
loading the engine, and a result can be inspected, pickled and saved anywhere. `experiment.py`
makes results; `display.py` draws them in a notebook; `frames.py` turns their history into a
DataFrame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from statelab import __version__
from statelab.config import CONVERGED_NMSE, ExperimentConfig, config_hash

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from statelab.evaluate import BaselineMetrics, ModelMetrics
    from statelab.memory import Memory
    from statelab.tasks import Floors

SCHEMA_VERSION = 2  # of metrics.json

# on_epoch(epoch, logs) after every epoch (epoch counts from 0, as Keras' callbacks do), with
# logs = {"stateful": {"loss": ..., "val_loss": ..., "val_nmse": ...}, "stateless": {...}}:
# loss is the epoch's mean training loss, val_loss the MSE on test_mse's rows after the epoch.
EpochLogs = Callable[[int, dict[str, dict[str, float]]], None]


@dataclass(frozen=True, repr=False)
class ExperimentResult:
    """Everything one run produced (both models), in plain arrays and numbers.

    N is the number of scored test rows (in time order), F the number of input features, E the
    number of epochs, K + 1 the number of lags of a memory profile.

    Attributes:
        config: ExperimentConfig, the run's full configuration.
        var_y: float, the target's variance: analytic (synthetic tasks) or of the test targets.
        floors: Floors | None, the task's analytic optima (None for a real series).
        models: dict[str, ModelMetrics], "stateful" and "stateless": test MSE and normalised MSE
            (NMSE = MSE / var_y), floor, verdicts.
        baselines: dict[str, BaselineMetrics], "last_value" and "linear_ar" on the same rows.
        claim_held: bool | None, whether every model converged exactly where theory says it can
            (None for a real series).
        train_loss: dict[str, ndarray (E,)], per model, the mean training loss of each epoch.
        val_loss: dict[str, ndarray (E,)], per model, the MSE on test_mse's rows after each epoch.
        test_row: ndarray (N,) int, each scored test row's index in the windowed data.
        test_series: ndarray (N,) int, which series each test row belongs to.
        test_input: ndarray (N, F), the newest input of each test row's window.
        test_target: ndarray (N,) float64, the targets.
        test_pred: dict[str, ndarray (N,) float32], per model, its predictions.
        memory: dict[str, Memory], per model, its memory profile (s(k) for k = 0..K).
        task_profile: ndarray (K + 1,), the task's true profile, or a linear reference.
        task_profile_kind: str, "truth" or "linear reference".
        n_train: int, training rows; dropped: int, training rows that did not fill a batch.
        data: dict, how the data were cut (features, target, series, rows).
        params: dict[str, dict], per model, the trained parameters (NumPy arrays).
        timings: dict[str, float], seconds per stage (data_s, train_s, evaluate_s, memory_s).

    In a notebook a result shows its verdict, result table and test figure (`_repr_html_`);
    `repr()` gives the same numbers as a few lines of text; `history` is a DataFrame.
    """

    config: ExperimentConfig
    var_y: float
    floors: Floors | None
    models: dict[str, ModelMetrics]
    baselines: dict[str, BaselineMetrics]
    claim_held: bool | None
    train_loss: dict[str, np.ndarray]
    val_loss: dict[str, np.ndarray]
    test_row: np.ndarray
    test_series: np.ndarray
    test_input: np.ndarray
    test_target: np.ndarray
    test_pred: dict[str, np.ndarray]
    memory: dict[str, Memory]
    task_profile: np.ndarray
    task_profile_kind: str
    n_train: int
    dropped: int
    data: dict[str, Any]
    params: dict[str, dict[str, Any]]
    timings: dict[str, float] = field(default_factory=dict)

    def save(self, out: str | Path | None = None, root: str | Path = "runs") -> Path:
        """Write the run directory exactly as `statelab run` does (see `experiment.save_run`).

        Args:
            out: the directory, new or empty; by default `root/<UTC time>-<short config hash>/`.
            root: where the default directory goes.

        Returns:
            The directory written. ConfigError if `out` is not new or empty.
        """
        from statelab.experiment import save_run

        return save_run(self, out, root)

    @property
    def history(self) -> pd.DataFrame:
        """The per-epoch losses as a tidy DataFrame: one row per model and epoch, with columns
        model, epoch (from 1), train_loss, val_loss and val_nmse (val_loss / var_y) — the columns
        `statelab.load_history` gives for each trial of a sweep."""
        from statelab.frames import run_history

        return run_history(self)

    def metrics_dict(self) -> dict[str, Any]:
        """The content of metrics.json. Bit-identical for the same config on the same machine."""
        models = {}
        for name, m in self.models.items():
            models[name] = {**m.to_dict(), "memory": self.memory[name].to_dict()}
        return {
            "schema_version": SCHEMA_VERSION,
            "statelab_version": __version__,
            "config_hash": config_hash(self.config),
            "var_y": self.var_y,
            "threshold_nmse": CONVERGED_NMSE,
            "n_train": self.n_train,
            "n_test": len(self.test_target),
            "dropped_train_rows": self.dropped,
            "models": models,
            "baselines": {name: b.to_dict() for name, b in self.baselines.items()},
            "claim_held": self.claim_held,
            "task_profile": [float(v) for v in self.task_profile],
            "task_profile_kind": self.task_profile_kind,
            "data": self.data,
        }

    def __repr__(self) -> str:
        from statelab.display import result_text

        return result_text(self)

    def _repr_html_(self) -> str:
        from statelab.display import result_html

        return result_html(self)


def history_rows(result: ExperimentResult) -> list[dict[str, Any]]:
    """One row per model and epoch: train_loss, val_loss, and val_nmse (val_loss / var(y))."""
    return [
        {
            "model": name,
            "epoch": epoch,
            "train_loss": float(tl),
            "val_loss": float(vl),
            "val_nmse": float(vl) / result.var_y,
        }
        for name in result.models
        for epoch, (tl, vl) in enumerate(zip(result.train_loss[name], result.val_loss[name]), 1)
    ]
