"""Trained models you can take away: a run's model as a Keras 3 model file.

statelab's cells follow Keras' own equations and weight layouts (see `statelab.cells`: LSTM gates in
the order i, f, c, o; GRU with `reset_after=True` and a (2, 3H) bias; SimpleRNN), so every trained
array goes into the Keras layer of the same name as it is:

    cells.<l>.kernel, .recurrent, .bias  ->  layer l: kernel, recurrent_kernel, bias
    dense.kernel, dense.bias             ->  Dense(1): kernel, bias

The exported model takes raw windows, (batch, lahead, F) in the run's window order, and predicts
in the target's units: for a real series a `Rescaling` layer standardises the inputs (x / scale -
mean / scale) and another undoes the target's standardisation, with the run's statistics. The
model computes in float32, as the network did; a column whose raw values float32 cannot hold
precisely enough against its spread (a large offset: 1e9 +- 5) is refused, not exported wrong.

The stateful model is exported as stateful recurrent layers with a fixed batch shape (`batch_size`
lanes, one stream each), so feeding a stream window by window carries the state as statelab did;
`layer.reset_state()` on each recurrent layer starts the streams over. Keras 3.15.1 on its JAX
backend carries that state only when the model is called directly, `model(x)`: `model.predict(x)`
and `predict_on_batch` start every call from a zero state there (on TensorFlow all three carry it).

Keras is an optional dependency (`pip install 'statelab[keras]'`). It runs on the JAX backend
statelab already has unless KERAS_BACKEND says otherwise; set it before Keras is first imported.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from statelab import scratch, written
from statelab.config import ConfigError
from statelab.predict import Predictor, load_predictor
from statelab.written import check_replace

FORMATS = ("keras",)
LAYERS = {"lstm": "LSTM", "gru": "GRU", "simple": "SimpleRNN"}


def import_keras() -> Any:
    """Keras 3, on the JAX backend unless KERAS_BACKEND chose another; ConfigError if missing."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    try:
        import keras
    except ImportError:
        raise ConfigError(
            "format keras needs the keras package (pip install 'statelab[keras]'), got none installed"
        ) from None
    if not keras.__version__.startswith("3."):
        raise ConfigError(f"format keras needs Keras 3, got Keras {keras.__version__}")
    return keras


def keras_model(predictor: Predictor, batch_size: int = 1) -> Any:
    """The predictor's model as a `keras.Model` with its trained weights.

    Stateful: stateful recurrent layers over a fixed batch shape (batch_size, lahead, F), one
    stream per row. Stateless: any batch size, every window from a zero state. Output (batch, 1).
    """
    keras = import_keras()
    config = predictor.config
    lahead, f = config.task.lahead, predictor.n_features
    if predictor.stateful:
        inputs = keras.Input(batch_shape=(batch_size, lahead, f), name="windows")
    else:
        inputs = keras.Input(shape=(lahead, f), name="windows")
    x = inputs
    if np.any(predictor.mean != 0.0) or np.any(predictor.scale != 1.0):
        # x / scale - mean / scale: no variance to overflow or vanish in float32, and no epsilon
        # floor under the scale (Keras' Normalization clamps a scale below 1e-7).
        x = keras.layers.Rescaling(
            scale=[float(v) for v in 1.0 / predictor.scale],
            offset=[float(v) for v in -predictor.mean / predictor.scale],
            name="standardise",
        )(x)
    layer_class = getattr(keras.layers, LAYERS[config.model.cell])
    params = predictor.params
    recurrent = []
    for i, cell in enumerate(params["cells"]):
        options = {"reset_after": True} if config.model.cell == "gru" else {}
        layer = layer_class(
            config.model.units,
            stateful=predictor.stateful,
            return_sequences=i < len(params["cells"]) - 1,
            name=f"{config.model.cell}_{i}",
            **options,
        )
        x = layer(x)
        layer.set_weights([np.asarray(cell[k], np.float32) for k in ("kernel", "recurrent", "bias")])
        recurrent.append(layer)
    dense = keras.layers.Dense(1, name="dense")
    x = dense(x)
    dense.set_weights([np.asarray(params["dense"][k], np.float32) for k in ("kernel", "bias")])
    if predictor.target_mean != 0.0 or predictor.target_scale != 1.0:
        x = keras.layers.Rescaling(predictor.target_scale, predictor.target_mean, name="target_units")(x)
    name = f"statelab_{'stateful' if predictor.stateful else 'stateless'}_{config.model.cell}"
    return keras.Model(inputs, x, name=name)


FLOAT32_ROUNDING = 2.0**-24  # float32's unit roundoff: the relative error of rounding a value to it
EXPORT_TOLERANCE = 1e-5  # how far a column's values may be rounded, in units of its scale


