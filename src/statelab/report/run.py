"""The report of one run directory: input.png, results.png, history.png and report.html.

Reads only the files `statelab.experiment.save_result` wrote (config.json, metrics.json,
history.csv, predictions.csv, timings.json) and regenerates the input series from the config
(deterministic, about a millisecond); it never trains and never imports JAX, so reporting on an
existing run costs only matplotlib's import and the drawing.

The two first figures follow the Keras example "stateful vs stateless LSTM"
(keras-team/keras, examples/lstm_stateful.py): the first ten inputs with the expected output, then
three stacked panels — the test targets, and each model's error, the stateful one without the test
points a freshly reset state has no history for.

Figures are drawn on `matplotlib.figure.Figure` objects with the Agg canvas, never through
`pyplot`: no GUI backend is ever selected, no global figure registry fills up (nothing to close),
and a report can be drawn from any thread. Everything is rendered in memory first and the files
are written last, each by an atomic rename: a run that cannot be read or drawn gets no report
files at all, and no file is ever seen half-written.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from statelab.config import CONVERGED_NMSE, ConfigError, ExperimentConfig, from_mapping
from statelab.report.html import esc, image, page, table
from statelab.report.output import png_bytes, write_atomic

if TYPE_CHECKING:
    from statelab.experiment import ExperimentResult

COLOURS = {"stateful": "#1f77b4", "stateless": "#ff7f0e"}  # one colour per model in every figure
TARGET_COLOUR = "#2ca02c"
INPUT_POINTS = 10  # the original plotted the first ten rows
MAX_DRAWN = 4000  # points of a line drawn as they are; more are drawn as a band (see draw_line)
HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "val_nmse")  # val_nmse: since schema 2
# Titles at a fixed height: no axes here has labels on top, and an explicit y spares matplotlib
# measuring every tick label to place each title (about a quarter of the drawing time).
TITLE_Y = 1.0
REFERENCE_TASK = "moving-average"  # the original example's task, named in no subtitle

# What each file of a run directory holds, for the list at the end of the page.
FILE_NOTES = {
    "config.json": "the configuration (task, model, train)",
    "metrics.json": "test metrics, floors and verdicts (the stable interface)",
    "history.csv": "train and validation loss per epoch",
    "predictions.csv": "test targets and both models' predictions",
    "timings.json": "seconds spent per stage",
    "input.png": "first inputs and expected output",
    "results.png": "test targets and errors",
    "history.png": "loss curves",
    "memory.png": "memory profiles against the task's own",
    "report.html": "this page",
    "models/config.json": "the configuration the models were built with",
}


@dataclass(frozen=True)
class RunFiles:
    """The saved files of a run, parsed."""

    config: ExperimentConfig
    metrics: dict[str, Any]  # metrics.json as written by ExperimentResult.metrics_dict
    history: dict[str, dict[str, np.ndarray]]  # model -> {"epoch", "train_loss", "val_loss"}, (E,) each
    predictions: dict[str, np.ndarray]  # column of predictions.csv -> (N,)
    timings: dict[str, float]


# ---------------------------------------------------------------------------------------------
# Reading


def read_columns(path: Path) -> dict[str, list[str]]:
    """A CSV file as {column: values as text}, columns in file order."""
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = list(reader)
    return {name: [row[i] for row in rows] for i, name in enumerate(header)}


def read_history(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """history.csv -> {model: {"epoch", "train_loss", "val_loss"}}, models in file order."""
    columns = read_columns(path)
    history: dict[str, dict[str, np.ndarray]] = {}
    for name in dict.fromkeys(columns["model"]):  # ordered and unique
        mine = [i for i, m in enumerate(columns["model"]) if m == name]
        history[name] = {
            key: np.array([float(columns[key][i]) for i in mine]) for key in HISTORY_COLUMNS if key in columns
        }
    return history


def read_predictions(path: Path, report_only: bool = False) -> dict[str, np.ndarray]:
    """predictions.csv -> {"row": (N,) int, "target": (N,), "pred_<model>": (N,), ...}, and
    "series" (N,) str when the run had several series. Read as a stream of batches with Arrow's
    CSV reader: a run on a large file has hundreds of thousands of test rows.

    report_only: only the columns the report draws (row, target, predictions, the first input)."""
    from statelab.data import header, record_batches, series_ids, to_numpy

    names = header(path, "predictions")
    if report_only:
        first_input = [n for n in names if n.startswith("input")][:1]
        names = [n for n in names if n in ("row", "target", *first_input) or n.startswith("pred_")]
    numbers = tuple(n for n in names if n != "series")
    roles = {name: "series" if name == "series" else "predictions" for name in names}
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    lookup: dict[str, int] = {}
    for batch in record_batches(path, roles, numbers, "predictions"):
        for name in numbers:
            parts[name].append(to_numpy(batch.column(name), np.float64))
        if "series" in roles:
            parts["series"].append(series_ids(batch.column("series"), lookup))
        del batch
    out = {name: np.concatenate(parts.pop(name)) if parts[name] else np.zeros(0) for name in numbers}
    out["row"] = out["row"].astype(np.int64)
    if "series" in roles:
        codes = np.concatenate(parts["series"]) if parts["series"] else np.zeros(0, np.int32)
        out["series"] = np.asarray(list(lookup), dtype=object)[codes]
    return out


RUN_RULE = "a run directory written by `statelab run`"


def load_run(run_dir: Path, param: str = "store", shown: str | None = None) -> RunFiles:
    """Parse the files `save_result` wrote into `run_dir`.

    A missing, unreadable or malformed file, or one without what the report reads (each model's
    losses and predictions), is a ConfigError naming the file and what is wrong: "`param` must be
    a run directory ..., got `shown` (file: reason)"; `shown` defaults to the directory's path."""
    run_dir = Path(run_dir)
    shown = str(run_dir) if shown is None else shown

    def read(name: str, parse: Callable[[Path], Any]) -> Any:
        path = run_dir / name
        try:
            if not path.exists():
                raise FileNotFoundError(path)
            return parse(path)
        except FileNotFoundError:
            reason = "missing"
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
        except ConfigError as exc:
            reason = str(exc)
        except (ValueError, KeyError, IndexError, TypeError, StopIteration, csv.Error) as exc:
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise ConfigError(f"{param} must be {RUN_RULE}, got {shown!r} ({name}: {reason})")

    def json_file(path: Path) -> Any:
        return json.loads(path.read_text())

    metrics = read("metrics.json", json_file)
    read("metrics.json", lambda _: _check_metrics(metrics))
    models = list(metrics["models"])
    history = read("history.csv", read_history)
    read("history.csv", lambda _: _check_columns(history, models, ("epoch", "train_loss", "val_loss")))
    predictions = read("predictions.csv", lambda p: read_predictions(p, report_only=True))
    wanted = ("row", "target", *(f"pred_{m}" for m in models))
    read("predictions.csv", lambda _: _check_columns({"": predictions}, [""], wanted))
    return RunFiles(
        config=read("config.json", lambda p: from_mapping(json_file(p))),
        metrics=metrics,
        history=history,
        predictions=predictions,
        timings=read("timings.json", json_file),
    )


