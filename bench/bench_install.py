"""Benchmark of a first run as users get it: start-up in a virtualenv built fresh by the README's command.

    python bench/bench_install.py                          # the README's command as it resolves today
    python bench/bench_install.py --variant "" --variant "ml_dtypes==0.5.4"   # compare releases
    python bench/bench_install.py --keep /tmp/venvs        # keep the venvs (and reuse them next time)

Each variant is a virtualenv made by the README's set-up command,
`python3 -m venv V && V/bin/pip install -e ROOT`, with the variant's requirements added to that
same `pip install` (`""`, the default, adds none: what a user installing today gets). A figure
measured in a development venv says nothing about the releases pip resolves for a new user, so
everything here runs in those venvs. Measured in each, the variants alternating run by run so a
busy moment of the machine hits all alike (median of `--runs` [min, max]):

- the import time of each heavy dependency alone, in a fresh interpreter (`python -X importtime
  -c "import M"`, M's cumulative time: everything it imports that was not loaded before);
- `statelab run` on its defaults end to end (the venv's `statelab` script, interpreter start to
  exit): cache cold (a new, empty STATELAB_CACHE_DIR each run) and warm (one filled beforehand).

Then, once per variant:

- `python -X importtime -m statelab run`: the ten imports with the largest cumulative time, and
  what each heavy dependency costs where the run imports it (the main process; the report's
  helper process imports matplotlib on the other core meanwhile);
- which heavy packages `statelab run` imports, in the main process and the report's helper process,
  and the statelab call that imports each: a `sitecustomize` on PYTHONPATH watches the imports.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe  # bench/machine.py (scripts run from bench/)

ROOT = Path(__file__).resolve().parent.parent
# The dependencies whose import time matters to a run, in the order JAX and statelab load them.
DEPENDENCIES = (
    "numpy",
    "ml_dtypes",
    "jaxlib._jax",  # jaxlib's compiled core (`import jaxlib` alone loads almost nothing)
    "jax",
    "optax",
    "rich",
    "pyarrow",
    "matplotlib",
    "matplotlib.pyplot",
    "pandas",
    "scipy",
    "statsmodels.api",
)
RELEASES = (
    "jax",
    "jaxlib",
    "ml_dtypes",
    "numpy",
    "scipy",
    "optax",
    "matplotlib",
    "rich",
    "pyarrow",
    "pandas",
)
# What `statelab run` on its defaults has no use for (pyarrow: predictions.csv is written by it today).
WATCHED = (
    "pandas",
    "pyarrow",
    "dask",
    "distributed",
    "fastapi",
    "uvicorn",
    "starlette",
    "scipy",
    "statsmodels",
    "plotly",
    "tqdm",
)

# Installed as sitecustomize.py in a directory on PYTHONPATH: records, for each watched package,
# the process and the statelab frames that imported it first. Written at once, line by line:
# `statelab run` leaves with os._exit, so nothing may wait for the interpreter's exit.
WATCHER = """
import json, os, sys, traceback
_WATCHED = set(os.environ["BENCH_WATCHED"].split(","))
_OUT = os.environ["BENCH_IMPORTS"]
_seen = set()

def _where(frame):
    parts = frame.filename.replace(os.sep, "/").split("/")
    if "statelab" not in parts[:-1]:  # a file of the package (not the `statelab` script)
        return None
    module = ".".join(parts[parts.index("statelab"):]).removesuffix(".py")
    return f"{module}.{frame.name}:{frame.lineno}"

class _Watch:
    def find_spec(self, name, path=None, target=None):
        if name in _WATCHED and name not in _seen:
            _seen.add(name)
            chain = [w for w in map(_where, traceback.extract_stack()[:-1]) if w]
            with open(_OUT, "a") as fh:
                fh.write(json.dumps({"argv": sys.argv, "module": name, "chain": chain}) + "\\n")
        return None

