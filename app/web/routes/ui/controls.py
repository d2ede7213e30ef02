"""The Train card: its buttons (train, pause, resume, step once) and the speed menu. Each answers
the buttons as they are now, with the service's refusal inline; the other tabs follow by the
status event."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app import limits as L
from app.runs.errors import ServiceError
from app.runs.machine import RESUMABLE
from app.runs.service import RunService
from app.templating import render
from app.web.deps import ServiceDep, identity
from app.web.errors import show
from app.web.forms import FormStr, parse_int, parse_lr, parse_pace
from app.web.fragments import controls
from app.web.views.run import pace_view, train_question

router = APIRouter(include_in_schema=False)


def refusal(request: Request, service: RunService) -> str | None:
    """Why this browser may not control the run (a class student's, and not theirs), if so."""
    try:
        request.app.state.classes.check_control(service, identity(request))
    except ServiceError as e:
        return e.detail
    return None


async def command(service: RunService, action) -> HTMLResponse:
    try:
        await action
    except ServiceError as e:
        return controls(service, e.detail)
    return controls(service)


@router.get("/controls", response_class=HTMLResponse)
async def ui_controls(service: ServiceDep) -> HTMLResponse:
    """The buttons as they are now (Cancel on a question)."""
    return controls(service)


@router.post("/train", response_class=HTMLResponse)
async def ui_train(
    request: Request,
    service: ServiceDep,
    steps: FormStr = None,
    lr: FormStr = None,
    choice: FormStr = None,
) -> HTMLResponse:
    """Train N steps. With a run that can be continued, the page asks first (no ``choice``):
    ``continue`` resumes that run, ``new`` starts a new one (POST /api/train never asks)."""
    if why := refusal(request, service):
        return controls(service, why)
    try:
        n = L.STEPS.default if steps in (None, "") else parse_int(steps, "steps", L.STEPS)
        rate = parse_lr(lr)
    except ValueError as e:
        return controls(service, str(e))
    if choice == "continue":
        return await command(service, service.resume())
    if choice not in (None, "", "new"):
        return controls(service, f"choice must be continue or new, got {show(choice)}")
    state = service.state().model_dump(mode="json")
    if not choice and state["status"] in RESUMABLE and state["segment"]:
        # the page asks first: a new run would end the one that can still be continued
        return controls(service, ask=train_question(state, n, lr))
    return await command(service, service.train(n, rate))


@router.post("/pause", response_class=HTMLResponse)
async def ui_pause(request: Request, service: ServiceDep) -> HTMLResponse:
    if why := refusal(request, service):
        return controls(service, why)
    return await command(service, service.pause())


@router.post("/resume", response_class=HTMLResponse)
async def ui_resume(request: Request, service: ServiceDep) -> HTMLResponse:
    if why := refusal(request, service):
        return controls(service, why)
    return await command(service, service.resume())


@router.post("/step", response_class=HTMLResponse)
async def ui_step(request: Request, service: ServiceDep) -> HTMLResponse:
    if why := refusal(request, service):
        return controls(service, why)
    return await command(service, service.single_step())


@router.post("/pace", response_class=HTMLResponse)
async def ui_pace(request: Request, service: ServiceDep, steps_per_sec: FormStr = None):
    """Set the speed cap; answers the speed menu (other tabs follow by the status event)."""
    message = refusal(request, service)
    try:
        if message is None:
            await service.set_pace(parse_pace(steps_per_sec))
    except ValueError as e:
        message = str(e)
    except ServiceError as e:
        message = e.detail
    state = service.state().model_dump(mode="json")
    return HTMLResponse(render("pace", pace=pace_view(state, message)))
