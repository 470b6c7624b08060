"""A trained model as a streaming predictor: it reads a series value by value exactly as the model
was trained to, carrying its state, and can save and restore that state.

    at time t the model sees the window x[t-lahead+1 .. t] (in the run's window order) and,
    if stateful, starts from the state it ended the previous window in; stateless, from zero.

It takes raw values (one per feature and step) and predicts in the target's own units: for a
real series it standardises the inputs and undoes the target's standardisation as the run did.
`step(x)` takes one step and `predict(series)` a whole array; both carry the same state, so
calling `step` step by step gives what one `predict` over the series gives. Until `lahead` steps
have been seen there is no full window and the prediction is NaN. `reset()` forgets.

`state_dict()` is everything the predictor carries between steps, as plain JSON-ready numbers and
lists, with the identity of the model it belongs to; `load_state(state)` puts it back (and
refuses a state of another model), so a service can stop and resume without replaying history.

A run directory's saved models are read by `statelab.rundir` (`statelab.predict.load_predictor`);
`Predictor.from_result(result, model)` makes one from a result in memory.
"""

from __future__ import annotations

import functools
import hashlib
import math
import numbers
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from statelab import cells, train
from statelab.batching import window_view
from statelab.config import ConfigError, ExperimentConfig
from statelab.names import MODELS
from statelab.result import ExperimentResult

STATE_FORMAT = "statelab.predictor-state"
STATE_VERSION = 1
MIN_BUCKET = 16  # streams are padded to a power of two of at least this many steps (fewer compiles)
FLOAT32_MAX = float(np.finfo(np.float32).max)
MAX_SEEN = 2**53  # steps a state counts at most (it saturates there): exact as a float


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


def data_info(data: Mapping[str, Any]) -> dict[str, Any]:
    """What a saved model needs of a run's data summary (metrics.json "data", models/data.json):
    features, target, and the standardisation {column: {"mean", "scale"}} (None for a generated
    series). Checked as a config is: ConfigError naming what is wrong ("data must ...")."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"data must be a mapping of features, target and scaling, got {_brief(data)}")
    features, target, scaling = data.get("features"), data.get("target", "y"), data.get("scaling")
    if (
        not isinstance(features, (list, tuple))
        or not features
        or not all(isinstance(f, str) for f in features)
        or len(set(features)) != len(features)
    ):
        raise ConfigError(f"data must name its features (a list of distinct names), got {_brief(features)}")
    if not isinstance(target, str):
        raise ConfigError(f"data must name its target (a column name), got {_brief(target)}")
    if scaling is not None:
        if not isinstance(scaling, Mapping):
            raise ConfigError(
                f"data must give its scaling as {{column: {{mean, scale}}}}, got {_brief(scaling)}"
            )
        for column, stats in scaling.items():
            mean: Any = stats.get("mean") if isinstance(stats, Mapping) else None
            scale: Any = stats.get("scale") if isinstance(stats, Mapping) else None
            if not (_real(mean) and _real(scale) and float(scale) > 0):
                raise ConfigError(
                    f"data must give column {_brief(column)} a finite mean and a positive finite scale, "
                    f"got {_brief(stats)}"
                )
    return {"features": list(features), "target": target, "scaling": scaling}


def _real(value: Any) -> bool:
    """A finite real number (not a bool)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def default_data_info(config: ExperimentConfig) -> dict[str, Any]:
    """The data description of a run saved before models/data.json existed: the features its config
    names, no standardisation."""
    task = config.task
    if task.synthetic:
        return {"features": ["x"], "target": "y", "scaling": None}
    features = list(task.features or ((task.target,) if task.target else ("x",)))
    return {"features": features, "target": task.target or features[0], "scaling": None}


@functools.partial(jax.jit, static_argnames="cell")
def _run_stream(params, state, windows, valid, stateful, *, cell):
    """windows: (N, T, F) of one stream in time order, valid: (N,) bool (False: padding, which
    leaves the state as it is) -> (final state, predictions (N,))."""

    def body(state, step):
        x, ok = step
        new, pred = cells.apply(params, train.carry_state(state, stateful), x[None], cell)
        return jax.tree.map(lambda n, o: jnp.where(ok, n, o), new, state), pred[0]

    return jax.lax.scan(body, state, (windows, valid))


def _check_finite(params: cells.Params) -> None:
    """ConfigError for a model whose weights hold NaN or infinite values (its training diverged):
    it would predict NaN for every window, which reads as "no full window yet"."""
    for key, value in params_to_arrays(params).items():
        if not np.all(np.isfinite(value)):
            raise ConfigError(
                "model must have finite weights (its training diverged: train again with a smaller "
                f"learning_rate), got NaN or infinite values in {key}"
            )


def _bucket(n: int) -> int:
    """The padded length of a stream of n windows: a power of two, so that streams of every length
    share a few compiled programs."""
    return 1 if n == 1 else max(MIN_BUCKET, 1 << (n - 1).bit_length())


