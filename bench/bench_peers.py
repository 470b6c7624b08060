"""Benchmark: what the classical peers cost (statelab.peers), on every packaged real series.

    python bench/bench_peers.py         # prints a Markdown section for bench/RESULTS.md

For each packaged real task at its defaults (sunspots, macrodata, grunfeld, co2), the data are
prepared as a run prepares them, and each peer is fitted on every series' training part and
forecasts the test rows, timed alone (best of 2, no cache): seasonal naive, Holt-Winters
exponential smoothing, and ARIMA with its order chosen by AIC (6 fits per series and the
filtering of the whole series). A run pays this once per data and cut: trials of a sweep that
share them (other seeds, models, transforms) reuse the forecasts.
"""

from __future__ import annotations

import os
import time

from machine import describe  # bench/machine.py (scripts run from bench/)

TASKS = ("sunspots", "macrodata", "grunfeld", "co2")


def main() -> None:
    from statelab import evaluate, experiment, peers
    from statelab.config import from_mapping

    rows = [
        ("task", "series", "training values", "test rows", *peers.PEERS),
        ("---",) * (4 + len(peers.PEERS)),
    ]
    details = []
    for task in TASKS:
        config = from_mapping({"task": task})
        dataset = experiment.prepare(config)
        test = dataset.test
        test_rows = test.row[test.scored]
        test_rows.sort()
        series = experiment.peer_series(dataset, test_rows)
        target = dataset.data_target(test_rows)
        cells = []
        for name in peers.PEERS:
            best = float("inf")
            for _ in range(2):
                start = time.perf_counter()
                done = peers.forecast(name, series, dataset.levels.horizon, config.task.season or 1)
                best = min(best, time.perf_counter() - start)
            rmse = evaluate.data_errors(
                done.pred, target, dataset.series[test_rows], [1.0] * len(series)
            ).rmse
            cells.append(f"{best:.2f} s")
            details.append(f"- {task}, {name}: {done.detail}; test RMSE {rmse:.4g}")
        fitted = sum(s.fit_end for s in series)
        rows.append((task, str(len(series)), f"{fitted:,}", f"{len(test_rows):,}", *cells))
    print(f"## The classical peers' cost ({time.strftime('%Y-%m-%d')})\n")
    print(f"Machine: {describe()}; load average {os.getloadavg()[0]:.2f} at the end\n")
    print("`bench/bench_peers.py`: seconds to fit each peer on every series' training part and forecast the")
    print("test rows, best of 2.\n")
    print("\n".join("| " + " | ".join(row) + " |" for row in rows) + "\n")
    print("\n".join(details) + "\n")


if __name__ == "__main__":
    main()
