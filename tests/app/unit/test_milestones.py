"""Milestones from hand-made histories: each rule at its boundary, no server."""

import math

from app.lesson.milestones import milestones

LABELS = "abcdefghijklmnopqrstuvwxyz"


def label(i: int) -> str:
    return LABELS[i] if i < 26 else "[BOS]"


def dist(top: int, p: float = 0.5, v: int = 27) -> list[float]:
    rest = (1 - p) / (v - 1)
    return [p if i == top else rest for i in range(v)]


def held_out_only(found):
    return [m for m in found if m.kind in ("best_held_out", "memorising")]


def kinds(found):
    return [(m.step, m.kind) for m in found]


def test_below_uniform_is_the_first_smoothed_loss_under_ln_v():
    ln27 = math.log(27)
    history = [(1, 3.4), (2, ln27), (3, ln27 - 1e-9), (4, 3.0)]

    found = milestones(history, [], ([], []), 27, label)

    assert kinds(found) == [(3, "below_uniform")]
    assert "3.30" in found[0].text and "ln 27" in found[0].text


def test_top_guess_marks_each_change_and_names_the_new_guess():
    probe = ([1, 2, 3, 4], [dist(0), dist(0), dist(11, 0.21), dist(0)])

    found = milestones([], [], probe, 27, label)

    assert kinds(found) == [(3, "top_guess"), (4, "top_guess")]
    assert "“a” to “l” (21%)" in found[0].text


def test_best_held_out_is_the_lowest_point():
    val = [(0, 3.3), (50, 2.6), (100, 2.5), (150, 2.55)]

    found = milestones([], val, ([], []), 27, label)

    assert kinds(found) == [(100, "best_held_out")]
    assert "2.50" in found[0].text


def test_memorising_needs_a_ten_percent_rise_while_training_loss_falls():
    history = [(50, 2.4), (100, 2.2), (150, 2.0), (200, 1.8)]
    val = [(50, 2.5), (100, 2.0), (150, 2.19), (200, 2.24)]  # 2.19: under 2.0 * 1.1

    found = held_out_only(milestones(history, val, ([], []), 27, label))

    assert kinds(found) == [(100, "best_held_out"), (200, "memorising")]
    assert "12% above its best (2.00 at step 100)" in found[1].text


def test_no_memorising_when_the_training_loss_rose_too():
    history = [(100, 2.0), (200, 2.1)]
    val = [(100, 2.0), (200, 2.5)]

    found = held_out_only(milestones(history, val, ([], []), 27, label))

    assert kinds(found) == [(100, "best_held_out")]
