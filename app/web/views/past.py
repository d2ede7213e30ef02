"""Time travel: what a page viewing a past step shows of it (the view bar, the recipe of that
step, the probe card as it was)."""

from dataclasses import dataclass

from app.runs.service import RunService
from app.templating import recipe_view
from app.web.views.model import DistView, probe_prefix, probe_view
from app.web.views.run import ProbeText, probe_text, ui_base


@dataclass(frozen=True)
class ViewBar:
    step: int
    newest: int
    lo: int  # the first viewable step
    ui: str


@dataclass(frozen=True)
class PastView:
    """Everything a page viewing ``view.step`` shows of it; ``past_start``: the step, when it
    has no recipe (the model's first viewable step: no step made it)."""

    view: ViewBar | None = None
    view_recipe: dict | None = None
    past_start: int | None = None
    view_probe: DistView | None = None
    view_probe_text: ProbeText | None = None


async def past_view(service: RunService, state: dict, step: int) -> PastView:
    """Or BadInput/ServiceError: a step outside the history, named with the range."""
    event = await service.step_at(step)
    recipe = None
    if event is not None:
        c = state["config"]
        recipe = {**recipe_view(event, state["num_params"], c["block_size"]), "past": True}
    probs = await service.distribution_at(probe_prefix(state), step)
    return PastView(
        view=ViewBar(step, state["step"], service.weights_from, ui_base(state)),
        view_recipe=recipe,
        past_start=None if event is not None else step,
        view_probe=probe_view(state, probs, step, past=True),
        view_probe_text=probe_text({**state, "step": step}),
    )


LIVE = PastView()  # a page following training
