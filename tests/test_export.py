"""statelab export: a run's model as a Keras 3 file that predicts what statelab predicted.

Keras runs on its JAX backend here (KERAS_BACKEND is set before Keras is first imported). The
stateful model is fed window by window with `model(x)`: with Keras 3.15.1 on JAX, `predict` and
`predict_on_batch` do not carry a stateful layer's state from call to call.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax
import keras
import numpy as np
import pytest
from jax.experimental.compilation_cache import compilation_cache

from statelab import experiment, predict, rundir
from statelab.config import ConfigError, from_mapping
from statelab.export import export

SMALL = {"input_len": 120, "tsteps": 3, "lahead": 2, "units": 8, "epochs": 2}  # 24 test windows
CACHE_OPTIONS = (
    "jax_compilation_cache_dir",
    "jax_persistent_cache_min_compile_time_secs",
    "jax_persistent_cache_min_entry_size_bytes",
)


@pytest.fixture(scope="module", autouse=True)
def compiled_once(tmp_path_factory):
    """Keras on JAX compiles a recurrent layer's loop anew at every call of the model, the same
    program each time (about 0.4 s a call, most of this module's time). JAX's persistent cache, in
    a directory of this module's, makes every compile after the first a read of that program;
    the numbers are those of the same executable. The process's cache is put back afterwards."""
    before = {name: getattr(jax.config, name) for name in CACHE_OPTIONS}
    compilation_cache.reset_cache()
    jax.config.update("jax_compilation_cache_dir", str(tmp_path_factory.mktemp("jax-cache")))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    yield
    compilation_cache.reset_cache()
    for name, value in before.items():
        jax.config.update(name, value)


@pytest.fixture(scope="module", params=[("lstm", 2), ("gru", 2), ("simple", 2)], ids=str)
def trained(request, tmp_path_factory):
    cell, layers = request.param
    config = from_mapping({**SMALL, "cell": cell, "layers": layers})
    result = experiment.run_experiment(config)
    run_dir = tmp_path_factory.mktemp(f"export-{cell}-{layers}") / "run"
    run_dir.mkdir()
    rundir.save_result(result, run_dir)
    return config, result, run_dir


def test_backend_is_jax():
    assert keras.backend.backend() == "jax" and keras.__version__.startswith("3.")


@pytest.mark.slow
def test_the_stateful_model_fed_window_by_window_gives_statelabs_test_predictions(trained, tmp_path):
    config, result, run_dir = trained
    path = export(run_dir, tmp_path / "model.keras", model="stateful")
    model = keras.saving.load_model(path)
    assert model.layers[1].stateful and model.inputs[0].shape == (1, config.task.lahead, 1)
    windows = experiment.prepare(config).test.x[:, 0]  # (n_test, lahead, 1), the test stream
    got = np.array([float(model(w[None])[0, 0]) for w in windows])  # the state carried call to call
    np.testing.assert_allclose(got, result.test_pred["stateful"], rtol=0, atol=1e-5)
    assert np.max(np.abs(result.test_pred["stateful"])) > 1e-3  # a comparison of real numbers


def test_the_stateless_model_predicts_every_window_from_zero(trained, tmp_path):
    config, result, run_dir = trained
    model = keras.saving.load_model(export(run_dir, tmp_path / "model.keras", model="stateless"))
    windows = experiment.prepare(config).test.x[:, 0]
    got = model.predict(windows, verbose=0)[:, 0]  # all at once: no state to carry
    np.testing.assert_allclose(got, result.test_pred["stateless"], rtol=0, atol=1e-5)


@pytest.mark.slow
def test_reset_state_starts_the_stream_over(trained, tmp_path):
    config, _, run_dir = trained
    model = keras.saving.load_model(export(run_dir, tmp_path / "model.keras"))
    windows = experiment.prepare(config).test.x[:5, 0]
    first = [float(model(w[None])[0, 0]) for w in windows]
    for layer in model.layers:
        if hasattr(layer, "reset_state"):
            layer.reset_state()
    assert [float(model(w[None])[0, 0]) for w in windows] == first


@pytest.mark.slow
def test_a_real_series_export_reads_raw_features_and_predicts_in_the_targets_units(panel_run, tmp_path):
    """Standardisation is part of the exported model: raw values in, the target's units out, as
    the predictor; each series is its own stream (reset between series)."""
    result, run_dir = panel_run
    model = keras.saving.load_model(export(run_dir, tmp_path / "panel.keras", batch_size=2))
    assert model.inputs[0].shape == (2, 1, 2)  # two streams side by side
    rng = np.random.default_rng(4)
    streams = rng.standard_normal((2, 30, 2)) * 2 + 0.5
    predictor = predict.Predictor.from_result(result)
    expected = []
    for stream in streams:
        predictor.reset()
        expected.append(predictor.predict(stream))
    got = np.stack([np.asarray(model(streams[:, t][:, None].astype(np.float32)))[:, 0] for t in range(30)], 1)
    scale = result.data["scaling"]["y"]["scale"]
    np.testing.assert_allclose(got, np.stack(expected), rtol=0, atol=1e-5 * max(1.0, scale))


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--out", "{tmp}/m.h5"], "out must be a file name ending in .keras"),
        (["--out", "{tmp}/exists.keras"], "out must be a new file or one statelab wrote"),
        (["--out", "{tmp}/no/such/dir/m.keras"], "out must be in an existing directory"),
        (["--out", "{tmp}/m.keras", "--batch-size", "0"], "batch_size must be an integer >= 1, got '0'"),
        (["--out", "{tmp}/m.keras", "--format", "onnx"], "argument --format: invalid choice"),
    ],
)
def test_export_bad_input_is_one_line_and_writes_nothing(panel_run, tmp_path, run_cli, argv, words):
    _, run_dir = panel_run
    (tmp_path / "exists.keras").write_bytes(b"the user's own file")
    code, _, err = run_cli(["export", str(run_dir), *(a.format(tmp=tmp_path) for a in argv)])
    assert code == 2 and err.count("\n") == 1 and words in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists.keras"]
    assert (tmp_path / "exists.keras").read_bytes() == b"the user's own file"


