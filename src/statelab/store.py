"""The results store of a sweep: one SQLite file, one committed row per finished trial.

A trial is keyed by `config_hash(config)`, the SHA-256 of its canonical config JSON, so a rerun of
a sweep asks the store which trials are done and skips them. Every finished trial is written in a
transaction of its own (its row and its per-epoch history together), in WAL mode: a sweep killed
at any moment (Ctrl-C, SIGKILL, a closed laptop) keeps every row committed before it died, and the
file opens cleanly afterwards; SQLite replays or discards the write-ahead log on the next open.
`synchronous=NORMAL` is enough for that (a killed *process* loses nothing committed; only a power
cut could roll back the last few commits, never corrupt the file).

Only the sweep's client process writes; Dask workers return records to it.

Schema (version 2; the README shows it with every column)::

    meta(key TEXT PRIMARY KEY, value TEXT)      schema_version, created_at, created_by
    trials(config_hash PRIMARY KEY, config, status, metrics, error, traceback, timings,
           statelab_version, worker, finished_at, position)
    history(config_hash, model, epoch, train_loss, val_loss, val_nmse)   one row per model and epoch
    results                                     a view: one flat row per trial, every config field

Version 1 stores (statelab 0.1) can be read (reports) but not written to: their trial keys were
computed differently.
"""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from statelab import __version__
from statelab.config import ConfigError

if TYPE_CHECKING:
    import pandas as pd

SCHEMA_VERSION = "2"
READABLE_VERSIONS = ("1", "2")
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
    finished_at      TEXT NOT NULL,
    position         INTEGER
);
CREATE TABLE IF NOT EXISTS history (
    config_hash TEXT NOT NULL REFERENCES trials (config_hash) ON DELETE CASCADE,
    model       TEXT NOT NULL,
    epoch       INTEGER NOT NULL,
    train_loss  REAL,
    val_loss    REAL,
    val_nmse    REAL,
    PRIMARY KEY (config_hash, model, epoch)
);
"""


def _results_view() -> str:
    """A flat view for plain SQL (`sqlite3 sweep.sqlite 'SELECT * FROM results'`): every config
    field, then per model its errors, floor, verdicts and memory numbers, the baselines, timings.
    json_extract is built into every SQLite >= 3.38 (Python 3.11 ships 3.39+)."""
    from statelab.config import FIELD_SECTION

    columns = ["config_hash", "status"]
    columns += [
        f"json_extract(config, '$.{section}.{name}') AS {name}" for name, section in FIELD_SECTION.items()
    ]
    for model in ("stateful", "stateless"):
        for key in RESULT_METRICS:
            columns.append(f"json_extract(metrics, '$.models.{model}.{key}') AS {model}_{key}")
        for key in ("span", "profile_error"):
            columns.append(f"json_extract(metrics, '$.models.{model}.memory.{key}') AS {model}_{key}")
    for baseline in ("last_value", "linear_ar"):
        columns.append(f"json_extract(metrics, '$.baselines.{baseline}.test_nmse') AS {baseline}_nmse")
    columns += [
        "json_extract(metrics, '$.var_y') AS var_y",
        "json_extract(metrics, '$.claim_held') AS claim_held",
        "json_extract(timings, '$.train_s') AS train_s",
        "error",
        "statelab_version",
        "finished_at",
    ]
    body = ",\n    ".join(columns)
    return f"CREATE VIEW IF NOT EXISTS results AS SELECT\n    {body}\nFROM trials ORDER BY position, rowid;\n"


# Per-model metrics in the results view, in this order.
RESULT_METRICS = ("test_mse", "test_nmse", "floor_nmse", "converged", "expected_converged", "diverged")

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
    "position",
)
HISTORY_COLUMNS = ("model", "epoch", "train_loss", "val_loss", "val_nmse")


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
    position: int | None = None  # the trial's index in the grid of the sweep that recorded it
    # per model and epoch: {"model", "epoch", "train_loss", "val_loss", "val_nmse"}; kept in the
    # `history` table (`Store.history`), not returned by `Store.records`
    history: list[dict[str, Any]] | None = field(default=None, repr=False, compare=False)

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
        record.position,
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
        position=row["position"] if "position" in row.keys() else None,  # noqa: SIM118 (a Row)
    )


class Store:
    """A sweep's SQLite results store. Use `Store.create` to write, `Store.open` to read."""

    def __init__(self, connection: sqlite3.Connection, path: Path):
        self._db = connection
        self.path = path
        self.version = SCHEMA_VERSION

    @classmethod
    def create(cls, path: str | Path) -> Store:
        """Open the store at `path` for a sweep, creating the file (and its folder) if needed."""
        path = Path(path)
        if path.exists():
            return cls.open(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        store = cls(_connect(path, "rwc"), path)
        with store._db:
            store._db.executescript(_TABLES + _results_view())
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
        if version not in READABLE_VERSIONS:
            store.close()
            raise ConfigError(
                f"store must have schema version {SCHEMA_VERSION}, got {version!r} in {str(path)!r}"
            )
        store.version = version
        return store

    def check_writable(self) -> None:
        """ConfigError unless this statelab can add trials to the store (schema version 2)."""
        if self.version != SCHEMA_VERSION:
            raise ConfigError(
                f"store must have schema version {SCHEMA_VERSION} to take new trials (statelab "
                f"{__version__}), got {self.version!r} in {str(self.path)!r}: use a new --store"
            )

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
        with self._db:  # BEGIN ... COMMIT, or ROLLBACK if anything raises: the row and its history
            cursor = self._db.execute(
                f"INSERT INTO trials ({', '.join(_COLUMNS)}) VALUES ({placeholders}) "
                f"ON CONFLICT (config_hash) DO UPDATE SET {updates} WHERE trials.status != 'ok'",
                _encode(record),
            )
            if cursor.rowcount and record.history:
                self._db.execute("DELETE FROM history WHERE config_hash = ?", (record.config_hash,))
                names = ", ".join(HISTORY_COLUMNS)
                self._db.executemany(
                    f"INSERT INTO history (config_hash, {names}) VALUES (?, ?, ?, ?, ?, ?)",
                    [(record.config_hash, *(row[c] for c in HISTORY_COLUMNS)) for row in record.history],
                )

    def record_all(self, records: Iterable[TrialRecord]) -> None:
        for record in records:
            self.record(record)

    def records(self) -> list[TrialRecord]:
        """Every row, in grid order (the position in the sweep that recorded it), then finish order."""
        columns = _COLUMNS if self.version == SCHEMA_VERSION else _COLUMNS[:-1]
        order = "position, rowid" if self.version == SCHEMA_VERSION else "rowid"
        rows = self._db.execute(f"SELECT {', '.join(columns)} FROM trials ORDER BY {order}")
        return [_decode(row) for row in rows]

    def history(self) -> list[dict[str, Any]]:
        """Every trial's per-epoch losses: {"config_hash", "model", "epoch", "train_loss",
        "val_loss", "val_nmse"} rows, trials in grid order, then model and epoch."""
        if self.version != SCHEMA_VERSION:
            return []
        rows = self._db.execute(
            f"SELECT h.config_hash, {', '.join('h.' + c for c in HISTORY_COLUMNS)} FROM history h "
            "JOIN trials t USING (config_hash) ORDER BY t.position, t.rowid, h.model, h.epoch"
        )
        return [dict(row) for row in rows]

    def to_dataframe(self, where: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Every trial as one flat row of a pandas DataFrame, in grid order (see statelab.frames
        for the columns); `where` ({config field: value or values}) keeps the matching trials."""
        from statelab.frames import results_frame

        return results_frame(self.records(), where)

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
