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
import os

from app import limits as L
from app.bus import EventIds, MemoryBus
from app.contract.api import DATASETS, DatasetText, ForkIn, RunIn, RunOut, RunsOut
from app.contract.events import DeletedEvent, ResetEvent
from app.jobs.local import ProcessRunner
from app.past.graphs import GraphBuilder
from app.runs.checkpoints import validate_checkpoint
from app.runs.errors import BadInput, Conflict, NotFound, ServiceError, TooLarge
from app.runs.machine import Status
from app.runs.policies import RunPolicies
from app.runs.scheduler import Scheduler, waits
from app.runs.service import RunService
from app.settings import Settings
from app.store import RunRecord, open_store
from engine import EngineError, GPTConfig, Trainer
from engine.checkpoint import at_step
from engine.data import MAX_TEXT_BYTES, check_text, load_example
from engine.model import num_params

log = logging.getLogger(__name__)

DEFAULT_NAME = "Run {id}"  # the store puts the new run's id in


def documents(spec: RunIn) -> list[str] | None:
    """The run's documents: None for the shipped names, an example's, or the text given
    (checked line by line: an EngineError names what is wrong)."""
    if isinstance(spec.dataset, DatasetText):
        return check_text(spec.dataset.text)
    return None if spec.dataset == "names" else load_example(spec.dataset)


def fresh_checkpoint(spec: RunIn) -> str:
    config = GPTConfig(
        n_embd=spec.n_embd, n_head=spec.n_head, n_layer=spec.n_layer, block_size=spec.block_size
    )
    trainer = Trainer(docs=documents(spec), config=config, seed=spec.seed, lr=spec.lr)
    return json.dumps(trainer.to_dict())


def settings_of(spec: RunIn) -> dict:
    """What the run list shows of its settings (its own text is in its checkpoint)."""
    dataset = "own" if isinstance(spec.dataset, DatasetText) else spec.dataset
    return {**spec.model_dump(exclude={"name", "dataset"}), "dataset": dataset}


def checkpoint_settings(d: dict, steps: int) -> dict:
    """The run settings an uploaded checkpoint amounts to."""
    c = d["config"]
    return {
        "seed": d["seed"],
        "lr": d["lr"],
        "steps": steps,
        **{k: c[k] for k in ("n_embd", "n_head", "n_layer", "block_size")},
        "dataset": d.get("dataset", "names"),
    }


