"""The scheduler (app.runs.scheduler): at most ``workers`` runs train, the rest wait in a fair
queue (round-robin between groups, then owners; FIFO when every run is its own owner);
``waits`` estimates when each queued run starts."""

import pytest

from app.runs.scheduler import Scheduler, waits


class Grants:
    """on_grant callbacks that record which run was granted, in order."""

    def __init__(self):
        self.order: list[int] = []

    def of(self, run: int):
        return lambda: self.order.append(run)


def test_refuses_fewer_than_one_worker():
    with pytest.raises(ValueError, match="at least 1"):
        Scheduler(0)


def test_grants_at_once_while_a_worker_is_free():
    scheduler, grants = Scheduler(2), Grants()

    assert scheduler.request(1, grants.of(1)) == 0
    assert scheduler.request(2, grants.of(2)) == 0

    assert scheduler.running == {1, 2}
    assert scheduler.queue == []
    assert grants.order == []  # granted at once: the caller starts it, no callback


def test_queues_beyond_the_workers_with_1_based_positions():
    scheduler, grants = Scheduler(2), Grants()
    for run in (1, 2):
        scheduler.request(run, grants.of(run))

    assert scheduler.request(3, grants.of(3)) == 1
    assert scheduler.request(4, grants.of(4)) == 2
    assert scheduler.request(5, grants.of(5)) == 3

    assert scheduler.queue == [3, 4, 5]
    assert [scheduler.position(r) for r in (1, 2, 3, 4, 5, 6)] == [None, None, 1, 2, 3, None]
    assert len(scheduler.running) == 2


def test_asking_again_keeps_the_place_and_holds_no_second_worker():
    scheduler, grants = Scheduler(1), Grants()
    scheduler.request(1, grants.of(1))
    scheduler.request(2, grants.of(2))
    scheduler.request(3, grants.of(3))

    assert scheduler.request(1, grants.of(1)) == 0  # already running
    assert scheduler.request(2, lambda: grants.order.append(-2)) == 1  # its callback replaced
    assert scheduler.queue == [2, 3]

    scheduler.release(1)
    assert grants.order == [-2]


def test_release_grants_the_first_waiting_run_once():
    scheduler, grants = Scheduler(1), Grants()
    scheduler.request(1, grants.of(1))
    scheduler.request(2, grants.of(2))
    scheduler.request(3, grants.of(3))

    scheduler.release(1)

    assert grants.order == [2]
    assert scheduler.running == {2}
    assert scheduler.queue == [3] and scheduler.position(3) == 1
    scheduler.release(1)  # not running any more: frees nothing, grants nothing
    assert grants.order == [2] and scheduler.running == {2}

    scheduler.release(2)
    assert grants.order == [2, 3] and scheduler.running == {3}
    scheduler.release(3)
    assert grants.order == [2, 3] and scheduler.running == set() and scheduler.queue == []


def test_trains_in_fifo_order_and_never_more_than_workers():
    scheduler, grants = Scheduler(2), Grants()
    for run in range(1, 8):
        scheduler.request(run, grants.of(run))
        assert len(scheduler.running) <= 2

    while scheduler.running:
        scheduler.release(min(scheduler.running))
        assert len(scheduler.running) <= 2

    assert grants.order == [3, 4, 5, 6, 7]


def test_a_newcomer_waits_behind_the_queue_even_with_a_worker_free():
    scheduler, grants = Scheduler(1), Grants()
    scheduler.request(1, grants.of(1))
    scheduler.request(2, grants.of(2))
    scheduler.running.discard(1)  # a worker freed without release: the queue is still first

    assert scheduler.request(3, grants.of(3)) == 2
    assert scheduler.queue == [2, 3]


def test_cancel_takes_a_run_out_of_the_queue_and_it_is_never_granted():
    scheduler, grants = Scheduler(1), Grants()
    for run in (1, 2, 3, 4):
        scheduler.request(run, grants.of(run))

    scheduler.cancel(3)

    assert scheduler.queue == [2, 4]
    assert scheduler.position(3) is None and scheduler.position(4) == 2
    scheduler.release(1)
    scheduler.release(2)
    scheduler.release(4)
    assert grants.order == [2, 4]


def test_cancel_of_a_run_not_waiting_changes_nothing():
    scheduler, grants = Scheduler(1), Grants()
    scheduler.request(1, grants.of(1))
    scheduler.request(2, grants.of(2))

    scheduler.cancel(1)  # running, not waiting
    scheduler.cancel(9)  # unknown

    assert scheduler.running == {1} and scheduler.queue == [2]


