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

    meta(key TEXT PRIMARY KEY, value TEXT)      schema_version, created_at, created_by, epochs_from
    trials(config_hash PRIMARY KEY, config, status, metrics, error, traceback, timings,
           statelab_version, worker, finished_at, position)
    history(config_hash, model, epoch, train_loss, val_loss, val_nmse)   one row per model and epoch
    claims(config_hash PRIMARY KEY, owner, host, pid, heartbeat)        trials a live sweep is training
    results                                     a view: one flat row per trial, every config field

Version 1 stores (statelab 0.1) can be read (reports) but not written to: their trial keys were
computed differently.

Epochs count from 0 (`names.FIRST_EPOCH`). A store records the number its `history` rows give the
first epoch in `meta.epochs_from`: "0" in a store created now; a store without the key was
written when epochs counted from 1. `Store.history` reads every store counted from 0, and
`Store.record` writes a trial's rows in its store's own count, so an older store stays consistent.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import secrets
import socket
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from statelab import scratch
from statelab.configfile import parse_json
from statelab.names import FIRST_EPOCH, HISTORY_COLUMNS
from statelab.params import ConfigError, check_output_path
from statelab.tasks.real import PEERS
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
        columns.append(f"json_extract(metrics, '$.models.{model}.memory.capacity.total') AS {model}_capacity")
    for baseline in ("last_value", "linear_ar"):
        columns.append(f"json_extract(metrics, '$.baselines.{baseline}.test_nmse') AS {baseline}_nmse")
        columns.append(f"json_extract(metrics, '$.baselines.{baseline}.rmse') AS {baseline}_rmse")
    # A real series' classical peers (statelab.peers) and its verdict; null for a synthetic task.
    for peer in PEER_NAMES:
        column = peer_column(peer)
        for key, name in (("status", "status"), ("test_nmse", "nmse"), ("rmse", "rmse"), ("mase", "mase")):
            columns.append(f"json_extract(metrics, '$.peers.\"{peer}\".{key}') AS {column}_{name}")
    columns += [
        "json_extract(metrics, '$.verdict.best_peer') AS best_peer",
        "json_extract(metrics, '$.verdict.memory.p_value') AS memory_p_value",
        "json_extract(metrics, '$.verdict.network_vs_peer.p_value') AS network_vs_peer_p_value",
    ]
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


# Per-model metrics in the results view, in this order (the last five: a real series' own).
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
    "rmse",
    "mase",
    "rank",
    "skill",
    "best_epoch",
)
PEER_NAMES = PEERS  # the classical peers of a real series (statelab.peers)


def peer_column(peer: str) -> str:
    """The prefix of a peer's columns in the results view and frames: seasonal-naive -> seasonal_naive."""
    return peer.replace("-", "_")


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
    # per model and epoch (from 0): {"model", "epoch", "train_loss", "val_loss", "val_nmse"}; kept in the
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


class StoreError(ConfigError):
    """A row of a store that statelab cannot read (a store edited by hand, or damaged): the one-line
    message names the store, the trial and what is wrong with it. A ConfigError, as every error
    about what statelab was given."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# What a config field of each kind holds in a stored config (None: a parameter its task does not take).
_FIELD_KINDS = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": _is_number,
    "str": lambda v: isinstance(v, str),
    "floats": lambda v: isinstance(v, list) and all(_is_number(x) for x in v),
    "strs": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
}


def field_kinds() -> dict[str, tuple[str, str]]:
    """{field: (section, kind)} of every config field now (a task registered later adds its own):
    read once per batch of rows, not once per value."""
    from statelab.config import FIELD_SECTION, field_kind

    return {name: (section, field_kind(name)) for name, section in FIELD_SECTION.items()}


def _check_config(config: Any, kinds: dict[str, tuple[str, str]]) -> None:
    """A stored config: {section: {field: value}}, each known field's value of its kind or null."""
    if not isinstance(config, dict):
        raise ValueError(f"a JSON object expected, got {type(config).__name__}")
    for section, fields in config.items():
        if not isinstance(fields, dict):
            raise ValueError(f"{section} must be an object")
        for name, value in fields.items():
            where, kind = kinds.get(name, (None, ""))
            if where == section and value is not None and not _FIELD_KINDS[kind](value):
                raise ValueError(f"{section}.{name} must be of kind {kind}, got {value!r:.60}")


def _check_timings(timings: Any) -> None:
    if not isinstance(timings, dict) or not all(v is None or _is_number(v) for v in timings.values()):
        raise ValueError("an object of numbers expected")