def check_standardisation(predictor: Predictor) -> None:
    """ConfigError unless float32, which the exported model reads and computes in, can standardise
    every column as statelab does (in float64): a raw value near its column's mean rounded by at
    most EXPORT_TOLERANCE of the column's scale, and every factor finite. A column of large
    offset against its spread (1e9 +- 5, say) loses its variation in float32 before anything
    else happens: such a model is refused rather than exported silently wrong."""
    columns = [*zip(predictor.features, predictor.mean, predictor.scale)]
    columns.append((predictor.target, predictor.target_mean, predictor.target_scale))
    for name, mean, scale in columns:
        mean, scale = float(mean), float(scale)
        if mean == 0.0 and scale == 1.0:
            continue
        rounding = FLOAT32_ROUNDING * (abs(mean) + scale) / scale
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            factors = np.array([1.0 / scale, mean / scale, abs(mean) + 10 * scale, scale], np.float32)
        if not np.all(np.isfinite(factors)) or factors[3] == 0 or rounding > EXPORT_TOLERANCE:
            raise ConfigError(
                f"run_dir must hold a model whose standardisation float32 can reproduce (values rounded "
                f"by at most {EXPORT_TOLERANCE:g} of their column's scale), got column {name!r} with mean "
                f"{mean:.6g} and scale {scale:.6g} (float32 rounds it by {rounding:.2g} of its scale): "
                "train on the column less its offset to export it"
            )


STATE_COPIES = 4  # a state's bytes held at once while Keras builds and saves a stateful model


def check_state_memory(predictor: Predictor, batch_size: int) -> None:
    """ConfigError if the stateful layers' states for `batch_size` streams (float32, two per unit
    for an LSTM) would not fit in the memory available now: Keras allocates them as it builds."""
    from statelab.resources import available_memory, gigabytes

    if not predictor.stateful:
        return
    m = predictor.config.model
    need = STATE_COPIES * batch_size * m.layers * m.units * 2 * 4
    available = available_memory()
    if available is not None and need > available:
        raise ConfigError(
            f"batch_size must be small enough for the stateful layers' states to fit in memory "
            f"(about {gigabytes(need)} needed, {gigabytes(available)} available), got {batch_size}"
        )


def export(
    run_dir: str | Path,
    out: str | Path,
    model: str = "stateful",
    format: str = "keras",
    batch_size: int = 1,
    before_commit: Callable[[], None] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the run's `model` as a Keras model file at `out` (a name ending in .keras): a new
    file, or one statelab can prove it wrote (`statelab.written`), or any file with `overwrite`.
    Written to a hidden sibling of this process's own and put into place whole, with its mark;
    a new `out` is linked into place, so a file that appeared there meanwhile is never replaced.
    before_commit: called just before that (Ctrl-C); if it raises, nothing is left behind.
    Returns the path written."""
    from statelab.params import check_choice, check_file_in_folder, check_flag, check_int

    check_choice("format", format, FORMATS)
    batch_size = check_int("batch_size", batch_size, 1)
    overwrite = check_flag("overwrite", overwrite)
    out = check_file_in_folder("out", out)
    if out.suffix != ".keras":
        raise ConfigError(f"out must be a file name ending in .keras, got {str(out)!r}")
    check_replace("out", out, overwrite)
    predictor = load_predictor(run_dir, model)
    check_standardisation(predictor)
    check_state_memory(predictor, batch_size)
    built = keras_model(predictor, batch_size)
    scratch.remove_stale(out.parent)
    tmp = scratch.temporary(out)
    tmp = tmp.with_name(tmp.name + ".keras")  # Keras saves only to a name ending in .keras
    try:
        built.save(tmp)
        data = tmp.read_bytes()
        if before_commit is not None:
            before_commit()
        _place(tmp, out, data, overwrite)
    except OSError as exc:
        raise ConfigError(f"out must be a writable path, got {str(out)!r} ({exc.strerror})") from None
    finally:
        scratch.discard(tmp)
    return out


def _place(tmp: Path, out: Path, data: bytes, overwrite: bool) -> None:
    """Put the saved model at `out` with its mark: linked into place if `out` is new (a file that
    appeared meanwhile is not replaced), else written over a file statelab wrote (or any, with
    `overwrite`), checked again now."""
    if not written.exists(out):
        if not scratch.link_into_place(tmp, out):
            raise ConfigError(
                f"out must be a new file (another process wrote it meanwhile), got {str(out)!r}"
            )
        written.write_file(written.mark_path(out), written.mark_bytes(out, data), "out", marked=False)
        return
    check_replace("out", out, overwrite)
    written.write_file(out, data, "out")
