"""Runs (a name and settings; a run's id is its model's), the default run, and each run's
training segments."""

import json
import time

from app.store.database import Database
from app.store.rows import RunRecord, SegmentRow

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


class RunsRepo(Database):
    # -- runs --

    def default_run(self) -> int | None:
        """The server-wide default run (the newest created or selected), if any."""
        row = self._row("SELECT value FROM meta WHERE key='model'")
        return int(row[0]) if row else None

    def select_run(self, run: int) -> None:
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('model', ?)", (str(run),))
            db.execute("UPDATE runs SET selected_at=? WHERE id=?", (time.time(), run))

    def create_run(self, name: str, settings: dict, checkpoint: str, step: int, reason: str) -> int:
        """A new run (its id is its model's) from ``checkpoint``; it becomes the default run."""
        with self._write() as db:
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
        rows = self._rows("SELECT id, name, created_at, settings FROM runs ORDER BY id")
        return [RunRecord(r[0], r[1], r[2], json.loads(r[3])) for r in rows]

    def run(self, run: int) -> RunRecord | None:
        """One run's record (a class of 300 makes 300: not the whole list each time)."""
        r = self._row("SELECT id, name, created_at, settings FROM runs WHERE id=?", (run,))
        return None if r is None else RunRecord(r[0], r[1], r[2], json.loads(r[3]))

    def rename_run(self, run: int, name: str) -> None:
        with self._write() as db:
            db.execute("UPDATE runs SET name=? WHERE id=?", (name, run))

    def delete_run(self, run: int) -> None:
        """The run and everything of its model: nothing of it is left, and its space goes
        back to the disk."""
        with self._write() as db:
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
        self._reclaim()

    # -- segments --

    def create_segment(self, model: int, start_step: int, steps: int, lr: float) -> SegmentRow:
        now = time.time()
        with self._write() as db:
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
        with self._write() as db:
            db.execute(
                "UPDATE segments SET status=?, reason=?, ended_at=?, step=? WHERE id=?",
                (segment.status, segment.reason, segment.ended_at, segment.step, segment.id),
            )

    def segments(self, model: int) -> list[SegmentRow]:
        rows = self._rows(
            "SELECT id, model, start_step, steps, step, lr, status, reason, started_at,"
            " ended_at, elapsed FROM segments WHERE model=? ORDER BY id",
            (model,),
        )
        return [SegmentRow(*r) for r in rows]
