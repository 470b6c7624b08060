"""The report of one run directory: its figures (`statelab.report.figures`) and report.html.

Reads only the files of the run directory (`statelab.rundir`) and regenerates a synthetic input
series from the config (deterministic, about a millisecond); it never trains and never imports
JAX, so reporting on an existing run costs only matplotlib's import and the drawing. Everything is
rendered in memory first and the files are written last, each by an atomic rename: a run that
cannot be read or drawn gets no report files at all, and no file is ever seen half-written.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from statelab import tasks
from statelab.config import ConfigError, ExperimentConfig
from statelab.evaluate import expected_outcome, range_hint, real_series, verdict
from statelab.names import BASELINE_LABELS
from statelab.report.figures import render_figures
from statelab.report.html import esc, fmt, image, page, page_bytes, reach_lag, span_text, table
from statelab.report.output import write_atomic
from statelab.rundir import FILE_NOTES, RUN_RULE, RunFiles, load_run, run_files
from statelab.written import check_replace


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
    expected and why, what happened, and what to change where it missed. A series without a floor:
    whether memory helped and whether a network is worth it over the classical forecasters."""
    said = verdict(metrics)
    state = {True: "ok", False: "bad", None: "open"}[said.held]
    models = metrics["models"]
    if real_series(metrics):
        return (
            f'<div class="verdict {state}"><p><b>{esc(said.text)}</b></p>{real_lines(config, metrics)}</div>'
        )
    lines = "".join(model_verdict(name, models[name]) for name in reversed(list(models)))
    return f'<div class="verdict {state}"><p><b>{esc(said.text)}</b></p>{lines}</div>'


def real_lines(config: ExperimentConfig, metrics: Mapping[str, Any]) -> str:
    """A series without a floor: the ranking, the tests behind the sentence, the transform and a
    hint when the test part leaves the training range with no transform on (HTML)."""
    v = metrics.get("verdict") or {}
    labels = {**BASELINE_LABELS}
    parts = []
    if v.get("ranking"):
        parts.append("Ranked by test MSE: " + ", ".join(labels.get(n, n) for n in v["ranking"]) + ".")
    for key, what in (("memory", "stateful vs stateless"), ("network_vs_peer", "best network vs best peer")):
        test = v.get(key)
        if test:
            better = test["better"] or "neither (p ≥ 0.05)"
            pair = (
                f"{labels.get(test['first'], test['first'])} vs {labels.get(test['second'], test['second'])}"
            )
            parts.append(
                f"Diebold–Mariano test, {what}{'' if pair == what else f' ({pair})'}: statistic "
                f"{fmt(test['statistic'], 3)}, p = {fmt(test['p_value'], 3)}; "
                f"better: {labels.get(better, better)}."
            )
    data = metrics.get("data") or {}
    parts.append(
        f"Transform: {data.get('transform', 'none')}; every error is in the data's units. There is "
        "no analytic floor for a real series, so no model is called converged."
    )
    hint = range_hint(metrics, config.task.season or 1)
    out = "".join(f"<p>{esc(p)}</p>" for p in parts)
    return out + (f'<p class="bad"><b>{esc(hint)}</b></p>' if hint else "")


def real_results_table(metrics: Mapping[str, Any]) -> str:
    """A series without a floor: every model, baseline and peer with its errors in the data's
    units, its rank and each network's skill against the best non-network forecaster."""
    rows = []
    for name, m in metrics["models"].items():
        errors = ("diverged", "", "", "", "") if m.get("diverged") else _errors(m)
        rows.append((name, *errors, fmt(m.get("skill")), "the network"))
    labels = {"last_value": "baseline: last value", "linear_ar": "baseline: linear AR on the window"}
    for name, b in metrics.get("baselines", {}).items():
        rows.append((labels.get(name, name), *_errors(b), "", "same window, no memory"))
    for name, p in (metrics.get("peers") or {}).items():
        if p["status"] == "ok":
            rows.append((f"peer: {name}", *_errors(p), "", p["detail"]))
        else:
            rows.append((f"peer: {name}", "failed", "", "", "", "", "", p["detail"]))
    header = ("forecaster", "RMSE", "MAE", "MASE", "normalised MSE", "rank", "skill", "what")
    return table(header, rows)


