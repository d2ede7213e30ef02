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

``open_store`` is the checked way in. A file that is empty, is not SQLite, fails ``PRAGMA
integrity_check`` or holds malformed tables is never used and never deleted: it is moved aside
(with its ``-wal``/``-shm``/``-journal`` files) to ``<name>.corrupt-<UTC time>``, one warning
names both files, and a fresh database is started. Anything that is not damage is refused with a
``StoreError`` and left alone: a file this process may not read, and a file whose schema version
(``PRAGMA user_version``) is newer than ``SCHEMA_VERSION``, since a newer release's data must
not be destroyed by an older one. An older file is migrated in place, one transaction per step of
``MIGRATIONS``; the first release wrote no version (``user_version`` 0) and the same tables as
version 2.
"""

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger("app.store")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    created_at REAL NOT NULL,
    settings TEXT NOT NULL,
    selected_at REAL
);
CREATE TABLE IF NOT EXISTS segments (
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
CREATE INDEX IF NOT EXISTS segments_model ON segments (model, id);
CREATE TABLE IF NOT EXISTS history (
    model INTEGER NOT NULL,
    step INTEGER NOT NULL,
    segment INTEGER,
    loss REAL NOT NULL,
    smooth REAL NOT NULL,
    lr REAL NOT NULL,
    PRIMARY KEY (model, step)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
    id INTEGER PRIMARY KEY,
    model INTEGER NOT NULL,
    step INTEGER NOT NULL,
    segment INTEGER,
    reason TEXT NOT NULL,
    created_at REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS checkpoints_model ON checkpoints (model, id);
CREATE TABLE IF NOT EXISTS frames (
    model INTEGER PRIMARY KEY,
    step INTEGER NOT NULL,
    tokens TEXT NOT NULL,
    before BLOB NOT NULL,
    grads BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS weights (
    model INTEGER NOT NULL,
    step INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (model, step)
);
CREATE TABLE IF NOT EXISTS moments (
    model INTEGER NOT NULL,
    step INTEGER NOT NULL,
    m BLOB NOT NULL,
    v BLOB NOT NULL,
    PRIMARY KEY (model, step)
);
CREATE TABLE IF NOT EXISTS probes (
    model INTEGER NOT NULL,
    prefix TEXT NOT NULL,
    step INTEGER NOT NULL,
    probs BLOB NOT NULL,
    PRIMARY KEY (model, prefix, step)
);
CREATE TABLE IF NOT EXISTS validation (
    model INTEGER NOT NULL,
    step INTEGER NOT NULL,
    loss REAL NOT NULL,
    PRIMARY KEY (model, step)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS classes (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    preset TEXT NOT NULL,
    limits TEXT NOT NULL,
    teacher_key TEXT NOT NULL,
    created_at REAL NOT NULL,
    closed_at REAL,
    spotlight INTEGER
);
CREATE TABLE IF NOT EXISTS teachers (
    class TEXT NOT NULL,
    identity TEXT NOT NULL,
    PRIMARY KEY (class, identity)
);
CREATE TABLE IF NOT EXISTS members (
    id INTEGER PRIMARY KEY,
    class TEXT NOT NULL,
    identity TEXT NOT NULL,
    name TEXT NOT NULL,
    run INTEGER,
    rejoin TEXT NOT NULL,
    joined_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS member_runs (run INTEGER PRIMARY KEY, member INTEGER NOT NULL);
"""

SCHEMA_VERSION = 8  # PRAGMA user_version of the layout above
# the tables each version added (a file of an earlier version has none of them)
ADDED_IN = {7: ("validation",), 8: ("classes", "teachers", "members", "member_runs")}


def _schema_v5() -> str:
    """The tables as version 5 had them: segments were called runs (and a row's segment its
    run_id), and there was no table of runs."""
    later = [t for tables in ADDED_IN.values() for t in tables]
    statements = [
        s
        for s in _statements(SCHEMA)
        if "TABLE IF NOT EXISTS runs" not in s
        and not any(f"TABLE IF NOT EXISTS {t} " in s for t in later)
    ]
    text = ";\n".join(statements).replace("segments", "runs")
    return text.replace("segment INTEGER", "run_id INTEGER")


