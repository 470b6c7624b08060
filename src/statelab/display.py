"""How statelab shows itself in Jupyter: a result's HTML, and the progress bar of a sweep.

- `result_html`: what a notebook shows for an `ExperimentResult`: its verdict, the result table
  and the test figure of the run report (`statelab.report` draws both; nothing is drawn twice).
  The result, a plain value, knows nothing of this: `register_notebook` tells IPython's HTML
  formatter to use it (done by `import statelab` inside a notebook). `repr(result)` is the
  result's own text (`statelab.result.result_text`).
- `sweep_progress`: a bar over a sweep's trials; in a notebook a tqdm bar (a widget when
  ipywidgets is installed, text otherwise), in a terminal the bar `statelab sweep` shows.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from statelab.result import ExperimentResult
    from statelab.sweeps import SweepProgress


def result_html(result: ExperimentResult) -> str:
    """A notebook's view of a result: setup, verdict, the result table and the test figure."""
    from statelab.report.figures import results_figure
    from statelab.report.html import esc, image
    from statelab.report.output import png_bytes
    from statelab.report.run import real_results_table, results_table, verdict_html
    from statelab.result import outcome_line, setup_line

    metrics = result.metrics_dict()
    predictions: dict[str, Any] = {"row": result.test_row, "target": result.test_target}
    predictions |= {f"pred_{name}": pred for name, pred in result.test_pred.items()}
    real = result.verdict is not None
    verdict = (
        f"<p>{esc(outcome_line(result))}</p>"
        if result.claim_held is None and not real
        else verdict_html(result.config, metrics)
    )
    table = real_results_table(metrics) if real else results_table(metrics["models"], metrics["baselines"])
    figure = png_bytes(results_figure(predictions, metrics["models"]))
    return (
        f"<div><p><b>ExperimentResult</b> {esc(setup_line(result))}</p>{verdict}"
        f"{table}"
        f"{image(figure, 'Expected output and each model error on the test rows')}</div>"
    )


def register_notebook() -> bool:
    """In a Jupyter kernel, have IPython show every `ExperimentResult` as `result_html` (its
    `text/html` formatter). Returns whether it did (False outside a notebook: nothing to do)."""
    if not in_notebook():
        return False
    from statelab.result import ExperimentResult

    shell = sys.modules["IPython"].get_ipython()
    shell.display_formatter.formatters["text/html"].for_type(ExperimentResult, result_html)
    return True


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
    stderr (which a notebook redraws in place). It counts finished trials: a sweep trains its
    trials in groups that finish together, so a bar of trials partly trained would read 95% with
    none of them done."""
    if importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.notebook import tqdm
    else:
        from tqdm.std import tqdm
    bar_format = "{desc} {percentage:3.0f}%|{bar}|{postfix} [{elapsed}<{remaining}]"  # tqdm adds ", "
    with tqdm(total=total, desc="trials", bar_format=bar_format, file=sys.stderr) as bar:

        def update(completed: float, done: int, failed: int) -> None:
            bar.n = done
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
