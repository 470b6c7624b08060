"""statelab's public API in a typed script: `mypy --strict` checks it (tests/test_typing.py), and
it runs in a few seconds (small configs), from any directory:

    python examples/typed_api.py

It writes `typed-api.sqlite` and `typed-api-run/` in the current directory.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import statelab

SMALL = {"input_len": 200, "epochs": 2}
STORE = Path("typed-api.sqlite")


def print_epoch(epoch: int, logs: dict[str, dict[str, float]]) -> None:
    print(f"epoch {epoch + 1}: stateful val NMSE {logs['stateful']['val_nmse']:.3f}")


def one_run() -> statelab.ExperimentResult:
    """A config object, a callback, a saved run; a mapping of parameters works as well (NumPy
    integers are taken for integers)."""
    config = statelab.ExperimentConfig(
        task=statelab.TaskConfig(tsteps=3, input_len=200), train=statelab.TrainConfig(epochs=2)
    )
    callback: statelab.EpochLogs = print_epoch
    result = statelab.run_experiment(config, on_epoch=callback)
    same = statelab.run_experiment({"tsteps": np.int64(3), **SMALL})
    assert same.metrics_dict() == result.metrics_dict()  # the same config: bit-identical metrics
    stateful: statelab.ModelMetrics = result.models["stateful"]  # every record has an exported type
    floors: statelab.Floors | None = result.floors
    nmse: float | None = stateful.test_nmse
    held: bool | None = result.claim_held
    print(f"stateless floor: normalised MSE {floors.windowed / floors.var_y:.3f}" if floors else "no floor")
    print(result)
    print(f"stateful NMSE {nmse}, claim held: {held}")
    target: np.ndarray = result.test_target  # (N,)
    prediction: np.ndarray = result.test_pred["stateful"]  # (N,)
    print(f"{len(target)} test rows, largest stateful error {np.max(np.abs(target - prediction)):.4f}")
    history: pd.DataFrame = result.history
    print(history.pivot(index="epoch", columns="model", values="val_nmse"))
    saved: Path = statelab.save_run(result, "typed-api-run")
    print(f"saved to {saved}")
    return result


def a_sweep() -> pd.DataFrame:
    """A grid of Python values, replicates, a store; results and history as DataFrames."""
    frame = statelab.sweep(
        {"lahead": np.arange(1, 3), "tsteps": 2, **SMALL}, seeds=np.int64(2), store=STORE, progress=False
    )
    print(frame[["lahead", "seed", "stateful_test_nmse", "stateless_test_nmse", "stateless_floor_nmse"]])
    wide: pd.DataFrame = statelab.load_results(STORE, where={"lahead": 2})
    history = statelab.load_history(STORE, where={"lahead": 1})
    print(f"{len(wide)} trials at lahead 2; {len(history)} history rows at lahead 1")
    return frame


def a_mistake() -> str:
    """Bad input is a ConfigError (a ValueError) naming the parameter."""
    try:
        statelab.run_experiment({"tsteps": 0})
    except statelab.ConfigError as exc:
        return str(exc)
    return "no error"


if __name__ == "__main__":
    one_run()
    a_sweep()
    print(a_mistake())
    print(f"converged means NMSE < {statelab.CONVERGED_NMSE}")