def _create_tables(db: sqlite3.Connection) -> None:
    for statement in _statements(SCHEMA):
        db.execute(statement)


def _from_unversioned(db: sqlite3.Connection) -> None:
    """0 → 2: the first release wrote version 2's tables and no version; a boot cut off while
    creating them left some out, which the schema (``IF NOT EXISTS``) adds."""
    for statement in _statements(_schema_v5()):
        db.execute(statement)


def _add_frames(db: sqlite3.Connection) -> None:
    """2 → 3: the ``frames`` table (the newest step's weights before its update and gradient,
    per model, so /api/params still shows them after a restart)."""
    for statement in _statements(SCHEMA):
        if "TABLE IF NOT EXISTS frames" in statement:
            db.execute(statement)


def _add_weights(db: sqlite3.Connection) -> None:
    """3 → 4: the ``weights`` table (every step's weights, for viewing any past step). Steps
    trained before it existed have none: a model's viewable steps start where its rows do."""
    for statement in _statements(SCHEMA):
        if "TABLE IF NOT EXISTS weights" in statement:
            db.execute(statement)


def _add_moments_and_probes(db: sqlite3.Connection) -> None:
    """4 → 5: Adam's m and v at every checkpoint (``moments``: with the weights, what a past
    step's Parameters panel replays from) and each step's probe distributions (``probes``: the
    "after e" line over all steps). Steps trained before have none."""
    for statement in _statements(SCHEMA):
        if "TABLE IF NOT EXISTS moments" in statement or "TABLE IF NOT EXISTS probes" in statement:
            db.execute(statement)


def _runs_from_models(db: sqlite3.Connection) -> None:
    """5 → 6: a run becomes the unit. The old ``runs`` (training segments of the one model)
    become ``segments``, and every model kept (the current one and those a reset or an upload
    replaced) becomes a run of the new ``runs`` table, named after its id, its settings read
    from its newest checkpoint; the current model stays the default run."""
    db.execute("ALTER TABLE runs RENAME TO segments")
    db.execute("DROP INDEX IF EXISTS runs_model")
    db.execute("ALTER TABLE history RENAME COLUMN run_id TO segment")
    db.execute("ALTER TABLE checkpoints RENAME COLUMN run_id TO segment")
    for statement in _statements(SCHEMA):
        if "TABLE IF NOT EXISTS runs" in statement or "INDEX IF NOT EXISTS segments" in statement:
            db.execute(statement)
    current = db.execute("SELECT value FROM meta WHERE key='model'").fetchone()
    models = db.execute(
        "SELECT model, MIN(created_at) FROM checkpoints GROUP BY model ORDER BY model"
    ).fetchall()
    for model, created in models:
        started = db.execute(
            "SELECT MIN(started_at) FROM segments WHERE model=?", (model,)
        ).fetchone()[0]
        data = db.execute(
            "SELECT data FROM checkpoints WHERE model=? ORDER BY id DESC LIMIT 1", (model,)
        ).fetchone()[0]
        settings = _settings_of(data)
        selected = time.time() if current and int(current[0]) == model else None
        db.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?)",
            (
                model,
                f"Run {model}",
                min(created, started or created),
                json.dumps(settings),
                selected,
            ),
        )


def _add_tables(version: int) -> Callable[[sqlite3.Connection], None]:
    def add(db: sqlite3.Connection) -> None:
        for statement in _statements(SCHEMA):
            if any(f"TABLE IF NOT EXISTS {t} " in statement for t in ADDED_IN[version]):
                db.execute(statement)

    return add


# 6 → 7: the ``validation`` table (the loss on each run's held-out documents, every few steps).
# Steps trained before it have none; a run made then holds out documents only if it has not
# yet trained past them (engine.checkpoint.n_train_of).
_add_validation = _add_tables(7)
# 7 → 8: classes, their teachers, members (a student's name and run) and every run of a member
_add_classes = _add_tables(8)


def _settings_of(checkpoint: str) -> dict:
    """A stored checkpoint's run settings (what the run list shows); {} if it does not parse."""
    try:
        d = json.loads(checkpoint)
        config = d["config"]
        return {
            "seed": d["seed"],
            "lr": d["lr"],
            "steps": 500,
            "n_embd": config["n_embd"],
            "n_head": config["n_head"],
            "n_layer": config["n_layer"],
            "block_size": config["block_size"],
            "dataset": d.get("dataset", "names"),
        }
    except (ValueError, KeyError, TypeError):
        return {}


