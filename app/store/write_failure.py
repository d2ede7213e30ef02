"""A write the disk refused (full, read-only, an I/O error), said in words a user can act on.

The database raises ``sqlite3.OperationalError`` ("database or disk is full", "attempt to
write a readonly database", "disk I/O error") and the file system ``OSError`` (ENOSPC, EROFS,
EIO, EDQUOT); both become ``StoreWriteError``, whose ``reason`` names the cause and the fix
(e.g. "the disk is full: 3 MB free; free space and press Resume") and whose ``status_code`` is
507 (no space) or 503 (the disk cannot be written now). Callers stop what needed the write and
keep what was stored; nothing else is lost.
"""

import contextlib
import errno
import os
import shutil
import sqlite3
from pathlib import Path

NO_SPACE = ("database or disk is full", "disk quota")
READ_ONLY = ("readonly database", "read-only")
IO_ERROR = ("disk i/o error",)


class StoreWriteError(RuntimeError):
    """The store could not write: ``reason`` for the user, ``status_code`` for the API."""

    def __init__(self, reason: str, status_code: int):
        super().__init__(reason)
        self.reason, self.status_code = reason, status_code


def free_space(path: Path) -> str:
    """``3 MB free`` on the file system holding ``path``, or "" if it cannot be told."""
    try:
        free = shutil.disk_usage(path).free
    except OSError:
        return ""
    return f"{free / 1e6:,.0f} MB free" if free >= 1e6 else f"{free:,} bytes free"


def write_failure(exc: BaseException, data_dir: Path) -> StoreWriteError | None:
    """``exc`` as a StoreWriteError if the disk refused a write, else None (another error)."""
    if isinstance(exc, StoreWriteError):
        return exc
    code = exc.errno if isinstance(exc, OSError) else None
    text = str(exc).lower() if isinstance(exc, (sqlite3.OperationalError, OSError)) else ""
    if not text and code is None:
        return None
    where = f" ({data_dir})"
    if code in (errno.ENOSPC, errno.EDQUOT) or any(t in text for t in NO_SPACE):
        free = free_space(data_dir)
        return StoreWriteError(
            f"the disk is full{': ' + free if free else ''}{where}; free space and press Resume",
            507,
        )
    if code == errno.EROFS or any(t in text for t in READ_ONLY):
        return StoreWriteError(
            f"the data directory cannot be written: it is read-only{where}; make it writable "
            "and press Resume",
            503,
        )
    if code == errno.EIO or any(t in text for t in IO_ERROR):
        return StoreWriteError(
            f"the disk reported an I/O error{where}; check the disk and press Resume", 503
        )
    return None


def unwritable(data_dir: Path) -> str | None:
    """Why the server cannot start on ``data_dir`` (it cannot be made, or a file in it cannot
    be written: read-only, an I/O error), in one line; None if it can (a full disk too)."""
    probe = data_dir / f".write-test-{os.getpid()}"
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as f:
            f.write(b"microgpt-live")
            f.flush()
            os.fsync(f.fileno())
        probe.unlink()
    except OSError as e:
        with contextlib.suppress(OSError):  # a read-only disk refuses even this
            probe.unlink(missing_ok=True)
        failure = write_failure(e, data_dir)
        if failure is not None and failure.status_code == 507:
            return None  # full: it serves what is stored, and says so (/healthz, the runs)
        why = failure.reason.split(";")[0] if failure else f"{e.strerror or e} ({data_dir})"
        return f"cannot start: {why}; give the server a writable data directory (--data-dir)"
    return None
