"""The teacher's view of a class: every student's live curve on one chart (static/class.js),
the roster with status and step, and the class's controls (start/pause/resume all, new
settings, spotlight, remove, close, CSV)."""

import html

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.classes.roster import Class, Classes
from app.runs.errors import BadInput, ServiceError
from app.runs.registry import Runs
from app.templating import page, render
from app.web.deps import ClassesDep, RunsDep, identity
from app.web.forms import ClassPost, FormStr, parse_class
from app.web.routes.api.classes import COMMANDS, Code, check_preset
from app.web.routes.ui.classes import problem
from app.web.views.classes import roster_view, teacher_page

router = APIRouter(include_in_schema=False)


def refused(e: ServiceError) -> HTMLResponse:
    """A teacher's fragment asked by someone else (or of no class): the reason, in place."""
    return HTMLResponse(f'<p class="msg" role="alert">{html.escape(e.detail)}</p>', e.status_code)


@router.get("/class/{code}/teacher", response_class=HTMLResponse)
async def teacher(request: Request, runs: RunsDep, classes: ClassesDep, code: Code) -> HTMLResponse:
    try:
        klass = classes.teacher_of(code, identity(request))
    except ServiceError as e:
        return problem(request, e.detail, e.status_code)
    return page(request, "class_teacher.html", teacher_page(request, runs, klass))


def roster_fragment(runs: Runs, klass: Class) -> HTMLResponse:
    return HTMLResponse(render("class_roster", roster=roster_view(runs, klass)))


def actions_fragment(
    runs: Runs, klass: Class, message: str | None = None, status: int = 200
) -> HTMLResponse:
    """The teacher's buttons with what the last one did (or the question it asks), and the
    roster as it is now (an out-of-band partial), so the effect shows at once."""
    body = render("class_actions", roster=roster_view(runs, klass), message=message, refresh=True)
    return HTMLResponse(body, status)


@router.get("/ui/classes/{code}/actions", response_class=HTMLResponse)
async def actions(request: Request, runs: RunsDep, classes: ClassesDep, code: Code):
    """The teacher's buttons, no question pending (a "Keep" answer)."""
    try:
        klass = classes.teacher_of(code, identity(request))
    except ServiceError as e:
        return refused(e)
    return actions_fragment(runs, klass)


@router.get("/ui/classes/{code}/roster", response_class=HTMLResponse)
async def roster(request: Request, runs: RunsDep, classes: ClassesDep, code: Code):
    """The teacher view's roster (polled every 2 s)."""
    try:
        klass = classes.teacher_of(code, identity(request))
    except ServiceError as e:
        return refused(e)
    return roster_fragment(runs, klass)


@router.post("/ui/classes/{code}/act", response_class=HTMLResponse)
async def act(
    request: Request,
    runs: RunsDep,
    classes: ClassesDep,
    code: Code,
    action: FormStr = None,
    run: FormStr = None,
    member: FormStr = None,
    confirm: FormStr = None,
) -> HTMLResponse:
    """The teacher's buttons: start/pause/resume/stop all, spotlight (a run, or none), remove
    a student (asked first), close the class (asked first). Answers the roster with what
    happened."""
    try:
        klass = classes.teacher_of(code, identity(request))
    except ServiceError as e:
        return refused(e)
    try:
        message = await teacher_action(classes, klass, action, run, member, confirm)
    except ServiceError as e:
        return actions_fragment(runs, klass, e.detail, e.status_code)
    return actions_fragment(runs, klass, message)


async def teacher_action(
    classes: Classes,
    klass: Class,
    action: str | None,
    run: str | None,
    member: str | None,
    confirm: str | None,
) -> str:
    if action in COMMANDS:
        done, skipped = await classes.command_all(klass, action)
        verb = {"train": "started", "pause": "paused", "resume": "resumed", "stop": "stopped"}
        text = f"{verb[action]} {len(done)} run{'s' if len(done) != 1 else ''}"
        return text + (f"; {len(skipped)} not (already so, or nothing to do)" if skipped else "")
    if action == "spotlight":
        target = int(run) if run and run.isdigit() else None
        await classes.set_spotlight(klass, target)
        return "nobody in the spotlight" if target is None else f"run {target} in the spotlight"
    if action == "remove":
        target = int(member) if member and member.isdigit() else -1
        who = klass.members.get(target)
        if who is None:
            raise BadInput(f"no student {member!r} in this class")
        if confirm != "yes":
            return f"ask:remove:{target}"
        await classes.remove(klass, target)
        return f"{who.name} removed; their runs are deleted"
    if action == "close":
        if confirm != "yes":
            return "ask:close"
        await classes.close(klass)
        return "the class is closed: no more joins, every run stopped"
    raise BadInput(
        f"action must be one of {', '.join((*COMMANDS, 'spotlight', 'remove', 'close'))}, "
        f"got {str(action)[:20]!r}"
    )


@router.post("/ui/classes/{code}/preset", response_class=HTMLResponse)
async def preset_form(
    request: Request,
    runs: RunsDep,
    classes: ClassesDep,
    code: Code,
    form: ClassPost,
) -> HTMLResponse:
    """Push new settings to the class (as PATCH /api/classes/{code}); answers the roster."""
    try:
        klass = classes.teacher_of(code, identity(request))
    except ServiceError as e:
        return refused(e)
    fields = {**form.model_dump(), "name": klass.name}  # the name stays the class's
    try:
        _, preset, limits = parse_class(fields)
        check_preset(preset, limits)
        renewed = await classes.configure(klass, preset, limits)
    except (ValueError, ServiceError) as e:
        return actions_fragment(runs, klass, getattr(e, "detail", None) or str(e), 422)
    fresh = f"; {len(renewed)} untrained run(s) remade with it" if renewed else ""
    return actions_fragment(runs, klass, f"new settings pushed{fresh}")
