"""The run directory: its one owner. Names, the atomic write, the files and their schema, readers.

`statelab run` (and `statelab.run_experiment(..., out=)`, the lab) writes one directory per run:

    runs/<UTC time>-<first 8 hex of the config hash>/      (or --out DIR, new or empty)
        config.json        the full configuration; `--config` reads it back
        metrics.json       the stable interface (ExperimentResult.metrics_dict)
        timings.json       seconds per stage (kept out of metrics.json, which is bit-identical)
        history.csv        model, epoch (from 0), train_loss, val_loss, val_nmse
        predictions.csv    row, [series,] [time,] input(s), target, pred_<model>, [pred_<peer>], per
                           scored test row; a real series' values in the data's units
        models/            <model>.npz parameters, config.json, data.json (features, target,
                           standardisation): what `statelab predict` and `statelab export` load
        *.png, report.html drawn from the files above by `statelab.report.run`

It is written into a hidden temporary sibling (`statelab.scratch`: `.NAME.HOST-PID-TOKEN.partial`)
and renamed into place when complete, so a run directory appears whole or not at all. Everything
else in statelab (the experiment, the predictor, the reports, the lab, the command line) writes
and reads a run through this module; none of them opens a run's files by hand.

Readers check what they read (`load_run`: each file, its keys and columns) and read the older
schemas too: history.csv without val_nmse (schema 1) or with epochs counted from 1 (schemas 1 to
3; read back counted from 0, as epochs are now), a run saved before models/data.json existed.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import shutil
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from statelab import cells, scratch
from statelab.config import ConfigError, ExperimentConfig, from_mapping
from statelab.configfile import parse_json
from statelab.data import to_arrow, values_to_arrow, write_csv
from statelab.identity import config_hash
from statelab.metrics import check_metrics
from statelab.names import FIRST_EPOCH, HISTORY_COLUMNS, MODELS
from statelab.params import check_output_path, not_a_file
from statelab.predictor import checked_params, data_info, default_data_info, params_to_arrays
from statelab.result import ExperimentResult, history_rows, prediction_columns
from statelab.written import WriteError, mark_path

CONFIG = "config.json"
METRICS = "metrics.json"
TIMINGS = "timings.json"
HISTORY = "history.csv"
PREDICTIONS = "predictions.csv"
MODELS_DIR = "models"
REPORT = "report.html"
DOCTOR = "doctor.sqlite"  # the trials `statelab doctor` trained for this run
RUN_RULE = "a run directory written by `statelab run`"

# What each file of a run directory holds, for the list at the end of the page.
FILE_NOTES = {  # the files statelab writes, for the report's list
    "doctor.sqlite": "the candidate fixes statelab doctor trained (a sweep store)",
    "config.json": "the configuration (task, model, train)",
    "metrics.json": "test metrics, floors and verdicts (the stable interface)",
    "history.csv": "train and validation loss per epoch",
    "predictions.csv": "test targets and both models' predictions",
    "timings.json": "seconds spent per stage",
    "input.png": "first inputs and expected output",
    "results.png": "test targets and errors",
    "history.png": "loss curves",
    "memory.png": "memory profiles against the task's own; what the state holds, the gradient reach",
    "report.html": "this page",
    "models/config.json": "the configuration the models were built with",
}


def is_run_dir(path: str | Path) -> bool:
    """Whether `path` looks like a run directory (it holds metrics.json); `load_run` checks more."""
    path = Path(path)
    return path.is_dir() and (path / METRICS).is_file()


# ---------------------------------------------------------------------------------------------
# Names


def check_run_dir(out: str | Path) -> Path:
    """A run directory must be new or empty (statelab never mixes a run into other files), and a
    path where a directory can be made: checked before any work. Returns it as a Path."""
    out = check_output_path("out", out, "directory")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"out must be a new or empty directory, got {str(out)!r}")
    return out


def default_run_dir(config: ExperimentConfig, root: str | Path = "runs") -> Path:
    """runs/<UTC time>-<short config hash>/"""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return Path(root) / f"{stamp}-{config_hash(config)[:8]}"


def write_json(path: Path, obj) -> None:
    """Strict JSON: a NaN would make the file unreadable to other tools, so it is an error here."""
    path.write_text(json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n")


def write_predictions(result: ExperimentResult, path: Path) -> None:
    """predictions.csv: `prediction_columns`, one line per scored test row in time order (see
    `data.write_csv`: Arrow writes hundreds of thousands of rows in a fraction of a second, and
    every value reads back to the same float)."""
    import pyarrow as pa

    columns: dict[str, Any] = dict(prediction_columns(result))
    if "series" in columns:  # ids as a dictionary of the run's series names
        names = pa.array([s["name"] for s in result.data["series"]], pa.string())
        codes = np.asarray(result.test_series, np.int32)
        columns["series"] = pa.DictionaryArray.from_arrays(to_arrow(codes), names)
    if "time" in columns:
        columns["time"] = values_to_arrow(columns["time"])
    with open(path, "wb") as fh:
        write_csv(columns, fh)


def save_result(result: ExperimentResult, directory: Path) -> None:
    """Write config.json, metrics.json, timings.json, history.csv, predictions.csv, models/."""
    write_json(directory / CONFIG, result.config.to_dict())
    write_json(directory / METRICS, result.metrics_dict())
    write_json(directory / TIMINGS, result.timings)
    with open(directory / HISTORY, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(HISTORY_COLUMNS)
        for row in history_rows(result):
            out.writerow([row["model"], row["epoch"], *(repr(row[k]) for k in HISTORY_COLUMNS[2:])])
    write_predictions(result, directory / PREDICTIONS)
    save_models(result.params, result.config, directory / MODELS_DIR, result.data)


MAX_SAME_NAME = 1000  # runs of one config in one second that get a name of their own


class RunDirectory:
    """Write a run into a hidden temporary sibling and rename it into place only when complete.

    Whatever fails in between (training, plotting, a full disk, Ctrl-C) leaves no half-written
    run directory behind, and no parent directories that this run created. The temporary is
    unique to this process (`statelab.scratch`), so concurrent runs never share one, and a run
    killed outright (SIGKILL) leaves one that the next run in the same folder removes.

    unique: if `final` is taken when the run is complete (another run of the same config in the
    same second), use `final-2`, `final-3`, ...; `self.final` is where the run ended up. Otherwise
    a taken `final` is a ConfigError, raised after this run's temporary is removed.
    before_commit: called before the rename; if it raises, the temporary is removed.
    """

    def __init__(self, final: Path, unique: bool = False, before_commit: Callable[[], None] | None = None):
        self.final = Path(final)
        self.tmp = scratch.temporary(self.final)
        self.unique = unique
        self.before_commit = before_commit
        self.created: list[Path] = []  # parents made for this run, deepest first

    def __enter__(self) -> Path:
        parent = self.final.parent.absolute()
        while not parent.exists():
            self.created.append(parent)
            parent = parent.parent
        try:
            self.final.parent.mkdir(parents=True, exist_ok=True)
            scratch.remove_stale(self.final.parent)
            self.tmp.mkdir()
        except OSError as exc:
            self._remove_parents()
            reason = exc.strerror or type(exc).__name__
            raise ConfigError(
                f"out must be a writable directory, got {str(self.final)!r} ({reason})"
            ) from None
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                if self.before_commit is not None:
                    self.before_commit()
                self._commit()
                return
            except BaseException:
                self._discard()
                raise
        self._discard()
        if isinstance(exc, (OSError, WriteError)):  # a full disk, a folder made read-only: one line
            reason = (
                exc.reason if isinstance(exc, WriteError) else exc.strerror or str(exc) or type(exc).__name__
            )
            raise ConfigError(
                f"out must be a writable directory, got {str(self.final)!r} ({reason})"
            ) from None

    def _commit(self) -> None:
        """Rename the temporary into place. rename(2) replaces an empty directory and fails on a
        non-empty one, so of two runs aiming at one name, one gets it and the other learns so."""
        base, taken = self.final, (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR)
        for n in range(2, MAX_SAME_NAME + 2):
            try:
                os.rename(self.tmp, self.final)
                return
            except OSError as exc:
                if exc.errno not in taken:
                    reason = exc.strerror or type(exc).__name__
                    raise ConfigError(
                        f"out must be a writable directory, got {str(base)!r} ({reason})"
                    ) from None
                if not self.unique:
                    raise ConfigError(
                        f"out must be a new or empty directory, got {str(base)!r} (another run "
                        "wrote it meanwhile)"
                    ) from None
            self.final = base.with_name(f"{base.name}-{n}")
        raise ConfigError(f"out must be a free name, got {str(base)!r} and {MAX_SAME_NAME} more taken")

    def _discard(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
        self._remove_parents()

    def _remove_parents(self) -> None:
        for path in self.created:
            try:
                path.rmdir()
            except OSError:
                break


# ---------------------------------------------------------------------------------------------
# Models


def save_models(
    params: dict[str, cells.Params],
    config: ExperimentConfig,
    directory: Path,
    data: Mapping[str, Any] | None = None,
) -> None:
    """models/<name>.npz for each model, models/config.json and models/data.json (`data_info`)."""
    directory.mkdir()
    (directory / CONFIG).write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    info = data_info(data) if data is not None else default_data_info(config)
    (directory / "data.json").write_text(json.dumps(info, indent=2) + "\n")
    for name, p in params.items():
        # no key is savez's allow_pickle, which NumPy's stubs must assume a **mapping may hold
        np.savez(directory / f"{name}.npz", **params_to_arrays(p))  # type: ignore[arg-type]


def read_model(
    run_dir: str | Path, model: str = "stateful"
) -> tuple[cells.Params, ExperimentConfig, dict[str, Any]]:
    """The saved `model` ("stateful" or "stateless") of a run directory: (parameters, the config
    that built it, `data_info`). ConfigError naming what is missing or damaged."""
    directory = Path(run_dir) / MODELS_DIR
    path = directory / f"{model}.npz"
    if model not in MODELS:
        raise ConfigError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    if not path.is_file() or not (directory / CONFIG).is_file():
        raise ConfigError(
            f"run_dir must hold a saved model ({path.relative_to(run_dir)}), got {str(run_dir)!r}"
        )
    name = f"{MODELS_DIR}/{CONFIG}"
    try:
        config = from_mapping(parse_json((directory / CONFIG).read_text()))
        name = f"{MODELS_DIR}/{path.name}"
        with np.load(path, allow_pickle=False) as data:
            flat = {k: data[k] for k in data.files}
        name = f"{MODELS_DIR}/data.json"
        info = _read_data_info(directory, config)
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        what = str(exc) if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {exc}"
        raise ConfigError(
            f"run_dir must hold a readable saved model, got {str(run_dir)!r} ({name}: {what.splitlines()[0]})"
        ) from None
    params = checked_params(flat, config, f"{str(run_dir)!r} ({path.name}")
    return params, config, info


def _read_data_info(directory: Path, config: ExperimentConfig) -> dict[str, Any]:
    """models/data.json, or for a run saved before it existed, what the config says."""
    path = directory / "data.json"
    if not path.exists():
        return default_data_info(config)
    problem = not_a_file(path)  # a FIFO would block the read forever
    if problem is not None:
        raise ValueError(problem)
    return data_info(parse_json(path.read_text()))


# ---------------------------------------------------------------------------------------------
# Reading


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


EPOCHS_FROM_0 = 4  # the metrics.json schema from which history.csv counts epochs from 0


def epochs_from(metrics: Mapping[str, Any]) -> int:
    """The first epoch's number in the history.csv beside this metrics.json: 1 before schema 4."""
    version = metrics.get("schema_version")
    return FIRST_EPOCH if not isinstance(version, int) or version >= EPOCHS_FROM_0 else 1


