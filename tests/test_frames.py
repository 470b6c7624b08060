"""Results and histories as DataFrames: rows in grid order, every column, filters, failed trials.

The stores here are written by real sweeps (small configs: 200 rows, 2 epochs)."""

from __future__ import annotations

import json
import math
import sqlite3

import pandas as pd
import pytest

import statelab
from conftest import SMALL_GRID_ORDER
from statelab import ConfigError, experiment, frames
from statelab.config import FIELD_SECTION, from_mapping
from statelab.store import Store


def test_results_have_one_row_per_trial_in_grid_order_with_every_config_field(small_sweep):
    frame = statelab.load_results(small_sweep.store)
    assert list(frame.index) == list(range(12)) and frame.index.name == "trial"
    got = [
        (r.task, r.tsteps, r.delay, r.lahead, r.seed, r.model_seed)
        for r in frame[["task", "tsteps", "delay", "lahead", "seed", "model_seed"]]
        .astype(object)
        .where(frame.notna(), None)
        .itertuples()
    ]
    assert got == SMALL_GRID_ORDER
    assert set(FIELD_SECTION) <= set(frame.columns)
    assert (
        (frame["input_len"] == 200).all() and (frame["epochs"] == 2).all() and (frame["cell"] == "lstm").all()
    )
    # A task parameter the trial's task does not take is missing, not a number.
    assert frame.loc[frame.task == "delay", "tsteps"].isna().all()
    assert frame.loc[frame.task == "moving-average", "delay"].isna().all()


def test_load_results_of_an_open_store_and_the_sweep_return_the_same_frame(small_sweep):
    with Store.open(small_sweep.store) as store:
        pd.testing.assert_frame_equal(statelab.load_results(store), statelab.load_results(small_sweep.store))
        pd.testing.assert_frame_equal(statelab.load_results(store), small_sweep.frame)


def test_results_hold_each_models_metrics_as_stored_and_the_analytic_floors(small_sweep):
    frame = statelab.load_results(small_sweep.store)
    db = sqlite3.connect(small_sweep.store)
    stored = {h: json.loads(m) for h, m in db.execute("SELECT config_hash, metrics FROM trials")}
    for row in frame.itertuples():
        metrics = stored[row.config_hash]
        for model in ("stateful", "stateless"):
            m = metrics["models"][model]
            assert getattr(row, f"{model}_test_mse") == m["test_mse"]
            assert getattr(row, f"{model}_test_nmse") == m["test_nmse"]
            assert getattr(row, f"{model}_converged") == m["converged"]
            span = getattr(row, f"{model}_span")  # <NA> where a profile has none (diffuse)
            assert (pd.isna(span) and m["memory"]["span"] is None) or span == m["memory"]["span"]
            assert getattr(row, f"{model}_expected") == m["expected"]
            # The state capacity's total: a number of at most the state size (20 units: h and c).
            assert getattr(row, f"{model}_capacity") == m["memory"]["capacity"]["total"]
            assert 0.0 < getattr(row, f"{model}_capacity") <= m["memory"]["capacity"]["state_size"] == 40
        assert row.linear_ar_nmse == metrics["baselines"]["linear_ar"]["test_nmse"]
        assert row.stateful_test_nmse == pytest.approx(row.stateful_test_mse / row.var_y)
        # The stateless floor from theory: (tsteps - lahead) / tsteps for the moving average,
        # the whole variance for a delay the window does not reach.
        if row.task == "moving-average":
            expected = max(row.tsteps - row.lahead, 0) / row.tsteps
        else:
            expected = 1.0 if row.lahead <= row.delay else 0.0
        assert row.stateless_floor_nmse == pytest.approx(expected)
        assert row.stateful_floor_nmse == 0.0
        assert row.status == "ok" and pd.isna(row.error) and row.group_size >= 1 and row.train_s > 0
    assert frame["stateful_converged"].dtype == "boolean" and frame["units"].dtype == "Int64"
    assert frame["stateful_capacity"].dtype == "Float64"
    view = dict(db.execute("SELECT config_hash, stateless_capacity FROM results").fetchall())
    assert view == dict(zip(frame.config_hash, frame.stateless_capacity))


