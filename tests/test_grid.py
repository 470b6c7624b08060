"""grid.py: the grid syntax of the command line and of grid files, Python values, expansion."""

from __future__ import annotations

import pytest

from statelab import ConfigError
from statelab import grid as gr
from statelab.identity import config_hash


@pytest.mark.parametrize(
    ("name", "text", "values"),
    [
        ("tsteps", "1:6", (1, 2, 3, 4, 5)),
        ("tsteps", "3", (3,)),
        ("batch_size", "1,16", (1, 16)),
        ("lahead", "1:4,8", (1, 2, 3, 8)),
        ("lahead", "1:10:3", (1, 4, 7)),
        ("lahead", "5:1:-2", (5, 3)),
        ("lahead", "2,2,1", (2, 1)),
        ("amplitude", "0.1:0.4:0.1", (0.1, 0.2, 0.3)),
        ("learning_rate", "1e-3,0.01", (0.001, 0.01)),
        ("cell", "lstm, gru", ("lstm", "gru")),
    ],
)
def test_parse_values_reads_lists_and_half_open_ranges(name, text, values):
    assert gr.parse_values(name, text) == values


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("tsteps", "5:1", r"^tsteps must be a non-empty range .*, got '5:1'$"),
        ("tsteps", "3:3", r"^tsteps must be a non-empty range"),
        ("tsteps", "1:5:0", r"^tsteps must be a range a:b\[:step\] with a non-zero step, got '1:5:0'$"),
        (
            "tsteps",
            "a",
            r"^tsteps must be a value, a comma list, or a range a:b\[:step\] of integers, got 'a'$",
        ),
        ("tsteps", "1.5", r"^tsteps must be .* of integers, got '1.5'$"),
        ("tsteps", "1:2:3:4", r"^tsteps must be a value, a comma list, or a range"),
        ("tsteps", "1,,2", r"^tsteps must be a value, a comma list, or a range a:b\[:step\], got '1,,2'$"),
        ("amplitude", "0.1:x", r"^amplitude must be .* of numbers, got '0.1:x'$"),
        ("nonsense", "1", r"^unknown parameter nonsense = '1'$"),
    ],
)
def test_parse_values_rejects_bad_text_naming_the_parameter(name, text, message):
    with pytest.raises(ConfigError, match=message):
        gr.parse_values(name, text)


def test_grid_file_reads_ranges_lists_scalars_sections_and_seeds(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text(
        'seeds = 3\ntsteps = "1:4"\nlahead = [1, 2]\nepochs = 2\n[train]\nbatch_size = [1, 16]\n'
        '[model]\ncell = "gru"\n'
    )
    grid = gr.load_grid(path)
    assert grid.seeds == 3
    assert grid.axes == {
        "tsteps": (1, 2, 3),
        "lahead": (1, 2),
        "epochs": (2,),
        "batch_size": (1, 16),
        "cell": ("gru",),
    }
    assert grid.n_points == 12


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tsteps = []", r"^tsteps must be a non-empty list of values, got \[\]$"),
        ('tsteps = "4:2"', r"^tsteps must be a non-empty range"),
        ('tsteps = "x"', r"^tsteps must be .* of integers, got 'x'$"),
        ("tsteps = 1.5", r"^tsteps must be an integer or a list of them, got 1.5$"),
        ('tsteps = [1, "a"]', r"^tsteps must be an integer or a list of them, got \[1, 'a'\]$"),
        ("tsteps = true", r"^tsteps must be an integer or a list of them, got True$"),
        ("cell = 3", r"^cell must be a string or a list of them, got 3$"),
        ("colour = [1, 2]", r"^unknown parameter colour = \[1, 2\]$"),
        ("[task]\nunits = 3", r"^unknown parameter task.units = 3$"),
        ("seeds = 0", r"^seeds must be an integer >= 1, got 0$"),
        ("tsteps = [1, 2", r"^config must be valid TOML"),
    ],
)
def test_grid_file_rejects_bad_grids(tmp_path, text, message):
    path = tmp_path / "grid.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError, match=message):
        gr.load_grid(path)