def read_history(path: Path, first_epoch: int = FIRST_EPOCH) -> dict[str, dict[str, np.ndarray]]:
    """history.csv -> {model: {"epoch", "train_loss", "val_loss"}}, models in file order, epochs
    counted from 0 whatever the file counts from (`first_epoch`: its first epoch's number)."""
    columns = read_columns(path)
    if "epoch" in columns:
        columns["epoch"] = [str(int(e) - first_epoch + FIRST_EPOCH) for e in columns["epoch"]]
    history: dict[str, dict[str, np.ndarray]] = {}
    for name in dict.fromkeys(columns["model"]):  # ordered and unique
        mine = [i for i, m in enumerate(columns["model"]) if m == name]
        history[name] = {
            key: np.array([float(columns[key][i]) for i in mine])
            for key in HISTORY_COLUMNS[1:]
            if key in columns  # val_nmse: since schema 2
        }
    return history


def read_predictions(path: Path, report_only: bool = False) -> dict[str, np.ndarray]:
    """predictions.csv -> {"row": (N,) int, "target": (N,), "pred_<model>": (N,), ...}, and
    "series" (N,) str when the run had several series, "time" (N,) str when its data had times.
    Read as a stream of batches with Arrow's CSV reader: a run on a large file has hundreds of
    thousands of test rows.

    report_only: only the columns the report draws (row, time, target, predictions, the first
    input)."""
    from statelab.data import header, record_batches, series_ids, to_numpy

    names = header(path, "predictions")
    if report_only:
        first_input = [n for n in names if n.startswith("input")][:1]
        names = [n for n in names if n in ("row", "time", "target", *first_input) or n.startswith("pred_")]
    text = ("series", "time")  # ids, and times in the file's units, as they are written
    numbers = tuple(n for n in names if n not in text)
    roles = {name: "series" if name in text else "predictions" for name in names}
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    lookup: dict[str, int] = {}
    for batch in record_batches(path, roles, numbers, "predictions"):
        for name in numbers:
            parts[name].append(to_numpy(batch.column(name), np.float64))
        if "series" in roles:
            parts["series"].append(series_ids(batch.column("series"), lookup))
        if "time" in roles:
            parts["time"].append(np.asarray([str(v) for v in batch.column("time").to_pylist()], dtype=object))
        del batch
    out = {name: np.concatenate(parts.pop(name)) if parts[name] else np.zeros(0) for name in numbers}
    out["row"] = out["row"].astype(np.int64)
    if "series" in roles:
        codes = np.concatenate(parts["series"]) if parts["series"] else np.zeros(0, np.int32)
        out["series"] = np.asarray(list(lookup), dtype=object)[codes]
    if "time" in roles:
        out["time"] = np.concatenate(parts["time"]) if parts["time"] else np.zeros(0, dtype=object)
    return out


