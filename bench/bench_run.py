"""Benchmark of `statelab run`: per-step cost, compile time, and end-to-end wall time.

    python bench/bench_run.py            # prints a Markdown section for bench/RESULTS.md
    python bench/bench_run.py --state    # only the state profiles' cost

Measured:
- steady-state microseconds per batch-1 training step (compile excluded; fastest and slowest of
  three compiles), for one model alone
  and for the stateful + stateless pair that `statelab run` trains in one program;
- the same pair at truncation lengths bptt = 1, 2, 4, 8 (each step runs bptt batches forward and
  back);
- compile time of the epoch program (JAX's persistent cache off);
- the memory profiles of both models: compile and run (`memory.profile`, cache off), and their
  whole cost to a run: `run_experiment` in a fresh process without and with them;
- the state profiles of both models (state capacity and gradient reach, `dynamics.profile`):
  compile and run (cache off), and their share of a reference run with the compilation cache
  warm: the seconds spent in them inside `run_experiment`, in fresh processes, against the run's
  seconds and against `statelab run`'s wall time (`--state` measures only these);
- end-to-end wall time of `statelab run` on its defaults as a subprocess, with a cold and a warm
  persistent compilation cache (median of several runs).
"""

from __future__ import annotations

import functools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import jax
import numpy as np

from machine import describe  # bench/machine.py (scripts run from bench/)
from statelab import dynamics, experiment, memory, train
from statelab.config import ExperimentConfig


def epoch_args(config: ExperimentConfig, models: int):
    dataset = experiment.prepare(config)
    ts = train.create_train_state(config.model, models)
    stateful = np.array([True, False][:models])
    data = jax.device_put(train.epoch_data(config, dataset))
    return dataset, (ts, stateful, data)


def step_cost(
    config: ExperimentConfig, models: int, compiles: int = 3, repeats: int = 20
) -> tuple[float, float, float]:
    """(compile seconds, fastest and slowest microseconds per training step) of one epoch program.

    The program is compiled `compiles` times and each compiled copy is timed on its own: on this
    machine XLA's CPU backend sometimes produces a copy that runs about twice as slow as another
    of the same program, steadily, so one compile is not enough to say what a step costs.
    """
    dataset, args = epoch_args(config, models)
    epoch = functools.partial(train.train_epoch, cell=config.model.cell, bptt=config.train.bptt)
    # An epoch is K training steps and a forward pass over the test rows; count training steps.
    steps = dataset.train.x.shape[0]
    compile_times, per_step = [], []
    for _ in range(compiles):
        fn = jax.jit(jax.vmap(epoch, in_axes=(0, 0, None)))
        t0 = time.perf_counter()
        compiled = fn.lower(*args).compile()
        compile_times.append(time.perf_counter() - t0)
        jax.block_until_ready(compiled(*args))
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(compiled(*args))
            times.append(time.perf_counter() - t0)
        per_step.append(min(times) / steps * 1e6)
    return statistics.median(compile_times), min(per_step), max(per_step)


def profile_cost(config: ExperimentConfig) -> tuple[float, float]:
    """(first call, steady call) seconds of both models' memory profiles after a real fit."""
    dataset = experiment.prepare(config)
    fitted = train.fit(config, dataset)
    k = memory.lags(config)
    truth, _ = memory.true_profile(config, dataset, k)

    def both() -> None:
        for i, name in enumerate(train.MODELS):
            memory.profile(fitted.params[i], config, dataset, fitted.test_start[i], name == "stateful", truth)

    return first_and_steady(both)


def first_and_steady(call: Callable[[], None], repeats: int = 5) -> tuple[float, float]:
    """(first call, fastest of `repeats` later calls) seconds of `call`."""
    t0 = time.perf_counter()
    call()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return first, min(times)


def state_cost(config: ExperimentConfig) -> tuple[float, float]:
    """(first call, steady call) seconds of both models' state profiles after a real fit."""
    dataset = experiment.prepare(config)
    fitted = train.fit(config, dataset)
    k = memory.lags(config)
    initial = dynamics.initial_params(config, dataset)

    def both() -> None:
        for i, name in enumerate(train.MODELS):
            dynamics.profile(
                fitted.params[i], initial, config, dataset, fitted.test_start[i], name == "stateful", k
            )

    return first_and_steady(both)


