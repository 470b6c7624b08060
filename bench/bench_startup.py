"""Benchmark of statelab's start-up: what `import statelab` costs, and `statelab run` around training.

    python bench/bench_startup.py                      # prints a Markdown section for bench/RESULTS.md
    python bench/bench_startup.py --baseline OLD/src   # the same for another source tree, interleaved

Measured, each as the wall time of a fresh subprocess (median of `--runs` runs; with
`--baseline`, the two trees alternate run by run, so a busy moment of the machine hits both alike):
- `python -c "import statelab"`: the package and its static exports;
- `statelab run --tsteps 0`: parsing and checking a config (bad input exits before JAX loads);
- `statelab run --input-len 200 --epochs 1` with a warm compilation cache: a whole small run.
It also lists which heavy modules `import statelab` and `import statelab.cli` load (none should).

A baseline tree is any checkout's `src/`, for example
`git archive COMMIT src | tar -x -C /tmp/base` and `--baseline /tmp/base/src`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from machine import describe  # bench/machine.py (scripts run from bench/)

HEAVY = ("jax", "pandas", "matplotlib", "dask", "distributed", "statsmodels", "pyarrow", "tqdm")
COMMANDS = {
    "`python -c 'import statelab'`": ["-c", "import statelab"],
    "`statelab run --tsteps 0` (bad input, exits before JAX)": ["-m", "statelab", "run", "--tsteps", "0"],
    "`statelab run --input-len 200 --epochs 1`, warm cache": [
        "-m",
        "statelab",
        "run",
        "--input-len",
        "200",
        "--epochs",
        "1",
    ],
}
RUN = list(COMMANDS)[2]


def environment(source: str | None, cache: str) -> dict[str, str]:
    """The environment of a measured process: its compilation cache, and the tree it imports."""
    env = {k: v for k, v in os.environ.items() if k != "STATELAB_NO_CACHE"}
    env["STATELAB_CACHE_DIR"] = cache
    if source is not None:
        env["PYTHONPATH"] = source  # ahead of the installed (editable) statelab
    return env


def wall(args: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def loaded(module: str, env: dict[str, str]) -> list[str]:
    code = f"import sys, {module}; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    return out.stdout.split()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", metavar="SRC", help="another statelab source tree to time alongside")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    trees = {"this tree": None, **({"baseline": args.baseline} if args.baseline else {})}
    times: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        envs = {tree: environment(source, f"{tmp}/cache") for tree, source in trees.items()}
        for tree, env in envs.items():
            wall([*COMMANDS[RUN], "--out", f"{tmp}/warm-up-{len(tree)}"], env)  # fill the cache
        for i in range(args.runs):
            for tree, env in envs.items():
                for label, command in COMMANDS.items():
                    extra = ["--out", f"{tmp}/run-{len(tree)}-{i}"] if label == RUN else []
                    times.setdefault((tree, label), []).append(wall(command + extra, env))
        modules = {
            (tree, m): loaded(m, env) for tree, env in envs.items() for m in ("statelab", "statelab.cli")
        }
    print(f"## Start-up (`bench/bench_startup.py`, {time.strftime('%Y-%m-%d')})\n")
    print(f"Machine: {describe()}; load average {os.getloadavg()[0]:.2f} at the end\n")
    print("| command | " + " | ".join(f"{tree}: median of {args.runs} [min, max]" for tree in trees) + " |")
    print("|---|" + "---|" * len(trees))
    for label in COMMANDS:
        cells = []
        for tree in trees:
            v = times[(tree, label)]
            cells.append(f"{statistics.median(v):.3f} s [{min(v):.3f}, {max(v):.3f}]")
        print(f"| {label} | " + " | ".join(cells) + " |")
    print()
    for (tree, module), heavy in modules.items():
        print(f"- {tree}: `import {module}` loads {', '.join(heavy) or 'none of ' + ', '.join(HEAVY)}")


if __name__ == "__main__":
    main()
