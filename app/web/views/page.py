"""The run page as a whole: every panel's view, as index.html renders it."""

from dataclasses import dataclass

from app.lesson.views import LessonView
from app.runs.registry import Runs
from app.runs.service import RunService
from app.web.views.classes import ClassBar
from app.web.views.model import DistView, MultiplesView, PredictView, SamplesView
from app.web.views.past import PastView
from app.web.views.run import (
    Diverged,
    ModelView,
    PaceView,
    ProbeText,
    ProgressView,
    StatusView,
    SummaryView,
)
from app.web.views.runs import ManageView, RunForm, RunsView


@dataclass(frozen=True)
class Timeline:
    lo: int  # the first viewable step
    newest: int


@dataclass(frozen=True)
class RunRef:
    id: int
    name: str


@dataclass(frozen=True)
class Parent:
    """The run this one was forked from, and the step: the run bar links it and the loss
    chart draws its curve up to the fork in a lighter tone."""

    id: int
    name: str
    step: int


def parent_of(runs: Runs, service: RunService) -> Parent | None:
    """While the parent run exists."""
    rs = service.run_settings
    parent = runs.services.get(rs.get("parent"))
    return None if parent is None else Parent(parent.id, parent.name, rs["parent_step"])


@dataclass(frozen=True)
class RunPage:
    past: PastView  # the step on view (empty: live)
    view_error: str | None
    timeline: Timeline
    multiples: MultiplesView
    model: ModelView
    status: StatusView
    progress: ProgressView
    recipe: dict | None
    trained_steps: int
    probe_text: ProbeText
    probe: DistView
    vocab_hint: str
    pace: PaceView
    prefix: str
    predict: PredictView
    temperature: float
    samples: SamplesView
    summary: SummaryView | Diverged | None
    notice: str | None
    run_error: str | None
    run: RunRef
    runs: RunsView
    new_run: RunForm
    manage: ManageView  # rename and delete this run
    ui: str
    api: str
    parent: Parent | None
    klass: ClassBar | None
    lesson: LessonView | None = None  # the epoch line, what happened, the glossary
    message: str | None = None

    def context(self) -> dict:
        """index.html's names: the past step's panels at the top level."""
        context = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "past"}
        return {**context, **{k: getattr(self.past, k) for k in self.past.__dataclass_fields__}}