def load_run(run_dir: Path, param: str = "store", shown: str | None = None) -> RunFiles:
    """Parse the files `save_result` wrote into `run_dir`.

    A missing, unreadable or malformed file, or one without what the report reads (each model's
    losses and predictions), is a ConfigError naming the file and what is wrong: "`param` must be
    a run directory ..., got `shown` (file: reason)"; `shown` defaults to the directory's path."""
    run_dir = Path(run_dir)
    shown = str(run_dir) if shown is None else shown

    def read(name: str, parse: Callable[[Path], Any]) -> Any:
        path = run_dir / name
        problem = not_a_file(path)  # a FIFO would block the read forever
        if problem is not None:
            reason = "missing" if not path.exists() and not path.is_symlink() else problem
            raise ConfigError(f"{param} must be {RUN_RULE}, got {shown!r} ({name}: {reason})")
        try:
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
        return parse_json(path.read_text())

    metrics = read(METRICS, json_file)
    read(METRICS, lambda _: check_metrics(metrics))
    models = list(metrics["models"])
    history = read(HISTORY, lambda p: read_history(p, epochs_from(metrics)))
    read(HISTORY, lambda _: _check_columns(history, models, ("epoch", "train_loss", "val_loss")))
    predictions = read(PREDICTIONS, lambda p: read_predictions(p, report_only=True))
    wanted = ("row", "target", *(f"pred_{m}" for m in models))
    read(PREDICTIONS, lambda _: _check_columns({"": predictions}, [""], wanted))
    return RunFiles(
        config=read(CONFIG, lambda p: from_mapping(json_file(p))),
        metrics=metrics,
        history=history,
        predictions=predictions,
        timings=read(TIMINGS, json_file),
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
    rows = history_rows(result)
    history = {
        name: {key: np.array([r[key] for r in rows if r["model"] == name]) for key in HISTORY_COLUMNS[1:]}
        for name in result.models
    }
    predictions = prediction_columns(result)
    if "time" in predictions:  # as `read_predictions` gives it back: text
        predictions["time"] = np.asarray([str(v) for v in predictions["time"]], dtype=object)
    return RunFiles(
        config=result.config,
        metrics=result.metrics_dict(),
        history=history,
        predictions=predictions,
        timings=dict(result.timings),
    )


def read_summary(run_dir: str | Path) -> tuple[ExperimentConfig, dict[str, Any]]:
    """(config, metrics) of a run: what a list of runs shows, without its larger files. ConfigError
    naming the file for a run this statelab cannot read."""
    run_dir = Path(run_dir)
    try:
        for name in (CONFIG, METRICS):
            problem = not_a_file(run_dir / name)
            if problem is not None:  # a FIFO would block the read forever
                raise ValueError(f"{name}: {problem}")
        config = from_mapping(parse_json((run_dir / CONFIG).read_text()))
        metrics = parse_json((run_dir / METRICS).read_text())
        check_metrics(metrics)
    except (OSError, ValueError, KeyError, TypeError) as exc:  # ConfigError is a ValueError
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise ConfigError(f"run must be {RUN_RULE}, got {run_dir.name!r} ({reason})") from None
    return config, metrics


def modified(run_dir: str | Path) -> float:
    """When a run was written: its metrics.json's modification time (a redrawn report does not
    change it)."""
    return (Path(run_dir) / METRICS).stat().st_mtime


def list_runs(root: str | Path) -> list[Path]:
    """The run directories directly under `root`, newest first. Hidden entries (a run still being
    written into its temporary) and anything without metrics.json are left out."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if not p.name.startswith(".") and is_run_dir(p)]
    return sorted(found, key=modified, reverse=True)


# Everything statelab writes into a run directory (`save_result`, `report.run`), by relative path.
WRITTEN = frozenset(
    {CONFIG, METRICS, TIMINGS, HISTORY, PREDICTIONS, REPORT, "input.png", "results.png", "history.png"}
    | {"memory.png", MODELS_DIR}
    | {DOCTOR, f"{DOCTOR}-wal", f"{DOCTOR}-shm"}  # the doctor's store, and SQLite's files beside it
    | {f"{MODELS_DIR}/{name}" for name in (CONFIG, "data.json", *(f"{m}.npz" for m in MODELS))}
)
# The report's files are marked as statelab's (`statelab.written`), so `statelab report RUN` may
# redraw them: their marks, `.NAME.statelab` beside them, are statelab's too.
WRITTEN |= {
    mark_path(Path(name)).as_posix()
    for name in (REPORT, "input.png", "results.png", "history.png", "memory.png")
}


def foreign_entries(run_dir: str | Path) -> list[str]:
    """What a run directory holds that statelab did not write there: any other file or folder,
    and any symbolic link (relative POSIX paths, sorted). Temporaries named as statelab names its
    own (a report being rewritten) are statelab's."""
    run_dir = Path(run_dir)
    out = []
    for path in sorted(run_dir.rglob("*")):  # rglob does not descend into linked folders
        relative = path.relative_to(run_dir).as_posix()
        if path.is_symlink() or (relative not in WRITTEN and not scratch.is_temporary(path)):
            out.append(relative)
    return out


def delete_run(root: str | Path, name: str) -> Path:
    """Delete the run directory `name` directly under `root`, if statelab wrote it: a directory
    (not a link) whose config.json and metrics.json read back (`read_summary`) and which holds
    nothing statelab did not write (`foreign_entries`). Anything else is a ConfigError naming
    what stops it, and nothing is touched.

    The directory is first renamed into a hidden temporary sibling, so it leaves every list of
    runs at once and whole; then the temporary is removed (one left by a process killed at that
    moment is removed by the next statelab process that writes a run beside it). Returns the
    path the run had."""
    root = Path(root)
    rule = f"the name of {RUN_RULE} directly under {str(root)!r}"
    if not name or "/" in name or "\\" in name or "\x00" in name or name.startswith("."):
        raise ConfigError(f"run must be {rule}, got {name!r}")
    path = root / name
    if path.is_symlink() or not path.is_dir() or not is_run_dir(path):
        raise ConfigError(f"run must be {rule}, got {name!r}")
    read_summary(path)  # ConfigError naming the file unless it reads back as a run
    foreign = foreign_entries(path)
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise ConfigError(
            f"run must hold only what statelab wrote to be deleted, got {name!r} (it also holds {shown})"
        )
    doomed = scratch.temporary(path)
    try:
        os.rename(path, doomed)
    except OSError as exc:
        raise ConfigError(f"run must be deletable, got {name!r} ({exc.strerror})") from None
    if foreign_entries(doomed):  # a file put in meanwhile: the run goes back, untouched
        os.rename(doomed, path)
        raise ConfigError(f"run must hold only what statelab wrote to be deleted, got {name!r}")
    shutil.rmtree(doomed, ignore_errors=True)
    return path


def run_files(run_dir: str | Path) -> dict[str, int]:
    """Every visible file of a run directory, {relative POSIX path: bytes}, sorted: hidden files
    (a file being rewritten) and symbolic links are left out."""
    run_dir = Path(run_dir)
    out = {}
    for path in sorted(run_dir.rglob("*")):
        relative = path.relative_to(run_dir)
        if any(part.startswith(".") for part in relative.parts) or path.is_symlink():
            continue
        if path.is_file():
            out[relative.as_posix()] = path.stat().st_size
    return out
