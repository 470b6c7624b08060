"""Real series: forecast a column `horizon` steps ahead from a window of features.

They have no analytic floor; every run compares both networks with two baselines on the same test
rows instead (the last value, and a least-squares linear autoregression on the same window), and
compares memory profiles with the linear autoregression's coefficients, labelled as a linear
reference rather than a truth.

The packaged datasets ship inside statsmodels and are read from its installed files (found, never
imported), so they work offline:

- `sunspots`: yearly sunspot numbers 1700-2008 (public domain), one series.
- `macrodata`: quarterly US macroeconomic series 1959-2009 (public domain): several features.
- `grunfeld`: investment of 11 US firms over 1935-1954 (public domain): a panel of short series.
- `file`: the user's own CSV or Parquet file (`csv` is another name for it).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from statelab.params import ConfigError, Param, check_choice, check_int, check_strs, given
from statelab.tasks.base import Task, TaskData, TaskView

MAX_HORIZON = 10_000


def _name(param: str) -> Any:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{param} must be a column name, got {value!r}")
        return value.strip()

    return check


def _path(value: Any) -> str:
    """The file's absolute path (without resolving links): a config read back in another folder,
    or by `statelab report`, still names the same file."""
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise ConfigError(f"data must be the path of a CSV or Parquet file, got {value!r}")
    return os.path.abspath(os.path.expanduser(value))


HORIZON = Param(
    "horizon",
    "int",
    1,
    "real series: predict the target this many steps ahead",
    lambda v: check_int("horizon", v, 1, MAX_HORIZON),
)
DATA = Param(
    "data",
    "str",
    None,
    "file: the path of a CSV or Parquet file (a CSV needs a header row)",
    _path,
    required=True,
)
TARGET = Param(
    "target",
    "str",
    None,
    "real series: the column to forecast (file: needed if it has several)",
    _name("target"),
)
FEATURES = Param(
    "features",
    "strs",
    None,
    "real series: the columns the model reads, comma-separated (default: the target alone)",
    lambda v: check_strs("features", v),
)
SERIES = Param(
    "series", "str", None, "file: a column of series ids; each series is its own stream", _name("series")
)
TIME = Param("time", "str", None, "file: the column that orders rows within a series", _name("time"))
MISSING_CHOICES = ("error", "drop", "interpolate")
MISSING = Param(
    "missing",
    "str",
    "error",
    "file: missing values are an error, or drop their rows, or interpolate within the series",
    lambda v: check_choice("missing", v, MISSING_CHOICES),
    choices=MISSING_CHOICES,
)


def statsmodels_dataset(name: str, file: str) -> Path:
    """A CSV shipped inside the installed statsmodels (found, not imported: no network, no import)."""
    spec = importlib.util.find_spec("statsmodels")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"task {name} needs the statsmodels package installed, got none")
    return Path(spec.submodule_search_locations[0]) / "datasets" / name / file


def _forecast(
    task: TaskView,
    path: str | Path,
    series: str | None = None,
    time: str | None = None,
    target: str | None = None,
) -> TaskData:
    from statelab import data
    from statelab.tasks.forecast import forecast

    panel = data.read_panel(
        path,
        target or task.target,
        task.features,
        series=series,
        time=time,
        missing=task.missing or "error",
    )
    return forecast(panel, task.lahead, given(task.horizon), task.train_fraction)


def _ahead(task: TaskView) -> str:
    return "next value" if task.horizon == 1 else f"value {task.horizon} steps ahead"


def _columns(task: TaskView) -> str:
    features = task.features or (task.target,)
    if features == (task.target,):
        return ""
    return f" from features {', '.join(str(f) for f in features)}"


def _baselines_why(task: TaskView) -> str:
    return (
        "A real series has no analytic floor: nobody knows the best error possible. Both networks are "
        "compared instead with two baselines on the same test rows, which see the same window and "
        "remember nothing: the last value, and a linear autoregression on the window (every feature) "
        "fitted by least squares on the training rows. Normalised MSE is MSE / var(y) over the test "
        "targets, so 1 is no better than predicting their mean. A network that beats the linear "
        "baseline has learnt something nonlinear or something from beyond its window; the memory "
        "profiles show which past inputs each model leans on, beside the coefficients of a linear "
        "autoregression on the training part (a linear reference, not a truth)."
    )


def _sunspots_why(task: TaskView, metrics: Mapping[str, Any]) -> str:
    return (
        "Sunspot numbers rise and fall in a cycle of about eleven years, of varying height. A window "
        f"of lahead = {task.lahead} years sees only part of a cycle; a stateful model can carry where "
        "in the cycle the sun is, which is what a long-memory forecast needs. With 309 yearly values "
        "the test part is the last ~60 years: a small sample, so differences of a few percent are "
        "noise. " + _baselines_why(task)
    )


def _macrodata_why(task: TaskView, metrics: Mapping[str, Any]) -> str:
    return (
        f"Quarterly US series, 1959-2009 (203 quarters): the model reads {', '.join(task.features or ())} "
        f"and forecasts {task.target}. Macroeconomic series are persistent, so the last value is a "
        "strong baseline, and with about 160 training quarters a network has little to learn from: "
        "beating the linear autoregression here is hard, and not beating it is the honest outcome "
        "to expect. " + _baselines_why(task)
    )


def _grunfeld_why(task: TaskView, metrics: Mapping[str, Any]) -> str:
    return (
        "Grunfeld's panel: 11 US firms, 20 years each (1935-1954). Each firm is its own series: its "
        "first years train and its last years test, and a stateful model's state is reset wherever a "
        "lane of the batch moves on to another firm, so it never carries one firm's history into "
        "another's. With about 15 training years per firm the networks learn what the firms share. "
        + _baselines_why(task)
    )


def _file_why(task: TaskView, metrics: Mapping[str, Any]) -> str:
    several = (
        f" Each series of column {task.series} is its own stream, split in time; a carried state "
        "resets wherever a lane moves on to another series."
        if task.series
        else ""
    )
    return f"Your file {task.data}.{several} " + _baselines_why(task)


SUNSPOTS = Task(
    name="sunspots",
    summary="yearly sunspot numbers 1700-2008 (ships with statsmodels; offline)",
    params=(HORIZON,),
    generate=lambda t: _forecast(t, statsmodels_dataset("sunspots", "sunspots.csv"), target="SUNACTIVITY"),
    describe=lambda t: f"the target is the {_ahead(t)} of the yearly sunspot numbers 1700-2008",
    why=_sunspots_why,
)

FILE = Task(
    name="file",
    summary="a column of your CSV or Parquet file (features, series, time order, missing values)",
    params=(DATA, TARGET, FEATURES, SERIES, TIME, HORIZON, MISSING),
    generate=lambda t: _forecast(t, given(t.data), t.series, t.time),
    describe=lambda t: (
        f"the target is the {_ahead(t)} of "
        + (f"column {t.target} of {t.data}" if t.target else str(t.data))
        + _columns(t)
        + (f", per series of {t.series}" if t.series else "")
    ),
    why=_file_why,
)

MACRODATA = Task(
    name="macrodata",
    summary="quarterly US macro series 1959-2009, several features (ships with statsmodels)",
    params=(
        Param("target", "str", "infl", TARGET.help, TARGET.check),
        Param("features", "strs", ("infl", "unemp", "tbilrate"), FEATURES.help, FEATURES.check),
        HORIZON,
    ),
    generate=lambda t: _forecast(t, statsmodels_dataset("macrodata", "macrodata.csv")),
    describe=lambda t: f"the target is the {_ahead(t)} of US quarterly {t.target}{_columns(t)}",
    why=_macrodata_why,
)

GRUNFELD = Task(
    name="grunfeld",
    summary="yearly investment of 11 US firms 1935-1954: a panel of series (ships with statsmodels)",
    params=(
        Param("target", "str", "invest", TARGET.help, TARGET.check),
        Param("features", "strs", ("invest", "value", "capital"), FEATURES.help, FEATURES.check),
        HORIZON,
    ),
    generate=lambda t: _forecast(
        t, statsmodels_dataset("grunfeld", "grunfeld.csv"), series="firm", time="year"
    ),
    describe=lambda t: f"the target is the {_ahead(t)} of each firm's yearly {t.target}{_columns(t)}",
    why=_grunfeld_why,
)

RECORDS = (SUNSPOTS, FILE, MACRODATA, GRUNFELD)
