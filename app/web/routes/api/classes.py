"""The classroom's API (``/api/classes``): make a class, join it, and the teacher's commands,
roster, results and spotlight. The pages are app.web.routes.ui.classes and .teacher."""

import csv
import io
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from app import limits as L
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
    SpotlightIn,
)
from app.runs.errors import BadInput
from app.web.deps import ClassesDep, RunsDep, identity
from app.web.routes.api.compare import spread
from app.web.views.classes import base_url, class_out, member_out

router = APIRouter(prefix="/api/classes", tags=["classes"])

Code = Annotated[
    str, Path(min_length=1, max_length=L.CLASS_CODE_CHARS, description="the class's short code")
]
TEACHER = {
    403: {"model": ErrorOut, "description": "only the class's teacher may"},
    404: {"model": ErrorOut, "description": "no class has that code"},
}
COMMANDS = ("train", "pause", "resume", "stop")
CURVE_POINTS = 300  # per student on the overlay: a chart is a few hundred pixels wide


@router.post("", status_code=201, response_model=ClassCreated, responses={422: {"model": ErrorOut}})
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


@router.get("/{code}", response_model=ClassOut, responses=TEACHER)
async def get_class(request: Request, runs: RunsDep, classes: ClassesDep, code: Code) -> ClassOut:
    """The class and every member: run id, status, step, latest smoothed and held-out loss
    (teacher only)."""
    klass = classes.teacher_of(code, identity(request))
    return class_out(request, runs, klass)


@router.patch("/{code}", response_model=ClassOut, responses={**TEACHER, 422: {"model": ErrorOut}})
async def configure_class(
    request: Request, runs: RunsDep, classes: ClassesDep, code: Code, body: ClassPresetIn
) -> ClassOut:
    """New settings for the students' runs: joins from now on get the preset, and a student
    whose run has not trained yet gets a fresh one of it; new limits apply at once."""
    klass = classes.teacher_of(code, identity(request))
    check_preset(body.preset or RunIn(**klass.preset), body.limits or klass.limits)
    await classes.configure(klass, body.preset, body.limits)
    return class_out(request, runs, klass)


@router.post("/{code}/join", response_model=Joined, responses={**TEACHER, 422: {"model": ErrorOut}})
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


@router.post("/{code}/close", response_model=ClassOut, responses=TEACHER)
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
    router.post(f"/{{code}}/{_command}", response_model=ClassCommandOut, responses=TEACHER)(
        _class_command(_command)
    )


@router.put("/{code}/spotlight", response_model=ClassOut, responses=TEACHER)
async def spotlight_class(
    request: Request, runs: RunsDep, classes: ClassesDep, code: Code, body: SpotlightIn
) -> ClassOut:
    """Show one student's run to everyone (the projector follows it; students' pages link it),
    or none (``run``: null)."""
    klass = classes.teacher_of(code, identity(request))
    await classes.set_spotlight(klass, body.run)
    return class_out(request, runs, klass)


@router.delete(
    "/{code}/members/{member}", status_code=204, response_class=Response, responses=TEACHER
)
async def remove_member(
    request: Request, classes: ClassesDep, code: Code, member: Annotated[int, Path(ge=1)]
) -> Response:
    """Remove a student: their runs are deleted (their pages are told) and the class no longer
    knows them."""
    klass = classes.teacher_of(code, identity(request))
    await classes.remove(klass, member)
    return Response(status_code=204)


@router.get(
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


@router.get("/{code}/curves", responses=TEACHER)
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


@router.get("/{code}/spotlight", responses={404: {"model": ErrorOut}})
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
