"""Benchmark: a large file of many series and several features, read, cut and trained on.

    python bench/bench_data.py          # prints a Markdown section for bench/RESULTS.md
    python bench/bench_data.py --quick  # 200,000 rows instead of 2,000,000 (a smoke test)
    python bench/bench_data.py --load   # only loading and windowing, and one warm run's memory

The file: 2,000,000 rows, 100 series of 20,000 steps, 8 features f0..f7 (standard normal noise)
and a target y whose next value is the mean of f1 over the last three steps, in time-major row
order (every series at step 0, then every series at step 1, ...), as a sensor log comes; written
once as CSV and once as Parquet. Measured:

- loading and windowing: `experiment.prepare` (read the columns, group by series, sort by time,
  standardise, window, lay out batches) in this process after the imports, best of 3;
- a whole `statelab run` on the file as a subprocess (batch 64, streams, lahead 1, 2 epochs):
  wall time and peak memory (the child's maximum resident set size), with JAX's compilation cache
  cold (an empty cache directory) and warm (the same directory again);
- the steady time of an epoch at batch 64, and its compilation, in this process;
- the memory profile's cost on the 400,000 scored test rows (timings.json `memory_s`).

For the issue's comparison, the same run on the issue's univariate file (2,000,000 rows of one
column, 34 MB of CSV, defaults otherwise: batch 1, 10 epochs) is timed too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from machine import describe  # bench/machine.py (scripts run from bench/)

SERIES, FEATURES = 100, 8
FEATURE_NAMES = [f"f{j}" for j in range(FEATURES)]


def write_files(directory: Path, steps: int) -> dict[str, Path]:
    """The benchmark file as CSV and Parquet (see the module docstring)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    x = rng.standard_normal((steps, SERIES, FEATURES)).round(5)
    y = np.zeros((steps, SERIES))
    c = np.cumsum(x[:, :, 1], axis=0)
    y[3:] = (c[2:-1] - np.concatenate([np.zeros((1, SERIES)), c[: steps - 4]])) / 3  # mean of f1[t-3..t-1]
    columns = {
        "series": pa.array(np.tile([f"s{i:03d}" for i in range(SERIES)], steps)),
        "time": pa.array(np.repeat(np.arange(steps), SERIES)),
        **{name: pa.array(x[:, :, j].ravel()) for j, name in enumerate(FEATURE_NAMES)},
        "y": pa.array(y.round(5).ravel()),
    }
    table = pa.table(columns)
    paths = {"csv": directory / "big.csv", "parquet": directory / "big.parquet"}
    pcsv.write_csv(table, paths["csv"])
    pq.write_table(table, paths["parquet"])
    return paths


def run_flags(path: Path, epochs: int) -> dict[str, object]:
    return {
        "task": "file",
        "data": str(path),
        "target": "y",
        "features": ",".join(FEATURE_NAMES),
        "series": "series",
        "time": "time",
        "batch_size": 64,
        "epochs": epochs,
        "peers": "none",  # the classical peers' cost is bench/bench_peers.py's
    }


def load_time(path: Path, repeats: int = 3) -> float:
    """Best of `repeats`: reading and cutting the file (`experiment.prepare`), in seconds."""
    from statelab import experiment
    from statelab.config import from_mapping

    config = from_mapping(run_flags(path, 1))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        dataset = experiment.prepare(config)
        times.append(time.perf_counter() - start)
        del dataset
    return min(times)


def epoch_time(path: Path, epochs: int = 3) -> tuple[float, float, int]:
    """(steady seconds per epoch, first epoch minus a steady one (compilation), steps per epoch)."""
    from statelab import experiment, train
    from statelab.config import from_mapping

    config = from_mapping(run_flags(path, epochs))
    dataset = experiment.prepare(config)
    marks = [time.perf_counter()]
    train.fit(config, dataset, lambda *_: marks.append(time.perf_counter()))
    steady = (marks[-1] - marks[1]) / (epochs - 1)
    return steady, marks[1] - marks[0] - steady, dataset.train.shape[0]


