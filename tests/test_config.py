"""config.py: every rule raises ConfigError naming the parameter and the value; mappings and
files build the same configs; the hash identifies a config, not its spelling."""

from __future__ import annotations

import dataclasses

import pytest

import statelab
from statelab.config import (
    ConfigError,
    ExperimentConfig,
    ModelConfig,
    TaskConfig,
    TrainConfig,
    flatten,
    from_mapping,
)
from statelab.configfile import load_toml
from statelab.grid import expand, grid_from_mapping
from statelab.identity import config_hash

SECTION = {"task": TaskConfig, "model": ModelConfig, "train": TrainConfig}
OWNER = {
    **dict.fromkeys(["task", "input_len", "tsteps", "lahead", "amplitude", "seed", "train_fraction"], "task"),
    **dict.fromkeys(["cell", "units", "layers", "model_seed"], "model"),
    **dict.fromkeys(
        ["batch_size", "epochs", "learning_rate", "layout", "window_order", "test_start"], "train"
    ),
}


def _build(name, value):
    return SECTION[OWNER[name]](**{name: value})


def _raises_naming(name, value, build=None):
    with pytest.raises(ConfigError) as info:
        (build or (lambda: _build(name, value)))()
    message = str(info.value)
    assert name in message, message
    assert repr(value) in message, message
    return message


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)
    assert statelab.ConfigError is ConfigError


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("input_len", 0),
        ("input_len", 1),
        ("input_len", -5),
        ("tsteps", 0),
        ("tsteps", -1),
        ("lahead", 0),
        ("seed", -1),
        ("units", 0),
        ("layers", 0),
        ("model_seed", -3),
        ("batch_size", 0),
        ("batch_size", -2),
        ("epochs", 0),
    ],
)
def test_sizes_below_their_minimum_are_rejected(name, value):
    _raises_naming(name, value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("tsteps", 2.0),
        ("tsteps", 2.5),
        ("lahead", "3"),
        ("units", 20.0),
        ("epochs", [10]),
        ("batch_size", 1.0),
        ("seed", 1986.0),
    ],
)
def test_non_integers_are_rejected_for_integer_fields(name, value):
    _raises_naming(name, value)


@pytest.mark.parametrize("name", ["tsteps", "lahead", "units", "layers", "batch_size", "epochs", "seed"])
def test_bools_are_not_integers(name):
    _raises_naming(name, True)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("amplitude", 0),
        ("amplitude", -0.1),
        ("amplitude", float("nan")),
        ("amplitude", float("inf")),
        ("amplitude", True),
        ("amplitude", "0.1"),
        ("learning_rate", 0.0),
        ("learning_rate", -1e-3),
        ("learning_rate", float("inf")),
    ],
)
def test_real_fields_must_be_finite_and_positive(name, value):
    _raises_naming(name, value)


@pytest.mark.parametrize("value", [0, 0.0, 1, 1.0, -0.2, 1.5, float("nan")])
def test_train_fraction_must_lie_strictly_between_zero_and_one(value):
    _raises_naming("train_fraction", value)


def test_train_fraction_leaving_no_training_row_is_rejected():
    # int(2 * 0.4) = 0 training rows.
    _raises_naming("train_fraction", 0.4, lambda: TaskConfig(input_len=2, train_fraction=0.4))


def test_train_fraction_leaving_one_test_row_rejects_tsteps_two():
    # int(1000 * 0.9999) = 999 leaves 1 test row, which has no full history for tsteps=2.
    _raises_naming("tsteps", 2, lambda: from_mapping({"input_len": 1000, "train_fraction": 0.9999}))


def test_smallest_documented_input_len_admits_a_config():
    # 2 rows: 1 train, 1 test; tsteps=1 needs no warm-up, so the test row is scored.
    task = TaskConfig(input_len=2, train_fraction=0.5, tsteps=1, lahead=1)
    assert (task.n_train, task.n_test) == (1, 1)


@pytest.mark.parametrize(
    ("name", "value", "other"),
    [
        ("tsteps", 11, {"input_len": 50}),  # 10 test rows: 10 warm-up rows would leave none
        ("tsteps", 3, {"input_len": 10}),  # 2 test rows
        ("lahead", 9, {"input_len": 10, "tsteps": 1}),  # 8 training rows
    ],
)
def test_windows_longer_than_the_data_allow_are_rejected(name, value, other):
    _raises_naming(name, value, lambda: from_mapping({name: value, **other}))