def _decode(row: sqlite3.Row, path: Path, kinds: dict[str, tuple[str, str]]) -> TrialRecord:
    """A row of `trials` as a TrialRecord, every column checked: StoreError naming the trial and the
    column if it is not what statelab writes (bad JSON, a list where an object goes, a string
    where a number goes)."""
    from statelab.metrics import check_metrics

    key = row["config_hash"]
    shown = repr(key[:64]) if isinstance(key, str) else repr(key)

    def damaged(column: str, reason: str) -> StoreError:
        return StoreError(
            f"store must hold trials as statelab records them, got trial {shown} in {str(path)!r} with a "
            f"damaged {column} ({reason.splitlines()[0] if reason else 'malformed'})"
        )

    def load(column: str, check: Any) -> Any:
        text = row[column]
        try:
            if text is not None and not isinstance(text, str):
                raise ValueError(f"JSON text expected, got {type(text).__name__}")
            value = None if text is None else parse_json(text)
            if value is not None:
                check(value)
        except (ValueError, KeyError) as exc:
            raise damaged(column, str(exc)) from None
        return value

    if not isinstance(key, str):
        raise damaged("config_hash", f"text expected, got {key!r:.40}")
    status = row["status"]
    if status not in ("ok", "error"):
        raise damaged("status", f"'ok' or 'error' expected, got {status!r:.40}")
    config = load("config", lambda c: _check_config(c, kinds))
    metrics = load("metrics", lambda m: check_metrics(m, required=False))
    timings = load("timings", _check_timings)
    if config is None or timings is None or (status == "ok" and metrics is None):
        raise damaged("config" if config is None else "timings" if timings is None else "metrics", "null")
    texts = {name: row[name] for name in ("error", "traceback", "statelab_version", "worker", "finished_at")}
    for name, value in texts.items():
        if value is not None and not isinstance(value, str):
            raise damaged(name, f"text expected, got {value!r:.40}")
    position = row["position"] if "position" in row.keys() else None  # noqa: SIM118 (a Row)
    if position is not None and (isinstance(position, bool) or not isinstance(position, int)):
        raise damaged("position", f"an integer expected, got {position!r:.40}")
    return TrialRecord(
        config_hash=key,
        config=config,
        status=status,
        metrics=metrics,
        error=texts["error"],
        traceback=texts["traceback"],
        timings=timings,
        statelab_version=texts["statelab_version"] or "",
        worker=texts["worker"] or "",
        finished_at=texts["finished_at"] or "",
        position=position,
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

    @functools.cached_property
    def epochs_from(self) -> int:
        """The number the `history` table gives a trial's first epoch: 0, or 1 in a store written
        before `meta.epochs_from` existed."""
        value = self.meta().get("epochs_from", "1")
        if value not in ("0", "1"):
            raise ConfigError(f"store must record epochs_from as 0 or 1, got {value!r} in {str(self.path)!r}")
        return int(value)

    def done(self) -> set[str]:
        """Hashes of the trials that finished without error; a rerun skips exactly these."""
        with self._reading():
            rows = self._db.execute("SELECT config_hash FROM trials WHERE status = 'ok'").fetchall()
        return {h for (h,) in rows}

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A write that fails (a full disk, a read-only folder, a store locked for longer than the
        timeout) is rolled back by SQLite, leaving the store as it was and resumable; it ends in
        a ConfigError naming the store and the cause, not in SQLite's own exception."""
        try:
            yield
        except sqlite3.Error as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(f"store must be a writable file, got {str(self.path)!r} ({reason})") from None

    def record(self, record: TrialRecord) -> None:
        """Commit one finished trial in a transaction of its own, and drop its claim.

        A failed trial's row is replaced when the trial is retried; a successful row is never
        overwritten (two sweeps sharing a store keep the first result).
        """
        self.check_writable()
        placeholders = ", ".join("?" * len(_COLUMNS))
        updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[1:])
        with self._writing(), self._db:  # BEGIN ... COMMIT, or ROLLBACK: the row and its history
            cursor = self._db.execute(
                f"INSERT INTO trials ({', '.join(_COLUMNS)}) VALUES ({placeholders}) "
                f"ON CONFLICT (config_hash) DO UPDATE SET {updates} WHERE trials.status != 'ok'",
                _encode(record),
            )
            if cursor.rowcount and record.history:
                self._db.execute("DELETE FROM history WHERE config_hash = ?", (record.config_hash,))
                names = ", ".join(HISTORY_COLUMNS)
                shift = self.epochs_from - FIRST_EPOCH  # this store's own count
                self._db.executemany(
                    f"INSERT INTO history (config_hash, {names}) VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (
                            record.config_hash,
                            *(row[c] + shift if c == "epoch" else row[c] for c in HISTORY_COLUMNS),
                        )
                        for row in record.history
                    ],
                )
            self._db.execute("DELETE FROM claims WHERE config_hash = ?", (record.config_hash,))

    def record_all(self, records: Iterable[TrialRecord]) -> None:
        for record in records:
            self.record(record)

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """A read of a damaged file (a page of it overwritten, say) is a StoreError naming it."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"store must be {STORE_RULE}, got {str(self.path)!r} ({exc})") from None

    def records(self) -> list[TrialRecord]:
        """Every row, in grid order (the position in the sweep that recorded it), then finish order.
        StoreError naming the first trial whose row is damaged."""
        columns = _COLUMNS if self.version == SCHEMA_VERSION else _COLUMNS[:-1]
        order = "position, rowid" if self.version == SCHEMA_VERSION else "rowid"
        with self._reading():
            rows = self._db.execute(f"SELECT {', '.join(columns)} FROM trials ORDER BY {order}").fetchall()
        kinds = field_kinds()
        return [_decode(row, self.path, kinds) for row in rows]

    def history(self, hashes: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Every trial's per-epoch losses (or only those of the trials `hashes`): {"config_hash",
        "model", "epoch", "train_loss", "val_loss", "val_nmse"} rows, epochs counted from 0
        whatever the store counts from, trials in grid order, then model and epoch."""
        if self.version != SCHEMA_VERSION:
            return []
        only, args = "", list[str]()
        if hashes is not None:
            only, args = f"WHERE h.config_hash IN ({', '.join('?' * len(hashes))}) ", list(hashes)
        with self._reading():
            rows = self._db.execute(
                f"SELECT h.config_hash, {', '.join('h.' + c for c in HISTORY_COLUMNS)} FROM history h "
                f"JOIN trials t USING (config_hash) {only}ORDER BY t.position, t.rowid, h.model, h.epoch",
                args,
            ).fetchall()
        out = [dict(row) for row in rows]
        for row in out:
            numbers = [row[c] for c in HISTORY_COLUMNS[2:]]
            epoch = row["epoch"]
            if (
                not isinstance(row["model"], str)
                or isinstance(epoch, bool)
                or not isinstance(epoch, int)
                or not all(v is None or _is_number(v) for v in numbers)
            ):
                trial = str(row["config_hash"])[:64]
                raise StoreError(
                    f"store must hold trials as statelab records them, got trial {trial!r} in "
                    f"{str(self.path)!r} with a damaged history row (model {row['model']!r:.30}, epoch "
                    f"{epoch!r:.30})"
                )
        shift = self.epochs_from - FIRST_EPOCH
        return [{**row, "epoch": row["epoch"] - shift} for row in out]

    def count(self) -> dict[str, int]:
        """{"ok": n, "error": m}"""
        with self._reading():
            rows = self._db.execute("SELECT status, COUNT(*) FROM trials GROUP BY status").fetchall()
        return {"ok": 0, "error": 0, **{str(k): v for k, v in rows}}

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
        with self._writing(), self._db:
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
        """Drop every claim `claimer` still holds (trials it did not finish). Never raises: it runs
        as a sweep ends, whatever ended it, and a claim left behind is retaken once its owner is
        gone (its process dead, or no heartbeat for CLAIM_STALE_S)."""
        try:
            with self._db:
                self._db.execute("DELETE FROM claims WHERE owner = ?", (claimer.owner,))
        except sqlite3.Error:
            pass


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
        try:
            db = _connect(self.path, "rw")
        except sqlite3.Error:  # the store went away or read-only: the sweep's own writes will say so
            return
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
        open(tmp, "xb").close()  # the OS's reason ("Read-only file system"), not SQLite's "unable to open"
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
                        ("epochs_from", str(FIRST_EPOCH)),
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
            scratch.discard(leftover)  # never raises: the error above is what the user needs


def _connect(path: Path, mode: str, immutable: bool = False) -> sqlite3.Connection:
    """A connection; `mode` is SQLite's URI mode ("ro", "rw": neither creates a file).

    `immutable` reads a file no process is writing without taking locks or creating `-shm` and
    `-wal` files beside it. The journal mode is left alone: only `Store.create` sets it, and only
    on a file it has checked is a statelab store."""
    # Quoted as bytes: a name that is not valid UTF-8 is percent-encoded byte for byte.
    uri = f"file:{urllib.parse.quote(os.fsencode(path.resolve().as_posix()))}?mode={mode}"
    if immutable:
        uri += "&immutable=1"
    # Writes happen inside `with db:` (BEGIN ... COMMIT); timeout waits out another writer's lock.
    db = sqlite3.connect(uri, uri=True, timeout=30.0, check_same_thread=False)
    db.row_factory = sqlite3.Row
    return db
