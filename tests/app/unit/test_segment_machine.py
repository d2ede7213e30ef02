"""The segment status table (app.runs.machine.SEGMENT), walked cell by cell.

The expected table is written out here, one line per status, independently of the module's:
a cell changed there (or a status or event added) fails here.
"""

import pytest

from app.runs.machine import (
    SEGMENT_FINAL,
    SegmentEvent,
    SegmentRefused,
    SegmentStatus,
    segment_allows,
    segment_transition,
)

G, E = SegmentStatus, SegmentEvent
NO = None  # refused

COLUMNS = (
    E.requeue,
    E.start,
    E.pause,
    E.stepped,
    E.finish,
    E.stop,
    E.abandon,
    E.interrupt,
    E.fail,
    E.diverge,
)

# requeue, start, pause, stepped, finish, stop, abandon, interrupt, fail, diverge
EXPECTED = {
    G.queued: (NO, G.running, G.paused, NO, NO, G.stopped, G.stopped, G.interrupted, NO, NO),
    G.running: (
        NO,  # requeue
        NO,  # start
        G.paused,  # pause
        G.paused,  # stepped
        G.done,  # finish
        G.stopped,  # stop
        NO,  # abandon
        G.interrupted,  # interrupt
        G.failed,  # fail
        G.diverged,  # diverge
    ),
    G.paused: (G.queued, NO, NO, NO, G.done, NO, G.stopped, NO, NO, G.diverged),
    G.interrupted: (
        G.queued,
        NO,
        NO,
        NO,
        G.done,
        NO,
        G.stopped,
        G.interrupted,
        NO,
        G.diverged,
    ),
    G.failed: (G.queued, NO, NO, NO, NO, NO, G.stopped, NO, NO, NO),
    G.done: (NO,) * 10,
    G.stopped: (NO,) * 10,
    G.diverged: (NO,) * 10,
}

CELLS = [
    (status, event, EXPECTED[status][i]) for status in EXPECTED for i, event in enumerate(COLUMNS)
]


def test_expected_table_covers_every_status_and_event():
    assert set(EXPECTED) == set(SegmentStatus)
    assert set(COLUMNS) == set(SegmentEvent) and len(COLUMNS) == len(SegmentEvent)


@pytest.mark.parametrize(("status", "event", "expected"), CELLS)
def test_segment_transition_follows_the_table(status, event, expected):
    if expected is NO:
        assert not segment_allows(status, event)
        with pytest.raises(SegmentRefused) as refused:
            segment_transition(status, event)
        assert str(status) in str(refused.value) and str(event) in str(refused.value)
    else:
        assert segment_allows(status, event)
        assert segment_transition(status, event) == expected


def test_segment_transition_reads_a_stored_status_string():
    assert segment_transition("paused", E.requeue) is G.queued


def test_final_segments_never_change():
    assert all(not segment_allows(g, e) for g in SEGMENT_FINAL for e in SegmentEvent)
