"""Classes: a teacher, a short code, and students who each train a run of their own.

A class is made with a name, a preset (every student's run settings) and limits. Its teacher
is whoever made it on the page, and any browser that opens the private teacher link (its
secret, kept only as a hash, is traded for that browser's identity: app.identity). A student
joins with a display name and gets a run of the preset; the same browser joining again gets
the same run; another browser gets it back with the rejoin code shown at joining.

Who may do what: a class member's run is controlled (trained, paused, reset, renamed,
deleted...) only by that student or the class's teacher; anyone else may watch it and is told
why not (403). Runs outside a class are anyone's, as in single-user mode. A student's Reset
or Fork makes another run of theirs, up to the class's ``runs_per_student``; a segment may ask
for at most ``steps_per_run`` steps.

Everything is kept in memory and written through to the store (tables classes, teachers,
members, member_runs), so a restart keeps the classes.
"""

import asyncio
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field

from app import limits as L
from app.contract.api import RunIn
from app.contract.classes import ClassLimits
from app.runs.errors import BadInput, Conflict, Forbidden, NotFound, ServiceError
from app.runs.machine import Status
from app.runs.service import RunService
from app.store import Store

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no I, O, 0, 1: read off a projector
CODE_CHARS = 6


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_CHARS))


def normal_code(code: str) -> str:
    """A code as typed: case and surrounding spaces do not matter."""
    return code.strip().upper()


def display_name(name: str) -> str:
    """A student's name as shown: spaces collapsed; printable characters only."""
    shown = " ".join(name.split())
    if not shown:
        raise BadInput("name must not be blank: type the name the class will see")
    if any(not ch.isprintable() for ch in shown):
        raise BadInput(f"name {shown!r} holds a character that cannot be shown")
    return shown[: L.STUDENT_NAME_CHARS]


@dataclass
class Member:
    id: int
    code: str
    identity: str
    name: str
    run: int | None
    rejoin: str  # sha256 of the rejoin code
    joined_at: float
    runs: set[int] = field(default_factory=set)  # every run of theirs still kept


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
    teachers: set[str] = field(default_factory=set)
    members: dict[int, Member] = field(default_factory=dict)

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    def member_of(self, identity: str) -> Member | None:
        return next((m for m in self.members.values() if m.identity == identity), None)


