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

from statelab import display as _display
from statelab.api import doctor, load_history, load_results, run_experiment, save_run, sweep
from statelab.config import ConfigError, ExperimentConfig, ModelConfig, TaskConfig, TrainConfig
from statelab.metrics import BaselineMetrics, Memory, ModelMetrics
from statelab.result import EpochLogs, ExperimentResult
from statelab.theory import CONVERGED_NMSE
from statelab.version import __version__

_display.register_notebook()  # in a Jupyter kernel: results show their verdict, table and figure

__all__ = [
    "CONVERGED_NMSE",
    "BaselineMetrics",
    "ConfigError",
    "EpochLogs",
    "ExperimentConfig",
    "ExperimentResult",
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
