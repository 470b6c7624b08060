"""The SQLite results store: one committed row per trial, reruns skip what is done, WAL mode."""

from __future__ import annotations

import sqlite3

import pytest

from statelab import ConfigError, ExperimentConfig
from statelab.config import config_hash, from_mapping
from statelab.store import SCHEMA_VERSION, Store, TrialRecord, utc_now


def record(config: ExperimentConfig, status: str = "ok", nmse: float = 0.5) -> TrialRecord:
    ok = status == "ok"
    metrics = {"models": {"stateful": {"test_nmse": nmse}, "stateless": {"test_nmse": nmse}}}
    return TrialRecord(
        config_hash=config_hash(config),
        config=config.to_dict(),
        status=status,
        metrics=metrics if ok else None,
        error=None if ok else "RuntimeError: boom",
        traceback=None if ok else "Traceback ...",
        timings={"train_s": 0.25},
        statelab_version="0.1.0",
        worker="host:1",
        finished_at=utc_now(),
    )


def test_create_writes_schema_in_wal_mode(tmp_path):
    path = tmp_path / "sub" / "s.sqlite"
    with Store.create(path) as store:
        assert store.meta()["schema_version"] == SCHEMA_VERSION
        assert store.records() == []
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    assert {"meta", "trials", "results"} <= tables


def test_record_round_trips_and_is_committed_at_once(tmp_path):
    config = from_mapping({"tsteps": 3})
    path = tmp_path / "s.sqlite"
    with Store.create(path) as store:
        store.record(record(config, nmse=0.125))
        # A second connection (another process, in effect) sees the row before the store closes.
        other = sqlite3.connect(path)
        assert other.execute("SELECT COUNT(*) FROM trials").fetchone()[0] == 1
        (back,) = store.records()
    assert back.config_hash == config_hash(config) and back.status == "ok" and back.error is None
    assert back.config == config.to_dict()
    assert back.metrics["models"]["stateful"]["test_nmse"] == 0.125
    assert back.timings == {"train_s": 0.25}


def test_done_lists_only_successful_trials(tmp_path):
    good, bad = ExperimentConfig(), from_mapping({"lahead": 2})
    with Store.create(tmp_path / "s.sqlite") as store:
        store.record(record(good))
        store.record(record(bad, status="error"))
        assert store.done() == {config_hash(good)}
        assert store.count() == {"ok": 1, "error": 1}


def test_a_retried_failure_replaces_its_row_but_a_success_is_never_overwritten(tmp_path):
    config = ExperimentConfig()
    with Store.create(tmp_path / "s.sqlite") as store:
        store.record(record(config, status="error"))
        store.record(record(config, nmse=0.25))
        store.record(record(config, nmse=0.75))  # a second sweep racing on the same trial
        store.record(record(config, status="error"))
        (row,) = store.records()
    assert row.ok and row.metrics["models"]["stateful"]["test_nmse"] == 0.25


def test_results_view_flattens_config_and_metrics(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store.create(path) as store:
        store.record(record(from_mapping({"tsteps": 4, "lahead": 3}), nmse=0.5))
    row = (
        sqlite3.connect(path).execute("SELECT tsteps, lahead, stateful_nmse, train_s FROM results").fetchone()
    )
    assert row == (4, 3, 0.5, 0.25)


def test_reopening_keeps_rows(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store.create(path) as store:
        store.record(record(ExperimentConfig()))
    with Store.create(path) as store:  # create on an existing store opens it
        assert store.done() == {config_hash(ExperimentConfig())}


def test_open_missing_store_is_a_config_error_and_creates_nothing(tmp_path):
    path = tmp_path / "nothing.sqlite"
    with pytest.raises(ConfigError, match=r"^store must be .*got '.*nothing.sqlite' \(no such file\)"):
        Store.open(path)
    assert not path.exists()


@pytest.mark.parametrize("content", [b"time,value\n1,2\n", b"SQLite format 3\x00" + b"\x00" * 200])
def test_open_a_file_that_is_not_a_store_is_a_config_error(tmp_path, content):
    path = tmp_path / "x.sqlite"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=r"^store must be an existing statelab sweep store"):
        Store.open(path)


def test_open_another_sqlite_database_is_a_config_error(tmp_path):
    path = tmp_path / "other.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    with pytest.raises(ConfigError, match="no such table: meta"):
        Store.open(path)


def test_a_newer_schema_version_is_refused(tmp_path):
    path = tmp_path / "s.sqlite"
    Store.create(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(ConfigError, match="schema version 1, got '99'"):
        Store.open(path)
