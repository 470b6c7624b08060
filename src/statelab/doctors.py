"""`statelab doctor`: find, by experiment, a change that makes a failed run converge.

A run that missed what theory promised (or ended far above its floor) carries a diagnosis per
model (`statelab.diagnosis`: truncation, diverged, unstable, under-trained, stuck). The doctor
turns it into candidate changes and trains them, side by side, with the sweep machinery:

    run (its config, its diagnoses) --candidates--> configs x model seeds
        --sweeps.run_sweep (grouped by shape, one compiled program per group)--> a store
        --judge--> a table of candidates and the smallest change that converges, as a command line

The candidates: a longer truncation length (where the gradient falls short of the lag the target
needs, and one step beyond), more epochs, a smaller learning rate, and other model seeds (which
say whether the outcome depends on the initial weights); the diagnosis' own suggestion is always
among them. Each change is tried with the run's model seed and `seeds - 1` more, so a fix is one
that converges from other weights too, not by luck. The cheapest such change (in training time,
relative to the run's) is the recommendation. Its trials go into a store (by default
`doctor.sqlite` inside the run directory), so a doctor that is interrupted resumes, and it can
run on any executor (`--executor local:2`, a Dask cluster).
"""

from __future__ import annotations

import math
import shlex
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from statelab import rundir, theory
from statelab.config import ConfigError, ExperimentConfig, flatten
from statelab.diagnosis import smaller_rate
from statelab.executors import Executor
from statelab.identity import config_hash
from statelab.names import MODELS
from statelab.params import check_count
from statelab.result import ExperimentResult
from statelab.store import Store, TrialRecord
from statelab.sweeps import SweepOutcome, SweepProgress, open_sweep, pending_configs, run_sweep

if TYPE_CHECKING:
    import pandas as pd

MAX_SEEDS = 16
MAX_EPOCHS_FACTOR = 3  # "more epochs" tries three times the run's


@dataclass(frozen=True)
class Candidate:
    """One change to try: config fields and their new values, and what it costs to train."""

    label: str  # the command-line flags of the change: "--bptt 2"
    change: dict[str, Any]  # {field: value}
    reason: str  # why it is a candidate
    cost: float  # training time relative to the run's (bptt and epochs scale it)
    seeds: tuple[int, ...] = ()  # the model seeds it is tried with

    def config(self, base: ExperimentConfig, seed: int) -> ExperimentConfig:
        return base.replace(**{**self.change, "model_seed": seed})


