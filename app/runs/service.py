"""One run, put together: its state (``app.runs.run``) and the parts that change it.

The web process never trains: when the scheduler (``app.runs.scheduler``) gives the run a
worker, a training process is started for it (``app.runs.link``); its messages come back
through one bridge task (``app.runs.bridge``) that updates the state, stores checkpoints and
history, and publishes events on the run's own bus. The user's commands are
``app.runs.commands``; past steps ``app.past.snapshots``; predictions ``app.predict.answers``.
This class is what the routes hold: the run's state, and the parts' public methods.
"""

import asyncio
import logging
from collections.abc import Callable

from app import limits as L
from app.bus import Event, EventBus
from app.contract.events import ModelConfig, StateOut
from app.jobs.local import JobRunner, ProcessRunner
from app.past.graphs import GraphBuilder
from app.past.snapshots import Snapshots
from app.predict.answers import Answers
from app.runs.bridge import Bridge
from app.runs.checkpoints import LoadedModel
from app.runs.commands import Commands, SpaceCheck, StepLimit, any_space
from app.runs.errors import ServiceError
from app.runs.link import WorkerLink
from app.runs.loader import ModelLoader
from app.runs.machine import Command, SegmentEvent, transition
from app.runs.machine import Status as S
from app.runs.run import RunState
from app.runs.scheduler import Scheduler
from app.runs.segments import Segments
from app.settings import Settings
from app.store import RunRecord, Store

log = logging.getLogger(__name__)


def no_limit(run_id: int) -> None:
    return None


def no_wait(run_id: int) -> None:
    return None


def no_notice() -> None:
    return None


class RunService(RunState):
    def __init__(
        self,
        settings: Settings,
        store: Store,
        bus: EventBus,
        graphs: GraphBuilder,
        scheduler: Scheduler,
        record: RunRecord,
        runner_factory: Callable[[int], JobRunner] = ProcessRunner,
        *,
        estimate_wait: Callable[[int], float | None] = no_wait,
        step_limit: StepLimit = no_limit,
        notice: Callable[[], str | None] = no_notice,
        check_space: SpaceCheck = any_space,
    ):
        super().__init__(record, settings.seed)
        self.settings, self.store, self.bus, self.scheduler = settings, store, bus, scheduler
        self.estimate_wait, self.notice = estimate_wait, notice
        self._lock = asyncio.Lock()  # one command at a time
        self.link = WorkerLink(self, settings, store, scheduler, runner_factory)
        self.segments_store = Segments(self, store)
        self.past = Snapshots(self, store, graphs)
        self.loader = ModelLoader(self, settings, store, self.past)
        self.bridge = Bridge(
            self,
            store,
            bus,
            self.link,
            self.segments_store,
            self.loader,
            self._lock,
            self.publish_status,
        )
        self.commands = Commands(
            self,
            self.link,
            self.bridge,
            self.segments_store,
            scheduler,
            self._lock,
            step_limit,
            self.state,
            check_space,
        )
        self.answers = Answers(self, self.link.background)
        self.predictions = self.answers.predictions
        # the parts' public methods, as the routes call them
        self.train, self.resume = self.commands.train, self.commands.resume
        self.single_step, self.pause = self.commands.single_step, self.commands.pause
        self.stop, self.set_pace = self.commands.stop, self.commands.set_pace
        self.params_at, self.graph_at = self.past.params_at, self.past.graph_at
        self.step_at, self.snapshot_at = self.past.step_at, self.past.snapshot_at
        self.distribution_at = self.past.distribution_at
        self.predict, self.predict_json = self.answers.predict, self.answers.predict_json
        self.samples, self.gradcheck = self.answers.samples, self.answers.gradcheck
        self.params_json = self.answers.params_json

    # -- lifecycle --

    async def start(self, loaded: LoadedModel | None = None) -> None:
        """Load the run's model (``loaded``: as parsed already), its history and its last
        segment (an interrupted one stays resumable)."""
        await self.loader.load(self.id, loaded)
        await self.segments_store.recover()

    async def close(self) -> None:
        """Pause a training segment (it resumes as ``interrupted``), stop the worker, end
        this run's streams."""
        try:
            await asyncio.wait_for(self._lock.acquire(), 10)
        except TimeoutError:
            log.warning("a command of run %s is still running at shutdown", self.id)
        self.link.closing = True
        try:
            if self.status in (S.training, S.queued) and self.segment is not None:
                if self.status == S.training and self.link.runner is not None:
                    try:
                        await self.link.command("pause", timeout=10)
                    except (ServiceError, TimeoutError) as e:
                        log.warning("could not pause run %s at shutdown: %s", self.id, e)
                self.status = transition(self.status, Command.interrupt)
                reason = "the server shut down during the segment"
                await self.segments_store.move(
                    SegmentEvent.interrupt, reason, step=self.checkpoint_step
                )
            await self.link.close()
        finally:
            self.bus.close()

    # -- what the page and the API read --

    @property
    def runner(self) -> JobRunner | None:
        return self.link.runner

    def state(self) -> StateOut:
        return StateOut(
            id=self.id,
            name=self.name,
            status=self.status,
            step=self.step,
            model=self.model,
            seed=self.seed,
            lr=self.lr,
            num_params=self.num_params,
            config=ModelConfig(**self.config.to_dict()),
            vocab=self.tokenizer.labels(),
            dataset=self.dataset,
            num_docs=self.num_docs,
            held_out=self.held_out,
            probes=list(self.probes),
            segment=self.segment_info(self.segment),
            steps=self.run_settings.get("steps", L.STEPS.default),
            queue_position=self.scheduler.position(self.id),
            queue_wait=self.queue_wait(),
            checkpoint_step=self.checkpoint_step,
            first_step=self.weights_from,
            worker_pid=self.link.pid,
            pace=self.pace,
            notice=self.notice(),
        )

    def queue_wait(self) -> float | None:
        """Estimated seconds until a worker is free for this run, if it is queued."""
        return self.estimate_wait(self.id) if self.status == S.queued else None

    def publish_status(self) -> Event:
        return self.bus.publish("status", self.state())

    def status_event(self) -> Event:
        """The current state as a ``status`` event carrying the bus's latest id (a cursor)."""
        return Event(self.bus.last_id, "status", self.state())

    async def checkpoint(self) -> tuple[str, int]:
        """The newest stored checkpoint (JSON text) and its step."""
        ckpt = await asyncio.to_thread(self.store.latest_checkpoint, self.model)
        return ckpt.data, ckpt.step

    def rename(self, name: str) -> None:
        self.name = name
        self.publish_status()
