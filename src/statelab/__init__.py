"""statelab: what a stateful recurrent network learns that a stateless one cannot, measured
against the analytic optimum.

    >>> import statelab
    >>> result = statelab.run_experiment(statelab.ExperimentConfig())
    >>> result.models["stateful"].test_nmse, result.claim_held
"""

__version__ = "0.1.0"

from statelab.config import (
    CONVERGED_NMSE,
    ConfigError,
    ExperimentConfig,
    ModelConfig,
    TaskConfig,
    TrainConfig,
)

__all__ = [
    "CONVERGED_NMSE",
    "ConfigError",
    "ExperimentConfig",
    "ExperimentResult",
    "ModelConfig",
    "TaskConfig",
    "TrainConfig",
    "__version__",
    "run_experiment",
]

_LAZY = {"run_experiment": "statelab.experiment", "ExperimentResult": "statelab.experiment"}


def __getattr__(name: str):
    # The engine imports JAX (about half a second); configs and errors do not need it.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'statelab' has no attribute {name!r}")