# from_version → step; each step takes a file from its version to the next key (the last one to
# SCHEMA_VERSION), in one transaction that also stamps the new version. A step that changes a
# table must also teach ``_layout_problem`` the table's earlier columns.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    0: _from_unversioned,
    2: _add_frames,
    3: _add_weights,
    4: _add_moments_and_probes,
    5: _runs_from_models,
    6: _add_validation,
    7: _add_classes,
}

MOMENTS_INSERT = "INSERT OR REPLACE INTO moments VALUES (?, ?, ?, ?)"
PROBES_INSERT = "INSERT OR REPLACE INTO probes VALUES (?, ?, ?, ?)"
# every table keyed by a run's model: deleting a run deletes its rows in each
RUN_TABLES = (
    "segments",
    "history",
    "checkpoints",
    "frames",
    "weights",
    "moments",
    "probes",
    "validation",
)
KEEP_CHECKPOINTS = 3  # per model: the newest few, in case one is ever unreadable
# ids a crashed boot may have issued after its last write: far more events than are published
# between two writes (one checkpoint interval), far fewer than the 2**63 ids SQLite can hold
EVENT_ID_RESERVE = 1_000_000


class StoreError(RuntimeError):
    """The database cannot be used and must not be moved aside: the message says why and names
    the file."""


@dataclass(frozen=True)
class StoreNotice:
    """A damaged database was moved aside and a fresh one started; ``message`` says so in one
    sentence naming both files."""

    message: str
    original: Path
    moved_to: Path


@dataclass
class SegmentRow:
    """One training segment of a run (Train N steps, with its pauses and resumes)."""

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


@dataclass(frozen=True)
class RunRecord:
    """A run as stored: its id (its model's), name, creation time and settings (seed, lr,
    steps, n_embd, n_head, n_layer, block_size, dataset)."""

    id: int
    name: str
    created_at: float
    settings: dict


@dataclass
class CheckpointRow:
    id: int
    model: int
    step: int
    segment: int | None
    data: str


@dataclass
class FrameRow:
    """The step that made a checkpoint's weights: its token ids, and the weights before its
    update and the gradient there as little-endian float64 bytes in parameter order."""

    step: int
    tokens: list[int]
    before: bytes
    grads: bytes


@dataclass
class HistoryRow:
    step: int
    segment: int | None
    loss: float
    smooth: float
    lr: float
    weights: bytes | None = None  # after the step: little-endian float64 in parameter order
    probes: dict[str, bytes] | None = None  # prefix -> next-token distribution after the step


