"""What `statelab run` shows on the terminal: banner, data preview, progress, results, verdict.

Each function renders a result it is given; none computes one. Output goes through a rich
Console, which drops colour and live progress bars when the output is not a terminal.

Width. Off a terminal (a file, a pipe) the console is 100 columns and a long line of facts stays
one line (`soft_wrap`), so that it greps. On a terminal every line fits its width: text wraps
between words, and what cannot shrink without cutting numbers (the result table, the progress
bars) is shown as wrapped lines of text instead when the terminal is too narrow for it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from statelab import theory
from statelab.batching import Dataset
from statelab.config import ExperimentConfig
from statelab.names import BASELINE_LABELS, MODELS
from statelab.report.html import reach_lag, span_text
from statelab.result import result_columns, result_rows
from statelab.theory import IMPOSSIBLE, NOT_PROMISED, PROMISED, threshold_text

if TYPE_CHECKING:
    from rich.console import JustifyMethod

    from statelab.doctors import Candidate, DoctorReport
    from statelab.result import ExperimentResult
    from statelab.sweeps import SweepOutcome, SweepProgress

RULE_WIDTH = 72


def _soft(console: Console) -> bool:
    """Whether a long line is left unwrapped: off a terminal only (see the module docstring)."""
    return not console.is_terminal


def _fits(console: Console, table: Table) -> bool:
    """Whether `table` fits the console's width without cutting a cell (measured unbounded: a
    measurement within the console's options is clipped to its width)."""
    return console.measure(table, options=console.options.update_width(10_000)).maximum <= console.width


def make_console(stderr: bool = False) -> Console:
    """A console 100 columns wide when output is a file or a pipe (rich would wrap at 80)."""
    console = Console(highlight=False, stderr=stderr)
    return console if console.is_terminal else Console(highlight=False, width=100, stderr=stderr)


HEADINGS = {
    PROMISED: "SHOULD CONVERGE (promised)",
    IMPOSSIBLE: "CANNOT CONVERGE (impossible)",
    NOT_PROMISED: "MAY CONVERGE, NOT PROMISED",
}
STYLES = {PROMISED: "bold green", IMPOSSIBLE: "bold red", NOT_PROMISED: "bold yellow"}


def banner(console: Console, config: ExperimentConfig) -> None:
    """What theory expects of each model, and why, before anything is trained (`theory.expect`)."""
    t = config.task
    record = t.record
    f = record.floors(t)
    describe = record.describe
    cell = config.model.cell.upper()
    rule = "*" * min(RULE_WIDTH, console.width)
    console.print(rule)
    if f is None:
        console.print(f"REAL SERIES: {describe(t)}.", style="bold")
        peers = [n for n in (t.peers or ()) if n != "none"]
        console.print(
            "No analytic floor exists here: both models are compared, on the same test rows and in the "
            f"data's units, with two baselines (the last value and a linear autoregression on the same "
            f"window of lahead={t.lahead})"
            + (f" and the classical peers ({', '.join(peers)})" if peers else "")
            + f"; transform {t.transform}.",
            markup=False,
        )
        console.print(rule)
        return
    console.print(f"{describe(t).capitalize()}.", soft_wrap=_soft(console))
    expected = theory.expectations(config)
    for name in reversed(MODELS):  # the stateless model first, as the original example's banner
        e = expected[name]
        assert e.outcome is not None  # every synthetic task has floors
        console.print(f"{name.upper()} {cell} {HEADINGS[e.outcome]}", style=STYLES[e.outcome])
        console.print(e.reason, markup=False)
    console.print(f"Converged means normalised test MSE = MSE / var(y) < {threshold_text(f)}.")
    console.print(rule)


def _window_header(config: ExperimentConfig) -> list[str]:
    lags = [escape(f"x[t-{j}]" if j else "x[t]") for j in range(config.task.lahead)]
    return lags if config.train.window_order == "newest-first" else lags[::-1]


MAX_PREVIEW_FEATURES = 6  # feature columns the preview shows; the rest are counted


