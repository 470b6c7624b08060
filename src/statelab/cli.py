"""The `statelab` command: parse, build a config, call the library, print.

Bad input ends in one line on stderr naming the parameter, the rule and the value, exit code 2,
no traceback, and nothing written.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

from statelab.cache import cache_dir as cache_dir  # its earlier home; still importable from here
from statelab.cache import compilation_cache
from statelab.config import FIELD_SECTION, ConfigError, ExperimentConfig, from_mapping, parse_value
from statelab.configfile import load_config_file
from statelab.confighelp import field_help
from statelab.interrupt import EXIT_INTERRUPTED, MESSAGE, catching
from statelab.params import check_file_in_folder, check_output_path, check_path
from statelab.version import __version__

EXIT_USAGE = 2
EXECUTOR_HELP = (
    "where trials run: inline (this process, the default), inline:THREADS, local:N (a local Dask "
    "cluster of N worker processes), dask://HOST:PORT (a running Dask cluster)"
)


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (it prints usage over several lines by default)."""

    def error(self, message: str) -> NoReturn:
        fail(message)


def fail(message: str) -> NoReturn:
    line = " ".join(str(message).split("\n"))  # one line, whatever a value held
    print(f"statelab: error: {line}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_executor_flags(parser: argparse.ArgumentParser) -> None:
    """--executor, and its shorthands --workers and --scheduler [--scheduler-timeout]."""
    parser.add_argument("--executor", metavar="SPEC", help=EXECUTOR_HELP)
    parser.add_argument("--workers", metavar="N", help="the same as --executor local:N")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="the same as --executor dask://HOST:PORT")
    parser.add_argument(
        "--scheduler-timeout",
        metavar="SECONDS",
        help="how long to wait for --scheduler before giving up (default: 15)",
    )


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per config field, plus --config FILE. Values are checked when the config is built."""
    parser.add_argument("--config", metavar="FILE", help="TOML or JSON file of parameters; flags override it")
    for name in FIELD_SECTION:
        names = [flag(name), "--column"] if name == "target" else [flag(name)]  # --column: earlier name
        parser.add_argument(
            *names, dest=name, metavar=name.split("_")[-1].upper(), default=None, help=field_help(name)
        )


def config_from_args(args: argparse.Namespace) -> ExperimentConfig:
    """Defaults, then the config file, then the flags."""
    mapping: dict[str, Any] = dict(load_config_file(args.config)) if args.config is not None else {}
    for name in FIELD_SECTION:
        text = getattr(args, name)
        if text is not None:
            section = FIELD_SECTION[name]
            if isinstance(mapping.get(section), dict):  # the flag replaces the file's value
                mapping[section] = {k: v for k, v in mapping[section].items() if k != name}
            mapping.pop("column" if name == "target" else name, None)
            mapping[name] = parse_value(name, text)
    return from_mapping(mapping)


def cmd_run(args: argparse.Namespace) -> int:
    """Train both models on one config; print and save everything.

    Ctrl-C is checked before the heavy work, between epochs and just before the run directory is
    renamed into place: until then an interrupted run leaves nothing."""
    config = config_from_args(args)
    out = None if args.out is None else check_output_path("out", args.out, "directory")
    interrupt = args.interrupt

    # The engine and the plots import JAX and matplotlib: only once the input is known good. The
    # report is drawn by a helper process that imports matplotlib while this one loads JAX.
    from statelab.report.worker import ReportWorker

    with ReportWorker(config) as worker:
        from statelab import experiment, rundir, terminal
        from statelab.names import MODELS

        rundir.check_run_dir(out if out is not None else rundir.default_run_dir(config))
        interrupt.check()
        console = terminal.make_console()
        dataset = experiment.prepare(config)
        interrupt.check()
        terminal.banner(console, config)
        terminal.data_preview(console, config, dataset)
        with terminal.epoch_progress(console, config, MODELS) as show_epoch:

            def on_epoch(epoch: int, logs: dict[str, dict[str, float]]) -> None:
                interrupt.check()
                show_epoch(epoch, logs)

            result = experiment.run_experiment(config, dataset, on_epoch, cache=not args.no_cache)
        del dataset  # the result holds what the files need: a large dataset goes before they are written
        interrupt.check()
        terminal.results(console, result)
        saved = experiment.save_run(result, out, before_commit=interrupt.check, draw=worker.draw)
    interrupt.settle()  # the run is in place: a Ctrl-C from here on is too late to undo it
    terminal.last_line(console, result, str(saved))
    if args.doctor and any(m.diagnosis is not None for m in result.models.values()):
        return run_doctor(saved, argparse.Namespace(**{**vars(args), "seeds": None, "store": None}))
    return 0


def run_doctor(run_dir: str | Path, args: argparse.Namespace) -> int:
    """Train the candidate fixes of a run (statelab.doctor) and print which converge."""
    from statelab import doctors, terminal
    from statelab.executors import from_flags

    options = [
        getattr(args, name, None) for name in ("executor", "workers", "scheduler", "scheduler_timeout")
    ]
    where = from_flags(*options)
    seeds = 3 if getattr(args, "seeds", None) is None else args.seeds
    store = getattr(args, "store", None)
    store = None if store is None else check_output_path("store", store, "file")
    console, err_console = terminal.make_console(), terminal.make_console(stderr=True)
    with contextlib.ExitStack() as stack:
        bar: list[Any] = []

        def on_plan(candidates: list[doctors.Candidate], pending: int) -> None:
            terminal.doctor_plan(console, candidates, pending)
            bar.append(stack.enter_context(terminal.sweep_progress(err_console, pending)))

        def progress(completed: float, done: int, failed: int) -> None:
            if bar and bar[0] is not None:
                bar[0](completed, done, failed)

        report = doctors.doctor(
            run_dir,
            store=store,
            executor=where,
            seeds=seeds,
            cache_dir=compilation_cache(not args.no_cache),
            on_plan=on_plan,
            progress=progress,
            interrupt=args.interrupt.check,
        )
    args.interrupt.settle()  # every trial is in the store
    terminal.doctor_report(console, report)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Find, by experiment, a change that makes a failed run converge."""
    from statelab import rundir

    if not rundir.is_run_dir(args.run_dir):
        fail(f"run_dir must be {rundir.RUN_RULE}, got {args.run_dir!r}")
    return run_doctor(args.run_dir, args)