REDIS_RUNS = 100_000  # runs training at once in Redis mode (no limit but memory)


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
        self.services: dict[int, RunService] = {}
        self.default_id: int | None = None
        # embedded: one training process per run training, at most the CPU count at once; Redis
        # mode: every run trains, slice by slice, on however many workers there are (its
        # queue is Dramatiq's)
        embedded = settings.workers or os.cpu_count() or 1
        self.scheduler = Scheduler(REDIS_RUNS if settings.redis_url else embedded)
        self.graphs = GraphBuilder()  # its process starts on the first /api/graph
        self.ids = EventIds()
        self.notice: str | None = None  # shown on every run's page
        self._lock = asyncio.Lock()  # one create/delete at a time
        self.on_delete: list = []  # called with a deleted run's id (app.classes keeps count)

    # -------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        # a damaged file is moved aside and a fresh store started, with a notice (app.store)
        self.store, notice = await asyncio.to_thread(open_store, self.settings.db_path)
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

    async def _load(self, record: RunRecord) -> RunService:
        s = self.settings
        bus = MemoryBus(
            s.replay_max_events, s.client_buffer, max_bytes=s.replay_max_bytes, ids=self.ids
        )
        service = RunService(
            s,
            self.store,
            bus,
            self.graphs,
            self.scheduler,
            record,
            self.runner_factory,
            estimate_wait=self.estimate_wait,
            step_limit=self.policies.step_limit,
            notice=self.server_notice,
        )
        await service.start()
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

    def estimate_wait(self, run_id: int) -> float | None:
        """Seconds until a worker is free for queued ``run_id``, from the running runs' ETAs
        and the lengths of the runs queued before it."""
        queue = self.scheduler.queue
        if run_id not in queue:
            return None
        running = [self.services[r].seconds_left() for r in self.scheduler.running]
        ahead = queue[: queue.index(run_id) + 1]
        durations = [self._duration(self.services[r]) for r in ahead]
        return waits(running, durations, self.scheduler.workers)[-1]

    @staticmethod
    def _duration(service: RunService) -> float:
        return max(service.steps_left(), 1) * service.step_seconds()

    def out(self, service: RunService) -> RunOut:
        cfg, last = service.config, service.history[-1] if service.history else None
        rs = service.run_settings
        return RunOut(
            id=service.id,
            name=service.name,
            created_at=service.created_at,
            seed=service.seed,
            lr=service.lr,
            steps=rs.get("steps", 500),
            n_embd=cfg.n_embd,
            n_head=cfg.n_head,
            n_layer=cfg.n_layer,
            block_size=cfg.block_size,
            vocab_size=cfg.vocab_size,
            num_params=num_params(cfg),
            dataset=rs.get("dataset", service.dataset),
            status=service.status,
            step=service.step,
            loss=last[2] if last else None,
            queue_position=self.scheduler.position(service.id),
            default=service.id == self.default_id,
            parent=rs.get("parent"),
            parent_step=rs.get("parent_step"),
        )

    def listing(self) -> RunsOut:
        return RunsOut(
            runs=[self.out(s) for _, s in sorted(self.services.items())],
            default=self.default_id,
            workers=self.scheduler.workers,
            queue=self.scheduler.queue,
        )

    # -------------------------------------------------------------- commands

    async def create(self, spec: RunIn) -> RunService:
        """A new run of ``spec``'s settings (not training); it becomes the default run."""
        if isinstance(spec.dataset, DatasetText):
            size = len(spec.dataset.text.encode("utf-8"))
            if size > MAX_TEXT_BYTES:
                raise TooLarge(
                    f"the dataset's text is {size:,} bytes; at most {MAX_TEXT_BYTES:,} (1 MiB)"
                )
        async with self._lock:
            try:
                data = await asyncio.to_thread(fresh_checkpoint, spec)
            except EngineError as e:
                raise BadInput(str(e)) from None
            return await self._add(spec.name or DEFAULT_NAME, settings_of(spec), data, 0, "init")

    async def _add(self, name: str, settings: dict, data: str, step: int, reason: str):
        run_id = await asyncio.to_thread(self.store.create_run, name, settings, data, step, reason)
        record = next(r for r in await asyncio.to_thread(self.store.runs) if r.id == run_id)
        service = await self._load(record)
        self.default_id = run_id
        return service

    async def reset(
        self, source: RunService, seed: int | None = None, by: str | None = None
    ) -> RunService:
        """A fresh run with ``source``'s settings and data (and maybe another seed): ``source``
        is kept, unchanged, in the list. Its streams hear of the new run (a ``reset`` event).
        ``by``: who asks (a class student's new run counts against their limit)."""
        self.policies.check_new_run(source, by)
        rs = source.run_settings
        dataset = rs.get("dataset", "names")
        if dataset not in DATASETS:  # its own text (or a model file's): the same documents
            dataset = DatasetText(text="\n".join(sorted(source.documents)))
        spec = RunIn(
            seed=source.seed if seed is None else seed,
            lr=rs.get("lr", source.lr),
            steps=rs.get("steps", 500),
            n_embd=source.config.n_embd,
            n_head=source.config.n_head,
            n_layer=source.config.n_layer,
            block_size=source.config.block_size,
            dataset=dataset,
        )
        service = await self.create(spec)
        await self.policies.adopt(source, service)
        source.bus.publish(
            "reset",
            ResetEvent(
                run=service.id, name=service.name, seed=service.seed, step=0, reason="reset"
            ),
        )
        return service

    async def upload(self, raw: bytes, source: RunService | None = None) -> RunService:
        """A new run from an uploaded checkpoint (validated by the engine first: nothing is
        stored if it does not load)."""
        data, step = await asyncio.to_thread(validate_checkpoint, raw)
        d = json.loads(data)
        steps = source.run_settings.get("steps", 500) if source else 500
        async with self._lock:
            service = await self._add(
                DEFAULT_NAME, checkpoint_settings(d, steps), data, step, "upload"
            )
        if source is not None:
            source.bus.publish(
                "reset",
                ResetEvent(
                    run=service.id,
                    name=service.name,
                    seed=service.seed,
                    step=step,
                    reason="upload",
                ),
            )
        return service

    async def fork(self, source: RunService, spec: ForkIn, by: str | None = None) -> RunService:
        """A new run from exactly ``source``'s state after step ``spec.step``: its weights and
        Adam moments there (rebuilt by app.past), the same documents in the same order, and its
        own settings for what follows. Its steps are numbered on from ``spec.step + 1``.
        ``by``: who asks (a class student's fork is theirs, within their limit)."""
        self.policies.check_new_run(source, by)
        step = spec.step
        frame = await source.params_at(step)  # BadInput naming the range if not in the history
        if frame.m is None:
            raise BadInput(
                f"step {step}'s Adam moments were not kept (the model was stored before they "
                f"were), so a run cannot go on from it exactly; fork from step "
                f"{source.checkpoint_step} or later"
            )
        data, _ = await source.checkpoint()

        def build() -> tuple[str, int]:
            forked = at_step(json.loads(data), step, frame.values, frame.m, frame.v)
            if spec.lr is not None:
                forked["lr"] = spec.lr
            return validate_checkpoint(json.dumps(forked, allow_nan=False).encode())

        try:
            data, _ = await asyncio.to_thread(build)
        except EngineError as e:
            raise BadInput(str(e)) from None
        rs = source.run_settings
        settings = {
            **rs,
            "seed": source.seed,
            "lr": spec.lr if spec.lr is not None else source.lr,
            "steps": spec.steps or rs.get("steps", 500),
            "dataset": rs.get("dataset", source.dataset),
            "parent": source.id,
            "parent_step": step,
        }
        name = spec.name or f"{source.name} from step {step}"[: L.RUN_NAME_CHARS]
        async with self._lock:
            service = await self._add(name, settings, data, step, "fork")
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