def data_preview(console: Console, config: ExperimentConfig, dataset: Dataset, rows: int = 5) -> None:
    """Shapes and the first and last rows of input and target, to 6 decimals as the original.

    One feature: every input of the window, as the original showed them. Several features: the
    newest value of each (x[t] of the window). As many of those columns as the console's width
    holds (the newest inputs first; the rest counted as "+N more"). Several series: the rows are
    numbered within their series, the head from the first series and the tail from the last.
    Then how the data were cut into batches and lanes.
    """
    shape = dataset.windows.shape if dataset.n_features > 1 else dataset.windows.shape[:2]
    console.print(f"Input shape: {shape}   Output shape: {dataset.target.shape}")
    several = len(dataset.names) > 1 or dataset.names[0] != ""
    oldest_first = config.train.window_order == "oldest-first"
    # Value columns, newest input first: (heading, each row's values) of the window's lags, or of
    # the features' newest values.
    if dataset.n_features == 1:
        lags = range(dataset.windows.shape[1])
        order = list(lags)[::-1] if oldest_first else list(lags)
        headers = _window_header(config)
        values = [(headers[j], dataset.windows[:, j, 0]) for j in order]
    else:
        newest = -1 if oldest_first else 0
        shown = dataset.features[:MAX_PREVIEW_FEATURES]
        values = [(escape(f"{name}[t]"), dataset.windows[:, newest, f]) for f, name in enumerate(shown)]
    hidden = (dataset.n_features if dataset.n_features > 1 else len(values)) - len(values)
    # Number rows by their time in their series, as pandas did (a generated series from its
    # first value, a file's series from its first row).
    offset = config.task.record.to_drop(config.task) if config.task.synthetic else config.task.lahead - 1
    counts = np.bincount(dataset.series, minlength=len(dataset.names))
    firsts = np.cumsum(counts) - counts
    n = len(dataset.target)
    rows = min(rows, n)
    scaled = " (standardised)" if dataset.scaling is not None else ""
    if dataset.levels is not None and dataset.levels.transform.name != "none":
        scaled = f" ({dataset.levels.transform.name}, standardised)"

    def preview(index: np.ndarray, keep: int, marked: bool = True) -> Table:
        """The rows `index` with the newest `keep` value columns; `marked`: a "+N more" column
        counts the others (beside the oldest shown: the hidden ones are older)."""
        kept = values[:keep]
        if dataset.n_features == 1 and oldest_first:
            kept = kept[::-1]  # back in the window's own order
        more = hidden + len(values) - keep
        marker = [f"+{more} more"] if more and marked else []
        first = dataset.n_features == 1 and oldest_first
        headings = [h for h, _ in kept]
        headings = [*marker, *headings] if first else [*headings, *marker]
        table = Table(box=None, pad_edge=False)
        for name in [*(["series"] if several else []), "t", *headings, "target"]:
            table.add_column(name, justify="left" if name == "series" else "right", no_wrap=True)
        for i in index:
            s = dataset.series[i]
            cells = [f"{v[i]:.6f}" for _, v in kept]
            cells = [*([""] * len(marker)), *cells] if first else [*cells, *([""] * len(marker))]
            where = [escape(dataset.names[s])] if several else []
            table.add_row(*where, str(i - firsts[s] + offset), *cells, f"{dataset.target[i]:.6f}")
        return table

    for label, index in (("head", np.arange(rows)), ("tail", np.arange(n - rows, n))):
        keep = len(values)
        table = preview(index, keep)
        while keep > 1 and not _fits(console, table):
            keep -= 1
            table = preview(index, keep)
        heading = f"Input and target{scaled}, {label}"
        if not _fits(console, table) and keep < len(values) + hidden:  # the count goes in the heading
            table = preview(index, keep, marked=False)
            heading += f" (+{len(values) + hidden - keep} more not shown)"
        # The heading is a line of its own: a table's title would wrap at the table's width.
        console.print(heading)
        console.print(table)
    b = config.train.batch_size
    validation = ""
    if dataset.separate_validation:
        validation = (
            f"   validation: {int(dataset.validation.scored.sum())} rows (the last "
            f"{config.val_share:.0%} of each series' training part)"
        )
    console.print(
        f"train: {dataset.train.shape[0]} batches x {b} rows ({config.train.layout} layout, "
        f"{dataset.dropped} rows dropped)   test: {int(dataset.test.scored.sum())} rows{validation}",
        soft_wrap=_soft(console),
    )
    if several or dataset.n_features > 1:
        train_rows = np.bincount(dataset.series[dataset.train_rows], minlength=len(dataset.names))
        features = ", ".join(dataset.features[:12]) + (" ..." if dataset.n_features > 12 else "")
        held_out = ""
        if dataset.val_rows is not None and dataset.separate_validation:
            val_rows = np.bincount(dataset.series[dataset.val_rows], minlength=len(dataset.names))
            held_out = f", validation {_spread(val_rows)}"
        console.print(
            f"{_count(len(dataset.names), 'series', 'series')}, {_count(dataset.n_features, 'feature')} "
            f"({escape(features)}); rows per series {_spread(counts)}, of which train {_spread(train_rows)}"
            f"{held_out}",
            soft_wrap=_soft(console),
        )
        console.print(
            f"lanes: {dataset.train.shape[1]} training, {dataset.fill:.1%} of the training rows used; "
            f"{dataset.test.shape[1]} test, {dataset.test_fill:.1%} full (each series whole in one lane)",
            soft_wrap=_soft(console),
        )
    dropped = dataset.notes.get("rows_dropped", 0)
    filled = dataset.notes.get("cells_interpolated", 0)
    if dropped or filled:
        console.print(
            f"missing values: {dropped} of {dataset.notes.get('rows_read', '?')} rows dropped, "
            f"{filled} cells interpolated",
            soft_wrap=_soft(console),
        )


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def _spread(values: np.ndarray) -> str:
    """'400' when all equal, else 'min 12 / median 380 / max 400'."""
    low, high = int(values.min()), int(values.max())
    if low == high:
        return str(low)
    return f"min {low} / median {int(np.median(values))} / max {high}"