def test_largest_windows_the_data_allow_are_accepted():
    task = TaskConfig(input_len=10, tsteps=1, lahead=8)
    assert (task.n_train, task.n_test) == (8, 2)
    assert from_mapping({"input_len": 50, "tsteps": 10}).task.tsteps == 10  # one scored test row


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("cell", "LSTM"),
        ("cell", "transformer"),
        ("layout", "stream"),
        ("window_order", "newest"),
        ("test_start", "resume"),
        ("task", "sine"),
    ],
)
def test_unknown_choices_are_rejected(name, value):
    message = _raises_naming(name, value)
    assert "one of" in message


def test_batch_size_larger_than_the_training_rows_is_rejected():
    _raises_naming("batch_size", 9, lambda: from_mapping({"input_len": 10, "tsteps": 1, "batch_size": 9}))
    assert from_mapping({"input_len": 10, "tsteps": 1, "batch_size": 8}).train.batch_size == 8


def test_seed_layout_batch_size_must_fill_a_test_batch():
    # 100 rows, batch 60: the original trains on rows 0..59 and keeps rows 60..59 (none) for
    # testing, as 100 - 100 % 60 = 60.
    _raises_naming(
        "batch_size", 60, lambda: from_mapping({"input_len": 100, "batch_size": 60, "layout": "seed"})
    )
    # The streams layout reads the test at batch size 1 and accepts it.
    assert from_mapping({"input_len": 100, "batch_size": 60}).train.batch_size == 60


def test_seed_layout_accepts_every_config_the_original_can_batch():
    # 17 rows, batch 3: the original trains on 12 rows and tests on rows 12..14 (one full batch).
    config = from_mapping({"input_len": 17, "batch_size": 3, "layout": "seed"})
    from statelab.experiment import prepare

    assert prepare(config).test.row.shape == (1, 3)


def test_seed_beyond_numpy_range_is_a_config_error_or_works():
    try:
        task = TaskConfig(seed=2**32)
    except ConfigError as exc:
        assert "seed" in str(exc) and str(2**32) in str(exc)
        return
    task.record.generate(task)


def test_largest_numpy_seed_works():
    task = TaskConfig(input_len=10, tsteps=1, seed=2**32 - 1)
    assert task.record.generate(task).series[0].x.shape == (10, 1)


def test_configs_are_frozen():
    config = ExperimentConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.task.tsteps = 3  # type: ignore[misc]


# --------------------------------------------------------------------------------------------
# Mappings and files


FLAT = {"tsteps": 3, "lahead": 2, "units": 8, "batch_size": 4, "layout": "seed", "amplitude": 0.5}
NESTED = {
    "task": {"tsteps": 3, "lahead": 2, "amplitude": 0.5},
    "model": {"units": 8},
    "train": {"batch_size": 4, "layout": "seed"},
}


def test_flat_and_nested_mappings_give_equal_configs():
    flat, nested = from_mapping(FLAT), from_mapping(NESTED)
    mixed = from_mapping(
        {
            "tsteps": 3,
            "lahead": 2,
            "amplitude": 0.5,
            "model": {"units": 8},
            "train": {"batch_size": 4},
            "layout": "seed",
        }
    )
    assert flat == nested == mixed
    assert flat != ExperimentConfig()
    assert (flat.task.tsteps, flat.model.units, flat.train.layout) == (3, 8, "seed")
    assert config_hash(flat) == config_hash(nested)


def test_to_dict_round_trips_through_from_mapping():
    config = from_mapping(FLAT)
    assert from_mapping(config.to_dict()) == config
    assert from_mapping(flatten(config)) == config


def test_task_name_is_accepted_flat_and_nested():
    assert from_mapping({"task": "moving-average"}) == ExperimentConfig()
    assert from_mapping({"task": {"task": "moving-average"}}) == ExperimentConfig()


@pytest.mark.parametrize("key", ["tstep", "hidden", "lr", "stateful"])
def test_unknown_flat_keys_are_rejected(key):
    with pytest.raises(ConfigError, match=key):
        from_mapping({"tsteps": 2, key: 1})


@pytest.mark.parametrize(
    ("mapping", "named"),
    [
        ({"task": {"units": 8}}, "units"),  # a real field, in the wrong section
        ({"model": {"tstep": 3}}, "tstep"),
        ({"train": {"epochs": 2, "momentum": 0.9}}, "momentum"),
        ({"optimizer": {"learning_rate": 1e-3}}, "optimizer"),
    ],
)
def test_unknown_nested_keys_are_rejected(mapping, named):
    with pytest.raises(ConfigError, match=named):
        from_mapping(mapping)


def test_replace_validates_again():
    config = ExperimentConfig()
    assert config.replace(tsteps=3).task.tsteps == 3
    assert config.task.tsteps == 2
    _raises_naming("tsteps", 0, lambda: config.replace(tsteps=0))
    with pytest.raises(ConfigError, match="bogus"):
        config.replace(bogus=1)


