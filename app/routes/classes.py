"""A classroom on one link: the class API (``/api/classes``) and its pages.

- ``/class/new``: the teacher makes a class (a name, the students' run settings, limits) and
  lands on its teacher view.
- ``/class/{code}``: the join page (a name; or a rejoin code from another browser). Joining
  opens the student's own run; ``/?run=ID`` is an ordinary run page, with a class bar.
- ``/class/{code}/teach?key=...``: the private teacher link; the secret is traded for this
  browser's identity and the address bar loses it (303 to the teacher view).
- ``/class/{code}/teacher``: every student's live curve on one chart (static/class.js), the
  roster with status and step, and the class's controls (start/pause/resume all, new preset,
  spotlight, remove, close, CSV).
- ``/class/{code}/projector``: the spotlighted run, big (or, before there is one, the join
  code and its QR code), following the teacher's spotlight.
"""

import csv
import html
import io
from typing import Annotated

import segno
from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from app import limits as L
from app.classes.roster import Class, Classes
from app.contract.api import ErrorOut, RunIn
from app.contract.classes import (
    ClassCommandOut,
    ClassCreated,
    ClassIn,
    ClassLimits,
    ClassOut,
    ClassPresetIn,
    Joined,
    JoinIn,
    MemberOut,
    SpotlightIn,
)
from app.deps import ClassesDep, RunsDep, identity
from app.routes.compare import spread
from app.routes.run_pages import FormStr, dataset_choices, parse_form
from app.runs.errors import BadInput, ServiceError
from app.runs.registry import Runs
from app.templating import templates

api = APIRouter(prefix="/api/classes", tags=["classes"])
pages = APIRouter(include_in_schema=False)

Code = Annotated[str, Path(min_length=1, max_length=12, description="the class's short code")]
TEACHER = {
    403: {"model": ErrorOut, "description": "only the class's teacher may"},
    404: {"model": ErrorOut, "description": "no class has that code"},
}
COMMANDS = ("train", "pause", "resume", "stop")
CURVE_POINTS = 300  # per student on the overlay: a chart is a few hundred pixels wide


# ------------------------------------------------------------------ views


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def member_out(runs: Runs, member) -> MemberOut:
    service = runs.services.get(member.run) if member.run is not None else None
    last = service.history[-1] if service is not None and service.history else None
    val = service.validation[-1][1] if service is not None and service.validation else None
    return MemberOut(
        id=member.id,
        name=member.name,
        run=None if service is None else service.id,
        status=None if service is None else service.status,
        step=0 if service is None else service.step,
        loss=None if last is None else last[2],
        val=val,
        joined_at=member.joined_at,
    )


def class_out(request: Request, runs: Runs, klass: Class) -> ClassOut:
    return ClassOut(
        code=klass.code,
        name=klass.name,
        preset=klass.preset,
        limits=klass.limits,
        closed=klass.closed,
        spotlight=klass.spotlight,
        join_url=f"{base_url(request)}/class/{klass.code}",
        members=[member_out(runs, m) for m in klass.members.values()],
    )


def qr_svg(url: str) -> str:
    """The join link as an inline SVG QR code (dark on light, whatever the page's theme)."""
    return segno.make(url, error="m").svg_inline(scale=6, border=2, dark="#111", light="#fff")


# ------------------------------------------------------------------ the API


@api.post("", status_code=201, response_model=ClassCreated, responses={422: {"model": ErrorOut}})
async def create_class(request: Request, classes: ClassesDep, body: ClassIn) -> ClassCreated:
    """A new class. Its ``teacher_url`` is private: whoever opens it becomes the class's
    teacher in that browser (the page that made the class already is). Students join at
    ``join_url`` (or type the ``code`` on ``/class``)."""
    check_preset(body.preset, body.limits)
    klass, key = await classes.create(body.name, body.preset, body.limits, identity(request))
    base = base_url(request)
    return ClassCreated(
        code=klass.code,
        join_url=f"{base}/class/{klass.code}",
        teacher_url=f"{base}/class/{klass.code}/teach?key={key}",
    )


def check_preset(preset: RunIn, limits: ClassLimits) -> None:
    if preset.steps > limits.steps_per_run:
        raise BadInput(
            f"the preset's steps ({preset.steps:,}) are more than the limit steps_per_run "
            f"({limits.steps_per_run:,}) lets a student train"
        )


