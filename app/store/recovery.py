"""Checking a database file before it is opened, and moving a damaged one aside.

A file that is empty, is not SQLite, fails ``PRAGMA integrity_check`` or holds malformed tables
is never used and never deleted: it is moved aside (with its ``-wal``/``-shm``/``-journal``
files) to ``<name>.corrupt-<UTC time>``, one warning names both files, and the caller starts a
fresh database. Anything that is not damage is refused with a ``StoreError`` and left alone: a
file this process may not read, and a file whose schema version is newer than this release's.
"""

import logging
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from app.store.errors import StoreError
from app.store.schema import SCHEMA_VERSION, layout_for, refuse_newer

log = logging.getLogger(__package__)  # "app.store": one logger for the package

SQLITE_MAGIC = b"SQLite format 3\x00"
SIDE_FILES = ("-wal", "-shm", "-journal")
# SQLite's own words for a damaged file; any other error (locked, unreadable, I/O) is not damage
DAMAGE_CODES = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}


@dataclass(frozen=True)
class StoreNotice:
    """A damaged database was moved aside and a fresh one started; ``message`` says so in one
    sentence naming both files."""

    message: str
    original: Path
    moved_to: Path


def recover(path: Path) -> StoreNotice | None:
    """Move the file at ``path`` aside if it is damaged (the notice says so, and a warning);
    None if there is no file or it is usable. Raises StoreError if it must be left alone."""
    existing = _side_files(path)
    if existing is None:
        return None
    reason = _probe(path, existing)
    if reason is None:
        return None
    notice = _move_aside(path, reason, existing)
    log.warning("%s", notice.message)
    return notice


def preflight(path: Path) -> None:
    """Raise StoreError now if the database at ``path`` must be left alone (unreadable, or
    written by a newer release), so the server can say so in one line before it starts. Damage
    is not an error here: ``open_store`` moves a damaged file aside."""
    existing = _side_files(path)
    if existing is not None:
        _probe(path, existing)


def _side_files(path: Path) -> list[str] | None:
    """The suffixes of the side files ``path`` has, or None if there is no file at ``path``."""
    try:
        if not path.exists():
            return None
        return [suffix for suffix in SIDE_FILES if _side(path, suffix).exists()]
    except OSError as e:
        raise StoreError(f"cannot read the database {path}: {e.strerror or e}") from e


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


def _side(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


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
        refuse_newer(version, path)
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
    layout = layout_for(version)
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