def _errors(m: Mapping[str, Any]) -> tuple[str, ...]:
    rank = m.get("rank")
    return (
        fmt(m.get("rmse")),
        fmt(m.get("mae")),
        fmt(m.get("mase")),
        fmt(m.get("test_nmse")),
        "" if rank is None else str(rank),
    )


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


def validation_html(config: ExperimentConfig, metrics: Mapping[str, Any]) -> str:
    """Where the validation loss of the history was measured."""
    data = metrics.get("data") or {}
    series = data.get("series") or []
    if series and "validation" in series[0]:
        n = sum(s["validation"] for s in series)
        said = (
            f"Validation loss: on {_count(n, 'row')} kept out of training, the last "
            f"{config.val_share:.0%} of each series' training part (on the scale the networks train "
            "on); the test rows were read once, after training."
        )
        stopped = [
            f"{name} epoch {m['best_epoch'] + 1}"  # best_epoch counts from 0; people, from 1
            for name, m in metrics["models"].items()
            if isinstance(m.get("best_epoch"), int)
        ]
        if stopped:
            said += f" Early stopping kept each model's best validation epoch: {', '.join(stopped)}."
    else:
        said = (
            "Validation loss: on the test rows, as the original example did (its validation data are its "
            "test data); nothing here is chosen by it. --val-fraction sets validation rows of their own."
        )
    return f'<p class="note">{esc(said)}</p>'


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {plural or noun + 's'}"


def why_html(config: ExperimentConfig, metrics: Mapping[str, Any]) -> str:
    """The task's own "Why" paragraph, with this run's numbers."""
    return f"<p>{config.task.record.why(config.task, metrics)}</p>"


def memory_html(config: ExperimentConfig, metrics: Mapping[str, Any], figures: Mapping[str, bytes]) -> str:
    """The memory section: the profiles figure and each model's span and profile error, and where
    the run measured them, what its state holds and how far back a gradient reaches."""
    if "memory.png" not in figures:
        return ""
    truth = metrics.get("task_profile_kind") == "truth"
    k = reach_lag(config, len(metrics.get("task_profile") or [0.0]) - 1)
    memories = {name: m.get("memory") or {} for name, m in metrics["models"].items()}
    state = all(mem.get("capacity") and mem.get("gradient_reach") for mem in memories.values())
    header: tuple[str, ...] = ("model", "span", "profile error")
    if state:
        header += ("state capacity Σ r²", f"gradient reach g({k}), trained", "initial weights")
    rows = []
    for name, mem in memories.items():
        row: tuple[str, ...] = (name, span_text(mem), fmt(mem.get("profile_error")))
        if state:
            held, reach = mem["capacity"], mem["gradient_reach"]
            row += (
                f"{fmt(held['total'])} of {held['state_size']}",
                fmt(reach["trained"][k]),
                fmt(reach["initial"][k]),
            )
        rows.append(row)
    note = (
        "The bars are the target's own dependence on each past input."
        if truth
        else "The bars are the coefficients of a linear autoregression on the training part: a linear "
        "reference, not a truth."
    )
    held_text = (
        "<p>Beneath, what each model's state holds: r²(k), how well x[t−k] is read back from the last "
        "layer's state (h, and c for an LSTM), the squared correlation on the same test rows between "
        "x[t−k] and a linear readout fitted by ridge regression on the training stream; its total "
        "Σ r²(k) is the short-term memory capacity, at most the state's size for an i.i.d. input. "
        "A state can hold an input the prediction does not use (r² high, sensitivity near 0). "
        "And the gradient reach g(k) = |∂h[t] / ∂h[t−k]| (Frobenius norm / √size), averaged over "
        f"{_samples(memories)} start steps of the test stream, with the trained weights (solid) and "
        "the initial ones (dashed): where it stays large but training cut the gradient after bptt "
        "batches, truncation kept the model from learning a longer memory; where it has vanished, the "
        "dynamics did.</p>"
        if state
        else ""
    )
    return (
        "<h2>Memory</h2>"
        f"<p>How much each model's prediction moves with the input k steps back, "
        "d yhat[t] / d x[t−k] averaged over the test rows (exact, through the carried state). "
        f"{note} Span: the oldest lag with at least 10% of the largest true weight, given only where the "
        "profile leans where the truth does (at least half its energy on the lags the truth weighs; "
        "otherwise none: diffuse); profile error: "
        "Σ(s − true)² / Σ true².</p>"
        + held_text
        + image(figures["memory.png"], "Memory profiles")
        + table(header, rows)
    )


