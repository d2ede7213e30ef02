"""The tables of the database and its schema version (``PRAGMA user_version``), with the
layouts earlier versions had, which the migrations and the damage check compare against."""

import sqlite3
from pathlib import Path

from app.store.errors import StoreError

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
    spotlight INTEGER,
    design TEXT NOT NULL DEFAULT '{"seeds": "same"}',
    hold TEXT,
    joins INTEGER NOT NULL DEFAULT 0
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
    joined_at REAL NOT NULL,
    slot INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS member_runs (run INTEGER PRIMARY KEY, member INTEGER NOT NULL);
"""

SCHEMA_VERSION = 10  # PRAGMA user_version of the layout above
# the tables each version added (a file of an earlier version has none of them)
ADDED_IN = {7: ("validation",), 8: ("classes", "teachers", "members", "member_runs")}
# the columns each version added to a table it did not create
COLUMNS_ADDED_IN = {
    9: {"classes": ("design", "hold", "joins"), "members": ("slot",)},
}


def statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def create_tables(db: sqlite3.Connection, *only: str) -> None:
    """Today's tables (with their indexes), or only those whose statement creates one of
    ``only`` (e.g. ``"TABLE IF NOT EXISTS frames"``)."""
    for statement in statements(SCHEMA):
        if not only or any(part in statement for part in only):
            db.execute(statement)


def schema_v5() -> str:
    """The tables as version 5 had them: segments were called runs (and a row's segment its
    run_id), and there was no table of runs."""
    later = [t for tables in ADDED_IN.values() for t in tables]
    kept = [
        s
        for s in statements(SCHEMA)
        if "TABLE IF NOT EXISTS runs" not in s
        and not any(f"TABLE IF NOT EXISTS {t} " in s for t in later)
    ]
    text = ";\n".join(kept).replace("segments", "runs")
    return text.replace("segment INTEGER", "run_id INTEGER")


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


def layout_for(version: int) -> dict[str, list[str]]:
    """The tables and columns a file of schema ``version`` has (before 7: no validation;
    before 6: the segments were called runs, and history and checkpoints named theirs
    run_id)."""
    if version >= SCHEMA_VERSION:
        return LAYOUT
    later = {t for v, tables in ADDED_IN.items() if v > version for t in tables}
    if version >= 6:
        return _without_later_columns(
            {t: cols for t, cols in LAYOUT.items() if t not in later}, version
        )
    old = {t: list(cols) for t, cols in LAYOUT.items() if t not in ("runs", "segments", *later)}
    old["runs"] = LAYOUT["segments"]
    for table in ("history", "checkpoints"):
        old[table] = ["run_id" if c == "segment" else c for c in old[table]]
    return old


def _without_later_columns(layout: dict[str, list[str]], version: int) -> dict[str, list[str]]:
    for v, tables in COLUMNS_ADDED_IN.items():
        if v > version:
            for table, columns in tables.items():
                if table in layout:
                    layout[table] = [c for c in layout[table] if c not in columns]
    return layout


def refuse_newer(version: int, path: Path) -> None:
    """A newer release's data must not be touched by an older one."""
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the database {path} has schema version {version}, newer than version"
            f" {SCHEMA_VERSION} that this release understands; it was written by a newer"
            " release: run that release, or point the data directory elsewhere"
        )
