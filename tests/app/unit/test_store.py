"""The store on a temporary SQLite file, no server: what is written is read back."""

import contextlib
import dataclasses
import sqlite3
from pathlib import Path

import pytest

from app.store import FrameRow, HistoryRow, Store
from app.store.checkpoints import KEEP_CHECKPOINTS
from app.store.classes import ClassRow
from app.store.database import EVENT_ID_RESERVE

CHECKPOINT = '{"weights": [0.5, -0.25], "step": 0}'
SETTINGS = {"seed": 42, "lr": 0.01, "steps": 500}


@pytest.fixture
def path(tmp_path) -> Path:
    return tmp_path / "data" / "microgpt.db"


@pytest.fixture
def store(path):
    store = Store(path)
    yield store
    store.close()


def history(segment: int, steps: range) -> list[HistoryRow]:
    return [
        HistoryRow(
            s,
            segment,
            3.3 - s / 100,
            3.3,
            0.01,
            weights=bytes([s]) * 8,
            probes={"e": bytes([s]) * 4},
        )
        for s in steps
    ]


def test_create_run_makes_it_the_default_with_its_first_checkpoint(store):
    run = store.create_run("Run {id}", SETTINGS, CHECKPOINT, 0, "init")

    assert store.default_run() == run
    [record] = store.runs()
    assert (record.id, record.name, record.settings) == (run, f"Run {run}", SETTINGS)
    assert store.run(run) == record and store.run(run + 1) is None
    checkpoint = store.latest_checkpoint(run)
    assert (checkpoint.model, checkpoint.step, checkpoint.segment) == (run, 0, None)
    assert checkpoint.data == CHECKPOINT


def test_save_checkpoint_writes_history_weights_probes_and_progress_together(store):
    run = store.create_run("Run {id}", SETTINGS, CHECKPOINT, 0, "init")
    store.save_start(run, 0, b"w0", (b"m0", b"v0"), {"e": b"p0"})
    segment = store.create_segment(run, 0, 10, 0.01)
    frame = FrameRow(5, [0, 4, 7], b"before", b"grads")

    store.save_checkpoint(
        run,
        5,
        segment.id,
        CHECKPOINT,
        "pause",
        history(segment.id, range(1, 6)),
        elapsed=2.5,
        frame=frame,
        moments=(b"m5", b"v5"),
        validation=[(5, 2.9)],
    )

    assert [h.step for h in store.history(run, 5)] == [1, 2, 3, 4, 5]
    assert [h.step for h in store.history(run, 3)] == [1, 2, 3]
    assert store.step_lr(run, 4) == 0.01 and store.step_lr(run, 6) is None
    # only the checkpoint's step keeps its weights (a kept state, with its moments): the steps
    # between are replayed from the kept state before them (app.past.replay)
    assert store.weights(run, 3) is None and store.weights(run, 5) == bytes([5]) * 8
    assert store.kept_state(run, 4) == (0, b"w0", b"m0", b"v0")
    assert store.kept_state(run, 9) == (5, bytes([5]) * 8, b"m5", b"v5")
    assert store.lrs(run, 2, 3) == {2: 0.01, 3: 0.01}
    assert store.first_weights_step(run, 5) == 0
    assert store.probes(run, "e", 2) == [(0, b"p0"), (1, b"\x01" * 4), (2, b"\x02" * 4)]
    assert store.moments_at_or_before(run, 4) == (0, b"m0", b"v0")
    assert store.moments_at_or_before(run, 9) == (5, b"m5", b"v5")
    assert store.validation(run, 5) == [(5, 2.9)]
    assert store.latest_frame(run) == frame
    [kept] = store.segments(run)
    assert (kept.step, kept.elapsed, kept.status) == (5, 2.5, "queued")
    assert store.latest_checkpoint(run).step == 5


def test_first_weights_step_stops_at_a_gap(store, path):
    # weights stored step by step (before kept states) count while they follow on; from the
    # first kept state on, every step can be replayed
    run = store.create_run("Run {id}", SETTINGS, CHECKPOINT, 0, "init")
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.executemany(
            "INSERT INTO weights VALUES (?, ?, ?)", [(run, s, bytes([s]) * 8) for s in (1, 2, 4, 5)]
        )  # step 3 has none

    assert store.first_weights_step(run, 5) == 4
    assert store.first_weights_step(run, 9) is None  # step 9 itself has none
    store.save_start(run, 5, bytes([5]) * 8, (b"m5", b"v5"), {})
    assert store.first_weights_step(run, 9) == 4


def test_only_the_newest_checkpoints_are_kept(store, path):
    run = store.create_run("Run {id}", SETTINGS, CHECKPOINT, 0, "init")
    for step in range(1, KEEP_CHECKPOINTS + 3):
        store.save_checkpoint(run, step, None, CHECKPOINT, "pause", [])

    with contextlib.closing(sqlite3.connect(path)) as db:
        kept = db.execute("SELECT step FROM checkpoints WHERE model=? ORDER BY id", (run,))
        assert [r[0] for r in kept] == list(range(3, KEEP_CHECKPOINTS + 3))


