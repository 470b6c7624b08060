"""A run's interactive figures as Plotly specs: plain JSON (`data` and `layout`) that plotly.js draws.

They are the figures of a run's report.html (statelab.report.run draws them with matplotlib): the
test targets and each model's error, the loss curves, the memory profile, and the models against
their floors. Each takes a list of runs, so runs overlay: run k is drawn in line style k
(`DASHES`, named for the page by `style_names`), each model in its colour. Nothing here computes a
result; it only lays out numbers it is given. (A sweep's heatmaps and curves: web/stores.py.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from statelab.report.figures import COLOURS, TARGET_COLOUR, panel_title
from statelab.report.html import fmt, span_text
from statelab.rundir import RunFiles

Figure = dict[str, Any]  # {"data": [trace, ...], "layout": {...}}
# Run 1, 2, ... of an overlay: Plotly's six named dash styles, then two patterns of its own.
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot", "12px,3px,2px,3px,2px,3px", "1px,7px")
DASH_NAMES = (
    "solid",
    "dashed",
    "dotted",
    "dash-dot",
    "long dashes",
    "long dash-dot",
    "dash-dot-dot",
    "sparse dots",
)
FONT = {"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12}
SPAN_HELP = (
    "span: the oldest lag k whose weight is at least 10% of the task's largest, where the profile "
    "leans where the task does (none (diffuse) where it does not)"
)


def style_names(n: int) -> list[str]:
    """The line styles of runs 1..n of an overlay, in words (the legend shows the lines)."""
    return [DASH_NAMES[r % len(DASH_NAMES)] for r in range(n)]


def values(array: Any) -> list[float | None]:
    """An array as a JSON list, NaN and infinities as null (JSON has no NaN)."""
    return [float(v) if math.isfinite(v) else None for v in np.asarray(array, float).ravel()]


def layout_base(**extra: Any) -> dict[str, Any]:
    return {
        "font": FONT,
        "margin": {"l": 60, "r": 20, "t": 40, "b": 45},
        "hovermode": "closest",
        "hoverlabel": {"namelength": -1, "align": "left"},  # whole trace names, never cut short
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
    data: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for r, (label, run) in enumerate(runs):
        dash = DASHES[r % len(DASHES)]
        p = run.predictions
        # One series with times: along the file's time (a date axis for dates); else by row.
        # Times as the file writes them (text: Plotly reads dates and numbers alike from it).
        row = [str(t) for t in p["time"]] if "time" in p and "series" not in p else values(p["row"])
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
    layout = layout_base(
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
    """One run: train (solid) and validation (dashed) MSE per epoch, log scale, with each model's
    floor and the convergence threshold (dotted). Several runs: `overlay_loss_figure`."""
    if len(runs) > 1:
        return overlay_loss_figure(runs)
    data = []
    (label, run), ends = runs[0], [1, 1]
    for name, h in run.history.items():
        epoch = values(np.asarray(h["epoch"]) + 1)  # counted from 1 on the page, as Keras prints epochs
        ends[1] = max(ends[1], len(epoch))
        for key, dash, what in (("train_loss", "solid", "train"), ("val_loss", "dash", "validation")):
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers" if len(epoch) <= 30 else "lines",
                    "x": epoch,
                    "y": values(h[key]),
                    "name": _tag(label, f"{name} {what}"),
                    "line": {"color": COLOURS.get(name), "dash": dash, "width": 2},
                    "marker": {"size": 5},
                }
            )
    data += _levels(label, run, ends, "dot")
    layout = layout_base(
        height=360,
        title={"text": "Loss per epoch", "font": {"size": 14}},
        xaxis={"title": {"text": "epoch"}, "dtick": 1 if ends[-1] <= 20 else None},
        yaxis={"type": "log", "title": {"text": "MSE"}, "exponentformat": "e"},
        legend={"orientation": "v", "x": 1.02, "y": 1},
        margin={"l": 60, "r": 10, "t": 40, "b": 45},
    )
    return {"data": data, "layout": layout}


def overlay_loss_figure(runs: Sequence[tuple[str, RunFiles]]) -> Figure:
    """Several runs' losses: training MSE above, validation MSE below (with each run's floors and
    threshold, thin), run k in line style k throughout, each model in its colour; one legend
    entry per run and model, whose sample is the style of both its curves."""
    data: list[dict[str, Any]] = []
    longest = max(len(h["epoch"]) for _, run in runs for h in run.history.values())
    ends = [1, longest]
    for r, (label, run) in enumerate(runs):
        dash = DASHES[r % len(DASHES)]
        for name, h in run.history.items():
            epoch = values(np.asarray(h["epoch"]) + 1)  # from 1 on the page
            for key, axis in (("train_loss", "y"), ("val_loss", "y2")):
                data.append(
                    {
                        "type": "scatter",
                        "mode": "lines",
                        "x": epoch,
                        "y": values(h[key]),
                        "name": _tag(label, name),
                        "legendgroup": _tag(label, name),
                        "showlegend": axis == "y",
                        "line": {"color": COLOURS.get(name), "dash": dash, "width": 2},
                        "yaxis": axis,
                        "hovertemplate": f"{_tag(label, name)} {'train' if axis == 'y' else 'validation'}"
                        "<br>epoch %{x}: %{y:.4g}<extra></extra>",
                    }
                )
        for level in _levels(label, run, ends, dash):
            data.append({**level, "yaxis": "y2", "opacity": 0.6, "line": {**level["line"], "width": 1}})
    layout = layout_base(
        height=520,
        title={"text": "Loss per epoch: training (top) and validation (bottom)", "font": {"size": 14}},
        xaxis={"title": {"text": "epoch"}, "anchor": "y2", "dtick": 1 if longest <= 20 else None},
        yaxis={"type": "log", "title": {"text": "train MSE"}, "exponentformat": "e", "domain": [0.55, 1]},
        yaxis2={
            "type": "log",
            "title": {"text": "validation MSE"},
            "exponentformat": "e",
            "domain": [0, 0.45],
        },
        legend={"orientation": "v", "x": 1.02, "y": 1},
        margin={"l": 60, "r": 10, "t": 40, "b": 45},
    )
    return {"data": data, "layout": layout}


def _levels(label: str, run: RunFiles, ends: list[int], dash: str) -> list[dict[str, Any]]:
    """A run's floors (one per model) and its convergence threshold, as flat lines over `ends`."""
    out = []
    for name, m in run.metrics["models"].items():
        if m["floor_mse"]:
            out.append(_level(ends, m["floor_mse"], _tag(label, f"{name} floor"), COLOURS.get(name), dash))
    var_y = run.metrics.get("var_y")
    if var_y:
        threshold = run.metrics["threshold_nmse"] * var_y
        out.append(_level(ends, threshold, _tag(label, "convergence threshold"), "#57606a", dash))
    return out


