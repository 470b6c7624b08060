"""What one run gives back: the `ExperimentResult` record, its per-epoch history, and its text.

A plain value: NumPy arrays and numbers, no JAX, and nothing above it imported. `import statelab`
exports this class without loading the engine, and a result can be inspected, pickled and passed
anywhere. Others take it: `statelab.experiment` makes it, `statelab.rundir` saves it
(`statelab.save_run`), `statelab.display` shows it in a notebook, `statelab.report` draws it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from statelab.config import ExperimentConfig
from statelab.identity import config_hash
from statelab.metrics import BaselineMetrics, Memory, ModelMetrics
from statelab.names import BASELINE_LABELS, HISTORY_COLUMNS
from statelab.theory import CONVERGED_NMSE, RealisedFloor, threshold_text
from statelab.version import __version__

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from statelab.tasks import Floors

SCHEMA_VERSION = 3  # of metrics.json (3: expected outcomes, realised floors, diagnoses)
# The dtypes of a history frame (`ExperimentResult.history`, `statelab.load_history`).
HISTORY_DTYPES = {"epoch": "int64"} | dict.fromkeys(HISTORY_COLUMNS[2:], "float64")

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

    `repr()` gives its verdict and result table as a few lines of text (in a notebook, with the
    test figure: `statelab.display`); `history` is a DataFrame.
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
    # the floors as the scored test rows show them: "windowed" and "unbounded" (None: a real series)
    realised_floors: dict[str, RealisedFloor] | None = None

    @property
    def history(self) -> pd.DataFrame:
        """The per-epoch losses as a tidy DataFrame: one row per model and epoch, with columns
        model, epoch (from 1), train_loss, val_loss and val_nmse (val_loss / var_y) — the columns
        `statelab.load_history` gives for each trial of a sweep."""
        import pandas as pd

        frame = pd.DataFrame.from_records(history_rows(self), columns=list(HISTORY_COLUMNS))
        return frame.astype(HISTORY_DTYPES)

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
            "realised_floors": None
            if self.realised_floors is None
            else {kind: f.to_dict() for kind, f in self.realised_floors.items()},
            "task_profile": [float(v) for v in self.task_profile],
            "task_profile_kind": self.task_profile_kind,
            "data": self.data,
        }

    def __repr__(self) -> str:
        return result_text(self)


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


# ---------------------------------------------------------------------------------------------
# Its text


def _number(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _yes_no(value: bool | None) -> str:
    return "n/a" if value is None else "yes" if value else "no"


def outcome_line(result: ExperimentResult) -> str:
    """Whether the outcome theory predicts held, in a few words."""
    if result.floors is None:
        return "no analytic floor (a real series): compare with the baselines"
    if result.claim_held is None:
        return "no outcome promised or ruled out by theory"
    return "expected outcome held" if result.claim_held else "expected outcome did NOT hold"


def setup_line(result: ExperimentResult) -> str:
    """'moving-average tsteps=2 lahead=1; 1 x LSTM(20); 10 epochs, batch 1; config 3f2a9c1e'."""
    task, model, train = result.config.task, result.config.model, result.config.train
    axis = task.record.x_axis
    target = f" {axis}={getattr(task, axis)}" if axis else ""
    return (
        f"{task.task}{target} lahead={task.lahead}; {model.layers} x {model.cell.upper()}({model.units}); "
        f"{train.epochs} epochs, batch {train.batch_size}"
    )


RESULT_COLUMNS = ("model", "test MSE", "NMSE", "floor NMSE", "converged", "expected")


def result_rows(
    result: ExperimentResult, baseline_labels: dict[str, str] | None = None
) -> list[tuple[str, ...]]:
    """The result table's rows as text, models then baselines (`RESULT_COLUMNS`): what the
    terminal, a result's repr and its notebook HTML all show."""
    labels = baseline_labels or BASELINE_LABELS
    rows: list[tuple[str, ...]] = [
        (
            name,
            "diverged" if m.diverged else _number(m.test_mse, ".4e"),
            _number(m.test_nmse, ".4f"),
            _number(m.floor_nmse, ".4f"),
            _yes_no(m.converged),
            m.expected or "n/a",
        )
        for name, m in result.models.items()
    ]
    rows += [
        (labels.get(name, name), f"{b.test_mse:.4e}", f"{b.test_nmse:.4f}", "", "", "")
        for name, b in result.baselines.items()
    ]
    return rows


def result_text(result: ExperimentResult) -> str:
    """The repr of a result: a handful of lines, every number a researcher looks at first."""
    rows = [RESULT_COLUMNS, *result_rows(result)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    table = [
        "  "
        + "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))
        )
        for row in rows
    ]
    threshold = threshold_text(result.floors)
    return "\n".join(
        [
            f"<ExperimentResult {setup_line(result)}: {outcome_line(result)}",
            *(line.rstrip() for line in table),
            f"  NMSE = MSE / var(y), var(y) = {result.var_y:.4e}; converged: NMSE < {threshold}>",
        ]
    )
