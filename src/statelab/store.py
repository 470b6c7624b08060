"""The results store of a sweep: one SQLite file, one committed row per finished trial.

A trial is keyed by `config_hash(config)`, the SHA-256 of its canonical config JSON, so a rerun of
a sweep asks the store which trials are done and skips them. Every finished trial is written in a
transaction of its own, in WAL mode: a sweep killed at any moment (Ctrl-C, SIGKILL, a closed
laptop) keeps every row committed before it died, and the file opens cleanly afterwards; SQLite
replays or discards the write-ahead log on the next open. `synchronous=NORMAL` is enough for that
(a killed *process* loses nothing committed; only a power cut could roll back the last few
commits, never corrupt the file).

Only the sweep's client process writes; Dask workers return records to it.

Schema (version 1; also in docs/sweeps.md)::

    meta(key TEXT PRIMARY KEY, value TEXT)      schema_version, created_at, created_by
    trials(
      config_hash      TEXT PRIMARY KEY,        sha256 of the canonical config JSON
      config           TEXT NOT NULL,           the config, as config.json writes it
      status           TEXT NOT NULL,           'ok' or 'error'
      metrics          TEXT,                    metrics.json content; NULL when status = 'error'
      error            TEXT,                    'Type: message'; NULL when status = 'ok'
      traceback        TEXT,                    where it was raised; NULL when status = 'ok'
      timings          TEXT NOT NULL,           JSON: data_s, train_s, evaluate_s, group_train_s,
                                                group_size (train_s = group_train_s / group_size)
      statelab_version TEXT NOT NULL,           version that computed the row
      worker           TEXT NOT NULL,           host:pid that computed it
      finished_at      TEXT NOT NULL)           UTC, ISO 8601
    results                                     a view: one flat row per trial (see below)
"""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from statelab import __version__
from statelab.config import ConfigError

SCHEMA_VERSION = "1"
SQLITE_MAGIC = b"SQLite format 3\x00"

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
    config_hash      TEXT PRIMARY KEY,
    config           TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('ok', 'error')),
    metrics          TEXT,
    error            TEXT,
    traceback        TEXT,
    timings          TEXT NOT NULL,
    statelab_version TEXT NOT NULL,
    worker           TEXT NOT NULL,
    finished_at      TEXT NOT NULL
);
"""

# A flat view for ad-hoc SQL (`sqlite3 sweep.sqlite 'SELECT * FROM results'`); reports do not
# depend on it. json_extract is built into every SQLite >= 3.38 (Python 3.11 ships 3.39+).
_VIEW = """
CREATE VIEW IF NOT EXISTS results AS SELECT
    config_hash, status,
    json_extract(config, '$.task.tsteps')            AS tsteps,
    json_extract(config, '$.task.lahead')            AS lahead,
    json_extract(config, '$.task.seed')              AS seed,
    json_extract(config, '$.model.model_seed')       AS model_seed,
    json_extract(config, '$.model.cell')             AS cell,
    json_extract(config, '$.train.batch_size')       AS batch_size,
    json_extract(metrics, '$.models.stateful.test_nmse')   AS stateful_nmse,
    json_extract(metrics, '$.models.stateless.test_nmse')  AS stateless_nmse,
    json_extract(metrics, '$.models.stateless.floor_nmse') AS stateless_floor_nmse,
    json_extract(metrics, '$.claim_held')            AS claim_held,
    json_extract(timings, '$.train_s')               AS train_s,
    error, statelab_version, finished_at
