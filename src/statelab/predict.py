"""`statelab predict`: a saved model over a file of one or many series, each from its own state.

The predictor itself is `statelab.predictor.Predictor` (re-exported here); the run directory's
saved models are read by `statelab.rundir`; the state file by `statelab.statefile`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from statelab import rundir
from statelab.config import ConfigError
from statelab.params import check_file_in_folder
from statelab.predictor import Predictor
from statelab.written import check_replace, same_file

__all__ = ["Predictor", "check_out", "input_features", "load_predictor", "output_columns", "predict_series"]


def load_predictor(run_dir: str | Path, model: str = "stateful") -> Predictor:
    """The saved `model` ("stateful" or "stateless") of a run directory, as a Predictor."""
    params, config, info = rundir.read_model(run_dir, model)
    return Predictor(params, config, stateful=model == "stateful", data=info)


def input_features(predictor: Predictor, header: list[str], column: str | None = None) -> tuple[str, ...]:
    """The columns of an input file the model reads: the run's features, by name. A one-feature
    model may read another column instead: `column`, or the file's only other column.
    ConfigError naming what the model needs and what the file has."""
    if column is not None:
        if predictor.n_features != 1:
            raise ConfigError(
                f"column must be left out for a model of {predictor.n_features} features (it reads "
                f"{', '.join(predictor.features)} by name), got {column!r}"
            )
        return (column,)
    if all(f in header for f in predictor.features):
        return predictor.features
    if predictor.n_features == 1 and len(header) == 1:
        return (header[0],)
    shown = header if len(header) <= 12 else [*header[:12], "..."]
    raise ConfigError(
        f"input must have the run's {_plural(predictor.n_features, 'feature column')} "
        f"{', '.join(predictor.features)}, got columns {shown}"
    )


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def predict_series(
    predictor: Predictor,
    panel: Any,
    states: Mapping[str, Mapping[str, Any]] | None = None,
    interrupt: Callable[[], None] | None = None,
) -> tuple[list[np.ndarray], list[int], dict[str, Mapping[str, Any]]]:
    """Every series of `panel` (a `data.Panel` of the model's features) from its own state.

    A series starts from `states[id]` if it is there (a state of this model), else from a reset
    predictor: its predictions never depend on another series. Returns, per series, the
    predictions (L_s,) in the target's units and the number of steps seen before them; and every
    state after (those of series absent from the panel kept as they were). `interrupt` is called
    before each series (Ctrl-C: it raises, and nothing is returned).
    """
    states = dict(states or {})
    out, before = [], []
    for name, x in zip(panel.names, panel.features):
        if interrupt is not None:
            interrupt()
        if name in states:
            predictor.load_state(states[name])
        else:
            predictor.reset()
        before.append(predictor.seen)
        out.append(predictor.predict(x))
        states[name] = predictor.state_dict()
    return out, before, states


def output_columns(
    panel: Any, features: tuple[str, ...], predictions: list[np.ndarray], before: list[int], with_series: bool
) -> dict[str, Any]:
    """The columns of `statelab predict`'s output, as `predict_series` gave them: [`series`,] `t`
    (counted on from the state's steps), the file's time column (by its name; `time` where that
    name is taken) with its values where the panel has one, `input` (or `input_<feature>`),
    `prediction`."""
    import pyarrow as pa

    from statelab.data import input_columns, to_arrow

    lengths = [len(p) for p in predictions]
    columns: dict[str, Any] = {}
    if with_series:
        codes = np.repeat(np.arange(len(panel.names), dtype=np.int32), lengths)
        columns["series"] = pa.DictionaryArray.from_arrays(
            to_arrow(codes), pa.array(panel.names, pa.string())
        )
    columns["t"] = np.concatenate([b + np.arange(n) for b, n in zip(before, lengths)]).astype(np.int64)
    if getattr(panel, "times", None) is not None:
        from statelab.data import values_to_arrow

        name = panel.time_name or "time"
        taken = {"series", "t", "prediction", *input_columns(features)}
        columns[name if name not in taken else "time"] = values_to_arrow(np.concatenate(panel.times))
    inputs = np.concatenate(panel.features)
    for j, name in enumerate(input_columns(features)):
        columns[name] = np.ascontiguousarray(inputs[:, j])
    columns["prediction"] = np.concatenate(predictions)
    return columns


def check_out(out: str | Path, others: Mapping[str, str | Path | None], overwrite: bool = False) -> Path:
    """Where `statelab predict` may write: a new file, or one statelab can prove it wrote
    (`statelab.written`), or any file with `overwrite`; never one of the files in `others`
    ({parameter: path}: the input, the state file), under any of its names (`./x` and `x`, a
    link, a hard link). ConfigError, before any work."""
    path = check_file_in_folder("out", out)
    for name, other in others.items():
        if other is not None and same_file(path, other):
            raise ConfigError(
                f"out must be another file than {name}, got {str(out)!r} (the {name}, {str(other)!r})"
            )
    check_replace("out", path, overwrite)
    return path
