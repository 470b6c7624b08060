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
    from statelab.config import ConfigError, ExperimentConfig, ModelConfig, TaskConfig, TrainConfig
    from statelab.metrics import BaselineMetrics, Memory, ModelMetrics
    from statelab.result import EpochLogs, ExperimentResult
    from statelab.tasks import Floors
    from statelab.theory import CONVERGED_NMSE

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
    "Memory": "statelab.metrics",
    "ModelMetrics": "statelab.metrics",
    "EpochLogs": "statelab.result",
    "ExperimentResult": "statelab.result",
    "Floors": "statelab.tasks",
    "CONVERGED_NMSE": "statelab.theory",
}

__all__ = [
    "CONVERGED_NMSE",
    "BaselineMetrics",
    "ConfigError",
    "EpochLogs",
    "ExperimentConfig",
    "ExperimentResult",
    "Floors",
    "Memory",
    "ModelConfig",
    "ModelMetrics",
    "TaskConfig",
    "TrainConfig",
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
