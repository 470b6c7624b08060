"""Saved models and streaming prediction.

A run saves each trained model in `models/` (parameters as `<name>.npz`, and `config.json`, the
config that built and trained them). `load_predictor(run_dir, model)` brings one back as a
`Predictor`, which reads a series value by value exactly as the model was trained to read it:

    at time t the model sees the window x[t-lahead+1 .. t] (in the run's window order) and,
    if stateful, starts from the state it ended the previous window in; stateless, from zero.

`step(x)` takes one value and `predict(series)` a whole array; both carry the same state, so
calling `step` value by value gives what one `predict` over the series gives. Until `lahead`
values have been seen there is no full window and the prediction is NaN. `reset()` forgets.
"""

from __future__ import annotations

import functools
import json
import zipfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from statelab import cells, train
from statelab.batching import windows
from statelab.config import ConfigError, ExperimentConfig, from_mapping


def params_to_arrays(params: cells.Params) -> dict[str, np.ndarray]:
    """Flatten a parameter tree to `{"cells.0.kernel": array, ..., "dense.bias": array}`."""
    flat = {f"cells.{i}.{k}": np.asarray(v) for i, c in enumerate(params["cells"]) for k, v in c.items()}
    flat.update({f"dense.{k}": np.asarray(v) for k, v in params["dense"].items()})
    return flat


def arrays_to_params(flat: dict[str, np.ndarray]) -> cells.Params:
    layers: dict[int, dict[str, np.ndarray]] = {}
    dense: dict[str, np.ndarray] = {}
    for key, value in flat.items():
        parts = key.split(".")
        if parts[0] == "cells":
            layers.setdefault(int(parts[1]), {})[parts[2]] = value
        else:
            dense[parts[1]] = value
    return {"cells": [layers[i] for i in sorted(layers)], "dense": dense}


def save_models(params: dict[str, cells.Params], config: ExperimentConfig, directory: Path) -> None:
    """models/<name>.npz for each model, and models/config.json."""
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    for name, p in params.items():
        np.savez(directory / f"{name}.npz", **params_to_arrays(p))


@functools.partial(jax.jit, static_argnames="cell")
def _run_stream(params, state, windows, stateful, *, cell):
    """windows: (N, T, F) of one stream in time order -> (final state, predictions (N,))."""
    state, preds = train.run_batches(params, windows[:, None], stateful, state, cell)  # (N, 1)
    return state, preds[:, 0]


class Predictor:
    """A trained model reading a series as a stream. Not thread-safe: it holds a state."""

    def __init__(self, params: cells.Params, config: ExperimentConfig, stateful: bool):
        self.params = jax.tree.map(jnp.asarray, params)
        self.config = config
        self.stateful = stateful
        self.lahead = config.task.lahead
        self.reset()

    def reset(self) -> None:
        """Back to the initial behaviour: zero state, no values seen."""
        self.state = cells.zero_state(self.config.model, 1)
        self.recent = np.zeros((0, self.n_features))  # the last lahead - 1 rows seen, oldest first

    @property
    def n_features(self) -> int:
        """Inputs per step: the width of the first layer's kernel."""
        return int(np.shape(self.params["cells"][0]["kernel"])[0])

    def _windows(self, values: np.ndarray) -> np.ndarray:
        """The full windows ending at each new row: (len(values) - missing, lahead, F)."""
        history = np.concatenate([self.recent, values])
        keep = len(history) - (self.lahead - 1) if self.lahead > 1 else len(history)
        self.recent = history[keep:]
        if len(history) < self.lahead:
            return np.zeros((0, self.lahead, self.n_features))
        return windows(history, self.lahead, self.config.train.window_order)

    def predict(self, series) -> np.ndarray:
        """Predictions for every row of `series`, continuing from the current state.

        series: (N,) for a one-feature model, or (N, F). Returns (N,), NaN until a window is full."""
        values = np.asarray(series, dtype=np.float64)
        if values.ndim == 1 and self.n_features == 1:
            values = values[:, None]
        if values.ndim != 2 or values.shape[1] != self.n_features:
            raise ConfigError(
                f"series must have shape (N,) or (N, {self.n_features}) for this model, got {values.shape}"
            )
        if not np.all(np.isfinite(values)):
            raise ConfigError("series must hold finite numbers, got a NaN or infinite value")
        win = self._windows(values)
        out = np.full(len(values), np.nan)
        if len(win):
            x = jnp.asarray(win, jnp.float32)
            self.state, preds = _run_stream(
                self.params, self.state, x, self.stateful, cell=self.config.model.cell
            )
            out[len(values) - len(win) :] = np.asarray(preds)
        return out

    def step(self, x: float) -> float:
        """The prediction after one more value."""
        return float(self.predict([x])[0])


def load_predictor(run_dir: str | Path, model: str = "stateful") -> Predictor:
    """The saved `model` ("stateful" or "stateless") of a run directory."""
    directory = Path(run_dir) / "models"
    path = directory / f"{model}.npz"
    if model not in train.MODELS:
        raise ConfigError(f"model must be one of {', '.join(train.MODELS)}, got {model!r}")
    if not path.is_file() or not (directory / "config.json").is_file():
        raise ConfigError(
            f"run_dir must hold a saved model ({path.relative_to(run_dir)}), got {str(run_dir)!r}"
        )
    try:
        config = from_mapping(json.loads((directory / "config.json").read_text()))
        with np.load(path, allow_pickle=False) as data:
            flat = {k: data[k] for k in data.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise ConfigError(
            f"run_dir must hold a readable saved model, got {str(run_dir)!r} ({reason})"
        ) from None
    params = _checked_params(flat, config, f"{str(run_dir)!r} ({path.name}")
    return Predictor(params, config, stateful=model == "stateful")


def _checked_params(flat: dict[str, np.ndarray], config: ExperimentConfig, where: str) -> cells.Params:
    """The saved arrays as a parameter tree, if they are exactly the arrays the config's model has
    (names, shapes, real numbers); otherwise a ConfigError naming the first difference."""
    features = config.task.features or (None,)
    expected = params_to_arrays(cells.init_params(np.random.default_rng(0), config.model, len(features)))
    missing = sorted(set(expected) - set(flat))
    extra = sorted(set(flat) - set(expected))
    if missing or extra:
        what = f"missing {', '.join(missing[:3])}" if missing else f"unexpected {', '.join(extra[:3])}"
        raise ConfigError(f"run_dir must hold the parameters of its config's model, got {where}: {what})")
    for key, want in expected.items():
        got = flat[key]
        if got.shape != want.shape or got.dtype.kind != "f":
            raise ConfigError(
                f"run_dir must hold the parameters of its config's model, got {where}: {key} is "
                f"{got.dtype} {got.shape}, not float {want.shape})"
            )
    return arrays_to_params(flat)
