"""What the lab's jobs do: a run as `statelab run` does it, a sweep as `statelab sweep` does it.

Each function checks its input where the request arrives (bad input is answered with 400 and
nothing queued) and returns the work the job queue runs later, which calls the library:
`experiment.run_experiment` and `experiment.save_run` for a run, `sweeps.run_sweep` on an
in-process executor for a sweep.

A doctor job trains the candidate fixes of a failed run as `statelab doctor` does
(`doctors.doctor`), into the run directory's doctor.sqlite, and answers its table of candidates.

A run shows its result the moment training ends (`report.run.from_result`: what the run
directory will hold), then writes the run directory exactly as `statelab run` does, all at once
by a rename, so a stop in between leaves nothing behind. A sweep commits every trial as its group
finishes, so a page following the store sees its cells fill in; it runs in this process, or on a
Dask cluster when the server was started with --workers or --scheduler.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from statelab import rundir
from statelab.config import ConfigError, ExperimentConfig
from statelab.executors import Executor, Inline
from statelab.identity import config_hash
from statelab.web.jobs import Cancelled, Job
from statelab.web.paths import Roots
from statelab.web.views import FormErrors, data_path, every_problem, jsonable, result_view

Work = Callable[[Job], dict[str, Any]]
EVERY_EPOCH_UP_TO = 300  # runs with more epochs report them at most every jobs.THROTTLE_S


def run_work(config: ExperimentConfig, roots: Roots) -> Work:
    """Train both models of `config`, report each epoch, show the result, save the run directory."""

    def work(job: Job) -> dict[str, Any]:
        from statelab import experiment
        from statelab.rundir import from_result

        dataset = experiment.prepare(config)
        epochs = config.train.epochs

        def on_epoch(epoch: int, logs: dict[str, dict[str, float]]) -> None:
            if job.cancelled.is_set():
                raise Cancelled(f"{job.why} during training; nothing was written")
            # epoch counts from 0, as on_epoch's does; the page shows it from 1
            event = {"type": "epoch", "epoch": epoch, "epochs": epochs, "logs": jsonable(logs)}
            # Every epoch of a run of a few hundred (the page draws them); thinned beyond that.
            job.emit(event, throttle=epochs > EVERY_EPOCH_UP_TO and epoch + 1 < epochs)

        result = experiment.run_experiment(config, dataset, on_epoch)
        shown = result_view(from_result(result))
        job.emit({"type": "result", **shown})
        if job.cancelled.is_set():  # asked after the last epoch: the result is shown, not saved
            raise Cancelled(f"{job.why} before the run was saved; nothing was written")
        # Named as `statelab run` names it; a name taken meanwhile (the same config within the same
        # second, by this lab or another process) gets -2, -3 ... as the directory is renamed in.
        out = experiment.save_run(result, root=roots.runs)
        return {"run": out.name, "verdict": shown["verdict"], "timings": jsonable(result.timings)}

    return work


class Abandoned(BaseException):
    """Raised between two epochs in a group still training when its sweep has ended (cancelled
    after another group): it stops there, its trials left pending. A BaseException, so that
    `run_group` does not take it for a trial's failure and retry the trials one by one."""


@dataclass
class StopBetweenGroups:
    """An executor that ends the sweep after the group that finishes next once `job` is
    cancelled (by the page, or by the server stopping): that group's trials are committed, the rest
    stay pending for a rerun."""

    inner: Any  # statelab.executors.Executor
    job: Job

    @property
    def description(self) -> str:
        return self.inner.description

    def run(self, groups: list, on_epoch: Any = None) -> Iterator:
        for item in self.inner.run(groups, on_epoch):
            yield item
            if self.job.cancelled.is_set():
                raise Cancelled(
                    f"{self.job.why} during the sweep; the trials finished so far are in the store"
                )


def sweep_configs(axes: Mapping[str, Any], seeds: Any, roots: Roots) -> list[ExperimentConfig]:
    """The configs of a grid given as `statelab sweep` takes it: {parameter: "1:6"}, seeds.
    FormErrors names every invalid axis (and seeds), not just the first.

    Data files, as in a run, must lie inside the runs directory."""
    from statelab import grid

    flags = {k: v for k, v in axes.items() if v not in (None, "")}
    problems: list[tuple[str | None, str]] = []
    if "data" in flags:
        try:
            flags["data"] = ",".join(data_path(v.strip(), roots) for v in str(flags["data"]).split(","))
        except ConfigError as exc:
            problems.append(("data", str(exc)))
            del flags["data"]
    try:
        grid.grid_from_inputs({}, seeds)
    except ConfigError as exc:  # named "seeds", which is not a config field
        problems.append(("seeds", str(exc)))
        seeds = 1
    try:
        configs = every_problem(
            lambda left: grid.expand(grid.grid_from_inputs(left, seeds)), flags, _drop_axis
        )
    except FormErrors as exc:
        problems += exc.problems
    if problems:
        raise FormErrors(problems)
    if not configs:
        raise ConfigError("grid must hold at least one trial, got none")
    return configs


def _drop_axis(name: str, axes: Mapping[str, Any]) -> list[str]:
    """A refused axis goes; a refused task axis takes the task parameters' axes with it."""
    from statelab import tasks

    return ["task", *(k for k in axes if k in tasks.PARAMS)] if name == "task" else [name]