STATE_SHARE = """
import json, sys, time
from statelab import dynamics, experiment, memory, train
from statelab.config import ExperimentConfig
train.enable_compilation_cache(sys.argv[1])
spent = {"state_s": 0.0, "state_cpu": 0.0, "memory_s": 0.0, "memory_cpu": 0.0}
def timed(module, name, key):
    function = getattr(module, name)
    def call(*args, **kwargs):
        t0, c0 = time.perf_counter(), time.process_time()
        out = function(*args, **kwargs)
        spent[key + "_s"] += time.perf_counter() - t0
        spent[key + "_cpu"] += time.process_time() - c0
        return out
    setattr(module, name, call)
timed(dynamics, "profile", "state")
timed(memory, "profile", "memory")
t0, c0 = time.perf_counter(), time.process_time()
experiment.run_experiment(ExperimentConfig(), cache=False)
print(json.dumps({"run_s": time.perf_counter() - t0, "run_cpu": time.process_time() - c0, **spent}))
"""


def cpu_wall(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU seconds) of `python -m statelab ARGS --out TMP`, its helper process included."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds = wall(args, env, runs=1)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return seconds, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def state_share(runs: int = 7) -> tuple[list[dict[str, float]], list[tuple[float, float]]]:
    """With a warm compilation cache, in fresh processes: the reference `run_experiment`'s seconds
    (wall and CPU) and those spent in both models' state profiles and memory profiles; and
    `statelab run` end to end (wall and CPU). The two interleaved, `runs` of each."""
    inside, outside = [], []
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "STATELAB_CACHE_DIR": cache}
        subprocess.run([sys.executable, "-c", STATE_SHARE, cache], check=True, capture_output=True)
        wall(["run"], env, runs=1)  # both caches warm
        for _ in range(runs):
            done = subprocess.run([sys.executable, "-c", STATE_SHARE, cache], capture_output=True, check=True)
            inside.append(json.loads(done.stdout))
            outside.append(cpu_wall(["run"], env))
    return inside, outside


def load() -> str:
    """The load averages over 1, 5 and 15 minutes: the machine is shared."""
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())


def state_section() -> None:
    config = ExperimentConfig()
    jax.config.update("jax_enable_compilation_cache", False)
    before = load()
    first, steady = state_cost(config)
    cold = profile_share(variants=("without-state", "with"))
    inside, outside = state_share()

    def median(key: str) -> float:
        return statistics.median(run[key] for run in inside)

    share = [run["state_s"] / run["run_s"] for run in inside]
    share_cpu = [run["state_cpu"] / run["run_cpu"] for run in inside]
    walls, cpus = [w for w, _ in outside], [c for _, c in outside]
    print(f"## State profiles: capacity and gradient reach ({time.strftime('%Y-%m-%d %H:%M')})\n")
    print(f"Machine: {describe()}; load average {before} before, {load()} after\n")
    print("| measure | value |\n|---|---|")
    print(f"| state profiles of both models, first call (compile included, cache off) | {first:.3f} s |")
    print(f"| state profiles of both models, compiled | {steady * 1000:.1f} ms |")
    print(
        f"| cache off: `run_experiment` in a fresh process without / with the state profiles (median of 5) "
        f"| {cold['without-state']:.2f} s / {cold['with']:.2f} s |"
    )
    print(
        f"| warm cache: `run_experiment`, wall / CPU (median of {len(inside)}) "
        f"| {median('run_s'):.3f} s / {median('run_cpu'):.3f} s |"
    )
    print(
        f"| warm cache: in it, the state profiles, wall / CPU "
        f"| {median('state_s'):.3f} s / {median('state_cpu'):.3f} s |"
    )
    print(
        f"| warm cache: in it, the memory profiles (s(k)), wall / CPU "
        f"| {median('memory_s'):.3f} s / {median('memory_cpu'):.3f} s |"
    )
    print(
        f"| warm cache: the state profiles' share of `run_experiment`, wall / CPU (median, range) "
        f"| {statistics.median(share):.1%} ({min(share):.1%}-{max(share):.1%}) / "
        f"{statistics.median(share_cpu):.1%} ({min(share_cpu):.1%}-{max(share_cpu):.1%}) |"
    )
    print(
        f"| warm cache: `statelab run` end to end, wall / CPU (median, range) "
        f"| {statistics.median(walls):.2f} s ({min(walls):.2f}-{max(walls):.2f}) / "
        f"{statistics.median(cpus):.2f} s ({min(cpus):.2f}-{max(cpus):.2f}) |"
    )
    of_wall = median("state_s") / statistics.median(walls)
    of_cpu = median("state_cpu") / statistics.median(cpus)
    print(
        f"| warm cache: the state profiles' share of `statelab run`, wall / CPU (medians) "
        f"| {of_wall:.1%} / {of_cpu:.1%} |"
    )