def _level(ends: list[int], y: float, name: str, colour: str | None, dash: str = "dot") -> dict[str, Any]:
    return {
        "type": "scatter",
        "mode": "lines",
        "x": ends,
        "y": [y, y],
        "name": name,
        "line": {"color": colour, "dash": dash, "width": 1},
        "hoverinfo": "name+y",
    }


def memory_figure(runs: Sequence[tuple[str, RunFiles]]) -> Figure | None:
    """Each model's sensitivity d yhat[t] / d x[t-k] against the lag k, over the task's own
    profile (bars); beneath it, when the runs measured them, what each model's state holds (r2 of
    x[t-k]) and its gradient reach |dh[t]/dh[t-k]| (log scale; initial weights dotted). None when
    no run has a memory profile."""
    if not any(run.metrics.get("task_profile") for _, run in runs):
        return None
    state = all(
        (m.get("memory") or {}).get("capacity") for _, run in runs for m in run.metrics["models"].values()
    )
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
                line = {"color": COLOURS.get(name), "dash": DASHES[r % len(DASHES)]}
                data.append(
                    {
                        "type": "scatter",
                        "mode": "lines+markers",
                        "x": lags,
                        "y": values(mem["sensitivity"]),
                        "name": _tag(label, f"{name} (span {span_text(mem)})"),
                        "line": line,
                        "hovertemplate": f"{_tag(label, name)}: lag %{{x}}, %{{y:.4g}}<br>{SPAN_HELP}"
                        "<extra></extra>",
                    }
                )
                if state:
                    data += _state_traces(_tag(label, name), mem, lags, line)
    layout = layout_base(
        height=340,
        barmode="overlay",
        title={"text": "Memory profile: what each prediction leans on", "font": {"size": 14}},
        xaxis={"title": {"text": "lag k (inputs back)"}, "dtick": 1},
        yaxis={"title": {"text": "d prediction / d x[t-k]"}},
        legend={"orientation": "v", "x": 1.02, "y": 1},
        margin={"l": 60, "r": 10, "t": 40, "b": 45},
    )
    if state:
        layout.update(
            height=620,
            yaxis={"title": {"text": "d prediction / d x[t-k]"}, "domain": [0.6, 1.0]},
            xaxis2={"anchor": "y2", "domain": [0.0, 0.45], "dtick": 1, "title": {"text": "lag k"}},
            yaxis2={"anchor": "x2", "domain": [0.0, 0.4], "title": {"text": "r² of x[t-k]"}},
            xaxis3={"anchor": "y3", "domain": [0.55, 1.0], "dtick": 1, "title": {"text": "lag k"}},
            yaxis3={
                "anchor": "x3",
                "domain": [0.0, 0.4],
                "type": "log",
                "title": {"text": "|dh[t] / dh[t-k]|"},
            },
            annotations=[
                _corner("What the state holds: r² of x[t-k]", "x2", "y2"),
                _corner("Gradient reach (dotted: initial weights)", "x3", "y3"),
            ],
        )
    return {"data": data, "layout": layout}