def test_export_of_a_directory_without_a_run_is_an_error(tmp_path, run_cli):
    code, _, err = run_cli(["export", str(tmp_path), "--out", str(tmp_path / "m.keras")])
    assert code == 2 and "run_dir must hold a saved model" in err
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ConfigError, match="format must be one of keras"):
        export(tmp_path, tmp_path / "m.keras", format="tflite")


def test_export_command_writes_a_file_that_loads(panel_run, tmp_path, run_cli):
    _, run_dir = panel_run
    out = tmp_path / "m.keras"
    code, stdout, err = run_cli(["export", str(run_dir), "--model", "stateless", "--out", str(out)])
    assert code == 0, err
    assert "Saved the stateless model" in stdout
    # no temporary left over; the mark that lets a later export replace it
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.keras.statelab", "m.keras"]
    assert not keras.saving.load_model(out).layers[2].stateful


def test_export_leaves_a_users_file_of_any_name_alone_and_refuses_a_diverged_model(
    panel_run, tmp_path, run_cli
):
    _, run_dir = panel_run
    theirs = tmp_path / ".m.partial.keras"  # the name of an earlier fixed temporary
    theirs.write_bytes(b"the user's own file")
    code, _, err = run_cli(["export", str(run_dir), "--out", str(tmp_path / "m.keras")])
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.keras.statelab", ".m.partial.keras", "m.keras"]
    assert theirs.read_bytes() == b"the user's own file"
    diverged = experiment.run_experiment(from_mapping({**SMALL, "learning_rate": 1e30}))
    directory = tmp_path / "diverged"
    directory.mkdir()
    rundir.save_result(diverged, directory)
    code, _, err = run_cli(["export", str(directory), "--out", str(tmp_path / "d.keras")])
    assert code == 2 and "model must have finite weights" in err and not (tmp_path / "d.keras").exists()


def test_ctrl_c_during_export_exits_130_and_leaves_nothing(panel_run, tmp_path, run_cli, monkeypatch):
    import signal

    import statelab.export

    _, run_dir = panel_run
    real = statelab.export.keras_model

    def build_then_ctrl_c(*args, **kwargs):
        signal.raise_signal(signal.SIGINT)  # statelab's handler only sets its flag
        return real(*args, **kwargs)

    monkeypatch.setattr(statelab.export, "keras_model", build_then_ctrl_c)
    code, _, err = run_cli(["export", str(run_dir), "--out", str(tmp_path / "m.keras")])
    assert code == 130 and err.strip() == "statelab: interrupted"
    assert list(tmp_path.iterdir()) == []


