"""Every run of this server: created, loaded, listed, renamed, deleted; and the default one.

One store (SQLite), one scheduler (at most ``settings.workers`` runs train at once), one graph
process, one event-id sequence and one set of policies (``app.runs.policies``) are shared by
all runs; each run has its own bus and its own ``RunService``. The default run (the newest
created or selected) is what the unprefixed ``/api/...`` paths act on, so old scripts keep
working.
"""

import asyncio
import json
import logging

from app import limits as L
from app.bus import EventIds, MemoryBus
from app.contract.api import DatasetText, ForkIn, RunIn, RunOut, RunsOut
from app.contract.events import DeletedEvent, ResetEvent
from app.jobs.local import ProcessRunner
from app.past.graphs import GraphBuilder
from app.runs.budget import DiskBudget
from app.runs.checkpoints import LoadedModel, validate_checkpoint
from app.runs.copies import (
    checkpoint_settings,
    fork_settings,
    forked_checkpoint,
    fresh_checkpoint,
    reset_spec,
    settings_of,
)
from app.runs.errors import BadInput, Conflict, NotFound, ServiceError, TooLarge
from app.runs.listing import run_out
from app.runs.machine import Status
from app.runs.policies import RunPolicies
from app.runs.quotas import Quotas
from app.runs.scheduler import Scheduler
from app.runs.service import RunService
from app.runs.waiting import Waiting
from app.settings import Settings
from app.store import RunRecord, open_store
from engine import EngineError
from engine.data import MAX_TEXT_BYTES

log = logging.getLogger(__name__)

DEFAULT_NAME = "Run {id}"  # the store puts the new run's id in


REDIS_RUNS = 100_000  # runs training at once in Redis mode (no limit but memory)


def run_bus(s: Settings, ids: EventIds) -> MemoryBus:
    """A run's bus: its ids from the server's one sequence, its replay bounded (app.sse)."""
    return MemoryBus(
        s.replay_max_events,
        s.client_buffer,
        max_bytes=s.replay_max_bytes,
        ids=ids,
        max_replay=s.replay_max_client_bytes,
    )


def check_text_size(spec: RunIn) -> None:
    if isinstance(spec.dataset, DatasetText):
        size = len(spec.dataset.text.encode("utf-8"))
        if size > MAX_TEXT_BYTES:
            raise TooLarge(
                f"the dataset's text is {size:,} bytes; at most {MAX_TEXT_BYTES:,} (1 MiB)"
            )


def announce(source: RunService, new: RunService, step: int, reason: str) -> None:
    """``source``'s pages hear of the run that replaces it on screen (a ``reset`` event)."""
    event = ResetEvent(run=new.id, name=new.name, seed=new.seed, step=step, reason=reason)
    source.bus.publish("reset", event)


