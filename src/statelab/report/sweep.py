"""The report of a sweep store: phase-diagram heatmaps, a table, CSV files and report.html.

The experiment's claim is a boundary. A stateless model sees only its window of `lahead` inputs,
so it can converge only where its floor is within the threshold (`statelab.theory`: on the
moving-average task, lahead >= 0.9 tsteps); a stateful model carries its state and can converge
everywhere, if it learns to. Each heatmap cell is one grid point (the task's target parameter on
x, `lahead` on y), coloured by the median normalised test MSE over its seeds and annotated with
that median and the seeds' min-max spread; the stateless boundary is drawn as a staircase between
the cells where theory says a stateless model can converge and those where it cannot. A third
panel shows stateful minus stateless (per seed, then the median): blue where state helps. When
the truncation length `bptt` varies, it takes the y axis instead, and the staircase is where the
stateful model's gradient starts to reach the oldest input the target needs (bptt >= that lag -
lahead + 2: delay + 1 at lahead 1): a necessary condition for learning that memory, not a
sufficient one (longer memories also need more training). A second figure per facet maps the
memory profiles: each model's profile error, with its memory span beneath.

Any other parameter that varies in the store (batch_size, cell, ...) splits the report into
facets, one row of heatmaps each. Seeds (`seed`, `model_seed`) are replicates and are pooled.

Reads only the records of the store; never trains, never imports JAX. Figures are drawn on
`matplotlib.figure.Figure` with the Agg canvas (no pyplot, no global state); every file is
written to a hidden sibling and renamed into place.

Outputs in the report directory:
    heatmap.png and memory.png (or heatmap-<facet>.png, memory-<facet>.png per facet),
    summary.csv (one row per grid point), trials.csv (one row per trial, failed ones included),
    report.html (self-contained).
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from statelab import tasks, theory
from statelab.config import ConfigError, from_mapping
from statelab.names import MEMORY_NUMBERS, MODELS
from statelab.report.html import esc, image, page, table
from statelab.report.output import check_report_dir, claim_report_dir, png_bytes, write_atomic
from statelab.store import TrialRecord
from statelab.tasks import get as get_task
from statelab.theory import CONVERGED_NMSE, stateless_can_converge

DIFFERENCE = "difference"  # stateful - stateless, per trial
Y_PARAM = "lahead"  # the y axis, unless bptt varies
BPTT = "bptt"
REPLICATES = ("seed", "model_seed")
METRIC_KEYS = ("test_mse", "test_nmse", "floor_nmse", "converged")  # per model, in trials.csv
BOUNDARY_STYLE: dict[str, Any] = {"color": "#111111", "linewidth": 2.5, "linestyle": (0, (4, 2))}


@dataclass(frozen=True)
class Trial:
    """A finished trial, flat: its parameters and what each model reached."""

    params: dict[str, Any]  # every config field (lists as tuples)
    nmse: dict[str, float]  # stateful, stateless, difference; NaN where a model diverged
    floor_nmse: dict[str, float | None]
    converged: dict[str, bool]
    expected: dict[str, bool | None]
    memory: dict[str, dict[str, float]]  # model -> span, profile_error (NaN where unknown)
    predicted: dict[str, bool | None]  # stateless: can converge by its window; stateful: gradient reaches
    config_hash: str = ""  # the trial's key in the store


@dataclass(frozen=True)
class Spread:
    """A quantity over the seeds of a grid point (NaN values, from diverged trials, left out)."""

    median: float
    q1: float
    q3: float
    lo: float
    hi: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        v = np.asarray(values, float)
        v = v[np.isfinite(v)]
        if v.size == 0:
            return cls(*[float("nan")] * 5)
        q1, median, q3 = np.quantile(v, [0.25, 0.5, 0.75])
        return cls(float(median), float(q1), float(q3), float(v.min()), float(v.max()))


@dataclass(frozen=True)
class Point:
    """One grid point: its trials over seeds, summarised."""

    facet: tuple[tuple[str, Any], ...]  # the other varying parameters, (name, value) pairs
    x_param: str  # the task's target parameter (tsteps, delay, alpha, ...), or "-"
    x: Any
    y_param: str  # lahead, or bptt when it varies
    y: int
    n: int  # seeds
    nmse: dict[str, Spread]  # stateful, stateless, difference
    floor_nmse: dict[str, float | None]
    converged: dict[str, int]  # seeds that converged, per model
    expected: dict[str, bool | None]  # what the analytic floor predicts
    memory: dict[str, dict[str, Spread]]  # model -> span, profile_error
    predicted: dict[str, bool | None]
    config_hashes: tuple[str, ...] = ()  # its trials' keys in the store

    @property
    def lahead(self) -> Any:
        return self.y if self.y_param == Y_PARAM else dict(self.facet).get(Y_PARAM)

    def median_converged(self, model: str) -> bool:
        """The median seed's verdict: within the threshold of the best any model can reach."""
        best = self.floor_nmse["stateful"] or 0.0
        return bool(self.nmse[model].median < best + CONVERGED_NMSE)


