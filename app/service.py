"""One run: its model, its status machine (app.runs.machine), its commands and persistence.

The web process never trains: when the scheduler (app.runs.scheduler) gives the run a worker,
a training process (``app.worker``) is started for it; its messages come back through one
bridge task that updates this state, persists checkpoints and history (``app.store``) and
publishes events on the run's own bus (``app.bus``). When the run stops training (paused,
done, stopped, failed) its process is closed and the worker goes to the next run waiting.
Predictions are answered here from a plain-float Predictor refreshed by the weight snapshots
the worker sends.
"""

import asyncio
import bisect
import json
import logging
import random
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

from app.bus import Event, EventBus
from app.contract.api import MAX_GRADCHECK_H, GradcheckOut, PredictOut, SamplesOut, TopK
from app.contract.events import (
    DoneEvent,
    ErrorEvent,
    ModelConfig,
    SegmentInfo,
    StateOut,
    Status,
    ValidationEvent,
)
from app.frames import ParamsFrame, from_le_bytes, to_le_bytes
from app.graphs import GraphBuilder
from app.past import History, LostStep, step_event
from app.predictions import PredictionCache
from app.runs.machine import SUSPENDED, Command, Refused, transition
from app.runs.machine import Status as S
from app.runs.scheduler import Scheduler
from app.settings import Settings
from app.store import CheckpointRow, FrameRow, HistoryRow, RunRecord, SegmentRow, Store
from app.trainer_process import usable_probes
from app.worker import JobRunner, ProcessRunner, WorkerGone
from engine import EngineError, GPTConfig, Predictor, Tokenizer, Trainer, load_names
from engine.checkpoint import check_runs, n_train_of
from engine.gradcheck import numeric_grad, unflatten
from engine.model import num_params
from engine.replay import step_doc

log = logging.getLogger(__name__)

EMA_BETA = 0.9  # smoothed loss: m = 0.9 m + 0.1 loss, shown as m / (1 - 0.9^k)
RESUMABLE = tuple(str(s) for s in SUSPENDED)
PAST_CACHE = 16  # past steps' models kept built (a scrubbing page asks for neighbours again)


class ServiceError(Exception):
    """An error for the client: HTTP status and one human sentence."""

    status_code = 500

    def __init__(self, detail: str, status: Status | None = None):
        super().__init__(detail)
        self.detail, self.status = detail, status


class Conflict(ServiceError):
    status_code = 409


class BadInput(ServiceError):
    status_code = 422


class WorkerUnavailable(ServiceError):
    status_code = 503


class TooLarge(ServiceError):
    status_code = 413


class NotFound(ServiceError):
    status_code = 404


class Forbidden(ServiceError):
    status_code = 403


# seconds per step of microgpt's default shape here (bench/runs.py measures it), and the
# multiply-adds of one position of that shape: a step's time scales with them
DEFAULT_STEP_SECONDS = 0.013


def position_cost(config: GPTConfig) -> int:
    """Multiply-adds of one position's forward pass (attention over the whole block)."""
    e, t = config.n_embd, config.block_size
    per_layer = 4 * e * e + 8 * e * e + 2 * e * t
    return config.n_layer * per_layer + config.vocab_size * e


def estimate_step_seconds(config: GPTConfig) -> float:
    """A step's time for ``config``, scaled from the default shape's."""
    default = GPTConfig(vocab_size=config.vocab_size)
    return DEFAULT_STEP_SECONDS * position_cost(config) / position_cost(default)


@cache
def shipped_names() -> tuple[frozenset[str], int]:
    """The shipped names dataset as a set (for membership) and its number of documents."""
    names = load_names()
    return frozenset(names), len(names)


def validate_checkpoint(raw: bytes) -> tuple[str, int]:
    """The uploaded bytes as a normalized checkpoint and its step, or BadInput naming what is
    wrong. Every field is checked by the engine's schema, then the model is built and run
    forward once: what passes here can be stored, loaded, trained and asked."""
    try:
        d = json.loads(raw.decode("utf-8-sig"))  # not json's guess at UTF-16/32
    except UnicodeDecodeError as e:
        raise BadInput(f"the checkpoint is not UTF-8 text: {e.reason} at byte {e.start}") from None
    except ValueError as e:  # JSONDecodeError, or an integer of thousands of digits
        raise BadInput(f"the checkpoint is not valid JSON: {e}") from None
    except RecursionError:
        raise BadInput("the checkpoint is not valid: its JSON is nested too deeply") from None
    try:
        trainer = Trainer.from_dict(d)
        check_runs(trainer)
        d = trainer.to_dict()
        return json.dumps(d, allow_nan=False), d["step"]
    except EngineError as e:
        raise BadInput(str(e)) from None
    except Exception as e:  # a shape the schema did not foresee: still the upload's fault
        log.warning("checkpoint refused by an unforeseen %s: %s", type(e).__name__, e)
        raise BadInput(f"invalid checkpoint ({type(e).__name__})") from None


@cache
def names_in_order(seed: int) -> tuple[str, ...]:
    """The shipped names in the order a model of ``seed`` trains on them (its first use of
    the seed's random stream is this shuffle, as in engine.train.Trainer)."""
    docs = load_names()
    random.Random(seed).shuffle(docs)
    return tuple(docs)


@dataclass(frozen=True)
class LoadedModel:
    """A stored checkpoint, parsed: what the service shows and answers from."""

    d: dict[str, Any]
    predictor: Predictor
    dataset: str  # "names" or "custom"
    documents: frozenset[str]
    num_docs: int
    # the training documents in training order (step k reads docs[(k - 1) % n]); the other
    # num_docs - len(docs) are held out
    docs: tuple[str, ...]


def parse_checkpoint(data: str) -> LoadedModel:
    """A stored checkpoint's dict, model and dataset (~10 ms: run it off the event loop)."""
    d = json.loads(data)
    predictor = Predictor.from_dict(d)
    if d.get("dataset", "names") == "names":
        documents, num_docs = shipped_names()
        docs = names_in_order(d["seed"])
    else:
        docs = tuple(d.get("docs") or [])  # stored as trained: shuffled when the model was made
        documents, num_docs = frozenset(docs), len(docs)
    n_train = n_train_of(d, num_docs)
    return LoadedModel(d, predictor, d.get("dataset", "names"), documents, num_docs, docs[:n_train])