@dataclass
class DoctorReport:
    """What the doctor found: per candidate its trials' verdicts, and the recommendation."""

    run: str  # the run directory (or "" for a result in memory)
    config: ExperimentConfig
    models: list[str]  # the models it tried to fix
    candidates: list[Candidate]
    trials: dict[tuple[str, int], TrialRecord]  # (candidate label, model seed) -> its trial
    store: Path | None
    outcome: SweepOutcome | None = None
    notes: list[str] = field(default_factory=list)

    def converged(self, candidate: Candidate, model: str, seed: int) -> bool | None:
        record = self.trials.get((candidate.label, seed))
        if record is None or not record.ok or record.metrics is None:
            return None
        return bool(record.metrics["models"][model]["converged"])

    def nmse(self, candidate: Candidate, model: str, seed: int) -> float:
        record = self.trials.get((candidate.label, seed))
        if record is None or not record.ok or record.metrics is None:
            return math.nan
        value = record.metrics["models"][model]["test_nmse"]
        return math.nan if value is None else float(value)

    def fixes(self, candidate: Candidate) -> bool:
        """Every model the doctor treats converged on every seed the candidate was tried with."""
        return all(self.converged(candidate, m, s) is True for m in self.models for s in candidate.seeds)

    @property
    def recommended(self) -> Candidate | None:
        """The cheapest candidate that fixes the run on every seed it was tried with, the run's own
        seed among them (a change of the model seed alone is luck, not a fix: never recommended)."""
        fixes = [c for c in self.candidates if "model_seed" not in c.change and self.fixes(c)]
        return min(fixes, key=lambda c: (c.cost, len(c.change)), default=None)

    def command(self, candidate: Candidate | None = None) -> str | None:
        """The command line that reruns the run with `candidate` (the recommended one by default)."""
        candidate = candidate or self.recommended
        if candidate is None:
            return None
        source = shlex.quote(str(Path(self.run) / rundir.CONFIG)) if self.run else "CONFIG"
        return f"statelab run --config {source} {candidate.label}"

    def frame(self) -> pd.DataFrame:
        """One row per candidate: its change, cost, and per treated model the seeds that converged
        and the normalised test MSE (the run's own seed, the median and range over seeds)."""
        import pandas as pd

        recommended = self.recommended
        rows = []
        for c in self.candidates:
            row: dict[str, Any] = {"candidate": c.label, "reason": c.reason, "cost": c.cost}
            for m in self.models:
                values = [self.nmse(c, m, s) for s in c.seeds]
                finite = sorted(v for v in values if math.isfinite(v))
                row[f"{m}_converged"] = sum(self.converged(c, m, s) is True for s in c.seeds)
                row[f"{m}_nmse"] = values[0] if values else math.nan
                row[f"{m}_nmse_median"] = finite[len(finite) // 2] if finite else math.nan
                row[f"{m}_nmse_min"] = finite[0] if finite else math.nan
                row[f"{m}_nmse_max"] = finite[-1] if finite else math.nan
            row["seeds"] = len(c.seeds)
            row["fixes"] = self.fixes(c)
            row["recommended"] = c is recommended
            row["command"] = self.command(c)
            rows.append(row)
        frame = pd.DataFrame(rows)
        if not frame.empty:
            frame = frame.set_index("candidate")
        frame.attrs["recommended"] = None if recommended is None else recommended.label
        frame.attrs["command"] = self.command()
        return frame


# ---------------------------------------------------------------------------------------------
# Candidates


def _flag(name: str, value: Any) -> str:
    return (
        f"--{name.replace('_', '-')} {value:g}"
        if isinstance(value, float)
        else f"--{name.replace('_', '-')} {value}"
    )


def _cost(base: ExperimentConfig, change: Mapping[str, Any]) -> float:
    """Training time relative to the run's: each optimiser step costs about bptt steps (README,
    "Speed"), each epoch the same."""
    epochs = change.get("epochs", base.train.epochs) / base.train.epochs
    bptt = change.get("bptt", base.train.bptt) / base.train.bptt
    return float(epochs * bptt)


def candidates(
    config: ExperimentConfig, metrics: Mapping[str, Any], models: Sequence[str], seeds: int = 3
) -> list[Candidate]:
    """The changes worth training for the diagnosed `models` of a run (see the module docstring),
    cheapest first, each with its model seeds: the run's own and `seeds - 1` more."""
    own = config.model.model_seed
    tried = tuple(own + i for i in range(seeds))
    found: dict[str, Candidate] = {}

    def add(change: dict[str, Any], reason: str, seeds_: tuple[int, ...] = tried) -> None:
        change = {k: v for k, v in change.items() if flatten(config).get(k) != v}
        if not change:
            return
        try:
            config.replace(**change)
        except ConfigError:  # beyond a limit (bptt 513, say): not a candidate
            return
        label = " ".join(_flag(k, v) for k, v in sorted(change.items()))
        if label not in found:
            found[label] = Candidate(label, change, reason, _cost(config, change), seeds_)

    lahead, epochs, lr = config.task.lahead, config.train.epochs, config.train.learning_rate
    need = theory.needed_lag(config.task)
    for name in models:
        d = metrics["models"][name].get("diagnosis") or {}
        if d.get("change"):
            add(dict(d["change"]), f"the diagnosis of the {name} model: {d.get('kind')}")
    if "stateful" in models and need is not None and need >= lahead:
        k = need - lahead + 2  # the shortest truncation whose gradient reaches x[t-need]
        add(
            {"bptt": max(k, config.train.bptt)},
            f"lets the gradient reach x[t-{need}], the oldest input the target needs",
        )
        add({"bptt": max(k, config.train.bptt) + 1}, "one batch further than the gradient needs")
        add(
            {"bptt": max(k, config.train.bptt), "epochs": epochs * MAX_EPOCHS_FACTOR},
            "a reaching gradient and three times the epochs, for a long memory",
        )
    add({"epochs": epochs * MAX_EPOCHS_FACTOR}, "more training, if the loss was still falling")
    add({"learning_rate": smaller_rate(lr, 3)}, "a smaller step, if training was unstable or stuck")
    if not theory.carries_history(config):
        add({"layout": "streams"}, "the streams layout carries each row's history to the next batch")
    for extra in range(seeds, seeds + 2):
        add(
            {"model_seed": own + extra},
            "other initial weights: does the outcome depend on them?",
            (own + extra,),
        )
    return sorted(found.values(), key=lambda c: (c.cost, len(c.change), c.label))


def to_treat(metrics: Mapping[str, Any]) -> list[str]:
    """The models the doctor tries to fix: each with a diagnosis (it missed what theory promised,
    or failed where theory did not rule success out, or ended far above its floor)."""
    return [name for name in MODELS if (metrics["models"].get(name) or {}).get("diagnosis")]


# ---------------------------------------------------------------------------------------------
# The run


def _load(run: str | Path | ExperimentResult) -> tuple[str, ExperimentConfig, dict[str, Any]]:
    if isinstance(run, ExperimentResult):
        return "", run.config, run.metrics_dict()
    if not isinstance(run, (str, Path)) or not rundir.is_run_dir(run):
        raise ConfigError(f"run must be an ExperimentResult or {rundir.RUN_RULE}, got {run!r}")
    config, metrics = rundir.read_summary(run)
    return str(run), config, metrics


def doctor(
    run: str | Path | ExperimentResult,
    *,
    store: str | Path | None = None,
    executor: Executor | str | None = None,
    seeds: int = 3,
    cache_dir: str | Path | None = None,
    progress: SweepProgress | None = None,
    on_plan: Callable[[list[Candidate], int], None] | None = None,
    interrupt: Callable[[], None] | None = None,
) -> DoctorReport:
    """Train the candidate changes of a failed run and judge them (see the module docstring).

    run: a run directory or an ExperimentResult. store: where the trials go (default: the run
    directory's doctor.sqlite; a temporary store for a result in memory). executor: where they
    train (`statelab.executors`). seeds: the model seeds each change is tried with (the run's own
    first). on_plan(candidates, trials to train) is called before training.
    ConfigError for a run that is not one, a bad argument, or a store that is not a store."""
    seeds = check_count("seeds", seeds)
    if seeds > MAX_SEEDS:
        raise ConfigError(f"seeds must be an integer in [1, {MAX_SEEDS}], got {seeds}")
    where = Executor.parse(executor)
    path, config, metrics = _load(run)
    models = to_treat(metrics)
    report = DoctorReport(path, config, models, [], {}, None)
    if not models:
        report.notes.append(
            "Nothing to fix: no model missed what theory promised or ended far above its floor."
        )
        return report
    report.candidates = candidates(config, metrics, models, seeds)
    configs: dict[tuple[str, int], ExperimentConfig] = {
        (c.label, s): c.config(config, s) for c in report.candidates for s in c.seeds
    }
    with tempfile.TemporaryDirectory(prefix="statelab-doctor-") as scratch:
        if store is None:
            store = Path(path) / rundir.DOCTOR if path else Path(scratch) / "doctor.sqlite"
        unique = list(dict.fromkeys(configs.values()))
        with open_sweep(store, where, cache_dir, configs=unique, interrupt=interrupt) as (opened, runner):
            if on_plan is not None:
                on_plan(report.candidates, len(pending_configs(unique, opened)))
            report.outcome = run_sweep(unique, opened, runner, progress, interrupt=interrupt)
            records = {r.config_hash: r for r in opened.records()}
        report.store = None if not path and store == Path(scratch) / "doctor.sqlite" else Path(store)
    report.trials = {key: records[config_hash(c)] for key, c in configs.items() if config_hash(c) in records}
    return report


def load(run: str | Path, store: str | Path | None = None, seeds: int = 3) -> DoctorReport:
    """The doctor's report of a run from its store, without training (what it found last time,
    with `seeds` model seeds per change, as it was run)."""
    path, config, metrics = _load(run)
    models = to_treat(metrics)
    report = DoctorReport(
        path, config, models, candidates(config, metrics, models, seeds) if models else [], {}, None
    )
    store = Path(store) if store is not None else Path(path) / rundir.DOCTOR
    if not store.exists():
        return report
    with Store.open(store) as opened:
        records = {r.config_hash: r for r in opened.records()}
    for c in report.candidates:
        for s in c.seeds:
            h = config_hash(c.config(config, s))
            if h in records:
                report.trials[(c.label, s)] = records[h]
    report.store = store
    return report
