"""Time travel: the panels as they were at a past step, and the small multiples of the probe
over the history."""

import asyncio

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from app.runs.errors import ServiceError
from app.templating import partial, render
from app.web.deps import ServiceDep
from app.web.forms import required_step
from app.web.fragments import past_partials
from app.web.views.model import multiples, predict_view
from app.web.views.past import past_view

router = APIRouter(include_in_schema=False)


@router.get("/view", response_class=HTMLResponse)
async def ui_view(
    service: ServiceDep, step: str | None = None, prefix: str | None = None
) -> HTMLResponse:
    """The panels as they were at ``step``: the view bar, the recipe and the probe card, and
    "Ask the model" for ``prefix`` when given. A bad step: only the bar, saying why."""
    state = service.state().model_dump(mode="json")
    try:
        k = required_step(step)
        past = await past_view(service, state, k)
    except ServiceError as e:
        bar = render("view_bar", view_error=e.detail)
        return HTMLResponse(partial("view-bar", bar, "innerHTML"))
    parts = past_partials(past)
    if prefix is not None:
        snapshot = await service.snapshot_at(k)
        predict = await asyncio.to_thread(predict_view, service, prefix, snapshot)
        parts.append(partial("predict", render("predict", predict=predict), "innerHTML"))
    return HTMLResponse("".join(parts))


@router.get("/multiples", response_class=HTMLResponse)
async def ui_multiples(service: ServiceDep) -> HTMLResponse:
    state = service.state().model_dump(mode="json")
    return HTMLResponse(render("multiples", multiples=multiples(service, state)))
