"""Opening a file: WAL mode, then today's tables for a new file or, for an older one, one
transaction per step of ``MIGRATIONS`` up to ``SCHEMA_VERSION``. The first release wrote no
version (``user_version`` 0) and the same tables as version 2; a file of a newer version is
refused (``StoreError``), since a newer release's data must not be destroyed by an older one.
"""

import json
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from app.store.errors import StoreError
from app.store.schema import (
    ADDED_IN,
    SCHEMA_VERSION,
    create_tables,
    refuse_newer,
    schema_v5,
    statements,
)
from app.store.thinning import thin_weights
from app.store.transaction import transaction

log = logging.getLogger(__package__)  # "app.store": one logger for the package


def _from_unversioned(db: sqlite3.Connection) -> None:
    """0 → 2: the first release wrote version 2's tables and no version; a boot cut off while
    creating them left some out, which the schema (``IF NOT EXISTS``) adds."""
    for statement in statements(schema_v5()):
        db.execute(statement)


def _add_frames(db: sqlite3.Connection) -> None:
    """2 → 3: the ``frames`` table (the newest step's weights before its update and gradient,
    per model, so /api/params still shows them after a restart)."""
    create_tables(db, "TABLE IF NOT EXISTS frames")


def _add_weights(db: sqlite3.Connection) -> None:
    """3 → 4: the ``weights`` table (every step's weights, for viewing any past step). Steps
    trained before it existed have none: a model's viewable steps start where its rows do."""
    create_tables(db, "TABLE IF NOT EXISTS weights")


def _add_moments_and_probes(db: sqlite3.Connection) -> None:
    """4 → 5: Adam's m and v at every checkpoint (``moments``: with the weights, what a past
    step's Parameters panel replays from) and each step's probe distributions (``probes``: the
    "after e" line over all steps). Steps trained before have none."""
    create_tables(db, "TABLE IF NOT EXISTS moments", "TABLE IF NOT EXISTS probes")


def _runs_from_models(db: sqlite3.Connection) -> None:
    """5 → 6: a run becomes the unit. The old ``runs`` (training segments of the one model)
    become ``segments``, and every model kept (the current one and those a reset or an upload
    replaced) becomes a run of the new ``runs`` table, named after its id, its settings read
    from its newest checkpoint; the current model stays the default run."""
    db.execute("ALTER TABLE runs RENAME TO segments")
    db.execute("DROP INDEX IF EXISTS runs_model")
    db.execute("ALTER TABLE history RENAME COLUMN run_id TO segment")
    db.execute("ALTER TABLE checkpoints RENAME COLUMN run_id TO segment")
    create_tables(db, "TABLE IF NOT EXISTS runs", "INDEX IF NOT EXISTS segments")
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


def _add_tables(version: int) -> Callable[[sqlite3.Connection], None]:
    def add(db: sqlite3.Connection) -> None:
        create_tables(db, *(f"TABLE IF NOT EXISTS {t} " for t in ADDED_IN[version]))

    return add


def _add_class_design(db: sqlite3.Connection) -> None:
    """8 → 9: a class's experiment design (``design``: seeds each or same, the setting varied
    across the class), the teacher's ``hold`` (paused or stopped) and its join counter
    (``joins``); a member's ``slot`` (their place in join order). A class made before kept
    every student on the preset's seed, so it stays "same"; members get slots by join order."""
    for table, columns in ADDED_COLUMNS.items():
        # a file older than version 8 got these tables as they are today (``_add_tables``)
        have = {c[1] for c in db.execute(f"PRAGMA table_info({table})")}
        for column in columns:
            if column.split()[0] not in have:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
    db.execute(
        "UPDATE members SET slot = (SELECT COUNT(*) FROM members AS m"
        " WHERE m.class = members.class AND m.id < members.id)"
    )
    db.execute("UPDATE classes SET joins = (SELECT COUNT(*) FROM members WHERE class = code)")


ADDED_COLUMNS = {
    "classes": (
        """design TEXT NOT NULL DEFAULT '{"seeds": "same"}'""",
        "hold TEXT",
        "joins INTEGER NOT NULL DEFAULT 0",
    ),
    "members": ("slot INTEGER NOT NULL DEFAULT 0",),
}


# from_version → step; each step takes a file from its version to the next key (the last one to
# SCHEMA_VERSION), in one transaction that also stamps the new version. A step that changes a
# table must also teach ``schema.layout_for`` the table's earlier columns.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    0: _from_unversioned,
    2: _add_frames,
    3: _add_weights,
    4: _add_moments_and_probes,
    5: _runs_from_models,
    # 6 → 7: the ``validation`` table (the loss on each run's held-out documents, every few
    # steps). Steps trained before it have none; a run made then holds out documents only if it
    # has not yet trained past them (engine.checkpoint.n_train_of).
    6: _add_tables(7),
    # 7 → 8: classes, their teachers, members (a student's name and run) and every run of a
    # member
    7: _add_tables(8),
    8: _add_class_design,
    9: thin_weights,
}


def prepare(db: sqlite3.Connection, path: Path) -> None:
    """WAL mode, then the tables of a new file or the migrations of an older one; space
    given back as rows are deleted (incremental auto-vacuum)."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    refuse_newer(version, path)
    new = version == 0 and not db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone()
    if new:  # before the first page is written: an existing file needs a VACUUM for it
        db.execute("PRAGMA auto_vacuum=INCREMENTAL")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    if new:
        with transaction(db):  # a new (or empty) file: today's tables, stamped
            create_tables(db)
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
        with transaction(db):
            MIGRATIONS[version](db)
            db.execute(f"PRAGMA user_version={target}")
        log.info("migrated the database %s from schema version %d to %d", path, version, target)
        version = target
    if db.execute("PRAGMA auto_vacuum").fetchone()[0] != INCREMENTAL:
        started = time.monotonic()
        db.execute("PRAGMA auto_vacuum=INCREMENTAL")
        db.execute("VACUUM")  # rewrites the file once: from now on deleted rows give space back
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        log.info("the database %s vacuumed in %.1f s", path, time.monotonic() - started)


INCREMENTAL = 2  # PRAGMA auto_vacuum's value for incremental
