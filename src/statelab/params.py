"""Parameters and their rules: the one error type and the checks every config field goes through.

A parameter is a `Param` record: its name, kind, default, help text (the same text `--help`, the
lab's form and the README use) and its rule. Breaking a rule raises `ConfigError`, a `ValueError`
whose one-line message names the parameter, the rule and the value found, for example
``tsteps must be an integer >= 1, got 0``.

This module imports nothing heavy, so the command line can check its input before JAX loads.
"""

from __future__ import annotations

import inspect
import math
import numbers
import re
import stat
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

T = TypeVar("T")

# Parameter kinds: how a value is read from text and what Python type it ends up as.
KINDS = ("int", "float", "str", "floats", "strs")


class ConfigError(ValueError):
    """A parameter broke a rule. The message names the parameter, the rule and the value, on one
    line: a value whose repr spans lines (a NumPy array, a name holding a newline) is joined."""

    def __init__(self, message: Any = "", *args: Any) -> None:
        super().__init__(re.sub(r"\s*\n\s*", " ", str(message)), *args)


def fail(name: str, rule: str, value: Any) -> NoReturn:
    raise ConfigError(f"{name} must be {rule}, got {value!r}")


def given(value: T | None) -> T:
    """A task parameter of the task that takes it: never None in a built TaskConfig (its default
    fills it in, or the config is refused), which a type checker cannot know."""
    assert value is not None, "a parameter of this config's task is None"
    return value


def shown_name(name: Any) -> str:
    """A parameter name as an error message shows it: plain if it is a plain word, else quoted
    (a name from a file may hold a newline, and a message is one line)."""
    text = str(name)
    return text if re.fullmatch(r"[\w.-]{1,64}", text) else repr(name)


def plain(value: Any) -> Any:
    """NumPy scalars (from np.arange grids, say) as the Python numbers they stand for."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return value


def check_int(name: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    value = plain(value)
    rule = f"an integer >= {minimum}" if maximum is None else f"an integer in [{minimum}, {maximum}]"
    if isinstance(value, bool) or not isinstance(value, int):
        fail(name, rule, value)
    if value < minimum or (maximum is not None and value > maximum):
        fail(name, rule, value)
    return value


def check_count(name: str, value: Any, minimum: int = 1) -> int:
    """An integer >= minimum from a flag's text or a Python value (seeds, workers, ...)."""
    try:
        number = int(value) if isinstance(value, str) else plain(value)
    except ValueError:
        number = None
    if isinstance(number, bool) or not isinstance(number, int) or number < minimum:
        fail(name, f"an integer >= {minimum}", value)
    return number


def check_float(name: str, value: Any, rule: str, ok: Callable[[float], bool]) -> float:
    """A finite real number passing `ok`, as a float (so 1 and 1.0 hash alike)."""
    value = plain(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
        fail(name, f"a finite number {rule}", value)
    if not ok(value):
        fail(name, rule, value)
    return float(value)


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond a float's range
        return False


def check_callable(name: str, value: Any, n_args: int) -> Any:
    """None, or a callable that can be called with `n_args` positional arguments (checked now, so
    a wrong callback is one error before the work, not a TypeError after it)."""
    if value is None:
        return None
    rule = f"a callable taking {n_args} positional arguments, or None"
    if not callable(value):
        fail(name, rule, value)
    try:
        inspect.signature(value).bind(*range(n_args))
    except TypeError:
        fail(name, rule, value)
    except ValueError:  # no signature to read (some builtins): taken as it is
        pass
    return value


def check_flag(name: str, value: Any) -> bool:
    """True or False (NumPy's bool too), never a truthy string such as "no"."""
    if isinstance(value, (bool, np_bool_types())):
        return bool(value)
    fail(name, "True or False", value)


def np_bool_types() -> tuple[type, ...]:
    """NumPy's bool type, if NumPy is loaded (this module imports nothing heavy)."""
    numpy = sys.modules.get("numpy")
    return (numpy.bool_,) if numpy is not None else ()


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        fail(name, "one of " + ", ".join(choices), value)
    return value


def check_floats(name: str, value: Any) -> tuple[float, ...]:
    """A non-empty list of finite numbers (a list, a tuple, or text `0.6,-0.3`)."""
    items = _items(name, value, "a non-empty list of finite numbers")
    out = []
    for item in items:
        item = plain(item)
        if isinstance(item, str):
            try:
                item = float(item)
            except ValueError:
                fail(name, "a non-empty list of finite numbers", value)
        if isinstance(item, bool) or not isinstance(item, (int, float)) or not _finite(item):
            fail(name, "a non-empty list of finite numbers", value)
        out.append(float(item))
    return tuple(out)


def check_strs(name: str, value: Any) -> tuple[str, ...]:
    """A non-empty list of distinct non-empty names (a list, a tuple, or text `a,b`)."""
    rule = "a non-empty list of distinct non-empty names"
    items = _items(name, value, rule)
    if not all(isinstance(i, str) and i.strip() for i in items):
        fail(name, rule, value)
    names = tuple(i.strip() for i in items)
    if len(set(names)) != len(names):
        fail(name, rule, value)
    return names


def _items(name: str, value: Any, rule: str) -> list[Any]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",")]
    if isinstance(value, (list, tuple)) and value:
        return list(value)
    fail(name, rule, value)


