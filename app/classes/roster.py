"""Classes: a teacher, a short code, and students who each train a run of their own.

A class is made with a name, a preset (every student's run settings) and limits. Its teacher
is whoever made it on the page, and any browser that opens the private teacher link (its
secret, kept only as a hash, is traded for that browser's identity: app.identity). A student
joins with a display name (a taken one becomes "Chen (2)") and gets a run of the preset,
with their own seed and value of the varied setting (``app.classes.design``); the same
browser joining again gets the same run; another browser gets it back with the rejoin code
shown at joining.

Who may do what: a class member's run is controlled (trained, paused, reset, renamed,
deleted...) only by that student or the class's teacher; anyone else may watch it and is told
why not (403); while the teacher holds the class (Pause all, Stop all) a student controls
nothing of theirs (409) until the teacher resumes or trains everyone. Runs outside a class
are anyone's, as in single-user mode. A student's Reset or Fork makes another run of theirs,
up to the class's ``runs_per_student``; a segment may ask for at most ``steps_per_run``
steps.

Everything is kept in memory and written through to the store (``app.store.classes``), so a
restart keeps the classes. This module holds the state, the lookups, who may control a run,
and joining; the teacher's commands are in ``app.classes.teacher``.
"""

import asyncio
import secrets
import time

from app import limits as L
from app.classes.codes import WrongSecret, hashed, new_code, normal_code, readings
from app.classes.design import run_spec
from app.classes.records import Class, Member
from app.classes.teacher import TeacherCommands
from app.classes.throttle import Buckets
from app.runs.errors import BadInput, Conflict, Forbidden, NotFound, TooMany
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


def hold_message(hold: str) -> str:
    word = "paused" if hold == "pause" else "stopped"
    return f"Your teacher {word} the class: wait for them to resume it"


class Classes(TeacherCommands):
    def __init__(self, store: Store, runs):
        self.store, self.runs = store, runs  # runs: app.runs.registry.Runs
        self.classes: dict[str, Class] = {}
        self.by_run: dict[int, Member] = {}  # every run of a member -> the member
        self._lock = asyncio.Lock()
        # the browser a seat left (its rejoin code typed elsewhere) -> (member id, when)
        self.moved: dict[str, tuple[int, float]] = {}
        s = runs.settings
        self.joins = Buckets(s.class_join_burst, s.class_joins_per_second)  # new seats a class
        runs.on_delete.append(self._forget_run)
        runs.policies.watch(self.check_new_run, self.adopt)
        runs.policies.home_of = self.own_run

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
        if klass is None:  # misread: an O for a D, a 1 for an L... if only one class fits
            fits = [self.classes[c] for c in readings(code) if c in self.classes]
            klass = fits[0] if len(fits) == 1 else None
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
            moved = self.moved_notice(klass, identity)
            if moved is not None:
                raise Forbidden(moved[:1].upper() + moved[1:])
            raise Forbidden(
                f"run {service.id} is {member.name}'s, in class {klass.name!r}: only "
                f"{member.name} or the teacher may control it; you can watch it"
            )
        if klass.hold is not None:
            raise Conflict(hold_message(klass.hold), service.status)

    def own_run(self, identity: str | None) -> int | None:
        """The run a class student's ``/`` opens: their current one (their newest class's)."""
        if identity is None:
            return None
        mine = [
            m
            for k in self.classes.values()
            if (m := k.member_of(identity)) is not None and m.run in self.runs.services
        ]
        return max(mine, key=lambda m: m.joined_at).run if mine else None

    def _limit(self, service: RunService, klass: Class) -> None:
        self.runs.policies.set_limit(
            service.id, klass.limits.steps_per_run, f"class {klass.name!r}"
        )

    # ------------------------------------------------------------------ students

    async def join(self, code: str, identity: str, name: str, rejoin: str | None = None):
        """The student's member record and run: the one this browser (or the rejoin code)
        already has, else a new member with a fresh run of the preset. Returns (member, the
        rejoin code to keep or None if it did not change, whether it was there already)."""
        klass = self.get(code)
        async with self._lock:
            member, code_text = klass.member_of(identity), None
            if member is None and rejoin:
                member, code_text = await self._rejoin(klass, identity, rejoin)
            if member is not None:
                if member.run is None or member.run not in self.runs.services:
                    self._check_closed(klass)
                    await self._new_run(klass, member)
                return member, code_text, True
            self._check_closed(klass)
            if len(klass.members) >= L.CLASS_MEMBERS:
                raise Conflict(f"class {klass.name!r} is full: {L.CLASS_MEMBERS} students")
            shown = klass.unique_name(display_name(name), L.STUDENT_NAME_CHARS)
            wait = self.joins.take(klass.code)
            if wait:
                raise TooMany(
                    f"class {klass.name!r} is taking many students at once: try again in "
                    f"{wait:.0f} s",
                    wait,
                )
            code_text = new_code()
            member = Member(
                0, klass.code, identity, shown, None, hashed(code_text), time.time(), klass.joins
            )
            member.id = await asyncio.to_thread(
                self.store.add_member,
                klass.code,
                identity,
                shown,
                member.rejoin,
                member.joined_at,
                member.slot,
            )
            klass.joins = member.slot + 1
            klass.members[member.id] = member
            await self._new_run(klass, member)
            return member, code_text, False

    async def _rejoin(self, klass: Class, identity: str, rejoin: str) -> tuple[Member, str]:
        """The seat whose rejoin code this is moves to this browser, with a new code: each code
        works once, and the browser that had the seat is told where it went."""
        wanted = hashed(normal_code(rejoin))
        member = next(
            (m for m in klass.members.values() if secrets.compare_digest(m.rejoin, wanted)),
            None,
        )
        if member is None:
            raise WrongSecret(
                f"no student of class {klass.name!r} has the rejoin code "
                f"{rejoin.strip()[:16]!r}: check it, or join as someone new"
            )
        code_text = new_code()
        await asyncio.to_thread(
            self.store.set_member_identity, member.id, identity, hashed(code_text)
        )
        self.moved[member.identity] = (member.id, time.time())
        member.identity, member.rejoin = identity, hashed(code_text)
        return member, code_text

    def moved_notice(self, klass: Class, identity: str | None) -> str | None:
        """If this browser's seat in ``klass`` moved to another browser: where, and what to do."""
        moved = self.moved.get(identity or "")
        member = klass.members.get(moved[0]) if moved else None
        if member is None:
            return None
        at = time.strftime("%H:%M", time.localtime(moved[1]))
        return (
            f"your seat in class {klass.name!r} ({member.name}) moved to another browser at "
            f"{at}, where its rejoin code was typed: this browser can watch; to take the seat "
            "back, type the new rejoin code shown there"
        )

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
        spec = run_spec(klass, member.slot, member.name[: L.RUN_NAME_CHARS])
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