def sweep_work(
    configs: list[ExperimentConfig],
    store_path: Path,
    cache_dir: Path | None,
    executor: Executor | None = None,
) -> Work:
    """Run every config not yet in the store, reporting each group's commit: in this process, or
    where `executor` says."""

    def work(job: Job) -> dict[str, Any]:
        from statelab import sweeps
        from statelab.store import Store

        def status(text: str) -> None:  # connecting, starting workers: what takes time first
            job.emit({"type": "status", "text": text})

        ended = threading.Event()

        def abandon() -> None:  # called between epochs: groups still training once the sweep ended stop
            if ended.is_set():
                raise Abandoned

        with (executor or Inline()).open(cache_dir, status) as runner:
            if job.cancelled.is_set():  # while the cluster started: nothing trained, no store created
                raise Cancelled(f"{job.why} before the sweep started; nothing was written")
            with Store.create(store_path) as store:
                pending = len(sweeps.pending_configs(configs, store))
                job.emit(
                    {
                        "type": "start",
                        "trials": len(configs),
                        "pending": pending,
                        "executor": runner.description,
                    }
                )
                committed = [0]

                def progress(completed: float, finished: int, failed: int) -> None:
                    # Epoch news may be dropped; a group's commit never is (the page redraws on it).
                    fresh = finished != committed[0]
                    committed[0] = finished
                    event = {
                        "type": "progress",
                        "completed": completed,
                        "finished": finished,
                        "failed": failed,
                        "pending": pending,
                    }
                    job.emit(event, throttle=not fresh)

                try:
                    outcome = sweeps.run_sweep(
                        configs, store, StopBetweenGroups(runner, job), progress, interrupt=abandon
                    )
                finally:
                    ended.set()
        return jsonable(
            {
                "trials": outcome.total,
                "ran": outcome.ran,
                "skipped": outcome.skipped,
                "failed": outcome.failed,
                "groups": outcome.groups,
                "shapes": outcome.shapes,
                "wall_s": outcome.wall_s,
                "failures": [{"config_hash": r.config_hash, "error": r.error} for r in outcome.failures[:10]],
            }
        )

    return work


class WarmUpStopped(Exception):
    """The server stopped while it compiled the reference shapes."""


def warm_up(stopping: Callable[[], bool]) -> None:
    """Compile the programs of the reference run (the Lab form's defaults, `statelab run` with no
    flags) by training it once in this process, saving nothing: the first Run on the page then
    costs what a rerun costs. Stops at the next epoch once `stopping()` says so."""
    from statelab import experiment

    def on_epoch(epoch: int, logs: dict[str, dict[str, float]]) -> None:
        if stopping():
            raise WarmUpStopped

    config = ExperimentConfig()
    try:
        experiment.run_experiment(config, experiment.prepare(config), on_epoch)
    except WarmUpStopped:
        return


class DoctorStopped(BaseException):
    """Raised between two epochs of a doctor's trials once its job is cancelled (a BaseException,
    as Ctrl-C, so that no trial takes it for its own failure)."""


def doctor_work(run_dir: Path, seeds: int, cache_dir: Path | None, executor: Executor | None = None) -> Work:
    """Train the candidate fixes of the run at `run_dir`, reporting each group's commit as a sweep
    does; the result is the doctor's table (`doctor_view`)."""

    def work(job: Job) -> dict[str, Any]:
        from statelab import doctors

        planned_trials = [0]

        def planned(candidates: list[Any], pending: int) -> None:
            trials = sum(len(c.seeds) for c in candidates)
            planned_trials[0] = pending
            job.emit({"type": "start", "trials": trials, "pending": pending, "candidates": len(candidates)})

        def progress(completed: float, finished: int, failed: int) -> None:
            event = {"type": "progress", "completed": completed, "finished": finished, "failed": failed}
            job.emit({**event, "pending": planned_trials[0]}, throttle=True)

        def stop() -> None:
            if job.cancelled.is_set():
                raise DoctorStopped

        try:
            report = doctors.doctor(
                run_dir,
                seeds=seeds,
                executor=executor or Inline(),
                cache_dir=cache_dir,
                progress=progress,
                on_plan=planned,
                interrupt=stop,
            )
        except DoctorStopped:
            raise Cancelled(
                f"{job.why} during the doctor; the trials finished so far are in the run's {rundir.DOCTOR}"
            ) from None
        return doctor_view(report)

    return work


def doctor_view(report: Any) -> dict[str, Any]:
    """A doctor's report (`doctors.DoctorReport`) as the run page shows it: the models it treats,
    one row per candidate (its change, why, cost, per model the seeds that converged and the
    normalised MSE), the recommended candidate and its command, and notes."""
    frame = report.frame()
    rows = [] if frame.empty else frame.reset_index().to_dict(orient="records")
    tried = {label for label, _ in report.trials}
    for row in rows:
        row["tried"] = row["candidate"] in tried  # trained (now or before), or only planned
    return jsonable(
        {
            "models": report.models,
            "columns": [] if frame.empty else ["candidate", *frame.columns],
            "candidates": rows,
            "recommended": frame.attrs.get("recommended"),
            "command": frame.attrs.get("command"),
            "notes": report.notes,
        }
    )


def run_label(config: ExperimentConfig) -> str:
    return f"run {config.task.task} {config_hash(config)[:8]}"