@dataclass(frozen=True)
class Summary:
    points: list[Point]
    facet_params: list[str]
    trials: list[Trial]
    failures: list[TrialRecord]
    y_param: str = Y_PARAM


# ---------------------------------------------------------------------------------------------
# From records to grid points


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def flat_config(config: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {k: _hashable(v) for section in config.values() for k, v in section.items()}


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)


def predictions(
    config: Mapping[str, Mapping[str, Any]], expected: Mapping[str, Any]
) -> dict[str, bool | None]:
    """What theory predicts from the config alone: where a stateless model can converge, and
    whether the stateful model's gradient reaches the oldest input the target needs."""
    try:
        built = from_mapping(config)
    except ConfigError:  # a store written by another version: fall back on its verdicts
        return {"stateless": expected.get("stateless"), "stateful": None}
    stateless = stateless_can_converge(built.task)
    if stateless is None:
        stateless = expected.get("stateless")
    needed = theory.needed_lag(built.task)
    reaches = None if needed is None else needed <= theory.gradient_reach(built)
    return {"stateless": stateless, "stateful": reaches}


def to_trial(record: TrialRecord) -> Trial:
    """A finished trial's numbers; ConfigError naming the trial when its record is damaged (a
    store edited by hand, say), so that `report` and the lab say so in one line."""
    try:
        return _to_trial(record)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(
            f"store must hold trials as statelab records them, got trial {record.config_hash!r} "
            f"with damaged metrics ({type(exc).__name__}: {exc})"
        ) from None


def _to_trial(record: TrialRecord) -> Trial:
    assert record.metrics is not None  # a trial that ran (`record.ok`)
    models = record.metrics["models"]
    nmse = {m: _number(models[m].get("test_nmse")) for m in MODELS}
    nmse[DIFFERENCE] = nmse["stateful"] - nmse["stateless"]
    expected = {m: models[m].get("expected_converged") for m in MODELS}
    return Trial(
        params=flat_config(record.config),
        nmse=nmse,
        floor_nmse={m: models[m].get("floor_nmse") for m in MODELS},
        converged={m: bool(models[m]["converged"]) for m in MODELS},
        expected=expected,
        memory={
            m: {k: _number((models[m].get("memory") or {}).get(k)) for k in MEMORY_NUMBERS} for m in MODELS
        },
        predicted=predictions(record.config, expected),
        config_hash=record.config_hash,
    )


def _memory_numbers(memory: Mapping[str, Any]) -> dict[str, float]:
    """A trial's span and profile error, NaN where undefined: a diffuse or diverged profile has no
    span (stores of statelab 0.2 wrote -1 for none)."""
    numbers = {k: _number(memory.get(k)) for k in MEMORY_NUMBERS}
    if numbers["span"] < 0:
        numbers["span"] = float("nan")
    return numbers


def x_param(params: Mapping[str, Any]) -> str | None:
    try:
        return get_task(params.get("task", tasks.REFERENCE_TASK)).x_axis
    except ConfigError:
        return None


def _varying(params: Iterable[Mapping[str, Any]]) -> list[str]:
    """Parameters with more than one value, in config order. None is not a value: it marks a
    parameter a task does not take, which the task (if it varies) already tells apart."""
    names: dict[str, set] = defaultdict(set)
    for flat in params:
        for name, value in flat.items():
            if value is not None:
                names[name].add(_hashable(value))
    return [name for name, values in names.items() if len(values) > 1]