@api.get("/{code}", response_model=ClassOut, responses=TEACHER)
async def get_class(request: Request, runs: RunsDep, classes: ClassesDep, code: Code) -> ClassOut:
    """The class and every member: run id, status, step, latest smoothed and held-out loss
    (teacher only)."""
    klass = classes.teacher_of(code, identity(request))
    return class_out(request, runs, klass)


@api.patch("/{code}", response_model=ClassOut, responses={**TEACHER, 422: {"model": ErrorOut}})
async def configure_class(
    request: Request, runs: RunsDep, classes: ClassesDep, code: Code, body: ClassPresetIn
) -> ClassOut:
    """New settings for the students' runs: joins from now on get the preset, and a student
    whose run has not trained yet gets a fresh one of it; new limits apply at once."""
    klass = classes.teacher_of(code, identity(request))
    check_preset(body.preset or RunIn(**klass.preset), body.limits or klass.limits)
    await classes.configure(klass, body.preset, body.limits)
    return class_out(request, runs, klass)


@api.post("/{code}/join", response_model=Joined, responses={**TEACHER, 422: {"model": ErrorOut}})
async def join_class(
    request: Request, response: Response, classes: ClassesDep, code: Code, body: JoinIn
) -> Joined:
    """Join as ``name`` and get a run of the class's preset (201); the same browser joining
    again gets the same run (200). From another browser, ``rejoin`` (the code shown at the
    first join) gives the run back."""
    member, rejoin, again = await classes.join(code, identity(request), body.name, body.rejoin)
    response.status_code = 200 if again else 201
    return Joined(
        member=member.id, name=member.name, run=member.run, rejoin=rejoin or "", again=again
    )


@api.post("/{code}/close", response_model=ClassOut, responses=TEACHER)
async def close_class(request: Request, runs: RunsDep, classes: ClassesDep, code: Code) -> ClassOut:
    """Close the class: no more joins, every student's run stops; the runs stay, to watch."""
    klass = classes.teacher_of(code, identity(request))
    await classes.close(klass)
    return class_out(request, runs, klass)


def _class_command(command: str):
    async def run_command(request: Request, classes: ClassesDep, code: Code) -> ClassCommandOut:
        klass = classes.teacher_of(code, identity(request))
        done, skipped = await classes.command_all(klass, command)
        return ClassCommandOut(command=command, done=done, skipped=skipped)

    run_command.__name__ = f"{command}_class"
    run_command.__doc__ = (
        f"{command.capitalize()} every student's run at once (teacher only); the runs it does "
        "not apply to (already training, nothing to resume...) are named with why."
    )
    return run_command


for _command in COMMANDS:  # POST /api/classes/{code}/train, /pause, /resume, /stop
    api.post(f"/{{code}}/{_command}", response_model=ClassCommandOut, responses=TEACHER)(
        _class_command(_command)
    )


@api.put("/{code}/spotlight", response_model=ClassOut, responses=TEACHER)
async def spotlight_class(
    request: Request, runs: RunsDep, classes: ClassesDep, code: Code, body: SpotlightIn
) -> ClassOut:
    """Show one student's run to everyone (the projector follows it; students' pages link it),
    or none (``run``: null)."""
    klass = classes.teacher_of(code, identity(request))
    await classes.set_spotlight(klass, body.run)
    return class_out(request, runs, klass)


@api.delete("/{code}/members/{member}", status_code=204, response_class=Response, responses=TEACHER)
async def remove_member(
    request: Request, classes: ClassesDep, code: Code, member: Annotated[int, Path(ge=1)]
) -> Response:
    """Remove a student: their runs are deleted (their pages are told) and the class no longer
    knows them."""
    klass = classes.teacher_of(code, identity(request))
    await classes.remove(klass, member)
    return Response(status_code=204)


