"""One write transaction on a connection opened with ``isolation_level=None``."""

import contextlib
import sqlite3
from collections.abc import Iterator


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, ROLLBACK on error (a failed COMMIT's too). IMMEDIATE takes
    the write lock at once, so a transaction never fails half-way for want of it."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        # SQLite may have rolled back already (a full disk does); a COMMIT that failed has not
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