SHARE = """
import sys, time
import jax
jax.config.update("jax_enable_compilation_cache", False)
import numpy as np
from statelab import dynamics, experiment, memory
from statelab.metrics import Memory
from statelab.config import ExperimentConfig
if sys.argv[1] == "without":
    memory.profile = lambda *a, **k: Memory([0.0], None, None)
if sys.argv[1] in ("without", "without-state"):
    dynamics.profile = lambda *a, **k: (None, None)
t0 = time.perf_counter()
experiment.run_experiment(ExperimentConfig(), cache=False)
print(time.perf_counter() - t0)
"""


def profile_share(runs: int = 5, variants: tuple[str, ...] = ("without", "with")) -> dict[str, float]:
    """Median seconds of a reference `run_experiment` in a fresh process, cache off (everything
    compiled), per variant: without the memory and state profiles ("without"), without the state
    profiles ("without-state"), with both ("with"). The variants interleaved."""
    times: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(runs):
        for variant in variants:
            done = subprocess.run([sys.executable, "-c", SHARE, variant], capture_output=True, check=True)
            times[variant].append(float(done.stdout))
    return {variant: statistics.median(t) for variant, t in times.items()}


def wall(args: list[str], env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "statelab", *args, "--out", f"{tmp}/run"],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    config = ExperimentConfig()
    jax.config.update("jax_enable_compilation_cache", False)
    compile_one, us_one, slow_one = step_cost(config, models=1)
    compile_two, us_two, slow_two = step_cost(config, models=2)
    bptt = {k: step_cost(config.replace(bptt=k), models=2) for k in (1, 2, 4, 8)}
    profile_first, profile_steady = profile_cost(config)
    shares = profile_share()
    without, with_profiles = shares["without"], shares["with"]

    cold, warm = [], []
    for _ in range(3):
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "STATELAB_CACHE_DIR": cache}
            cold.append(wall(["run"], env, runs=1))
            warm.append(wall(["run"], env, runs=1))
    print(f"## `statelab run` ({time.strftime('%Y-%m-%d')})\n")
    print(f"Machine: {describe()}\n")
    print("| measure | value |\n|---|---|")
    print(f"| training step, one model, batch 1 (steady state) | {us_one:.2f} µs [{slow_one:.2f}] |")
    print(f"| training step, stateful + stateless in one program | {us_two:.2f} µs [{slow_two:.2f}] |")
    print(f"| compile, epoch program of one model | {compile_one:.2f} s |")
    print(f"| compile, epoch program of both models | {compile_two:.2f} s |")
    for k, (compile_k, us_k, slow_k) in bptt.items():
        print(
            f"| bptt {k}: training step of the pair / compile "
            f"| {us_k:.2f} µs [{slow_k:.2f}] / {compile_k:.2f} s |"
        )
    print(f"| memory profiles of both models, first call (compile included) | {profile_first:.3f} s |")
    print(f"| memory profiles of both models, compiled | {profile_steady * 1000:.1f} ms |")
    print(
        f"| `run_experiment` in a fresh process, cache off, without / with the memory and state profiles "
        f"(median of 5) "
        f"| {without:.2f} s / {with_profiles:.2f} s |"
    )
    for label, times in (("cold", cold), ("warm", warm)):
        median = statistics.median(times)
        print(f"| `statelab run` end to end, {label} compilation cache (median of 3) | {median:.2f} s |")


if __name__ == "__main__":
    if "--state" in sys.argv[1:]:
        state_section()
    else:
        main()
        print()
        state_section()
