"""How statelab shows itself in Python and in Jupyter: a result's short text and HTML, and the
progress bar of a sweep in a terminal or a notebook.

- `result_text`: `repr(result)`, a few lines: what ran, each model's error against its floor and
  its verdict, the baselines, and whether the outcome theory predicts held. No arrays.
- `result_html`: what a notebook shows for a result: the same verdict, the result table and the
  test figure of the run report (`report/run.py` draws both; nothing is drawn twice).
- `sweep_progress`: a bar over a sweep's trials; in a notebook a tqdm bar (a widget when
  ipywidgets is installed, text otherwise), in a terminal the bar `statelab sweep` shows.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from statelab.config import CONVERGED_NMSE

if TYPE_CHECKING:
    from statelab.result import ExperimentResult
    from statelab.sweeps import SweepProgress

BASELINE_LABELS = {"last_value": "last value", "linear_ar": "linear AR"}


def _number(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _yes_no(value: bool | None) -> str:
    return "n/a" if value is None else "yes" if value else "no"


def outcome_line(result: ExperimentResult) -> str:
    """Whether the outcome theory predicts held, in a few words."""
    if result.claim_held is None:
        return "no analytic floor (a real series): compare with the baselines"
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
            _yes_no(m.expected_converged),
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
    floors = result.floors
    best = 0.0 if floors is None else floors.unbounded / floors.var_y  # above 0 only for noise
    threshold = f"{CONVERGED_NMSE}" if best == 0 else f"{best:.3f} + {CONVERGED_NMSE}"
    return "\n".join(
        [
            f"<ExperimentResult {setup_line(result)}: {outcome_line(result)}",
            *(line.rstrip() for line in table),
            f"  NMSE = MSE / var(y), var(y) = {result.var_y:.4e}; converged: NMSE < {threshold}>",
        ]
    )


def result_html(result: ExperimentResult) -> str:
    """A notebook's view of a result: setup, verdict, the result table and the test figure."""
    from statelab.report.html import esc, image
    from statelab.report.output import png_bytes
    from statelab.report.run import results_figure, results_table, verdict_html

    metrics = result.metrics_dict()
    predictions: dict[str, Any] = {"row": result.test_row, "target": result.test_target}
    predictions |= {f"pred_{name}": pred for name, pred in result.test_pred.items()}
    verdict = (
        f"<p>{esc(outcome_line(result))}</p>"
        if result.claim_held is None
        else verdict_html(result.config, metrics)
    )
    figure = png_bytes(results_figure(predictions, metrics["models"]))
    return (
        f"<div><p><b>ExperimentResult</b> {esc(setup_line(result))}</p>{verdict}"
        f"{results_table(metrics['models'], metrics['baselines'])}"
        f"{image(figure, 'Expected output and each model error on the test rows')}</div>"
    )


# ---------------------------------------------------------------------------------------------
# Progress


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (a notebook, JupyterLab, VS Code, Colab)."""
    if "ipykernel.zmqshell" not in sys.modules:
        return False
    from ipykernel.zmqshell import ZMQInteractiveShell

    return isinstance(sys.modules["IPython"].get_ipython(), ZMQInteractiveShell)


@contextmanager
def notebook_progress(total: int) -> Iterator[SweepProgress]:
    """A tqdm bar over `total` trials: an ipywidgets bar if it is installed, else a text bar on
    stderr (which a notebook redraws in place)."""
    if importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.notebook import tqdm
    else:
        from tqdm.std import tqdm
    bar_format = "{desc} {percentage:3.0f}%|{bar}|{postfix} [{elapsed}<{remaining}]"  # tqdm adds ", "
    with tqdm(total=total, desc="trials", bar_format=bar_format, file=sys.stderr) as bar:

        def update(completed: float, done: int, failed: int) -> None:
            bar.n = completed
            bar.set_postfix_str(f"{done}/{total} done, {failed} failed")  # refreshes the bar

        update(0.0, 0, 0)
        yield update


@contextmanager
def sweep_progress(total: int, show: bool = True) -> Iterator[SweepProgress | None]:
    """The progress callback of a sweep of `total` trials, or None where nothing is shown: `show`
    False, nothing to run, or neither a notebook nor a terminal (a script's output to a file)."""
    if not show or total == 0:
        yield None
        return
    if in_notebook():
        with notebook_progress(total) as update:
            yield update
        return
    from statelab import terminal

    with terminal.sweep_progress(terminal.make_console(stderr=True), total) as update_or_none:
        yield update_or_none