def _check_columns(
    parts: Mapping[str, Mapping[str, np.ndarray]], names: Sequence[str], columns: Sequence[str]
) -> None:
    """ValueError unless each of `names` is in `parts` with every one of `columns`, all as long."""
    for name in names:
        if name not in parts:
            raise ValueError(f"no rows of model {name!r}")
        lengths = set()
        for column in columns:
            if column not in parts[name]:
                raise ValueError(f"no column {column}" + (f" for model {name!r}" if name else ""))
            lengths.add(len(parts[name][column]))
        if len(lengths) > 1:
            raise ValueError("columns of different lengths")


def from_result(result: ExperimentResult) -> RunFiles:
    """What `load_run` reads back once `result` is saved, built without writing anything: what the
    lab shows the moment training ends, while the run directory is still being written."""
    from statelab.experiment import history_rows, input_columns

    rows = history_rows(result)
    history = {
        name: {key: np.array([r[key] for r in rows if r["model"] == name]) for key in HISTORY_COLUMNS}
        for name in result.models
    }
    predictions: dict[str, np.ndarray] = {"row": result.test_row.astype(np.int64)}
    series = result.data.get("series")
    if series:
        predictions["series"] = np.array([series[i]["name"] for i in result.test_series], dtype=object)
    for i, column in enumerate(input_columns(result.data["features"])):
        predictions[column] = result.test_input[:, i].astype(np.float64)
    predictions["target"] = result.test_target.astype(np.float64)
    for name in result.models:
        predictions[f"pred_{name}"] = result.test_pred[name].astype(np.float64)
    return RunFiles(
        config=result.config,
        metrics=result.metrics_dict(),
        history=history,
        predictions=predictions,
        timings=dict(result.timings),
    )


