"""Opening the database: a damaged file is moved aside loudly, an older one is migrated, a newer
or unreadable one is refused and left alone (``app.store.open_store``)."""

import logging
import os
import random
import shutil
import sqlite3
from pathlib import Path

import pytest

from app.store import (
    SCHEMA,
    SCHEMA_VERSION,
    HistoryRow,
    Store,
    StoreError,
    open_store,
)
from app.store.schema import schema_v5

CHECKPOINT = '{"weights": [0.5, -0.25], "step": 0}'


def fill(path: Path, rows: int = 200) -> None:
    """A store holding one model, two checkpoints, a run and ``rows`` history rows."""
    store = Store(path)
    model = store.create_run("Run {id}", {}, CHECKPOINT, 0, "init")
    run = store.create_segment(model, 0, rows, 0.01)
    history = [HistoryRow(s, run.id, 3.3 - s / rows, 3.3, 0.01) for s in range(1, rows + 1)]
    store.save_checkpoint(model, rows, run.id, CHECKPOINT, "finish", history, elapsed=1.5)
    run.status, run.step = "done", rows
    store.update_segment(run)
    store.close()


def contents(path: Path) -> dict:
    """Every row of every table, read with plain sqlite3."""
    db = sqlite3.connect(path)
    try:
        return {
            t: sorted(db.execute(f"SELECT * FROM {t}").fetchall())
            for t in ("meta", "runs", "segments", "history", "checkpoints")
            if db.execute("SELECT 1 FROM sqlite_master WHERE name=?", (t,)).fetchone()
        }
    finally:
        db.close()


def user_version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return db.execute("PRAGMA user_version").fetchone()[0]
    finally:
        db.close()