def test_integer_and_float_amplitude_hash_alike():
    one, one_float = TaskConfig(amplitude=1), TaskConfig(amplitude=1.0)
    assert isinstance(one.amplitude, float)
    a, b = ExperimentConfig(task=one), ExperimentConfig(task=one_float)
    assert a == b
    assert config_hash(a) == config_hash(b)
    assert config_hash(a) != config_hash(ExperimentConfig(task=TaskConfig(amplitude=2)))
    c = ExperimentConfig(train=TrainConfig(learning_rate=1))
    assert config_hash(c) == config_hash(ExperimentConfig(train=TrainConfig(learning_rate=1.0)))


def test_hash_changes_with_every_field():
    base = ExperimentConfig()
    changed = {
        "input_len": 999,
        "tsteps": 3,
        "lahead": 2,
        "amplitude": 0.2,
        "seed": 1,
        "train_fraction": 0.7,
        "cell": "gru",
        "units": 19,
        "layers": 2,
        "model_seed": 1,
        "batch_size": 2,
        "epochs": 9,
        "learning_rate": 2e-3,
        "layout": "seed",
        "window_order": "newest-first",
        "test_start": "continue",
    }
    hashes = {config_hash(base)} | {config_hash(base.replace(**{k: v})) for k, v in changed.items()}
    assert len(hashes) == len(changed) + 1


def test_load_toml_reads_flat_and_nested_files(tmp_path):
    flat = tmp_path / "flat.toml"
    flat.write_text('tsteps = 3\nlahead = 2\nunits = 8\nbatch_size = 4\nlayout = "seed"\namplitude = 0.5\n')
    nested = tmp_path / "nested.toml"
    nested.write_text(
        "[task]\ntsteps = 3\nlahead = 2\namplitude = 0.5\n\n[model]\nunits = 8\n\n"
        '[train]\nbatch_size = 4\nlayout = "seed"\n'
    )
    assert load_toml(flat) == FLAT
    assert from_mapping(load_toml(flat)) == from_mapping(load_toml(str(nested))) == from_mapping(FLAT)


def test_load_toml_unknown_key_surfaces_in_from_mapping(tmp_path):
    path = tmp_path / "typo.toml"
    path.write_text("[task]\ntstep = 3\n")
    with pytest.raises(ConfigError, match="tstep"):
        from_mapping(load_toml(path))


@pytest.mark.parametrize("text", ["tsteps = \n", "tsteps = 3\ntsteps = 4\n", "[task\n", "tsteps: 3\n"])
def test_load_toml_rejects_malformed_files(tmp_path, text):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_toml(path)
    assert str(path) in str(info.value)
    assert "TOML" in str(info.value)


def test_load_toml_rejects_missing_and_unreadable_paths(tmp_path):
    for path in (tmp_path / "missing.toml", tmp_path):  # absent, and a directory
        with pytest.raises(ConfigError) as info:
            load_toml(path)
        assert str(path) in str(info.value)


def test_load_toml_rejects_a_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "binary.toml"
    path.write_bytes(b"tsteps = 3\n\xff\xfe\x00\n")
    with pytest.raises(ConfigError) as info:
        load_toml(path)
    assert str(path) in str(info.value)


def test_unset_task_parameters_take_the_reference_defaults():
    task = TaskConfig(input_len=None, tsteps=None, amplitude=None, seed=None)
    assert (task.input_len, task.tsteps, task.amplitude, task.seed) == (1000, 2, 0.1, 1986)
    assert task == TaskConfig()


@pytest.mark.parametrize(("name", "value"), [("delay", 3), ("alpha", 0.5), ("data", "x.csv")])
def test_parameters_of_other_tasks_are_rejected(name, value):
    # (a data file with no task named means the file task: tests/test_forecast.py)
    _raises_naming(name, value, lambda: TaskConfig(task="moving-average", **{name: value}))


def test_seeds_and_epochs_beyond_what_can_be_stored_or_finished_are_refused():
    with pytest.raises(ConfigError, match=r"^model_seed must be an integer in \[0, 9223372036854775807\]"):
        from_mapping({"model_seed": 10**23})
    with pytest.raises(ConfigError, match=r"^epochs must be an integer in \[1, 1000000\], got 10000000000$"):
        from_mapping({"epochs": 10**10})
    with pytest.raises(ConfigError, match="model_seed must be an integer in"):  # a sweep's replicate
        expand(grid_from_mapping({"model_seed": 2**63 - 1}, seeds=2))
