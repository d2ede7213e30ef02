"""The page's views without a server: typed display values from a run's state, and every bound
the templates show read from app.limits."""

import re

import pytest

from app import limits as L
from app.contract.api import RunIn
from app.paths import TEMPLATES_DIR
from app.templating import input_bounds, render
from app.web.views.classes import new_class_form
from app.web.views.model import dist_view, multiples_view
from app.web.views.run import (
    Diverged,
    pace_view,
    progress_view,
    status_view,
    summary_view,
    train_question,
)
from app.web.views.runs import new_run_form

STATE = {
    "id": 3,
    "status": "idle",
    "step": 0,
    "seed": 42,
    "lr": 0.01,
    "steps": 300,
    "segment": None,
    "config": {"vocab_size": 27, "block_size": 8, "n_layer": 1, "n_head": 4, "n_embd": 16},
    "dataset": "names",
    "pace": None,
}


def state(**changes) -> dict:
    return {**STATE, **changes}


def test_an_idle_untrained_run_may_train_step_and_reset_but_not_pause():
    s = status_view(state())

    assert (s.label, s.ui, s.default_steps) == ("ready · untrained", "/ui/runs/3", 300)
    assert (s.can_train, s.can_step, s.can_reset, s.can_pause, s.can_resume) == (
        True,
        True,
        True,
        False,
        False,
    )


def test_a_run_without_a_steps_setting_trains_the_default_length():
    assert status_view(state(steps=None)).default_steps == L.STEPS.default


def test_a_queued_run_says_where_it_waits_and_may_pause():
    s = status_view(state(status="queued", queue_position=2, queue_wait=40.0))

    assert s.label == "queued · 2nd in line · starts in ~40.0 s"
    assert s.can_pause and not s.can_train


def test_a_paused_segment_may_be_resumed_and_train_asks_first():
    segment = {"start_step": 0, "end_step": 500, "steps": 500, "status": "paused"}
    paused = state(status="paused", step=120, segment=segment)

    assert status_view(paused).can_resume
    ask = train_question(paused, 200, None)
    assert ask.question == "The paused segment has done 120 of its 500 steps."
    assert ask.continue_label == "Continue the paused segment: 380 steps left"
    assert (ask.kind, ask.steps, ask.lr) == ("train", 200, "")


def test_the_speed_menu_adds_a_pace_it_does_not_list():
    menu = pace_view(state(pace=2.0))

    assert [o.label for o in menu.options] == [
        "full",
        "20 steps/s",
        "5 steps/s",
        "2 steps/s",
        "1 step/s",
    ]
    assert [o.value for o in menu.options if o.selected] == ["2"]


def test_progress_shows_the_share_done_and_no_eta_once_finished():
    p = progress_view(500, 500, 500, rate=45.0, elapsed=11.0, eta=0.0)

    assert (p.percent, p.rate, p.elapsed, p.eta) == (100, "45.0 steps/s", "11.0 s", "–")


def test_a_finished_run_reports_whether_the_loss_fell_below_the_uniform_guess():
    run = {"status": "done", "steps": 500, "elapsed": 10.0, "start_step": 0, "step": 500}
    summary = summary_view(state(), run, (3.36, 2.39))

    assert (summary.fell, summary.learned, summary.rate) == (True, True, "50.0 steps/s")
    assert summary_view(state(), {**run, "status": "paused"}, (3.3, 2.4)) is None
    diverged = summary_view(state(), {**run, "status": "diverged", "reason": "nan"}, None)
    assert diverged == Diverged("nan")


def test_the_bars_share_a_rounded_scale_and_list_the_top_five():
    vocab = [*"abcd", "[BOS]"]
    d = dist_view("e", [0.3, 0.25, 0.2, 0.15, 0.1], None, vocab, step=7)

    assert (d.scale_label, d.mid_label, d.prefix_label) == ("30%", "15%", "“e”")
    assert [b.h for b in d.bars] == [100.0, 83.33, 66.67, 50.0, 33.33]
    assert [t.label for t in d.top] == ["a", "b", "c", "d", "[BOS]"]
    assert d.bars[-1].short == "⏎" and [b.top for b in d.bars] == [True] * 3 + [False] * 2


def test_the_small_multiples_stand_at_shares_of_the_history_on_one_scale():
    line = ([0, 5, 10], [[0.5, 0.5], [0.2, 0.8], [0.1, 0.9]])
    m = multiples_view("e", line, ["a", "b"], lo=0, newest=10)

    assert [(i.step, i.share) for i in m.items] == [(0, "0%"), (5, "50%"), (10, "100%")]
    assert (m.scale, m.top) == ("100%", "b") and m.items[-1].bars == [10.0, 90.0]


# ---------- every bound the templates show comes from app.limits ----------


def number_inputs(html: str) -> dict[str, dict[str, str]]:
    """Each <input type="number"> by name: its attributes."""
    inputs = {}
    for tag in re.findall(r"<input\b[^>]*>", html):
        attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', tag))
        if attrs.get("type") == "number":
            inputs[attrs["name"]] = attrs
    return inputs


RUN_BOUNDS = {
    "seed": L.SEED,
    "lr": L.LR,
    "steps": L.STEPS,
    "n_embd": L.N_EMBD,
    "n_head": L.N_HEAD,
    "n_layer": L.N_LAYER,
    "block_size": L.BLOCK_SIZE,
}


def assert_bounds(inputs: dict[str, dict[str, str]], bounds: dict[str, L.Bound]) -> None:
    assert set(inputs) == set(bounds)
    for name, bound in bounds.items():
        attrs = inputs[name]
        assert (float(attrs["min"]), float(attrs["max"])) == (bound.lo, bound.hi), name
        assert attrs["step"] == ("1" if bound.whole else "any"), name


def test_the_run_forms_bounds_are_the_limits():
    html = render("run_form", form=new_run_form(RunIn()))

    assert_bounds(number_inputs(html), RUN_BOUNDS)
    assert f'maxlength="{L.RUN_NAME_CHARS}"' in html


def test_the_class_forms_bounds_are_the_limits():
    html = render("class_fields", form=new_class_form())

    assert_bounds(  # the seed too: the first student's (the next ones count up from it)
        number_inputs(html),
        {**RUN_BOUNDS, "steps_per_run": L.CLASS_STEPS, "runs_per_student": L.CLASS_RUNS},
    )
    assert f'maxlength="{L.CLASS_NAME_CHARS}"' in html


def test_the_temperature_slider_follows_its_bound():
    assert str(input_bounds(L.TEMPERATURE)) == 'min="0.01" max="2" step="0.01"'
    index = (TEMPLATES_DIR / "index.html").read_text()
    assert "{{ input_bounds(limits.TEMPERATURE) }}" in index


def test_a_seed_bound_is_written_out_whole():
    assert str(input_bounds(L.SEED)) == f'min="0" max="{2**32 - 1}" step="1"'


# A position in a matrix starts at 0 whatever the model: not a limit.
NOT_LIMITS = {("partials/params.html", 'min="0"')}


@pytest.mark.parametrize(
    "path", sorted(p.relative_to(TEMPLATES_DIR) for p in TEMPLATES_DIR.rglob("*.html"))
)
def test_no_template_types_a_bound(path):
    text = (TEMPLATES_DIR / path).read_text()
    typed = re.findall(r'\b(?:min|max|maxlength)="[\d.]+"', text)

    assert [t for t in typed if (str(path), t) not in NOT_LIMITS] == []
