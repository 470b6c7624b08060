"""A sweep store as the Sweeps page shows it: the phase diagram per facet, trials, counts.

Records are read with `store.Store` (while another process may be writing: SQLite's WAL gives each
read a consistent snapshot) and summarised with `report.sweep.summarise` and `report.sweep.facets`,
as `statelab report` summarises them; the heatmaps are the report's (stateful, stateless and their
difference over the task's target parameter and lahead, with the predicted boundary from
`report.sweep.boundary_segments`) drawn as Plotly specs, with a hover text per cell; beneath them
each model's memory profile error with its span, as the report's memory figure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from statelab.config import ConfigError
from statelab.report.html import fmt
from statelab.report.sweep import (
    DIFFERENCE,
    MODELS,
    Point,
    boundary_segments,
    facet_label,
    facets,
    flat_config,
    grid_cells,
    predicted_side,
    summarise,
    verdict_lines,
)
from statelab.store import Store, TrialRecord
from statelab.web.figures import SPAN_HELP, Figure, layout_base
from statelab.web.paths import Roots
from statelab.web.views import jsonable, shown_name

MAX_FAILURES_SHOWN = 20

# ---------------------------------------------------------------------------------------------
# The phase diagram

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


def _heatmap(name: str, z: list, k: int, **fields: Any) -> dict[str, Any]:
    """Panel k's heatmap trace: cells at integer positions, a hair of gap between them."""
    axis = "" if k == 1 else str(k)
    ny, nx = len(z), len(z[0]) if z else 0
    trace = {"type": "heatmap", "name": name, "z": z, "x": list(range(nx)), "y": list(range(ny))}
    return {**trace, **fields, "xaxis": f"x{axis}", "yaxis": f"y{axis}", "xgap": 1, "ygap": 1}


def _panel(
    layout: dict[str, Any], k: int, left: float, width: float, points: Sequence[Point], title: str
) -> dict[str, Any]:
    """Set panel k's axes in `layout` (ticks on the cells, labelled with the grid's values, the
    y title on the first panel only); return its title, as an annotation above it."""
    xs, ys, _ = grid_cells(points)
    x_name, y_name = points[0].x_param, points[0].y_param
    axis = "" if k == 1 else str(k)
    layout[f"xaxis{axis}"] = {
        "domain": [left, left + width],
        "anchor": f"y{axis}",
        "tickvals": list(range(len(xs))),
        "ticktext": [_tick(x) for x in xs],
        "title": {"text": "" if x_name == "-" else x_name},
        "showgrid": False,
        "zeroline": False,
    }
    layout[f"yaxis{axis}"] = {
        "anchor": f"x{axis}",
        "tickvals": list(range(len(ys))),
        "ticktext": [_tick(y) for y in ys],
        "title": {"text": y_name if k == 1 else ""},
        "showgrid": False,
        "zeroline": False,
    }
    return {
        "text": title,
        "x": left + width / 2,
        "xref": "paper",
        "xanchor": "center",
        "y": 1.0,
        "yref": "paper",
        "yanchor": "bottom",
        "showarrow": False,
        "font": {"size": 13},
    }


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
    data, shapes, annotations = [], [], []
    gap = 0.085
    width = (1 - 2 * gap) / 3
    layout = layout_base(height=max(300, 46 * ny + 150), margin={"l": 60, "r": 20, "t": 50, "b": 50})
    for k, (key, panel) in enumerate(PANELS, start=1):
        z: list[list[float | None]] = [[None] * nx for _ in range(ny)]
        hover = [[""] * nx for _ in range(ny)]
        for (i, j), p in at.items():
            median = p.nmse[key].median
            z[j][i] = median if math.isfinite(median) else None
            hover[j][i] = _hover(p, key, panel)
        data.append(
            _heatmap(
                key,
                z,
                k,
                text=hover,
                hovertemplate="%{text}<extra></extra>",
                texttemplate="%{z:.2f}",
                coloraxis="coloraxis2" if key == DIFFERENCE else "coloraxis",
            )
        )
        left = (k - 1) * (width + gap)
        annotations.append(_panel(layout, k, left, width, points, panel))
        axis = "" if k == 1 else str(k)
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


def _span_text(spread: Any) -> str:
    value = spread.median
    return "—" if not math.isfinite(value) or value < 0 else f"{value:g}"


