"""The figures of one run, drawn from its files: input.png, results.png, history.png, memory.png.

The two first figures follow the Keras example "stateful vs stateless LSTM"
(keras-team/keras, examples/lstm_stateful.py): the first ten inputs with the expected output, then
three stacked panels — the test targets, and each model's error, the stateful one without the test
points a freshly reset state has no history for.

Figures are drawn on `matplotlib.figure.Figure` objects with the Agg canvas, never through
`pyplot`: no GUI backend is ever selected, no global figure registry fills up (nothing to close),
and a report can be drawn from any thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from statelab.config import ExperimentConfig
from statelab.report.html import fmt, span_text
from statelab.report.output import png_bytes
from statelab.rundir import RunFiles

COLOURS = {"stateful": "#1f77b4", "stateless": "#ff7f0e"}  # one colour per model in every figure
TARGET_COLOUR = "#2ca02c"
INPUT_POINTS = 10  # the original plotted the first ten rows
MAX_DRAWN = 4000  # points of a line drawn as they are; more are drawn as a band (see draw_line)
# Titles at a fixed height: no axes here has labels on top, and an explicit y spares matplotlib
# measuring every tick label to place each title (about a quarter of the drawing time).
TITLE_Y = 1.0


def input_points(run: RunFiles, n: int = INPUT_POINTS) -> tuple[np.ndarray, np.ndarray, str]:
    """The first `n` rows' newest input x[t] and target y[t], both (n,), and what they are.

    Synthetic task: regenerated from the config (deterministic, about a millisecond). Row t of the
    windowed series ends at x[t + to_drop] (the rows without full history are dropped), so x[t]
    here is the newest input of window t, which is the original's column 0. A real series is not
    read again (its file may be large, or elsewhere by now): its first test rows come from
    predictions.csv.
    """
    config = run.config
    if config.task.synthetic:
        series = config.task.record.generate(config.task).series[0]
        rows = slice(series.to_drop, series.to_drop + n)
        return series.x[rows, 0], series.y[rows], "row t (newest input x[t] of each window)"
    p = run.predictions
    first = next((c for c in p if c.startswith("input")), None)
    x = p[first][:n] if first is not None else np.full(min(n, len(p["target"])), np.nan)
    return x, p["target"][:n], "first test rows (newest input of each window)"


def input_figure(
    x: np.ndarray, y: np.ndarray, xlabel: str = "row t (newest input x[t] of each window)"
) -> Figure:
    """The first inputs as dots and the expected output as a line, as the original drew them."""
    fig = Figure(figsize=(6.4, 3.2))
    fig.subplots_adjust(left=0.11, right=0.97, top=0.9, bottom=0.16)
    ax = fig.subplots()
    t = np.arange(len(x))
    ax.plot(t, x, ".", markersize=9, color=COLOURS["stateful"])
    ax.plot(t, y, "-", color=TARGET_COLOUR)
    ax.legend(["Input", "Expected output"], loc="best", fontsize=9)
    ax.set_title("Input", y=TITLE_Y)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("value")
    ax.grid(alpha=0.3)
    return fig


def panel_title(name: str, m: Mapping[str, Any]) -> str:
    """'Stateful: expected − predicted (first 1 excluded)   normalised MSE 0.01339, floor 0'."""
    w = int(m["warmup_excluded"])
    excluded = f" (first {w} excluded)" if w else ""
    score = f"normalised MSE {fmt(m['test_nmse'])}, floor {fmt(m['floor_nmse'])}"
    return f"{name.capitalize()}: expected − predicted{excluded}   |   {score}"


def draw_line(ax: Any, x: np.ndarray, y: np.ndarray, colour: str | None) -> None:
    """y against x as a thin line; beyond `MAX_DRAWN` points (a run on a large file has hundreds
    of thousands of test rows, more than a figure has pixels), as the band between the least and
    the largest value in each of MAX_DRAWN / 2 equal runs of points, which looks the same and is
    drawn in a fraction of the time and memory."""
    if len(x) <= MAX_DRAWN:
        ax.plot(x, y, color=colour, linewidth=0.8)
        return
    bins = MAX_DRAWN // 2
    edges = np.linspace(0, len(x), bins + 1).astype(np.int64)
    low, high = np.minimum.reduceat(y, edges[:-1]), np.maximum.reduceat(y, edges[:-1])
    middle = x[(edges[:-1] + edges[1:]) // 2]
    ax.fill_between(middle, low, high, color=colour, linewidth=0.8, step="mid")


def results_figure(predictions: Mapping[str, np.ndarray], models: Mapping[str, Mapping[str, Any]]) -> Figure:
    """Test targets, then expected - predicted for each model, on one x axis (the test row).

    The stateful model's first `warmup_excluded` points are left out, as the original left out the
    first tsteps-1: after the reset there is no history to predict them from. The error panels share
    their y limits so their amplitudes compare at a glance.
    """
    row, target = predictions["row"], predictions["target"]
    fig = Figure(figsize=(8.0, 2.0 * (len(models) + 1)))
    fig.subplots_adjust(left=0.09, right=0.98, top=0.95, bottom=0.08, hspace=0.35)
    axes = fig.subplots(len(models) + 1, 1, sharex=True)
    draw_line(axes[0], row, target, TARGET_COLOUR)
    axes[0].set_title("Expected", fontsize=10, y=TITLE_Y)
    bound = 0.0
    for ax, (name, m) in zip(axes[1:], models.items()):
        w = int(m["warmup_excluded"])
        error = (target - predictions[f"pred_{name}"])[w:]
        bound = max(bound, float(np.max(np.abs(error), initial=0.0)))
        draw_line(ax, row[w:], error, COLOURS.get(name))
        ax.axhline(0.0, color="#57606a", linewidth=0.6)
        ax.set_title(panel_title(name, m), fontsize=10, y=TITLE_Y)
        if ax is not axes[1]:
            ax.sharey(axes[1])
    bound = 1.1 * bound if bound > 0 else 1.0
    axes[1].set_ylim(-bound, bound)
    axes[-1].set_xlabel("test row")
    for ax in axes:
        ax.grid(alpha=0.3)
    return fig


def history_figure(
    history: Mapping[str, Mapping[str, np.ndarray]],
    floors: Mapping[str, float | None],
    threshold_mse: float | None,
) -> Figure:
    """Train (solid) and validation (dashed) loss per epoch on a log axis, with the reference levels.

    floors: {model: floor MSE}; a zero or unknown (None) floor cannot be drawn and is left out.
    """
    fig = Figure(figsize=(8.0, 3.4))
    fig.subplots_adjust(left=0.09, right=0.74, top=0.9, bottom=0.15)
    ax = fig.subplots()
    marker = "o" if max(len(h["epoch"]) for h in history.values()) <= 20 else None
    for name, h in history.items():
        style: dict[str, Any] = {"color": COLOURS.get(name), "marker": marker, "ms": 3}
        ax.plot(h["epoch"], h["train_loss"], "-", label=f"{name} train", **style)
        ax.plot(h["epoch"], h["val_loss"], "--", label=f"{name} validation", **style)
    for name, floor in floors.items():
        if floor:
            ax.axhline(floor, color=COLOURS.get(name), linestyle=":", linewidth=1, label=f"{name} floor")
    if threshold_mse:
        ax.axhline(threshold_mse, color="#57606a", linestyle="-.", linewidth=1, label="convergence threshold")
    ax.set_yscale("log")
    # Plain "1e-05" labels on the decades only: the default labels are mathtext, whose first parse
    # costs about 0.1 s, a fifth of the whole report.
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0e}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE")
    ax.set_title("Loss per epoch", y=TITLE_Y)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


def memory_figure(metrics: Mapping[str, Any]) -> Figure:
    """Each model's sensitivity d yhat[t] / d x[t-k] against lag k, beside the task's profile."""
    truth = np.asarray(metrics.get("task_profile") or [], float)
    label = "task (truth)" if metrics.get("task_profile_kind") == "truth" else "linear AR reference"
    fig = Figure(figsize=(8.0, 3.2))
    fig.subplots_adjust(left=0.09, right=0.74, top=0.88, bottom=0.16)
    ax = fig.subplots()
    lags = np.arange(len(truth))
    ax.bar(lags, truth, width=0.8, color="#d0d7de", label=label)
    for name, m in metrics["models"].items():
        mem = m.get("memory")
        if mem:
            ax.plot(
                lags,
                [np.nan if v is None else v for v in mem["sensitivity"]],  # null: a diverged model
                "o-",
                color=COLOURS.get(name),
                ms=4,
                label=f"{name} (span {span_text(mem)})",
            )
    ax.axhline(0.0, color="#57606a", linewidth=0.6)
    ax.set_xticks(lags)
    ax.set_xlabel("lag k (inputs back)")
    ax.set_ylabel("d prediction / d x[t-k]")
    ax.set_title("Memory profile: what each model's prediction leans on", y=TITLE_Y)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


def early_figures(config: ExperimentConfig) -> dict[str, bytes]:
    """The figures a run's config alone determines, drawn before it is trained: input.png of a
    synthetic task (its series is regenerated from the seed)."""
    if not config.task.synthetic:
        return {}
    run = RunFiles(config=config, metrics={}, history={}, predictions={}, timings={})
    return {"input.png": png_bytes(input_figure(*input_points(run)))}


def render_figures(run: RunFiles, drawn: Mapping[str, bytes] | None = None) -> dict[str, bytes]:
    """{file name: PNG bytes} for input.png, results.png, history.png and memory.png; those in
    `drawn` (from `early_figures`) are taken as they are."""
    drawn = drawn or {}
    models = run.metrics["models"]
    var_y = run.metrics.get("var_y")
    threshold_mse = run.metrics["threshold_nmse"] * var_y if var_y else None
    floors = {name: m["floor_mse"] for name, m in models.items()}
    figures = {
        "input.png": drawn.get("input.png") or png_bytes(input_figure(*input_points(run))),
        "results.png": png_bytes(results_figure(run.predictions, models)),
        "history.png": png_bytes(history_figure(run.history, floors, threshold_mse)),
    }
    if run.metrics.get("task_profile"):
        figures["memory.png"] = png_bytes(memory_figure(run.metrics))
    return figures
