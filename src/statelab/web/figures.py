"""Interactive figures as Plotly figure specs: plain JSON (`data` and `layout`) that plotly.js draws.

The run figures are those of a run's report.html (statelab.report.run draws them with matplotlib):
the test targets and each model's error, the loss curves, the memory profile, and the models
against their floors. Each takes a list of runs, so two runs overlay (the second in dashed lines).
The phase diagram is the sweep report's heatmap (statelab.report.sweep): stateful, stateless and
their difference over the task's target parameter and lahead, with the predicted boundary, and a
hover text per cell. Nothing here computes a result; it only lays out numbers it is given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from statelab.report.run import COLOURS, TARGET_COLOUR, RunFiles, fmt, panel_title
from statelab.report.sweep import (
    DIFFERENCE,
    MODELS,
    Point,
    boundary_segments,
    grid_cells,
    predicted_side,
)

Figure = dict[str, Any]  # {"data": [trace, ...], "layout": {...}}
DASHES = ("solid", "dash", "dot")  # run 1, 2, 3 of an overlay
FONT = {"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12}


def values(array: Any) -> list[float | None]:
    """An array as a JSON list, NaN and infinities as null (JSON has no NaN)."""
    return [float(v) if math.isfinite(v) else None for v in np.asarray(array, float).ravel()]


def _layout(**extra: Any) -> dict[str, Any]:
    return {
        "font": FONT,
        "margin": {"l": 60, "r": 20, "t": 40, "b": 45},
        "hovermode": "closest",
        "legend": {"orientation": "h", "y": -0.18},
        **extra,
    }


def _tag(label: str, name: str) -> str:
    return f"{label}: {name}" if label else name


def predictions_figure(runs: Sequence[tuple[str, RunFiles]]) -> Figure:
    """Top: the test targets and each model's predictions. Below, one panel per model: expected
    minus predicted, the stateful model's first `warmup_excluded` rows left out (a reset state has
    no history for them), titled with its normalised MSE and floor."""
    models = list(runs[0][1].metrics["models"])
    n_panels = 1 + len(models)
    gap = 0.07
    height = (1 - gap * (n_panels - 1)) / n_panels
    domains = [[1 - (k + 1) * height - k * gap, 1 - k * (height + gap)] for k in range(n_panels)]
    data, annotations = [], []
    for r, (label, run) in enumerate(runs):
        dash = DASHES[r % len(DASHES)]
        p = run.predictions
        row = values(p["row"])
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": row,
                "y": values(p["target"]),
                "name": _tag(label, "expected"),
                "line": {"color": TARGET_COLOUR, "width": 1.2, "dash": dash},
                "yaxis": "y",
            }
        )
        for k, name in enumerate(models, start=2):
            m = run.metrics["models"][name]
            w = int(m["warmup_excluded"])
            pred = np.asarray(p[f"pred_{name}"], float)
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "x": row,
                    "y": values(pred),
                    "name": _tag(label, f"{name} prediction"),
                    "line": {"color": COLOURS.get(name), "width": 1, "dash": dash},
                    "yaxis": "y",
                }
            )
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "x": row[w:],
                    "y": values((np.asarray(p["target"], float) - pred)[w:]),
                    "name": _tag(label, f"{name} error"),
                    "line": {"color": COLOURS.get(name), "width": 1, "dash": dash},
                    "yaxis": f"y{k}",
                    "showlegend": False,
                }
            )
            if r == 0:
                title = (
                    panel_title(name, m) if len(runs) == 1 else f"{name.capitalize()}: expected − predicted"
                )
                annotations.append(_panel_title(title, domains[k - 1][1], f"y{k} domain"))
    annotations.insert(0, _panel_title("Test targets and predictions", domains[0][1], "y domain"))
    layout = _layout(
        height=170 * n_panels + 80,
        xaxis={"anchor": f"y{n_panels}", "title": {"text": "test row"}},
        annotations=annotations,
        margin={"l": 60, "r": 20, "t": 30, "b": 45},
    )
    for k in range(n_panels):
        key = "yaxis" if k == 0 else f"yaxis{k + 1}"
        layout[key] = {"domain": domains[k], "zeroline": True, "anchor": "x"}
        if k > 1:
            layout[key]["matches"] = "y2"  # the error panels share their scale, as in the report
    return {"data": data, "layout": layout}


def _panel_title(text: str, top: float, yref: str) -> dict[str, Any]:
    return {
        "text": text,
        "x": 0,
        "xref": "paper",
        "xanchor": "left",
        "y": 1 if yref.endswith("domain") else top,
        "yref": yref,
        "yanchor": "bottom",
        "showarrow": False,
        "font": {"size": 12},
    }


def loss_figure(runs: Sequence[tuple[str, RunFiles]]) -> Figure:
    """Train (solid) and validation (dashed) MSE per epoch, log scale, with each model's floor and
    the convergence threshold; a second run in dotted lines."""
    data = []
    for r, (label, run) in enumerate(runs):
        width = 2 if r == 0 else 1.5
        opacity = 1.0 if r == 0 else 0.6
        for name, h in run.history.items():
            epoch = values(h["epoch"])
            for key, dash, what in (("train_loss", "solid", "train"), ("val_loss", "dash", "validation")):
                data.append(
                    {
                        "type": "scatter",
                        "mode": "lines+markers" if len(epoch) <= 30 else "lines",
                        "x": epoch,
                        "y": values(h[key]),
                        "name": _tag(label, f"{name} {what}"),
                        "opacity": opacity,
                        "line": {
                            "color": COLOURS.get(name),
                            "dash": dash if r == 0 else "dot",
                            "width": width,
                        },
                        "marker": {"size": 5},
                    }
                )
        ends = [1, max(len(h["epoch"]) for h in run.history.values())]
        for name, m in run.metrics["models"].items():
            if m["floor_mse"]:
                data.append(_level(ends, m["floor_mse"], _tag(label, f"{name} floor"), COLOURS.get(name)))
        var_y = run.metrics.get("var_y")
        if var_y:
            threshold = run.metrics["threshold_nmse"] * var_y
            data.append(_level(ends, threshold, _tag(label, "convergence threshold"), "#57606a"))
    layout = _layout(
        height=360,
        title={"text": "Loss per epoch", "font": {"size": 14}},
        xaxis={"title": {"text": "epoch"}, "dtick": 1 if ends[-1] <= 20 else None},
        yaxis={"type": "log", "title": {"text": "MSE"}, "exponentformat": "e"},
        legend={"orientation": "v", "x": 1.02, "y": 1},
        margin={"l": 60, "r": 10, "t": 40, "b": 45},
    )
    return {"data": data, "layout": layout}


def _level(ends: list[int], y: float, name: str, colour: str | None) -> dict[str, Any]:
    return {
        "type": "scatter",
        "mode": "lines",
        "x": ends,
        "y": [y, y],
        "name": name,
        "line": {"color": colour, "dash": "dot", "width": 1},
        "hoverinfo": "name+y",
    }


def memory_figure(runs: Sequence[tuple[str, RunFiles]]) -> Figure | None:
    """Each model's sensitivity d yhat[t] / d x[t-k] against the lag k, over the task's own
    profile (bars); None when no run has a memory profile."""
    if not any(run.metrics.get("task_profile") for _, run in runs):
        return None
    data = []
    for r, (label, run) in enumerate(runs):
        truth = run.metrics.get("task_profile") or []
        kind = "task (truth)" if run.metrics.get("task_profile_kind") == "truth" else "linear AR reference"
        lags = list(range(len(truth)))
        data.append(
            {
                "type": "bar",
                "x": lags,
                "y": values(truth),
                "name": _tag(label, kind),
                "marker": {"color": "#d0d7de" if r == 0 else "#8c959f"},
                "opacity": 1.0 if r == 0 else 0.5,
            }
        )
        for name, m in run.metrics["models"].items():
            mem = m.get("memory")
            if mem:
                data.append(
                    {
                        "type": "scatter",
                        "mode": "lines+markers",
                        "x": lags,
                        "y": values(mem["sensitivity"]),
                        "name": _tag(label, f"{name} (span {mem['span']})"),
                        "line": {"color": COLOURS.get(name), "dash": DASHES[r % len(DASHES)]},
                    }
                )
    layout = _layout(
        height=340,
        barmode="overlay",
        title={"text": "Memory profile: what each prediction leans on", "font": {"size": 14}},
        xaxis={"title": {"text": "lag k (inputs back)"}, "dtick": 1},
        yaxis={"title": {"text": "d prediction / d x[t-k]"}},
        legend={"orientation": "v", "x": 1.02, "y": 1},
        margin={"l": 60, "r": 10, "t": 40, "b": 45},
    )
    return {"data": data, "layout": layout}


def floors_figure(runs: Sequence[tuple[str, RunFiles]]) -> Figure:
    """Each model's normalised test MSE (bars) beside the floor of its kind (diamonds) and the
    convergence threshold (dashed): below the threshold, it converged."""
    data = []
    threshold = None
    for r, (label, run) in enumerate(runs):
        models = run.metrics["models"]
        names = [_tag(label, n) for n in models]
        data.append(
            {
                "type": "bar",
                "x": names,
                "y": [m["test_nmse"] for m in models.values()],
                "name": _tag(label, "normalised test MSE"),
                "marker": {"color": [COLOURS.get(n) for n in models], "opacity": 1.0 if r == 0 else 0.6},
                "text": [fmt(m["test_nmse"], 3) for m in models.values()],
                "textposition": "outside",
                "showlegend": r == 0,
            }
        )
        floors = [m["floor_nmse"] for m in models.values()]
        if any(f is not None for f in floors):
            data.append(
                {
                    "type": "scatter",
                    "mode": "markers",
                    "x": names,
                    "y": floors,
                    "name": "floor of its kind",
                    "marker": {"symbol": "diamond", "size": 13, "color": "#1b1f24"},
                    "showlegend": r == 0,
                }
            )
            best = floors[list(models).index("stateful")] if "stateful" in models else 0.0
            threshold = (best or 0.0) + run.metrics["threshold_nmse"]
    shapes = []
    if threshold is not None:
        shapes.append(
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": threshold,
                "y1": threshold,
                "line": {"dash": "dash", "color": "#57606a", "width": 1},
            }
        )
    layout = _layout(
        height=300,
        title={"text": "Normalised test MSE against the floor", "font": {"size": 14}},
        yaxis={"title": {"text": "MSE / var(y)"}, "rangemode": "tozero"},
        shapes=shapes,
        bargap=0.4,
        margin={"l": 60, "r": 10, "t": 40, "b": 40},
    )
    return {"data": data, "layout": layout}


def run_figures(runs: Sequence[tuple[str, RunFiles]]) -> dict[str, Figure]:
    """Every figure of one run (or of runs overlaid): {name: figure}."""
    figures = {
        "floors": floors_figure(runs),
        "predictions": predictions_figure(runs),
        "loss": loss_figure(runs),
    }
    memory = memory_figure(runs)
    if memory is not None:
        figures["memory"] = memory
    return figures


# ---------------------------------------------------------------------------------------------
# The phase diagram of a sweep

DIVERGING = [[0.0, "#2166ac"], [0.5, "#f7f7f7"], [1.0, "#b2182b"]]  # blue where state helps, as the report
PANELS = (
    ("stateful", "stateful: normalised test MSE"),
    ("stateless", "stateless: normalised test MSE"),
    (DIFFERENCE, "stateful − stateless"),
)


def _tick(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _floor_text(point: Point, key: str) -> str:
    if key == DIFFERENCE:
        return ", ".join(f"{m} {fmt(point.floor_nmse[m], 3)}" for m in MODELS)
    return fmt(point.floor_nmse[key], 3)


def _hover(point: Point, key: str, title: str) -> str:
    s = point.nmse[key]
    where = f"{point.x_param} {_tick(point.x)}, {point.y_param} {point.y}" if point.x_param != "-" else ""
    return (
        f"<b>{title}</b><br>{where}<br>median {fmt(s.median, 3)}"
        f"<br>[min, max] [{fmt(s.lo, 3)}, {fmt(s.hi, 3)}]"
        f"<br>seeds {point.n}<br>floor {_floor_text(point, key)}"
    )


def phase_figure(points: Sequence[Point], title: str = "") -> tuple[Figure, list[list[list[str] | None]]]:
    """Three heatmaps of one facet, and per cell (y index, x index) its trials' keys (or None).

    Cells sit at integer positions (x index, y index), labelled with the values, so the
    predicted boundary (`report.sweep.boundary_segments`) lies on the cell edges as in the report.
    """
    xs, ys, at = grid_cells(points)
    nx, ny = len(xs), len(ys)
    side = np.full((ny, nx), None, dtype=object)
    cells: list[list[list[str] | None]] = [[None] * nx for _ in range(ny)]
    for (i, j), p in at.items():
        side[j, i] = predicted_side(p)
        cells[j][i] = list(p.config_hashes)
    finite = [p.nmse[m].median for p in points for m in MODELS if math.isfinite(p.nmse[m].median)]
    top = max(1.0, max(finite, default=1.0))
    diffs = [abs(p.nmse[DIFFERENCE].median) for p in points if math.isfinite(p.nmse[DIFFERENCE].median)]
    limit = max([0.1, *diffs])
    segments = boundary_segments(side)
    x_name, y_name = points[0].x_param, points[0].y_param
    data, shapes, annotations = [], [], []
    gap = 0.085
    width = (1 - 2 * gap) / 3
    layout = _layout(height=max(300, 46 * ny + 150), margin={"l": 60, "r": 20, "t": 50, "b": 50})
    for k, (key, panel) in enumerate(PANELS, start=1):
        z = [[None] * nx for _ in range(ny)]
        hover = [[""] * nx for _ in range(ny)]
        for (i, j), p in at.items():
            median = p.nmse[key].median
            z[j][i] = median if math.isfinite(median) else None
            hover[j][i] = _hover(p, key, panel)
        axis = "" if k == 1 else str(k)
        data.append(
            {
                "type": "heatmap",
                "name": key,
                "z": z,
                "x": list(range(nx)),
                "y": list(range(ny)),
                "text": hover,
                "hovertemplate": "%{text}<extra></extra>",
                "texttemplate": "%{z:.2f}",
                "coloraxis": "coloraxis2" if key == DIFFERENCE else "coloraxis",
                "xaxis": f"x{axis}",
                "yaxis": f"y{axis}",
                "xgap": 1,
                "ygap": 1,
            }
        )
        left = (k - 1) * (width + gap)
        layout[f"xaxis{axis}"] = {
            "domain": [left, left + width],
            "anchor": f"y{axis}",
            "tickvals": list(range(nx)),
            "ticktext": [_tick(x) for x in xs],
            "title": {"text": "" if x_name == "-" else x_name},
            "showgrid": False,
            "zeroline": False,
        }
        layout[f"yaxis{axis}"] = {
            "anchor": f"x{axis}",
            "tickvals": list(range(ny)),
            "ticktext": [_tick(y) for y in ys],
            "title": {"text": y_name if k == 1 else ""},
            "showgrid": False,
            "zeroline": False,
        }
        annotations.append(
            {
                "text": panel,
                "x": left + width / 2,
                "xref": "paper",
                "xanchor": "center",
                "y": 1.0,
                "yref": "paper",
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"size": 13},
            }
        )
        for (x0, y0), (x1, y1) in segments:
            shapes.append(
                {
                    "type": "line",
                    "xref": f"x{axis}",
                    "yref": f"y{axis}",
                    "x0": x0,
                    "y0": y0,
                    "x1": x1,
                    "y1": y1,
                    "line": {"color": "#111111", "width": 3, "dash": "dash"},
                }
            )
    n_seeds = sorted({p.n for p in points})
    seeds = f"{n_seeds[0]}" if len(n_seeds) == 1 else f"{n_seeds[0]}–{n_seeds[-1]}"
    layout.update(
        title={
            "text": f"{title}median over {seeds} seed{'s' * (n_seeds[-1] > 1)}",
            "font": {"size": 13},
            "x": 0,
            "xanchor": "left",
        },
        annotations=annotations,
        shapes=shapes,
        coloraxis={
            "colorscale": "YlOrRd",
            "reversescale": True,  # plotly's YlOrRd runs dark to light; low errors are light here
            "cmin": 0.0,
            "cmax": top,
            "colorbar": {"x": 2 * width + gap + 0.005, "xanchor": "left", "len": 0.9, "thickness": 12},
        },
        coloraxis2={
            "colorscale": DIVERGING,
            "cmin": -limit,
            "cmax": limit,
            "colorbar": {"x": 1.005, "xanchor": "left", "len": 0.9, "thickness": 12},
        },
    )
    return {"data": data, "layout": layout}, cells
