"""The run page: ``/`` (the default run, or ``?run=ID``; ``?step=k`` views step k) and
``/runs/new`` (a shareable preset of the new-run form)."""

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from app import limits as L
from app.contract.api import RunIn
from app.lesson.story import milestones_of, story_of
from app.lesson.views import lesson_view
from app.runs.errors import ServiceError
from app.runs.registry import Runs
from app.runs.service import RunService
from app.templating import page, recipe_view
from app.web.code_guard import CodeGuard
from app.web.deps import RunsDep, ServiceDep, identity
from app.web.forms import RunFields, parse_int, parse_run, parse_step
from app.web.fragments import DEFAULT_PREFIX
from app.web.stream import progress_from
from app.web.viewed import ViewedRuns
from app.web.views.classes import class_bar
from app.web.views.model import current_probe, empty_samples, multiples, predict_view
from app.web.views.page import RunPage, RunRef, Timeline, parent_of
from app.web.views.past import LIVE, past_view
from app.web.views.run import (
    model_view,
    pace_view,
    probe_text,
    run_summary,
    status_view,
    ui_base,
    vocab_hint,
)
from app.web.views.runs import RunForm, manage_view, new_run_form, preset_form, runs_view

router = APIRouter(include_in_schema=False)


@router.get("/favicon.ico")
async def favicon() -> RedirectResponse:
    """The pages' icon where a browser asks for it by name: a page that names none (a JSON
    answer opened in a tab, /healthz) got a 404, and a console error with it."""
    return RedirectResponse("/static/favicon.svg", status_code=301)


@router.get("/", response_class=HTMLResponse)
async def index(
    request: Request,
    runs: RunsDep,
    service: ServiceDep,
    step: str | None = None,
    run: str | None = None,
) -> HTMLResponse:
    """The page of the run this browser last opened (else the default run), live; with
    ``?run=ID``, of that run (remembered for this browser: app.web.viewed); with ``?step=k``,
    viewing step k (a link to a moment). A class's student with no ``?run`` sees their own
    run."""
    if run is None and (own := request.app.state.classes.own_run(identity(request))):
        run = str(own)
    return await run_page(request, runs, service, step, run)


@router.get("/runs/new", response_class=HTMLResponse)
async def preset(
    request: Request, runs: RunsDep, service: ServiceDep, fields: Annotated[RunFields, Query()]
) -> HTMLResponse:
    """A shareable preset: the page with the new-run form open and filled in from the query
    (``/runs/new?lr=0.05&n_layer=2``); a bad value is named in the form. Nothing is created
    until Create run is pressed."""
    typed = fields.filled()
    try:
        spec, error = parse_run(typed), None
    except ValueError as e:
        spec, error = RunIn(), str(e)
    form = preset_form(typed, spec, error)
    return await run_page(request, runs, service, None, None, form)


async def run_page(
    request: Request,
    runs: Runs,
    service: RunService,
    step: str | None,
    run: str | None,
    new_run: RunForm | None = None,
) -> HTMLResponse:
    run_error, viewed, who = None, ViewedRuns.of(request), identity(request)
    try:
        if run not in (None, ""):
            service = runs.get(parse_int(run, "run", L.RUN_ID))
            viewed.remember(who, service.id)  # for this browser only: a GET moves no default
        elif viewed.get(who) in runs.services:
            service = runs.services[viewed.get(who)]
    except (ValueError, ServiceError) as e:
        run_error = getattr(e, "detail", None) or str(e)
    projector = request.query_params.get("projector")
    if projector and not CodeGuard.of(request).known(request, projector):
        projector = None  # a guess at a class code: counted, and no class bar tells
    state = service.state().model_dump(mode="json")
    past, snapshot, view_error = LIVE, None, None
    try:
        k = parse_step(step)
        if k is not None:
            past = await past_view(service, state, k)
            snapshot = await service.snapshot_at(k)
    except ServiceError as e:
        view_error = e.detail
    last = service.last_step
    # a few ms of pure Python (the greedy completion runs the model up to 8 times)
    predict = await asyncio.to_thread(predict_view, service, DEFAULT_PREFIX, snapshot)
    found = await asyncio.to_thread(milestones_of, story_of(service))
    c = state["config"]
    view = RunPage(
        past=past,
        view_error=view_error,
        timeline=Timeline(service.weights_from, state["step"]),
        multiples=multiples(service, state),
        model=model_view(state),
        status=status_view(state),
        progress=progress_from(state, last),
        recipe=recipe_view(last, state["num_params"], c["block_size"]) if last else None,
        trained_steps=state["step"],
        probe_text=probe_text(state),
        probe=current_probe(service, state),
        vocab_hint=vocab_hint(state),
        pace=pace_view(state),
        prefix=DEFAULT_PREFIX,
        predict=predict,
        temperature=L.TEMPERATURE.default,
        samples=empty_samples(state),
        summary=run_summary(service, state),
        notice=state["notice"],
        run_error=run_error,
        run=RunRef(service.id, service.name),
        runs=runs_view(runs, service.id),
        new_run=new_run or new_run_form(RunIn()),
        manage=manage_view(service),
        ui=ui_base(state),
        api=f"/api/runs/{service.id}",
        parent=parent_of(runs, service),
        lesson=lesson_view(state, found),
        klass=class_bar(request, request.app.state.classes, service.id, projector),
        message=failed_reason(state),
    )
    return page(request, "index.html", view.context())


def failed_reason(state: dict) -> str | None:
    """Why a failed run stopped (the disk is full...), by its buttons until it resumes."""
    segment = state.get("segment") or {}
    if state["status"] == "failed" and segment.get("reason"):
        return f"the run failed: {segment['reason']}; the model is back at step {state['step']:,}"
    return None
