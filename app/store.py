"""SQLite persistence (WAL): models, runs, per-step loss history and checkpoints.

A checkpoint is written in one transaction together with the history rows up to its step and
its run's progress, so what is on disk always agrees with itself: after a crash the model, its
step count and its loss curve come back from the same instant. Calls are synchronous and
thread-safe (one connection behind a lock); the service runs them via ``asyncio.to_thread``.

Event ids (``app.bus``) must grow across restarts even if the wall clock steps back, so the
last id issued is kept in ``meta`` (key ``last_event_id``): ``track_event_ids`` names where to
read it, and every transaction (checkpoints with their history, runs, models) and ``close``
write it. No write is added per event; a crash can lose the ids issued since the last write
(one checkpoint interval's events), so the next boot starts ``EVENT_ID_RESERVE`` above the
stored value.
"""

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    model INTEGER NOT NULL,
    start_step INTEGER NOT NULL,
    steps INTEGER NOT NULL,
    step INTEGER NOT NULL,
    lr REAL NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    started_at REAL NOT NULL,
    ended_at REAL,
    elapsed REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS runs_model ON runs (model, id);
CREATE TABLE IF NOT EXISTS history (
    model INTEGER NOT NULL,
    step INTEGER NOT NULL,
    run_id INTEGER,
    loss REAL NOT NULL,
    smooth REAL NOT NULL,
    lr REAL NOT NULL,
    PRIMARY KEY (model, step)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
    id INTEGER PRIMARY KEY,
    model INTEGER NOT NULL,
    step INTEGER NOT NULL,
    run_id INTEGER,
    reason TEXT NOT NULL,
    created_at REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS checkpoints_model ON checkpoints (model, id);
"""

KEEP_CHECKPOINTS = 3  # per model: the newest few, in case one is ever unreadable
# ids a crashed boot may have issued after its last write: far more events than are published
# between two writes (one checkpoint interval), far fewer than the 2**63 ids SQLite can hold
EVENT_ID_RESERVE = 1_000_000


@dataclass
class RunRow:
    id: int
    model: int
    start_step: int
    steps: int
    step: int
    lr: float
    status: str
    reason: str | None
    started_at: float
    ended_at: float | None
    elapsed: float = 0.0  # seconds spent training, up to the last checkpoint


@dataclass
class CheckpointRow:
    id: int
    model: int
    step: int
    run_id: int | None
    data: str


@dataclass
class HistoryRow:
    step: int
    run_id: int | None
    loss: float
    smooth: float
    lr: float


class Store:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)
        self._event_ids: Callable[[], int] | None = None

    def close(self) -> None:
        with self._lock:
            try:
                if self._event_ids is not None:
                    with self._tx():
                        pass  # the commit records the last event id
            finally:
                self._db.close()

    # -- event ids --

    def track_event_ids(self, last_id: Callable[[], int]) -> int:
        """Record ``last_id()`` with every write from now on; returns the id this boot's
        events must start above (the previous boot's last id, plus the crash reserve)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key='last_event_id'").fetchone()
            self._event_ids = last_id
        return int(row[0]) + EVENT_ID_RESERVE if row else 0

    # -- helpers --

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error); the commit records the event id."""
        db, event_ids = self._db, self._event_ids
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            if event_ids is not None:
                db.execute(
                    "INSERT INTO meta VALUES ('last_event_id', ?) ON CONFLICT (key) DO UPDATE"
                    " SET value = MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
                    (str(event_ids()),),
                )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # -- models --

    def current_model(self) -> int | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key='model'").fetchone()
        return int(row[0]) if row else None

    def new_model(self, checkpoint: str, step: int, reason: str) -> int:
        """Start a new model generation from ``checkpoint``; it becomes the current model."""
        with self._lock, self._tx() as db:
            row = db.execute("SELECT MAX(model) FROM checkpoints").fetchone()
            model = (row[0] or 0) + 1
            db.execute("INSERT OR REPLACE INTO meta VALUES ('model', ?)", (str(model),))
            db.execute(
                "INSERT INTO checkpoints (model, step, run_id, reason, created_at, data)"
                " VALUES (?, ?, NULL, ?, ?, ?)",
                (model, step, reason, time.time(), checkpoint),
            )
        return model

    # -- checkpoints --

    def latest_checkpoint(self, model: int) -> CheckpointRow | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, model, step, run_id, data FROM checkpoints WHERE model=?"
                " ORDER BY id DESC LIMIT 1",
                (model,),
            ).fetchone()
        return CheckpointRow(*row) if row else None

    def save_checkpoint(
        self,
        model: int,
        step: int,
        run_id: int | None,
        data: str,
        reason: str,
        history: list[HistoryRow],
        elapsed: float = 0.0,
    ) -> None:
        """The checkpoint, the history rows up to it and the run's progress, atomically."""
        with self._lock, self._tx() as db:
            db.executemany(
                "INSERT OR REPLACE INTO history VALUES (?, ?, ?, ?, ?, ?)",
                [(model, h.step, h.run_id, h.loss, h.smooth, h.lr) for h in history],
            )
            db.execute(
                "INSERT INTO checkpoints (model, step, run_id, reason, created_at, data)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (model, step, run_id, reason, time.time(), data),
            )
            if run_id is not None:
                db.execute("UPDATE runs SET step=?, elapsed=? WHERE id=?", (step, elapsed, run_id))
            db.execute(
                "DELETE FROM checkpoints WHERE model=? AND id NOT IN"
                " (SELECT id FROM checkpoints WHERE model=? ORDER BY id DESC LIMIT ?)",
                (model, model, KEEP_CHECKPOINTS),
            )

    # -- runs --

    def create_run(self, model: int, start_step: int, steps: int, lr: float) -> RunRow:
        now = time.time()
        with self._lock, self._tx() as db:
            cur = db.execute(
                "INSERT INTO runs (model, start_step, steps, step, lr, status, started_at)"
                " VALUES (?, ?, ?, ?, ?, 'running', ?)",
                (model, start_step, steps, start_step, lr, now),
            )
            run_id = cur.lastrowid
        return RunRow(run_id, model, start_step, steps, start_step, lr, "running", None, now, None)

    def update_run(self, run: RunRow) -> None:
        with self._lock, self._tx() as db:
            db.execute(
                "UPDATE runs SET status=?, reason=?, ended_at=?, step=? WHERE id=?",
                (run.status, run.reason, run.ended_at, run.step, run.id),
            )

    def runs(self, model: int) -> list[RunRow]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, model, start_step, steps, step, lr, status, reason, started_at,"
                " ended_at, elapsed FROM runs WHERE model=? ORDER BY id",
                (model,),
            ).fetchall()
        return [RunRow(*r) for r in rows]

    # -- history --

    def history(self, model: int, up_to: int) -> list[HistoryRow]:
        with self._lock:
            rows = self._db.execute(
                "SELECT step, run_id, loss, smooth, lr FROM history WHERE model=? AND step<=?"
                " ORDER BY step",
                (model, up_to),
            ).fetchall()
        return [HistoryRow(*r) for r in rows]