PROGRESS_WIDTH = 80  # the bars' columns; a narrower terminal gets a line per epoch instead


@contextmanager
def epoch_progress(console: Console, config: ExperimentConfig, models: tuple[str, ...]) -> Iterator:
    """A progress bar per model with its train and validation loss; yields the epoch callback
    (`epoch` counted from 0; shown from 1, "epoch 1/10", as Keras prints it).

    Off a terminal, or on one narrower than the bars, one line per epoch instead.
    """
    epochs = config.train.epochs
    if not console.is_terminal or console.width < PROGRESS_WIDTH:

        def log(epoch: int, logs: dict[str, dict[str, float]]) -> None:
            parts = [f"{m} loss {logs[m]['loss']:.3e} val {logs[m]['val_loss']:.3e}" for m in models]
            console.print(f"epoch {epoch + 1:>2}/{epochs}  " + " | ".join(parts))

        yield log
        return

    columns = (
        TextColumn("{task.description:<10}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}  val {task.fields[val]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        tasks = [progress.add_task(m, total=epochs, loss="-", val="-") for m in models]

        def update(epoch: int, logs: dict[str, dict[str, float]]) -> None:
            for m, task in zip(models, tasks):
                progress.update(
                    task, completed=epoch + 1, loss=f"{logs[m]['loss']:.3e}", val=f"{logs[m]['val_loss']:.3e}"
                )

        yield update


def results(console: Console, result: ExperimentResult) -> None:
    """The result table and the last line: did the expected outcome hold?"""
    title = f"Test results   (NMSE = MSE / var(y), var(y) = {result.var_y:.4e})"
    if result.floors is None:
        target = result.data.get("target", "y")
        title = f"Test results, {escape(str(target))} in its own units   (NMSE = MSE / var(y))"
    caption = "last value, linear AR: baselines on the same window, with no memory"
    if result.floors is None:
        caption += "; rank by test MSE; skill = 1 - MSE / MSE of the best non-network forecaster"
    labels = {**BASELINE_LABELS, "linear_ar": f"linear AR({result.config.task.lahead})"}
    models: list[tuple[tuple[str, ...], str | None]] = []  # (row, style)
    baselines: list[tuple[str, ...]] = []  # baselines, and a real series' peers
    for row in result_rows(result, labels):
        m = result.models.get(row[0])
        if m is None:
            baselines.append(row)
        else:
            models.append((row, "bold red" if m.expected_converged not in (None, m.converged) else None))
    columns = result_columns(result)
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    for name in columns:
        justify: JustifyMethod = "left" if name in ("model", "converged", "expected") else "right"
        table.add_column(name, justify=justify, no_wrap=True)
    for row, style in models:
        table.add_row(*row, style=style)
    for row in baselines:
        table.add_row(*row, style="dim")
    if _fits(console, table):
        console.print(table)
    else:
        _narrow_results(console, title, caption, columns, models, baselines)
    for name, peer in (result.peers or {}).items():
        if not peer.ok:
            sep = " " if peer.detail.startswith("on series") else ": "
            console.print(
                f"Peer {name} failed{sep}{peer.detail}",
                style="bold red",
                soft_wrap=_soft(console),
                markup=False,
            )
    warm = result.models["stateful"].warmup_excluded
    if warm and result.floors is not None and result.models["stateful"].test_nmse_all is not None:
        all_nmse = result.models["stateful"].test_nmse_all
        console.print(
            f"The stateful model's first {warm} test point(s) are left out above (a reset model has no "
            f"history for them); with them its normalised MSE is {all_nmse:.4f}."
        )
    if result.floors is not None:
        console.print(f"Threshold: converged means normalised MSE < {threshold_text(result.floors)}.")
    else:
        real_series_lines(console, result)
    floor_lines(console, result)
    memory_lines(console, result)
    state_lines(console, result)
    for name, m in result.models.items():
        if m.diverged:
            console.print(
                f"Warning: the {name} model diverged (its loss became NaN or infinite); try a smaller "
                "--learning-rate.",
                style="bold red",
                soft_wrap=_soft(console),
            )


def _narrow_results(
    console: Console,
    title: str,
    caption: str,
    columns: tuple[str, ...],
    models: list[tuple[tuple[str, ...], str | None]],
    baselines: list[tuple[str, ...]],
) -> None:
    """The result table turned on its side for a narrow terminal: a column per model (about 35
    characters in all), then the baselines' (and peers') first two numbers, so that no number is
    cut."""
    console.print(" ".join(title.split()))
    turned = Table(box=None, pad_edge=False)
    turned.add_column("")
    for row, style in models:
        turned.add_column(row[0], justify="right", style=style, no_wrap=True)
    for i, name in enumerate(columns[1:], 1):
        turned.add_row(name, *(row[i] for row, _ in models))
    console.print(turned)
    table = Table(box=None, pad_edge=False)
    for name in ("", *columns[1:3]):  # the label, test MSE and NMSE (RMSE and MAE: a real series)
        table.add_column(name, justify="right" if name else "left", no_wrap=True)
    for row in baselines:
        table.add_row(*row[:3], style="dim")
    console.print(table)
    console.print(caption)


def real_series_lines(console: Console, result: ExperimentResult) -> None:
    """A real series: the transform the networks trained on, what MASE is scaled by, and a hint
    when the test part leaves the training range with no transform on."""
    from statelab.evaluate import range_hint

    task = result.config.task
    transform = result.data.get("transform", "none")
    trained = "the series" if transform == "none" else f"the {transform} of the series"
    fitted = [f"{name}: {peer.detail}" for name, peer in (result.peers or {}).items() if peer.ok]
    if fitted:
        console.print(
            "Peers, fitted on each series' training part, their parameters fixed over the test rows: "
            + "; ".join(fitted)
            + ".",
            soft_wrap=_soft(console),
            markup=False,
        )
    console.print(
        f"Transform: {transform} (the networks trained on {trained}, standardised; every error above is in "
        f"the data's units). MASE: MAE / the in-sample MAE of the seasonal naive forecast (season "
        f"{task.season}) on the training part.",
        soft_wrap=_soft(console),
        markup=False,
    )
    hint = range_hint(result.metrics_dict(), task.season or 1)
    if hint is not None:
        console.print(hint, style="bold yellow", soft_wrap=_soft(console), markup=False)


def floor_lines(console: Console, result: ExperimentResult) -> None:
    """The floors as the test rows show them: the optimal predictor of each kind on those rows,
    beside its expected floor and the interval a test set of this size puts it in."""
    realised = result.realised_floors
    if not realised:
        return
    n = len(result.test_target)
    parts = []
    for kind, f in realised.items():
        low, high = f.interval
        spread = "" if high - low < 1e-12 else f", 95% of {n}-row test sets {low:.3f}-{high:.3f}"
        parts.append(f"{kind} {f.realised:.3f} (expected {f.expected:.3f}{spread})")
    console.print(
        f"Floors as these {n} test rows show them (the optimal predictor's NMSE): " + "; ".join(parts),
        soft_wrap=_soft(console),
        markup=False,
    )


def diagnosis_lines(console: Console, result: ExperimentResult, run_dir: str | None = None) -> None:
    """One line per model that missed what theory promised or ended far above its floor: what
    went wrong, the evidence, and what to change."""
    for name, m in result.models.items():
        d = m.diagnosis
        if d is None:
            continue
        console.print(
            f"Diagnosis, {name} model: {d.kind}: {d.evidence}. Try: {d.suggestion}.",
            soft_wrap=_soft(console),
            markup=False,
        )
    if run_dir is not None and any(m.diagnosis and m.diagnosis.change for m in result.models.values()):
        console.print(
            f"statelab doctor {run_dir} tries this and other changes, and says which fixes it.",
            soft_wrap=_soft(console),
            markup=False,
        )


def memory_lines(console: Console, result: ExperimentResult) -> None:
    """One line per model: what it remembers, against the task's own profile."""
    truth = result.task_profile
    label = "true profile" if result.task_profile_kind == "truth" else "linear reference"
    shown = min(len(truth), 8)
    console.print(
        f"Memory: d prediction / d x[t-k] for k = 0..{len(truth) - 1} (report.html draws it); "
        f"{label} {_profile(truth[:shown])}{' ...' if shown < len(truth) else ''}",
        soft_wrap=_soft(console),
        markup=False,
    )
    for name, mem in result.memory.items():
        error = "n/a" if mem.profile_error is None else f"{mem.profile_error:.3f}"
        span = span_text(mem.to_dict()).replace("≤", "<=").replace("—", "n/a")
        console.print(
            f"  {name:<9} {_profile(mem.sensitivity[:shown])}  span {span}, profile error {error}",
            soft_wrap=_soft(console),
            markup=False,
        )


def state_lines(console: Console, result: ExperimentResult) -> None:
    """One line per model: what its state holds (r2 of x[t-k], and their total against the state
    size) and how far back a gradient reaches through it (g at the oldest lag the target needs)."""
    held = {name: mem for name, mem in result.memory.items() if mem.capacity and mem.gradient_reach}
    if not held:
        return
    k = reach_lag(result.config, len(result.task_profile) - 1)
    console.print(
        f"State: r² of x[t-k] read back from the state (total at most its size); "
        f"gradient reach g({k}) = |dh[t] / dh[t-{k}]| (the oldest lag the target needs)",
        soft_wrap=_soft(console),
        markup=False,
    )
    shown = min(len(result.task_profile), 8)
    for name, mem in held.items():
        capacity, reach = mem.capacity, mem.gradient_reach
        assert capacity is not None and reach is not None
        total = "n/a" if capacity.total is None else f"{capacity.total:.2f}"
        r2 = "[" + " ".join(_number(v) for v in capacity.r2[:shown]) + "]"
        console.print(
            f"  {name:<9} r² {r2}  total {total} of {capacity.state_size}, "
            f"g({k}) {_number(reach.trained[k])} (initial weights {_number(reach.initial[k])})",
            soft_wrap=_soft(console),
            markup=False,
        )
    features = result.task_profile_by_feature
    if features:  # s_f(k) of each feature, beside the reference's row for it
        console.print(
            "Memory per feature, d prediction / d f[t-k] (reference: a distributed-lag regression on every "
            "feature's lags):",
            soft_wrap=_soft(console),
            markup=False,
        )
        width = max(len("reference"), *(len(n) for n in result.memory))
        for feature in list(features)[:MAX_PREVIEW_FEATURES]:
            console.print(f"  {feature}:", soft_wrap=_soft(console), markup=False)
            rows = [("reference", features[feature])]
            rows += [(name, (mem.by_feature or {}).get(feature, [])) for name, mem in result.memory.items()]
            for label, values in rows:
                console.print(
                    f"    {label:<{width}} {_profile(values[:shown])}", soft_wrap=_soft(console), markup=False
                )


def _number(value: float) -> str:
    return f"{value:.2f}" if math.isfinite(value) else "n/a"


def _profile(values) -> str:
    return "[" + " ".join(f"{v:+.2f}" for v in values) + "]"


def last_line(console: Console, result: ExperimentResult, run_dir: str) -> None:
    """Where the run was saved, then the last line: did the outcome theory predicts hold?"""
    from statelab.evaluate import verdict

    console.print(f"Saved to {run_dir}/ (report.html shows it all)", soft_wrap=_soft(console))
    diagnosis_lines(console, result, run_dir)
    said = verdict(result.metrics_dict())
    style = {None: "bold", True: "bold green", False: "bold red"}[said.held]
    console.print(said.text, style=style, soft_wrap=_soft(console))


# ---------------------------------------------------------------------------------------------
# The doctor


def doctor_plan(console: Console, candidates: list[Candidate], pending: int) -> None:
    """What the doctor is about to train."""
    console.print(
        f"Doctor: {len(candidates)} candidate changes, {pending} trainings to run "
        "(each change with the run's model seed and more).",
        soft_wrap=_soft(console),
        markup=False,
    )


def doctor_report(console: Console, report: DoctorReport) -> None:
    """The candidates, their results on every seed, and the change to make."""
    for note in report.notes:
        console.print(note, soft_wrap=_soft(console), markup=False)
    if not report.candidates:
        return
    table = Table(
        title="Candidate changes (NMSE: the run's model seed; converged: seeds)", title_justify="left"
    )
    table.add_column("change", no_wrap=True)
    table.add_column("cost", justify="right")
    for m in report.models:
        table.add_column(f"{m} NMSE", justify="right")
        table.add_column("converged", justify="right")
    table.add_column("why")
    recommended = report.recommended
    for c in report.candidates:
        cells = [c.label, f"{c.cost:.1f}x"]
        for m in report.models:
            converged = sum(report.converged(c, m, s) is True for s in c.seeds)
            cells += [f"{report.nmse(c, m, c.seeds[0]):.4f}", f"{converged}/{len(c.seeds)}"]
        cells.append(c.reason)
        table.add_row(*(escape(x) for x in cells), style="bold green" if c is recommended else None)
    console.print(table)
    command = report.command()
    if command is None or recommended is None:
        console.print(
            "No change tried converged on every seed: see the table, or try more epochs or a larger model.",
            style="bold red",
            soft_wrap=_soft(console),
        )
        return
    console.print(
        f"The smallest change that converges: {recommended.label}", style="bold green", markup=False
    )
    console.print(f"  {command}", soft_wrap=_soft(console), markup=False)


# ---------------------------------------------------------------------------------------------
# Sweeps


@contextmanager
def sweep_progress(console: Console, total: int) -> Iterator[SweepProgress | None]:
    """A rich progress bar over trials with an ETA; nothing when the console is not a terminal."""
    if not console.is_terminal or total == 0:
        yield None
        return
    from rich.progress import TimeRemainingColumn

    # About 74 columns; on a narrower terminal the bar shrinks and only the time left is shown.
    wide = console.width >= 74
    columns = [
        TextColumn("trials"),
        BarColumn(bar_width=30 if wide else max(5, console.width - 36)),
        TextColumn("{task.fields[done]}/{task.total:.0f}"),
        TextColumn("{task.fields[failed]} failed"),
    ]
    columns += (
        [TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()] if wide else [TimeRemainingColumn()]
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("sweep", total=total, done=0, failed=0)

        def update(completed: float, done: int, failed: int) -> None:
            bar.update(task, completed=completed, done=done, failed=failed)

        yield update


def sweep_outcome(console: Console, outcome: SweepOutcome) -> None:
    """What a sweep ran, how fast, and its first failures."""
    per_trial = outcome.wall_s / outcome.ran * 1000 if outcome.ran else 0.0
    console.print(
        f"Ran {outcome.ran} trials in {outcome.wall_s:.1f} s ({per_trial:.0f} ms per trial, "
        f"{outcome.groups} groups, {outcome.shapes} compiled shapes); skipped {outcome.skipped}; "
        f"failed {outcome.failed}.",
        soft_wrap=_soft(console),
    )
    if outcome.by_others:
        console.print(
            f"{outcome.by_others} trials were trained meanwhile by another sweep sharing the store "
            "(they are in it, once each).",
            soft_wrap=_soft(console),
        )
    for record in outcome.failures[:10]:
        console.print(
            f"  failed {record.config_hash[:12]}: {record.error}",
            style="red",
            markup=False,
            soft_wrap=_soft(console),
        )
    if outcome.failed > 10:
        console.print(f"  ... and {outcome.failed - 10} more (see the store or the report)")
