"""Benchmark: wall time for the stateful model to reach normalised test MSE < 0.05, by batch size.

    python bench/bench_batching.py        # prints a Markdown section for bench/RESULTS.md

Task tsteps=2, lahead=1 (the reference). A batch of B rows with the `streams` layout advances B
contiguous streams by one window each, so at equal steps per epoch a larger batch needs B times
the rows: 1000 rows at batch 1, 16 000 at 16, 64 000 at 64 (800 training steps per epoch each).
The test NMSE is checked after every epoch (the epoch's test pass; all test rows), and the clock
stops at the first epoch below the target. Compile time is reported apart. The `seed` layout at
the same size is shown beside it: it does not get there.
"""

from __future__ import annotations

import time

import numpy as np

from machine import describe  # bench/machine.py (scripts run from bench/)
from statelab import experiment, tasks, train
from statelab.config import from_mapping

TARGET = 0.05
MAX_EPOCHS = 40
SIZES = [(1, 1000), (16, 16000), (64, 64000)]


def time_to_target(batch_size: int, input_len: int, layout: str) -> dict:
    config = from_mapping(
        {"batch_size": batch_size, "input_len": input_len, "epochs": MAX_EPOCHS, "layout": layout}
    )
    dataset = experiment.prepare(config)
    var_y = tasks.floors(config.task).var_y
    marks: list[float] = []
    nmse: list[float] = []

    def on_epoch(epoch: int, train_loss: np.ndarray, val_loss: np.ndarray) -> None:
        marks.append(time.perf_counter())
        nmse.append(float(val_loss[0, 0]) / var_y)  # model 0 is the stateful one

    start = time.perf_counter()
    train.fit(config, dataset, on_epoch)
    first_epoch = marks[0] - start
    steady = (marks[-1] - marks[0]) / (len(marks) - 1)
    hit = next((i for i, v in enumerate(nmse) if v < TARGET), None)
    return {
        "epochs": None if hit is None else hit + 1,
        "compile_s": first_epoch - steady,  # the first epoch is compile + one epoch
        "train_s": None if hit is None else (hit + 1) * steady,
        "best_nmse": min(nmse),
    }


def main() -> None:
    print(f"## Stateful batching: time to NMSE < {TARGET} ({time.strftime('%Y-%m-%d')})\n")
    print(f"Machine: {describe()}\n")
    print(
        "| batch | rows | layout | epochs to target | training time to target | compile | best NMSE "
        f"in {MAX_EPOCHS} epochs |"
    )
    print("|---|---|---|---|---|---|---|")
    for batch_size, input_len in SIZES:
        for layout in ("streams", "seed"):
            if batch_size == 1 and layout == "seed":
                continue  # identical to streams at batch 1
            r = time_to_target(batch_size, input_len, layout)
            epochs = "not reached" if r["epochs"] is None else str(r["epochs"])
            to_target = "-" if r["train_s"] is None else f"{r['train_s']:.2f} s"
            print(
                f"| {batch_size} | {input_len} | {layout} | {epochs} | {to_target} | "
                f"{r['compile_s']:.2f} s | {r['best_nmse']:.4f} |"
            )


if __name__ == "__main__":
    main()
