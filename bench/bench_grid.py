"""Benchmark: where the phase diagram's compiled programs spend their time, per program.

    python bench/bench_grid.py      # prints a Markdown section for bench/RESULTS.md

The grid of bench/bench_sweep.py (tsteps 1..5 x lahead 1..5 x 5 seeds, reference size) trains in
five groups of 25 trials, one per lahead, and profiles each trained model's memory with a program
per (lahead, lags K) it needs. For each program: the seconds to compile it (with tracing; the
first call for a profile) and to run it (an epoch of the group; a profile), as wall time and as
the CPU time of this process, which other jobs on a shared machine inflate far less.

Also measured: whether a memory profile taken with more lags than it needs (K' > K: one program
for several K) equals the profile with its own K on its first K + 1 lags, bit for bit.
"""

from __future__ import annotations

import os
import time

import numpy as np

from machine import describe  # bench/machine.py (scripts run from bench/)
from statelab import memory, train
from statelab.config import from_mapping
from statelab.experiment import prepare

TSTEPS = range(1, 6)
LAHEADS = range(1, 6)
SEEDS = 5


class Clock:
    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        out = (wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu
        return out


def group(lahead: int) -> list:
    return [
        from_mapping({"tsteps": t, "lahead": lahead, "seed": 1986 + s, "model_seed": s, "epochs": 2})
        for t in TSTEPS
        for s in range(SEEDS)
    ]


def main() -> None:
    load = os.getloadavg()[0]
    rows, profiles, same, total = [], [], 0, 0
    for lahead in LAHEADS:
        configs = group(lahead)
        datasets = [prepare(c) for c in configs]
        clock = Clock()
        times: list[tuple[float, float]] = []
        fits = train.fit_trials(configs, datasets, on_epoch=lambda *_, t=times, c=clock: t.append(c.lap()))
        (first_wall, first_cpu), (epoch_wall, epoch_cpu) = times
        # the first epoch's lap holds the compilation; the second is an epoch alone
        rows.append((lahead, first_wall - epoch_wall, first_cpu - epoch_cpu, epoch_wall, epoch_cpu))
        seen: set[int] = set()
        for config, dataset, fit in zip(configs[::SEEDS], datasets[::SEEDS], fits[::SEEDS]):  # per tsteps
            k = memory.lags(config)
            if k not in seen:
                seen.add(k)
                clock.lap()
                memory.sensitivity(fit.params[0], config, dataset, fit.test_start[0], True, k)
                first = clock.lap()
                memory.sensitivity(fit.params[0], config, dataset, fit.test_start[0], True, k)
                profiles.append((lahead, k, *first, clock.lap()[0]))
            for m, stateful in enumerate((True, False)):
                own = memory.sensitivity(fit.params[m], config, dataset, fit.test_start[m], stateful, k)
                wide = memory.sensitivity(fit.params[m], config, dataset, fit.test_start[m], stateful, k + 3)
                same += bool(np.array_equal(own, wide[:, : k + 1]))
                total += 1

    print("## Where the phase diagram's programs spend their time (`bench/bench_grid.py`)\n")
    print(f"Machine: {describe()}; load average {load:.2f} before the run.\n")
    print("Training, one group of 25 trials per lahead (reference size, batch 1):\n")
    print("| lahead | compile wall (s) | compile CPU (s) | epoch wall (ms) | epoch CPU (ms) |")
    print("|---|---|---|---|---|")
    for lahead, cw, cc, ew, ec in rows:
        print(f"| {lahead} | {cw:.2f} | {cc:.2f} | {1000 * ew:.0f} | {1000 * ec:.0f} |")
    print(
        f"| all five | {sum(r[1] for r in rows):.2f} | {sum(r[2] for r in rows):.2f} | "
        f"{1000 * sum(r[3] for r in rows):.0f} | {1000 * sum(r[4] for r in rows):.0f} |"
    )
    print("\nMemory profiles, one program per (lahead, K):\n")
    print("| lahead | K | first call wall (s) | first call CPU (s) | next call (ms) |")
    print("|---|---|---|---|---|")
    for lahead, k, fw, fc, nw in profiles:
        print(f"| {lahead} | {k} | {fw:.2f} | {fc:.2f} | {1000 * nw:.1f} |")
    print(
        f"| {len(profiles)} programs | | {sum(p[2] for p in profiles):.2f} | "
        f"{sum(p[3] for p in profiles):.2f} | |"
    )
    print(f"\nProfiles taken with K + 3 lags equal to their own K's on lags 0..K: {same} of {total}.")


if __name__ == "__main__":
    main()