def varying(trials: Sequence[Trial]) -> list[str]:
    return _varying(t.params for t in trials)


def summarise(records: Iterable[TrialRecord]) -> Summary:
    """Group the successful trials into grid points: facet x target parameter x lahead (or bptt)."""
    records = list(records)
    trials = [to_trial(r) for r in records if r.ok]
    moving = varying(trials)
    y_param = BPTT if BPTT in moving else Y_PARAM
    x_params = {x_param(t.params) for t in trials} - {None}
    axes = {y_param, *REPLICATES, *x_params}
    facet_params = [p for p in moving if p not in axes]
    cells: dict[tuple, list[Trial]] = defaultdict(list)
    for trial in trials:
        facet = tuple((p, trial.params.get(p)) for p in facet_params)
        xp = x_param(trial.params)
        x = trial.params.get(xp) if xp else None
        cells[(facet, xp or "-", x, trial.params[y_param])].append(trial)
    points = []
    for (facet, xp, x, y), members in cells.items():
        first = members[0]
        points.append(
            Point(
                facet=facet,
                x_param=xp,
                x=x,
                y_param=y_param,
                y=y,
                n=len(members),
                nmse={k: Spread.of([t.nmse[k] for t in members]) for k in (*MODELS, DIFFERENCE)},
                floor_nmse=first.floor_nmse,
                converged={m: sum(t.converged[m] for t in members) for m in MODELS},
                expected=first.expected,
                memory={
                    m: {k: Spread.of([t.memory[m][k] for t in members]) for k in MEMORY_NUMBERS}
                    for m in MODELS
                },
                predicted=first.predicted,
                config_hashes=tuple(t.config_hash for t in members),
            )
        )
    points.sort(key=lambda p: (_sortable(p.facet), _sortable(p.x), p.y))
    return Summary(points, facet_params, trials, [r for r in records if not r.ok], y_param)


def _sortable(value: Any) -> Any:
    """Sort keys that tolerate None next to numbers or words."""
    if isinstance(value, tuple) and not all(isinstance(v, (int, float)) for v in value):
        return tuple(_sortable(v) for v in value)
    return (value is None, str(type(value)), value if value is not None else 0)


def facets(points: Sequence[Point]) -> dict[tuple, list[Point]]:
    out: dict[tuple, list[Point]] = defaultdict(list)
    for point in points:
        out[point.facet].append(point)
    return dict(out)


def facet_label(facet: tuple[tuple[str, Any], ...]) -> str:
    return ", ".join(f"{k}={v}" for k, v in facet)


def facet_slug(facet: tuple[tuple[str, Any], ...]) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", "-".join(f"{k}={v}" for k, v in facet))


# ---------------------------------------------------------------------------------------------
# Heatmaps


def predicted_side(point: Point) -> bool | None:
    """The side of the predicted boundary a cell is on: over lahead, whether a stateless model can
    converge; over bptt, whether the stateful model's gradient reaches what the target needs."""
    return point.predicted["stateful" if point.y_param == BPTT else "stateless"]


def grid_cells(points: Sequence[Point]) -> tuple[list[Any], list[Any], dict[tuple[int, int], Point]]:
    """The sorted x values, the sorted y values, and each point at its (x index, y index)."""
    xs = sorted({p.x for p in points}, key=_sortable)
    ys = sorted({p.y for p in points})
    return xs, ys, {(xs.index(p.x), ys.index(p.y)): p for p in points}


def _annotate(ax: Any, norm: Any, at: Mapping[tuple[int, int], Point], value: Any, under: Any) -> None:
    """Write each cell's median (and a second line beneath it) in a colour that reads on the cell."""
    for (i, j), p in at.items():
        median = value(p)
        level = norm(median) if np.isfinite(median) else 0.0
        colour = "white" if level > 0.75 else "black"
        second = under(p)
        ax.text(
            i, j + (0.1 if second else 0), _num(median), ha="center", va="center", fontsize=9, color=colour
        )
        if second:
            ax.text(i, j - 0.2, second, ha="center", va="center", fontsize=6.5, color=colour)