@api.get(
    "/{code}/results.csv",
    response_class=Response,
    responses={**TEACHER, 200: {"content": {"text/csv": {}}, "description": "one row a student"}},
)
async def class_results(
    request: Request, runs: RunsDep, classes: ClassesDep, code: Code
) -> Response:
    """The class's results, one row a student: name, run, status, step, latest loss,
    smoothed loss, held-out loss, seconds trained, when they joined (teacher only)."""
    klass = classes.teacher_of(code, identity(request))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "student",
            "run",
            "status",
            "step",
            "loss",
            "smoothed_loss",
            "held_out_loss",
            "seconds_trained",
            "joined_at",
        ]
    )
    for member in klass.members.values():
        row = member_out(runs, member)
        service = runs.services.get(row.run) if row.run else None
        last = service.history[-1] if service is not None and service.history else None
        seconds = sum(g.elapsed for g in service.segments) if service is not None else 0.0
        writer.writerow(
            [
                # a name a spreadsheet would run as a formula is quoted as text
                "'" + row.name if row.name[:1] in "=+-@\t\r" else row.name,
                row.run or "",
                row.status or "deleted",
                row.step,
                "" if last is None else f"{last[1]:.6f}",
                "" if row.loss is None else f"{row.loss:.6f}",
                "" if row.val is None else f"{row.val:.6f}",
                f"{seconds:.1f}",
                f"{member.joined_at:.0f}",
            ]
        )
    name = "".join(ch if ch.isalnum() else "-" for ch in klass.name).strip("-") or "class"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}-{klass.code}.csv"'},
    )


@api.get("/{code}/curves", responses=TEACHER)
async def class_curves(request: Request, runs: RunsDep, classes: ClassesDep, code: Code) -> dict:
    """Every student's smoothed loss curve (at most 300 points each) for the teacher's overlay."""
    klass = classes.teacher_of(code, identity(request))
    curves = []
    for member in klass.members.values():
        service = runs.services.get(member.run) if member.run is not None else None
        rows = spread(service.history, CURVE_POINTS) if service is not None else []
        curves.append(
            {
                "member": member.id,
                "name": member.name,
                "run": None if service is None else service.id,
                "status": None if service is None else service.status,
                "steps": [r[0] for r in rows],
                "smooth": [r[2] for r in rows],
            }
        )
    return {"spotlight": klass.spotlight, "curves": curves}


@api.get("/{code}/spotlight", responses={404: {"model": ErrorOut}})
async def class_spotlight(runs: RunsDep, classes: ClassesDep, code: Code) -> dict:
    """The run the teacher shows everyone (null: none): what the projector and the students'
    pages follow. Anyone with the code may ask."""
    klass = classes.get(code)
    service = runs.services.get(klass.spotlight) if klass.spotlight else None
    return {
        "run": None if service is None else service.id,
        "name": None if service is None else service.name,
        "closed": klass.closed,
    }


# ------------------------------------------------------------------ pages


def page(request: Request, name: str, context: dict, status: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status)


def problem(request: Request, message: str, status: int) -> HTMLResponse:
    return page(request, "class_problem.html", {"message": message}, status)


def new_class_form(values: dict | None = None, error: str | None = None) -> dict:
    preset = RunIn()
    typed = {
        "name": "",
        "dataset": "names",
        **{k: getattr(preset, k) for k in ("lr", "steps", "n_embd", "n_head", "n_layer")},
        "block_size": preset.block_size,
        "steps_per_run": L.CLASS_STEPS.default,
        "runs_per_student": L.CLASS_RUNS.default,
        **(values or {}),
    }
    datasets = [(v, label) for v, label in dataset_choices() if v != "own"]
    return {"typed": typed, "datasets": datasets, "error": error}


@pages.get("/class/new", response_class=HTMLResponse)
async def new_class_page(request: Request) -> HTMLResponse:
    return page(request, "class_new.html", {"form": new_class_form()})


def parse_class_form(fields: dict[str, str | None]) -> tuple[str, RunIn, ClassLimits]:
    """The class form's strings as (name, preset, limits); a ValueError names the first bad
    field."""
    name = " ".join((fields.pop("name") or "").split())
    if not name:
        raise ValueError("the class needs a name: the students see it when they join")
    if len(name) > L.CLASS_NAME_CHARS:
        raise ValueError(f"a class's name has at most {L.CLASS_NAME_CHARS} characters")
    limits = {}
    for key, bound in (("steps_per_run", L.CLASS_STEPS), ("runs_per_student", L.CLASS_RUNS)):
        raw = (fields.pop(key) or "").strip()
        if raw:
            try:
                limits[key] = int(raw)
            except ValueError:
                raise ValueError(f"{key} must be {bound.allowed()}, got {raw[:20]!r}") from None
            if not bound.holds(limits[key]):
                raise ValueError(f"{key} must be {bound.allowed()}, got {limits[key]}")
    spec, _ = parse_form(fields)
    return name, spec, ClassLimits(**limits)