def _check_metrics(metrics: Any) -> None:
    """The keys the report reads, with values of the right kind (numbers may be null)."""
    if not isinstance(metrics, dict):
        raise ValueError(f"a JSON object expected, got {type(metrics).__name__}")
    for key in ("config_hash", "n_train", "n_test", "threshold_nmse", "models", "statelab_version"):
        if key not in metrics:
            raise KeyError(key)
    models = metrics["models"]
    if not isinstance(models, dict) or not models:
        raise ValueError("models must be an object of models")
    for name, m in models.items():
        if not isinstance(m, dict):
            raise ValueError(f"models.{name} must be an object")
        for key in ("test_mse", "test_nmse", "test_nmse_all", "floor_mse", "floor_nmse", "warmup_excluded"):
            if key not in m:
                raise KeyError(f"models.{name}.{key}")
            if m[key] is not None and (isinstance(m[key], bool) or not isinstance(m[key], (int, float))):
                raise ValueError(f"models.{name}.{key} must be a number or null, got {m[key]!r}")


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


# ---------------------------------------------------------------------------------------------
# Figures


def fmt(value: float | None, digits: int = 4) -> str:
    """A number with `digits` significant digits, as every number of the report is shown.

    None (a quantity a task does not define, such as the floor of a real series) shows as a dash.
    """
    return "—" if value is None else f"{value:.{digits}g}"


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
                label=f"{name} (span {fmt(mem['span'])})",
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


# ---------------------------------------------------------------------------------------------
# HTML


def subtitle(config: ExperimentConfig, metrics: Mapping[str, Any]) -> str:
    """One line with the essentials of the config."""
    t, m, tr = config.task, config.model, config.train
    # The reference task needs no name; another task is named with the target parameter it sets.
    task = "" if t.task == REFERENCE_TASK else f"task {t.task} · "
    axis = t.record.x_axis
    target = f"{axis} {getattr(t, axis)}" if axis else ""
    return (
        f"{task}{target + ' · ' if target else ''}lahead {t.lahead} · batch size {tr.batch_size} · "
        f"{tr.epochs} epochs · "
        f"{tr.layout} layout · {m.layers}×{m.cell.upper()}({m.units}) · "
        f"{metrics['n_train']} train / {metrics['n_test']} test rows · config {metrics['config_hash'][:8]}"
    )


def _names(names: list[str]) -> str:
    return " and ".join(f"the {n}" for n in names) + (" model" if len(names) == 1 else " models")


def _outcome(models: Mapping[str, Mapping[str, Any]], key: str, past: bool) -> str:
    """'the stateful model converged and the stateless model did not', from the booleans `key`."""
    yes = [n for n, m in models.items() if m[key]]
    no = [n for n, m in models.items() if not m[key]]
    converge, cannot = ("converged", "did not") if past else ("can converge", "cannot")
    if not no:
        return f"{'both models' if len(yes) == 2 else _names(yes)} {converge}"
    if not yes:
        return f"neither model {converge}" if len(no) == 2 else f"{_names(no)} {cannot} converge"
    return f"{_names(yes)} {converge} and {_names(no)} {cannot}"


