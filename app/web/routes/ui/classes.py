"""A classroom on one link: its pages for everyone (the teacher's own are in .teacher).

- ``/class/new``: the teacher makes a class (a name, the students' run settings, limits) and
  lands on its teacher view.
- ``/class/{code}``: the join page (a name; or a rejoin code from another browser). Joining
  opens the student's own run; ``/?run=ID`` is an ordinary run page, with a class bar.
- ``/class/{code}/teach?key=...``: the private teacher link; the secret is traded for this
  browser's identity and the address bar loses it (303 to the teacher view).
- ``/class/{code}/projector``: the spotlighted run, big (or, before there is one, the join
  code and its QR code), following the teacher's spotlight.
"""

import html

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app import limits as L
from app.runs.errors import BadInput, ServiceError
from app.templating import page
from app.web.deps import ClassesDep, RunsDep, identity
from app.web.forms import ClassPost, FormStr, parse_class
from app.web.routes.api.classes import Code, check_preset
from app.web.views.classes import Joined, join_page, join_url, new_class_form, qr_svg

router = APIRouter(include_in_schema=False)


def problem(request: Request, message: str, status: int) -> HTMLResponse:
    return page(request, "class_problem.html", {"message": message}, status)


@router.get("/class/new", response_class=HTMLResponse)
async def new_class_page(request: Request) -> HTMLResponse:
    return page(request, "class_new.html", {"form": new_class_form()})


@router.post("/ui/classes", response_class=HTMLResponse)
async def create_class_page(request: Request, classes: ClassesDep, form: ClassPost) -> Response:
    """The form's class; this browser is its teacher: on to the teacher view."""
    try:
        class_name, preset, limits = parse_class(form.model_dump())
        check_preset(preset, limits)
    except (ValueError, ServiceError) as e:
        error = getattr(e, "detail", None) or str(e)
        context = {"form": new_class_form(form.filled(), error)}
        return page(request, "class_new.html", context, 422)
    klass, _ = await classes.create(class_name, preset, limits, identity(request))
    return RedirectResponse(f"/class/{klass.code}/teacher", status_code=303)


@router.get("/class/{code}/teach", response_class=HTMLResponse)
async def teacher_link(
    request: Request, classes: ClassesDep, code: Code, key: str = ""
) -> Response:
    """The private teacher link: this browser becomes the class's teacher; the secret leaves
    the address bar (a projected one must not show it)."""
    try:
        klass = await classes.teacher_login(code, key[:64], identity(request))
    except ServiceError as e:
        return problem(request, e.detail, e.status_code)
    return RedirectResponse(f"/class/{klass.code}/teacher", status_code=303)


@router.get("/class/{code}", response_class=HTMLResponse)
async def join(request: Request, classes: ClassesDep, code: Code) -> HTMLResponse:
    try:
        klass = classes.get(code)
    except ServiceError as e:
        return problem(request, e.detail, e.status_code)
    return page(request, "class_join.html", join_page(request, classes, klass))


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
        view = join_page(request, classes, klass, error=e.detail, typed=name or "")
        return page(request, "class_join.html", view, e.status_code)
    joined = Joined(member.name, member.run, code_text, again)
    return page(request, "class_join.html", join_page(request, classes, klass, joined=joined))


@router.get("/class/{code}/projector", response_class=HTMLResponse)
async def projector(request: Request, runs: RunsDep, classes: ClassesDep, code: Code) -> Response:
    """For the projector: the spotlighted run's page, big; before there is one, the join code
    and its QR code. Either way it follows the spotlight (static/class.js)."""
    try:
        klass = classes.get(code)
    except ServiceError as e:
        return problem(request, e.detail, e.status_code)
    if klass.spotlight in runs.services:
        return RedirectResponse(f"/?run={klass.spotlight}&projector={klass.code}", 303)
    url = join_url(request, klass)
    context = {"klass": klass, "join_url": url, "qr": qr_svg(url)}
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
