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
- `co2`: weekly atmospheric CO2 at Mauna Loa, 1958-2001 (public domain; Keeling and Whorf, via
  statsmodels): a trending, seasonal series with gaps, which are interpolated by default.
- `file`: the user's own CSV or Parquet file (`csv` is another name for it).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from statelab.params import ConfigError, Param, check_choice, check_int, check_strs, given
from statelab.tasks.base import Task, TaskData, TaskView

if TYPE_CHECKING:
    import numpy as np

    from statelab.data import Panel

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
    "real series: predict the target this many steps ahead (0: estimate it now from the features, "
    "when the target is not one of them)",
    lambda v: check_int("horizon", v, 0, MAX_HORIZON),
)
# statelab.tasks.transforms: none, a difference (lag 1), a log, both, a seasonal difference (lag
# season), a log and a seasonal difference.
TRANSFORMS = ("none", "diff", "log", "logdiff", "sdiff", "logsdiff")
TRANSFORM = Param(
    "transform",
    "str",
    "none",
    "real series: none, diff, log, logdiff, sdiff (a seasonal difference at --season), logsdiff; the "
    "networks train on the transformed series, every error is in the data's units",
    lambda v: check_choice("transform", v, TRANSFORMS),
    choices=TRANSFORMS,
)
# statelab.peers: the classical forecasters every real series is compared with ("none": none).
PEERS = ("seasonal-naive", "ets", "arima")


def _check_peers(value: Any) -> tuple[str, ...]:
    names = check_strs("peers", value)
    if names == ("none",):
        return names
    for name in names:
        if name not in PEERS:
            raise ConfigError(f"peers must be some of {', '.join(PEERS)}, or none, got {name!r}")
    return names


