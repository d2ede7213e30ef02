"""Whether a training process gets a helper for its instruments: only when the runs about to
train leave a core for it (app.runs.link.helper_fits)."""

from app.runs.link import helper_fits
from app.runs.scheduler import Scheduler


def scheduler(workers: int, training: int, waiting: int = 0) -> Scheduler:
    s = Scheduler(workers)
    for run in range(training + waiting):
        s.request(run, lambda: None)
    return s


def test_one_run_alone_on_two_cores_gets_a_helper():
    assert helper_fits(scheduler(2, 1), cores=2)


def test_two_runs_training_on_two_cores_get_none():
    assert not helper_fits(scheduler(2, 2), cores=2)


def test_a_class_with_runs_waiting_gets_none():
    assert not helper_fits(scheduler(2, 2, waiting=298), cores=2)
    assert not helper_fits(scheduler(2, 2, waiting=298), cores=3)


def test_more_cores_leave_room_for_every_runs_helper():
    assert helper_fits(scheduler(4, 4, waiting=10), cores=8)
    assert not helper_fits(scheduler(4, 4), cores=6)