def test_more_streams_than_memory_holds_is_a_one_line_error_not_an_allocation_failure(
    panel_run, tmp_path, run_cli
):
    _, run_dir = panel_run
    out = tmp_path / "m.keras"
    code, _, err = run_cli(["export", str(run_dir), "--out", str(out), "--batch-size", "100000000000"])
    assert code == 2 and err.count("\n") == 1, err
    assert "batch_size must be small enough for the stateful layers' states to fit in memory" in err
    assert list(tmp_path.iterdir()) == []


def test_an_export_replaces_its_own_file_but_a_users_only_with_overwrite(panel_run, tmp_path, run_cli):
    _, run_dir = panel_run
    out = tmp_path / "m.keras"
    argv = ["export", str(run_dir), "--out", str(out)]
    assert run_cli(argv)[0] == 0
    assert run_cli([*argv, "--model", "stateless"])[0] == 0  # its own file: replaced
    assert not keras.saving.load_model(out).layers[2].stateful
    out.write_bytes(out.read_bytes() + b" ")  # changed since: no longer provably statelab's
    code, _, err = run_cli(argv)
    assert code == 2 and "out must be a new file or one statelab wrote" in err and "--overwrite" in err
    assert out.read_bytes().endswith(b" ")
    assert run_cli([*argv, "--overwrite"])[0] == 0
    assert keras.saving.load_model(out).layers[2].stateful


def _offset_run(tmp_path, offset: float, scale: float):
    """A run on a file whose feature `a` is offset +- scale and whose target is far from 0."""
    from conftest import panel_frame, write_frame

    columns = panel_frame(3, 120, seed=5)
    columns["a"] = offset + scale * columns["a"]
    columns["b"] = 3e-9 + 1e-9 * columns["b"]  # a tiny scale too (Keras' Normalization floors it at 1e-7)
    columns["y"] = 2.5e6 + 4e5 * columns["y"]
    path = write_frame(tmp_path / "offset.csv", columns)
    config = {**PANEL, "data": str(path), "epochs": 2}
    result = experiment.run_experiment(from_mapping(config))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    rundir.save_result(result, run_dir)
    return result, run_dir, columns


PANEL = {
    "task": "file",
    "target": "y",
    "features": "a,b",
    "series": "id",
    "time": "time",
    "lahead": 2,
    "units": 8,
    "model_seed": 0,
}


def test_an_export_reproduces_statelab_on_features_of_large_scale_and_tiny_scale(tmp_path):
    """The standardisation is part of the model, exactly: raw values of scale 1e11 and 1e-9 in,
    the target's units (2.5e6 +- 4e5) out, as statelab's own predictor gives them."""
    result, run_dir, _ = _offset_run(tmp_path, offset=5e11, scale=1e11)
    model = keras.saving.load_model(export(run_dir, tmp_path / "m.keras", model="stateless"))
    rng = np.random.default_rng(1)
    raw = np.stack([5e11 + 1e11 * rng.standard_normal(40), 3e-9 + 1e-9 * rng.standard_normal(40)], 1)
    predictor = predict.Predictor.from_result(result, "stateless")
    expected = predictor.predict(raw)[1:]  # (39,) a full window from the second step on
    windows = np.stack([raw[t - 1 : t + 1] for t in range(1, 40)])  # (39, lahead, 2), oldest first
    got = model.predict(windows, verbose=0)[:, 0]
    scale = result.data["scaling"]["y"]["scale"]
    assert np.std(expected) > 1e-3 * scale  # predictions that move
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * scale)


def test_an_export_refuses_a_feature_whose_offset_float32_cannot_hold(tmp_path, run_cli):
    """1e9 +- 5: float32 rounds such values by up to 64, some 20 standard deviations; the export
    would predict silently wrong, so it is refused in one line naming the column."""
    _, run_dir, _ = _offset_run(tmp_path, offset=1e9, scale=5.0)
    out = tmp_path / "m.keras"
    code, _, err = run_cli(["export", str(run_dir), "--out", str(out)])
    assert code == 2 and err.count("\n") == 1, err
    assert "standardisation float32 can reproduce" in err and "column 'a'" in err
    assert not out.exists()