def run_subprocess(flags: dict[str, object], out: Path, cache: Path) -> dict[str, float]:
    """`statelab run` as a child process: wall seconds, peak resident memory (MiB), timings.json."""
    argv = [sys.executable, "-m", "statelab", "run", "--out", str(out)]
    for key, value in flags.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    env = {**os.environ, "STATELAB_CACHE_DIR": str(cache)}
    # Each measurement in a fresh child of a fresh helper, so RUSAGE_CHILDREN's maximum is this run's.
    helper = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    done = subprocess.run([sys.executable, "-c", helper, *argv], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    wall_s, max_kib = done.stdout.split()
    timings = json.loads((out / "timings.json").read_text())
    return {"wall_s": float(wall_s), "peak_mib": int(max_kib) / 1024, **timings}


def main() -> None:
    quick = "--quick" in sys.argv
    steps = 2_000 if quick else 20_000
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        paths = write_files(tmp, steps)
        write_s = time.perf_counter() - start
        sizes = {kind: p.stat().st_size / 2**20 for kind, p in paths.items()}
        loads = {kind: load_time(path) for kind, path in paths.items()}
        if "--load" in sys.argv:  # loading and windowing, and what a whole run holds at most
            cache = tmp / "cache"
            run_subprocess(run_flags(paths["parquet"], 1), tmp / "warm-up", cache)
            peaks = {
                kind: run_subprocess(run_flags(p, 2), tmp / f"run-{kind}", cache) for kind, p in paths.items()
            }
            print(f"Machine: {describe()}; load average {os.getloadavg()[0]:.2f} at the end\n")
            csv_mib, pq_mib = peaks["csv"]["peak_mib"], peaks["parquet"]["peak_mib"]
            print(
                f"`bench/bench_data.py --load` ({SERIES * steps:,} rows): load and window "
                f"(`experiment.prepare`), best of 3: CSV {loads['csv']:.2f} s, "
                f"Parquet {loads['parquet']:.2f} s; "
                f"`statelab run`, batch 64, 2 epochs, warm cache, --peers none: peak memory CSV "
                f"{csv_mib:.0f} MiB, Parquet {pq_mib:.0f} MiB."
            )
            return
        epoch_s, compile_s, steps_per_epoch = epoch_time(paths["parquet"])
        runs = {}
        cache = tmp / "cache"
        for label, kind in (("cold", "parquet"), ("warm", "parquet"), ("warm", "csv")):
            out = tmp / f"run-{label}-{kind}"
            runs[(label, kind)] = run_subprocess(run_flags(paths[kind], 2), out, cache)

        # The univariate file: 2,000,000 values of one column, defaults otherwise.
        one = tmp / "one.csv"
        values = np.random.default_rng(1).standard_normal(SERIES * steps).round(6)
        one.write_text("x\n" + "\n".join(map(str, values)) + "\n")
        univariate = run_subprocess(
            {"task": "csv", "data": str(one), "peers": "none"}, tmp / "run-one", cache
        )

    rows = SERIES * steps
    day = time.strftime("%Y-%m-%d")
    print(f"## Users' files: {rows:,} rows, {SERIES} series, {FEATURES} features ({day})\n")
    print(f"Machine: {describe()}; load average {os.getloadavg()[0]:.2f} at the end\n")
    print(
        f"`bench/bench_data.py`{' --quick' if quick else ''}: files written in {write_s:.1f} s "
        f"(CSV {sizes['csv']:.0f} MiB, Parquet {sizes['parquet']:.0f} MiB).\n"
    )
    csv, pq, cold = runs[("warm", "csv")], runs[("warm", "parquet")], runs[("cold", "parquet")]
    table = [
        ("measure", "CSV", "Parquet"),
        ("---", "---", "---"),
        (
            "load and window (`experiment.prepare`), best of 3",
            f"{loads['csv']:.2f} s",
            f"{loads['parquet']:.2f} s",
        ),
        (
            "`statelab run`, batch 64, 2 epochs, warm cache: wall",
            f"{csv['wall_s']:.1f} s",
            f"{pq['wall_s']:.1f} s",
        ),
        ("the same: peak memory (max RSS)", f"{csv['peak_mib']:.0f} MiB", f"{pq['peak_mib']:.0f} MiB"),
        (
            "`statelab run`, cold cache: wall / peak memory",
            "",
            f"{cold['wall_s']:.1f} s / {cold['peak_mib']:.0f} MiB",
        ),
        ("timings.json data_s (warm)", f"{csv['data_s']:.2f} s", f"{pq['data_s']:.2f} s"),
        (
            f"memory profile on the {int(rows * 0.2):,} test rows, both models (memory_s)",
            f"{csv['memory_s']:.1f} s",
            f"{pq['memory_s']:.1f} s",
        ),
    ]
    print("\n".join("| " + " | ".join(row) + " |" for row in table) + "\n")
    per_step = epoch_s / steps_per_epoch * 1e6
    print(
        f"Epoch at batch 64 (streams, {steps_per_epoch:,} steps, stateful and stateless side by side): "
        f"{epoch_s:.2f} s steady, {per_step:.1f} µs per step; compile {compile_s:.2f} s.\n"
    )
    print(
        f"The issue's univariate file ({rows:,} rows of one column, batch 1, 10 epochs): `statelab run` "
        f"{univariate['wall_s']:.0f} s wall, peak {univariate['peak_mib']:.0f} MiB, of which loading "
        f"{univariate['data_s']:.2f} s and training {univariate['train_s']:.0f} s "
        "(issue: 2 min 9 s, 1.04 GB)."
    )


if __name__ == "__main__":
    main()
