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
from statelab.data import input_columns
from statelab.identity import config_hash
from statelab.metrics import BaselineMetrics, Memory, ModelMetrics, PeerMetrics, json_numbers
from statelab.names import BASELINE_LABELS, FIRST_EPOCH, HISTORY_COLUMNS
from statelab.theory import CONVERGED_NMSE, RealisedFloor, threshold_text
from statelab.version import __version__

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from statelab.tasks import Floors

# of metrics.json: 3 added expected outcomes, realised floors and diagnoses; 4 counts the epochs
# of history.csv from 0 (before: from 1)
SCHEMA_VERSION = 4
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
        memory: dict[str, Memory], per model, its memory profile (s(k) for k = 0..K), what its
            state holds (capacity r2(k)) and its gradient reach g(k), over the same lags.
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
    # A real series: the denominator of the history's val_nmse (the variance of the validation
    # targets on the networks' scale; None: var_y), and each test row's time in the file's units
    val_var_y: float | None = None
    test_time: np.ndarray | None = None
    # A real series: the classical peers on the same test rows (statelab.peers), failed ones too,
    # and the predictions (N,) of those that did not fail
    peers: dict[str, PeerMetrics] | None = None
    peer_pred: dict[str, np.ndarray] | None = None
    # A real series: every model, baseline and peer ranked, each network's skill against the best
    # non-network forecaster, Diebold-Mariano tests and the sentence (experiment.real_verdict)
    verdict: dict[str, Any] | None = None
    # Several input features: the reference profile of each ({feature: (K+1,)}), of which
    # task_profile is the one the summary numbers are taken against
    task_profile_by_feature: dict[str, list[float]] | None = None

    @property
    def history(self) -> pd.DataFrame:
        """The per-epoch losses as a tidy DataFrame: one row per model and epoch, with columns
        model, epoch (counted from 0, as `on_epoch` and Keras' History count it), train_loss,
        val_loss and val_nmse (val_loss / var_y) — the columns `statelab.load_history` gives for
        each trial of a sweep."""
        import pandas as pd

        frame = pd.DataFrame.from_records(history_rows(self), columns=list(HISTORY_COLUMNS))
        return frame.astype(HISTORY_DTYPES)

    @property
    def predictions(self) -> pd.DataFrame:
        """The test rows as a DataFrame, in time order within each series, with the columns of
        predictions.csv: row, series (a file of several series), time (the time of each target,
        in the file's units, where the data have a time column), the newest input(s), target,
        pred_<model> and, for a real series, pred_<peer> of every peer that did not fail. A real
        series' values are in the data's units."""
        import pandas as pd

        return pd.DataFrame(prediction_columns(self))

    def metrics_dict(self) -> dict[str, Any]:
        """The content of metrics.json. Bit-identical for the same config on the same machine.
        A number that is not finite (a model that diverged, a baseline that overflowed) is None,
        so the file is strict JSON."""
        models = {}
        for name, m in self.models.items():
            models[name] = {**m.to_dict(), "memory": self.memory[name].to_dict()}
        return json_numbers(
            {
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
            | self._real_series_metrics()
        )

    def _real_series_metrics(self) -> dict[str, Any]:
        """The keys only a real series' metrics.json has: its peers and its verdict."""
        out: dict[str, Any] = {}
        if self.task_profile_by_feature is not None:
            out["task_profile_by_feature"] = self.task_profile_by_feature
        if self.peers is not None:
            out["peers"] = {name: p.to_dict() for name, p in self.peers.items()}
        if self.verdict is not None:
            out["verdict"] = self.verdict
        return out

    def __repr__(self) -> str:
        return result_text(self)


def prediction_columns(result: ExperimentResult) -> dict[str, np.ndarray]:
    """The columns of predictions.csv (and `ExperimentResult.predictions`), one value per scored
    test row: row, [series,] [time,] input(s), target, pred_<model>..., [pred_<peer>...]. Series
    ids and times of text are object arrays; times of dates are datetime64."""
    import numpy as np

    columns: dict[str, np.ndarray] = {"row": np.asarray(result.test_row, np.int64)}
    series = result.data.get("series")
    if series and any(s["name"] for s in series):  # a file with a series column
        names = np.asarray([s["name"] for s in series], dtype=object)
        columns["series"] = names[np.asarray(result.test_series, np.int64)]
    if result.test_time is not None:
        columns["time"] = np.asarray(result.test_time)
    for j, name in enumerate(input_columns(result.data["features"])):
        columns[name] = np.asarray(result.test_input[:, j], np.float64)
    columns["target"] = np.asarray(result.test_target, np.float64)
    for name, pred in result.test_pred.items():
        columns[f"pred_{name}"] = np.asarray(pred, np.float64)
    for name, pred in (result.peer_pred or {}).items():
        columns[f"pred_{name}"] = np.asarray(pred, np.float64)
    return columns


def history_rows(result: ExperimentResult) -> list[dict[str, Any]]:
    """One row per model and epoch (counted from 0): train_loss, val_loss, and val_nmse
    (val_loss / var(y))."""
    return [
        {
            "model": name,
            "epoch": epoch,
            "train_loss": float(tl),
            "val_loss": float(vl),
            "val_nmse": float(vl) / (result.var_y if result.val_var_y is None else result.val_var_y),
        }
        for name in result.models
        for epoch, (tl, vl) in enumerate(zip(result.train_loss[name], result.val_loss[name]), FIRST_EPOCH)
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
        return "no analytic floor (a real series): compared with the baselines and the peers"
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
# A real series has no floor: errors in the data's units, rank by test MSE, skill against the best
# non-network forecaster (1 - MSE / MSE of the best baseline or peer).
REAL_COLUMNS = ("model", "RMSE", "MAE", "MASE", "NMSE", "rank", "skill")


def result_columns(result: ExperimentResult) -> tuple[str, ...]:
    """The result table's columns: with floors and verdicts, or a real series' errors."""
    return RESULT_COLUMNS if result.floors is not None else REAL_COLUMNS


def result_rows(
    result: ExperimentResult, baseline_labels: dict[str, str] | None = None
) -> list[tuple[str, ...]]:
    """The result table's rows as text, models then baselines (`result_columns`): what the
    terminal, a result's repr and its notebook HTML all show."""
    labels = baseline_labels or BASELINE_LABELS
    if result.floors is None:
        return _real_rows(result, labels)
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
        (labels.get(name, name), _number(b.test_mse, ".4e"), _number(b.test_nmse, ".4f"), "", "", "")
        for name, b in result.baselines.items()
    ]
    return rows


def _errors(m: Any, network: bool = False) -> tuple[str, ...]:
    if network and m.diverged:
        return ("diverged", "", "", "", "", "")
    return (
        _number(m.rmse, "#.4g"),
        _number(m.mae, "#.4g"),
        _number(m.mase, ".3f"),
        _number(m.test_nmse, ".4f"),
        _number(m.rank, "d"),
        _number(m.skill, "+.3f") if network else "",
    )


def _real_rows(result: ExperimentResult, labels: dict[str, str]) -> list[tuple[str, ...]]:
    """Every model, baseline and peer with its errors in the data's units (`REAL_COLUMNS`)."""
    rows = [(name, *_errors(m, network=True)) for name, m in result.models.items()]
    rows += [(labels.get(name, name), *_errors(b)) for name, b in result.baselines.items()]
    for name, p in (result.peers or {}).items():
        rows.append((name, *(_errors(p) if p.ok else ("failed", "", "", "", "", ""))))
    return rows


def result_text(result: ExperimentResult) -> str:
    """The repr of a result: a handful of lines, every number a researcher looks at first."""
    rows = [result_columns(result), *result_rows(result)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    table = [
        "  "
        + "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))
        )
        for row in rows
    ]
    threshold = threshold_text(result.floors)
    said = (
        f"converged: NMSE < {threshold}"
        if result.floors is not None
        else f"errors in the data's units, transform {result.data.get('transform', 'none')}"
    )
    return "\n".join(
        [
            f"<ExperimentResult {setup_line(result)}: {outcome_line(result)}",
            *(line.rstrip() for line in table),
            f"  NMSE = MSE / var(y), var(y) = {result.var_y:.4e}; {said}>",
        ]
    )
