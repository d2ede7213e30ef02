"""Checkpoints, written in one transaction together with the history rows up to their step and
their run's progress, so what is on disk always agrees with itself: after a crash the model,
its step count and its loss curve come back from the same instant.

A checkpoint's step is a kept state (``app.store.kept``): its weights and Adam's m and v, the
one copy of them, each array packed (the checkpoint's JSON is stored without its arrays). The
steps in between keep only their history row and probes: time travel replays them from the
kept state before them.
"""

import json
import time
from collections.abc import Sequence

from app.store import kept
from app.store.database import Database
from app.store.rows import CheckpointRow, FrameRow, HistoryRow

KEEP_CHECKPOINTS = 3  # per model: the newest few, in case one is ever unreadable


class CheckpointsRepo(Database):
    def latest_checkpoint(self, model: int) -> CheckpointRow | None:
        """The model's newest checkpoint whose kept state is whole (its JSON as written)."""
        rows = self._rows(
            "SELECT id, model, step, segment, data FROM checkpoints WHERE model=? ORDER BY id DESC",
            (model,),
        )
        for row in rows:
            ckpt = CheckpointRow(*row)
            if not kept.is_split(ckpt.data):
                return ckpt
            state = self._row(
                "SELECT w.data, m.m, m.v FROM weights AS w JOIN moments AS m"
                " ON m.model = w.model AND m.step = w.step WHERE w.model=? AND w.step=?",
                (model, ckpt.step),
            )
            if state is not None:  # else lost (a file edited by hand): the one before
                ckpt.data = kept.join(ckpt.data, *map(kept.unpack, state))
                return ckpt
        return None

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
        state: tuple[bytes, bytes, bytes] | None = None,
    ) -> None:
        """The checkpoint (its step a kept state), the history rows up to it and the run's
        progress, atomically; and ``frame``, the step that made its weights, if given and the
        checkpoint not periodic (the model's newest one is kept; app.past.snapshots rebuilds
        a periodic one's), ``moments``, Adam's (m, v) at the checkpoint's step (when
        its JSON has none to keep), and the held-out losses (step, loss) measured up to it.
        ``state``: ``data`` came without its state (a training process's checkpoint), which is
        this (weights, m, v), as little-endian float64 bytes: kept as it is."""
        stripped = (data, *state) if state is not None else kept.split(data)
        if stripped is not None:
            data, weights, m, v = stripped
            moments = (m, v)
        else:  # the JSON stays whole; the newest weights of the rows are the checkpoint's
            weights = next((h.weights for h in history if h.step == step), None)
        weights = None if weights is None else kept.pack(weights)  # before the transaction
        moments = None if moments is None else tuple(map(kept.pack, moments))
        with self._write() as db:
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
            if frame is not None and reason != "periodic":  # else rebuilt by replay on load
                db.execute(
                    "INSERT OR REPLACE INTO frames VALUES (?, ?, ?, ?, ?)",
                    (model, frame.step, json.dumps(frame.tokens), frame.before, frame.grads),
                )
            db.executemany(
                "INSERT OR REPLACE INTO history VALUES (?, ?, ?, ?, ?, ?)",
                [(model, h.step, h.segment, h.loss, h.smooth, h.lr) for h in history],
            )
            if weights is not None:
                db.execute(
                    "INSERT OR REPLACE INTO weights VALUES (?, ?, ?)", (model, step, weights)
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

    def save_start(
        self,
        model: int,
        step: int,
        weights: bytes,
        moments: tuple[bytes, bytes],
        probes: dict[str, bytes],
    ) -> None:
        """What a model starts from (its first viewable step): weights, Adam's m and v, probes."""
        packed = kept.pack(weights), *map(kept.pack, moments)
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO weights VALUES (?, ?, ?)", (model, step, packed[0]))
            db.execute(
                "INSERT OR REPLACE INTO moments VALUES (?, ?, ?, ?)", (model, step, *packed[1:])
            )
            db.executemany(
                "INSERT OR REPLACE INTO probes VALUES (?, ?, ?, ?)",
                [(model, p, step, probs) for p, probs in probes.items()],
            )

    def latest_frame(self, model: int) -> FrameRow | None:
        row = self._row("SELECT step, tokens, before, grads FROM frames WHERE model=?", (model,))
        return FrameRow(row[0], json.loads(row[1]), row[2], row[3]) if row else None
