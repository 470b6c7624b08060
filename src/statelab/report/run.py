"""The report of one run directory: its figures (`statelab.report.figures`) and report.html.

Reads only the files of the run directory (`statelab.rundir`) and regenerates a synthetic input
series from the config (deterministic, about a millisecond); it never trains and never imports
JAX, so reporting on an existing run costs only matplotlib's import and the drawing. Everything is
rendered in memory first and the files are written last, each by an atomic rename: a run that
cannot be read or drawn gets no report files at all, and no file is ever seen half-written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from statelab import tasks
from statelab.config import ConfigError, ExperimentConfig
from statelab.evaluate import expected_outcome, verdict
from statelab.report.figures import render_figures
from statelab.report.html import esc, fmt, image, page, span_text, table
from statelab.report.output import write_atomic
from statelab.rundir import FILE_NOTES, RUN_RULE, RunFiles, load_run, run_files


def subtitle(config: ExperimentConfig, metrics: Mapping[str, Any]) -> str:
    """One line with the essentials of the config."""
    t, m, tr = config.task, config.model, config.train
    # The reference task needs no name; another task is named with the target parameter it sets.
    task = "" if t.task == tasks.REFERENCE_TASK else f"task {t.task} · "
    axis = t.record.x_axis
    target = f"{axis} {getattr(t, axis)}" if axis else ""
    return (
        f"{task}{target + ' · ' if target else ''}lahead {t.lahead} · batch size {tr.batch_size} · "
        f"{tr.epochs} epochs · "
        f"{tr.layout} layout · {m.layers}×{m.cell.upper()}({m.units}) · "
        f"{metrics['n_train']} train / {metrics['n_test']} test rows · config {metrics['config_hash'][:8]}"
    )


def model_verdict(name: str, m: Mapping[str, Any]) -> str:
    """One model's lines of the verdict box: what theory expected and why, what happened against
    the floors of these rows, and the diagnosis of a miss (HTML)."""
    outcome = expected_outcome(m)
    reason = m.get("expected_reason") or ""
    nmse = m.get("test_nmse")
    result = (
        "diverged"
        if m.get("diverged")
        else f"NMSE {fmt(nmse, 3)}, " + ("converged" if m.get("converged") else "not converged")
    )
    realised = m.get("realised_floor_nmse")
    if realised is not None:
        at = "at its floor" if m.get("at_floor") else "its floor"
        low, high = fmt(m.get("floor_low"), 3), fmt(m.get("floor_high"), 3)
        result += f"; {at} on these rows: {fmt(realised, 3)} (95% interval [{low}, {high}])"
    parts = [f"<b>{esc(name)}</b>" + (f" ({esc(outcome)})" if outcome else "") + f": {esc(reason)}"]
    parts.append(f"Result: {esc(result)}.")
    d = m.get("diagnosis")
    if d:
        parts.append(
            f"Diagnosis: <b>{esc(d['kind'])}</b>: {esc(d['evidence'])}. Try: {esc(d['suggestion'])}."
        )
    return "<p>" + " ".join(parts) + "</p>"


def verdict_html(config: ExperimentConfig, metrics: Mapping[str, Any]) -> str:
    """The verdict box: whether the outcome theory expected held, then for each model what theory
    expected and why, what happened, and what to change where it missed."""
    said = verdict(metrics)
    state = {True: "ok", False: "bad", None: "open"}[said.held]
    models = metrics["models"]
    lines = "".join(model_verdict(name, models[name]) for name in reversed(list(models)))
    return f'<div class="verdict {state}"><p><b>{esc(said.text)}</b></p>{lines}</div>'


def results_table(models: Mapping[str, Mapping[str, Any]], baselines: Mapping[str, Mapping[str, Any]]) -> str:
    """Both models, then the baselines (which see the same window and remember nothing)."""

    def said(ok: bool | None) -> str:
        return "n/a" if ok is None else "converged" if ok else "not converged"

    rows = [
        (
            name,
            fmt(m["test_mse"]),
            fmt(m["test_nmse"]),
            fmt(m["test_nmse_all"]),
            fmt(m["floor_nmse"]),
            said(m["converged"]),
            m.get("expected") or said(m["expected_converged"]),
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
        rows.append((name, span_text(mem), fmt(mem.get("profile_error"))))
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
        f"{note} Span: the oldest lag with at least 10% of the largest true weight, given only where the "
        "profile leans where the truth does (at least half its energy on the lags the truth weighs; "
        "otherwise none: diffuse); profile error: "
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
    sizes = {**run_files(run_dir), **new}
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