def _state_traces(
    name: str, mem: dict[str, Any], lags: list[int], line: dict[str, Any]
) -> list[dict[str, Any]]:
    """r2(k) in the lower left panel; g(k), trained and initial, in the lower right (0 is left
    out: a log scale has no place for it)."""
    held, reach = mem["capacity"], mem["gradient_reach"]
    total = "n/a" if held["total"] is None else f"{held['total']:.2f}"
    traces = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "x": lags,
            "y": values(held["r2"]),
            "name": f"{name}: r² (total {total} of {held['state_size']})",
            "line": line,
            "xaxis": "x2",
            "yaxis": "y2",
            "showlegend": False,
        }
    ]
    for key in ("trained", "initial"):
        g = [v if v is not None and v > 0 else None for v in values(reach[key])]
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": lags,
                "y": g,
                "name": f"{name}: gradient reach, {key} weights",
                "line": line if key == "trained" else {**line, "dash": "dot"},
                "opacity": 1.0 if key == "trained" else 0.6,
                "xaxis": "x3",
                "yaxis": "y3",
                "showlegend": False,
            }
        )
    return traces


def _corner(text: str, x: str, y: str) -> dict[str, Any]:
    """A panel's title, over its top left corner."""
    return {
        "text": text,
        "x": 0,
        "xref": f"{x} domain",
        "xanchor": "left",
        "y": 1,
        "yref": f"{y} domain",
        "yanchor": "bottom",
        "showarrow": False,
        "font": {"size": 12},
    }


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
        others = {**run.metrics.get("baselines", {}), **(run.metrics.get("peers") or {})}
        others = {n: o for n, o in others.items() if o.get("test_nmse") is not None}
        if "verdict" in run.metrics and others:  # a real series: every other forecaster beside them
            data.append(
                {
                    "type": "bar",
                    "x": [_tag(label, n) for n in others],
                    "y": [o["test_nmse"] for o in others.values()],
                    "name": _tag(label, "baselines and peers"),
                    "marker": {"color": "#8c959f", "opacity": 1.0 if r == 0 else 0.6},
                    "text": [fmt(o["test_nmse"], 3) for o in others.values()],
                    "textposition": "outside",
                    "showlegend": r == 0,
                }
            )
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
    layout = layout_base(
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
