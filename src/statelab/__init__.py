"""statelab: what a stateful recurrent network learns that a stateless one cannot, measured
against the analytic optimum.

    >>> import statelab
    >>> result = statelab.run_experiment(statelab.ExperimentConfig())
    >>> result.models["stateful"].test_nmse, result.claim_held
"""

__version__ = "0.1.0"

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

_LAZY = {
    "run_experiment": "statelab.experiment",
    "ExperimentResult": "statelab.experiment",
    **dict.fromkeys(
        ("CONVERGED_NMSE", "ConfigError", "ExperimentConfig", "ModelConfig", "TaskConfig", "TrainConfig"),
        "statelab.config",
    ),
}


def __getattr__(name: str):
    # Imported on first use: the engine imports JAX (about half a second), configs NumPy, and the
    # command line installs its Ctrl-C handler (statelab.interrupt) before either is loaded.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'statelab' has no attribute {name!r}")
