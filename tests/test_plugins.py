"""The seams: a new task with a parameter of its own is one record, registered; a new executor is
one class. Each is taken end to end, from the command line, by the rest of statelab unchanged."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pytest

from statelab import executors, tasks
from statelab.params import Param, check_int
from statelab.tasks.base import Series, Task, TaskData, TaskView

# --- a throwaway task: the target is the input `echo` steps back, plus its own value ----------

ECHO = Param(
    "echo",
    "int",
    2,
    "echo: the target adds the input this many steps back",
    lambda v: check_int("echo", v, 1, 50),
)
ROWS = Param(
    "input_len", "int", 400, "synthetic tasks: rows of data", lambda v: check_int("input_len", v, 10)
)


def _echo_generate(task: TaskView) -> TaskData:
    n_drop = max(task.echo, task.lahead - 1)
    x = np.random.RandomState(7).uniform(-1, 1, task.input_len + n_drop)
    y = np.full(len(x), np.nan)
    y[task.echo :] = 0.5 * (x[task.echo :] + x[: -task.echo])
    return TaskData([Series(x=x[:, None], y=y, last=x, to_drop=n_drop)])


def _echo_why(task: TaskView, metrics: Mapping[str, Any]) -> str:
    return f"The target is the mean of x[t] and its echo {task.echo} steps back."


ECHO_TASK = Task(
    name="echo-test",
    summary="the mean of the input and its echo",
    params=(ROWS, ECHO),
    generate=_echo_generate,
    describe=lambda t: f"the target is the mean of x[t] and x[t-{t.echo}]",
    why=_echo_why,
    to_drop=lambda t: max(t.echo, t.lahead - 1),
)


@pytest.fixture
def echo_task() -> Iterator[Task]:
    tasks.register(ECHO_TASK)
    try:
        yield ECHO_TASK
    finally:
        tasks.unregister(ECHO_TASK.name)


def test_a_registered_task_with_its_own_parameter_runs_end_to_end_from_the_command_line(
    echo_task, run_cli, tmp_path
):
    code, out, err = run_cli(["run", "--help"])
    assert code == 0 and "--echo" in out and "echo: the target adds the input" in out

    code, out, err = run_cli(
        ["run", "--task", "echo-test", "--echo", "3", "--epochs", "1", "--out", str(tmp_path / "run")]
    )
    assert code == 0, err
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["task"]["task"] == "echo-test" and config["task"]["echo"] == 3
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["models"]["stateful"]["test_nmse"] is not None
    report = (tmp_path / "run" / "report.html").read_text()
    assert "its echo 3 steps back" in report  # the record's own paragraph


def test_a_registered_tasks_parameter_is_validated_and_refused_elsewhere(echo_task, run_cli, tmp_path):
    code, _, err = run_cli(["run", "--task", "echo-test", "--echo", "0", "--out", str(tmp_path / "a")])
    assert code == 2 and err.strip() == "statelab: error: echo must be an integer in [1, 50], got 0"
    code, _, err = run_cli(["run", "--echo", "3", "--out", str(tmp_path / "b")])
    assert code == 2 and "echo is not a parameter of task moving-average" in err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_registered_tasks_parameter_is_a_grid_axis_and_a_lab_field(echo_task, run_cli, tmp_path):
    from statelab.web.views import params_view

    store = tmp_path / "echo.sqlite"
    code, _, err = run_cli(
        [
            "sweep",
            "--task",
            "echo-test",
            "--echo",
            "1,4",
            "--epochs",
            "1",
            "--store",
            str(store),
            "--no-cache",
        ]
    )
    assert code == 0, err
    import statelab

    frame = statelab.load_results(store)
    assert sorted(frame["echo"].tolist()) == [1, 4]
    fields = {f["name"]: f for f in params_view()["fields"]}
    assert fields["echo"]["tasks"] == {"echo-test": "2"} and fields["echo"]["kind"] == "int"


def test_a_task_name_or_parameter_that_clashes_is_refused_at_registration():
    with pytest.raises(ValueError, match="taken"):
        tasks.register(tasks.get("delay"))
    clash = Task(
        name="clash-test",
        summary="",
        params=(Param("lahead", "int", 1, "", int),),
        generate=_echo_generate,
        describe=str,
        why=_echo_why,
    )
    with pytest.raises(ValueError, match="lahead"):
        tasks.register(clash)
    assert "clash-test" not in tasks.TASKS


# --- a toy executor: one class, and every front end takes it ------------------------------------


@dataclass(frozen=True)
class Backwards(executors.Executor):
    """Runs a sweep's groups in this process, last group first: enough to show the seam."""

    scheme: ClassVar[str] = "backwards"
    syntax: ClassVar[str] = ""
    opened: ClassVar[list[str]] = []

    @classmethod
    def from_spec(cls, rest: str, name: str) -> Backwards:
        return cls()

    @property
    def spec(self) -> str:
        return "backwards"

    @contextmanager
    def open(self, cache_dir=None, on_status=None) -> Iterator[Any]:
        Backwards.opened.append(self.spec)
        yield _BackwardsRunner()


class _BackwardsRunner:
    description = "in-process, backwards"

    def run(self, groups, on_epoch=None):
        from statelab.trials import run_group

        for i in reversed(range(len(groups))):
            yield i, run_group(groups[i])


def test_a_new_executor_is_one_class_that_the_command_line_and_python_take(run_cli, tmp_path):
    import statelab

    assert executors.Executor.parse("backwards") == Backwards()
    grid = ["--tsteps", "1,2", "--lahead", "1,2", "--input-len", "100", "--epochs", "1", "--no-cache"]
    code, out, err = run_cli(
        ["sweep", *grid, "--executor", "backwards", "--store", str(tmp_path / "a.sqlite")]
    )
    assert code == 0, err
    assert "(in-process, backwards)" in out
    frame = statelab.sweep(
        {"tsteps": [1, 2], "lahead": [1, 2], "input_len": 100, "epochs": 1},
        store=tmp_path / "b.sqlite",
        executor=Backwards(),
        progress=False,
        cache=False,
    )
    assert Backwards.opened == ["backwards", "backwards"]
    inline = statelab.load_results(tmp_path / "a.sqlite")
    columns = ["stateful_test_nmse", "stateless_test_nmse"]
    assert np.array_equal(frame[columns].to_numpy(), inline[columns].to_numpy())  # bit for bit


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nowhere:3", "executor must be one of "),
        ("local:0", "executor must be an integer >= 1, got '0'"),
        ("inline:x", "executor must be an integer >= 1, got 'x'"),
        ("dask://", "executor must be dask://HOST:PORT, got 'dask://'"),
        ("dask://h:1?wait=3", "executor must take only ?timeout=SECONDS"),
    ],
)
def test_a_bad_executor_is_one_line_naming_the_kinds(spec, message, run_cli, tmp_path):
    code, _, err = run_cli(["sweep", "--executor", spec, "--store", str(tmp_path / "s.sqlite")])
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "s.sqlite").exists()


@pytest.mark.parametrize(
    "value",
    [
        executors.Inline(),
        executors.Inline(3),
        executors.LocalDask(1),
        executors.DaskCluster("tcp://h:8786", 30.0),
    ],
)
def test_an_executor_reads_back_from_its_spec(value):
    assert executors.Executor.parse(value.spec) == value
    assert executors.Executor.parse("tcp://h:8786") == executors.DaskCluster("tcp://h:8786")