def cmd_predict(args: argparse.Namespace) -> int:
    """Run a saved model over a file: each series from its own state, carried through it.

    With --state FILE the states are read from FILE when it exists and written back after, so a
    service that restarts carries on where it stopped. Everything is checked before anything is
    written, and Ctrl-C is checked between series and before the files are written."""
    from statelab import data, predict, statefile
    from statelab.report.output import write_together

    if args.out is not None:
        predict.check_out(args.out, {"input": args.input, "state": args.state})
    header = data.header(args.input, "input")
    predictor = predict.load_predictor(args.run_dir, args.model)
    keys = [c for c in (args.series, args.time) if c is not None]
    features = predict.input_features(predictor, [c for c in header if c not in keys], args.column)
    panel = data.read_panel(
        args.input, features[0], features, args.series, args.time, param="input", target_param="column"
    )
    state_path = check_file_in_folder("state", args.state) if args.state is not None else None
    if state_path is not None and state_path.is_symlink():  # its turn is taken where the file is
        state_path = Path(os.path.realpath(state_path))
    interrupt = args.interrupt
    # Two predicts sharing a state file take turns: the second starts from what the first wrote.
    turn = statefile.state_turn(state_path, interrupt.check) if state_path else contextlib.nullcontext()
    with turn:
        states: Mapping[str, Mapping[str, Any]] = (
            statefile.read_states(state_path, predictor) if state_path and state_path.exists() else {}
        )
        interrupt.check()
        predictions, before, states = predict.predict_series(predictor, panel, states, interrupt.check)

        columns = predict.output_columns(
            panel, features, predictions, before, with_series=args.series is not None
        )
        text = data.csv_bytes(columns)
        interrupt.check()  # the last moment a Ctrl-C leaves nothing written
        files = [] if args.out is None else [("out", Path(args.out), text)]
        if state_path is not None:
            files.append(("state", state_path, statefile.states_bytes(predictor, states)))
        write_together(files)  # the output and the states, both or neither
        if args.out is None:
            sys.stdout.write(text.decode())
    interrupt.settle()
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write a run's trained model for use elsewhere (a Keras 3 model file)."""
    from statelab.export import export
    from statelab.params import check_count

    batch_size = check_count("batch_size", args.batch_size)
    path = export(
        args.run_dir,
        args.out,
        model=args.model,
        format=args.format,
        batch_size=batch_size,
        before_commit=args.interrupt.check,
    )
    args.interrupt.settle()
    print(f"Saved the {args.model} model of {args.run_dir} to {path}")
    return 0


