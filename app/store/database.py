"""The one connection every part of the store shares: a lock around it, its write transaction,
and the event id each write records.

Calls are synchronous and thread-safe (one connection behind a lock); the service runs them via
``asyncio.to_thread``.

Event ids (``app.bus``) must grow across restarts even if the wall clock steps back, so the last
id issued is kept in ``meta`` (key ``last_event_id``): ``track_event_ids`` names where to read
it, and every write transaction and ``close`` write it. No write is added per event; a crash
can lose the ids issued since the last write (one checkpoint interval's events), so the next
boot starts ``EVENT_ID_RESERVE`` above the stored value.
"""

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from app.store.migrations import prepare
from app.store.transaction import transaction
from app.store.write_failure import StoreWriteError, write_failure

# ids a crashed boot may have issued after its last write: far more events than are published
# between two writes (one checkpoint interval), far fewer than the 2**63 ids SQLite can hold
EVENT_ID_RESERVE = 1_000_000


class Database:
    """The connection, opened (and migrated) at ``path``; the base of each part of ``Store``."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.data_dir = path.parent
        # why the last write failed (the disk full, read-only...), until one succeeds again
        self.write_failed: StoreWriteError | None = None
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            self._db.execute("PRAGMA busy_timeout=5000")
            prepare(self._db, path)
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

    def track_event_ids(self, last_id: Callable[[], int]) -> int:
        """Record ``last_id()`` with every write from now on; returns the id this boot's
        events must start above (the previous boot's last id, plus the crash reserve)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key='last_event_id'").fetchone()
            self._event_ids = last_id
        return int(row[0]) + EVENT_ID_RESERVE if row else 0

    # -- for the parts --

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """The lock, and one transaction under it. A write the disk refuses raises
        StoreWriteError saying why (and is remembered until a write succeeds: /healthz)."""
        try:
            with self._lock, self._tx() as db:
                yield db
        except (sqlite3.OperationalError, OSError) as e:
            failure = write_failure(e, self.data_dir)
            if failure is None:
                raise
            self.write_failed = failure
            raise failure from e
        self.write_failed = None

    def _reclaim(self) -> None:
        """Give the pages deleted rows freed back to the disk (incremental auto-vacuum), and
        empty the write-ahead log into the file. Best effort: a busy reader only delays it."""
        with self._lock:
            try:
                # a script runs the pragma to its end (execute() would free one page)
                self._db.executescript(
                    "PRAGMA incremental_vacuum; PRAGMA wal_checkpoint(TRUNCATE);"
                )
            except sqlite3.OperationalError:
                pass  # the next delete tries again

    def _rows(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _row(self, sql: str, args: tuple = ()) -> tuple | None:
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A transaction (the lock held by the caller) whose commit records the event id."""
        event_ids = self._event_ids
        with transaction(self._db) as db:
            yield db
            if event_ids is not None:
                db.execute(
                    "INSERT INTO meta VALUES ('last_event_id', ?) ON CONFLICT (key) DO UPDATE"
                    " SET value = MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
                    (str(event_ids()),),
                )