class RunService:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        bus: EventBus,
        graphs: GraphBuilder,
        scheduler: Scheduler,
        record: RunRecord,
        runner_factory: Callable[[int], JobRunner] = ProcessRunner,
    ):
        self.settings, self.store, self.bus = settings, store, bus
        self.graphs, self.scheduler = graphs, scheduler
        self.id, self.name, self.created_at = record.id, record.name, record.created_at
        self.run_settings = dict(record.settings)  # as created: seed, lr, steps, shape
        self._runner_factory = runner_factory
        self.runner: JobRunner | None = None
        self._lock = asyncio.Lock()  # one command at a time
        self._spawn_lock = asyncio.Lock()
        self._reply: asyncio.Future | None = None
        self._tasks: set[asyncio.Task] = set()
        self._closing = False
        self._worker_error: str | None = None
        self._granted: dict[str, Any] | None = None  # what to do when a worker is free
        self.deleted = False
        # (most steps a segment may ask, who says so): a class's limit on its students' runs
        self.step_limit: tuple[int, str] | None = None
        self._diverged = False  # this run has diverged since the server started
        # something the user must be told (a stored model that could not be loaded)
        self.notice: str | None = None
        # /api/predict's answers per weight snapshot, identical requests merged (app.predictions)
        self.predictions = PredictionCache()

        self.status: S = S.idle
        self.model = record.id
        self.seed, self.lr = settings.seed, 0.01
        self.step = self.checkpoint_step = 0
        self.run: SegmentRow | None = None  # the current run, else the latest one
        self.segments: list[SegmentRow] = []
        self.history: list[tuple[int, float, float]] = []  # (step, loss, smooth)
        # (step, loss on the held-out sample) every few steps (the worker's ``val`` messages)
        self.validation: list[tuple[int, float]] = []
        self.held_out = 0  # documents of the dataset never trained on
        # per step this process saw: each matrix's gradient norm and update ratio, in engine
        # order (not stored: a restart or another model starts these lines afresh)
        self.health: list[tuple[int, tuple[float, ...], tuple[float, ...]]] = []
        # every step from weights_from to step can be viewed as it was (store table weights;
        # the steps not yet in a checkpoint transaction are in _pending)
        self.weights_from = 0
        self._past: OrderedDict[tuple[int, int], Predictor] = OrderedDict()  # (model, step)
        self._past_frames: OrderedDict[tuple[int, int], ParamsFrame] = OrderedDict()
        self._graphs: OrderedDict[tuple[int, int], bytes] = OrderedDict()  # /api/graph, gzipped
        # per probe prefix, its distribution after each viewable step: (steps, distributions;
        # array('d'): a third of a tuple of floats' memory, 280 bytes a step)
        self.probe_lines: dict[str, tuple[list[int], list[array]]] = {}
        self.docs: tuple[str, ...] = ()  # the dataset in training order (LoadedModel.docs)
        self._pending: list[HistoryRow] = []  # history not yet in a checkpoint transaction
        self._pending_val: list[tuple[int, float]] = []  # and held-out losses
        self._ema_m, self._ema_k = 0.0, 0
        self._predictor: tuple[Predictor, int] | None = None  # (snapshot, its step)
        # the newest step event's data (as published), None until this model steps in this
        # process: a step's document and token probabilities are not stored, only its loss
        self.last_step: dict[str, Any] | None = None
        # every weight, gradient, update and Adam moment of the newest step the worker sent
        # (or of the checkpoint): /api/params, /api/params.bin, /api/gradcheck (app.frames)
        self.params_frame: ParamsFrame | None = None
        # /api/params's newest built body (model, step, JSON) and the frame being built: while
        # training, a request during a build gets that body (one frame older), not a wait
        self._params_json: tuple[int, int, bytes] | None = None
        self._params_building: ParamsFrame | None = None
        self.pace: float | None = None  # steps/s cap of the worker; None: full speed
        self._single = False  # a step of Step once is under way (the page walks it)
        self.probes: list[str] = []  # settings.probes this model's vocabulary can encode
        self.config: GPTConfig | None = None
        self.tokenizer: Tokenizer | None = None
        self.num_params = 0
        self.dataset = "names"  # or "custom": documents carried inside the checkpoint
        self.documents: frozenset[str] = frozenset()  # the dataset, for "is this a real one?"
        self.num_docs = 0

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Load the run's model, its history and its last segment (an interrupted one stays
        resumable)."""
        await self._load_model(self.id)
        await self._recover_segment()

    async def close(self) -> None:
        """Pause a training segment (it resumes as ``interrupted``), stop the worker, end
        this run's streams."""
        try:
            await asyncio.wait_for(self._lock.acquire(), 10)
        except TimeoutError:
            log.warning("a command of run %s is still running at shutdown", self.id)
        self._closing = True
        try:
            if self.status in (S.training, S.queued) and self.segment is not None:
                if self.status == S.training and self.runner is not None:
                    try:
                        await self._command("pause", timeout=10)
                    except (ServiceError, TimeoutError) as e:
                        log.warning("could not pause run %s at shutdown: %s", self.id, e)
                self.status = transition(self.status, Command.interrupt)
                self.segment.status = "interrupted"
                self.segment.reason = "the server shut down during the segment"
                self.segment.step = self.checkpoint_step
                await asyncio.to_thread(self.store.update_segment, self.segment)
            self.scheduler.release(self.id)
            if self.runner is not None:
                await self.runner.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            self.bus.close()

    def _background(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---------------------------------------------------------------- model state

    async def _read_checkpoint(self, model: int) -> tuple[CheckpointRow, LoadedModel]:
        """``model``'s newest checkpoint, parsed off the event loop."""
        ckpt = await asyncio.to_thread(self.store.latest_checkpoint, model)
        if ckpt is None:
            raise EngineError(f"model {model} has no checkpoint")
        return ckpt, await asyncio.to_thread(parse_checkpoint, ckpt.data)

    def _rewind(
        self, predictor: Predictor, step: int, history: list, validation: list | None = None
    ) -> None:
        """Weights, step and loss history (``validation``: the held-out losses, if not the
        current ones) as of the checkpoint at ``step``."""
        self._predictor = (predictor, step)
        self.step = self.checkpoint_step = step
        self.history = history
        validation = self.validation if validation is None else validation
        self.validation = [v for v in validation if v[0] <= step]
        self._pending_val = []
        self.health = [h for h in self.health if h[0] <= step]
        # the steps after it will be taken again, with other weights if anything differs
        for built in (self._past, self._past_frames, self._graphs):
            for key in [key for key in built if key[1] > step]:
                del built[key]
        for steps, dists in self.probe_lines.values():
            del dists[bisect.bisect_right(steps, step) :]
            del steps[bisect.bisect_right(steps, step) :]
        self._pending = []
        self._restore_ema()

    async def _load_model(self, model: int) -> None:
        """Load ``model``: its newest checkpoint, its history and its segments."""
        ckpt, loaded = await self._read_checkpoint(model)
        rows = await asyncio.to_thread(self.store.history, model, ckpt.step)
        segments = await asyncio.to_thread(self.store.segments, model)
        frame = await asyncio.to_thread(self.store.latest_frame, model)
        history = [(h.step, h.loss, h.smooth) for h in rows]
        validation = await asyncio.to_thread(self.store.validation, model, ckpt.step)
        first = await asyncio.to_thread(self.store.first_weights_step, model, ckpt.step)
        lines = await asyncio.to_thread(self._stored_probe_lines, model, loaded, ckpt.step)
        self._swap_model(model, loaded, ckpt.step, history, segments, frame, validation)
        self.probe_lines = lines
        if first is None:  # a model stored before every step's weights were: from now on
            await self._keep_start_weights()
        else:
            self.weights_from = first

    def _swap_model(
        self,
        model: int,
        loaded: LoadedModel,
        step: int,
        history: list,
        segments: list[SegmentRow],
        frame: FrameRow | None = None,
        validation: list | None = None,
    ) -> None:
        """All at once, with no await in between: state() never sees half of two models."""
        d, predictor = loaded.d, loaded.predictor
        self.model, self.seed, self.lr = model, d["seed"], float(d["lr"])
        self.config, self.tokenizer = predictor.config, predictor.tokenizer
        self.num_params = num_params(predictor.config)
        self.probes = usable_probes(self.settings.probes, predictor)
        self.dataset, self.documents, self.num_docs, self.docs = (
            loaded.dataset,
            loaded.documents,
            loaded.num_docs,
            loaded.docs,
        )
        self.held_out = loaded.num_docs - len(loaded.docs)
        self.probe_lines = {prefix: ([], []) for prefix in self.probes}
        self.last_step = None
        self.health = []
        self.params_frame = ParamsFrame.from_checkpoint(model, predictor.config, d, frame)
        self._rewind(predictor, step, history, validation or [])
        self.segments = segments
        self.segment = segments[-1] if segments else None

    async def _reload_checkpoint(self) -> None:
        """Back to the newest checkpoint (after the worker died): weights, step, history."""
        ckpt, loaded = await self._read_checkpoint(self.model)
        frame = await asyncio.to_thread(self.store.latest_frame, self.model)
        predictor = loaded.predictor
        self.params_frame = ParamsFrame.from_checkpoint(self.model, self.config, loaded.d, frame)
        if self.last_step is not None and self.last_step["step"] > ckpt.step:
            self.last_step = None  # a step of weights that were lost with the worker
        self._rewind(predictor, ckpt.step, [h for h in self.history if h[0] <= ckpt.step])

    async def _keep_start_weights(self) -> None:
        """The current weights (the model's step) become its first viewable step: stored with
        Adam's moments and the probes' distributions there."""
        frame, predictor, step = self.params_frame, self.predictor(), self.step
        probes = {prefix: array("d", predictor.distribution(prefix)) for prefix in self.probes}
        await asyncio.to_thread(
            self.store.save_start,
            self.model,
            step,
            to_le_bytes(frame.values),
            (to_le_bytes(frame.m), to_le_bytes(frame.v)),
            {prefix: to_le_bytes(probs) for prefix, probs in probes.items()},
        )
        self.weights_from = step
        for steps, dists in self.probe_lines.values():
            steps.clear()
            dists.clear()
        self._add_probes(step, probes)

    def _add_probes(self, step: int, probes: dict[str, array]) -> None:
        for prefix, probs in probes.items():
            if prefix in self.probe_lines:
                steps, dists = self.probe_lines[prefix]
                steps.append(step)
                dists.append(probs)

    def _stored_probe_lines(self, model: int, loaded: LoadedModel, up_to: int) -> dict:
        lines = {}
        for prefix in usable_probes(self.settings.probes, loaded.predictor):
            rows = self.store.probes(model, prefix, up_to)
            lines[prefix] = ([r[0] for r in rows], [from_le_bytes(r[1]) for r in rows])
        return lines

    def _restore_ema(self) -> None:
        self._ema_k = len(self.history)
        last = self.history[-1][2] if self.history else 0.0
        self._ema_m = last * (1 - EMA_BETA**self._ema_k)

    async def _recover_segment(self) -> None:
        """A segment the server stopped during (training, or waiting for a worker) is
        interrupted: it resumes from its last checkpoint."""
        seg = self.segment
        if seg is None:
            return
        if seg.status in ("running", "queued", "interrupted"):
            if seg.status != "interrupted":
                seg.status = "interrupted"
                seg.reason = "the server stopped during the segment"
            seg.step = self.checkpoint_step
            await asyncio.to_thread(self.store.update_segment, seg)
            self.status = S.interrupted
        elif seg.status in ("paused", "failed"):
            self.status = S(seg.status)

    # ---------------------------------------------------------------- worker

    def _worker_options(self) -> dict[str, Any]:
        s = self.settings
        return {
            "checkpoint_every": s.checkpoint_every,
            "snapshot_every": s.snapshot_every,
            "val_every": s.val_every,
            "probes": list(s.probes),
            "pace": self.pace,
            # a test's injected divergence happens once per run, not once per worker
            "fault_nonfinite_at": None if self._diverged else s.fault_nonfinite_at,
        }

    async def _ensure_worker(self) -> JobRunner:
        async with self._spawn_lock:
            if self.runner is not None and self.runner.alive:
                return self.runner
            ckpt = await asyncio.to_thread(self.store.latest_checkpoint, self.model)
            runner = self._runner_factory(self.id)
            self._worker_error = None
            try:
                await runner.start(
                    ckpt.data, self._worker_options(), timeout=self.settings.worker_timeout
                )
            except WorkerGone as e:
                raise WorkerUnavailable(str(e), self.status) from None
            self.runner = runner
            self._background(self._bridge(runner))
            log.info("training process %s ready at step %s", runner.pid, ckpt.step)
            return runner

    def _release_worker(self) -> None:
        """The run stopped training: its process is closed (after the messages it already
        sent) and its worker goes to the next run waiting."""
        runner, self.runner = self.runner, None
        self.scheduler.release(self.id)
        if runner is not None:
            self._background(runner.close())

    async def _command(self, kind: str, timeout: float | None = None, **payload) -> dict:
        """Send a command and wait for its reply. A worker that does not answer in time is
        stopped (its exit then fails a training run); either way the caller gets
        WorkerUnavailable."""
        runner = self.runner
        if runner is None:
            raise WorkerUnavailable("the training process is not running", self.status)
        timeout = self.settings.worker_timeout if timeout is None else timeout
        fut = asyncio.get_running_loop().create_future()
        self._reply = fut
        try:
            async with asyncio.timeout(timeout):  # the send too: a stuck worker reads nothing
                await runner.send(kind, **payload)
                return await fut
        except WorkerGone as e:
            raise WorkerUnavailable(f"the training process stopped: {e}", self.status) from None
        except TimeoutError:
            log.error("training process %s did not answer %r in %ss", runner.pid, kind, timeout)
            await runner.close(1.0)
            raise WorkerUnavailable(
                f"the training process did not answer within {timeout:g} s and was stopped; "
                "the model is at its last checkpoint",
                self.status,
            ) from None
        finally:
            self._reply = None

    async def _run_command(self, kind: str, **payload) -> dict:
        """``_command`` for one that starts or continues a run: if the worker is lost, so is
        the run (failed, back at the last checkpoint), not left 'training' with no worker."""
        try:
            return await self._command(kind, **payload)
        except WorkerUnavailable as e:
            await self._fail_run(e.detail)
            e.status = self.status
            raise

    async def _bridge(self, runner: JobRunner) -> None:
        """The one task that consumes the worker's messages, in order."""
        try:
            async for kind, payload in runner.messages():
                try:
                    await self._on_message(kind, payload)
                except Exception:
                    log.exception("while handling %r from the training process", kind)
        finally:
            await self._on_worker_exit(runner)

    async def _on_message(self, kind: str, p: dict[str, Any]) -> None:
        if kind == "step":
            self._on_step(p)
        elif kind == "weights":
            self._predictor = (Predictor(self.config, self.tokenizer, p["weights"]), p["step"])
        elif kind == "params":
            self._on_params(p)
        elif kind == "val":
            self._on_validation(p)
        elif kind == "checkpoint":
            await self._on_checkpoint(p)
        elif kind == "done":
            await self._on_done(p)
        elif kind == "diverged":
            await self._on_diverged(p)
        elif kind == "reply":
            if self._reply is not None and not self._reply.done():
                self._reply.set_result(p)
        elif kind == "error":
            self._worker_error = p["message"]
            log.error("training process: %s", p["message"])

    def _on_step(self, p: dict[str, Any]) -> None:
        loss = p["loss"]
        self._ema_k += 1
        self._ema_m = EMA_BETA * self._ema_m + (1 - EMA_BETA) * loss
        smooth = self._ema_m / (1 - EMA_BETA**self._ema_k)
        segment = self.segment.id if self.segment is not None else None
        self.step = p["step"]
        if self.segment is not None:
            self.segment.step = self.step
        self.history.append((self.step, loss, smooth))
        if p.get("health"):
            grads = tuple(h["grad_norm"] for h in p["health"])
            self.health.append((self.step, grads, tuple(h["update_ratio"] for h in p["health"])))
        weights = p.pop("weights", None)  # not for the stream: the store and past steps
        probes = {q["prefix"]: array("d", q["probs"]) for q in p.get("probes", ())}
        self._add_probes(self.step, probes)
        self._pending.append(
            HistoryRow(
                self.step,
                segment,
                loss,
                smooth,
                p["lr"],
                None if weights is None else to_le_bytes(weights),
                {prefix: to_le_bytes(probs) for prefix, probs in probes.items()},
            )
        )
        self.last_step = self.bus.publish(
            "step",
            {"run": self.id, "segment": segment, **p, "smooth": smooth, "single": self._single},
        ).data

    def _on_validation(self, p: dict[str, Any]) -> None:
        point = (p["step"], p["loss"])
        # a new segment measures where it starts, which the last one may have measured too
        if self.validation and self.validation[-1][0] >= point[0]:
            self.validation = [v for v in self.validation if v[0] < point[0]]
        self.validation.append(point)
        self._pending_val.append(point)
        self.bus.publish("validation", ValidationEvent(run=self.id, step=p["step"], loss=p["loss"]))

    def _on_params(self, p: dict[str, Any]) -> None:
        shapes = self.params_frame.shapes  # the model's: the worker sends the same order
        self.params_frame = ParamsFrame(
            self.model,
            p["step"],
            shapes,
            p["values"],
            p["m"],
            p["v"],
            p["before"],
            p["grads"],
            p["tokens"],
        )

    async def _on_checkpoint(self, p: dict[str, Any]) -> None:
        step = p["step"]
        rows = [h for h in self._pending if h.step <= step]
        f = p.get("frame")
        frame = None
        if f is not None:  # the step that made these weights: /api/params after a restart
            frame = FrameRow(
                f["step"], f["tokens"], to_le_bytes(f["before"]), to_le_bytes(f["grads"])
            )
        await asyncio.to_thread(
            self.store.save_checkpoint,
            self.model,
            step,
            p["run_id"],
            p["data"],
            p["reason"],
            rows,
            p["elapsed"],
            frame,
            (to_le_bytes(p["m"]), to_le_bytes(p["v"])) if "m" in p else None,
            [v for v in self._pending_val if v[0] <= step],
        )
        # only once saved: if the write fails, the next checkpoint carries these rows too
        self._pending = [h for h in self._pending if h.step > step]
        self._pending_val = [v for v in self._pending_val if v[0] > step]
        self.checkpoint_step = step
        if self.segment is not None and self.segment.id == p["run_id"]:
            self.segment.elapsed = p["elapsed"]
        self.checkpoint_elapsed = p["elapsed"]

    async def _on_done(self, p: dict[str, Any]) -> None:
        seg = self.segment
        if seg is not None and seg.id == p["run_id"]:
            seg.status, seg.ended_at, seg.step, seg.reason = "done", time.time(), p["step"], None
            await asyncio.to_thread(self.store.update_segment, seg)
        if self.status != S.training:
            return  # a shutdown is under way
        self.status = transition(self.status, Command.finish)
        self._release_worker()
        last = self.history[-1] if self.history else None
        self.bus.publish(
            "done",
            DoneEvent(
                segment=self.segment_info(seg),
                step=self.step,
                loss=last[1] if last else None,
                smooth=last[2] if last else None,
            ),
        )
        self.publish_status()

    async def _on_diverged(self, p: dict[str, Any]) -> None:
        """A step's loss went non-finite: the segment ends as ``diverged`` at that step, and
        the model is back at its last checkpoint (the worker went back there too)."""
        self._diverged = True
        await self._reload_checkpoint()
        seg = self.segment
        lr = seg.lr if seg is not None else self.lr
        message = (
            f"the run diverged at step {p['step']}: its loss or gradients stopped being finite "
            f"numbers. The model is back at step {self.checkpoint_step}, its last checkpoint; "
            f"train again with a lower learning rate than {lr:g}"
        )
        if seg is not None and seg.id == p["run_id"]:
            seg.status, seg.reason, seg.ended_at = "diverged", message, time.time()
            seg.step = self.checkpoint_step
            await asyncio.to_thread(self.store.update_segment, seg)
        if self.status == S.training:
            self.status = transition(self.status, Command.diverge)
            self._release_worker()
        log.warning("%s (%s)", message, p["message"])
        self.bus.publish(
            "error",
            ErrorEvent(
                message=message,
                segment=seg.id if seg else None,
                step=self.step,
                status=self.status,
            ),
        )
        self.publish_status()

    async def _on_worker_exit(self, runner: JobRunner) -> None:
        if runner is not self.runner or self._closing:
            return  # a worker closed on purpose or already replaced, or shutdown
        self.runner = None
        reason = self._worker_error or f"the training process died ({runner.describe_exit()})"
        if self._reply is not None and not self._reply.done():
            self._reply.set_exception(WorkerGone(reason))
        async with self._lock:  # after the command that was waiting on this worker, if any
            if self._closing or self.runner is not None:
                return  # a command has started a new worker since: the status is its
            if self.status == S.training:
                await self._fail_run(reason)
            else:
                log.warning("%s while %s", reason, self.status)
                self.scheduler.release(self.id)
                self.publish_status()

    async def _fail_run(self, reason: str) -> None:
        """The training segment lost its worker: back to the last checkpoint, the segment
        failed (it resumes from there); the other runs go on."""
        if self.status != S.training:
            return  # already handled
        self.status = transition(self.status, Command.worker_lost)
        self._release_worker()
        log.error("run %s failed: %s", self.id, reason)
        await self._reload_checkpoint()
        seg = self.segment
        if seg is not None:
            seg.status, seg.reason, seg.ended_at = "failed", reason, time.time()
            seg.step = self.checkpoint_step
            await asyncio.to_thread(self.store.update_segment, seg)
        self.bus.publish(
            "error",
            ErrorEvent(
                message=f"the run failed: {reason}; the model is back at its last checkpoint "
                f"(step {self.checkpoint_step})",
                segment=seg.id if seg else None,
                step=self.step,
                status=self.status,
            ),
        )
        self.publish_status()

    # ---------------------------------------------------------------- commands

    def _next(self, command: Command, action: str | None = None, why: str | None = None) -> S:
        """The status ``command`` leads to, or Conflict saying why it is refused now."""
        try:
            return transition(self.status, command)
        except Refused as e:
            raise Conflict(
                f"cannot {action or command}: the run is {self.status} ({why or e.reason})",
                self.status,
            ) from None

    def _training_now(self) -> str | None:
        if self.status == S.training and self.segment is not None:
            return f"segment {self.segment.id} is at step {self.step} of {self._segment_end()}"
        return None

    async def train(self, steps: int | None = None, lr: float | None = None) -> StateOut:
        """A new segment of ``steps`` (default: the run's setting) from the current weights;
        it trains as soon as a worker is free (at once if one is)."""
        async with self._lock:
            queued = self._next(Command.train, why=self._training_now())
            steps = steps or self.run_settings.get("steps", 500)
            if self.step_limit is not None and steps > self.step_limit[0]:
                limit, whose = self.step_limit
                raise BadInput(f"steps {steps:,} is more than {whose} allows: at most {limit:,}")
            await self._abandon_segment("superseded by a new segment")
            seg = await asyncio.to_thread(
                self.store.create_segment, self.model, self.step, steps, lr or self.lr
            )
            self._begin(seg)
            if lr is not None:
                self.lr = lr
            self.status = queued
            await self._queue({"kind": "train", "steps": steps, "lr": lr})
            return self.state()

    async def resume(self) -> StateOut:
        async with self._lock:
            queued = self._next(Command.resume)
            if self.segment is None:
                raise Conflict("cannot resume: the run has no segment to resume", self.status)
            self.status = queued
            await self._set_segment_status("queued")
            await self._queue({"kind": "resume"})
            return self.state()

    async def single_step(self) -> StateOut:
        """One step: of the suspended segment, else of a new 1-step segment."""
        async with self._lock:
            queued = self._next(Command.step)
            new = self.status == S.idle or not await self._begun(self.segment)
            if new:
                await self._abandon_segment("superseded by a single step")
                seg = await asyncio.to_thread(
                    self.store.create_segment, self.model, self.step, 1, self.lr
                )
                self._begin(seg)
            self.status = queued
            await self._queue({"kind": "step", "new": new})
            return self.state()

    async def pause(self) -> StateOut:
        async with self._lock:
            paused = self._next(Command.pause)
            if self.status == S.queued:
                self.scheduler.cancel(self.id)
            else:
                reply = await self._command("pause")
                if not reply["ok"]:
                    raise Conflict("cannot pause: the segment has just ended", self.status)
                self._release_worker()
            await self._set_segment_status("paused")
            self.status = paused
            self.publish_status()
            return self.state()

    async def stop(self) -> StateOut:
        async with self._lock:
            idle = self._next(Command.stop)
            if self.status == S.training:
                reply = await self._command("stop")
                if not reply["ok"]:
                    raise Conflict("cannot stop: the segment has just ended", self.status)
                self._release_worker()
                await self._set_segment_status("stopped")
            elif self.status == S.queued:
                self.scheduler.cancel(self.id)
                await self._set_segment_status("stopped")
            else:
                await self._abandon_segment("stopped")
            self.status = idle
            self.publish_status()
            return self.state()

    async def set_pace(self, steps_per_sec: float | None) -> StateOut:
        """Cap training at ``steps_per_sec`` (None: full speed), at once, also mid-run. A new
        worker is given it when it starts."""
        async with self._lock:
            self.pace = steps_per_sec
            async with self._spawn_lock:  # a worker starting now was given the old pace
                if self.runner is not None and self.runner.alive:
                    try:
                        await self._command("pace", steps_per_sec=steps_per_sec)
                    except WorkerUnavailable as e:  # its successor starts with this pace
                        log.warning("%s", e.detail)
            self.publish_status()
            return self.state()

    async def checkpoint(self) -> tuple[str, int]:
        """The newest stored checkpoint (JSON text) and its step."""
        ckpt = await asyncio.to_thread(self.store.latest_checkpoint, self.model)
        return ckpt.data, ckpt.step

    def rename(self, name: str) -> None:
        self.name = name
        self.publish_status()

    # -- a worker for the run: the scheduler's queue --

    async def _queue(self, job: dict[str, Any]) -> None:
        """Ask the scheduler for a worker: with one free, start ``job`` now; else wait
        (queued) and start it when the worker is granted (``_on_grant``)."""
        self._granted = job
        if self.scheduler.request(self.id, self._on_grant) == 0:
            await self._start(job)
        else:
            self.publish_status()

    def _on_grant(self) -> None:
        self._background(self._start_granted())

    async def _start_granted(self) -> None:
        async with self._lock:
            job = self._granted
            if self.status != S.queued or job is None or self._closing:
                self.scheduler.release(self.id)  # no longer waiting: pass the worker on
                return
            try:
                await self._start(job)
            except ServiceError as e:
                log.error("run %s could not start training: %s", self.id, e.detail)

    async def _start(self, job: dict[str, Any]) -> None:
        """The run holds a worker: start its process and the job (train, resume, step)."""
        self._granted = None
        self.status = transition(self.status, Command.grant)
        await self._set_segment_status("running")
        self.publish_status()
        try:
            await self._ensure_worker()
        except WorkerUnavailable as e:
            await self._fail_run(e.detail)
            e.status = self.status
            raise
        seg, kind = self.segment, job["kind"]
        if kind == "resume" and not await self._begun(seg):
            kind = "train"  # queued, then paused or interrupted before its first step
            job = {"steps": seg.steps, "lr": seg.lr}
        if kind == "train":
            await self._run_command("train", run_id=seg.id, steps=job["steps"], lr=job["lr"])
        elif kind == "resume":
            await self._run_command("resume", run_id=seg.id, elapsed=seg.elapsed)
        else:
            await self._step(job["new"])

    async def _step(self, new: bool) -> None:
        self._single = True  # the page walks this step through its phases
        try:
            seg = self.segment
            await self._run_command("step", run_id=seg.id, new_run=new, elapsed=seg.elapsed)
            if self.status == S.training:  # the segment goes on, stepped by hand: paused
                self.status = transition(self.status, Command.stepped)
                self._release_worker()
                await self._set_segment_status("paused")
                self.publish_status()
        finally:
            self._single = False

    async def _begun(self, seg: SegmentRow | None) -> bool:
        """Whether ``seg`` has reached its worker (the latest checkpoint is one of its)."""
        if seg is None:
            return False
        ckpt = await asyncio.to_thread(self.store.latest_checkpoint, self.model)
        return ckpt is not None and ckpt.segment == seg.id

    # -- command helpers --

    def _begin(self, seg: SegmentRow) -> None:
        self.segments.append(seg)
        self.segment = seg

    async def _set_segment_status(self, status: str) -> None:
        seg = self.segment
        seg.status = status
        seg.reason = None
        seg.ended_at = time.time() if status in ("stopped", "done") else None
        await asyncio.to_thread(self.store.update_segment, seg)

    async def _abandon_segment(self, reason: str) -> None:
        """A suspended segment that will never resume is stopped."""
        seg = self.segment
        if seg is not None and seg.status in ("paused", "interrupted", "failed", "queued"):
            seg.status, seg.reason, seg.ended_at = "stopped", reason, time.time()
            await asyncio.to_thread(self.store.update_segment, seg)

    def _segment_end(self) -> int:
        return self.segment.start_step + self.segment.steps if self.segment else self.step

    # ---------------------------------------------------------------- queries

    def segment_info(self, run: SegmentRow | None) -> SegmentInfo | None:
        if run is None:
            return None
        return SegmentInfo(**asdict(run), end_step=run.start_step + run.steps)

    def state(self) -> StateOut:
        # read once: a page's fragment builds this in a thread while the loop may let go of
        # the worker (self.runner = None) between a check and its use
        runner = self.runner
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
            steps=self.run_settings.get("steps", 500),
            queue_position=self.scheduler.position(self.id),
            queue_wait=self.queue_wait(),
            checkpoint_step=self.checkpoint_step,
            first_step=self.weights_from,
            worker_pid=runner.pid if runner is not None and runner.alive else None,
            pace=self.pace,
            notice=self.notice,
        )

    def seconds_left(self) -> float:
        """Estimated seconds this run still trains for (0 when not training)."""
        if self.status != S.training or self.segment is None:
            return 0.0
        last = self.last_step
        if last and last.get("eta") is not None and last["step"] > self.segment.start_step:
            return float(last["eta"])
        return self.steps_left() * self.step_seconds()

    def steps_left(self) -> int:
        """Steps of the current (or latest) segment not taken yet."""
        return max(self._segment_end() - self.step, 0)

    def step_seconds(self) -> float:
        """Seconds a step of this run takes: as measured, else estimated from its shape and
        its pace (a paced run is no faster than its pace)."""
        last = self.last_step
        if last and last.get("steps_per_sec"):
            return 1.0 / last["steps_per_sec"]
        return max(estimate_step_seconds(self.config), 1.0 / self.pace if self.pace else 0.0)

    def queue_wait(self) -> float | None:
        """Estimated seconds until a worker is free for this run, if it is queued."""
        estimate = getattr(self, "estimate_wait", None)
        return estimate(self.id) if estimate and self.status == S.queued else None

    def publish_status(self) -> Event:
        return self.bus.publish("status", self.state())

    def status_event(self) -> Event:
        """The current state as a ``status`` event carrying the bus's latest id (a cursor)."""
        return Event(self.bus.last_id, "status", self.state().model_dump(mode="json"))

    async def params_json(self) -> bytes:
        """The /api/params body of the newest frame. While training, if that body is not built
        yet and one of an earlier step of this model is, the earlier one answers at once and the
        newest is built in the background (~20 ms of JSON per frame, up to 4 frames a second)."""
        frame = self.params_frame
        body = frame.built("json")
        if body is not None:
            return body
        last = self._params_json
        if self.status == "training" and last is not None and last[0] == frame.model:
            if last[1] <= frame.step:
                if self._params_building is not frame:
                    self._params_building = frame
                    self._background(self._build_params_json(frame))
                return last[2]
        return await self._build_params_json(frame)

    async def _build_params_json(self, frame: ParamsFrame) -> bytes:
        body = await asyncio.to_thread(frame.json_bytes)
        last = self._params_json
        if last is None or last[0] != frame.model or last[1] <= frame.step:
            self._params_json = (frame.model, frame.step, body)
        return body

    def predictor(self) -> Predictor:
        """The current model as plain floats: the newest weight snapshot from the worker (at
        most ``snapshot_every`` steps old while training). Cheap: no copy; do not mutate."""
        return self._predictor[0]

    @property
    def predictor_step(self) -> int:
        """The step of ``predictor()``'s weights."""
        return self._predictor[1]

    @property
    def snapshot(self) -> tuple[Predictor, int]:
        """The newest weight snapshot and its step, as one object (a new one per snapshot)."""
        return self._predictor

    def check_step(self, step: int) -> None:
        """BadInput naming the range unless ``step`` is one this model's history holds."""
        lo, hi = self.weights_from, self.step
        if not lo <= step <= hi:
            raise BadInput(
                f"step {step} is not in this model's history: a whole number from {lo} to {hi}"
            )

    def _history(self) -> History:
        """The current model's stored steps, as of now (read in a thread)."""
        return History(
            self.store,
            self.model,
            self.weights_from,
            self.config,
            self.tokenizer,
            self.docs,
            {h.step: h.weights for h in self._pending if h.weights is not None},
            self.params_frame.shapes,
        )

    @staticmethod
    async def _from_history(build: Callable[[], Any]) -> Any:
        """``build()`` (reads of app.past) in a thread; a step whose weights were lost is
        BadInput naming it."""
        try:
            return await asyncio.to_thread(build)
        except LostStep as e:
            raise BadInput(str(e)) from None

    @staticmethod
    def _remember(cache: OrderedDict, key, value, size: int = PAST_CACHE) -> None:
        cache[key] = value
        while len(cache) > size:
            cache.popitem(last=False)

    async def params_at(self, step: int) -> ParamsFrame:
        """Every weight, gradient, update and Adam moment exactly as at ``step`` (app.past):
        the newest frame when it is that step's, else rebuilt (up to ~1 s of replay)."""
        self.check_step(step)
        frame, key = self.params_frame, (self.model, step)
        if frame.step == step and (frame.has_grad or step == self.weights_from):
            return frame
        if key in self._past_frames:
            self._past_frames.move_to_end(key)
            return self._past_frames[key]
        history = self._history()
        earlier = [
            f for (model, j), f in self._past_frames.items() if model == self.model and j < step
        ]
        near = max(earlier, key=lambda f: f.step, default=None)
        frame = await self._from_history(lambda: history.frame(step, near))
        if self.model == history.model:
            self._remember(self._past_frames, key, frame, 4)
        return frame

    async def graph_at(self, step: int | None) -> tuple[int, bytes]:
        """Step ``step``'s graph as the gzipped /api/graph body (the newest step when None),
        built on request only (~0.2 s, in the graph process: app.graphs) and kept for the last
        few steps asked."""
        step = self.step if step is None else step
        self.check_step(step)
        if step == self.weights_from:
            first = "no step yet" if step == self.step else f"steps {step + 1} to {self.step}"
            raise Conflict(
                f"step {step} has no graph: no step of this model made its weights (it starts "
                f"there); graphs exist for {first}",
                self.status,
            )
        key = (self.model, step)
        if key in self._graphs:
            self._graphs.move_to_end(key)
            return step, self._graphs[key]
        history = self._history()
        before = await self._from_history(lambda: history.weights(step - 1))
        doc = step_doc(history.docs, step)
        body = await self.graphs.build(history.config, history.tokenizer.chars, doc, before, step)
        if self.model == history.model:
            self._remember(self._graphs, key, body, 3)
        return step, body

    async def step_at(self, step: int) -> dict | None:
        """What step ``step`` read, predicted and scored (the recipe's data), as its live
        ``step`` event had it; None for the model's first viewable step (none made it)."""
        self.check_step(step)
        last = self.last_step
        if last is not None and last["step"] == step:
            return last
        history, label = self._history(), self.tokenizer.label
        pending_lr = next((h.lr for h in self._pending if h.step == step), None)

        def build() -> dict | None:
            past = history.replay(step)
            if past is None:
                return None
            lr = pending_lr if pending_lr is not None else self.store.step_lr(history.model, step)
            return step_event(past, label, lr)

        return await self._from_history(build)

    def probe_line(self, prefix: str, since: int = -1) -> tuple[list[int], list[array]]:
        """``prefix``'s distribution after every viewable step after ``since`` (those kept)."""
        steps, dists = self.probe_lines.get(prefix, ([], []))
        i = bisect.bisect_right(steps, since)
        return steps[i:], dists[i:]

    async def distribution_at(self, prefix: str, step: int) -> list[float]:
        """``prefix``'s next-token distribution at ``step``: kept with the step, or computed
        from its weights."""
        steps, dists = self.probe_lines.get(prefix, ([], []))
        i = bisect.bisect_left(steps, step)
        if i < len(steps) and steps[i] == step:
            return list(dists[i])
        predictor, _ = await self.snapshot_at(step)
        try:
            return predictor.distribution(prefix)
        except EngineError as e:
            raise BadInput(str(e)) from None

    async def snapshot_at(self, step: int) -> tuple[Predictor, int]:
        """The model exactly as it was after ``step`` (its stored weights, bit for bit), for
        any step from ``weights_from`` to the newest; else BadInput naming the range."""
        self.check_step(step)
        model = self.model
        key = (model, step)
        if key in self._past:
            self._past.move_to_end(key)
            return self._past[key], step
        history = self._history()
        config, tokenizer = history.config, history.tokenizer
        predictor = await self._from_history(
            lambda: Predictor(config, tokenizer, unflatten(config, history.weights(step)))
        )
        if self.model == model:
            self._remember(self._past, key, predictor)
        return predictor, step

    def predict(
        self, prefix: str, k: int = 5, snapshot: tuple[Predictor, int] | None = None
    ) -> PredictOut:
        """``snapshot``: the weights to answer from (default: the newest)."""
        predictor, step = snapshot or self._predictor  # one read: a snapshot may land meanwhile
        try:
            prefix = predictor.normalize_prefix(prefix)  # "Em" reads as "em" for names
            probs, attention, greedy = predictor.predict(prefix)
        except EngineError as e:
            raise BadInput(str(e)) from None
        labels = predictor.tokenizer.labels()
        order = sorted(range(len(probs)), key=probs.__getitem__, reverse=True)[:k]
        return PredictOut(
            prefix=prefix,
            step=step,
            vocab=labels,
            probs=probs,
            top=[TopK(label=labels[i], prob=probs[i]) for i in order],
            tokens=[labels[predictor.tokenizer.bos], *prefix],
            attention=attention,
            greedy=greedy,
        )

    def predict_json(self, snapshot: tuple[Predictor, int], prefix: str, k: int = 5) -> bytes:
        """``predict`` as the JSON body /api/predict sends (cached as is: app.predictions)."""
        return self.predict(prefix, k, snapshot).model_dump_json().encode()

    def samples(
        self,
        n: int,
        temperature: float,
        seed: int | None,
        snapshot: tuple[Predictor, int] | None = None,
    ) -> SamplesOut:
        """``snapshot``: the weights to sample from (default: the newest)."""
        predictor, step = snapshot or self._predictor  # one read: a snapshot may land meanwhile
        try:
            names = predictor.sample(n, temperature=temperature, seed=seed)
        except EngineError as e:
            raise BadInput(str(e)) from None
        return SamplesOut(step=step, n=n, temperature=temperature, seed=seed, samples=names)

    async def gradcheck(self, name: str, row: int, col: int, h: float) -> GradcheckOut:
        """The recorded gradient of one parameter at the newest step, and its central finite
        difference on that step's document at the weights before its update (engine)."""
        frame, config = self.params_frame, self.config  # one read: a frame may land meanwhile
        names = [n for n, _, _ in frame.shapes]
        if name not in names:
            raise BadInput(f"name {name!r} is not a parameter matrix; one of {', '.join(names)}")
        start, rows, cols = frame.offset(name)
        if not 0 <= row < rows:
            raise BadInput(f"row {row} is out of range: {name} has rows 0..{rows - 1}")
        if not 0 <= col < cols:
            raise BadInput(f"col {col} is out of range: {name} has columns 0..{cols - 1}")
        if not 0 < h <= MAX_GRADCHECK_H:
            raise BadInput(f"h {h!r} is out of range: it must be in (0, {MAX_GRADCHECK_H:g}]")
        if not frame.has_grad:
            raise Conflict(
                f"no gradient to check: the model at step {frame.step} has not taken a step "
                "since it was made or loaded; take a step first",
                self.status,
            )

        def numeric() -> float:
            weights = unflatten(config, frame.before)
            return numeric_grad(config, weights, frame.tokens, name, row, col, h)

        return GradcheckOut(
            step=frame.step,
            name=name,
            row=row,
            col=col,
            autograd=frame.grads[start + row * cols + col],
            numeric=await asyncio.to_thread(numeric),
            h=h,
        )
