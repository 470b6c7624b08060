"""statelab: what a stateful recurrent network learns that a stateless one cannot, measured
against the analytic optimum.

    >>> import statelab
    >>> result = statelab.run_experiment({"tsteps": 3})           # one run, both models
    >>> result.models["stateful"].test_nmse, result.claim_held
    >>> result.history                                            # per-epoch losses (DataFrame)
    >>> frame = statelab.sweep({"tsteps": range(1, 6), "cell": ["lstm", "gru"]}, seeds=5)
    >>> statelab.load_results("sweep.sqlite", where={"cell": "gru"})

Importing statelab is cheap: each name loads its module when it is first used (JAX with the first
training, pandas with the first DataFrame), so `statelab`'s command line installs its Ctrl-C
handler before anything heavy is imported.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

from statelab.version import __version__

if TYPE_CHECKING:  # what type checkers and editors see; at run time `__getattr__` loads each name
    from statelab.api import doctor, load_history, load_results, run_experiment, save_run, sweep
    from statelab.batching import Dataset
    from statelab.config import ConfigError, ExperimentConfig, ModelConfig, TaskConfig, TrainConfig
    from statelab.executors import Executor
    from statelab.metrics import (
        BaselineMetrics,
        Capacity,
        Diagnosis,
        GradientReach,
        Memory,
        ModelMetrics,
        PeerMetrics,
    )
    from statelab.result import EpochLogs, ExperimentResult
    from statelab.store import Store, TrialRecord
    from statelab.sweeps import SweepProgress
    from statelab.tasks import Floors
    from statelab.theory import CONVERGED_NMSE, RealisedFloor

# Each public name and the module that defines it.
_EXPORTS = {
    "doctor": "statelab.api",
    "load_history": "statelab.api",
    "load_results": "statelab.api",
    "run_experiment": "statelab.api",
    "save_run": "statelab.api",
    "sweep": "statelab.api",
    "ConfigError": "statelab.config",
    "ExperimentConfig": "statelab.config",
    "ModelConfig": "statelab.config",
    "TaskConfig": "statelab.config",
    "TrainConfig": "statelab.config",
    "BaselineMetrics": "statelab.metrics",
    "Diagnosis": "statelab.metrics",
    "Capacity": "statelab.metrics",
    "GradientReach": "statelab.metrics",
    "Memory": "statelab.metrics",
    "ModelMetrics": "statelab.metrics",
    "PeerMetrics": "statelab.metrics",
    "EpochLogs": "statelab.result",
    "ExperimentResult": "statelab.result",
    "Floors": "statelab.tasks",
    "CONVERGED_NMSE": "statelab.theory",
    "RealisedFloor": "statelab.theory",
    # the types of arguments: a store, where a sweep runs, its progress callback, prepared data
    "Store": "statelab.store",
    "TrialRecord": "statelab.store",
    "Executor": "statelab.executors",
    "SweepProgress": "statelab.sweeps",
    "Dataset": "statelab.batching",
}

__all__ = [
    "CONVERGED_NMSE",
    "BaselineMetrics",
    "Capacity",
    "ConfigError",
    "Dataset",
    "Diagnosis",
    "EpochLogs",
    "Executor",
    "ExperimentConfig",
    "ExperimentResult",
    "Floors",
    "GradientReach",
    "Memory",
    "ModelConfig",
    "ModelMetrics",
    "PeerMetrics",
    "RealisedFloor",
    "Store",
    "SweepProgress",
    "TaskConfig",
    "TrainConfig",
    "TrialRecord",
    "__version__",
    "doctor",
    "load_history",
    "load_results",
    "run_experiment",
    "save_run",
    "sweep",
]


def __getattr__(name: str) -> Any:
    """A public name, imported from its module the first time it is asked for (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'statelab' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if "ipykernel" in sys.modules:  # in a Jupyter kernel: results show their verdict, table and figure
    from statelab import display as _display

    _display.register_notebook()