FROM trials;
"""

_COLUMNS = (
    "config_hash",
    "config",
    "status",
    "metrics",
    "error",
    "traceback",
    "timings",
    "statelab_version",
    "worker",
    "finished_at",
)


@dataclass(frozen=True)
class TrialRecord:
    """One finished trial: a row of the `trials` table, decoded."""

    config_hash: str
    config: dict[str, dict[str, Any]]  # nested, as config.json
    status: str  # "ok" or "error"
    metrics: dict[str, Any] | None  # metrics.json content when ok
    error: str | None  # "Type: message" when the trial raised
    traceback: str | None
    timings: dict[str, float]
    statelab_version: str
    worker: str
    finished_at: str

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _encode(record: TrialRecord) -> tuple:
    def dump(obj: Any) -> str | None:
        return None if obj is None else json.dumps(obj, sort_keys=True, separators=(",", ":"))

    return (
        record.config_hash,
        dump(record.config),
        record.status,
        dump(record.metrics),
        record.error,
        record.traceback,
        dump(record.timings),
        record.statelab_version,
        record.worker,
        record.finished_at,
    )


def _decode(row: sqlite3.Row) -> TrialRecord:
    def load(text: str | None) -> Any:
        return None if text is None else json.loads(text)

    return TrialRecord(
        config_hash=row["config_hash"],
        config=load(row["config"]),
        status=row["status"],
        metrics=load(row["metrics"]),
        error=row["error"],
        traceback=row["traceback"],
        timings=load(row["timings"]),
        statelab_version=row["statelab_version"],
        worker=row["worker"],
        finished_at=row["finished_at"],
    )


class Store:
    """A sweep's SQLite results store. Use `Store.create` to write, `Store.open` to read."""

    def __init__(self, connection: sqlite3.Connection, path: Path):
        self._db = connection
        self.path = path

    @classmethod
    def create(cls, path: str | Path) -> Store:
        """Open the store at `path` for a sweep, creating the file (and its folder) if needed."""
        path = Path(path)
        if path.exists():
            return cls.open(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        store = cls(_connect(path, "rwc"), path)
        with store._db:
            store._db.executescript(_TABLES + _VIEW)
            store._db.executemany(
                "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                [
                    ("schema_version", SCHEMA_VERSION),
                    ("created_at", utc_now()),
                    ("created_by", f"statelab {__version__}"),
                ],
            )
        return store

    @classmethod
    def open(cls, path: str | Path) -> Store:
        """Open an existing store; ConfigError if `path` is missing or not a statelab store."""
        path = Path(path)
        rule = "an existing statelab sweep store (an SQLite file written by `statelab sweep`)"
        if not path.is_file():
            found = "not a file" if path.exists() else "no such file"
            raise ConfigError(f"store must be {rule}, got {str(path)!r} ({found})")
        with open(path, "rb") as fh:
            header = fh.read(len(SQLITE_MAGIC))
        # An empty file is what sqlite3.connect leaves behind before the first write.
        if header and header != SQLITE_MAGIC:
            raise ConfigError(f"store must be {rule}, got {str(path)!r} (not an SQLite file)")
        try:
            store = cls(_connect(path, "rw"), path)
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"store must be {rule}, got {str(path)!r} ({exc})") from None
        try:
            version = store.meta().get("schema_version")
        except sqlite3.DatabaseError as exc:
            store.close()
            raise ConfigError(f"store must be {rule}, got {str(path)!r} ({exc})") from None
        if version != SCHEMA_VERSION:
            store.close()
            raise ConfigError(
                f"store must have schema version {SCHEMA_VERSION}, got {version!r} in {str(path)!r}"
            )
        return store

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def meta(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT key, value FROM meta").fetchall())

    def done(self) -> set[str]:
        """Hashes of the trials that finished without error; a rerun skips exactly these."""
        rows = self._db.execute("SELECT config_hash FROM trials WHERE status = 'ok'")
        return {h for (h,) in rows}

    def record(self, record: TrialRecord) -> None:
        """Commit one finished trial in a transaction of its own.

        A failed trial's row is replaced when the trial is retried; a successful row is never
        overwritten (two sweeps sharing a store keep the first result).
        """
        placeholders = ", ".join("?" * len(_COLUMNS))
        updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[1:])
        with self._db:  # BEGIN ... COMMIT, or ROLLBACK if anything raises
            self._db.execute(
                f"INSERT INTO trials ({', '.join(_COLUMNS)}) VALUES ({placeholders}) "
                f"ON CONFLICT (config_hash) DO UPDATE SET {updates} WHERE trials.status != 'ok'",
                _encode(record),
            )

    def record_all(self, records: Iterable[TrialRecord]) -> None:
        for record in records:
            self.record(record)

    def records(self) -> list[TrialRecord]:
        """Every row, in the order trials finished."""
        rows = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM trials ORDER BY rowid")
        return [_decode(row) for row in rows]

    def count(self) -> dict[str, int]:
        """{"ok": n, "error": m}"""
        rows = self._db.execute("SELECT status, COUNT(*) FROM trials GROUP BY status")
        return {"ok": 0, "error": 0, **dict(rows.fetchall())}


def _connect(path: Path, mode: str) -> sqlite3.Connection:
    """A connection in WAL mode. `mode` is SQLite's URI mode: "rw" never creates a file."""
    uri = f"file:{urllib.parse.quote(path.resolve().as_posix())}?mode={mode}"
    # Writes happen inside `with db:` (BEGIN ... COMMIT); timeout waits out another writer's lock.
    db = sqlite3.connect(uri, uri=True, timeout=30.0)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db
