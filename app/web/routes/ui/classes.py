"""A classroom on one link: its pages for everyone (the teacher's own are in .teacher).

- ``/class``: a student types the class's code (any case; a misread O or 1 forgiven) and
  goes on to its join page.
- ``/class/new``: the teacher makes a class (only a name is needed: the students' run
  settings, the seeds, a setting to vary and the limits default) and is shown the private
  teacher link once, to keep, then goes on to the teacher view.
- ``/class/{code}``: the join page (a name; or a rejoin code from another browser). Joining
  opens the student's own run; ``/?run=ID`` is an ordinary run page, with a class bar.
- ``/class/{code}/teach?key=...``: the private teacher link; the secret is traded for this
  browser's identity and the address bar loses it (303 to the teacher view).
- ``/class/{code}/projector``: the spotlighted run, big (or, before there is one, the join
  code and its QR code), following the teacher's spotlight.
"""

import html

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app import limits as L
from app.classes.codes import WrongSecret
from app.classes.design import checked_design
from app.runs.errors import BadInput, ServiceError
from app.templating import page
from app.web.code_guard import CodeGuard, guard_code
from app.web.deps import ClassesDep, RunsDep, identity
from app.web.forms import ClassPost, FormStr, parse_class, parse_design
from app.web.routes.api.classes import Code, check_preset
from app.web.views.classes import (
    Joined,
    join_page,
    join_url,
    new_class_form,
    qr_svg,
    teacher_url,
)

router = APIRouter(include_in_schema=False, dependencies=[Depends(guard_code)])


def problem(request: Request, message: str, status: int) -> HTMLResponse:
    return page(request, "class_problem.html", {"message": message}, status)


@router.get("/class", response_class=HTMLResponse)
async def enter_code(request: Request, classes: ClassesDep, code: str = "") -> Response:
    """Join a class: a box for its code; a code typed, on to that class's join page."""
    typed = code.strip()[: L.CLASS_CODE_CHARS * 2]
    if not typed:
        return page(request, "class_enter.html", {"typed": "", "error": None})
    try:
        klass = classes.get(typed)
    except ServiceError as e:
        context = {"typed": typed, "error": e.detail}
        return page(request, "class_enter.html", context, e.status_code)
    return RedirectResponse(f"/class/{klass.code}", status_code=303)


@router.get("/class/new", response_class=HTMLResponse)
async def new_class_page(request: Request) -> HTMLResponse:
    return page(request, "class_new.html", {"form": new_class_form()})


@router.post("/ui/classes", response_class=HTMLResponse)
async def create_class_page(request: Request, classes: ClassesDep, form: ClassPost) -> Response:
    """The form's class; this browser is its teacher. The teacher link is shown once, here,
    with why to keep it; on from there to the teacher view."""
    try:
        fields = form.model_dump()
        class_name, preset, limits = parse_class(fields)
        check_preset(preset, limits)
        seeds, vary = parse_design(fields)
        design = checked_design(preset, seeds, vary, limits.steps_per_run)
    except (ValueError, ServiceError) as e:
        error = getattr(e, "detail", None) or str(e)
        context = {"form": new_class_form(form.filled(), error)}
        return page(request, "class_new.html", context, 422)
    klass, key = await classes.create(class_name, preset, limits, identity(request), design)
    context = {"klass": klass, "teacher_url": teacher_url(request, klass, key)}
    return page(request, "class_created.html", context, 201)


@router.get("/class/{code}/teach", response_class=HTMLResponse)
async def teacher_link(
    request: Request, classes: ClassesDep, code: Code, key: str = ""
) -> Response:
    """The private teacher link: this browser becomes the class's teacher; the secret leaves
    the address bar (a projected one must not show it)."""
    try:
        klass = await classes.teacher_login(code, key[:64], identity(request))
    except ServiceError as e:
        if isinstance(e, WrongSecret):
            CodeGuard.of(request).miss(request)
        return problem(request, e.detail, e.status_code)
    return RedirectResponse(f"/class/{klass.code}/teacher", status_code=303)


@router.get("/class/{code}", response_class=HTMLResponse)
async def join(request: Request, classes: ClassesDep, code: Code) -> HTMLResponse:
    try:
        klass = classes.get(code)
    except ServiceError as e:
        return problem(request, e.detail, e.status_code)
    moved = classes.moved_notice(klass, identity(request))  # this browser's seat went elsewhere
    return page(request, "class_join.html", join_page(request, classes, klass, error=moved))


@router.post("/ui/classes/{code}/join", response_class=HTMLResponse)
async def join_form(
    request: Request,
    classes: ClassesDep,
    code: Code,
    name: FormStr = None,
    rejoin: FormStr = None,
) -> HTMLResponse:
    """Join (or rejoin) from the page: what the student must keep (the rejoin code), and the
    way to their run."""
    try:
        klass = classes.get(code)
    except ServiceError as e:
        return problem(request, e.detail, e.status_code)
    try:
        if not (name or "").strip() and not (rejoin or "").strip():
            raise BadInput("type your name (the class sees it), or a rejoin code")
        member, code_text, again = await classes.join(
            code,
            identity(request),
            (name or "").strip() or "student",
            (rejoin or "")[: L.REJOIN_CHARS] or None,
        )
    except ServiceError as e:
        if isinstance(e, WrongSecret):
            CodeGuard.of(request).miss(request)
        view = join_page(request, classes, klass, error=e.detail, typed=name or "")
        return page(request, "class_join.html", view, e.status_code)
    joined = Joined(member.name, member.run, code_text, again)
    return page(request, "class_join.html", join_page(request, classes, klass, joined=joined))


@router.get("/class/{code}/projector", response_class=HTMLResponse)
async def projector(
    request: Request, runs: RunsDep, classes: ClassesDep, code: Code, show: str = ""
) -> Response:
    """For the projector: the spotlighted run's page, big; before there is one, the join code
    and its QR code, or (``?show=chart``, the teacher's) the class chart. Either way it
    follows the spotlight (static/js/spotlight.js)."""
    try:
        klass = classes.get(code)
    except ServiceError as e:
        return problem(request, e.detail, e.status_code)
    if klass.spotlight in runs.services and show != "chart":
        return RedirectResponse(f"/?run={klass.spotlight}&projector={klass.code}", 303)
    url = join_url(request, klass)
    chart = show == "chart" and classes.is_teacher(klass, identity(request))
    context = {"klass": klass, "join_url": url, "qr": qr_svg(url), "chart": chart}
    return page(request, "class_projector.html", context)


@router.get("/ui/classes/{code}/news", response_class=HTMLResponse)
async def class_news(runs: RunsDep, classes: ClassesDep, code: Code, run: int = 0) -> HTMLResponse:
    """A student page's word of the teacher's spotlight (polled): a link to the run shown to
    everyone, unless it is this one."""
    try:
        klass = classes.get(code)
    except ServiceError:
        return HTMLResponse("")
    shown = runs.services.get(klass.spotlight) if klass.spotlight else None
    if shown is None:
        return HTMLResponse("")
    if shown.id == run:
        return HTMLResponse('· <strong data-testid="spotlit-here">in the spotlight</strong>')
    return HTMLResponse(
        f'· the teacher is showing <a href="/?run={shown.id}" data-testid="spotlight-link">'
        f"{html.escape(shown.name)}'s run</a>"
    )