def report_directory(store_path: str | Path, out: str | Path | None) -> Path:
    """`out`, or by default sweep.sqlite -> sweep-report/ beside the store; checked before any
    work: it must be new, empty, or a report directory statelab wrote (`check_report_dir`)."""
    from statelab.report.output import check_report_dir

    path = check_output_path("store", store_path, "file")
    report_dir = path.with_name(f"{path.stem}-report") if out is None else Path(out)
    return check_report_dir(check_output_path("out", report_dir, "directory"))


def cmd_sweep(args: argparse.Namespace) -> int:
    """Train both models on every config of a grid into a store, then draw the sweep report.

    Every check (grid, paths, store file, memory, data files, cluster) happens before the store is
    created. Ctrl-C stops between epochs; every trial committed until then stays in the store."""
    from statelab import grid, sweeps, terminal
    from statelab.executors import from_flags
    from statelab.report.sweep import write_report

    interrupt = args.interrupt
    flags = {name: getattr(args, name) for name in FIELD_SECTION}
    the_grid = grid.grid_from_inputs(flags, args.seeds, args.config)
    configs = grid.expand(the_grid)
    store_path, report_dir = (
        check_output_path("store", args.store, "file"),
        report_directory(args.store, args.out),
    )
    where = from_flags(args.executor, args.workers, args.scheduler, args.scheduler_timeout)
    console, err_console = terminal.make_console(), terminal.make_console(stderr=True)
    with sweeps.open_sweep(
        store_path,
        where,
        compilation_cache(not args.no_cache),
        configs=configs,
        on_status=lambda text: err_console.print(text, soft_wrap=True),
        interrupt=interrupt.check,
    ) as (store, executor):
        n_pending = len(sweeps.pending_configs(configs, store))
        console.print(
            f"{len(configs)} trials ({the_grid.n_points} grid points x {the_grid.seeds} seeds), "
            f"{len(configs) - n_pending} already in {store_path}; running {n_pending} "
            f"({executor.description})",
            soft_wrap=True,
        )
        with terminal.sweep_progress(err_console, n_pending) as progress:
            outcome = sweeps.run_sweep(configs, store, executor, progress, interrupt=interrupt.check)
        terminal.sweep_outcome(console, outcome)
        report = write_report(
            store.records(), report_dir, source=str(store.path), before_write=interrupt.check
        )
    interrupt.settle()  # every trial is stored and the report written
    console.print(f"Report: {report}", soft_wrap=True)
    return sweeps.exit_status(outcome.failed)


def cmd_report(args: argparse.Namespace) -> int:
    """Redraw a report without training: a sweep's from its store, or a run directory's in place."""
    from statelab.terminal import make_console

    console = make_console()
    path = check_path("store", args.store, "a sweep store or a run directory")
    if not path.is_dir():
        path = check_output_path("store", args.store, "file")
    if path.is_dir():
        from statelab.rundir import is_run_dir

        if not is_run_dir(path):
            fail(f"store must be a sweep store or a run directory with metrics.json, got {str(path)!r}")
        if args.out is not None:
            fail(
                f"out must be left out for a run directory (its report is redrawn in place), got {args.out!r}"
            )
        from statelab.report.run import write_run_report

        write_run_report(path, before_write=args.interrupt.check)
        args.interrupt.settle()  # written: a Ctrl-C from here on is too late to undo it
        console.print(f"Report: {path / 'report.html'}", soft_wrap=True)
        return 0
    from statelab.report.sweep import write_report
    from statelab.store import Store

    report_dir = report_directory(path, args.out)
    with Store.open(path) as store:  # read-only: the store is left byte for byte as it was
        records = store.records()
    report = write_report(records, report_dir, source=str(path), before_write=args.interrupt.check)
    args.interrupt.settle()
    console.print(f"Report: {report}", soft_wrap=True)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """The lab in a browser: runs, sweeps and a form to train, on a local web server."""
    from statelab.executors import from_flags
    from statelab.web.server import serve

    stores = args.store if args.store else ["sweep.sqlite"]
    where = from_flags(args.executor, args.workers, args.scheduler, args.scheduler_timeout)
    return serve(
        args.runs, stores, args.host, args.port, None if args.no_cache else cache_dir(), executor=where
    )