def test_release_of_a_queued_run_cancels_it():
    scheduler, grants = Scheduler(1), Grants()
    for run in (1, 2, 3):
        scheduler.request(run, grants.of(run))

    scheduler.release(2)

    assert scheduler.queue == [3] and scheduler.running == {1}
    assert grants.order == []


def test_release_fills_every_free_worker():
    scheduler, grants = Scheduler(3), Grants()
    for run in (1, 2, 3, 4, 5):
        scheduler.request(run, grants.of(run))
    scheduler.running.clear()  # three workers free at once (e.g. three runs paused)

    scheduler.release(1)

    assert grants.order == [4, 5]
    assert scheduler.running == {4, 5} and scheduler.queue == []


# ---- the fair queue: turns between groups and owners ----


def owned(table: dict[int, tuple[str, str]]):
    return lambda run: table.get(run, (f"run {run}", f"run {run}"))


def test_one_owners_long_queue_delays_anothers_first_run_by_one_turn():
    whose = {r: ("ann", "ann") for r in range(2, 202)} | {300: ("bob", "bob")}
    scheduler, grants = Scheduler(1, owned(whose)), Grants()
    for run in range(1, 202):  # run 1 trains; ann queues 200 more
        scheduler.request(run, grants.of(run))

    assert scheduler.request(300, grants.of(300)) == 2  # bob: after ann's next run, not 200

    assert scheduler.queue[:3] == [2, 300, 3]
    scheduler.release(1)
    scheduler.release(2)
    assert grants.order == [2, 300]


def test_turns_go_round_groups_then_owners_then_first_come():
    whose = {
        2: ("class A", "kim"),
        3: ("class A", "kim"),
        4: ("class A", "lee"),
        5: ("ann", "ann"),
        6: ("ann", "ann"),
    }
    scheduler, grants = Scheduler(1, owned(whose)), Grants()
    for run in (1, 2, 3, 4, 5, 6):
        scheduler.request(run, grants.of(run))

    # class A and ann take turns; within class A, kim and lee take turns
    assert scheduler.queue == [2, 5, 4, 6, 3]
    assert [scheduler.position(r) for r in (2, 3, 4, 5, 6)] == [1, 5, 3, 2, 4]
    while scheduler.running:
        scheduler.release(min(scheduler.running))
    assert grants.order == [2, 5, 4, 6, 3]


def test_a_cancelled_owners_turn_goes_to_the_next():
    whose = {2: ("ann", "ann"), 3: ("ann", "ann"), 4: ("bob", "bob")}
    scheduler, grants = Scheduler(1, owned(whose)), Grants()
    for run in (1, 2, 3, 4):
        scheduler.request(run, grants.of(run))

    scheduler.cancel(4)

    assert scheduler.queue == [2, 3]
    scheduler.release(1)
    assert grants.order == [2] and scheduler.queue == [3]


def test_the_queue_says_when_its_order_changes():
    scheduler, grants = Scheduler(1), Grants()
    changes = []
    scheduler.on_change = lambda: changes.append(scheduler.queue)
    scheduler.request(1, grants.of(1))
    scheduler.request(2, grants.of(2))
    scheduler.request(3, grants.of(3))
    scheduler.release(1)

    assert changes == [[2], [2, 3], [3]]


# ---- waits: when each queued run starts ----


def test_waits_on_a_hand_computed_example():
    # two workers, busy for 5 s and 2 s; three runs queued of 3 s, 4 s and 1 s:
    #   the first starts at 2 (and holds that worker until 5), the second at 5 (the other
    #   worker's end; it holds it until 9), the third at 5 (the first queued run's end)
    assert waits([5.0, 2.0], [3.0, 4.0, 1.0], 2) == [2.0, 5.0, 5.0]


def test_waits_counts_idle_workers_as_free_now():
    # three workers, one busy for 4 s: two start at once; the third queued run waits for the
    # shorter of the first queued (10 s) and the second (1 s): 1 s
    assert waits([4.0], [10.0, 1.0, 1.0], 3) == [0.0, 0.0, 1.0]


def test_waits_with_one_worker_adds_the_durations_up():
    assert waits([1.5], [2.0, 3.0, 0.5], 1) == [1.5, 3.5, 6.5]


def test_waits_with_nothing_queued_is_empty():
    assert waits([1.0, 2.0], [], 2) == []