class Store:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            self._db.execute("PRAGMA busy_timeout=5000")
            _prepare(self._db, path)
        except BaseException:
            self._db.close()
            raise
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

    # -- runs --

    def default_run(self) -> int | None:
        """The server-wide default run (the newest created or selected), if any."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key='model'").fetchone()
        return int(row[0]) if row else None

    def select_run(self, run: int) -> None:
        with self._lock, self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('model', ?)", (str(run),))
            db.execute("UPDATE runs SET selected_at=? WHERE id=?", (time.time(), run))

    def create_run(self, name: str, settings: dict, checkpoint: str, step: int, reason: str) -> int:
        """A new run (its id is its model's) from ``checkpoint``; it becomes the default run."""
        with self._lock, self._tx() as db:
            # never an id given before, also of a deleted run: an old link must not reach
            # another run (meta last_run keeps the highest id issued)
            row = db.execute(
                "SELECT MAX(m) FROM (SELECT MAX(model) AS m FROM checkpoints"
                " UNION ALL SELECT MAX(id) FROM runs"
                " UNION ALL SELECT CAST(value AS INTEGER) FROM meta WHERE key='last_run')"
            ).fetchone()
            run = (row[0] or 0) + 1
            db.execute("INSERT OR REPLACE INTO meta VALUES ('last_run', ?)", (str(run),))
            now = time.time()
            db.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?)",
                (run, name.replace("{id}", str(run)), now, json.dumps(settings), now),
            )
            db.execute("INSERT OR REPLACE INTO meta VALUES ('model', ?)", (str(run),))
            db.execute(
                "INSERT INTO checkpoints (model, step, segment, reason, created_at, data)"
                " VALUES (?, ?, NULL, ?, ?, ?)",
                (run, step, reason, now, checkpoint),
            )
        return run

    def runs(self) -> list[RunRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, name, created_at, settings FROM runs ORDER BY id"
            ).fetchall()
        return [RunRecord(r[0], r[1], r[2], json.loads(r[3])) for r in rows]

    def rename_run(self, run: int, name: str) -> None:
        with self._lock, self._tx() as db:
            db.execute("UPDATE runs SET name=? WHERE id=?", (name, run))

    def delete_run(self, run: int) -> None:
        """The run and everything of its model: nothing of it is left."""
        with self._lock, self._tx() as db:
            db.execute("DELETE FROM runs WHERE id=?", (run,))
            for table in RUN_TABLES:
                db.execute(f"DELETE FROM {table} WHERE model=?", (run,))
            row = db.execute("SELECT value FROM meta WHERE key='model'").fetchone()
            if row and int(row[0]) == run:
                newest = db.execute(
                    "SELECT id FROM runs ORDER BY selected_at DESC, id DESC LIMIT 1"
                ).fetchone()
                if newest:
                    db.execute("UPDATE meta SET value=? WHERE key='model'", (str(newest[0]),))
                else:
                    db.execute("DELETE FROM meta WHERE key='model'")

    # -- checkpoints --

    def latest_checkpoint(self, model: int) -> CheckpointRow | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, model, step, segment, data FROM checkpoints WHERE model=?"
                " ORDER BY id DESC LIMIT 1",
                (model,),
            ).fetchone()
        return CheckpointRow(*row) if row else None

    def save_checkpoint(
        self,
        model: int,
        step: int,
        segment: int | None,
        data: str,
        reason: str,
        history: list[HistoryRow],
        elapsed: float = 0.0,
        frame: FrameRow | None = None,
        moments: tuple[bytes, bytes] | None = None,
        validation: Sequence[tuple[int, float]] = (),
    ) -> None:
        """The checkpoint, the history rows up to it and the run's progress, atomically; and
        ``frame``, the step that made its weights, if given (the model's newest one is kept),
        ``moments``, Adam's (m, v) at the checkpoint's step, and the held-out losses
        (step, loss) measured up to it."""
        with self._lock, self._tx() as db:
            db.executemany(
                "INSERT OR REPLACE INTO validation VALUES (?, ?, ?)",
                [(model, step, loss) for step, loss in validation],
            )
            if moments is not None:
                db.execute(
                    "INSERT OR REPLACE INTO moments VALUES (?, ?, ?, ?)", (model, step, *moments)
                )
            db.executemany(
                "INSERT OR REPLACE INTO probes VALUES (?, ?, ?, ?)",
                [
                    (model, p, h.step, probs)
                    for h in history
                    for p, probs in (h.probes or {}).items()
                ],
            )
            if frame is not None:
                db.execute(
                    "INSERT OR REPLACE INTO frames VALUES (?, ?, ?, ?, ?)",
                    (model, frame.step, json.dumps(frame.tokens), frame.before, frame.grads),
                )
            db.executemany(
                "INSERT OR REPLACE INTO history VALUES (?, ?, ?, ?, ?, ?)",
                [(model, h.step, h.segment, h.loss, h.smooth, h.lr) for h in history],
            )
            db.executemany(
                "INSERT OR REPLACE INTO weights VALUES (?, ?, ?)",
                [(model, h.step, h.weights) for h in history if h.weights is not None],
            )
            db.execute(
                "INSERT INTO checkpoints (model, step, segment, reason, created_at, data)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (model, step, segment, reason, time.time(), data),
            )
            if segment is not None:
                db.execute(
                    "UPDATE segments SET step=?, elapsed=? WHERE id=?", (step, elapsed, segment)
                )
            db.execute(
                "DELETE FROM checkpoints WHERE model=? AND id NOT IN"
                " (SELECT id FROM checkpoints WHERE model=? ORDER BY id DESC LIMIT ?)",
                (model, model, KEEP_CHECKPOINTS),
            )

    def latest_frame(self, model: int) -> FrameRow | None:
        with self._lock:
            row = self._db.execute(
                "SELECT step, tokens, before, grads FROM frames WHERE model=?", (model,)
            ).fetchone()
        return FrameRow(row[0], json.loads(row[1]), row[2], row[3]) if row else None

    # -- segments --

    def create_segment(self, model: int, start_step: int, steps: int, lr: float) -> SegmentRow:
        now = time.time()
        with self._lock, self._tx() as db:
            cur = db.execute(
                "INSERT INTO segments (model, start_step, steps, step, lr, status, started_at)"
                " VALUES (?, ?, ?, ?, ?, 'queued', ?)",
                (model, start_step, steps, start_step, lr, now),
            )
            segment = cur.lastrowid
        return SegmentRow(
            segment, model, start_step, steps, start_step, lr, "queued", None, now, None
        )

    def update_segment(self, segment: SegmentRow) -> None:
        with self._lock, self._tx() as db:
            db.execute(
                "UPDATE segments SET status=?, reason=?, ended_at=?, step=? WHERE id=?",
                (segment.status, segment.reason, segment.ended_at, segment.step, segment.id),
            )

    def segments(self, model: int) -> list[SegmentRow]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, model, start_step, steps, step, lr, status, reason, started_at,"
                " ended_at, elapsed FROM segments WHERE model=? ORDER BY id",
                (model,),
            ).fetchall()
        return [SegmentRow(*r) for r in rows]

    # -- history --

    # -- every step's weights --

    def save_start(
        self,
        model: int,
        step: int,
        weights: bytes,
        moments: tuple[bytes, bytes],
        probes: dict[str, bytes],
    ) -> None:
        """What a model starts from (its first viewable step): weights, Adam's m and v, probes."""
        with self._lock, self._tx() as db:
            db.execute("INSERT OR REPLACE INTO weights VALUES (?, ?, ?)", (model, step, weights))
            db.execute(
                "INSERT OR REPLACE INTO moments VALUES (?, ?, ?, ?)", (model, step, *moments)
            )
            db.executemany(
                "INSERT OR REPLACE INTO probes VALUES (?, ?, ?, ?)",
                [(model, p, step, probs) for p, probs in probes.items()],
            )

    def moments_at_or_before(self, model: int, step: int) -> tuple[int, bytes, bytes] | None:
        """Adam's (step j, m, v) kept at the latest step j <= ``step``, else None."""
        with self._lock:
            row = self._db.execute(
                "SELECT step, m, v FROM moments WHERE model=? AND step<=? ORDER BY step DESC"
                " LIMIT 1",
                (model, step),
            ).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def probes(self, model: int, prefix: str, up_to: int) -> list[tuple[int, bytes]]:
        """(step, distribution) of ``prefix`` at every step up to ``up_to`` that has one."""
        with self._lock:
            return self._db.execute(
                "SELECT step, probs FROM probes WHERE model=? AND prefix=? AND step<=?"
                " ORDER BY step",
                (model, prefix, up_to),
            ).fetchall()

    def weights(self, model: int, step: int) -> bytes | None:
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM weights WHERE model=? AND step=?", (model, step)
            ).fetchone()
        return row[0] if row else None

    def first_weights_step(self, model: int, up_to: int) -> int | None:
        """The first step from which every step up to ``up_to`` has its weights stored."""
        with self._lock:
            steps = [
                r[0]
                for r in self._db.execute(
                    "SELECT step FROM weights WHERE model=? AND step<=? ORDER BY step DESC",
                    (model, up_to),
                )
            ]
        if not steps or steps[0] != up_to:
            return None
        first = up_to
        for step in steps[1:]:  # newest first: stop at the first gap
            if step != first - 1:
                break
            first = step
        return first

    def step_lr(self, model: int, step: int) -> float | None:
        """The learning rate step ``step`` used (its history row), else None."""
        with self._lock:
            row = self._db.execute(
                "SELECT lr FROM history WHERE model=? AND step=?", (model, step)
            ).fetchone()
        return row[0] if row else None

    # -- for app.classes: its own statements, under the same lock, in one transaction --

    @contextlib.contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._tx() as db:
            yield db

    def read(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def validation(self, model: int, up_to: int) -> list[tuple[int, float]]:
        """(step, held-out loss) at every step up to ``up_to`` that measured it."""
        with self._lock:
            return self._db.execute(
                "SELECT step, loss FROM validation WHERE model=? AND step<=? ORDER BY step",
                (model, up_to),
            ).fetchall()

    def history(self, model: int, up_to: int) -> list[HistoryRow]:
        with self._lock:
            rows = self._db.execute(
                "SELECT step, segment, loss, smooth, lr FROM history WHERE model=? AND step<=?"
                " ORDER BY step",
                (model, up_to),
            ).fetchall()
        return [HistoryRow(*r) for r in rows]


# -- opening: checks, migration, moving a damaged file aside --

SQLITE_MAGIC = b"SQLite format 3\x00"
SIDE_FILES = ("-wal", "-shm", "-journal")
# SQLite's own words for a damaged file; any other error (locked, unreadable, I/O) is not damage
DAMAGE_CODES = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}