sys.meta_path.insert(0, _Watch())
"""


def build(venv: Path, requirements: list[str]) -> float:
    """The README's set-up command (plus `requirements`); its wall time. An existing venv is reused."""
    if (venv / "bin" / "statelab").exists():
        return float("nan")
    t0 = time.perf_counter()
    subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "pip"), "install", "-q", "-e", str(ROOT), *requirements]
    done = subprocess.run(pip, capture_output=True, text=True)
    if done.returncode != 0:  # pip's warnings otherwise drown the tables: shown only on failure
        sys.exit(f"{' '.join(pip)} failed:\n{done.stderr}")
    return time.perf_counter() - t0


def releases(venv: Path) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))"
    )
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code, *RELEASES], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def importtime(stderr: str) -> list[tuple[int, int, int, str]]:
    """`-X importtime` lines as (self µs, cumulative µs, depth, module), in the order printed."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|")
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        rows.append((int(own), int(cumulative), depth, name.strip()))
    return rows


def import_alone(venv: Path, module: str) -> float:
    """Seconds to import `module` in a fresh interpreter (its cumulative importtime)."""
    python = str(venv / "bin" / "python")
    out = subprocess.run(
        [python, "-X", "importtime", "-c", f"import {module}"], capture_output=True, text=True
    )
    # `import a.b` prints a.b nested in a (a's own line comes last): take the requested module's line.
    return max(c for _, c, _, name in importtime(out.stderr) if name == module) / 1e6


def run_wall(venv: Path, out: Path, cache: Path) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("STATELAB_NO_CACHE", "PYTHONPATH")}
    env["STATELAB_CACHE_DIR"] = str(cache)
    t0 = time.perf_counter()
    subprocess.run(
        [str(venv / "bin" / "statelab"), "run", "--out", str(out)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - t0


def profile_run(venv: Path, out: Path, cache: Path) -> list[tuple[int, int, int, str]]:
    """`python -X importtime -m statelab run` with a warm cache: the main process's imports."""
    env = {k: v for k, v in os.environ.items() if k not in ("STATELAB_NO_CACHE", "PYTHONPATH")}
    env["STATELAB_CACHE_DIR"] = str(cache)
    command = [str(venv / "bin" / "python"), "-X", "importtime", "-m", "statelab", "run"]
    out = subprocess.run([*command, "--out", str(out)], env=env, capture_output=True, text=True, check=True)
    return importtime(out.stderr)