def boundary_segments(grid: np.ndarray) -> list[list[tuple[float, float]]]:
    """Edges between cells on different sides of the boundary. grid: (ny, nx) of True/False/None,
    cell (j, i) centred at (i, j)."""
    ny, nx = grid.shape
    segments = []
    for j in range(ny):
        for i in range(nx):
            here = grid[j, i]
            if here is None:
                continue
            if i + 1 < nx and grid[j, i + 1] is not None and grid[j, i + 1] != here:
                segments.append([(i + 0.5, j - 0.5), (i + 0.5, j + 0.5)])
            if j + 1 < ny and grid[j + 1, i] is not None and grid[j + 1, i] != here:
                segments.append([(i - 0.5, j + 0.5), (i + 0.5, j + 0.5)])
    return segments


def _num(value: float) -> str:
    """Two decimals, without the "-0.00" of a tiny negative difference."""
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text


def _fmt_tick(value: Any) -> str:
    if value is None:  # a real series: no parameter sets its target
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _axes_labels(ax: Any, xs: Sequence[Any], ys: Sequence[Any], x_name: str, y_name: str) -> None:
    ax.set_xticks(range(len(xs)), [_fmt_tick(x) for x in xs])
    ax.set_yticks(range(len(ys)), [_fmt_tick(y) for y in ys])
    ax.set_xlabel("" if x_name == "-" else x_name)
    ax.set_ylabel(y_name)


def heatmap_figure(points: Sequence[Point], title: str) -> Figure:
    """Stateful, stateless and their difference over x (the target parameter) x lahead (or bptt)."""
    xs, ys, at = grid_cells(points)
    nx, ny = len(xs), len(ys)
    medians = {k: np.full((ny, nx), np.nan) for k in (*MODELS, DIFFERENCE)}
    side = np.full((ny, nx), None, dtype=object)
    for (i, j), p in at.items():
        for k in medians:
            medians[k][j, i] = p.nmse[k].median
        side[j, i] = predicted_side(p)

    width, height = 0.85 * nx + 2.0, 0.62 * ny + 1.9
    fig = Figure(figsize=(3 * width, height + 0.7), layout="constrained")
    axes = fig.subplots(1, 3)
    finite = [v for k in MODELS for v in medians[k].ravel() if np.isfinite(v)]
    top = max(1.0, max(finite, default=1.0))
    limit = max([0.1, *(abs(v) for v in medians[DIFFERENCE].ravel() if np.isfinite(v))])
    panels: list[tuple[str, str, str, dict[str, Any]]] = [
        ("stateful", "stateful: normalised test MSE", "YlOrRd", {"vmin": 0.0, "vmax": top}),
        ("stateless", "stateless: normalised test MSE", "YlOrRd", {"vmin": 0.0, "vmax": top}),
        (DIFFERENCE, "stateful − stateless", "RdBu_r", {"norm": TwoSlopeNorm(0.0, -limit, limit)}),
    ]
    segments = boundary_segments(side)
    x_name, y_name = points[0].x_param, points[0].y_param
    for ax, (key, panel_title, cmap, scale) in zip(axes, panels):
        shown = ax.imshow(medians[key], origin="lower", cmap=cmap, aspect="auto", **scale)
        fig.colorbar(shown, ax=ax, shrink=0.9)

        def norm(v: float, shown: Any = shown, key: str = key) -> float:
            level = float(shown.norm(v))
            return 1.0 if key == DIFFERENCE and level < 0.2 else level  # dark at both ends

        _annotate(
            ax,
            norm,
            at,
            lambda p, key=key: p.nmse[key].median,
            lambda p, key=key: f"[{_num(p.nmse[key].lo)}, {_num(p.nmse[key].hi)}]" if p.n > 1 else "",
        )
        if segments:
            ax.add_collection(LineCollection(segments, **BOUNDARY_STYLE))
        _axes_labels(ax, xs, ys, x_name, y_name)
        ax.set_title(panel_title, fontsize=10)
    n_seeds = sorted({p.n for p in points})
    seeds = f"{n_seeds[0]}" if len(n_seeds) == 1 else f"{n_seeds[0]}–{n_seeds[-1]}"
    spread = "; [min, max] over seeds beneath" if n_seeds[-1] > 1 else ""
    fig.suptitle(f"{title}median over {seeds} seed{'s' * (n_seeds[-1] > 1)}{spread}", fontsize=10)
    if segments:
        if y_name == BPTT:
            label = (
                "where the gradient reaches: above it the stateful gradient reaches the oldest input the "
                "target needs (necessary to learn it, not sufficient)"
            )
        else:
            label = "predicted boundary (the stateless floor): stateless can converge on the side above it"
        fig.legend(handles=[Line2D([], [], **BOUNDARY_STYLE, label=label)], loc="outside lower center")
    return fig