class Runs:
    def __init__(
        self,
        settings: Settings,
        runner_factory=ProcessRunner,
        policies: RunPolicies | None = None,
    ):
        self.settings = settings
        self.policies = policies or RunPolicies()
        self.runner_factory = runner_factory
        self.store = None
        self.budget: DiskBudget | None = None  # with the store (start)
        self.services: dict[int, RunService] = {}
        self.default_id: int | None = None
        # embedded: a training process per run training, at most the CPU count at once; Redis
        # mode: every run trains, slice by slice, on the workers there are (Dramatiq's queue)
        workers = REDIS_RUNS if settings.redis_url else settings.local_workers
        self.quotas = Quotas(settings, self.services, self.policies)
        self.scheduler = Scheduler(workers, self.quotas.owner_of)  # a fair queue
        self.waiting = Waiting(self.scheduler, self.services)
        self.scheduler.on_change = self.waiting.changed
        self.graphs = GraphBuilder()  # its process starts on the first /api/graph
        self.ids = EventIds()
        self.notice: str | None = None  # shown on every run's page
        self._lock = asyncio.Lock()  # one create/delete at a time
        self.on_delete: list = []  # called with a deleted run's id (app.classes keeps count)

    # -------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        # a damaged file is moved aside and a fresh store started, with a notice (app.store)
        self.store, notice = await asyncio.to_thread(open_store, self.settings.db_path)
        self.budget = DiskBudget(self.settings, self.store)
        if notice is not None:
            self.notice = notice.message
        # event ids above every id of earlier boots, whatever the clock says (app.store)
        self.ids.raise_floor(self.store.track_event_ids(lambda: self.ids.last))
        problems = []
        for record in await asyncio.to_thread(self.store.runs):
            try:
                await self._load(record)
            except (EngineError, ValueError, TypeError, KeyError, AttributeError) as e:
                # stored by an older version that let it through: kept, not shown
                problems.append(f"run {record.id} could not be loaded ({e})")
        if problems:
            problem = "; ".join(problems)
            self.notice = f"{problem}; it is kept in the database" + (
                f". {self.notice}" if self.notice else ""
            )
            log.error("%s", self.notice)
        default = await asyncio.to_thread(self.store.default_run)
        if default in self.services:
            self.default_id = default
        elif self.services:
            self.default_id = max(self.services)
        else:
            await self.create(RunIn(seed=self.settings.seed))

    async def close(self) -> None:
        await asyncio.gather(*(s.close() for s in self.services.values()))
        await self.graphs.close()
        if self.store is not None:
            await asyncio.to_thread(self.store.close)

    async def _load(self, record: RunRecord, loaded: LoadedModel | None = None) -> RunService:
        service = RunService(
            self.settings,
            self.store,
            run_bus(self.settings, self.ids),
            self.graphs,
            self.scheduler,
            record,
            self.runner_factory,
            estimate_wait=self.waiting.estimate_wait,
            step_limit=self.policies.step_limit,
            notice=self.server_notice,
            check_space=self.budget.check_train,
        )
        await service.start(loaded)
        self.services[record.id] = service
        return service

    def server_notice(self) -> str | None:
        """What every run's page says (a damaged database moved aside, a run not loaded)."""
        return self.notice

    # -------------------------------------------------------------- lookups

    def get(self, run_id: int) -> RunService:
        service = self.services.get(run_id)
        if service is None:
            known = ", ".join(map(str, sorted(self.services))) or "none"
            raise NotFound(f"run {run_id} does not exist; the runs are: {known}")
        return service

    @property
    def default(self) -> RunService:
        return self.services[self.default_id]

    async def select(self, run_id: int) -> RunService:
        """``run_id`` becomes the default run (the page's run list selects it)."""
        service = self.get(run_id)
        if self.default_id != run_id:
            self.default_id = run_id
            await asyncio.to_thread(self.store.select_run, run_id)
        return service

    def out(self, service: RunService) -> RunOut:
        return run_out(service, self.scheduler.position(service.id), self.default_id)

    def listing(self) -> RunsOut:
        return RunsOut(
            runs=[self.out(s) for _, s in sorted(self.services.items())],
            default=self.default_id,
            workers=self.scheduler.workers,
            queue=self.scheduler.queue,
        )

    # -------------------------------------------------------------- commands

    async def create(self, spec: RunIn, by: str | None = None) -> RunService:
        """A new run of ``spec``'s settings (not training); it becomes the default run.
        ``by``: who asks (their quotas; a class student's run is theirs in the class)."""
        check_text_size(spec)
        home = self._admit(None, by)
        service = await self._create(spec, by)
        if home is not None:
            await self.policies.adopt(home, service)
        return service

    async def _create(self, spec: RunIn, by: str | None) -> RunService:
        async with self._lock:
            try:
                data, loaded = await asyncio.to_thread(fresh_checkpoint, spec)
            except EngineError as e:
                raise BadInput(str(e)) from None
            return await self._add(
                spec.name or DEFAULT_NAME, settings_of(spec), data, 0, "init", by, loaded
            )

    def _admit(self, source: RunService | None, by: str | None) -> RunService | None:
        """Before a run is made: room on the disk, ``by``'s quotas, and their class's limits
        (the run whose class the new one joins, if any: app.runs.quotas)."""
        self.budget.check_data_dir()
        return self.quotas.admit(source, by)

    async def _add(
        self,
        name: str,
        settings: dict,
        data: str,
        step: int,
        reason: str,
        by: str | None,
        loaded: LoadedModel | None = None,
    ) -> RunService:
        """The run stored and started (``loaded``: its model, if at hand: not parsed again)."""
        if by is not None:
            settings = {**settings, "owner": by}  # whose it is: quotas, the fair queue
        run_id = await asyncio.to_thread(self.store.create_run, name, settings, data, step, reason)
        self.quotas.made(by)
        record = await asyncio.to_thread(self.store.run, run_id)
        service = await self._load(record, loaded)
        self.default_id = run_id
        return service

    async def reset(
        self, source: RunService, seed: int | None = None, by: str | None = None
    ) -> RunService:
        """A fresh run with ``source``'s settings and data (and maybe another seed): ``source``
        is kept, unchanged, in the list. Its streams hear of the new run (a ``reset`` event).
        ``by``: who asks (a class student's new run counts against their limit)."""
        self._admit(source, by)
        spec = reset_spec(source, seed)
        service = await self._create(spec, by)
        await self.policies.adopt(source, service)
        announce(source, service, 0, "reset")
        return service

    async def upload(
        self, raw: bytes, source: RunService | None = None, by: str | None = None
    ) -> RunService:
        """A new run from an uploaded checkpoint (validated by the engine first: nothing is
        stored if it does not load). ``by``: who asks (as for ``create``)."""
        home = self._admit(None, by)
        data, step = await asyncio.to_thread(validate_checkpoint, raw)
        d = json.loads(data)
        steps = source.run_settings.get("steps", L.STEPS.default) if source else L.STEPS.default
        async with self._lock:
            service = await self._add(
                DEFAULT_NAME, checkpoint_settings(d, steps), data, step, "upload", by
            )
        if home is not None:
            await self.policies.adopt(home, service)
        if source is not None:
            announce(source, service, step, "upload")
        return service

    async def fork(self, source: RunService, spec: ForkIn, by: str | None = None) -> RunService:
        """A new run from exactly ``source``'s state after step ``spec.step``: its weights and
        Adam moments there (rebuilt by app.past), the same documents in the same order, and its
        own settings for what follows. Its steps are numbered on from ``spec.step + 1``.
        ``by``: who asks (a class student's fork is theirs, within their limit)."""
        self._admit(source, by)
        step = spec.step
        data = await forked_checkpoint(source, spec)
        settings = fork_settings(source, spec)
        name = spec.name or f"{source.name} from step {step}"[: L.RUN_NAME_CHARS]
        async with self._lock:
            service = await self._add(name, settings, data, step, "fork", by)
        await self.policies.adopt(source, service)
        return service

    async def rename(self, run_id: int, name: str) -> RunService:
        service = self.get(run_id)
        await asyncio.to_thread(self.store.rename_run, run_id, name)
        service.rename(name)
        return service

    async def delete(self, run_id: int) -> None:
        """The run and all it stored. A training or queued run is stopped first. The last
        run deleted leaves a fresh default run, so the page always has one."""
        async with self._lock:
            service = self.get(run_id)
            if service.status in (Status.training, Status.queued):
                try:
                    await service.stop()
                except (Conflict, ServiceError) as e:
                    log.warning("run %s stopped before its deletion: %s", run_id, e.detail)
            service.deleted = True
            del self.services[run_id]
            # its open pages say so (the stream ends with this event)
            service.bus.publish("deleted", DeletedEvent(run=run_id, name=service.name))
            await service.close()
            await asyncio.to_thread(self.store.delete_run, run_id)
            self.policies.forget(run_id)
            for forget in self.on_delete:
                forget(run_id)
            if self.default_id == run_id:
                self.default_id = await asyncio.to_thread(self.store.default_run)
        if not self.services:
            await self.create(RunIn(seed=self.settings.seed))
        elif self.default_id not in self.services:
            self.default_id = max(self.services)