def test_update_segment_keeps_its_status(store):
    run = store.create_run("Run {id}", SETTINGS, CHECKPOINT, 0, "init")
    segment = store.create_segment(run, 0, 10, 0.01)
    segment.status, segment.reason, segment.step, segment.ended_at = "stopped", "asked", 4, 9.0
    store.update_segment(segment)

    [kept] = store.segments(run)
    assert (kept.status, kept.reason, kept.step, kept.ended_at) == ("stopped", "asked", 4, 9.0)


def test_delete_run_leaves_nothing_and_moves_the_default(store):
    first = store.create_run("Run {id}", SETTINGS, CHECKPOINT, 0, "init")
    second = store.create_run("Run {id}", SETTINGS, CHECKPOINT, 0, "init")
    segment = store.create_segment(second, 0, 3, 0.01)
    store.save_checkpoint(second, 3, segment.id, CHECKPOINT, "finish", history(segment.id, [1]))

    store.delete_run(second)

    assert store.default_run() == first
    assert [r.id for r in store.runs()] == [first]
    assert store.history(second, 10) == [] and store.segments(second) == []
    assert store.latest_checkpoint(second) is None and store.weights(second, 1) is None
    third = store.create_run("Run {id}", SETTINGS, CHECKPOINT, 0, "init")
    assert third == second + 1  # a deleted run's id is never given again


def test_select_and_rename_run(store):
    first = store.create_run("Run {id}", SETTINGS, CHECKPOINT, 0, "init")
    store.create_run("Run {id}", SETTINGS, CHECKPOINT, 0, "init")
    store.select_run(first)
    store.rename_run(first, "Mine")

    assert store.default_run() == first
    assert store.runs()[0].name == "Mine"


def test_a_closed_store_reopens_with_its_data_and_event_ids(path):
    store = Store(path)
    assert store.track_event_ids(lambda: 41) == 0  # nothing stored yet
    run = store.create_run("Run {id}", SETTINGS, CHECKPOINT, 0, "init")
    store.close()

    again = Store(path)
    try:
        assert again.default_run() == run
        assert again.track_event_ids(lambda: 0) == 41 + EVENT_ID_RESERVE
    finally:
        again.close()


def new_class(store: Store, code: str = "ABC234", teacher: str | None = "t1") -> ClassRow:
    row = ClassRow(code, "Maths", {"seed": 1}, {"steps_per_run": 50}, "hash", 1.0, None, None)
    store.create_class(row, teacher)
    return row


def test_a_class_with_members_is_read_back(store):
    row = new_class(store)
    store.add_teacher(row.code, "t2")
    store.add_teacher(row.code, "t2")  # twice: kept once
    ada = store.add_member(row.code, "i-ada", "Ada", "rejoin-hash", 2.0, 0)
    bob = store.add_member(row.code, "i-bob", "Bob", "other-hash", 3.0, 1)
    store.add_member_run(ada, 7)
    store.add_member_run(ada, 8)
    store.add_member_run(bob, 9)

    stored = store.read_classes()

    assert stored.classes == [dataclasses.replace(row, joins=2)]  # the join counter moved on
    assert sorted(stored.teachers) == [(row.code, "t1"), (row.code, "t2")]
    assert [(m.id, m.name, m.identity, m.run, m.slot) for m in stored.members] == [
        (ada, "Ada", "i-ada", 8, 0),
        (bob, "Bob", "i-bob", 9, 1),
    ]
    assert sorted(stored.member_runs) == [(7, ada), (8, ada), (9, bob)]


def test_class_changes_are_written_through(store):
    row = new_class(store, teacher=None)
    ada = store.add_member(row.code, "i-ada", "Ada", "rejoin-hash", 2.0, 0)
    store.add_member_run(ada, 7)
    store.add_member_run(ada, 8)

    design = {"seeds": "same", "vary": {"field": "lr", "values": [0.01, 0.02]}}
    store.update_class_settings(row.code, {"seed": 2}, {"steps_per_run": 80}, design)
    store.set_class_hold(row.code, "pause")
    store.set_class_spotlight(row.code, 8)
    store.set_member_identity(ada, "i-ada-laptop", "new-rejoin-hash")
    store.forget_member_run(8, ada, 7, row.code, None)
    store.close_class(row.code, 5.0)

    stored = store.read_classes()
    [klass] = stored.classes
    assert (klass.preset, klass.limits) == ({"seed": 2}, {"steps_per_run": 80})
    assert (klass.design, klass.hold) == (design, "pause")
    assert (klass.closed_at, klass.spotlight) == (5.0, None)
    assert stored.teachers == []
    [member] = stored.members
    assert (member.identity, member.run, member.rejoin) == ("i-ada-laptop", 7, "new-rejoin-hash")
    assert stored.member_runs == [(7, ada)]

    store.set_class_spotlight(row.code, 7)
    store.remove_members([ada], row.code, None)
    stored = store.read_classes()
    assert stored.members == [] and stored.member_runs == []
    assert stored.classes[0].spotlight is None
