"""The results store of a sweep: one SQLite file, one committed row per finished trial.

A trial is keyed by `config_hash(config)`, the SHA-256 of its canonical config JSON, so a rerun of
a sweep asks the store which trials are done and skips them. Every finished trial is written in a
transaction of its own (its row and its per-epoch history together), in WAL mode: a sweep killed
at any moment (Ctrl-C, SIGKILL, a closed laptop) keeps every row committed before it died, and the
file opens cleanly afterwards; SQLite replays or discards the write-ahead log on the next open.
`synchronous=NORMAL` is enough for that (a killed *process* loses nothing committed; only a power
cut could roll back the last few commits, never corrupt the file).

A new store appears whole: its schema is written into a temporary file (`statelab.scratch`), which
is then linked into place, so the path holds either nothing or a complete store, and of two sweeps
creating the same store at once one creates it and the other opens it. A file is checked before it
is written to: `Store.open` (reports) reads a store without writing anything, not even SQLite's
journal mode, and a file that is not a statelab store is refused byte for byte as it was.

Only the sweep's client process writes; Dask workers return records to it. Several sweeps may
share a store: each *claims* the trials it is about to train (a row of `claims` with its owner and
a heartbeat), skips those another live sweep has claimed, and retakes claims whose owner died
(a dead process on this host, or no heartbeat for `CLAIM_STALE_S` seconds). Each trial is trained
once.

Schema (version 2; the README shows it with every column)::

    meta(key TEXT PRIMARY KEY, value TEXT)      schema_version, created_at, created_by
    trials(config_hash PRIMARY KEY, config, status, metrics, error, traceback, timings,
           statelab_version, worker, finished_at, position)
    history(config_hash, model, epoch, train_loss, val_loss, val_nmse)   one row per model and epoch
    claims(config_hash PRIMARY KEY, owner, host, pid, heartbeat)        trials a live sweep is training
    results                                     a view: one flat row per trial, every config field

Version 1 stores (statelab 0.1) can be read (reports) but not written to: their trial keys were
computed differently.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from statelab import scratch
from statelab.params import ConfigError, check_output_path
from statelab.version import __version__

SCHEMA_VERSION = "2"
READABLE_VERSIONS = ("1", "2")
SQLITE_MAGIC = b"SQLite format 3\x00"
STORE_RULE = "an existing statelab sweep store (an SQLite file written by `statelab sweep`)"
CLAIM_HEARTBEAT_S = 5.0  # how often a sweep tells the store it is still training its claims
CLAIM_STALE_S = 60.0  # a claim without a heartbeat for this long is retaken (its owner hung or died)

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

# Added to version-2 stores on their first write by a sweep that claims trials (no data changes).
_CLAIMS = """
CREATE TABLE IF NOT EXISTS claims (
    config_hash TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    host        TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    heartbeat   REAL NOT NULL
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
        columns.append(f"json_extract(metrics, '$.models.{model}.diagnosis.kind') AS {model}_diagnosis")
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
RESULT_METRICS = (
    "test_mse",
    "test_nmse",
    "floor_nmse",
    "converged",
    "expected_converged",
    "diverged",
    "expected",
    "realised_floor_nmse",
    "at_floor",
)

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

    def __init__(
        self,
        connection: sqlite3.Connection,
        path: Path,
        version: str = SCHEMA_VERSION,
        read_only: bool = False,
    ):
        self._db = connection
        self.path = path
        self.version = version
        self.read_only = read_only  # opened by `Store.open`: it never writes

    @classmethod
    def create(cls, path: str | Path) -> Store:
        """Open the store at `path` for a sweep, creating the file (and its folder) if needed.

        ConfigError, with the file left as it was, if `path` holds anything but a statelab store
        this version can write to."""
        path = check_output_path("store", path, "file")
        if not path.exists():
            _create_file(path)
        with cls.open(path) as reader:  # checked without writing a byte
            reader.check_writable(opened=False)
        try:
            db = _connect(path, "rw")
            db.execute("PRAGMA journal_mode=WAL")  # already so: statelab wrote the file
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_CLAIMS)
        except sqlite3.Error as exc:
            raise ConfigError(f"store must be a writable file, got {str(path)!r} ({exc})") from None
        return cls(db, path)

    @classmethod
    def open(cls, path: str | Path) -> Store:
        """Open an existing store to read it; ConfigError if `path` is missing or not a statelab store.

        Nothing is written to the file or beside it: a store no process has open is read as an
        immutable file; one a sweep is writing (its `-wal` file is there), through that log."""
        if not isinstance(path, (str, Path)) or not str(path).strip():
            raise ConfigError(f"store must be {STORE_RULE}, got {path!r}")
        path = Path(path)
        if not path.is_file():
            found = "not a file" if path.exists() else "no such file"
            raise ConfigError(f"store must be {STORE_RULE}, got {str(path)!r} ({found})")
        try:
            with open(path, "rb") as fh:
                header = fh.read(len(SQLITE_MAGIC))
        except OSError as exc:
            raise ConfigError(f"store must be {STORE_RULE}, got {str(path)!r} ({exc.strerror})") from None
        if header != SQLITE_MAGIC:
            found = "an empty file" if not header else "not an SQLite file"
            raise ConfigError(f"store must be {STORE_RULE}, got {str(path)!r} ({found})")
        live = path.with_name(path.name + "-wal").exists()
        try:
            db = _connect(path, "ro", immutable=not live)
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"store must be {STORE_RULE}, got {str(path)!r} ({exc})") from None
        store = cls(db, path, read_only=True)
        try:
            version = store.meta().get("schema_version")
        except sqlite3.DatabaseError as exc:
            store.close()
            raise ConfigError(f"store must be {STORE_RULE}, got {str(path)!r} ({exc})") from None
        if version not in READABLE_VERSIONS:
            store.close()
            raise ConfigError(
                f"store must have schema version {SCHEMA_VERSION}, got {version!r} in {str(path)!r}"
            )
        store.version = version
        return store

    def check_writable(self, opened: bool = True) -> None:
        """ConfigError unless this statelab can add trials to the store (schema version 2) and it
        was opened to write (`Store.create`); `opened=False` checks the version only."""
        if opened and self.read_only and self.version == SCHEMA_VERSION:
            raise ConfigError(
                f"store must be opened with Store.create to take new trials, got {str(self.path)!r} "
                "opened to read (Store.open)"
            )
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
        """Commit one finished trial in a transaction of its own, and drop its claim.

        A failed trial's row is replaced when the trial is retried; a successful row is never
        overwritten (two sweeps sharing a store keep the first result).
        """
        self.check_writable()
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
            self._db.execute("DELETE FROM claims WHERE config_hash = ?", (record.config_hash,))

    def record_all(self, records: Iterable[TrialRecord]) -> None:
        for record in records:
            self.record(record)

    def records(self) -> list[TrialRecord]:
        """Every row, in grid order (the position in the sweep that recorded it), then finish order."""
        columns = _COLUMNS if self.version == SCHEMA_VERSION else _COLUMNS[:-1]
        order = "position, rowid" if self.version == SCHEMA_VERSION else "rowid"
        rows = self._db.execute(f"SELECT {', '.join(columns)} FROM trials ORDER BY {order}")
        return [_decode(row) for row in rows]

    def history(self, hashes: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Every trial's per-epoch losses (or only those of the trials `hashes`): {"config_hash",
        "model", "epoch", "train_loss", "val_loss", "val_nmse"} rows, trials in grid order, then
        model and epoch."""
        if self.version != SCHEMA_VERSION:
            return []
        only, args = "", list[str]()
        if hashes is not None:
            only, args = f"WHERE h.config_hash IN ({', '.join('?' * len(hashes))}) ", list(hashes)
        rows = self._db.execute(
            f"SELECT h.config_hash, {', '.join('h.' + c for c in HISTORY_COLUMNS)} FROM history h "
            f"JOIN trials t USING (config_hash) {only}ORDER BY t.position, t.rowid, h.model, h.epoch",
            args,
        )
        return [dict(row) for row in rows]

    def count(self) -> dict[str, int]:
        """{"ok": n, "error": m}"""
        rows = self._db.execute("SELECT status, COUNT(*) FROM trials GROUP BY status")
        return {"ok": 0, "error": 0, **dict(rows.fetchall())}

    # -----------------------------------------------------------------------------------------
    # Claims: which sweep trains which trial

    def attempts(self, hashes: Iterable[str]) -> dict[str, tuple[str, str] | None]:
        """(worker, finished_at) of each trial's row, or None where it has none: a trial whose
        value changes has been recorded since."""
        rows = dict(
            (
                (h, (w, f))
                for h, w, f in self._db.execute("SELECT config_hash, worker, finished_at FROM trials")
            )
        )
        return {h: rows.get(h) for h in hashes}

    def claim(self, hashes: Sequence[str], claimer: Claimer) -> tuple[set[str], set[str]]:
        """Claim the trials of `hashes` that no live sweep holds and that are not done.

        Returns (claimed by `claimer` now, held by another live sweep). Claims of dead owners are
        retaken: a process of this host that no longer exists, or no heartbeat for CLAIM_STALE_S.
        """
        now = time.time()
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")  # one claimer at a time
            held = {}
            for h, owner, host, pid, beat in self._db.execute(
                "SELECT config_hash, owner, host, pid, heartbeat FROM claims"
            ):
                dead = now - beat > CLAIM_STALE_S or (host == claimer.host and not scratch.pid_alive(pid))
                if owner != claimer.owner and not dead:
                    held[h] = owner
            done = self.done()
            mine = [h for h in dict.fromkeys(hashes) if h not in held and h not in done]
            self._db.executemany(
                "INSERT OR REPLACE INTO claims (config_hash, owner, host, pid, heartbeat) "
                "VALUES (?, ?, ?, ?, ?)",
                [(h, claimer.owner, claimer.host, claimer.pid, now) for h in mine],
            )
        return set(mine), {h for h in hashes if h in held}

    def release(self, claimer: Claimer) -> None:
        """Drop every claim `claimer` still holds (trials it did not finish)."""
        with self._db:
            self._db.execute("DELETE FROM claims WHERE owner = ?", (claimer.owner,))


@dataclass(frozen=True)
class Claimer:
    """A sweep that claims trials: its owner id names the host and process, plus a random token."""

    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    token: str = field(default_factory=lambda: secrets.token_hex(4))

    @property
    def owner(self) -> str:
        return f"{self.host}:{self.pid}:{self.token}"


class Heartbeat:
    """Renews a claimer's claims every CLAIM_HEARTBEAT_S seconds from a thread of its own (with its
    own connection), so that a long group does not look abandoned. A context manager."""

    def __init__(self, path: Path, claimer: Claimer, every: float = CLAIM_HEARTBEAT_S):
        self.path, self.claimer, self.every = path, claimer, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="statelab-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        db = _connect(self.path, "rw")
        try:
            while not self._stop.wait(self.every):
                try:
                    with db:
                        db.execute(
                            "UPDATE claims SET heartbeat = ? WHERE owner = ?",
                            (time.time(), self.claimer.owner),
                        )
                except sqlite3.Error:
                    pass  # a busy store: the next beat tries again, well within CLAIM_STALE_S
        finally:
            db.close()


def _create_file(path: Path) -> None:
    """Write a new store's schema into a temporary file and link it into place.

    `os.link` fails if `path` appeared meanwhile (another sweep created it first): that store is
    used. A process killed half way leaves only its temporary, which a later one removes."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"store must be a writable file path, got {str(path)!r} ({exc.strerror})") from None
    scratch.remove_stale(path.parent)
    tmp = scratch.temporary(path)
    try:
        db = sqlite3.connect(tmp)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            with db:
                db.executescript(_TABLES + _CLAIMS + _results_view())
                db.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [
                        ("schema_version", SCHEMA_VERSION),
                        ("created_at", utc_now()),
                        ("created_by", f"statelab {__version__}"),
                    ],
                )
        finally:
            db.close()  # checkpoints and removes the -wal file: the temporary is one whole file
        scratch.link_into_place(tmp, path)  # not placed: another sweep created the store first
    except (OSError, sqlite3.Error) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"store must be a writable file path, got {str(path)!r} ({reason})") from None
    finally:
        for leftover in (tmp, *(tmp.with_name(tmp.name + s) for s in ("-journal", "-wal", "-shm"))):
            leftover.unlink(missing_ok=True)


def _connect(path: Path, mode: str, immutable: bool = False) -> sqlite3.Connection:
    """A connection; `mode` is SQLite's URI mode ("ro", "rw": neither creates a file).

    `immutable` reads a file no process is writing without taking locks or creating `-shm` and
    `-wal` files beside it. The journal mode is left alone: only `Store.create` sets it, and only
    on a file it has checked is a statelab store."""
    uri = f"file:{urllib.parse.quote(path.resolve().as_posix())}?mode={mode}"
    if immutable:
        uri += "&immutable=1"
    # Writes happen inside `with db:` (BEGIN ... COMMIT); timeout waits out another writer's lock.
    db = sqlite3.connect(uri, uri=True, timeout=30.0, check_same_thread=False)
    db.row_factory = sqlite3.Row
    return db
