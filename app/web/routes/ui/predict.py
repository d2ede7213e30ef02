""" "Ask the model" for a prefix, and samples: now, or at the step on view."""

import asyncio

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from app import limits as L
from app.runs.errors import ServiceError
from app.runs.service import RunService
from app.templating import render
from app.web.deps import ServiceDep
from app.web.forms import parse_step, parse_temperature
from app.web.views.model import PredictView, SamplesView, predict_view, samples_view

router = APIRouter(include_in_schema=False)


async def snapshot_for(service: RunService, raw: str | None):
    """The weights a fragment answers from: step ``raw``'s, or None (the newest)."""
    step = parse_step(raw)
    return None if step is None else await service.snapshot_at(step)


@router.get("/predict", response_class=HTMLResponse)
async def ui_predict(
    service: ServiceDep, prefix: str = "", step: str | None = None
) -> HTMLResponse:
    """ "Ask the model" for ``prefix``: now, or at ``step`` (empty: now)."""
    try:
        snapshot = await snapshot_for(service, step)
    except ServiceError as e:
        return HTMLResponse(render("predict", predict=PredictView(prefix, error=e.detail)))
    predict = await asyncio.to_thread(predict_view, service, prefix, snapshot)
    return HTMLResponse(render("predict", predict=predict))


@router.get("/samples", response_class=HTMLResponse)
async def ui_samples(
    service: ServiceDep, temperature: str = str(L.TEMPERATURE.default), step: str | None = None
) -> HTMLResponse:
    """Samples at ``temperature``: from the newest weights, or step ``step``'s."""
    try:
        t = parse_temperature(temperature)
        snapshot = await snapshot_for(service, step)
        # ~50 ms of pure Python: off the event loop
        out = await asyncio.to_thread(service.samples, L.SAMPLES.default, t, None, snapshot)
    except ValueError as e:
        return HTMLResponse(render("samples", samples=SamplesView(error=str(e))))
    except ServiceError as e:
        return HTMLResponse(render("samples", samples=SamplesView(error=e.detail)))
    state = service.state().model_dump(mode="json")
    view = samples_view(out.samples, t, out.step, service.documents, state)
    return HTMLResponse(render("samples", samples=view))
