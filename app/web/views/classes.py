"""The classroom's views: a class and its members (for the API and the teacher's roster), the
class form, the join page, the teacher's page and what a run page says of its class."""

from dataclasses import dataclass, field

import segno
from fastapi import Request

from app import limits as L
from app.classes.roster import Class, Classes
from app.contract.api import RunIn
from app.contract.classes import ClassOut, MemberOut
from app.runs.errors import ServiceError
from app.runs.registry import Runs
from app.web.deps import identity
from app.web.views.runs import dataset_choices

PRESET_FIELDS = ("lr", "steps", "n_embd", "n_head", "n_layer", "block_size")


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def join_url(request: Request, klass: Class) -> str:
    return f"{base_url(request)}/class/{klass.code}"


def qr_svg(url: str) -> str:
    """The join link as an inline SVG QR code (dark on light, whatever the page's theme)."""
    return segno.make(url, error="m").svg_inline(scale=6, border=2, dark="#111", light="#fff")


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
        join_url=join_url(request, klass),
        members=[member_out(runs, m) for m in klass.members.values()],
    )


@dataclass(frozen=True)
class RosterView:
    code: str
    members: list[MemberOut]
    spotlight: int | None
    closed: bool

    @property
    def training(self) -> int:
        return sum(1 for m in self.members if m.status == "training")


def roster_view(runs: Runs, klass: Class) -> RosterView:
    members = [member_out(runs, m) for m in klass.members.values()]
    return RosterView(klass.code, members, klass.spotlight, klass.closed)


@dataclass(frozen=True)
class ClassForm:
    """The class form: what is typed (a new class: the preset's defaults), and the data
    choices (the names or an example: a class shares no own list)."""

    typed: dict[str, object]
    error: str | None = None
    datasets: list[tuple[str, str]] = field(
        default_factory=lambda: [(v, label) for v, label in dataset_choices() if v != "own"]
    )


def new_class_form(values: dict | None = None, error: str | None = None) -> ClassForm:
    preset = RunIn()
    typed = {
        "name": "",
        "dataset": "names",
        **{k: getattr(preset, k) for k in PRESET_FIELDS},
        "steps_per_run": L.CLASS_STEPS.default,
        "runs_per_student": L.CLASS_RUNS.default,
        **(values or {}),
    }
    return ClassForm(typed, error)


def class_settings_form(klass: Class) -> ClassForm:
    """The teacher's form, filled in with the class's settings as they are."""
    dataset = klass.preset.get("dataset")
    return new_class_form(
        {
            "name": klass.name,
            **{k: v for k, v in klass.preset.items() if k != "dataset"},
            "dataset": dataset if isinstance(dataset, str) else "names",
            **klass.limits.model_dump(),
        }
    )


@dataclass(frozen=True)
class Joined:
    """What a student must keep after joining: the rejoin code, and the way to their run."""

    name: str
    run: int
    rejoin: str
    again: bool


@dataclass(frozen=True)
class JoinPage:
    klass: Class
    member: object | None  # this browser's membership, if it has joined
    teacher: bool
    join_url: str
    error: str | None = None
    joined: Joined | None = None
    typed: str = ""


def join_page(request: Request, classes: Classes, klass: Class, **outcome) -> JoinPage:
    ident = identity(request)
    return JoinPage(
        klass=klass,
        member=klass.member_of(ident) if ident else None,
        teacher=classes.is_teacher(klass, ident),
        join_url=join_url(request, klass),
        **outcome,
    )


@dataclass(frozen=True)
class TeacherPage:
    klass: Class
    join_url: str
    qr: str
    roster: RosterView
    form: ClassForm
    message: str | None = None


def teacher_page(request: Request, runs: Runs, klass: Class) -> TeacherPage:
    url = join_url(request, klass)
    return TeacherPage(
        klass, url, qr_svg(url), roster_view(runs, klass), class_settings_form(klass)
    )


@dataclass(frozen=True)
class ClassBar:
    """What a run page says of its class: whose run, may I train it, the spotlight to follow;
    and, on the projector, which class it projects."""

    code: str
    name: str
    owner: str | None
    projector: bool
    mine: bool = False
    teacher: bool = False
    closed: bool = False


def class_bar(
    request: Request, classes: Classes, run_id: int, projector: str | None
) -> ClassBar | None:
    """None: not a class run (nor the projector's)."""
    found = classes.owner(run_id)
    if found is None:
        if not projector:
            return None
        try:
            klass = classes.get(projector)
        except ServiceError:
            return None
        return ClassBar(klass.code, klass.name, owner=None, projector=True)
    klass, member = found
    ident = identity(request)
    return ClassBar(
        code=klass.code,
        name=klass.name,
        owner=member.name,
        projector=bool(projector),
        mine=member.identity == ident,
        teacher=classes.is_teacher(klass, ident),
        closed=klass.closed,
    )
