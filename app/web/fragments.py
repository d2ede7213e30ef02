"""Fragments more than one route (or the stream) sends: what follows the model, the prefix box,
a past step's panels, the Train card's buttons and a refused form post's page."""

from fastapi.responses import HTMLResponse

from app.runs.service import RunService
from app.templating import partial, render, templates
from app.web.views.past import PastView
from app.web.views.run import TrainQuestion, model_view, status_view

DEFAULT_PREFIX = ""  # the prefix box starts empty: what does a name start with?


def model_fragments(state: dict) -> list[str]:
    """What follows the model (an upload may bring another vocabulary, context or dataset):
    the facts chips (which also tell the chart the vocabulary size) and the loss card's texts."""
    model = model_view(state)
    return [
        partial("model-facts", render("model_facts", model=model), "outerHTML"),
        partial("loss-hint", render("loss_hint", model=model), "innerHTML"),
        partial("loss-empty", render("loss_empty", model=model), "innerHTML"),
    ]


def prefix_input(state: dict) -> str:
    """The prefix box itself, for a new model (its maxlength follows the context): a morph
    keeps what the user typed and the focus."""
    box = render("prefix_input", model=model_view(state), prefix=DEFAULT_PREFIX)
    return partial("prefix", box, "outerMorph")


def past_partials(past: PastView) -> list[str]:
    """The view bar, the recipe and the probe card of a past step."""
    recipe = render("recipe", recipe=past.view_recipe, past_start=past.past_start)
    probe = render("dist", d=past.view_probe) + render(
        "probe_explain", probe_text=past.view_probe_text
    )
    return [
        partial("view-bar", render("view_bar", view=past.view), "innerHTML"),
        partial("recipe-view", recipe, "innerHTML"),
        partial("dist-view", probe, "innerHTML"),
    ]


def controls(
    service: RunService, message: str | None = None, ask: TrainQuestion | None = None
) -> HTMLResponse:
    """The Train card's buttons, the service's message, or a question (``ask``) in their place."""
    state = service.state().model_dump(mode="json")
    return HTMLResponse(render("controls", status=status_view(state), message=message, ask=ask))


def problem_page(message: str, run_id: int, status: int) -> HTMLResponse:
    """What a plain form post that was refused answers: the reason and the way back."""
    body = render("problem", message=message, run_id=run_id)
    return HTMLResponse(templates.get_template("problem.html").render(body=body), status)