def open_store(path: Path) -> tuple[Store, StoreNotice | None]:
    """The store at ``path``, checked and migrated; a damaged file is moved aside and a fresh
    store started, which the notice reports. Raises StoreError if the file must be left alone
    (unreadable, or written by a newer release)."""
    try:
        if not path.exists():
            return _open(path), None
        existing = [suffix for suffix in SIDE_FILES if _side(path, suffix).exists()]
    except OSError as e:
        raise StoreError(f"cannot read the database {path}: {e.strerror or e}") from e
    reason = _probe(path, existing)
    if reason is None:
        return _open(path), None
    notice = _move_aside(path, reason, existing)
    log.warning("%s", notice.message)
    return _open(path), notice


def preflight(path: Path) -> None:
    """Raise StoreError now if the database at ``path`` must be left alone (unreadable, or
    written by a newer release), so the server can say so in one line before it starts. Damage
    is not an error here: ``open_store`` moves a damaged file aside."""
    try:
        if not path.exists():
            return
        existing = [suffix for suffix in SIDE_FILES if _side(path, suffix).exists()]
    except OSError as e:
        raise StoreError(f"cannot read the database {path}: {e.strerror or e}") from e
    _probe(path, existing)


def _probe(path: Path, existing: list[str]) -> str | None:
    """``_damage``, leaving no side files the file did not have."""
    try:
        return _damage(path)
    finally:  # the read-only probe may create an empty -wal and a -shm: not part of the file
        if "-shm" not in existing:
            _side(path, "-shm").unlink(missing_ok=True)
        wal = _side(path, "-wal")
        if "-wal" not in existing and wal.exists() and wal.stat().st_size == 0:
            wal.unlink()


