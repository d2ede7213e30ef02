"""New runs from the page's run: Reset (its settings, a new seed), Fork (from the step on view)
and a model file; each opens the new run's page, and this run stays in the run list."""

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from app import limits as L
from app.contract.api import ForkIn
from app.runs.errors import ServiceError
from app.templating import render
from app.web.deps import RunsDep, ServiceDep, identity, requester
from app.web.forms import FormStr, parse_int, required_step
from app.web.fragments import problem_page
from app.web.routes.api.checkpoint import checkpoint_upload
from app.web.routes.ui.runs import go_to_run
from app.web.views.model import initial_predictor

router = APIRouter(include_in_schema=False)


@router.post("/reset", response_class=HTMLResponse)
async def ui_reset(
    request: Request, runs: RunsDep, service: ServiceDep, seed: FormStr = None
) -> Response:
    """A new run with this run's settings (and the seed typed), as POST /api/reset; a plain
    form post, answered by a redirect to the new run's page."""
    try:
        s = None if seed in (None, "") else parse_int(seed, "seed", L.SEED)
    except ValueError as e:
        return problem_page(str(e), service.id, 422)
    if s is not None:
        await asyncio.to_thread(initial_predictor, s)  # warm the ghost bars off the loop
    try:
        new = await runs.reset(service, s, by=requester(request))
    except ServiceError as e:
        return problem_page(e.detail, service.id, e.status_code)
    return go_to_run(request, new.id)


@router.post("/fork", response_class=HTMLResponse)
async def ui_fork(
    request: Request, runs: RunsDep, service: ServiceDep, step: FormStr = None
) -> Response:
    """A new run from the step the page views, as POST /api/runs/{id}/fork, and its page; a
    step that cannot be forked is named in the view bar."""
    try:
        k = required_step(step)
        service.check_step(k)  # a step outside the history, named with the range
        new = await runs.fork(service, ForkIn(step=k), by=requester(request))
    except ServiceError as e:
        return HTMLResponse(render("view_bar", view_error=e.detail), e.status_code)
    return go_to_run(request, new.id)


@router.post("/checkpoint", response_class=HTMLResponse)
async def ui_checkpoint(request: Request, runs: RunsDep, service: ServiceDep) -> Response:
    """Load an uploaded checkpoint (the form field ``file``) as a new run, as POST
    /api/checkpoint does, and open that run's page; or the service's message about the file,
    in the form (nothing was stored). Refused (403) on a class run that is not this browser's:
    the upload would tell that run's page to open the new one."""
    try:
        request.app.state.classes.check_control(service, identity(request))
    except ServiceError as e:
        return HTMLResponse(render("upload", error=e.detail), e.status_code)
    try:
        new = await runs.upload(await checkpoint_upload(request), service, requester(request))
    except ServiceError as e:
        return HTMLResponse(render("upload", error=e.detail))
    return go_to_run(request, new.id)
