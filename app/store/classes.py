"""Every statement the classroom (``app.classes``) needs: classes, their teachers, members and
every run of a member. Each method is one transaction; the rules live in ``app.classes``."""

import json
from dataclasses import dataclass, field

from app.store.database import Database


@dataclass(frozen=True)
class ClassRow:
    code: str
    name: str
    preset: dict  # every student's run settings (RunIn fields, no name)
    limits: dict  # ClassLimits fields
    teacher_key: str  # sha256 of the teacher link's secret
    created_at: float
    closed_at: float | None
    spotlight: int | None
    design: dict = field(default_factory=lambda: {"seeds": "each", "vary": None})
    hold: str | None = None  # "pause" | "stop": the teacher's hold
    joins: int = 0  # students ever joined (the next one's slot)


@dataclass(frozen=True)
class MemberRow:
    id: int
    code: str  # the class's
    identity: str
    name: str
    run: int | None  # the current one
    rejoin: str  # sha256 of the rejoin code
    joined_at: float
    slot: int = 0  # place in the class's join order


@dataclass(frozen=True)
class StoredClasses:
    """Everything the classroom keeps, read at once."""

    classes: list[ClassRow]
    teachers: list[tuple[str, str]]  # (class code, identity)
    members: list[MemberRow]
    member_runs: list[tuple[int, int]]  # (run, member id)


class ClassesRepo(Database):
    def read_classes(self) -> StoredClasses:
        with self._lock:
            db = self._db
            classes = [
                ClassRow(
                    code,
                    name,
                    json.loads(preset),
                    json.loads(limits),
                    *rest,
                    json.loads(design),
                    hold,
                    n,
                )
                for code, name, preset, limits, *rest, design, hold, n in db.execute(
                    "SELECT code, name, preset, limits, teacher_key, created_at, closed_at,"
                    " spotlight, design, hold, joins FROM classes"
                )
            ]
            return StoredClasses(
                classes,
                db.execute("SELECT class, identity FROM teachers").fetchall(),
                [
                    MemberRow(*r)
                    for r in db.execute(
                        "SELECT id, class, identity, name, run, rejoin, joined_at, slot"
                        " FROM members"
                    )
                ],
                db.execute("SELECT run, member FROM member_runs").fetchall(),
            )

    # -- the class --

    def create_class(self, klass: ClassRow, teacher: str | None) -> None:
        """A new class and, if known, its first teacher."""
        with self._write() as db:
            db.execute(
                "INSERT INTO classes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    klass.code,
                    klass.name,
                    json.dumps(klass.preset),
                    json.dumps(klass.limits),
                    klass.teacher_key,
                    klass.created_at,
                    klass.closed_at,
                    klass.spotlight,
                    json.dumps(klass.design),
                    klass.hold,
                    klass.joins,
                ),
            )
            if teacher is not None:
                db.execute("INSERT INTO teachers VALUES (?, ?)", (klass.code, teacher))

    def add_teacher(self, code: str, identity: str) -> None:
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO teachers VALUES (?, ?)", (code, identity))

    def update_class_settings(self, code: str, preset: dict, limits: dict, design: dict) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE classes SET preset=?, limits=?, design=? WHERE code=?",
                (json.dumps(preset), json.dumps(limits), json.dumps(design), code),
            )

    def set_class_hold(self, code: str, hold: str | None) -> None:
        with self._write() as db:
            db.execute("UPDATE classes SET hold=? WHERE code=?", (hold, code))

    def set_teacher_key(self, code: str, key: str) -> None:
        """A new teacher link (its secret's hash): the old link no longer works."""
        with self._write() as db:
            db.execute("UPDATE classes SET teacher_key=? WHERE code=?", (key, code))

    def set_class_spotlight(self, code: str, run: int | None) -> None:
        with self._write() as db:
            db.execute("UPDATE classes SET spotlight=? WHERE code=?", (run, code))

    def close_class(self, code: str, closed_at: float) -> None:
        with self._write() as db:
            db.execute("UPDATE classes SET closed_at=? WHERE code=?", (closed_at, code))

    # -- members --

    def add_member(
        self, code: str, identity: str, name: str, rejoin: str, joined_at: float, slot: int
    ) -> int:
        """A new member (with no run yet) in join-order place ``slot``, the class's join
        counter moved past it; returns its id."""
        with self._write() as db:
            cur = db.execute(
                "INSERT INTO members (class, identity, name, run, rejoin, joined_at, slot)"
                " VALUES (?, ?, ?, NULL, ?, ?, ?)",
                (code, identity, name, rejoin, joined_at, slot),
            )
            db.execute("UPDATE classes SET joins=? WHERE code=?", (slot + 1, code))
            return cur.lastrowid

    def set_member_identity(self, member: int, identity: str, rejoin: str) -> None:
        """The member rejoined from another browser, which has a new rejoin code."""
        with self._write() as db:
            db.execute(
                "UPDATE members SET identity=?, rejoin=? WHERE id=?", (identity, rejoin, member)
            )

    def remove_members(self, members: list[int], code: str, spotlight: int | None) -> None:
        """The members and the record of their runs; the class's spotlight as it is now."""
        with self._write() as db:
            for member in members:
                db.execute("DELETE FROM members WHERE id=?", (member,))
                db.execute("DELETE FROM member_runs WHERE member=?", (member,))
            db.execute("UPDATE classes SET spotlight=? WHERE code=?", (spotlight, code))

    def add_member_run(self, member: int, run: int) -> None:
        """``run`` is the member's, and their current one."""
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO member_runs VALUES (?, ?)", (run, member))
            db.execute("UPDATE members SET run=? WHERE id=?", (run, member))

    def forget_member_run(
        self, run: int, member: int, current: int | None, code: str, spotlight: int | None
    ) -> None:
        """A member's ``run`` was deleted: their current run is now ``current``, and the class's
        spotlight ``spotlight``."""
        with self._write() as db:
            db.execute("DELETE FROM member_runs WHERE run=?", (run,))
            db.execute("UPDATE members SET run=? WHERE id=?", (current, member))
            db.execute("UPDATE classes SET spotlight=? WHERE code=?", (spotlight, code))