def memory_figure(points: Sequence[Point], title: str = "") -> Figure | None:
    """Each model's median memory profile error over one facet, its median span written in the
    cell beneath (as the report's memory figure); None when no trial has a profile."""
    if not any(math.isfinite(p.memory[m]["profile_error"].median) for p in points for m in MODELS):
        return None
    xs, ys, at = grid_cells(points)
    nx, ny = len(xs), len(ys)
    errors = [p.memory[m]["profile_error"].median for p in points for m in MODELS]
    top = max(1.0, max((e for e in errors if math.isfinite(e)), default=1.0))
    x_name, y_name = points[0].x_param, points[0].y_param
    width, gap = 0.44, 0.08
    layout = layout_base(height=max(280, 46 * ny + 140), margin={"l": 60, "r": 20, "t": 50, "b": 50})
    data, annotations = [], []
    for k, model in enumerate(MODELS, start=1):
        z: list[list[float | None]] = [[None] * nx for _ in range(ny)]
        label = [[""] * nx for _ in range(ny)]
        hover = [[""] * nx for _ in range(ny)]
        for (i, j), p in at.items():
            error, span = p.memory[model]["profile_error"], p.memory[model]["span"]
            z[j][i] = error.median if math.isfinite(error.median) else None
            shown = fmt(error.median, 2) if math.isfinite(error.median) else "—"  # all seeds diverged
            label[j][i] = f"{shown}<br>span {_span_text(span)}"
            where = f"{x_name} {_tick(p.x)}, {y_name} {p.y}" if x_name != "-" else ""
            hover[j][i] = (
                f"<b>{model}: memory</b><br>{where}<br>profile error: median {fmt(error.median, 3)}"
                f"<br>[min, max] [{fmt(error.lo, 3)}, {fmt(error.hi, 3)}]"
                f"<br>span: median {_span_text(span)}, [min, max] [{fmt(span.lo, 3)}, {fmt(span.hi, 3)}]"
                f"<br>seeds {p.n}<br><i>{SPAN_HELP}</i>"
            )
        data.append(
            _heatmap(
                model,
                z,
                k,
                text=label,
                customdata=hover,
                hovertemplate="%{customdata}<extra></extra>",
                texttemplate="%{text}",
                coloraxis="coloraxis",
            )
        )
        left = (k - 1) * (width + gap)
        annotations.append(_panel(layout, k, left, width, points, f"{model}: memory profile error"))
    layout.update(
        title={
            "text": f"{title}profile error (0: leans on exactly what the target does), median span beneath",
            "font": {"size": 13},
            "x": 0,
            "xanchor": "left",
        },
        annotations=annotations,
        coloraxis={
            "colorscale": "YlOrRd",
            "reversescale": True,
            "cmin": 0.0,
            "cmax": top,
            "colorbar": {"x": 1.005, "xanchor": "left", "len": 0.9, "thickness": 12},
        },
    )
    return {"data": data, "layout": layout}


# ---------------------------------------------------------------------------------------------
# Views


def has_trials(path: Path) -> bool:
    """Whether the store file holds anything yet (no file, or the empty file a creator leaves
    before its first write, hold nothing)."""
    return path.exists() and path.stat().st_size > 0


def open_records(path: Path) -> list[TrialRecord]:
    """Every record of the store at `path`. Reads while another process writes: SQLite's WAL
    gives each read a consistent snapshot."""
    if not has_trials(path):
        return []
    with Store.open(path) as store:
        return store.records()


def _version(counts: Mapping[str, int]) -> str:
    """Changes whenever a trial is added or a failed one is retried: 'ok-failed'."""
    return f"{counts['ok']}-{counts['error']}"


def stores_view(roots: Roots) -> list[dict[str, Any]]:
    """Every store the server was given: its file, whether it exists, its trial counts (or the
    one-line reason it cannot be read)."""
    out = []
    for name, path in roots.stores.items():
        entry: dict[str, Any] = {
            "name": name,
            "path": shown_name(str(path)),
            "exists": path.exists(),
            "ok": 0,
            "failed": 0,
        }
        try:
            if has_trials(path):
                with Store.open(path) as store:
                    counts = store.count()
                entry.update(ok=counts["ok"], failed=counts["error"])
        except ConfigError as exc:
            entry["error"] = str(exc)
        out.append(entry)
    return out


def store_view(roots: Roots, name: str, version: str | None = None) -> dict[str, Any]:
    """A store's phase diagram: per facet the three heatmaps and each cell's trial keys; the
    verdict lines of the report; the failed trials. With the `version` of the last answer, only
    {"unchanged": true} while no trial has been added since (a page polls with it)."""
    path = roots.store(name)
    records: list[TrialRecord] = []
    counts = {"ok": 0, "error": 0}
    if has_trials(path):
        with Store.open(path) as store:
            counts = store.count()
            if version == _version(counts):
                return {"name": name, "version": version, "unchanged": True}
            records = store.records()
    summary = summarise(records)
    out_facets = []
    for facet, points in facets(summary.points).items():
        label = facet_label(facet)
        prefix = f"{label}: " if label else ""
        figure, cells = phase_figure(points, prefix)
        out_facets.append(
            {"label": label, "figure": figure, "cells": cells, "memory": memory_figure(points, prefix)}
        )
    lines, held = verdict_lines(summary.points)
    failures = [
        {"config_hash": r.config_hash, "error": r.error, "finished_at": r.finished_at}
        for r in summary.failures[:MAX_FAILURES_SHOWN]
    ]
    return jsonable(
        {
            "name": name,
            "path": shown_name(str(path)),
            "version": _version(counts),
            "unchanged": False,
            "exists": path.exists(),
            "ok": len(summary.trials),
            "failed": len(summary.failures),
            "points": len(summary.points),
            "facet_params": summary.facet_params,
            "y_param": summary.y_param,
            "verdict": {"lines": lines, "held": held if lines else None},
            "facets": out_facets,
            "failures": failures,
        }
    )


def trial_view(record: TrialRecord) -> dict[str, Any]:
    """One trial: its parameters, each model's metrics against its floor, timing, error."""
    metrics = record.metrics or {}
    models = {
        m: {
            k: (metrics.get("models", {}).get(m) or {}).get(k)
            for k in ("test_mse", "test_nmse", "floor_nmse", "converged", "expected_converged")
        }
        for m in MODELS
    }
    return jsonable(
        {
            "config_hash": record.config_hash,
            "status": record.status,
            "params": {k: v for k, v in flat_config(record.config).items() if v is not None},
            "models": models,
            "claim_held": metrics.get("claim_held"),
            "train_s": record.timings.get("train_s"),
            "finished_at": record.finished_at,
            "error": record.error,
        }
    )


def trials_view(roots: Roots, name: str, hashes: Sequence[str]) -> list[dict[str, Any]]:
    """The trials with these keys (all trials when none is given), in grid order."""
    records = open_records(roots.store(name))
    wanted = set(hashes)
    return [trial_view(r) for r in records if not wanted or r.config_hash in wanted]
