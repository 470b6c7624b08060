"""Benchmark of `statelab sweep`: the full phase diagram, end to end.

    python bench/bench_sweep.py [--repeats 3]   # prints a Markdown section for bench/RESULTS.md

Grid: tsteps 1..5 x lahead 1..5 x 5 seeds at the reference size (1000 rows, batch 1, 10 epochs):
125 trials, each training a stateful and a stateless model, 250 trainings. The original Keras
example takes about 2.3 ms per batch-1 step, 8000 steps per training, so about 18 s per training
and 80 minutes for the 250.

Each measurement is the wall time of `statelab sweep` as a subprocess, from process start
(Python and JAX imports included) to exit (store written, report drawn), into a fresh store:
- in-process (the default: groups of different shapes on as many threads as cores);
- on a local Dask cluster, `--workers 2` (cluster start-up and worker imports included);
- in-process with a warm compilation cache (a second sweep sharing the first one's cache).
Cold runs point the compilation cache at a new empty directory. The median of `--repeats` runs
is reported with the min and max; the machine's load average is printed beside them because the
two cores may be shared, and so is the CPU time the command used (user + system, its children
included): the work done, which other jobs on the machine inflate far less than the wall time.
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe  # bench/machine.py (scripts run from bench/)

GRID = ["--tsteps", "1:6", "--lahead", "1:6", "--seeds", "5"]
TRIALS = 5 * 5 * 5
TRAININGS = 2 * TRIALS
KERAS_MINUTES = 80


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def sweep_seconds(extra: list[str], cache: Path, workdir: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of one `statelab sweep` of the grid into a fresh store."""
    store = workdir / f"s{time.monotonic_ns()}.sqlite"
    env = {**os.environ, "STATELAB_CACHE_DIR": str(cache)}
    cpu = cpu_of_children()
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "statelab", "sweep", *GRID, *extra, "--store", str(store)],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - start
    cpu = cpu_of_children() - cpu
    (count,) = sqlite3.connect(store).execute("SELECT COUNT(*) FROM trials WHERE status = 'ok'").fetchone()
    assert count == TRIALS, f"{count} of {TRIALS} trials finished"
    return seconds, cpu


def measure(name: str, extra: list[str], repeats: int, warm: bool, workdir: Path) -> dict:
    times, cpus, loads = [], [], []
    for _ in range(repeats):
        cache = Path(tempfile.mkdtemp(dir=workdir))
        if warm:
            sweep_seconds(extra, cache, workdir)  # fills the cache
        loads.append(os.getloadavg()[0])
        wall, cpu = sweep_seconds(extra, cache, workdir)
        times.append(wall)
        cpus.append(cpu)
    return {"name": name, "times": times, "cpu": cpus, "load": max(loads)}


def phase_table(workdir: Path) -> str:
    """Median normalised test MSE per cell of the last store (a check that the runs were real)."""
    from statelab.report.sweep import summarise
    from statelab.store import Store

    store = max(workdir.glob("s*.sqlite"), key=lambda p: p.stat().st_mtime)
    with Store.open(store) as opened:
        points = summarise(opened.records()).points
    lines = ["| tsteps \\ lahead | " + " | ".join(str(la) for la in range(1, 6)) + " |", "|---" * 6 + "|"]
    for t in range(1, 6):
        cells = []
        for la in range(1, 6):
            p = next(p for p in points if p.x == t and p.lahead == la)
            cells.append(f"{p.nmse['stateful'].median:.2f} / {p.nmse['stateless'].median:.2f}")
        lines.append(f"| {t} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-dask", action="store_true", help="skip the local Dask cluster")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        results = [measure("in-process (default), cold compile cache", [], args.repeats, False, workdir)]
        if not args.no_dask:
            results.append(
                measure(
                    "local Dask cluster, `--workers 2`, cold cache",
                    ["--workers", "2"],
                    args.repeats,
                    False,
                    workdir,
                )
            )
        results.append(measure("in-process, warm compile cache", [], args.repeats, True, workdir))
        table = phase_table(workdir)

    print("## Sweep: the phase diagram (`bench/bench_sweep.py`)\n")
    print(f"Machine: {describe()}.\n")
    print(
        f"`statelab sweep {' '.join(GRID)}` at the reference size (1000 rows, batch 1, 10 epochs): "
        f"{TRIALS} trials, {TRAININGS} trainings. Wall time of the whole command (imports, training, "
        f"store, report), median of {args.repeats} runs [min, max]; target <= 20 s. The original Keras "
        f"example would need about {KERAS_MINUTES} minutes for the same {TRAININGS} trainings.\n"
    )
    print("| mode | wall time (s) | CPU time (s) | per trial (ms) | per training (ms) | load avg |")
    print("|---|---|---|---|---|---|")
    for r in results:
        med = statistics.median(r["times"])
        print(
            f"| {r['name']} | {med:.1f} [{min(r['times']):.1f}, {max(r['times']):.1f}] | "
            f"{statistics.median(r['cpu']):.1f} | {1000 * med / TRIALS:.0f} | {1000 * med / TRAININGS:.0f} | "
            f"{r['load']:.2f} |"
        )
    print("\nMedian normalised test MSE over 5 seeds, stateful / stateless (last run):\n")
    print(table)


if __name__ == "__main__":
    main()