def test_where_keeps_the_trials_that_match_and_keeps_their_trial_numbers(small_sweep):
    everything = statelab.load_results(small_sweep.store)
    picked = statelab.load_results(small_sweep.store, where={"task": "moving-average", "lahead": 1})
    assert list(picked.index) == [2, 3, 6, 7]
    pd.testing.assert_frame_equal(picked, everything.loc[[2, 3, 6, 7]])
    several = statelab.load_results(small_sweep.store, where={"tsteps": [2], "seed": range(1986, 1988)})
    assert list(several.index) == [4, 5, 6, 7]
    assert statelab.load_results(small_sweep.store, where={"cell": "gru"}).empty


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ({"colour": "red"}, "unknown parameter colour = 'red'"),
        ({"lahead": 1.5}, "lahead must be an integer or a list of them, got 1.5"),
        ({"cell": 3}, "cell must be a string or a list of them, got 3"),
        (["cell", "gru"], "where must be a mapping of config fields to values, got ['cell', 'gru']"),
        # values no config can hold: the allowed ones are named
        ({"cell": "gruu"}, "cell must be one of lstm, gru, simple, got 'gruu'"),
        ({"cell": ["lstm", "gruu"]}, "cell must be one of lstm, gru, simple, got 'gruu'"),
        ({"layout": "rows"}, "layout must be one of streams, seed, got 'rows'"),
        ({"missing": "skip"}, "missing must be one of error, drop, interpolate, got 'skip'"),
        (
            {"task": "sunspotz"},
            "task must be one of moving-average, delay, ema, ar, sunspots, file, macrodata",
        ),
        ({"lahead": 0}, "lahead must be an integer >= 1, got 0"),
        ({"epochs": 0}, "epochs must be an integer in [1, 1000000], got 0"),
        ({"train_fraction": 1.5}, "train_fraction must be in (0, 1), got 1.5"),
        ({"tsteps": -1}, "tsteps must be an integer >= 1, got -1"),
    ],
)
def test_where_on_an_unknown_field_a_wrong_type_or_an_impossible_value_is_a_config_error(
    small_sweep, where, message
):
    with pytest.raises(ConfigError) as error:
        statelab.load_results(small_sweep.store, where=where)
    assert str(error.value).startswith(message), error.value
    with pytest.raises(ConfigError):
        statelab.load_history(small_sweep.store, where=where)


@pytest.mark.parametrize(
    "where", [{"cell": "gru"}, {"task": "sunspots"}, {"layout": "seed"}, {"lahead": 7}, {"tsteps": [5, 6]}]
)
def test_where_on_a_possible_value_no_trial_has_is_an_empty_frame_with_every_column(small_sweep, where):
    everything = statelab.load_results(small_sweep.store)
    none = statelab.load_results(small_sweep.store, where=where)
    assert none.empty and list(none.columns) == list(everything.columns)
    assert dict(none.dtypes) == dict(everything.dtypes)
    assert statelab.load_history(small_sweep.store, where=where).empty


def test_every_column_has_a_proper_dtype_and_a_filter_keeps_the_categories(small_sweep):
    frame = statelab.load_results(small_sweep.store)
    objects = [name for name, dtype in frame.dtypes.items() if str(dtype) == "object"]
    assert objects == ["ar_coefs", "features", "peers"]  # tuples: see the README's table of columns
    for name in ("status", "task", "cell", "layout", "window_order", "test_start", "missing"):
        assert isinstance(frame[name].dtype, pd.CategoricalDtype), name
    assert list(frame["cell"].cat.categories) == ["lstm", "gru", "simple"]
    assert list(frame["status"].cat.categories) == ["ok", "error"]
    assert frame["task"].cat.categories[0] == "moving-average" and "sunspots" in frame["task"].cat.categories
    assert {str(frame[c].dtype) for c in ("config_hash", "data", "target", "error", "worker")} == {"string"}
    assert frame["finished_at"].dtype == "datetime64[ns, UTC]" and frame["finished_at"].notna().all()
    assert frame["alpha"].dtype == "Float64" and frame["stateful_span"].dtype == "Int64"
    # A group-by on a choice field gives the values present; a filtered frame is the same slice.
    assert list(frame.groupby("task").size().index) == ["moving-average", "delay"]
    picked = statelab.load_results(small_sweep.store, where={"task": "delay"})
    pd.testing.assert_frame_equal(picked, frame[frame.task == "delay"])