def memory_figure(points: Sequence[Point], title: str) -> Figure:
    """Each model's median profile error over the grid, with its median memory span beneath."""
    xs, ys, at = grid_cells(points)
    nx, ny = len(xs), len(ys)
    width, height = 0.85 * nx + 2.0, 0.62 * ny + 1.9
    fig = Figure(figsize=(2 * width, height + 0.5), layout="constrained")
    axes = fig.subplots(1, 2)
    errors = {m: np.full((ny, nx), np.nan) for m in MODELS}
    for (i, j), p in at.items():
        for m in MODELS:
            errors[m][j, i] = p.memory[m]["profile_error"].median
    finite = [v for m in MODELS for v in errors[m].ravel() if np.isfinite(v)]
    top = max(1.0, max(finite, default=1.0))
    for ax, m in zip(axes, MODELS):
        shown = ax.imshow(errors[m], origin="lower", cmap="PuBu", aspect="auto", vmin=0.0, vmax=top)
        fig.colorbar(shown, ax=ax, shrink=0.9)

        def span(p: Point, m: str = m) -> str:
            value = p.memory[m]["span"].median
            return "span —" if not np.isfinite(value) or value < 0 else f"span {value:g}"

        _annotate(
            ax,
            lambda v, shown=shown: float(shown.norm(v)),
            at,
            lambda p, m=m: p.memory[m]["profile_error"].median,
            span,
        )
        _axes_labels(ax, xs, ys, points[0].x_param, points[0].y_param)
        ax.set_title(f"{m}: memory profile error", fontsize=10)
    fig.suptitle(
        f"{title}median over seeds of Σ(s − true)² / Σ true² (0: the model leans on exactly the inputs the "
        "target does); median span beneath",
        fontsize=10,
    )
    return fig


# ---------------------------------------------------------------------------------------------
# Tables and CSV


def _cell(s: Spread, n: int) -> str:
    return f"{s.median:.3f}" if n == 1 else f"{s.median:.3f} [{s.lo:.3f}, {s.hi:.3f}]"


def _opt(value: float | None) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value:.3g}"


def _verdict(value: bool | None) -> str:
    return "—" if value is None else ("converges" if value else "does not")


def summary_rows(summary: Summary) -> tuple[list[str], list[list[Any]]]:
    """The grid-point table of the HTML page."""
    x_params = sorted({p.x_param for p in summary.points})
    header = [
        *summary.facet_params,
        x_params[0] if len(x_params) == 1 else "target parameter",
        summary.y_param,
        "seeds",
        "stateful nMSE median [min, max]",
        "stateless nMSE median [min, max]",
        "stateless floor",
        "stateful converged",
        "stateless converged",
        "stateless predicted",
        "stateful span",
        "stateful profile error",
    ]
    rows = []
    for p in summary.points:
        rows.append(
            [
                *(v for _, v in p.facet),
                _fmt_tick(p.x) if len(x_params) == 1 else f"{p.x_param}={_fmt_tick(p.x)}",
                p.y,
                p.n,
                _cell(p.nmse["stateful"], p.n),
                _cell(p.nmse["stateless"], p.n),
                _opt(p.floor_nmse["stateless"]),
                f"{p.converged['stateful']}/{p.n}",
                f"{p.converged['stateless']}/{p.n}",
                _verdict(p.expected["stateless"]),
                _opt(p.memory["stateful"]["span"].median),
                _opt(p.memory["stateful"]["profile_error"].median),
            ]
        )
    return header, rows


