"""A class and its members as the classroom keeps them in memory."""

from dataclasses import dataclass, field

from app.contract.classes import ClassLimits
from app.store import ClassRow, MemberRow


@dataclass
class Member:
    id: int
    code: str
    identity: str
    name: str
    run: int | None
    rejoin: str  # sha256 of the rejoin code
    joined_at: float
    slot: int = 0  # their place in join order: their seed and varied value follow from it
    runs: set[int] = field(default_factory=set)  # every run of theirs still kept

    @classmethod
    def from_row(cls, row: MemberRow) -> "Member":
        return cls(
            row.id, row.code, row.identity, row.name, row.run, row.rejoin, row.joined_at, row.slot
        )


@dataclass
class Class:
    code: str
    name: str
    preset: dict  # RunIn fields (no name)
    limits: ClassLimits
    teacher_key: str  # sha256 of the teacher link's secret
    created_at: float
    closed_at: float | None = None
    spotlight: int | None = None
    seeds: str = "each"  # "each" (seed + slot) or "same" (the preset's)
    vary: dict | None = None  # {"field": ..., "values": [...]}: spread round-robin by slot
    hold: str | None = None  # "pause" or "stop": the teacher's word holds until resume/train
    joins: int = 0  # students ever joined: the next one's slot
    teachers: set[str] = field(default_factory=set)
    members: dict[int, Member] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: ClassRow) -> "Class":
        return cls(
            row.code,
            row.name,
            row.preset,
            ClassLimits(**row.limits),
            row.teacher_key,
            row.created_at,
            row.closed_at,
            row.spotlight,
            row.design.get("seeds", "same"),
            row.design.get("vary"),
            row.hold,
            row.joins,
        )

    def row(self) -> ClassRow:
        """As the store keeps it."""
        return ClassRow(
            self.code,
            self.name,
            self.preset,
            self.limits.model_dump(mode="json"),
            self.teacher_key,
            self.created_at,
            self.closed_at,
            self.spotlight,
            self.design,
            self.hold,
            self.joins,
        )

    @property
    def design(self) -> dict:
        """The experiment: whose seed, and which setting varies over which values."""
        return {"seeds": self.seeds, "vary": self.vary}

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    def member_of(self, identity: str) -> Member | None:
        return next((m for m in self.members.values() if m.identity == identity), None)

    def unique_name(self, name: str, limit: int) -> str:
        """``name``, or "name (2)", "name (3)"... if a member already shows it."""
        taken = {m.name.casefold() for m in self.members.values()}
        shown, n = name, 1
        while shown.casefold() in taken:
            n += 1
            suffix = f" ({n})"
            shown = name[: limit - len(suffix)] + suffix
        return shown