class Classes:
    def __init__(self, store: Store, runs):
        self.store, self.runs = store, runs  # runs: app.runs.registry.Runs
        self.classes: dict[str, Class] = {}
        self.by_run: dict[int, Member] = {}  # every run of a member -> the member
        self._lock = asyncio.Lock()
        runs.on_delete.append(self._forget_run)
        runs.policies.watch(self.check_new_run, self.adopt)

    # ------------------------------------------------------------------ loading

    async def load(self) -> None:
        rows = await asyncio.to_thread(self.store.read, "SELECT * FROM classes")
        for code, name, preset, limits, key, created, closed, spot in rows:
            self.classes[code] = Class(
                code,
                name,
                json.loads(preset),
                ClassLimits(**json.loads(limits)),
                key,
                created,
                closed,
                spot,
            )
        for code, ident in await asyncio.to_thread(self.store.read, "SELECT * FROM teachers"):
            if code in self.classes:
                self.classes[code].teachers.add(ident)
        for mid, code, ident, name, run, rejoin, joined in await asyncio.to_thread(
            self.store.read, "SELECT * FROM members"
        ):
            if code in self.classes:
                self.classes[code].members[mid] = Member(
                    mid, code, ident, name, run, rejoin, joined
                )
        members = {m.id: m for c in self.classes.values() for m in c.members.values()}
        for run, mid in await asyncio.to_thread(self.store.read, "SELECT * FROM member_runs"):
            if mid in members and run in self.runs.services:
                members[mid].runs.add(run)
                self.by_run[run] = members[mid]
        for m in members.values():
            if m.run is not None and m.run not in self.runs.services:
                m.run = None
        for run, m in self.by_run.items():
            self._limit(self.runs.services[run], self.classes[m.code])

    async def _write(self, *statements: tuple[str, tuple]) -> None:
        def write() -> None:
            with self.store.writing() as db:
                for sql, args in statements:
                    db.execute(sql, args)

        await asyncio.to_thread(write)

    # ------------------------------------------------------------------ lookups

    def get(self, code: str) -> Class:
        klass = self.classes.get(normal_code(code))
        if klass is None:
            raise NotFound(f"no class has the code {code.strip()[:12]!r}: check the join link")
        return klass

    def is_teacher(self, klass: Class, identity: str | None) -> bool:
        return identity is not None and identity in klass.teachers

    def teacher_of(self, code: str, identity: str | None) -> Class:
        klass = self.get(code)
        if not self.is_teacher(klass, identity):
            raise Forbidden(
                f"only the teacher of class {klass.name!r} may do this: open the teacher link "
                "in this browser first"
            )
        return klass

    def owner(self, run: int) -> tuple[Class, Member] | None:
        member = self.by_run.get(run)
        return None if member is None else (self.classes[member.code], member)

    def check_control(self, service: RunService, identity: str | None) -> None:
        """Forbidden unless ``identity`` may control ``service``'s run."""
        found = self.owner(service.id)
        if found is None:
            return  # not a class run: anyone's, as in single-user mode
        klass, member = found
        if self.is_teacher(klass, identity):
            return
        if klass.closed:
            raise Forbidden(f"class {klass.name!r} is closed: its runs can be watched, not trained")
        if member.identity != identity:
            raise Forbidden(
                f"run {service.id} is {member.name}'s, in class {klass.name!r}: only "
                f"{member.name} or the teacher may control it; you can watch it"
            )

    def _limit(self, service: RunService, klass: Class) -> None:
        self.runs.policies.set_limit(
            service.id, klass.limits.steps_per_run, f"class {klass.name!r}"
        )

    # ------------------------------------------------------------------ the teacher

    async def create(
        self, spec_name: str, preset: RunIn, limits: ClassLimits, identity: str | None
    ):
        """A new class; its teacher is ``identity`` (the page that made it). Returns the class
        and the teacher link's secret (shown once: only its hash is kept)."""
        key = secrets.token_urlsafe(18)
        async with self._lock:
            code = _code()
            while code in self.classes:
                code = _code()
            klass = Class(
                code,
                " ".join(spec_name.split())[: L.CLASS_NAME_CHARS] or "Class",
                preset.model_dump(exclude={"name"}, mode="json"),
                limits,
                _hash(key),
                time.time(),
            )
            statements = [
                (
                    "INSERT INTO classes VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)",
                    (
                        code,
                        klass.name,
                        json.dumps(klass.preset),
                        limits.model_dump_json(),
                        klass.teacher_key,
                        klass.created_at,
                    ),
                )
            ]
            if identity is not None:
                klass.teachers.add(identity)
                statements.append(("INSERT INTO teachers VALUES (?, ?)", (code, identity)))
            await self._write(*statements)
            self.classes[code] = klass
        return klass, key

    async def teacher_login(self, code: str, key: str, identity: str) -> Class:
        klass = self.get(code)
        if not secrets.compare_digest(_hash(key), klass.teacher_key):
            raise Forbidden("this teacher link is not the class's: ask its teacher for the link")
        if identity not in klass.teachers:
            klass.teachers.add(identity)
            await self._write(("INSERT OR IGNORE INTO teachers VALUES (?, ?)", (code, identity)))
        return klass

    async def configure(self, klass: Class, preset: RunIn | None, limits: ClassLimits | None):
        """New settings: joins from now on get ``preset``; a student whose run has not trained
        yet gets a fresh run of it (the old one deleted); ``limits`` apply at once."""
        if limits is not None:
            klass.limits = limits
            for member in klass.members.values():
                for run in member.runs:
                    self._limit(self.runs.services[run], klass)
        if preset is not None:
            klass.preset = preset.model_dump(exclude={"name"}, mode="json")
        await self._write(
            (
                "UPDATE classes SET preset=?, limits=? WHERE code=?",
                (json.dumps(klass.preset), klass.limits.model_dump_json(), klass.code),
            )
        )
        if preset is None:
            return []
        renewed = []
        for member in list(klass.members.values()):
            service = self.runs.services.get(member.run) if member.run else None
            if service is not None and service.step == 0 and service.status == Status.idle:
                old = service.id
                await self._new_run(klass, member)
                await self.runs.delete(old)
                renewed.append(member.id)
        return renewed

    async def command_all(self, klass: Class, command: str, steps: int | None = None):
        """``command`` (train, pause, resume, stop) on every student's current run; the runs it
        does not apply to are named with the reason."""
        done, skipped = [], {}
        for member in klass.members.values():
            service = self.runs.services.get(member.run) if member.run else None
            if service is None:
                continue
            try:
                if command == "train":
                    await service.train(steps)
                else:
                    await getattr(service, command)()
                done.append(service.id)
            except ServiceError as e:
                skipped[str(service.id)] = e.detail
        return done, skipped

    async def set_spotlight(self, klass: Class, run: int | None) -> None:
        if run is not None and (run not in self.by_run or self.by_run[run].code != klass.code):
            mine = sorted(r for m in klass.members.values() for r in m.runs)
            raise BadInput(
                f"run {run} is not a run of this class's students; theirs are: "
                f"{', '.join(map(str, mine)) or 'none yet'}"
            )
        klass.spotlight = run
        await self._write(("UPDATE classes SET spotlight=? WHERE code=?", (run, klass.code)))

    async def remove(self, klass: Class, member_id: int) -> None:
        """The student leaves the class; their runs are deleted (their pages are told)."""
        member = klass.members.get(member_id)
        if member is None:
            known = ", ".join(f"{m.id} ({m.name})" for m in klass.members.values()) or "none"
            raise NotFound(f"class {klass.name!r} has no member {member_id}; its members: {known}")
        for run in sorted(member.runs):
            if run in self.runs.services:
                await self.runs.delete(run)
        del klass.members[member_id]
        if klass.spotlight in member.runs:
            klass.spotlight = None
        await self._write(
            ("DELETE FROM members WHERE id=?", (member_id,)),
            ("DELETE FROM member_runs WHERE member=?", (member_id,)),
            ("UPDATE classes SET spotlight=? WHERE code=?", (klass.spotlight, klass.code)),
        )

    async def close(self, klass: Class) -> None:
        """No more joins; every student's run stops (and can be watched, not trained)."""
        if klass.closed:
            return
        klass.closed_at = time.time()
        await self._write(
            ("UPDATE classes SET closed_at=? WHERE code=?", (klass.closed_at, klass.code))
        )
        for member in klass.members.values():
            for run in member.runs:
                service = self.runs.services.get(run)
                if service is not None and service.status in (Status.training, Status.queued):
                    try:
                        await service.stop()
                    except ServiceError:
                        pass  # it ended meanwhile

    # ------------------------------------------------------------------ students

    async def join(self, code: str, identity: str, name: str, rejoin: str | None = None):
        """The student's member record and run: the one this browser (or the rejoin code)
        already has, else a new member with a fresh run of the preset. Returns (member,
        rejoin code or None if not new, whether it was there already)."""
        klass = self.get(code)
        async with self._lock:
            member = klass.member_of(identity)
            if member is None and rejoin:
                wanted = _hash(normal_code(rejoin))
                member = next(
                    (m for m in klass.members.values() if secrets.compare_digest(m.rejoin, wanted)),
                    None,
                )
                if member is None:
                    raise Forbidden(
                        f"no student of class {klass.name!r} has the rejoin code "
                        f"{rejoin.strip()[:16]!r}: check it, or join as someone new"
                    )
                member.identity = identity
                await self._write(
                    ("UPDATE members SET identity=? WHERE id=?", (identity, member.id))
                )
            if member is not None:
                if member.run is None or member.run not in self.runs.services:
                    self._check_closed(klass)
                    await self._new_run(klass, member)
                return member, None, True
            self._check_closed(klass)
            if len(klass.members) >= L.CLASS_MEMBERS:
                raise Conflict(f"class {klass.name!r} is full: {L.CLASS_MEMBERS} students")
            shown = display_name(name)
            code_text = _code()
            member = Member(0, klass.code, identity, shown, None, _hash(code_text), time.time())

            def insert() -> int:
                with self.store.writing() as db:
                    cur = db.execute(
                        "INSERT INTO members (class, identity, name, run, rejoin, joined_at)"
                        " VALUES (?, ?, ?, NULL, ?, ?)",
                        (klass.code, identity, shown, member.rejoin, member.joined_at),
                    )
                    return cur.lastrowid

            member.id = await asyncio.to_thread(insert)
            klass.members[member.id] = member
            await self._new_run(klass, member)
            return member, code_text, False

    def _check_closed(self, klass: Class) -> None:
        if klass.closed:
            raise Forbidden(f"class {klass.name!r} is closed: it takes no more students")

    def check_new_run(self, service: RunService, identity: str | None) -> None:
        """Before a Reset or Fork of ``service``: within the student's run limit?"""
        found = self.owner(service.id)
        if found is None:
            return
        klass, member = found
        self.check_control(service, identity)
        kept = len([r for r in member.runs if r in self.runs.services])
        if kept >= klass.limits.runs_per_student:
            raise Forbidden(
                f"{member.name} has {kept} runs in class {klass.name!r}, its limit: delete one "
                "first (or ask the teacher)"
            )

    async def adopt(self, source: RunService, new: RunService) -> None:
        """A run made from a member's run (Reset, Fork) is theirs too, and their current one."""
        found = self.owner(source.id)
        if found is None:
            return
        klass, member = found
        if new.name == f"Run {new.id}":  # a Reset's: named after the student, as the first
            await self.runs.rename(new.id, member.name[: L.RUN_NAME_CHARS])
        await self._own(klass, member, new)

    async def _new_run(self, klass: Class, member: Member) -> RunService:
        spec = RunIn(**{**klass.preset, "name": member.name[: L.RUN_NAME_CHARS]})
        service = await self.runs.create(spec)
        await self._own(klass, member, service)
        return service

    async def _own(self, klass: Class, member: Member, service: RunService) -> None:
        member.run = service.id
        member.runs.add(service.id)
        self.by_run[service.id] = member
        self._limit(service, klass)
        await self._write(
            ("INSERT OR REPLACE INTO member_runs VALUES (?, ?)", (service.id, member.id)),
            ("UPDATE members SET run=? WHERE id=?", (service.id, member.id)),
        )

    def _forget_run(self, run: int) -> None:
        """A run was deleted (by its student, the teacher, or a removal)."""
        member = self.by_run.pop(run, None)
        if member is None:
            return
        member.runs.discard(run)
        if member.run == run:
            member.run = max(member.runs) if member.runs else None
        klass = self.classes[member.code]
        if klass.spotlight == run:
            klass.spotlight = None

        def write() -> None:
            with self.store.writing() as db:
                db.execute("DELETE FROM member_runs WHERE run=?", (run,))
                db.execute("UPDATE members SET run=? WHERE id=?", (member.run, member.id))
                db.execute(
                    "UPDATE classes SET spotlight=? WHERE code=?", (klass.spotlight, klass.code)
                )

        write()  # small, and called where the deletion already waits on the store
