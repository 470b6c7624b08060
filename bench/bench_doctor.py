"""How long `statelab doctor` takes to find the fix of a failed run, end to end.

Saves two failing runs at the reference size (the reference at model seed 4, and delay 2, both at
bptt 1), then times `statelab doctor RUN` as a user runs it: a fresh process, the candidates
trained side by side (each with three model seeds), the table printed. Cold: an empty
compilation cache; warm: the same cache again, with a fresh store (`--store`), so every trial
trains again and only the compilation is saved. Prints a section for bench/RESULTS.md.

    python bench/bench_doctor.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import describe

FAILURES = {"reference, model seed 4": ["--model-seed", "4"], "delay 2": ["--task", "delay", "--delay", "2"]}


def statelab(*args: str, env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "statelab", *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return wall, done.stdout


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, flags in FAILURES.items():
            cache = root / f"cache-{len(rows)}"
            env = {**os.environ, "STATELAB_CACHE_DIR": str(cache)}
            env.pop("STATELAB_NO_CACHE", None)
            run = root / f"run-{len(rows)}"
            statelab("run", *flags, "--out", str(run), env={**env, "STATELAB_NO_CACHE": "1"})
            cold, out = statelab(
                "doctor", str(run), "--store", str(root / f"cold-{len(rows)}.sqlite"), env=env
            )
            warm, _ = statelab("doctor", str(run), "--store", str(root / f"warm-{len(rows)}.sqlite"), env=env)
            fix = next(line for line in out.splitlines() if line.startswith("The smallest change"))
            trainings = next(line for line in out.splitlines() if line.startswith("Doctor:"))
            rows.append((name, cold, warm, fix.split(": ", 1)[1], trainings.split(", ")[1].split(" to")[0]))
    load = os.getloadavg()
    print(f"### statelab doctor ({time.strftime('%Y-%m-%d')})\n")
    print(f"Machine: {describe()}; load average {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}.\n")
    print("| failing run | trainings | cold cache | warm cache | fix found |")
    print("| --- | --- | --- | --- | --- |")
    for name, cold, warm, fix, trainings in rows:
        print(f"| {name} | {trainings} | {cold:.1f} s | {warm:.1f} s | `{fix}` |")


if __name__ == "__main__":
    main()