def _samples(memories: Mapping[str, Mapping[str, Any]]) -> str:
    return str(max(mem["gradient_reach"].get("samples", 0) for mem in memories.values()))


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
        if "validation" in series[0]:
            with_val = [
                (s["name"] if named else "(the series)", s["rows"], s["train"], s["validation"], s["test"])
                for s in series
            ]
            parts.append(table(("series", "rows", "train", "validation", "test"), with_val))
        else:
            listed = [
                (s["name"] if named else "(the series)", s["rows"], s["train"], s["test"]) for s in series
            ]
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
    cut = data.get("cut")
    if cut:
        when = ", ".join(f"{label} {first} to {last}" for label, (first, last) in cut.items())
        column = data.get("time") or "time"
        parts.append(f"<p>{esc(f'The cut in {column}, by the time of each target: {when}.')}</p>")
    scaling = data.get("scaling")
    if scaling:
        parts.append(
            '<p class="note">Every column is '
            + (
                f"transformed ({esc(data['transform'])}) and then "
                if data.get("transform", "none") != "none"
                else ""
            )
            + "standardised, x′ = (x − mean) / scale, with the mean and standard deviation of the training "
            "part (pooled over series): the scale the networks train on. Every prediction and error above "
            "is turned back into the data's units.</p>"
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
        shown = os.fsencode(name).decode("utf-8", "backslashreplace")  # a name that is not UTF-8
        rows.append((shown, size, note))
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
        real_results_table(metrics)
        if real_series(metrics) and "verdict" in metrics
        else results_table(metrics["models"], metrics.get("baselines", {})),
        "<h2>Why</h2>",
        why_html(config, metrics),
        data_html(metrics),
        "<h2>Input</h2>",
        image(figures["input.png"], "The first inputs and the expected output"),
        "<h2>Test predictions</h2>",
        image(figures["results.png"], "Expected output and each model's error on the test rows"),
        "<h2>Training history</h2>",
        validation_html(config, metrics),
        image(figures["history.png"], "Train and validation loss per epoch"),
        memory_html(config, metrics, figures),
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


RUN_REPORT_FILES = ("input.png", "results.png", "history.png", "memory.png", "report.html")


def write_run_report(
    run_dir: Path,
    before_write: Callable[[], None] | None = None,
    drawn: Mapping[str, bytes] | None = None,
    overwrite: bool = False,
) -> None:
    """Write input.png, results.png, history.png, memory.png and report.html into a saved run
    directory.

    Reads only the run's files (and regenerates the input series from its config); never trains.
    A damaged run directory is a ConfigError, and nothing is written; so is a file there that
    statelab would write over and cannot prove it wrote (`statelab.written`), unless `overwrite`.
    `before_write` is called between drawing and writing (Ctrl-C is checked there); `drawn`:
    figures drawn already (`early_figures` of the run's config).
    """
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    for name in RUN_REPORT_FILES:
        check_replace("store", run_dir / name, overwrite)
    try:
        figures = render_figures(run, drawn)
        files = files_table(run_dir, {**{k: len(v) for k, v in figures.items()}, "report.html": 0})
        report = page_bytes(render_html(run, figures, files))
    except (KeyError, TypeError, ValueError) as exc:
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise ConfigError(f"store must be {RUN_RULE}, got {str(run_dir)!r} ({reason})") from None
    if before_write is not None:
        before_write()
    for name, data in {**figures, "report.html": report}.items():
        write_atomic(run_dir / name, data, "store")