def test_history_is_tidy_and_its_last_validation_nmse_is_the_test_nmse(small_sweep):
    results = statelab.load_results(small_sweep.store)
    history = statelab.load_history(small_sweep.store)
    assert list(history.columns) == [
        "trial",
        "config_hash",
        "model",
        "epoch",
        "train_loss",
        "val_loss",
        "val_nmse",
    ]
    assert len(history) == 12 * 2 * 2  # trials x models x epochs
    assert list(history["trial"].drop_duplicates()) == list(range(12))  # grid order
    # epochs count from 0, as Keras' History and on_epoch count them
    assert (history.groupby(["trial", "model"]).epoch.apply(list) == pd.Series([[0, 1]] * 24).values).all()
    last = history[history.epoch == 1].set_index(["trial", "model"])
    for trial, row in results.iterrows():
        assert last.loc[(trial, "stateful"), "config_hash"] == row.config_hash
        for model in ("stateful", "stateless"):
            # measured on the same rows, in float32 during training and float64 at the end
            assert last.loc[(trial, model), "val_nmse"] == pytest.approx(row[f"{model}_test_nmse"], rel=1e-4)
    picked = statelab.load_history(small_sweep.store, where={"task": "delay"})
    assert sorted(picked.trial.unique()) == [8, 9, 10, 11]


def test_a_runs_history_has_the_columns_of_a_sweeps_and_its_losses():
    result = statelab.run_experiment({"input_len": 200, "epochs": 3})
    history = result.history
    assert list(history.columns) == ["model", "epoch", "train_loss", "val_loss", "val_nmse"]
    stateful = history[history.model == "stateful"]
    assert list(stateful.epoch) == [0, 1, 2]
    assert list(stateful.train_loss) == [float(v) for v in result.train_loss["stateful"]]
    assert list(stateful.val_nmse) == pytest.approx(
        [float(v) / result.var_y for v in result.val_loss["stateful"]]
    )


def test_a_failed_trial_is_a_row_with_its_error_and_missing_metrics(tmp_path, monkeypatch):
    real = experiment.evaluate_fit

    def evaluate_fit(config, dataset, fitted):
        if config.task.tsteps == 2:
            raise FloatingPointError("tsteps 2 diverged")
        return real(config, dataset, fitted)

    monkeypatch.setattr(experiment, "evaluate_fit", evaluate_fit)
    with pytest.warns(RuntimeWarning, match=r"1 of 2 trials failed \(first: FloatingPointError: tsteps 2"):
        frame = statelab.sweep(
            {"tsteps": [1, 2], "input_len": 200, "epochs": 2}, store=tmp_path / "s.sqlite", progress=False
        )
    assert list(frame.status) == ["ok", "error"]
    failed = frame.iloc[1]
    assert failed.error == "FloatingPointError: tsteps 2 diverged"
    assert pd.isna(failed.stateful_test_nmse) and pd.isna(failed.stateful_converged) and pd.isna(failed.var_y)
    assert frame["stateful_converged"].dtype == "boolean" and frame["stateful_test_nmse"].dtype == "Float64"
    assert frame.attrs["sweep"]["failed"] == 1
    assert statelab.load_history(tmp_path / "s.sqlite").trial.unique().tolist() == [0]


def test_an_empty_store_gives_frames_with_every_column_and_no_rows(tmp_path):
    Store.create(tmp_path / "empty.sqlite").close()
    results = statelab.load_results(tmp_path / "empty.sqlite")
    assert results.empty and "stateful_test_nmse" in results.columns and "tsteps" in results.columns
    assert statelab.load_history(tmp_path / "empty.sqlite").empty


def test_a_list_valued_field_is_a_tuple_and_can_be_filtered(tmp_path):
    grid = {"task": "ar", "ar_coefs": [[0.5], [0.9, -0.2]], "input_len": 200, "epochs": 1}
    frame = statelab.sweep(grid, store=tmp_path / "ar.sqlite", progress=False)
    assert list(frame.ar_coefs) == [(0.5,), (0.9, -0.2)]
    picked = statelab.load_results(tmp_path / "ar.sqlite", where={"ar_coefs": [0.9, -0.2]})
    assert list(picked.index) == [1]
    assert math.isfinite(picked.iloc[0].stateful_test_nmse)
    assert from_mapping({"task": "ar", "ar_coefs": list(picked.iloc[0].ar_coefs)}).task.ar_coefs == (
        0.9,
        -0.2,
    )


def test_where_reads_values_as_a_config_holds_them_a_tasks_alias_and_a_relative_data_path(
    tmp_path, monkeypatch
):
    from statelab.identity import config_hash
    from statelab.store import TrialRecord, utc_now

    monkeypatch.chdir(tmp_path)
    (tmp_path / "sales.csv").write_text("y\n1\n2\n")
    with Store.create(tmp_path / "s.sqlite") as store:
        for config in (from_mapping({"task": "csv", "data": "sales.csv"}), from_mapping({"tsteps": 3})):
            store.record(
                TrialRecord(
                    config_hash(config), config.to_dict(), "error", None, "E: x", "", {}, "0", "w", utc_now()
                )
            )
    frame = statelab.load_results(tmp_path / "s.sqlite", where={"task": "csv", "data": "./sales.csv"})
    assert list(frame.index) == [0] and frame.iloc[0].data == str(tmp_path / "sales.csv")
    with pytest.raises(ConfigError, match=r"^task must be one of"):
        statelab.load_results(tmp_path / "s.sqlite", where={"task": "nope"})


