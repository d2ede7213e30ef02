"""The run status table (app.runs.machine), walked cell by cell.

The expected table is written out here, one line per status, independently of
``machine.TABLE``: a cell changed in the module (or a command or status added) fails here.
"""

import pytest

from app.runs.machine import REFUSALS, SUSPENDED, Command, Refused, Status, allows, transition

S, C = Status, Command
NO = None  # refused

# every command, in the order of the columns below
COLUMNS = (
    C.train,
    C.step,
    C.resume,
    C.grant,
    C.pause,
    C.stop,
    C.finish,
    C.stepped,
    C.diverge,
    C.worker_lost,
    C.interrupt,
)

# status → what each command of COLUMNS leads to (NO: refused)
EXPECTED = {
    S.idle: (S.queued, S.queued, NO, NO, NO, NO, NO, NO, NO, NO, NO),
    S.queued: (NO, NO, NO, S.training, S.paused, S.idle, NO, NO, NO, NO, S.interrupted),
    S.training: (
        NO,  # train
        NO,  # step
        NO,  # resume
        NO,  # grant
        S.paused,  # pause
        S.idle,  # stop
        S.idle,  # finish
        S.paused,  # stepped
        S.idle,  # diverge
        S.failed,  # worker_lost
        S.interrupted,  # interrupt
    ),
    S.paused: (S.queued, S.queued, S.queued, NO, NO, S.idle, NO, NO, NO, NO, NO),
    S.interrupted: (S.queued, S.queued, S.queued, NO, NO, S.idle, NO, NO, NO, NO, NO),
    S.failed: (S.queued, S.queued, S.queued, NO, NO, S.idle, NO, NO, NO, NO, NO),
}

CELLS = [
    (status, command, EXPECTED[status][i])
    for status in EXPECTED
    for i, command in enumerate(COLUMNS)
]


def test_expected_table_covers_every_status_and_command():
    assert set(EXPECTED) == set(Status)
    assert set(COLUMNS) == set(Command) and len(COLUMNS) == len(Command)
    assert all(len(row) == len(COLUMNS) for row in EXPECTED.values())


@pytest.mark.parametrize(
    ("status", "command", "after"),
    [cell for cell in CELLS if cell[2] is not None],
    ids=lambda v: str(v),
)
def test_transition_gives_the_expected_status(status, command, after):
    assert transition(status, command) is after
    assert allows(status, command)


@pytest.mark.parametrize(
    ("status", "command"),
    [cell[:2] for cell in CELLS if cell[2] is None],
    ids=lambda v: str(v),
)
def test_transition_refuses_with_a_reason(status, command):
    with pytest.raises(Refused) as info:
        transition(status, command)

    refused = info.value
    assert refused.status is status and refused.command is command
    assert isinstance(refused.reason, str) and refused.reason.strip()
    assert refused.reason == REFUSALS[command]
    message = str(refused)
    assert str(command) in message and str(status) in message and refused.reason in message
    assert not allows(status, command)


def test_suspended_statuses_are_those_that_resume():
    assert set(SUSPENDED) == {S.paused, S.interrupted, S.failed}
    assert {s for s in Status if allows(s, C.resume)} == set(SUSPENDED)


def test_every_start_of_training_goes_through_the_queue():
    starts = [(s, c) for s in Status for c in (C.train, C.step, C.resume) if allows(s, c)]

    assert starts
    assert {transition(s, c) for s, c in starts} == {S.queued}
    assert [s for s in Status if allows(s, C.grant)] == [S.queued]