def build_parser() -> Parser:
    parser = Parser(
        prog="statelab",
        description="Stateful versus stateless recurrent networks, against the analytic optimum.",
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"statelab {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    # (each subcommand parser is made with allow_abbrev=False too: --ep is not --epochs)

    run = commands.add_parser(
        "run", allow_abbrev=False, help="train a stateful and a stateless model on one config"
    )
    add_config_flags(run)
    run.add_argument("--out", metavar="DIR", help="run directory (default: runs/<time>-<hash>/)")
    run.add_argument("--no-cache", action="store_true", help="do not use the compilation cache")
    run.add_argument(
        "--doctor",
        action="store_true",
        help="if a model misses what theory promised, train candidate fixes and print the one that works",
    )
    run.set_defaults(func=cmd_run)

    doctor = commands.add_parser(
        "doctor",
        allow_abbrev=False,
        help="find, by experiment, a change that makes a failed run converge",
        description="Trains the candidate changes of a run's diagnosis (a longer bptt, more epochs, a "
        "smaller learning rate, other model seeds) side by side, each with several model seeds, into "
        "RUN_DIR/doctor.sqlite (a rerun resumes), and prints which converge and the smallest one.",
    )
    doctor.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by `statelab run`")
    doctor.add_argument("--seeds", metavar="N", help="model seeds each change is tried with (default: 3)")
    doctor.add_argument(
        "--store", metavar="PATH", help="where its trials go (default: RUN_DIR/doctor.sqlite)"
    )
    doctor.add_argument("--no-cache", action="store_true", help="do not use the compilation cache")
    add_executor_flags(doctor)
    doctor.set_defaults(func=cmd_doctor)

    predict = commands.add_parser(
        "predict",
        allow_abbrev=False,
        help="run a saved model of a run over a file (CSV or Parquet), one state per series",
    )
    predict.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by `statelab run`")
    predict.add_argument(
        "--input",
        required=True,
        metavar="FILE",
        help="CSV (with a header row) or Parquet file of the run's features",
    )
    predict.add_argument(
        "--column",
        metavar="NAME",
        help="a one-feature model: the column to read (default: the run's feature)",
    )
    predict.add_argument(
        "--series", metavar="COL", help="a column of series ids: each series has its own state"
    )
    predict.add_argument("--time", metavar="COL", help="the column that orders rows within a series")
    predict.add_argument(
        "--state", metavar="FILE", help="JSON file of each series' state: read if it exists, written after"
    )
    predict.add_argument("--model", default="stateful", choices=("stateful", "stateless"))
    predict.add_argument("--out", metavar="FILE.csv", help="where to write predictions (default: stdout)")
    predict.set_defaults(func=cmd_predict)
    export = commands.add_parser(
        "export", allow_abbrev=False, help="write a run's trained model as a Keras 3 model file"
    )
    export.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by `statelab run`")
    export.add_argument("--model", default="stateful", choices=("stateful", "stateless"))
    export.add_argument(
        "--format", default="keras", choices=("keras",), help="keras: a .keras file (Keras 3)"
    )
    export.add_argument(
        "--out", required=True, metavar="FILE.keras", help="the file to write (must not exist)"
    )
    export.add_argument(
        "--batch-size",
        default="1",
        metavar="N",
        help="stateful: streams per batch, the fixed batch shape of the stateful layers (default: 1)",
    )
    export.set_defaults(func=cmd_export)
    # More subcommands are registered below this line.
    sweep = commands.add_parser(
        "sweep",
        allow_abbrev=False,
        help="train both models over a grid of configs and seeds into a results store",
        description="Every config flag takes a value, a comma list (1,16), a half-open range a:b[:step] "
        "(1:6 is 1..5) or a mix (1:4,8); list-valued parameters (--ar-coefs, --features) separate "
        "their values with ';'. --config takes a TOML or JSON grid file (lists or range strings). "
        "Each trial trains both models; finished trials are skipped on a rerun.",
    )
    add_config_flags(sweep)
    sweep.add_argument("--seeds", metavar="N", help="replicates per grid point: seed and model_seed + 0..N-1")
    sweep.add_argument("--store", default="sweep.sqlite", metavar="PATH", help="SQLite results store")
    sweep.add_argument("--out", metavar="DIR", help="report directory (default: <store>-report/ beside it)")
    sweep.add_argument("--executor", metavar="SPEC", help=EXECUTOR_HELP)
    sweep.add_argument("--workers", metavar="N", help="the same as --executor local:N")
    sweep.add_argument("--scheduler", metavar="ADDRESS", help="the same as --executor dask://HOST:PORT")
    sweep.add_argument(
        "--scheduler-timeout",
        metavar="SECONDS",
        help="how long to wait for --scheduler before giving up (default: 15)",
    )
    sweep.add_argument("--no-cache", action="store_true", help="do not use the compilation cache")
    sweep.set_defaults(func=cmd_sweep)

    report = commands.add_parser(
        "report", allow_abbrev=False, help="redraw a sweep's or a run's report, without training"
    )
    report.add_argument(
        "store", metavar="STORE", help="a results store written by `statelab sweep`, or a run directory"
    )
    report.add_argument("--out", metavar="DIR", help="report directory (default: <store>-report/ beside it)")
    report.set_defaults(func=cmd_report)

    serve = commands.add_parser(
        "serve",
        allow_abbrev=False,
        help="the lab in a browser: run experiments, browse runs, watch sweeps (a local web server)",
    )
    serve.add_argument("--runs", default="runs", metavar="DIR", help="run directories to show and write")
    serve.add_argument(
        "--store",
        action="append",
        metavar="FILE",
        help="a sweep store to show and launch sweeps into; repeat for several (default: sweep.sqlite)",
    )
    serve.add_argument("--port", default="8000", metavar="N", help="TCP port (0: any free port)")
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (anything but loopback is reachable by others)",
    )
    serve.add_argument("--executor", metavar="SPEC", help="where the pages' sweeps run: " + EXECUTOR_HELP)
    serve.add_argument("--workers", metavar="N", help="the same as --executor local:N")
    serve.add_argument("--scheduler", metavar="ADDRESS", help="the same as --executor dask://HOST:PORT")
    serve.add_argument(
        "--scheduler-timeout",
        metavar="SECONDS",
        help="how long a sweep waits for --scheduler before giving up (default: 15)",
    )
    serve.add_argument("--no-cache", action="store_true", help="do not use the compilation cache")
    serve.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command. Ctrl-C (SIGINT) is a flag the command checks at safe points; an
    interrupted command prints "statelab: interrupted" and returns 130 (see statelab.interrupt)."""
    with catching() as interrupt:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        args.interrupt = interrupt
        try:
            code = args.func(args)
            interrupt.check()  # a command with no check of its own was interrupted: say so
            return code
        except ConfigError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            print(MESSAGE, file=sys.stderr)
            return EXIT_INTERRUPTED


def entry_point() -> NoReturn:
    """The console script and `python -m statelab`: main(), then a fast exit.

    Tearing the interpreter down after JAX has run (its backends, thread pools and caches) takes
    about 0.3 s, a sixth of a whole run. Everything statelab writes is complete and closed when
    main() returns, so the process flushes its output and leaves without that teardown.
    """
    with catching():  # kept until the exit (statelab/__main__.py installs it before any import)
        code = main()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
