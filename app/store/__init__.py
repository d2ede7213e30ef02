"""SQLite persistence (WAL): runs, their segments, per-step history, checkpoints, classes.

``open_store`` is the checked way in: a damaged file is moved aside first (``recovery``), an
older one is migrated (``migrations``), a newer or unreadable one is refused (``StoreError``).

One module per concern: ``schema`` (tables, version), ``migrations``, ``recovery``,
``database`` (the connection, its lock, transactions, event ids), and one part of ``Store``
each for ``runs`` (and segments), ``checkpoints`` (what a checkpoint writes atomically),
``history`` (reading a run's past step by step) and ``classes`` (every statement of
``app.classes``).

Why ``Store`` is composed by inheritance: every part must share one connection, one lock and
one transaction (a checkpoint writes history, weights and its segment's progress together), and
callers keep one object with the methods they always had. Each part subclasses ``Database``,
which owns that connection, so what a part may use is stated where it is defined; delegation
would instead forward some thirty methods one by one, and separate objects per part would
change every caller.
"""

import sqlite3
from pathlib import Path

from app.store.checkpoints import CheckpointsRepo
from app.store.classes import ClassesRepo, ClassRow, MemberRow, StoredClasses
from app.store.errors import StoreError
from app.store.history import HistoryRepo
from app.store.recovery import StoreNotice, preflight, recover
from app.store.rows import CheckpointRow, FrameRow, HistoryRow, RunRecord, SegmentRow
from app.store.runs import RunsRepo
from app.store.schema import SCHEMA, SCHEMA_VERSION
from app.store.write_failure import StoreWriteError

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "CheckpointRow",
    "ClassRow",
    "FrameRow",
    "HistoryRow",
    "MemberRow",
    "RunRecord",
    "SegmentRow",
    "Store",
    "StoreError",
    "StoreNotice",
    "StoreWriteError",
    "StoredClasses",
    "open_store",
    "preflight",
]


class Store(RunsRepo, CheckpointsRepo, HistoryRepo, ClassesRepo):
    """The database at a path, opened and migrated: ``Store(path)``, or ``open_store(path)``
    to check it first."""


def open_store(path: Path) -> tuple[Store, StoreNotice | None]:
    """The store at ``path``, checked and migrated; a damaged file is moved aside and a fresh
    store started, which the notice reports. Raises StoreError if the file must be left alone
    (unreadable, or written by a newer release)."""
    notice = recover(path)
    try:
        return Store(path), notice
    except OSError as e:
        raise StoreError(f"cannot open the database {path}: {e.strerror or e}") from e
    except sqlite3.Error as e:
        raise StoreError(f"cannot open the database {path}: {e}") from e