def integrity(path: Path) -> str:
    """What ``PRAGMA integrity_check`` says ("ok" for an intact file), or the error it raised."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return "; ".join(r[0] for r in db.execute("PRAGMA integrity_check"))
    except sqlite3.DatabaseError as e:
        return f"error: {e}"
    finally:
        db.close()
        for suffix in ("-wal", "-shm"):  # a read-only connection leaves them behind, empty
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def moved_files(path: Path) -> list[Path]:
    """The moved-aside copies of ``path`` (not their -wal/-shm files)."""
    moved = path.parent.glob(f"{path.name}.corrupt-*")
    return sorted(p for p in moved if not p.name.endswith(("-wal", "-shm", "-journal")))


def warnings(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "app.store" and r.levelno >= logging.WARNING]


def assert_fresh_and_working(store: Store) -> None:
    assert store.default_run() is None
    model = store.create_run("Run {id}", {}, CHECKPOINT, 0, "init")
    row = store.latest_checkpoint(model)
    assert (row.model, row.step, row.data) == (model, 0, CHECKPOINT)


def assert_moved_aside(path: Path, original: bytes, caplog, sides: dict[str, bytes] | None = None):
    """open_store on the damaged ``path``: one warning, the old bytes kept, a fresh store."""
    caplog.set_level(logging.INFO, logger="app.store")
    store, notice = open_store(path)
    try:
        assert notice is not None
        assert notice.original == path
        (moved,) = moved_files(path)
        assert notice.moved_to == moved
        assert moved.name.startswith(f"{path.name}.corrupt-") and moved.name.endswith("Z")
        assert moved.read_bytes() == original
        for suffix, data in (sides or {}).items():
            assert Path(f"{moved}{suffix}").read_bytes() == data
        assert str(path) in notice.message and str(moved) in notice.message
        assert "damaged" in notice.message and "\n" not in notice.message
        (record,) = warnings(caplog)
        assert record.getMessage() == notice.message
        assert_fresh_and_working(store)
        assert user_version(path) == SCHEMA_VERSION
    finally:
        store.close()
    return notice


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "data" / "microgpt.sqlite3"


def test_a_missing_file_starts_a_fresh_store_silently(db, caplog):
    store, notice = open_store(db)
    assert notice is None and not warnings(caplog)
    assert_fresh_and_working(store)
    store.close()
    assert user_version(db) == SCHEMA_VERSION


def test_a_healthy_store_opens_with_its_data_and_no_notice(db, caplog):
    fill(db)
    before = contents(db)
    store, notice = open_store(db)
    try:
        assert notice is None and not warnings(caplog)
        assert store.default_run() == 1
        assert [h.step for h in store.history(1, 10**9)] == list(range(1, 201))
        assert store.latest_checkpoint(1).step == 200
    finally:
        store.close()
    assert contents(db) == before and not moved_files(db)


def test_a_healthy_store_left_with_its_wal_by_a_crash_keeps_its_data(db, tmp_path):
    """The check reads the -wal too (read-only: it folds nothing into the file)."""
    fill(db)
    live = Store(db)
    live.create_run("Run {id}", {}, '{"second": true}', 0, "upload")  # committed to the -wal only
    copy = tmp_path / "copy" / db.name
    copy.parent.mkdir()
    for suffix in ("", "-wal", "-shm"):
        shutil.copyfile(f"{db}{suffix}", f"{copy}{suffix}")
    live.close()
    assert Path(f"{copy}-wal").stat().st_size > 0
    store, notice = open_store(copy)
    try:
        assert notice is None
        assert store.default_run() == 2
        assert store.latest_checkpoint(2).data == '{"second": true}'
        assert len(store.history(1, 10**9)) == 200
    finally:
        store.close()


def test_an_empty_file_is_moved_aside(db, caplog):
    db.parent.mkdir(parents=True)
    db.write_bytes(b"")
    notice = assert_moved_aside(db, b"", caplog)
    assert "empty" in notice.message


def test_a_damaged_header_is_moved_aside(db, caplog):
    fill(db)
    data = bytearray(db.read_bytes())
    data[:100] = random.Random(1).randbytes(100)
    db.write_bytes(bytes(data))
    assert_moved_aside(db, bytes(data), caplog)


def test_a_garbage_text_file_is_moved_aside(db, caplog):
    db.parent.mkdir(parents=True)
    db.write_text("this is not a database\n" * 500)
    assert_moved_aside(db, db.read_bytes(), caplog)


def test_a_store_failing_its_integrity_check_is_moved_aside(db, caplog):
    fill(db, rows=20_000)
    vacuum = sqlite3.connect(db)  # every page in the file and in use: none on the free list
    vacuum.execute("VACUUM")
    page_size = vacuum.execute("PRAGMA page_size").fetchone()[0]
    vacuum.close()
    assert integrity(db) == "ok"
    data = bytearray(db.read_bytes())
    pages = len(data) // page_size
    assert pages > 50
    middle = pages // 2 * page_size
    data[middle : middle + page_size] = random.Random(7).randbytes(page_size)
    db.write_bytes(bytes(data))
    assert integrity(db) != "ok"  # the damage is real
    assert data[:16] == b"SQLite format 3\x00"  # and not in the header
    notice = assert_moved_aside(db, bytes(data), caplog)
    assert "-wal" not in notice.message  # the check itself leaves no side files to move


def test_malformed_tables_are_moved_aside(db, caplog):
    db.parent.mkdir(parents=True)
    other = sqlite3.connect(db)
    other.executescript(SCHEMA.replace("reason TEXT NOT NULL,", ""))  # checkpoints lacks reason
    other.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    other.close()
    notice = assert_moved_aside(db, db.read_bytes(), caplog)
    assert "checkpoints" in notice.message


def test_the_wal_and_shm_files_are_moved_with_a_damaged_file(db, tmp_path, caplog):
    fill(db)
    live = Store(db)
    live.create_run("Run {id}", {}, '{"second": true}', 0, "upload")
    copy = tmp_path / "copy" / db.name
    copy.parent.mkdir()
    for suffix in ("", "-wal", "-shm"):
        shutil.copyfile(f"{db}{suffix}", f"{copy}{suffix}")
    live.close()
    data = bytearray(copy.read_bytes())
    data[:100] = bytes(100)
    copy.write_bytes(bytes(data))
    sides = {s: Path(f"{copy}{s}").read_bytes() for s in ("-wal", "-shm")}
    assert sides["-wal"]

    notice = assert_moved_aside(copy, bytes(data), caplog, sides)
    # the stale -wal did not leak into the fresh file (it holds only the model made above)
    assert contents(copy)["checkpoints"][0][1] == 1 and len(contents(copy)["checkpoints"]) == 1
    assert "-wal" in notice.message


def test_a_taken_name_gets_a_unique_one(db, caplog, monkeypatch):
    db.parent.mkdir(parents=True)
    db.write_bytes(b"")
    first = assert_moved_aside(db, b"", caplog).moved_to
    caplog.clear()
    db.unlink()
    db.write_bytes(b"garbage")

    class Frozen:  # the same second as the first move
        @staticmethod
        def now(tz):
            from datetime import datetime

            return datetime.strptime(first.name.rsplit("-", 1)[1], "%Y%m%dT%H%M%SZ")

    monkeypatch.setattr("app.store.recovery.datetime", Frozen)
    store, notice = open_store(db)
    store.close()
    assert notice.moved_to == first.with_name(first.name + "-2")
    assert notice.moved_to.read_bytes() == b"garbage" and first.read_bytes() == b""


def test_an_older_unversioned_store_is_migrated_with_all_its_data(db, caplog):
    """The first release wrote version 5's tables (segments still called runs) and no
    version marker."""
    caplog.set_level(logging.INFO, logger="app.store")
    db.parent.mkdir(parents=True)
    old = sqlite3.connect(db, isolation_level=None)
    old.execute("PRAGMA journal_mode=WAL")
    old.executescript(schema_v5())
    old.executescript(
        """
        INSERT INTO meta VALUES ('model', '1'), ('last_event_id', '123');
        INSERT INTO runs VALUES (1, 1, 0, 50, 50, 0.01, 'done', NULL, 1.0, 2.0, 1.0);
        INSERT INTO runs VALUES (2, 1, 50, 50, 70, 0.01, 'interrupted', 'x', 3.0, 4.0, 0.5);
        """
    )
    old.executemany(
        "INSERT INTO history VALUES (1, ?, ?, ?, ?, 0.01)",
        [(s, 1 if s <= 50 else 2, 3.0 - s / 100, 3.1) for s in range(1, 71)],
    )
    old.execute(
        "INSERT INTO checkpoints (model, step, run_id, reason, created_at, data)"
        " VALUES (1, 70, 2, 'pause', 5.0, ?)",
        (CHECKPOINT,),
    )
    old.close()
    assert user_version(db) == 0
    before = contents(db)

    store, notice = open_store(db)
    try:
        assert notice is None and not warnings(caplog)
        assert store.default_run() == 1
        assert store.latest_checkpoint(1).data == CHECKPOINT
        assert [r.status for r in store.segments(1)] == ["done", "interrupted"]
        assert len(store.history(1, 70)) == 70
        assert store.track_event_ids(lambda: 0) == 123 + 1_000_000
    finally:
        store.close()
    after = contents(db)
    assert after["segments"] == before["runs"]  # the old runs are the segments now
    assert after["history"] == before["history"] and after["checkpoints"] == before["checkpoints"]
    assert [r[:2] for r in after["runs"]] == [(1, "Run 1")]  # the model became run 1
    assert user_version(db) == SCHEMA_VERSION
    assert not moved_files(db)
    assert any("migrated" in r.getMessage() for r in caplog.records)


def test_a_store_from_a_newer_release_is_refused_and_left_alone(db):
    fill(db)
    newer = sqlite3.connect(db)
    newer.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    newer.close()
    original = db.read_bytes()
    with pytest.raises(StoreError) as info:
        open_store(db)
    message = str(info.value)
    assert str(db) in message
    assert str(SCHEMA_VERSION + 1) in message and str(SCHEMA_VERSION) in message
    assert db.read_bytes() == original and not moved_files(db)
    with pytest.raises(StoreError):  # the plain constructor refuses too
        Store(db)
    assert db.read_bytes() == original


def test_an_unreadable_file_is_refused_and_left_alone(db, monkeypatch):
    fill(db)
    original = db.read_bytes()
    real_open = Path.open

    def denied(self, *args, **kwargs):  # chmod 000 does not stop root, who may run the tests
        if self == db:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", denied)
    with pytest.raises(StoreError) as info:
        open_store(db)
    assert str(db) in str(info.value) and "Permission denied" in str(info.value)
    monkeypatch.undo()
    assert db.read_bytes() == original and not moved_files(db)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_a_file_without_read_permission_is_refused_and_left_alone(db):
    fill(db)
    db.chmod(0)
    try:
        with pytest.raises(StoreError) as info:
            open_store(db)
        assert str(db) in str(info.value)
    finally:
        db.chmod(0o600)
    assert not moved_files(db)


def test_an_empty_valid_sqlite_file_is_initialized(db, caplog):
    db.parent.mkdir(parents=True)
    empty = sqlite3.connect(db)
    empty.execute("VACUUM")
    empty.close()
    assert db.stat().st_size > 0
    store, notice = open_store(db)
    try:
        assert notice is None and not warnings(caplog)
        assert_fresh_and_working(store)
    finally:
        store.close()
    assert user_version(db) == SCHEMA_VERSION