class ClassFields(BaseModel):
    """The class form's fields as typed (the new class's, and the teacher's new settings):
    strings, turned into a preset and limits by ``parse_class_form``."""

    name: str | None = None
    dataset: str | None = None
    lr: str | None = None
    steps: str | None = None
    n_embd: str | None = None
    n_head: str | None = None
    n_layer: str | None = None
    block_size: str | None = None
    steps_per_run: str | None = None
    runs_per_student: str | None = None


ClassForm = Annotated[ClassFields, Form()]


def refused(e: ServiceError) -> HTMLResponse:
    """A teacher's fragment asked by someone else (or of no class): the reason, in place."""
    return HTMLResponse(f'<p class="msg" role="alert">{html.escape(e.detail)}</p>', e.status_code)


@pages.post("/ui/classes", response_class=HTMLResponse)
async def create_class_page(
    request: Request,
    classes: ClassesDep,
    form: ClassForm,
) -> Response:
    """The form's class; this browser is its teacher: on to the teacher view."""
    fields = form.model_dump()
    typed = {k: v for k, v in fields.items() if v not in (None, "")}
    try:
        class_name, preset, limits = parse_class_form(dict(fields))
        check_preset(preset, limits)
    except (ValueError, ServiceError) as e:
        error = getattr(e, "detail", None) or str(e)
        return page(request, "class_new.html", {"form": new_class_form(typed, error)}, 422)
    klass, _ = await classes.create(class_name, preset, limits, identity(request))
    return RedirectResponse(f"/class/{klass.code}/teacher", status_code=303)


@pages.get("/class/{code}/teach", response_class=HTMLResponse)
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


def join_context(request: Request, classes: Classes, klass: Class, **extra) -> dict:
    ident = identity(request)
    member = klass.member_of(ident) if ident else None
    return {
        "klass": klass,
        "member": member,
        "teacher": classes.is_teacher(klass, ident),
        "join_url": f"{base_url(request)}/class/{klass.code}",
        "name_max": L.STUDENT_NAME_CHARS,
        "error": None,
        "joined": None,
        **extra,
    }


@pages.get("/class/{code}", response_class=HTMLResponse)
async def join_page(request: Request, classes: ClassesDep, code: Code) -> HTMLResponse:
    try:
        klass = classes.get(code)
    except ServiceError as e:
        return problem(request, e.detail, e.status_code)
    return page(request, "class_join.html", join_context(request, classes, klass))


@pages.post("/ui/classes/{code}/join", response_class=HTMLResponse)
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
            code, identity(request), (name or "").strip() or "student", (rejoin or "")[:16] or None
        )
    except ServiceError as e:
        context = join_context(request, classes, klass, error=e.detail, typed=name or "")
        return page(request, "class_join.html", context, e.status_code)
    joined = {"name": member.name, "run": member.run, "rejoin": code_text, "again": again}
    return page(request, "class_join.html", join_context(request, classes, klass, joined=joined))


def teacher_context(request: Request, runs: Runs, classes: Classes, klass: Class, **extra):
    join_url = f"{base_url(request)}/class/{klass.code}"
    return {
        "klass": klass,
        "join_url": join_url,
        "qr": qr_svg(join_url),
        "roster": roster_view(runs, klass),
        "form": new_class_form(
            {
                "name": klass.name,
                **{k: v for k, v in klass.preset.items() if k != "dataset"},
                "dataset": klass.preset.get("dataset")
                if isinstance(klass.preset.get("dataset"), str)
                else "names",
                **klass.limits.model_dump(),
            }
        ),
        "message": None,
        **extra,
    }


def roster_view(runs: Runs, klass: Class) -> dict:
    members = [member_out(runs, m) for m in klass.members.values()]
    training = sum(1 for m in members if m.status == "training")
    return {
        "code": klass.code,
        "members": members,
        "spotlight": klass.spotlight,
        "closed": klass.closed,
        "training": training,
    }


@pages.get("/class/{code}/teacher", response_class=HTMLResponse)
async def teacher_page(
    request: Request, runs: RunsDep, classes: ClassesDep, code: Code
) -> HTMLResponse:
    try:
        klass = classes.teacher_of(code, identity(request))
    except ServiceError as e:
        return problem(request, e.detail, e.status_code)
    return page(request, "class_teacher.html", teacher_context(request, runs, classes, klass))