def test_the_diagnosis_categories_are_every_kind_the_diagnosis_gives():
    """`<model>_diagnosis` is categorical over metrics.DIAGNOSIS_KINDS: the kinds statelab.diagnosis
    makes (the first argument of each Diagnosis it builds), no more, no fewer."""
    import ast
    import inspect

    from statelab import diagnosis
    from statelab.metrics import DIAGNOSIS_KINDS

    made = {
        node.args[0].value
        for node in ast.walk(ast.parse(inspect.getsource(diagnosis)))
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Diagnosis"
    }
    assert made == set(DIAGNOSIS_KINDS)


def test_keep_applies_each_condition_and_a_missing_value_meets_none_but_not_equal(small_sweep):
    frame = statelab.load_results(small_sweep.store)
    kept = frames.keep(frame, [("stateful_test_nmse", "<", "0.5"), ("tsteps", ">=", "2")])
    expected = frame[(frame.stateful_test_nmse < 0.5) & (frame.tsteps >= 2)]
    assert list(kept.index) == list(expected.index) and len(kept) > 0
    assert list(frames.keep(frame, [("status", "=", "ok")]).index) == list(frame.index)
    assert frames.keep(frame, [("error", "~", "x")]).empty  # no trial failed: no error text holds x
    assert list(frames.keep(frame, [("error", "!=", "x")]).index) == list(frame.index)
    held = frames.keep(frame, [("claim_held", "=", "true")])
    assert list(held.index) == list(frame[frame.claim_held.fillna(False)].index)
    moving = frames.keep(frame, [("task", "~", "MOVING")])  # any case
    assert list(moving.index) == list(frame[frame.task == "moving-average"].index) and 0 < len(moving) < len(
        frame
    )


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        (("tstep", "=", "2"), "filter must name a column of the results, got 'tstep'"),
        (("tsteps", "=>", "2"), "filter must use one of =, !=, <, <=, >, >=, ~, got '=>'"),
        (("tsteps", "<", "two"), "filter tsteps must compare with a number, got 'two'"),
        (("claim_held", "=", "maybe"), "filter claim_held must compare with true or false, got 'maybe'"),
    ],
)
def test_a_bad_condition_is_a_config_error_naming_it(small_sweep, condition, message):
    frame = statelab.load_results(small_sweep.store)
    with pytest.raises(ConfigError) as caught:
        frames.keep(frame, [condition])
    assert str(caught.value) == message


def test_a_results_frame_written_as_parquet_reads_back_equal_and_as_csv_row_for_row(small_sweep, tmp_path):
    frame = statelab.load_results(small_sweep.store)
    with open(tmp_path / "r.parquet", "wb") as fh:
        frames.write_frame(frame, fh, "parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "r.parquet"), frame)
    with open(tmp_path / "r.csv", "wb") as fh:
        frames.write_frame(frame, fh, "csv")
    back = pd.read_csv(tmp_path / "r.csv", index_col="trial")
    assert list(back.index) == list(frame.index) and list(back.columns) == list(frame.columns)
    assert list(back.config_hash) == list(frame.config_hash)
    assert back.stateful_test_nmse.tolist() == frame.stateful_test_nmse.tolist()  # every digit kept
    with (
        open(tmp_path / "r.x", "wb") as fh,
        pytest.raises(ConfigError, match="format must be one of csv, parquet"),
    ):
        frames.write_frame(frame, fh, "xlsx")


def test_a_list_valued_field_is_written_as_a_comma_list_in_csv(tmp_path):
    frame = statelab.sweep(
        {"task": "ar", "ar_coefs": [[0.5], [0.9, -0.2]], "input_len": 200, "epochs": 1},
        store=tmp_path / "ar.sqlite",
        progress=False,
    )
    with open(tmp_path / "r.csv", "wb") as fh:
        frames.write_frame(frame, fh, "csv")
    assert pd.read_csv(tmp_path / "r.csv", dtype=str).ar_coefs.tolist() == ["0.5", "0.9,-0.2"]