def why_theory(config: ExperimentConfig) -> str:
    """Why the floors are what they are, in one clause."""
    t = config.task
    record = t.record
    if not record.synthetic:
        return "a stateless model sees only its window of inputs, while a stateful one can remember more"
    floors = record.floors(t)
    assert floors is not None  # every synthetic task has floors
    can = (
        record.stateless_can_converge(t)
        if record.stateless_can_converge is not None
        else floors.windowed / floors.var_y < floors.unbounded / floors.var_y + CONVERGED_NMSE
    )
    reach = record.reach(t)
    needs = "the whole past" if reach is None else f"inputs up to {reach} step{'s' * (reach != 1)} back"
    if can:
        return f"a window of lahead {t.lahead} holds enough of what the target needs ({needs})"
    return (
        f"a stateless model sees only the last {_count(t.lahead, 'input')}, but the target needs {needs}, "
        "while a stateful one can carry them in its state"
    )


def verdict_html(config: ExperimentConfig, metrics: Mapping[str, Any]) -> str:
    """The verdict box: what happened, what theory predicts, and whether they agree."""
    models, held = metrics["models"], bool(metrics["claim_held"])
    happened = _outcome(models, "converged", past=True)
    diverged = [name for name, m in models.items() if m.get("diverged")]
    if diverged:
        happened += (
            f" ({_names(diverged)} diverged: {'its' if len(diverged) == 1 else 'their'} loss became NaN "
            "or infinite, so the errors are unknown; a smaller learning rate may help)"
        )
    if held:
        text = f"As theory predicts, {happened}: {why_theory(config)}."
    else:
        predicted = _outcome(models, "expected_converged", past=False)
        text = f"Not what theory predicts: {happened}, but {predicted} ({why_theory(config)})."
        hint = failure_hint(config, models)
        if hint:
            text += f" {hint}"
    return f'<div class="verdict {"ok" if held else "bad"}">{esc(text)}</div>'


def failure_hint(config: ExperimentConfig, models: Mapping[str, Mapping[str, Any]]) -> str:
    """A likely cause when a model that can converge did not."""
    missed = [n for n, m in models.items() if m["expected_converged"] and not m["converged"]]
    if "stateful" not in missed:
        return ""
    if config.train.layout == "seed" and config.train.batch_size > 1:
        return (
            "With the seed layout and batch size > 1, row i of a batch continues row i of the previous "
            f"batch only every {config.train.batch_size} samples, so the stateful model loses the history "
            "it should carry; the streams layout keeps it."
        )
    return "The stateful model may need more epochs or more training rows."


def results_table(models: Mapping[str, Mapping[str, Any]], baselines: Mapping[str, Mapping[str, Any]]) -> str:
    """Both models, then the baselines (which see the same window and remember nothing)."""

    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else "converged" if ok else "not converged"

    rows = [
        (
            name,
            fmt(m["test_mse"]),
            fmt(m["test_nmse"]),
            fmt(m["test_nmse_all"]),
            fmt(m["floor_nmse"]),
            verdict(m["converged"]),
            verdict(m["expected_converged"]),
        )
        for name, m in models.items()
    ]
    labels = {"last_value": "baseline: last value", "linear_ar": "baseline: linear AR on the window"}
    rows += [
        (labels.get(name, name), fmt(b["test_mse"]), fmt(b["test_nmse"]), fmt(b["test_nmse"]), "", "", "")
        for name, b in baselines.items()
    ]
    header = (
        "model",
        "test MSE",
        "normalised MSE",
        "normalised MSE incl. warm-up",
        "floor (normalised)",
        "verdict",
        "expected verdict",
    )
    return table(header, rows)


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {plural or noun + 's'}"


def why_html(config: ExperimentConfig, metrics: Mapping[str, Any]) -> str:
    """The task's own "Why" paragraph, with this run's numbers."""
    return f"<p>{config.task.record.why(config.task, metrics)}</p>"