def _open(path: Path) -> Store:
    try:
        return Store(path)
    except OSError as e:
        raise StoreError(f"cannot open the database {path}: {e.strerror or e}") from e
    except sqlite3.Error as e:
        raise StoreError(f"cannot open the database {path}: {e}") from e


def _side(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _layout(script: str) -> dict[str, list[str]]:
    """Table name → column names, as ``script`` creates them."""
    db = sqlite3.connect(":memory:")
    try:
        db.executescript(script)
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: [c[1] for c in db.execute(f"PRAGMA table_info({n})")] for n in names}
    finally:
        db.close()


LAYOUT = _layout(SCHEMA)


def _layout_for(version: int) -> dict[str, list[str]]:
    """The tables and columns a file of schema ``version`` has (before 7: no validation;
    before 6: the segments were called runs, and history and checkpoints named theirs
    run_id)."""
    if version >= SCHEMA_VERSION:
        return LAYOUT
    later = {t for v, tables in ADDED_IN.items() if v > version for t in tables}
    if version >= 6:
        return {t: cols for t, cols in LAYOUT.items() if t not in later}
    old = {t: list(cols) for t, cols in LAYOUT.items() if t not in ("runs", "segments", *later)}
    old["runs"] = LAYOUT["segments"]
    for table in ("history", "checkpoints"):
        old[table] = ["run_id" if c == "segment" else c for c in old[table]]
    return old


def _refuse_newer(version: int, path: Path) -> None:
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the database {path} has schema version {version}, newer than version"
            f" {SCHEMA_VERSION} that this release understands; it was written by a newer"
            " release: run that release, or point the data directory elsewhere"
        )