def _fingerprint(params: cells.Params) -> str:
    """SHA-256 of the parameters, in a fixed order: the identity of a trained model."""
    digest = hashlib.sha256()
    for key, value in sorted(params_to_arrays(params).items()):
        array = np.ascontiguousarray(value, np.float32)
        digest.update(key.encode() + str(array.shape).encode() + array.tobytes())
    return digest.hexdigest()


class Predictor:
    """A trained model reading a series as a stream. Not thread-safe: it holds a state.

    params, config: the model and the config it was trained with; stateful: carry the state
    from window to window (the stateful model) or start every window from zero (stateless);
    data: `data_info` of the run (feature names, target, standardisation), by default that of
    a generated series (one feature, values used as they are).
    """

    def __init__(
        self,
        params: cells.Params,
        config: ExperimentConfig,
        stateful: bool,
        data: Mapping[str, Any] | None = None,
    ):
        _check_finite(params)
        transform = config.task.transform
        if transform not in (None, "none"):
            raise ConfigError(
                "transform must be none for a saved model to predict from raw values (it reads and "
                f"predicts levels; this run trained on the series' {transform}), got {transform!r}"
            )
        self.params = jax.tree.map(jnp.asarray, params)
        self.config = config
        self.stateful = bool(stateful)
        self.lahead = config.task.lahead
        info = data_info(data) if data is not None else default_data_info(config)
        self.features: tuple[str, ...] = tuple(info["features"])
        self.target: str = info["target"]
        scaling = info["scaling"] or {}
        unit = {"mean": 0.0, "scale": 1.0}
        self.mean = np.array([scaling.get(f, unit)["mean"] for f in self.features])  # (F,)
        self.scale = np.array([scaling.get(f, unit)["scale"] for f in self.features])
        self.target_mean = float(scaling.get(self.target, unit)["mean"])
        self.target_scale = float(scaling.get(self.target, unit)["scale"])
        if len(self.features) != self.n_features:
            raise ConfigError(
                f"data must name the model's {self.n_features} feature(s), got {list(self.features)}"
            )
        self.model_id = _fingerprint(params)
        self.reset()

    @classmethod
    def from_result(cls, result: ExperimentResult, model: str = "stateful") -> Predictor:
        """The trained `model` ("stateful" or "stateless") of a result in memory, as a Predictor:
        no run directory needed."""
        if model not in MODELS:
            raise ConfigError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
        return cls(result.params[model], result.config, model == "stateful", data_info(result.data))

    @property
    def n_features(self) -> int:
        """Inputs per step: the width of the first layer's kernel."""
        return int(np.shape(self.params["cells"][0]["kernel"])[0])

    def reset(self) -> None:
        """Back to the initial behaviour: zero state, no values seen."""
        self.state = cells.zero_state(self.config.model, 1)
        self.recent = np.zeros((0, self.n_features))  # the last lahead - 1 rows seen, standardised
        self.seen = 0  # steps read since the last reset

    # -----------------------------------------------------------------------------------------
    # Reading a stream

    def _values(self, series: Any, name: str = "series") -> np.ndarray:
        """`series` as (N, F) float64, standardised as the run's inputs were, or a ConfigError
        naming the argument and the shape expected."""
        try:
            values = np.asarray(series, dtype=np.float64)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be numbers, got {type(series).__name__}") from None
        f = self.n_features
        expected = (
            "(N,) or (N, 1)" if f == 1 else f"(N, {f}), one column per feature ({', '.join(self.features)})"
        )
        if values.ndim == 1 and f == 1:
            values = values[:, None]
        if values.ndim != 2 or values.shape[1] != f:
            raise ConfigError(f"{name} must have shape {expected}, got {values.shape}")
        if not np.all(np.isfinite(values)):
            raise ConfigError(f"{name} must hold finite numbers, got a NaN or infinite value")
        values = (values - self.mean) / self.scale
        if np.any(np.abs(values) > FLOAT32_MAX):  # the network computes in float32
            raise ConfigError(
                f"{name} must hold values the model's float32 arithmetic can take once standardised "
                f"(|value| <= {FLOAT32_MAX:.3g}), got {np.max(np.abs(values)):.3g}"
            )
        return values

    def predict(self, series: Any) -> np.ndarray:
        """Predictions for every step of `series`, continuing from the current state.

        series: (N,) for a one-feature model, or (N, F), raw values. Returns (N,) float64 in the
        target's units, NaN until a window is full."""
        return self._predict(self._values(series))

    def _predict(self, values: np.ndarray) -> np.ndarray:
        """predict() of (N, F) standardised values."""
        history = np.concatenate([self.recent, values])
        out = np.full(len(values), np.nan)
        if len(history) >= self.lahead:
            win = window_view(history, self.lahead, self.config.train.window_order)  # (M, lahead, F)
            n = len(win)
            padded = np.zeros((_bucket(n), *win.shape[1:]), np.float32)
            padded[:n] = win
            valid = np.arange(len(padded)) < n
            state, preds = _run_stream(
                self.params, self.state, padded, valid, self.stateful, cell=self.config.model.cell
            )
            if not all(bool(jnp.all(jnp.isfinite(a))) for a in jax.tree.leaves(state)):
                # Only a state restored with values no stream of this model reaches gets here.
                raise ConfigError(
                    "state must hold values this model can carry on from, got one that makes its state "
                    "NaN or infinite"
                )
            self.state = state
            out[len(values) - n :] = np.asarray(preds[:n], np.float64) * self.target_scale + self.target_mean
        self.recent = history[len(history) - (self.lahead - 1) :] if self.lahead > 1 else history[:0]
        self.seen = min(self.seen + len(values), MAX_SEEN)  # saturates: the reader's own limit
        return out

    def step(self, x: Any) -> float:
        """The prediction after one more step: x is a number (one feature) or one value per
        feature, (F,)."""
        try:
            values = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError):
            raise ConfigError(f"x must be numbers, got {_brief(x)}") from None
        if np.ndim(values) == 0 and self.n_features == 1:
            return float(self._predict(self._values(np.reshape(values, (1, 1)), "x"))[0])
        if np.ndim(values) != 1 or np.shape(values)[0] != self.n_features:
            raise ConfigError(
                f"x must be one value per feature, shape ({self.n_features},), got shape {np.shape(values)}"
            )
        return float(self._predict(self._values(np.reshape(values, (1, -1)), "x"))[0])

    # -----------------------------------------------------------------------------------------
    # Saving and restoring the state

    def identity(self) -> dict[str, Any]:
        """What a state belongs to: the model's shape, how it reads a series, and its weights."""
        m = self.config.model
        return {
            "model": "stateful" if self.stateful else "stateless",
            "cell": m.cell,
            "units": m.units,
            "layers": m.layers,
            "features": list(self.features),
            "lahead": self.lahead,
            "window_order": self.config.train.window_order,
            "weights": self.model_id,
        }

    def state_dict(self) -> dict[str, Any]:
        """Everything carried between steps, as JSON-ready lists of numbers (exact: float32 and
        float64 values are written as the Python floats they are), with the model's identity."""
        return {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "identity": self.identity(),
            "state": [
                [np.asarray(a, np.float64)[0].tolist() for a in layer] for layer in self.state
            ],  # (H,) each
            "recent": self.recent.tolist(),
            "seen": self.seen,
        }

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Continue from a `state_dict()`. ConfigError if it is not one, or one of another model
        (another cell, width, depth, feature set, window, window order or weights)."""
        if not isinstance(state, Mapping) or state.get("format") != STATE_FORMAT:
            raise ConfigError(f"state must be a predictor state ({STATE_FORMAT}), got {_brief(state)}")
        if state.get("version") != STATE_VERSION:
            raise ConfigError(f"state must be of version {STATE_VERSION}, got {state.get('version')!r}")
        theirs, mine = state.get("identity"), self.identity()
        if not isinstance(theirs, Mapping):
            raise ConfigError(f"state must say which model it belongs to, got {_brief(theirs)}")
        for key, value in mine.items():
            if theirs.get(key) != value:
                what = "weights" if key == "weights" else f"{key} {value!r}"
                raise ConfigError(
                    f"state must come from this model ({what}), got one of another model "
                    f"({key} {theirs.get(key)!r})"
                )
        layers = cells.zero_state(self.config.model, 1)
        try:
            restored = tuple(
                tuple(_numbers(v, np.shape(z)[1:], np.float32)[None] for v, z in zip(got, want, strict=True))
                for got, want in zip(state["state"], layers, strict=True)
            )
            recent = _numbers(state["recent"], (min(self.lahead - 1, _count(state["seen"])), self.n_features))
            if np.any(np.abs(recent) > FLOAT32_MAX):  # standardised inputs, as `_values` bounds them
                raise ValueError(
                    f"expected recent values within float32's range, got {np.max(np.abs(recent)):.3g}"
                )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"state must hold this model's arrays, got a damaged state ({exc})") from None
        self.state = jax.tree.map(jnp.asarray, restored)
        self.recent = recent
        self.seen = _count(state["seen"])


def _count(value: Any) -> int:
    """A count from a state: an int (a NumPy integer too) in [0, MAX_SEEN], never a bool or a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= int(value) <= MAX_SEEN:
        raise ValueError(f"seen must be a count in [0, 2**53], got {_brief(value)}")
    return int(value)


def _numbers(value: Any, shape: tuple[int, ...], dtype: Any = np.float64) -> np.ndarray:
    """A nested list (or array) of finite numbers of exactly `shape`, as an array of `dtype`."""
    array = np.asarray(value, dtype=np.float64)
    if array.size == 0:
        array = array.reshape(shape) if math.prod(shape) == 0 else array
    if array.shape != shape:
        raise ValueError(f"expected numbers of shape {shape}, got shape {array.shape}")
    with np.errstate(over="ignore"):  # a value beyond float32 becomes inf: refused just below
        cast = array.astype(dtype)
    if not np.all(np.isfinite(cast)):
        raise ValueError(f"expected finite numbers of shape {shape}, got a NaN or infinite value")
    return cast


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def checked_params(flat: dict[str, np.ndarray], config: ExperimentConfig, where: str) -> cells.Params:
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
