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

Everything is kept in memory and written through to the store (``app.store.classes``), so a
restart keeps the classes. This module holds the state, the lookups, who may control a run,
and joining; the teacher's commands are in ``app.classes.teacher``.
"""

import asyncio
import secrets
import time

from app import limits as L
from app.classes.codes import hashed, new_code, normal_code
from app.classes.records import Class, Member
from app.classes.teacher import TeacherCommands
from app.contract.api import RunIn
from app.runs.errors import BadInput, Conflict, Forbidden, NotFound
from app.runs.service import RunService
from app.store import Store


def display_name(name: str) -> str:
    """A student's name as shown: spaces collapsed; printable characters only."""
    shown = " ".join(name.split())
    if not shown:
        raise BadInput("name must not be blank: type the name the class will see")
    if any(not ch.isprintable() for ch in shown):
        raise BadInput(f"name {shown!r} holds a character that cannot be shown")
    return shown[: L.STUDENT_NAME_CHARS]


class Classes(TeacherCommands):
    def __init__(self, store: Store, runs):
        self.store, self.runs = store, runs  # runs: app.runs.registry.Runs
        self.classes: dict[str, Class] = {}
        self.by_run: dict[int, Member] = {}  # every run of a member -> the member
        self._lock = asyncio.Lock()
        runs.on_delete.append(self._forget_run)
        runs.policies.watch(self.check_new_run, self.adopt)

    # ------------------------------------------------------------------ loading

    async def load(self) -> None:
        stored = await asyncio.to_thread(self.store.read_classes)
        for row in stored.classes:
            self.classes[row.code] = Class.from_row(row)
        for code, ident in stored.teachers:
            if code in self.classes:
                self.classes[code].teachers.add(ident)
        for row in stored.members:
            if row.code in self.classes:
                self.classes[row.code].members[row.id] = Member.from_row(row)
        members = {m.id: m for c in self.classes.values() for m in c.members.values()}
        for run, mid in stored.member_runs:
            if mid in members and run in self.runs.services:
                members[mid].runs.add(run)
                self.by_run[run] = members[mid]
        for m in members.values():
            if m.run is not None and m.run not in self.runs.services:
                m.run = None
        for run, m in self.by_run.items():
            self._limit(self.runs.services[run], self.classes[m.code])

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

    # ------------------------------------------------------------------ students

    async def join(self, code: str, identity: str, name: str, rejoin: str | None = None):
        """The student's member record and run: the one this browser (or the rejoin code)
        already has, else a new member with a fresh run of the preset. Returns (member,
        rejoin code or None if not new, whether it was there already)."""
        klass = self.get(code)
        async with self._lock:
            member = klass.member_of(identity)
            if member is None and rejoin:
                wanted = hashed(normal_code(rejoin))
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
                await asyncio.to_thread(self.store.set_member_identity, member.id, identity)
            if member is not None:
                if member.run is None or member.run not in self.runs.services:
                    self._check_closed(klass)
                    await self._new_run(klass, member)
                return member, None, True
            self._check_closed(klass)
            if len(klass.members) >= L.CLASS_MEMBERS:
                raise Conflict(f"class {klass.name!r} is full: {L.CLASS_MEMBERS} students")
            shown = display_name(name)
            code_text = new_code()
            member = Member(0, klass.code, identity, shown, None, hashed(code_text), time.time())
            member.id = await asyncio.to_thread(
                self.store.add_member,
                klass.code,
                identity,
                shown,
                member.rejoin,
                member.joined_at,
            )
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

    # ------------------------------------------------------------------ whose run is whose

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
        await asyncio.to_thread(self.store.add_member_run, member.id, service.id)

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
        # small, and called where the deletion already waits on the store
        self.store.forget_member_run(run, member.id, member.run, klass.code, klass.spotlight)