def summary_csv(summary: Summary) -> str:
    """One row per grid point, numbers in full precision."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    stats = ("median", "q1", "q3", "min", "max")
    header = [*summary.facet_params, "x_param", "x", "y_param", "y", "seeds"]
    for k in (*MODELS, DIFFERENCE):
        header += [f"{k}_nmse_{s}" for s in stats]
    header += [f"{m}_{s}" for m in MODELS for s in ("floor_nmse", "converged", "expected_converged")]
    header += [f"{m}_{k}_median" for m in MODELS for k in MEMORY_NUMBERS]
    writer.writerow(header)
    for p in summary.points:
        row: list[Any] = [*(v for _, v in p.facet), p.x_param, p.x, p.y_param, p.y, p.n]
        for k in (*MODELS, DIFFERENCE):
            s = p.nmse[k]
            row += [repr(s.median), repr(s.q1), repr(s.q3), repr(s.lo), repr(s.hi)]
        for m in MODELS:
            row += [p.floor_nmse[m], p.converged[m], p.expected[m]]
        row += [repr(p.memory[m][k].median) for m in MODELS for k in MEMORY_NUMBERS]
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()


def trials_csv(records: Sequence[TrialRecord]) -> str:
    """One row per trial, failed ones included: every config field, key metrics, timings, error."""
    fields: dict[str, None] = {}
    for r in records:
        fields.update(dict.fromkeys(flat_config(r.config)))
    metric_cols = [f"{m}_{k}" for m in MODELS for k in (*METRIC_KEYS, *MEMORY_NUMBERS)]
    header = ["config_hash", "status", *fields, *metric_cols, "claim_held", "train_s", "finished_at", "error"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for r in records:
        params = flat_config(r.config)
        models = (r.metrics or {}).get("models", {})
        metrics = [
            (models.get(m, {}).get("memory") or {}).get(k)
            if k in MEMORY_NUMBERS
            else models.get(m, {}).get(k)
            for m in MODELS
            for k in (*METRIC_KEYS, *MEMORY_NUMBERS)
        ]
        row = [
            r.config_hash,
            r.status,
            *(params.get(f) for f in fields),
            *metrics,
            (r.metrics or {}).get("claim_held"),
            r.timings.get("train_s"),
            r.finished_at,
            r.error,
        ]
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# The page


def agreement(points: Sequence[Point], model: str) -> tuple[int, int]:
    """(grid points where the median verdict matches the prediction, points with a prediction)."""
    judged = [p for p in points if p.expected[model] is not None]
    return sum(p.median_converged(model) == p.expected[model] for p in judged), len(judged)


def verdict_lines(points: Sequence[Point]) -> tuple[list[str], bool]:
    """One line per model with a prediction: at how many grid points the median verdict matched
    theory; and whether it matched at all of them. No lines where no analytic floor applies."""
    lines = []
    all_held = True
    for model in MODELS:
        held, judged = agreement(points, model)
        if judged:
            all_held &= held == judged
            lines.append(
                f"{model}: the median over seeds converged exactly as theory expects at {held} of the "
                f"{judged} grid points where it promised or ruled out convergence"
            )
    return lines, all_held


def verdict_html(summary: Summary) -> str:
    lines, all_held = verdict_lines(summary.points)
    if not lines:
        return '<p class="note">No analytic floor applies to these tasks: nothing to predict.</p>'
    cls = "ok" if all_held else "bad"
    return f'<p class="verdict {cls}">' + "<br>".join(esc(s) for s in lines) + "</p>"


def failures_html(failures: Sequence[TrialRecord], params: Sequence[str]) -> str:
    if not failures:
        return ""
    rows = []
    for r in failures:
        flat = flat_config(r.config)
        rows.append([r.config_hash[:12], ", ".join(f"{p}={flat.get(p)}" for p in params), r.error])
    return f"<h2>Failed trials ({len(failures)})</h2>" + table(["trial", "parameters", "error"], rows)


def render_html(summary: Summary, images: Mapping[str, bytes], source: str, files: Sequence[str]) -> str:
    n_ok, n_failed = len(summary.trials), len(summary.failures)
    body = [
        "<h1>statelab sweep</h1>",
        f'<p class="sub">{n_ok} finished trials, {n_failed} failed, from <code>{esc(source)}</code></p>',
        verdict_html(summary),
        '<p class="note">Normalised MSE is test MSE / var(y): 0 is perfect, 1 is predicting the mean. '
        f"A model converged when it is within {CONVERGED_NMSE} of the best any model can reach (0 but on "
        "the ar task). Each cell is the median over seeds, with the seeds' min–max beneath it. The dashed "
        "staircase is the predicted boundary where the stateless floor falls within the threshold (lahead "
        "≥ 0.9 tsteps on the moving-average task): a stateless model sees only its window, so it can "
        "converge only on the side where the window holds enough of what the target needs; a stateful "
        "model carries its state and can converge everywhere, if it learns to. When bptt varies it is "
        "the y axis, and the staircase is where the stateful model's gradient starts to reach the oldest "
        "input the target needs (bptt = delay + 1 on the delay task at lahead 1): necessary for learning "
        "that memory, not sufficient, since longer memories also need more training. The third panel "
        "is stateful − stateless: blue where state helps. The memory figures show each model's profile "
        "error (0: it leans on exactly the inputs the target depends on) and its memory span.</p>",
    ]
    for title, png in images.items():
        body.append(f"<h2>{esc(title)}</h2>{image(png, title)}")
    header, rows = summary_rows(summary)
    body.append("<h2>Grid points</h2>" + table(header, rows))
    body.append(failures_html(summary.failures, sorted(varying_all(summary))))
    body.append(
        "<h2>Files</h2>" + table(["file", "content"], [(f, FILE_NOTES.get(f, "heatmaps")) for f in files])
    )
    return page("statelab sweep", "".join(body))


def varying_all(summary: Summary) -> set[str]:
    """Parameters that vary among all trials, failed ones included."""
    params = [*(flat_config(r.config) for r in summary.failures), *(t.params for t in summary.trials)]
    return {*_varying(params), summary.y_param}


FILE_NOTES = {
    "summary.csv": "one row per grid point: median, quartiles, min and max over seeds",
    "memory.png": "memory profile error and span per grid point",
    "trials.csv": "one row per trial (failed ones included): parameters, metrics, error",
    "report.html": "this page",
}


# ---------------------------------------------------------------------------------------------
# Writing


def render(records: Sequence[TrialRecord], source: str) -> dict[str, bytes]:
    """Every file of the report, in memory: {file name: content}."""
    summary = summarise(records)
    by_facet = facets(summary.points)
    images: dict[str, bytes] = {}  # file name -> PNG
    titles: dict[str, bytes] = {}  # section title -> PNG
    for facet, points in by_facet.items():
        suffix = "" if len(by_facet) == 1 else f"-{facet_slug(facet)}"
        label = facet_label(facet)
        name = f"heatmap{suffix}.png"
        images[name] = png_bytes(heatmap_figure(points, f"{label}: " if label else ""))
        titles[f"Phase diagram: {label}" if label else "Phase diagram"] = images[name]
        if any(np.isfinite(p.memory["stateful"]["profile_error"].median) for p in points):
            name = f"memory{suffix}.png"
            images[name] = png_bytes(memory_figure(points, f"{label}: " if label else ""))
            titles[f"Memory: {label}" if label else "Memory"] = images[name]
    files = {
        **images,
        "summary.csv": summary_csv(summary).encode(),
        "trials.csv": trials_csv(records).encode(),
    }
    html = render_html(summary, titles, source, [*files, "report.html"])
    return {**files, "report.html": html.encode("utf-8")}


def write_report(
    records: Sequence[TrialRecord],
    out: str | Path,
    source: str = "",
    before_write: Callable[[], None] | None = None,
) -> Path:
    """Draw the report of `records` into directory `out`; returns the path of report.html.

    `out` must be new, empty, or a report directory statelab wrote (it is marked so); anything
    else is a ConfigError and nothing is written. Everything is rendered in memory first, so a
    failure leaves no partial report behind; `before_write` is called between rendering and
    writing (Ctrl-C is checked there). Heatmaps of facets an earlier report drew and this one
    does not are removed: in a marked directory, only statelab wrote them.
    """
    out = check_report_dir(out)
    files = render(list(records), source)
    if before_write is not None:
        before_write()
    claim_report_dir(out)
    for name, data in files.items():
        write_atomic(out / name, data)
    for stale in [*out.glob("heatmap*.png"), *out.glob("memory*.png")]:
        if stale.name not in files:
            stale.unlink()
    return out / "report.html"