def roster_fragment(runs: Runs, klass: Class):
    body = templates.get_template("partials/class_roster.html").render(
        roster=roster_view(runs, klass)
    )
    return HTMLResponse(body)


def actions_fragment(runs: Runs, klass: Class, message: str | None = None, status: int = 200):
    """The teacher's buttons with what the last one did (or the question it asks), and the
    roster as it is now (an out-of-band partial), so the effect shows at once."""
    body = templates.get_template("partials/class_actions.html").render(
        roster=roster_view(runs, klass), message=message, refresh=True
    )
    return HTMLResponse(body, status)


@pages.get("/ui/classes/{code}/actions", response_class=HTMLResponse)
async def actions(request: Request, runs: RunsDep, classes: ClassesDep, code: Code):
    """The teacher's buttons, no question pending (a "Keep" answer)."""
    try:
        klass = classes.teacher_of(code, identity(request))
    except ServiceError as e:
        return refused(e)
    return actions_fragment(runs, klass)


@pages.get("/ui/classes/{code}/roster", response_class=HTMLResponse)
async def roster(request: Request, runs: RunsDep, classes: ClassesDep, code: Code):
    """The teacher view's roster (polled every 2 s)."""
    try:
        klass = classes.teacher_of(code, identity(request))
    except ServiceError as e:
        return refused(e)
    return roster_fragment(runs, klass)


@pages.post("/ui/classes/{code}/act", response_class=HTMLResponse)
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
        message = await teacher_action(runs, classes, klass, action, run, member, confirm)
    except ServiceError as e:
        return actions_fragment(runs, klass, e.detail, e.status_code)
    return actions_fragment(runs, klass, message)


async def teacher_action(runs, classes, klass, action, run, member, confirm) -> str:
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


@pages.post("/ui/classes/{code}/preset", response_class=HTMLResponse)
async def preset_form(
    request: Request,
    runs: RunsDep,
    classes: ClassesDep,
    code: Code,
    form: ClassForm,
) -> HTMLResponse:
    """Push new settings to the class (as PATCH /api/classes/{code}); answers the roster."""
    try:
        klass = classes.teacher_of(code, identity(request))
    except ServiceError as e:
        return refused(e)
    fields = {**form.model_dump(), "name": klass.name}  # the name stays the class's
    try:
        _, preset, limits = parse_class_form(fields)
        check_preset(preset, limits)
        renewed = await classes.configure(klass, preset, limits)
    except (ValueError, ServiceError) as e:
        return actions_fragment(runs, klass, getattr(e, "detail", None) or str(e), 422)
    fresh = f"; {len(renewed)} untrained run(s) remade with it" if renewed else ""
    return actions_fragment(runs, klass, f"new settings pushed{fresh}")


@pages.get("/class/{code}/projector", response_class=HTMLResponse)
async def projector(request: Request, runs: RunsDep, classes: ClassesDep, code: Code) -> Response:
    """For the projector: the spotlighted run's page, big; before there is one, the join code
    and its QR code. Either way it follows the spotlight (static/class.js)."""
    try:
        klass = classes.get(code)
    except ServiceError as e:
        return problem(request, e.detail, e.status_code)
    if klass.spotlight in runs.services:
        return RedirectResponse(f"/?run={klass.spotlight}&projector={klass.code}", 303)
    join_url = f"{base_url(request)}/class/{klass.code}"
    return page(
        request,
        "class_projector.html",
        {"klass": klass, "join_url": join_url, "qr": qr_svg(join_url)},
    )


@pages.get("/ui/classes/{code}/news", response_class=HTMLResponse)
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


def class_bar(
    request: Request, classes: Classes, run_id: int, projector: str | None
) -> dict | None:
    """What a run page says of its class (None: not a class run): whose run, may I train it,
    the spotlight to follow; and, on the projector, which class it projects."""
    found = classes.owner(run_id)
    if found is None:
        if projector:
            try:
                klass = classes.get(projector)
            except ServiceError:
                return None
            return {"code": klass.code, "name": klass.name, "projector": True, "owner": None}
        return None
    klass, member = found
    ident = identity(request)
    return {
        "code": klass.code,
        "name": klass.name,
        "owner": member.name,
        "mine": member.identity == ident,
        "teacher": classes.is_teacher(klass, ident),
        "closed": klass.closed,
        "projector": bool(projector),
    }