@dataclass(frozen=True)
class Param:
    """A task parameter: what it is, its default, and its rule.

    `check(value)` returns the value normalised (a float for a float field, a tuple for a list)
    or raises ConfigError.
    """

    name: str
    kind: str  # one of KINDS
    default: Any
    help: str
    check: Callable[[Any], Any]
    required: bool = False  # no default: the task cannot run without it
    choices: tuple[str, ...] = ()  # a word field's allowed values (its check enforces them), else ()


def parse_text(name: str, kind: str, text: str) -> Any:
    """A command-line value as its kind; ConfigError naming the parameter if it is not one."""
    if not isinstance(text, str):  # argparse reads `--flag=--` as an empty list
        fail(name, "a value", text)
    if kind == "str":
        return text
    if kind == "floats":
        return check_floats(name, text)
    if kind == "strs":
        return check_strs(name, text)
    try:
        return int(text) if kind == "int" else float(text)
    except ValueError:
        fail(name, "an integer" if kind == "int" else "a number", text)


def check_path(name: str, value: Any, rule: str) -> Path:
    """A path given as text or a Path, as a Path; ConfigError(`name` must be `rule`) for anything
    else, and for empty text, which Path would read as the current folder."""
    if isinstance(value, Path):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        fail(name, rule, value)
    return Path(value)


def not_a_file(path: Path) -> str | None:
    """None if `path` is a regular file (or a link to one), else what is there instead, for an
    error message: "no such file", "a directory", "a FIFO", ... Reading a FIFO or a device would
    block or never end, so statelab reads nothing but regular files."""
    try:
        mode = Path(path).stat().st_mode
    except OSError as exc:  # No such file or directory, Permission denied, ...
        return exc.strerror or type(exc).__name__
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO, not a regular file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a regular file"
    return "a device, not a regular file"


def check_output_path(name: str, value: Any, kind: str = "file") -> Path:
    """A path statelab may create (a `kind`, "file" or "directory"), checked before any work:
    not empty, not under a regular file, and not an existing path of the other kind."""
    rule = f"a writable {kind} path"
    path = check_path(name, value, rule)
    value = str(value)
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(
                    f"{name} must be {rule}, got {value!r} ({str(parent)!r} is not a directory)"
                )
            break
    if kind == "file" and path.is_dir():
        raise ConfigError(f"{name} must be {rule}, got {value!r} (a directory)")
    if kind == "directory" and path.exists() and not path.is_dir():
        raise ConfigError(f"{name} must be {rule}, got {value!r} (a file)")
    return path


def check_file_in_folder(name: str, value: Any) -> Path:
    """A file path statelab may write (`check_output_path`) whose folder exists already: for files
    written at the end of a command, so that a missing folder is found before the work."""
    path = check_output_path(name, value, "file")
    if not path.absolute().parent.is_dir():
        raise ConfigError(f"{name} must be in an existing directory, got {str(value)!r}")
    return path