def memory_html(metrics: Mapping[str, Any], figures: Mapping[str, bytes]) -> str:
    """The memory section: the profiles figure and each model's span and profile error."""
    if "memory.png" not in figures:
        return ""
    truth = metrics.get("task_profile_kind") == "truth"
    rows = []
    for name, m in metrics["models"].items():
        mem = m.get("memory") or {}
        rows.append((name, fmt(mem.get("span")), fmt(mem.get("profile_error"))))
    note = (
        "The bars are the target's own dependence on each past input."
        if truth
        else "The bars are the coefficients of a linear autoregression on the training part: a linear "
        "reference, not a truth."
    )
    return (
        "<h2>Memory</h2>"
        f"<p>How much each model's prediction moves with the input k steps back, "
        "d yhat[t] / d x[t−k] averaged over the test rows (exact, through the carried state). "
        f"{note} Span: the oldest lag with at least 10% of the largest true weight; profile error: "
        "Σ(s − true)² / Σ true².</p>"
        + image(figures["memory.png"], "Memory profiles")
        + table(("model", "span", "profile error"), rows)
    )


MAX_SERIES_LISTED = 12  # a Data section lists this many series one by one; more are summarised


def data_html(metrics: Mapping[str, Any]) -> str:
    """How the data were cut (metrics.json "data"): series, rows, train and test rows per series,
    rows dropped, how full the lanes were, the standardisation. Empty for a generated series.

    Up to MAX_SERIES_LISTED series are listed one by one; more (a file of 100 sensors, say) as the
    least, median, largest and total over series, with the shortest ones named."""
    data = metrics.get("data") or {}
    series = data.get("series")
    if not series:
        return ""
    notes = data.get("notes", {})
    rows = np.array([s["rows"] for s in series])
    train = np.array([s["train"] for s in series])
    test = np.array([s["test"] for s in series])
    features = data.get("features", [])
    named = any(s["name"] for s in series)
    parts = [
        "<h2>Data</h2>",
        "<p>"
        + esc(
            f"Target {data.get('target')}, {_count(notes.get('horizon', 1), 'step')} ahead, from "
            f"{_count(len(features), 'feature')} ({', '.join(features)}). "
            f"{_count(len(series), 'series', 'series')}"
            + (f" ({_count(int(rows.sum()), 'windowed row')})" if len(series) > 1 else "")
            + ": each is windowed on its own (no window spans two series) and split in time, its first "
            "rows training and the rest testing."
        )
        + "</p>",
    ]
    if len(series) <= MAX_SERIES_LISTED:
        listed = [(s["name"] if named else "(the series)", s["rows"], s["train"], s["test"]) for s in series]
        parts.append(table(("series", "rows", "train", "test"), listed))
    else:
        summary = [
            (label, *(f(v) for f in (np.min, np.median, np.max, np.sum)))
            for label, v in (("rows", rows), ("train", train), ("test", test))
        ]
        parts.append(
            table(
                ("per series", "least", "median", "largest", "total"),
                [(label, *(f"{float(v):.10g}" for v in values)) for label, *values in summary],
            )
        )
        shortest = sorted(series, key=lambda s: s["rows"])[:5]
        if rows.min() < rows.max():
            parts.append(
                '<p class="note">'
                + esc("Shortest: " + ", ".join(f"{s['name']} ({s['rows']} rows)" for s in shortest) + ".")
                + "</p>"
            )
    read = notes.get("rows_read")
    facts = []
    if read is not None:
        facts.append(
            f"{_count(read, 'row')} read, {notes.get('rows_dropped', 0)} dropped for missing values, "
            f"{_count(notes.get('cells_interpolated', 0), 'cell')} interpolated"
        )
    if notes.get("series_dropped"):
        facts.append(f"series left with no rows: {', '.join(notes['series_dropped'])}")
    if "fill" in data:
        facts.append(
            f"{data.get('lanes', '?')} training lanes with {data['fill']:.1%} of the training rows "
            f"(the rest: the tail that did not fill a batch); {data.get('test_lanes', '?')} test lanes "
            f"{data.get('test_fill', 1.0):.1%} full (each series whole in one lane, the rest padding)"
        )
    if facts:
        parts.append("<p>" + esc("; ".join(facts) + ".") + "</p>")
    scaling = data.get("scaling")
    if scaling:
        parts.append(
            '<p class="note">Every column is standardised, x′ = (x − mean) / scale, with the mean and '
            "standard deviation of the training part (pooled over series); errors above are in these "
            "units.</p>"
        )
        parts.append(
            table(
                ("column", "mean", "scale"),
                [(k, fmt(v["mean"]), fmt(v["scale"])) for k, v in scaling.items()],
            )
        )
    return "".join(parts)


