"""The classroom API's request and response models."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app import limits as L
from app.contract.api import RunIn
from app.contract.events import Status
from app.contract.fields import Text, bounded, whole_number


class ClassLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps_per_run: bounded(L.CLASS_STEPS) = Field(
        L.CLASS_STEPS.default, description="the most steps a student may ask of one segment"
    )
    runs_per_student: bounded(L.CLASS_RUNS) = Field(
        L.CLASS_RUNS.default, description="the most runs a student may have (Reset makes one)"
    )


# the run settings a teacher may spread across the class
VARIED = ("lr", "n_embd", "n_layer", "block_size", "steps", "dataset")
Seeds = Literal["each", "same"]
SEEDS_HELP = (
    '"each": every student a seed of their own (the preset\'s seed plus their place in join '
    'order), so every model differs; "same": everyone the preset\'s seed'
)


class VaryIn(BaseModel):
    """One setting spread across the class: student k (in join order) trains with
    ``values[k % len(values)]``; a removal reshuffles nobody."""

    model_config = ConfigDict(extra="forbid")

    field: Literal[VARIED] = Field(description=f"one of {', '.join(VARIED)}")
    values: list[float | int | str] = Field(
        min_length=2, max_length=L.VARIED_VALUES, description="the values, in the order given"
    )


class ClassIn(BaseModel):
    """A new class: its name, the settings of every student's run, and the students' limits."""

    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=L.CLASS_NAME_CHARS)
    preset: RunIn = Field(default_factory=RunIn, description="every student's run settings")
    limits: ClassLimits = Field(default_factory=ClassLimits)
    seeds: Seeds = Field("each", description=SEEDS_HELP)
    vary: VaryIn | None = Field(None, description="a setting spread across the class, or none")


class ClassPresetIn(BaseModel):
    """New settings for the class's runs (PATCH): the preset, the limits, the seeds, the
    varied setting (``vary``: null spreads nothing), each optional."""

    model_config = ConfigDict(extra="forbid")

    preset: RunIn | None = None
    limits: ClassLimits | None = None
    seeds: Seeds | None = None
    vary: VaryIn | None = None


class ClassCreated(BaseModel):
    code: str = Field(description="the short code students type (or the join link has)")
    join_url: str = Field(description="where students join: give it out, or show its QR code")
    teacher_url: str = Field(
        description="the teacher's private link: opening it makes that browser the teacher's "
        "(its secret is traded for a cookie and dropped from the address bar)"
    )


class JoinIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(
        "", max_length=L.STUDENT_NAME_CHARS, description="shown to all (not needed to rejoin)"
    )
    rejoin: Text | None = Field(
        None,
        max_length=L.REJOIN_CHARS,
        description="the rejoin code shown at joining, from another browser",
    )


class Joined(BaseModel):
    member: int
    name: str
    run: int = Field(description="the student's run: /?run=<run>")
    rejoin: str = Field(
        description="type it to rejoin from another browser (it works once: the seat moves "
        "there with a new code); shown once, empty if it did not change"
    )
    again: bool = Field(description="this browser had already joined: the same run")


class MemberOut(BaseModel):
    id: int
    name: str
    run: int | None = Field(description="the student's current run (null: deleted)")
    status: Status | None
    step: int
    loss: float | None = Field(description="the latest smoothed training loss")
    val: float | None = Field(description="the latest held-out loss")
    joined_at: float
    seed: int | None = Field(description="their run's seed")
    value: float | int | str | None = Field(
        description="their value of the class's varied setting (null: nothing varies)"
    )


class ClassOut(BaseModel):
    code: str
    name: str
    preset: dict
    limits: ClassLimits
    closed: bool
    spotlight: int | None = Field(description="the run shown to everyone, if any")
    seeds: Seeds
    vary: VaryIn | None
    hold: Literal["pause", "stop"] | None = Field(
        description="the teacher's hold: while paused or stopped by the teacher, no student "
        "may resume or train (their runs' status stays what it is)"
    )
    join_url: str
    members: list[MemberOut]


class SpotlightIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run: int | None = Field(description="a student's run to show everyone; null: none")


class ClassCommandOut(BaseModel):
    command: str
    done: list[int] = Field(description="the runs it applied to")
    skipped: dict[str, str] = Field(description="run id → why it did not apply")


class RemoveIn(BaseModel):
    """Students to remove at once: by id, and/or everyone who joined lately."""

    model_config = ConfigDict(extra="forbid")

    members: list[whole_number(1, 2**31)] = Field(
        default_factory=list, max_length=L.CLASS_MEMBERS, description="member ids"
    )
    joined_within: float | None = Field(
        None,
        gt=0,
        le=7 * 24 * 3600,
        allow_inf_nan=False,
        description="also everyone who joined in the last this many seconds",
    )


class RemovedOut(BaseModel):
    removed: list[int] = Field(description="the members removed (their runs deleted)")
    names: list[str]
