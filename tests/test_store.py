"""The SQLite results store: one committed row per trial, reruns skip what is done, WAL mode."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from statelab import ConfigError, ExperimentConfig
from statelab.config import from_mapping
from statelab.identity import config_hash
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
        sqlite3.connect(path)
        .execute("SELECT tsteps, lahead, stateful_test_nmse, train_s FROM results")
        .fetchone()
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
    with pytest.raises(ConfigError, match="schema version 2, got '99'"):
        Store.open(path)


def test_a_trials_history_is_committed_with_its_row_and_read_back_in_grid_order(tmp_path):
    configs = [from_mapping({"tsteps": t}) for t in (3, 1, 2)]
    history = [
        {"model": "stateful", "epoch": e, "train_loss": 0.1 / e, "val_loss": 0.2 / e, "val_nmse": 0.3}
        for e in (1, 2)
    ]
    with Store.create(tmp_path / "s.sqlite") as store:
        # Finished in another order than the grid's: records come back by grid position.
        for position, config in [(2, configs[2]), (0, configs[0]), (1, configs[1])]:
            store.record(dataclasses.replace(record(config), position=position, history=history))
        assert [r.config_hash for r in store.records()] == [config_hash(c) for c in configs]
        rows = store.history()
    assert len(rows) == 6
    assert [r["config_hash"] for r in rows[::2]] == [config_hash(c) for c in configs]
    assert rows[1] == {"config_hash": config_hash(configs[0]), **history[1]}


def test_a_new_store_counts_epochs_from_0_and_says_so_in_its_meta(tmp_path):
    history = [
        {"model": "stateful", "epoch": e, "train_loss": 0.1, "val_loss": 0.2, "val_nmse": 0.3} for e in (0, 1)
    ]
    with Store.create(tmp_path / "s.sqlite") as store:
        store.record(dataclasses.replace(record(from_mapping({})), history=history))
    db = sqlite3.connect(tmp_path / "s.sqlite")
    assert dict(db.execute("SELECT key, value FROM meta"))["epochs_from"] == "0"
    assert [e for (e,) in db.execute("SELECT epoch FROM history ORDER BY epoch")] == [0, 1]


def test_a_store_whose_history_counts_epochs_from_1_is_read_and_extended_counting_from_0(tmp_path):
    """A store written before `meta.epochs_from` numbered epochs from 1. It is read back counted
    from 0, and a sweep that adds trials to it writes them in the store's own count, so that every
    row of one store counts alike."""
    path = tmp_path / "old.sqlite"
    first, second = from_mapping({"tsteps": 1}), from_mapping({"tsteps": 2})
    old_rows = [
        {"model": "stateful", "epoch": e, "train_loss": 0.1 * e, "val_loss": 0.2, "val_nmse": 0.3}
        for e in (1, 2)
    ]
    with Store.create(path) as store:
        store.record(dataclasses.replace(record(first), position=0, history=old_rows))
    db = sqlite3.connect(path)
    with db:  # rows numbered 1 and 2, without epochs_from: as the older statelab wrote them
        db.execute("DELETE FROM meta WHERE key = 'epochs_from'")
    db.close()
    new_rows = [{**row, "epoch": row["epoch"] - 1} for row in old_rows]  # as a sweep now makes them
    with Store.create(path) as store:
        store.record(dataclasses.replace(record(second), position=1, history=new_rows))
    with Store.open(path) as store:
        read = store.history()
    assert [(r["config_hash"], r["epoch"]) for r in read] == [
        (config_hash(c), e) for c in (first, second) for e in (0, 1)
    ]
    assert [r["train_loss"] for r in read] == pytest.approx([0.1, 0.2, 0.1, 0.2])
    db = sqlite3.connect(path)
    assert sorted(e for (e,) in db.execute("SELECT epoch FROM history")) == [1, 1, 2, 2]
    assert "epochs_from" not in dict(db.execute("SELECT key, value FROM meta"))
    with db:  # a value statelab never writes is refused, with one line
        db.execute("INSERT INTO meta (key, value) VALUES ('epochs_from', 'x')")
    db.close()
    with (
        Store.open(path) as store,
        pytest.raises(ConfigError, match="store must record epochs_from as 0 or 1"),
    ):
        store.history()


def test_results_view_has_every_config_field_and_model_metrics(tmp_path):
    from statelab.config import FIELD_SECTION

    config = from_mapping({"task": "delay", "delay": 2})
    with Store.create(tmp_path / "s.sqlite") as store:
        store.record(record(config, nmse=0.25))
    db = sqlite3.connect(tmp_path / "s.sqlite")
    db.row_factory = sqlite3.Row
    (row,) = db.execute("SELECT * FROM results").fetchall()
    assert set(FIELD_SECTION) <= set(row.keys())
    assert row["task"] == "delay" and row["delay"] == 2 and row["tsteps"] is None
    assert row["epochs"] == 10 and row["units"] == 20 and row["learning_rate"] == 0.001
    assert row["stateful_test_nmse"] == 0.25 and "stateless_profile_error" in row.keys()  # noqa: SIM118 (a Row)


def test_a_version_1_store_is_read_but_takes_no_new_trials(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE trials (config_hash TEXT PRIMARY KEY, config TEXT NOT NULL, status TEXT NOT NULL,"
        " metrics TEXT, error TEXT, traceback TEXT, timings TEXT NOT NULL, statelab_version TEXT NOT NULL,"
        " worker TEXT NOT NULL, finished_at TEXT NOT NULL);"
        "INSERT INTO meta VALUES ('schema_version', '1');"
        "INSERT INTO trials VALUES ('abc', '{}', 'ok', '{}', NULL, NULL, '{}', '0.1.0', 'h:1', 'now');"
    )
    db.commit()
    db.close()
    with Store.open(path) as store:
        assert [r.config_hash for r in store.records()] == ["abc"] and store.history() == []
        with pytest.raises(ConfigError, match="schema version 2 to take new trials"):
            store.check_writable()


# ---------------------------------------------------------------------------------------------
# Creation, read-only opening and claims


ROUNDS = 20  # stores created in a race, each by every process at once


def _create_in_child(folder: str, start: Any) -> None:
    for i in range(ROUNDS):
        start.wait(timeout=30)  # every process creates store i at the same instant
        Store.create(Path(folder) / f"race-{i}.sqlite").close()


def test_stores_created_by_racing_processes_end_as_one_whole_store(tmp_path):
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    start = context.Barrier(4)
    children = [context.Process(target=_create_in_child, args=(str(tmp_path), start)) for _ in range(4)]
    for child in children:
        child.start()
    for child in children:
        child.join(120)
        if child.is_alive():
            child.kill()
    assert [child.exitcode for child in children] == [0, 0, 0, 0]
    for i in range(ROUNDS):
        with Store.open(tmp_path / f"race-{i}.sqlite") as store:
            assert store.meta()["schema_version"] == SCHEMA_VERSION
    # No temporary is left. (SQLite may keep a store's -wal/-shm beside it when its last two
    # connections closed at once; they are SQLite's own, and the store opens whole.)
    names = {p.name for p in tmp_path.iterdir() if not p.name.endswith(("-wal", "-shm"))}
    assert names == {f"race-{i}.sqlite" for i in range(ROUNDS)}


def test_a_killed_creations_temporary_is_removed_and_never_mistaken_for_the_store(tmp_path):
    from statelab import scratch

    path = tmp_path / "s.sqlite"
    dead = scratch.temporary(path).name.replace(f"-{os.getpid()}-", "-999999999-")
    (tmp_path / dead).write_bytes(b"SQLite format 3\x00 half written")
    (tmp_path / ".s.sqlite.otherhost-1-abcd.partial").write_bytes(b"another machine's")
    (tmp_path / "notes.partial").write_bytes(b"the user's")
    Store.create(path).close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".s.sqlite.otherhost-1-abcd.partial",
        "notes.partial",
        "s.sqlite",
    ]


def test_open_reads_without_writing_a_byte_beside_the_store(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store.create(path) as store:
        store.record(record(ExperimentConfig()))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with Store.open(path) as store:
        assert len(store.records()) == 1
        with pytest.raises(ConfigError, match="opened to read"):
            store.record(record(from_mapping({"tsteps": 3})))  # read-only: refused before SQLite
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_open_reads_a_store_a_sweep_is_writing(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store.create(path) as writer:
        writer.record(record(ExperimentConfig()))
        assert (tmp_path / "s.sqlite-wal").exists()  # the writer's log: read through it
        with Store.open(path) as reader:
            assert [r.config_hash for r in reader.records()] == [config_hash(ExperimentConfig())]


def test_claims_are_exclusive_and_released_by_recording(tmp_path):
    from statelab.store import Claimer

    configs = [from_mapping({"tsteps": t}) for t in (1, 2, 3)]
    hashes = [config_hash(c) for c in configs]
    a, b = Claimer(), Claimer()
    with Store.create(tmp_path / "s.sqlite") as store:
        mine, held = store.claim(hashes[:2], a)
        assert mine == set(hashes[:2]) and held == set()
        mine, held = store.claim(hashes, b)
        assert mine == {hashes[2]} and held == set(hashes[:2])
        store.record(record(configs[0]))
        store.release(a)
        mine, held = store.claim(hashes, b)
        assert mine == set(hashes[1:]) and held == set()  # 0 is done, 1 was released, 2 is b's still


def test_claims_of_a_dead_process_or_without_heartbeat_are_retaken(tmp_path):
    import time as clock

    from statelab.store import CLAIM_STALE_S, Claimer

    hashes = [config_hash(from_mapping({"tsteps": t})) for t in (1, 2)]
    dead, hung, me = Claimer(pid=999_999_999), Claimer(host="elsewhere"), Claimer()
    with Store.create(tmp_path / "s.sqlite") as store:
        store.claim(hashes[:1], dead)
        store.claim(hashes[1:], hung)
        mine, held = store.claim(hashes, me)
        assert mine == {hashes[0]} and held == {hashes[1]}  # the dead pid's claim is retaken at once
        store._db.execute(
            "UPDATE claims SET heartbeat = ? WHERE owner = ?", (clock.time() - CLAIM_STALE_S - 1, hung.owner)
        )
        store._db.commit()
        mine, held = store.claim(hashes, me)
        assert mine == set(hashes) and held == set()


def test_history_of_some_trials_is_theirs_alone_in_grid_order(tmp_path):
    import statelab

    frame = statelab.sweep(
        {"tsteps": [1, 2, 3], "input_len": 200, "epochs": 2}, store=tmp_path / "h.sqlite", progress=False
    )
    with Store.open(tmp_path / "h.sqlite") as store:
        every = store.history()
        some = store.history([frame.config_hash[2], frame.config_hash[0]])
    assert some == [
        row for row in every if row["config_hash"] in (frame.config_hash[0], frame.config_hash[2])
    ]
    assert some[0]["config_hash"] == frame.config_hash[0]  # grid order, not the order asked
    assert len(some) == 2 * 2 * 2  # two trials, two models, two epochs