def watch_run(venv: Path, tmp: Path, cache: Path) -> list[dict]:
    """The watched packages `statelab run` imports, in which process, from which statelab call."""
    tmp.mkdir()
    hook = tmp / "watch"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(WATCHER)
    record = tmp / "imports.jsonl"
    env = {k: v for k, v in os.environ.items() if k != "STATELAB_NO_CACHE"}
    env |= {
        "STATELAB_CACHE_DIR": str(cache),
        "PYTHONPATH": str(hook),  # the helper process inherits it, so both are watched
        "BENCH_WATCHED": ",".join(WATCHED),
        "BENCH_IMPORTS": str(record),
    }
    command = [str(venv / "bin" / "statelab"), "run", "--out", str(tmp / "watched")]
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines()]


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} [{min(values):.3f}, {max(values):.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--variant",
        action="append",
        metavar="REQS",
        help='requirements added to the README\'s pip install, space-separated ("" for none); repeatable',
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--keep", metavar="DIR", help="build the venvs here and keep them (reused if present)"
    )
    args = parser.parse_args()
    variants = args.variant or [""]
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        home = Path(args.keep) if args.keep else tmp / "venvs"
        venvs = {v: home / (v.replace("==", "-").replace(" ", "_") or "readme") for v in variants}
        built = {v: build(venv, v.split()) for v, venv in venvs.items()}
        found = {v: releases(venv) for v, venv in venvs.items()}
        warm = {v: tmp / f"warm-{i}" for i, v in enumerate(variants)}
        for v, venv in venvs.items():
            run_wall(venv, tmp / f"fill-{warm[v].name}", warm[v])  # fills the warm cache
        imports: dict[tuple[str, str], list[float]] = {}
        walls: dict[tuple[str, str], list[float]] = {}
        for i in range(args.runs):
            for j, (v, venv) in enumerate(venvs.items()):
                for module in DEPENDENCIES:
                    imports.setdefault((v, module), []).append(import_alone(venv, module))
                cold = tmp / f"cold-{i}-{j}"
                walls.setdefault((v, "cold"), []).append(run_wall(venv, tmp / f"run-c{i}-{j}", cold))
                walls.setdefault((v, "warm"), []).append(run_wall(venv, tmp / f"run-w{i}-{j}", warm[v]))
                shutil.rmtree(cold)
        profiles = {
            v: profile_run(venv, tmp / f"importtime-{venv.name}", warm[v]) for v, venv in venvs.items()
        }
        watched = {v: watch_run(venv, tmp / f"watch-{venv.name}", warm[v]) for v, venv in venvs.items()}
        load = os.getloadavg()

    names = {v: f"`{v}`" if v else "README as is" for v in variants}
    print(f"## A fresh install's start-up (`bench/bench_install.py`, {time.strftime('%Y-%m-%d %H:%M')})\n")
    print(f"Machine: {describe()}; load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} at the end\n")
    print("Venvs built by `python3 -m venv V && V/bin/pip install -e .` (plus the variant's pins):\n")
    print("| variant | pip install | " + " | ".join(RELEASES) + " |")
    print("|---|---|" + "---|" * len(RELEASES))
    for v in variants:
        took = "reused" if built[v] != built[v] else f"{built[v]:.0f} s"
        print(f"| {names[v]} | {took} | " + " | ".join(found[v][r] for r in RELEASES) + " |")
    print(f"\nImport time alone, fresh interpreter, seconds, median of {args.runs} [min, max]:\n")
    print("| module | " + " | ".join(names[v] for v in variants) + " |")
    print("|---|" + "---|" * len(variants))
    for module in DEPENDENCIES:
        print(f"| `{module}` | " + " | ".join(spread(imports[(v, module)]) for v in variants) + " |")
    print(f"\n`statelab run` on its defaults, end to end, seconds, median of {args.runs} [min, max]:\n")
    print("| compilation cache | " + " | ".join(names[v] for v in variants) + " |")
    print("|---|" + "---|" * len(variants))
    for label in ("cold", "warm"):
        print(f"| {label} | " + " | ".join(spread(walls[(v, label)]) for v in variants) + " |")
    for v in variants:
        rows = profiles[v]
        print(
            f"\n`python -X importtime -m statelab run` ({names[v]}, warm cache),"
            " top ten by cumulative time:\n"
        )
        print("| module | depth | self (ms) | cumulative (ms) |\n|---|---|---|---|")
        for own, cumulative, depth, name in sorted(rows, key=lambda r: -r[1])[:10]:
            print(f"| `{name}` | {depth} | {own / 1000:.1f} | {cumulative / 1000:.1f} |")
        where = {name: cumulative for _, cumulative, _, name in rows}
        costs = ", ".join(f"`{m}` {where[m] / 1000:.0f} ms" for m in DEPENDENCIES if m in where)
        print(f"\nIn that run (cumulative where first imported): {costs}.")
        print(f"\nWatched packages `statelab run` imports ({names[v]}):\n")
        seen = watched[v]
        if not seen:
            print(f"- none of {', '.join(WATCHED)}")
        for entry in seen:
            process = "report helper" if "worker" in " ".join(entry["argv"]) else "main process"
            chain = " → ".join(entry["chain"][-4:]) or "(not from statelab)"
            print(f"- `{entry['module']}` in the {process}: {chain}")


if __name__ == "__main__":
    sys.exit(main())