def test_flags_override_the_grid_file_per_parameter(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text('tsteps = "1:4"\nlahead = [1, 2]\nseeds = 2\n')
    grid = gr.grid_from_inputs({"tsteps": "5", "lahead": None, "units": None}, seeds="4", grid_file=path)
    assert grid.axes == {"tsteps": (5,), "lahead": (1, 2)}
    assert grid.seeds == 4


def test_expand_gives_every_point_times_seeds_with_shifted_seeds():
    grid = gr.grid_from_inputs({"tsteps": "1:3", "lahead": "1,2", "model_seed": "10"}, seeds=3)
    configs = gr.expand(grid)
    assert len(configs) == 2 * 2 * 3
    assert len({config_hash(c) for c in configs}) == len(configs)
    point = [c for c in configs if c.task.tsteps == 2 and c.task.lahead == 1]
    assert [(c.task.seed, c.model.model_seed) for c in point] == [(1986, 10), (1987, 11), (1988, 12)]


def test_expand_names_the_invalid_grid_point():
    grid = gr.grid_from_inputs({"input_len": "20", "tsteps": "1,3,9"})
    with pytest.raises(
        ConfigError,
        match=r"^tsteps must be .*, got 9 \(at grid point input_len=20, tsteps=9\)$",
    ):
        gr.expand(grid)


def test_task_parameters_apply_only_to_the_tasks_that_take_them():
    grid = gr.Grid(
        axes={
            "task": ("moving-average", "delay", "ema"),
            "tsteps": (2, 3),
            "delay": (1, 2),
            "cell": ("lstm", "gru"),
        },
        seeds=1,
    )
    configs = gr.expand(grid)
    kinds = sorted((c.task.task, c.task.tsteps, c.task.delay, c.model.cell) for c in configs)
    assert kinds == sorted(
        [("moving-average", t, None, cell) for t in (2, 3) for cell in ("lstm", "gru")]
        + [("delay", None, d, cell) for d in (1, 2) for cell in ("lstm", "gru")]
        + [("ema", None, None, cell) for cell in ("lstm", "gru")]
    )
    # With one task, a parameter it does not take is still an error.
    with pytest.raises(ConfigError, match="tsteps is not a parameter of task delay"):
        gr.expand(gr.Grid(axes={"task": ("delay",), "tsteps": (2, 3)}))


def test_a_string_in_a_grid_file_or_from_python_reads_as_the_flags_text_for_words_too(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text('cell = "lstm,gru"\ntask = "moving-average, delay"\ntsteps = 2\n')
    assert gr.load_grid(path).axes["cell"] == gr.parse_values("cell", "lstm,gru") == ("lstm", "gru")
    assert gr.load_grid(path).axes["task"] == ("moving-average", "delay")
    grid = gr.grid_from_mapping({"cell": "gru, simple", "target": ["a,b"]})
    assert grid.axes["cell"] == ("gru", "simple") and grid.axes["target"] == ("a,b",)  # a list: as is


def test_the_point_count_of_a_grid_of_several_tasks_counts_each_point_once():
    grid = gr.grid_from_mapping(
        {"task": ["ar", "moving-average"], "ar_coefs": [[0.5], [0.3]], "tsteps": [2, 3]}
    )
    assert grid.n_points == len(gr.expand(grid)) == 4  # ar at 2 coefficient lists, moving-average at 2 tsteps
    assert gr.grid_from_mapping({"tsteps": [2, 3], "lahead": [1, 2]}, seeds=2).n_points == 4


def test_a_task_parameter_no_task_of_the_grid_takes_is_an_error_not_dropped():
    grid = gr.grid_from_mapping({"task": ["delay", "ema"], "tsteps": [2, 3]})
    with pytest.raises(
        ConfigError, match=r"^tsteps is not a parameter of any task of the grid \(delay, ema\), got \[2, 3\]$"
    ):
        gr.expand(grid)
    assert len(gr.expand(gr.grid_from_mapping({"task": ["delay", "moving-average"], "tsteps": [2, 3]}))) == 3


def test_a_runs_config_json_is_a_grid_of_that_one_config(tmp_path):
    import json

    from statelab.config import from_mapping

    config = from_mapping({"task": "delay", "delay": 2, "cell": "gru", "input_len": 300})
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config.to_dict()))  # as a run writes it: nulls for unset parameters
    (only,) = gr.expand(gr.load_grid(path))
    assert config_hash(only) == config_hash(config)
    replicated = gr.expand(gr.grid_from_inputs({}, seeds=3, grid_file=path))
    assert [c.model.model_seed for c in replicated] == [0, 1, 2]
    with pytest.raises(ConfigError, match=r"^unknown parameter colour = None$"):
        gr.grid_from_mapping({"colour": None})


class Huge:
    """A sequence of a billion values that must never be read: its size is all a check needs."""

    def __len__(self) -> int:
        return 10**9

    def __iter__(self):
        raise AssertionError("an axis was built before its size was checked")

    def __getitem__(self, i):
        raise AssertionError("an axis was built before its size was checked")


@pytest.mark.parametrize(
    "axis",
    [range(1, 10**9), range(1, 10**7), range(10**20), Huge(), iter(range(10**9))],
    ids=["range 1e9", "range 1e7", "range beyond sys.maxsize", "a sized sequence", "an iterator"],
)
def test_an_axis_beyond_the_limit_is_refused_before_it_is_built(axis, tmp_path):
    import statelab

    with pytest.raises(ConfigError, match=rf"^tsteps must have at most {gr.MAX_AXIS_VALUES} values, got "):
        statelab.sweep({"tsteps": axis}, store=tmp_path / "s.sqlite", progress=False)
    with pytest.raises(ConfigError, match="at most"):
        gr.axis_values("lahead", axis if not hasattr(axis, "__next__") else iter(range(10**9)))
    assert list(tmp_path.iterdir()) == []


def test_an_axis_at_the_limit_is_taken():
    assert len(gr.axis_values("tsteps", range(1, gr.MAX_AXIS_VALUES + 1))) == gr.MAX_AXIS_VALUES