def _prepare(db: sqlite3.Connection, path: Path) -> None:
    """WAL mode, then the tables of a new file or the migrations of an older one."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    _refuse_newer(version, path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    if version == 0 and not db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone():
        with _transaction(db):  # a new (or empty) file: today's tables, stamped
            _create_tables(db)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        return
    steps = sorted(MIGRATIONS)
    while version < SCHEMA_VERSION:
        if version not in MIGRATIONS:
            raise StoreError(
                f"the database {path} has schema version {version}, which no release wrote"
                f" (this one reads versions {', '.join(map(str, steps))} and {SCHEMA_VERSION})"
            )
        later = [v for v in steps if v > version]
        target = later[0] if later else SCHEMA_VERSION
        with _transaction(db):
            MIGRATIONS[version](db)
            db.execute(f"PRAGMA user_version={target}")
        log.info("migrated the database %s from schema version %d to %d", path, version, target)
        version = target


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _damage(path: Path) -> str | None:
    """Why the existing file at ``path`` is damaged, or None if it is usable. Raises StoreError
    for what is not damage: an unreadable file, a newer schema, a locked or unreadable database.
    Reads only (the probe connection is read-only, so it cannot fold a -wal into the file)."""
    try:
        with path.open("rb") as f:
            header = f.read(100)
    except OSError as e:
        raise StoreError(f"cannot read the database {path}: {e.strerror or e}") from e
    if not header:
        return "it is empty, 0 bytes"
    if not header.startswith(SQLITE_MAGIC):
        return "it does not start with the SQLite header"
    if len(header) < 100:
        return f"it is only {len(header)} bytes long, shorter than a SQLite header"
    try:
        db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as e:
        raise StoreError(f"cannot open the database {path}: {e}") from e
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        _refuse_newer(version, path)
        problems = [r[0] for r in db.execute("PRAGMA integrity_check(3)")]
        if problems != ["ok"]:
            return "integrity check: " + "; ".join(problems)
        return _layout_problem(db, version)
    except sqlite3.Error as e:
        if getattr(e, "sqlite_errorcode", 0) & 0xFF in DAMAGE_CODES:
            return str(e)
        raise StoreError(f"cannot read the database {path}: {e}") from e
    finally:
        db.close()


def _layout_problem(db: sqlite3.Connection, version: int) -> str | None:
    """What is wrong with the tables of an intact file, or None (an empty file is fine)."""
    objects = dict(
        db.execute("SELECT name, type FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
    )
    tables = sorted(n for n, t in objects.items() if t in ("table", "view"))
    layout = _layout_for(version)
    if tables and not set(tables) & set(layout):
        return f"it holds none of this app's tables, but {', '.join(tables)}"
    for table, columns in layout.items():
        if table not in objects:
            if version == SCHEMA_VERSION and tables:
                return f"its table {table} is missing"
            continue  # an unversioned file from a boot cut off while creating its tables
        if objects[table] != "table":
            return f"its {table} is a {objects[table]}, not a table"
        found = [c[1] for c in db.execute(f"PRAGMA table_info({table})")]
        if found != columns:
            return f"its table {table} has columns ({', '.join(found)}), not ({', '.join(columns)})"
    return None


def _move_aside(path: Path, reason: str, side_files: list[str]) -> StoreNotice:
    """Rename the file (and its side files, as ``<moved>-wal`` etc., so the moved set still
    opens as one database) to a name not yet taken."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    base = f"{path.name}.corrupt-{stamp}"
    target, n = path.with_name(base), 1
    while any(p.exists() for p in [target, *(_side(target, s) for s in SIDE_FILES)]):
        n += 1
        target = path.with_name(f"{base}-{n}")
    try:
        os.rename(path, target)
        for suffix in side_files:  # a stale -wal or -journal must not touch the fresh file
            os.rename(_side(path, suffix), _side(target, suffix))
    except OSError as e:
        raise StoreError(
            f"the database {path} is damaged ({reason}) and could not be moved aside to"
            f" {target}: {e.strerror or e}"
        ) from e
    with_side = f" (with its {', '.join(side_files)} files)" if side_files else ""
    message = (
        f"the database {path} was damaged ({reason}); it was moved to {target}{with_side}"
        " and a fresh one was started"
    )
    return StoreNotice(message, path, target)