PEERS_PARAM = Param(
    "peers",
    "strs",
    PEERS,
    "real series: the classical forecasters fitted on each series' training part and compared on the "
    "same test rows: seasonal-naive, ets, arima (comma-separated), or none",
    _check_peers,
)
SEASON = Param(
    "season",
    "int",
    1,
    "real series: the seasonal period in steps (52: weekly data with a yearly cycle; 1: none), for "
    "the seasonal naive forecast, the MASE scale and the peers",
    lambda v: check_int("season", v, 1, MAX_HORIZON),
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


def check_forecast(task: TaskView) -> None:
    """The rules between a real series' parameters: a nowcast (horizon 0) must not read the value
    it estimates."""
    features = task.features or (task.target,)
    if task.horizon == 0 and (task.target is None or task.target in features):
        raise ConfigError(
            "horizon must be >= 1 when the target is one of the features (it would read the value it "
            f"predicts; give --features without {task.target or 'the target'} for a nowcast), got 0"
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
    times: Callable[[Panel], list[np.ndarray]] | None = None,
) -> TaskData:
    """Read a file and cut it into forecasting data. times: the series' time values in their own
    units, where the file's time column does not hold them as such (a date written as a number)."""
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
    if times is not None:
        panel = dataclasses.replace(panel, times=times(panel), time_name=panel.time_name or "time")
    return forecast(
        panel,
        task.lahead,
        given(task.horizon),
        task.train_fraction,
        task.transform or "none",
        task.season or 1,
    )


def _yyyymmdd(panel: Panel) -> list[np.ndarray]:
    """Dates written as numbers, 19580329, as dates."""
    import numpy as np

    def dates(values: np.ndarray) -> np.ndarray:
        v = np.asarray(values, np.int64)
        text = [f"{d // 10000:04d}-{d // 100 % 100:02d}-{d % 100:02d}" for d in v]
        return np.asarray(text, dtype="datetime64[D]")

    return [dates(t) for t in panel.times or []]


def _quarters(first: str) -> Callable[[Panel], list[np.ndarray]]:
    """The quarter each row of a complete quarterly series starts, from the first one's month."""

    def times(panel: Panel) -> list[np.ndarray]:
        import numpy as np

        start = np.datetime64(first, "M")
        return [(start + 3 * np.arange(len(y))).astype("datetime64[D]") for y in panel.target]

    return times


def _ahead(task: TaskView) -> str:
    return "next value" if task.horizon == 1 else f"value {task.horizon} steps ahead"


def _columns(task: TaskView) -> str:
    features = task.features or (task.target,)
    if features == (task.target,):
        return ""
    return f" from features {', '.join(str(f) for f in features)}"


def _baselines_why(task: TaskView) -> str:
    return (
        "A real series has no analytic floor: nobody knows the best error possible, so no model is "
        "called converged. Both networks are compared instead, on the same test rows and in the "
        "data's own units, with two baselines that see the same window and remember nothing (the last "
        "value, and a linear autoregression on the window, every feature, fitted by least squares on "
        "the training rows) and with the classical forecasters a practitioner tries first (seasonal "
        "naive, exponential smoothing, ARIMA), each fitted on each series' training part and "
        "forecasting the test rows with its parameters fixed. Every forecaster is ranked by test MSE; "
        "a network's skill is 1 - MSE / MSE of the best of the others, and Diebold-Mariano tests say "
        "whether memory helped (stateful vs stateless) and whether the best network beats the best "
        "classical forecaster by more than chance. The networks train on the series transformed "
        f"(--transform, here {task.transform}) and standardised, and choose nothing by the test rows: "
        "their validation loss is measured on the tail of each series' training part. The memory "
        "profiles show which past inputs each model leans on, beside the coefficients of a linear "
        "distributed-lag regression on the training part (a linear reference, not a truth)."
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
    params=(HORIZON, SEASON, TRANSFORM, PEERS_PARAM),
    generate=lambda t: _forecast(
        t, statsmodels_dataset("sunspots", "sunspots.csv"), time="YEAR", target="SUNACTIVITY"
    ),
    describe=lambda t: f"the target is the {_ahead(t)} of the yearly sunspot numbers 1700-2008",
    why=_sunspots_why,
    check=check_forecast,
)

FILE = Task(
    name="file",
    summary="a column of your CSV or Parquet file (features, series, time order, missing values)",
    params=(DATA, TARGET, FEATURES, SERIES, TIME, HORIZON, MISSING, SEASON, TRANSFORM, PEERS_PARAM),
    generate=lambda t: _forecast(t, given(t.data), t.series, t.time),
    describe=lambda t: (
        f"the target is the {_ahead(t)} of "
        + (f"column {t.target} of {t.data}" if t.target else str(t.data))
        + _columns(t)
        + (f", per series of {t.series}" if t.series else "")
    ),
    why=_file_why,
    check=check_forecast,
)

MACRODATA = Task(
    name="macrodata",
    summary="quarterly US macro series 1959-2009, several features (ships with statsmodels)",
    params=(
        Param("target", "str", "infl", TARGET.help, TARGET.check),
        Param("features", "strs", ("infl", "unemp", "tbilrate"), FEATURES.help, FEATURES.check),
        HORIZON,
        Param("season", "int", 4, SEASON.help, SEASON.check),
        TRANSFORM,
        PEERS_PARAM,
    ),
    generate=lambda t: _forecast(
        t, statsmodels_dataset("macrodata", "macrodata.csv"), times=_quarters("1959-01")
    ),
    describe=lambda t: f"the target is the {_ahead(t)} of US quarterly {t.target}{_columns(t)}",
    why=_macrodata_why,
    check=check_forecast,
)

GRUNFELD = Task(
    name="grunfeld",
    summary="yearly investment of 11 US firms 1935-1954: a panel of series (ships with statsmodels)",
    params=(
        Param("target", "str", "invest", TARGET.help, TARGET.check),
        Param("features", "strs", ("invest", "value", "capital"), FEATURES.help, FEATURES.check),
        HORIZON,
        SEASON,
        TRANSFORM,
        PEERS_PARAM,
    ),
    generate=lambda t: _forecast(
        t, statsmodels_dataset("grunfeld", "grunfeld.csv"), series="firm", time="year"
    ),
    describe=lambda t: f"the target is the {_ahead(t)} of each firm's yearly {t.target}{_columns(t)}",
    why=_grunfeld_why,
    check=check_forecast,
)


def _co2_why(task: TaskView, metrics: Mapping[str, Any]) -> str:
    return (
        "Weekly atmospheric CO2 at Mauna Loa, March 1958 to December 2001 (2,284 weeks, 59 of them "
        "missing and interpolated by default): a steady rise with a yearly cycle of about 52 weeks. "
        "The test part, the last fifth, lies above everything the training part saw, so a model of "
        "the levels must extrapolate, which a standardised network cannot do; differencing the "
        "series (--transform diff) turns the rise into a level that stays in range, and the "
        "seasonal naive forecast (the value 52 weeks before) and the classical peers are the "
        "measures to beat. " + _baselines_why(task)
    )


CO2 = Task(
    name="co2",
    summary="weekly Mauna Loa CO2 1958-2001: trending, seasonal, with gaps (ships with statsmodels)",
    params=(
        HORIZON,
        Param("missing", "str", "interpolate", MISSING.help, MISSING.check),
        Param("season", "int", 52, SEASON.help, SEASON.check),
        TRANSFORM,
        PEERS_PARAM,
    ),
    generate=lambda t: _forecast(
        t, statsmodels_dataset("co2", "co2.csv"), time="date", target="co2", times=_yyyymmdd
    ),
    describe=lambda t: f"the target is the {_ahead(t)} of the weekly Mauna Loa CO2 concentration (ppm)",
    why=_co2_why,
    check=check_forecast,
)

RECORDS = (SUNSPOTS, FILE, MACRODATA, GRUNFELD, CO2)
