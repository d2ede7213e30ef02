"""9 → 10: every step's weights thinned to kept states (``app.store.kept``).

Before version 10 each step's weights had a row, and Adam's m and v one at each checkpoint.
Now only the kept states (the steps with both) keep their weights; the steps in between are
replayed from them when viewed. Each row is deleted only once training replayed from the kept
state before it gives those very weights (and at the next kept state the very m and v): a step
that does not replay exactly keeps its row, and so do the steps after it up to the next kept
state. The checkpoints' JSON is stored without the arrays their kept state holds. Then every
array left in ``weights`` and ``moments`` is packed (``kept.pack``), as version 10 stores them.
"""

import json
import logging
from array import array

from app.store import kept
from engine import EngineError, Trainer
from engine.replay import replay_training

log = logging.getLogger(__package__)


def thin_weights(db) -> None:
    models = [r[0] for r in db.execute("SELECT DISTINCT model FROM checkpoints ORDER BY model")]
    for model in models:
        strip_checkpoints(db, model)
        between = db.execute(
            "SELECT 1 FROM weights AS w WHERE model=? AND NOT EXISTS (SELECT 1 FROM moments"
            " AS m WHERE m.model = w.model AND m.step = w.step) LIMIT 1",
            (model,),
        ).fetchone()
        if between is None:
            continue  # nothing stored between kept states
        trainer = _trainer(db, model)
        if trainer is not None:
            dropped = thin_model(db, model, trainer)
            log.info("model %d: %d steps' weights thinned to kept states", model, dropped)
    pack_rows(db)


def pack_rows(db) -> None:
    """Every array in ``weights`` and ``moments`` packed, one row at a time."""
    for model, step in db.execute("SELECT model, step FROM weights").fetchall():
        (data,) = db.execute(
            "SELECT data FROM weights WHERE model=? AND step=?", (model, step)
        ).fetchone()
        db.execute(
            "UPDATE weights SET data=? WHERE model=? AND step=?", (kept.pack(data), model, step)
        )
    for model, step in db.execute("SELECT model, step FROM moments").fetchall():
        m, v = db.execute(
            "SELECT m, v FROM moments WHERE model=? AND step=?", (model, step)
        ).fetchone()
        db.execute(
            "UPDATE moments SET m=?, v=? WHERE model=? AND step=?",
            (kept.pack(m), kept.pack(v), model, step),
        )


def strip_checkpoints(db, model: int) -> None:
    """Each checkpoint of ``model`` stored without its arrays, once its step is a kept state
    with the very same weights, m and v."""
    rows = db.execute("SELECT id, step, data FROM checkpoints WHERE model=?", (model,)).fetchall()
    for ckpt, step, data in rows:
        stripped = kept.split(data)
        if stripped is None:
            continue
        text, weights, m, v = stripped
        have = db.execute(
            "SELECT w.data, m.m, m.v FROM weights AS w JOIN moments AS m ON m.model = w.model"
            " AND m.step = w.step WHERE w.model=? AND w.step=?",
            (model, step),
        ).fetchone()
        if have is None:
            db.execute("INSERT OR REPLACE INTO weights VALUES (?, ?, ?)", (model, step, weights))
            db.execute("INSERT OR REPLACE INTO moments VALUES (?, ?, ?, ?)", (model, step, m, v))
        elif tuple(have) != (weights, m, v):
            continue  # the rows are the history's: this checkpoint stays whole
        db.execute("UPDATE checkpoints SET data=? WHERE id=?", (text, ckpt))


def _trainer(db, model: int) -> Trainer | None:
    """The model's newest checkpoint as a trainer: its shape, vocabulary and documents."""
    row = db.execute(
        "SELECT step, data FROM checkpoints WHERE model=? ORDER BY id DESC LIMIT 1", (model,)
    ).fetchone()
    try:
        data = row[1]
        if kept.is_split(data):
            state = db.execute(
                "SELECT w.data, m.m, m.v FROM weights AS w JOIN moments AS m ON m.model ="
                " w.model AND m.step = w.step WHERE w.model=? AND w.step=?",
                (model, row[0]),
            ).fetchone()
            data = kept.join(data, *state)
        return Trainer.from_dict(json.loads(data))
    except (EngineError, ValueError, TypeError, KeyError) as e:
        log.warning("model %d keeps every step's weights: its checkpoint fails (%s)", model, e)
        return None


def thin_model(db, model: int, trainer: Trainer) -> int:
    """Delete the weights of ``model``'s steps that replay exactly from a kept state; returns
    how many."""
    rows = db.execute("SELECT step FROM weights WHERE model=? ORDER BY step", (model,))
    steps = [r[0] for r in rows]
    moments = dict(
        (r[0], (r[1], r[2]))
        for r in db.execute("SELECT step, m, v FROM moments WHERE model=?", (model,))
    )
    lrs = dict(db.execute("SELECT step, lr FROM history WHERE model=?", (model,)).fetchall())
    stored = set(steps)
    offset = trainer.adam.t - trainer.step
    docs = trainer.docs[: trainer.n_train]
    dropped = []
    for first in [s for s in steps if s in moments]:  # each kept state, and the steps after it
        interval, step = [], first + 1
        while step in stored and step in lrs:
            interval.append(step)
            if step in moments:
                break
            step += 1
        if not interval:
            continue
        arrays = (_weights(db, model, first), *moments[first])
        state = tuple(array("d", kept.from_le(b)) for b in arrays)
        rates = [lrs[k] for k in interval]
        replayed = replay_training(
            trainer.config, trainer.tokenizer, docs, state, first + 1, rates, offset + first
        )
        for past, after in replayed:
            step = past.step
            exact = kept.le_bytes(after[0]) == _weights(db, model, step)
            if step in moments:
                exact = exact and moments[step] == tuple(kept.le_bytes(a) for a in after[1:])
            if not exact:
                log.warning("model %d: step %d does not replay exactly (kept)", model, step)
                break
            if step not in moments:
                dropped.append(step)
    db.executemany("DELETE FROM weights WHERE model=? AND step=?", [(model, s) for s in dropped])
    return len(dropped)


def _weights(db, model: int, step: int) -> bytes:
    row = db.execute("SELECT data FROM weights WHERE model=? AND step=?", (model, step))
    return row.fetchone()[0]
