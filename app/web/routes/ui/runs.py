"""The page's runs: the run bar's list, the new-run form (with its parameter count and time
estimate), rename and delete (asked first). Forms are validated by the API's own ``RunIn``."""

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from app import limits as L
from app.contract.api import RunIn
from app.runs.errors import ServiceError
from app.templating import render
from app.web.deps import RunsDep, identity, requester
from app.web.forms import FormStr, RunFields, parse_run
from app.web.views.runs import estimate, manage_view, new_run_form, runs_view
from engine.data import MAX_TEXT_BYTES

router = APIRouter(prefix="/ui/runs", include_in_schema=False)


def go_to_run(request: Request, run_id: int) -> Response:
    """Open run ``run_id``'s page: htmx follows HX-Redirect, a plain form post a 303."""
    url = f"/?run={run_id}"
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


@router.get("", response_class=HTMLResponse)
async def ui_runs(runs: RunsDep, current: int = 0) -> HTMLResponse:
    """The run bar's list (polled while open)."""
    return HTMLResponse(render("runs", runs=runs_view(runs, current)))


@router.get("/estimate", response_class=HTMLResponse)
async def ui_estimate(fields: Annotated[RunFields, Query()]) -> HTMLResponse:
    """The new-run form's parameter count and time estimate, as its fields change."""
    try:
        spec = parse_run(fields.model_dump(exclude={"name", "text"}))
    except ValueError as e:
        return HTMLResponse(render("run_estimate", estimate=None, error=str(e)))
    return HTMLResponse(render("run_estimate", estimate=estimate(spec), error=None))


@router.post("", response_class=HTMLResponse)
async def ui_create_run(
    request: Request, runs: RunsDep, fields: Annotated[RunFields, Form()]
) -> Response:
    """Create a run from the form (validated by RunIn) and open it; a bad field is named in the
    form, which keeps what was typed."""
    typed, spec = fields.model_dump(), None
    try:
        if typed["dataset"] == "own":
            typed["text"] = await uploaded_text(request) or typed["text"]
        spec = parse_run(typed)
        service = await runs.create(spec, by=requester(request))
    except (ValueError, ServiceError) as e:
        typed = {k: (v or "") for k, v in typed.items()}
        form = new_run_form(spec or RunIn(), typed, getattr(e, "detail", None) or str(e))
        return HTMLResponse(render("run_form", form=form), status_code=422)
    return go_to_run(request, service.id)


async def uploaded_text(request: Request) -> str | None:
    """The list in the form's file field ``file``, if one was chosen (UTF-8 text)."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return None
    upload = (await request.form()).get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    raw = await upload.read(MAX_TEXT_BYTES + 1)
    if len(raw) > MAX_TEXT_BYTES:
        raise ValueError(f"the file {upload.filename} is over {MAX_TEXT_BYTES:,} bytes (1 MiB)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(
            f"the file {upload.filename} is not UTF-8 text: {e.reason} at byte {e.start}"
        ) from None


@router.post("/{run_id}/rename", response_class=HTMLResponse)
async def ui_rename_run(
    request: Request, runs: RunsDep, run_id: int, name: FormStr = None
) -> HTMLResponse:
    name = (name or "").strip()
    try:
        request.app.state.classes.check_control(runs.get(run_id), identity(request))
        if not name or len(name) > L.RUN_NAME_CHARS:
            raise ValueError(f"a run's name has 1 to {L.RUN_NAME_CHARS} characters")
        service = await runs.rename(run_id, name)
    except (ValueError, ServiceError) as e:
        service = runs.services.get(run_id)
        message = getattr(e, "detail", None) or str(e)
        return HTMLResponse(
            render("run_manage", run=manage_view(service, message) if service else None),
            getattr(e, "status_code", 422),
        )
    return HTMLResponse(render("run_manage", run=manage_view(service, "renamed")))


@router.get("/{run_id}/manage", response_class=HTMLResponse)
async def ui_manage_run(runs: RunsDep, run_id: int, ask: str | None = None) -> HTMLResponse:
    """Rename and delete for one run; ``ask=delete`` puts the question in the button's place."""
    try:
        service = runs.get(run_id)
    except ServiceError as e:
        return HTMLResponse(render("run_manage", run=None, message=e.detail), 404)
    return HTMLResponse(render("run_manage", run=manage_view(service, ask=ask == "delete")))


@router.post("/{run_id}/delete", response_class=HTMLResponse)
async def ui_delete_run(
    request: Request, runs: RunsDep, run_id: int, confirm: FormStr = None
) -> Response:
    """Delete the run once confirmed (``confirm=yes``), then open the default run."""
    try:
        service = runs.get(run_id)
    except ServiceError as e:
        return HTMLResponse(render("run_manage", run=None, message=e.detail), 404)
    try:
        request.app.state.classes.check_control(service, identity(request))
    except ServiceError as e:
        return HTMLResponse(render("run_manage", run=manage_view(service, e.detail)), 403)
    if confirm != "yes":
        return HTMLResponse(render("run_manage", run=manage_view(service, ask=True)))
    await runs.delete(run_id)
    return go_to_run(request, runs.default_id)
