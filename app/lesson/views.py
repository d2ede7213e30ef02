"""The lesson's panels as the page shows them: the epoch line of the Train card, the "what
happened" list (milestones) and the glossary."""

from dataclasses import dataclass

from app.lesson.glossary import GLOSSARY, Term
from app.lesson.milestones import Milestone
from app.web.views.run import doc_word

TOP_GUESSES_SHOWN = 4  # the list shows the first and last changes of the "e" guess, not all


@dataclass(frozen=True)
class EpochView:
    """How much of one pass over the training documents the model's steps add up to."""

    steps: int
    n_train: int  # the documents it trains on (the held-out ones never)
    docs: str  # names or documents

    @property
    def share(self) -> str:
        return epoch_share(self.steps, self.n_train)


def epoch_share(steps: int, n_train: int) -> str:
    """``steps`` as a share of one epoch: "1.7%", "0.02%", "3.5 epochs"."""
    if n_train <= 0:
        return "–"
    x = steps / n_train
    if x >= 1:
        return f"{x:.1f} epochs" if round(x, 1) != 1 else "1 epoch"
    pct = 100 * x
    return f"{pct:.2g}%" if pct < 1 else f"{pct:.1f}%"


def epoch_view(state: dict) -> EpochView:
    n_train = state["num_docs"] - state.get("held_out", 0)
    return EpochView(state["step"], n_train, doc_word(state, n_train))


@dataclass(frozen=True)
class MilestoneItem:
    step: int
    kind: str
    text: str


@dataclass(frozen=True)
class StoryView:
    """The "what happened" list: the milestones worth reading, and how many guesses it left
    out (the chart marks them all)."""

    items: list[MilestoneItem]
    hidden_guesses: int
    marks: list[tuple[int, str]]  # every milestone's (step, kind): the loss chart marks them all


def story_view(found: list[Milestone]) -> StoryView:
    guesses = [m for m in found if m.kind == "top_guess"]
    half = TOP_GUESSES_SHOWN // 2
    keep = guesses if len(guesses) <= TOP_GUESSES_SHOWN else guesses[:half] + guesses[-half:]
    shown = [m for m in found if m.kind != "top_guess" or m in keep]
    items = [MilestoneItem(m.step, m.kind, m.text) for m in shown]
    marks = [(m.step, m.kind) for m in found]
    return StoryView(items, len(guesses) - len(keep), marks)


@dataclass(frozen=True)
class LessonView:
    epoch: EpochView
    story: StoryView
    glossary: tuple[Term, ...] = GLOSSARY


def lesson_view(state: dict, found: list[Milestone]) -> LessonView:
    """The page's lesson panels as it opens, ``found`` the run's milestones."""
    return LessonView(epoch_view(state), story_view(found))