def config_table(config: ExperimentConfig) -> str:
    sections = config.to_dict().items()
    rows = [
        (section, key, value)
        for section, part in sections
        for key, value in part.items()
        if value is not None  # parameters the task does not take
    ]
    return table(("section", "parameter", "value"), rows)


def timings_table(timings: Mapping[str, float]) -> str:
    rows = [(key.removesuffix("_s"), f"{value:.3f} s") for key, value in timings.items()]
    rows.append(("total", f"{sum(timings.values()):.3f} s"))
    return table(("stage", "time"), rows)


def files_table(run_dir: Path, new: Mapping[str, int]) -> str:
    """Every file of the run directory, with the ones about to be written (`new`: name -> size)."""
    sizes = {
        p.relative_to(run_dir).as_posix(): p.stat().st_size
        for p in run_dir.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(run_dir).parts)
    }
    sizes.update(new)
    rows = []
    for name in sorted(sizes):
        note = FILE_NOTES.get(name, "trained parameters" if name.endswith(".npz") else "")
        size = "" if name == "report.html" else f"{sizes[name] / 1024:.1f} kB"
        rows.append((name, size, note))
    return table(("file", "size", "content"), rows)


def render_html(run: RunFiles, figures: Mapping[str, bytes], files: str) -> str:
    """The whole report page. `files` is the already-built list of files."""
    config, metrics = run.config, run.metrics
    title = f"statelab: stateful vs stateless {config.model.cell.upper()}"
    body = [
        f"<h1>{esc(title)}</h1>",
        f'<p class="sub">{esc(subtitle(config, metrics))}</p>',
        verdict_html(config, metrics),
        "<h2>Results</h2>",
        results_table(metrics["models"], metrics.get("baselines", {})),
        "<h2>Why</h2>",
        why_html(config, metrics),
        data_html(metrics),
        "<h2>Input</h2>",
        image(figures["input.png"], "The first inputs and the expected output"),
        "<h2>Test predictions</h2>",
        image(figures["results.png"], "Expected output and each model's error on the test rows"),
        "<h2>Training history</h2>",
        image(figures["history.png"], "Train and validation loss per epoch"),
        memory_html(metrics, figures),
        "<h2>Configuration</h2>",
        config_table(config),
        "<h2>Timings</h2>",
        timings_table(run.timings),
        "<h2>Files</h2>",
        files,
        f'<p class="note">statelab {esc(metrics["statelab_version"])}, metrics schema '
        f"{esc(metrics['schema_version'])}, config hash <code>{esc(metrics['config_hash'])}</code></p>",
    ]
    return page(title, "\n".join(body))


# ---------------------------------------------------------------------------------------------
# Writing


def write_run_report(
    run_dir: Path, before_write: Callable[[], None] | None = None, drawn: Mapping[str, bytes] | None = None
) -> None:
    """Write input.png, results.png, history.png and report.html into a saved run directory.

    Reads only the run's files (and regenerates the input series from its config); never trains.
    A damaged run directory is a ConfigError, and nothing is written; `before_write` is called
    between drawing and writing (Ctrl-C is checked there); `drawn`: figures drawn already
    (`early_figures` of the run's config).
    """
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    try:
        figures = render_figures(run, drawn)
        files = files_table(run_dir, {**{k: len(v) for k, v in figures.items()}, "report.html": 0})
        report = render_html(run, figures, files).encode("utf-8")
    except (KeyError, TypeError, ValueError) as exc:
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise ConfigError(f"store must be {RUN_RULE}, got {str(run_dir)!r} ({reason})") from None
    if before_write is not None:
        before_write()
    for name, data in {**figures, "report.html": report}.items():
        write_atomic(run_dir / name, data)
