"""The README is run as it is printed: its API signatures are the code's, its table of result
columns is the frame's, the commands of "Using it" run in the virtual environment activated as it
says (in a folder holding the files they name), the bad-input examples print what it shows, and
the Python examples of "From Python" print the output it shows.

Printed numbers are compared within a tolerance (`same_text`): training is bit-identical on one
machine, not across processors. The commands and the Python examples train for real (minutes on
two cores): they are marked slow.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import statelab
from conftest import panel_frame, write_frame
from statelab.store import Store

README = Path(__file__).resolve().parents[1] / "README.md"
FUNCTIONS = ("run_experiment", "save_run", "sweep", "load_results", "load_history", "doctor")


# --- reading the README --------------------------------------------------------------------------


def section(title: str) -> str:
    """The text under the heading `title` (any level), up to the next heading of that level or above."""
    text = README.read_text()
    match = re.search(rf"^(#+) {re.escape(title)}\n", text, re.MULTILINE)
    assert match, title
    level = len(match.group(1))
    rest = text[match.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.MULTILINE)
    return rest[: end.start()] if end else rest


def blocks(text: str) -> list[tuple[str, str]]:
    """The fenced code blocks of `text`: (language, content)."""
    return [
        (m.group(1), m.group(2))
        for m in re.finditer(r"^```(\w*)\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)
    ]


def mentions(text: str) -> list[tuple[str, str, str | None]]:
    """Every `statelab.<function>(...)` of the README: (function, the text in the parentheses,
    the return annotation after `->` or None)."""
    found = []
    for match in re.finditer(rf"statelab\.({'|'.join(FUNCTIONS)})\(", text):
        depth, i = 1, match.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        returns = re.match(r"\s*->\s*([\w.]+)", text[i:])
        found.append((match.group(1), text[match.end() : i - 1], returns.group(1) if returns else None))
    return found


# --- the API section -----------------------------------------------------------------------------


def _signature_parts(function) -> list[tuple[str, str, object]]:
    return [
        (p.name, p.kind.name, p.default if p.default is not inspect.Parameter.empty else "<none>")
        for p in inspect.signature(function).parameters.values()
    ]


def _documented_parts(text: str) -> list[tuple[str, str, object]]:
    arguments = ast.parse(f"def f({text}): pass").body[0].args
    positional = arguments.posonlyargs + arguments.args
    defaults = [None] * (len(positional) - len(arguments.defaults)) + arguments.defaults
    parts = [
        (a.arg, "POSITIONAL_OR_KEYWORD", "<none>" if d is None else ast.literal_eval(d))
        for a, d in zip(positional, defaults)
    ]
    parts += [
        (a.arg, "KEYWORD_ONLY", "<none>" if d is None else ast.literal_eval(d))
        for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults)
    ]
    return parts


def test_every_signature_the_readme_gives_is_the_real_one_and_every_call_binds():
    """A `statelab.f(...)` written as a signature (with `*` or a return type) must be f's
    signature, parameter for parameter (names, keyword-only or not, defaults, return type); one
    written as a call must bind to it (a positional argument where only a keyword is taken fails)."""
    seen = {name: 0 for name in FUNCTIONS}
    for name, inside, returns in mentions(README.read_text()):
        function = getattr(statelab, name)
        shown = f"statelab.{name}({' '.join(inside.split())})"
        try:
            call = ast.parse(f"f({inside})", mode="eval").body
        except SyntaxError:
            call = None
        if returns is None and isinstance(call, ast.Call):
            placeholders = [object()] * len(call.args)
            try:
                inspect.signature(function).bind(*placeholders, **{k.arg: object() for k in call.keywords})
            except TypeError as error:
                pytest.fail(f"README calls {shown}, which does not bind: {error}")
            continue
        assert _documented_parts(inside) == _signature_parts(function), shown
        assert returns == inspect.signature(function).return_annotation, shown
        seen[name] += 1
    assert all(seen.values()), f"a signature of each function, got {seen}"


# --- the table of result columns -----------------------------------------------------------------


def test_the_table_of_result_columns_is_the_frame_column_for_column(tmp_path):
    Store.create(tmp_path / "s.sqlite").close()
    frame = statelab.load_results(tmp_path / "s.sqlite")
    text = section("From Python")
    table = text[text.index("| column | dtype | what |") :].split("\n\n")[0].splitlines()[2:]
    documented: dict[str, str] = {}
    for row in table:
        names, dtype = (cell.strip() for cell in row.strip("|").split("|")[:2])
        for name in re.findall(r"`([^`]+)`", names):
            stands_for = {"<model>": ("stateful", "stateless"), "<peer>": ("seasonal_naive", "ets", "arima")}
            columns = [name]
            for placeholder, values in stands_for.items():
                columns = (
                    [c.replace(placeholder, v) for c in columns for v in values]
                    if placeholder in name
                    else columns
                )
            for column in columns:
                assert column not in documented, f"{column} twice"
                documented[column] = dtype
    assert sorted(documented) == sorted(frame.columns)
    for column, dtype in documented.items():
        kind, _, choices = dtype.partition(": ")
        assert str(frame[column].dtype) == kind, (column, dtype, frame[column].dtype)
        if choices and "`" in choices:
            assert list(frame[column].cat.categories) == re.findall(r"`([^`]+)`", choices), column
    assert frame.index.name == "trial" and frame.index.dtype == "int64"


# --- commands, as a shell runs them --------------------------------------------------------------

NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:e[-+]?\d+)?", re.IGNORECASE)


def same_text(got: str, shown: str, what: str) -> None:
    """`got` reads as `shown`: the same words and layout, numbers within 5% (+ 0.005), run
    directories and times of day aside."""

    def normal(text: str) -> list[str]:
        text = re.sub(r"runs/\d{8}-\d{6}-[0-9a-f]{8}(-\d+)?", "runs/RUN", text)
        return [line.rstrip() for line in text.strip("\n").splitlines()]

    got_lines, shown_lines = normal(got), normal(shown)
    assert len(got_lines) == len(shown_lines), (
        f"{what}: {len(got_lines)} lines, the README shows {len(shown_lines)}\n{got}"
    )
    for mine, theirs in zip(got_lines, shown_lines):
        assert NUMBER.sub("#", mine) == NUMBER.sub("#", theirs), (
            f"{what}:\n  got    {mine!r}\n  README {theirs!r}"
        )
        for a, b in zip(NUMBER.findall(mine), NUMBER.findall(theirs)):
            x, y = float(a), float(b)
            assert abs(x - y) <= 0.05 * max(abs(x), abs(y)) + 0.005, (
                f"{what}:\n  got    {mine}\n  README {theirs}"
            )


@pytest.fixture
def shell(tmp_path):
    """run(command) -> CompletedProcess: bash in tmp_path, the README's activation line first,
    with a PATH that holds no virtual environment (so that only the activation can find one)."""
    activate = blocks(section("Using it"))[0][1].strip()
    assert activate == "source .venv/bin/activate"
    (tmp_path / ".venv").symlink_to(sys.prefix)  # the environment the tests run in
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "STATELAB_NO_CACHE")}
    env |= {"PATH": "/usr/bin:/bin", "STATELAB_CACHE_DIR": str(tmp_path / ".cache"), "PYTHONUNBUFFERED": "1"}

    def run(command: str, **popen) -> subprocess.CompletedProcess | subprocess.Popen:
        argv = ["bash", "-c", f"{activate} && {command}"]
        if popen:
            return subprocess.Popen(argv, cwd=tmp_path, env=env, text=True, **popen)
        return subprocess.run(argv, cwd=tmp_path, env=env, text=True, capture_output=True, timeout=900)

    run.path = tmp_path  # type: ignore[attr-defined]
    return run


def examples_of_bad_input() -> list[tuple[str, str]]:
    """(command, the one line it prints) of the `$ statelab ...` examples of "Using it" and of
    "Grid syntax"."""
    pairs = []
    for title in ("Using it", "Grid syntax"):
        for language, content in blocks(section(title)):
            lines = content.splitlines()
            if language in ("", "console") and lines and lines[0].startswith("$ statelab"):
                pairs += [(lines[i][2:], lines[i + 1]) for i in range(0, len(lines), 2)]
    return pairs


def test_bad_input_examples_print_the_line_the_readme_shows(shell):
    examples = examples_of_bad_input()
    assert len(examples) >= 5
    for command, line in examples:
        done = shell(command)
        assert (done.returncode, done.stderr.strip(), done.stdout) == (2, line, ""), command
    assert sorted(p.name for p in shell.path.iterdir()) == [".venv"]  # nothing written


def _files_the_commands_name(folder: Path) -> None:
    (folder / "exp.toml").write_text("tsteps = 3\nlahead = 2\n")
    write_frame(folder / "sensors.parquet", panel_frame(6, 120, seed=3))
    write_frame(folder / "new.csv", panel_frame(3, 12, seed=4))
    rng = np.random.default_rng(0)
    units = 100 + 10 * np.sin(np.arange(300) / 7) + rng.standard_normal(300)
    cells = [f"{u:.3f}" if i % 37 else "" for i, u in enumerate(units)]  # a few missing values
    (folder / "sales.csv").write_text("units\n" + "\n".join(cells) + "\n")


def _saved(stdout: str) -> str:
    return re.search(r"^Saved to (runs/\S+)/ ", stdout, re.MULTILINE).group(1)


@pytest.mark.slow
def test_every_command_of_using_it_runs_as_printed_once_the_venv_is_activated(shell):
    """Placeholders are filled in: RUN and the README's run names with the first run, RUN_DIR with
    the run over several series that `predict` reads; `serve` listens on a free port (a test may
    not take 8000) and is stopped by Ctrl-C once it prints its address."""
    _files_the_commands_name(shell.path)
    commands = [re.sub(r"\s+#\s.*$", "", line) for line in blocks(section("Using it"))[1][1].splitlines()]
    assert commands[0] == "statelab run" and len(commands) >= 19
    runs: dict[str, str] = {}
    for command in commands:
        if "runs" in runs:
            command = command.replace("runs/RUN/", runs["runs"] + "/")
            command = re.sub(r"runs/\d{8}-\d{6}-[0-9a-f]{8}", runs["runs"], command)
        if "RUN_DIR" in command:
            command = command.replace("RUN_DIR", runs["RUN_DIR"])
        if command.startswith("statelab serve"):
            server = shell(command + " --port 0", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                first = server.stdout.readline()
                server.send_signal(signal.SIGINT)
                server.communicate(timeout=60)
            finally:
                server.kill()
            assert first.startswith("statelab lab at http://127.0.0.1:"), first
            continue
        done = shell(command)
        assert done.returncode == 0, f"{command}\n{done.stderr}"
        if command == "statelab run" and "runs" not in runs:
            runs["runs"] = _saved(done.stdout)
            same_text(done.stdout, blocks(section("What the experiment shows"))[0][1], "statelab run")
        if "--series id" in command and command.startswith("statelab run"):
            runs["RUN_DIR"] = _saved(done.stdout)
    folder = shell.path
    assert (folder / "model.keras").is_file() and (folder / "state.json").is_file()
    assert (folder / "sweep-report" / "report.html").is_file()
    ran = sum(c.startswith(("statelab run", "python -m statelab run")) for c in commands)
    assert len([p for p in (folder / "runs").iterdir() if not p.name.startswith(".")]) == ran  # each whole


def test_the_quick_subsets_of_development_select_what_they_say():
    """Each command of the quick-subset block, collected only: it runs, the slow tests are left
    out of the first, and the last selects fewer tests than the module holds."""
    root = README.parent
    commands = blocks(section("Development"))[1][1].strip().splitlines()
    counts = []
    for command in commands:
        assert command.startswith(".venv/bin/python -m pytest"), command
        argv = [sys.executable, *shlex.split(command)[1:], "--collect-only", "-q", "-p", "no:cacheprovider"]
        done = subprocess.run(argv, cwd=root, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        summary = done.stdout.strip().splitlines()[-1]  # "12/300 tests collected (288 deselected) in ..."
        counts.append(int(re.match(r"(\d+)", summary).group(1)))
        if "not slow" in command:
            assert "deselected" in summary and "test_readme.py::test_the_python_examples" not in done.stdout
    assert counts[0] > counts[1] > counts[2] > 0


# --- the Python examples ---------------------------------------------------------------------------


@pytest.mark.slow
def test_the_python_examples_print_what_the_readme_shows(tmp_path, monkeypatch):
    """The code blocks of "From Python" run top to bottom as one script (the signatures aside);
    each one followed by an output block prints that output."""
    monkeypatch.chdir(tmp_path)
    found = blocks(section("From Python"))
    namespace: dict[str, object] = {}
    ran = 0
    for i, (language, code) in enumerate(found):
        if language != "python" or "->" in code:
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"README block {i}", "exec"), namespace)
        ran += 1
        if i + 1 < len(found) and found[i + 1][0] == "":
            same_text(out.getvalue(), found[i + 1][1], f"README block {i}")
    assert ran == 4
    assert isinstance(namespace["frame"], pd.DataFrame) and len(namespace["frame"]) == 50
