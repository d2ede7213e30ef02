"""The teacher's commands: make a class, sign in with the teacher link, change the preset and
limits, command every student's run at once, put a run in the spotlight, remove a student
(or many at once: everyone who joined in the last minute), close the class.

A part of ``app.classes.roster.Classes``, which holds the state these commands work on (the
attributes declared below) and the lookups and run bookkeeping they call (``get``, ``_limit``,
``_new_run``).
"""

import asyncio
import secrets
import time
from typing import TYPE_CHECKING

from app import limits as L
from app.classes.codes import WrongSecret, hashed, new_code
from app.classes.records import Class, Member
from app.contract.api import RunIn
from app.contract.classes import ClassLimits
from app.runs.errors import BadInput, NotFound, ServiceError
from app.runs.machine import Status
from app.store import Store

if TYPE_CHECKING:
    from app.runs.registry import Runs


class TeacherCommands:
    store: Store
    runs: "Runs"
    classes: dict[str, Class]
    by_run: dict[int, Member]
    _lock: asyncio.Lock

    async def create(
        self,
        spec_name: str,
        preset: RunIn,
        limits: ClassLimits,
        identity: str | None,
        design: dict | None = None,
    ):
        """A new class; its teacher is ``identity`` (the page that made it); ``design``: its
        seeds and varied setting (``app.classes.design``; default every student their own
        seed). Returns the class and the teacher link's secret (shown once: only its hash is
        kept)."""
        taught = [k for k in self.classes.values() if identity in k.teachers and not k.closed]
        self.runs.quotas.check_new_class(identity, len(taught))
        key = secrets.token_urlsafe(18)
        async with self._lock:
            code = new_code()
            while code in self.classes:
                code = new_code()
            klass = Class(
                code,
                " ".join(spec_name.split())[: L.CLASS_NAME_CHARS] or "Class",
                preset.model_dump(exclude={"name"}, mode="json"),
                limits,
                hashed(key),
                time.time(),
                **(design or {}),
            )
            if identity is not None:
                klass.teachers.add(identity)
            await asyncio.to_thread(self.store.create_class, klass.row(), identity)
            self.classes[code] = klass
        return klass, key

    async def teacher_login(self, code: str, key: str, identity: str) -> Class:
        klass = self.get(code)
        if not secrets.compare_digest(hashed(key), klass.teacher_key):
            raise WrongSecret("this teacher link is not the class's: ask its teacher for the link")
        if identity not in klass.teachers:
            klass.teachers.add(identity)
            await asyncio.to_thread(self.store.add_teacher, code, identity)
        return klass

    async def new_teacher_key(self, klass: Class) -> str:
        """A new teacher link's secret, for the teacher who asks to see the link again (only
        its hash is kept, so the old link stops working)."""
        key = secrets.token_urlsafe(18)
        klass.teacher_key = hashed(key)
        await asyncio.to_thread(self.store.set_teacher_key, klass.code, klass.teacher_key)
        return key

    async def configure(
        self,
        klass: Class,
        preset: RunIn | None,
        limits: ClassLimits | None,
        design: dict | None = None,
    ):
        """New settings: joins from now on get ``preset`` (and ``design``: seeds, the varied
        setting); a student whose run has not trained yet gets a fresh run of them (the old one
        deleted); ``limits`` apply at once."""
        if limits is not None:
            klass.limits = limits
            for member in klass.members.values():
                for run in member.runs:
                    self._limit(self.runs.services[run], klass)
        if preset is not None:
            klass.preset = preset.model_dump(exclude={"name"}, mode="json")
        if design is not None:
            klass.seeds, klass.vary = design["seeds"], design["vary"]
        await asyncio.to_thread(
            self.store.update_class_settings,
            klass.code,
            klass.preset,
            klass.limits.model_dump(mode="json"),
            klass.design,
        )
        if preset is None and design is None:
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
        does not apply to are named with the reason. Pause and stop hold (no student may
        resume or train) until the teacher resumes or trains."""
        hold = command if command in ("pause", "stop") else None
        if hold != klass.hold:
            klass.hold = hold
            await asyncio.to_thread(self.store.set_class_hold, klass.code, hold)
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
        await asyncio.to_thread(self.store.set_class_spotlight, klass.code, run)

    async def remove(self, klass: Class, member_id: int) -> None:
        """The student leaves the class; their runs are deleted (their pages are told)."""
        if member_id not in klass.members:
            known = ", ".join(f"{m.id} ({m.name})" for m in klass.members.values()) or "none"
            raise NotFound(f"class {klass.name!r} has no member {member_id}; its members: {known}")
        await self.remove_many(klass, [member_id])

    async def remove_many(self, klass: Class, member_ids: list[int]) -> list[Member]:
        """These students leave the class at once (ids it does not know are passed over); their
        runs are deleted. Returns who left."""
        leaving = [klass.members[i] for i in dict.fromkeys(member_ids) if i in klass.members]
        for member in leaving:
            for run in sorted(member.runs):
                if run in self.runs.services:
                    await self.runs.delete(run)
            del klass.members[member.id]
            if klass.spotlight in member.runs:
                klass.spotlight = None
        if leaving:
            ids = [m.id for m in leaving]
            await asyncio.to_thread(self.store.remove_members, ids, klass.code, klass.spotlight)
        return leaving

    def joined_within(self, klass: Class, seconds: float) -> list[int]:
        """The members who joined in the last ``seconds`` (a script's burst of seats)."""
        since = time.time() - seconds
        return [m.id for m in klass.members.values() if m.joined_at >= since]

    async def close(self, klass: Class) -> None:
        """No more joins; every student's run stops (and can be watched, not trained)."""
        if klass.closed:
            return
        klass.closed_at = time.time()
        await asyncio.to_thread(self.store.close_class, klass.code, klass.closed_at)
        for member in klass.members.values():
            for run in member.runs:
                service = self.runs.services.get(run)
                if service is not None and service.status in (Status.training, Status.queued):
                    try:
                        await service.stop()
                    except ServiceError:
                        pass  # it ended meanwhile
