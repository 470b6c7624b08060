"""statelab: what a stateful recurrent network learns that a stateless one cannot, measured
against the analytic optimum.

    >>> import statelab
    >>> result = statelab.run_experiment({"tsteps": 3})           # one run, both models
    >>> result.models["stateful"].test_nmse, result.claim_held
    >>> result.history                                            # per-epoch losses (DataFrame)
    >>> frame = statelab.sweep({"tsteps": range(1, 6), "cell": ["lstm", "gru"]}, seeds=5)
    >>> statelab.load_results("sweep.sqlite", where={"cell": "gru"})

Importing statelab is cheap: JAX loads with the first training, pandas with the first DataFrame.
"""

__version__ = "0.2.0"

from statelab.api import load_history, load_results, run_experiment, sweep
from statelab.config import (
    CONVERGED_NMSE,
    ConfigError,
    ExperimentConfig,
    ModelConfig,
    TaskConfig,
    TrainConfig,
)
from statelab.result import EpochLogs, ExperimentResult

__all__ = [
    "CONVERGED_NMSE",
    "ConfigError",
    "EpochLogs",
    "ExperimentConfig",
    "ExperimentResult",
    "ModelConfig",
    "TaskConfig",
    "TrainConfig",
    "__version__",
    "load_history",
    "load_results",
    "run_experiment",
    "sweep",
]
