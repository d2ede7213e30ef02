"""Time travel: any viewable step of the run's model, exactly as it was (app.past.replay),
with the last few built kept (a scrubbing page asks for the neighbours again)."""

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from app.contract.events import StepRecipe
from app.past.frames import ParamsFrame
from app.past.graphs import GraphBuilder
from app.past.replay import History, LostStep, step_event
from app.past.states import STATES
from app.runs.errors import BadInput, Conflict
from app.runs.run import RunState
from app.store import Store
from engine import EngineError, Predictor
from engine.gradcheck import unflatten
from engine.replay import step_doc

PAST_CACHE = 16  # past steps' models kept built

log = logging.getLogger(__name__)


def remember(cache: OrderedDict, key, value, size: int = PAST_CACHE) -> None:
    cache[key] = value
    while len(cache) > size:
        cache.popitem(last=False)


async def from_history(build: Callable[[], Any]) -> Any:
    """``build()`` (reads of app.past) in a thread; a step whose weights were lost is BadInput
    naming it."""
    try:
        return await asyncio.to_thread(build)
    except LostStep as e:
        raise BadInput(str(e)) from None


class Snapshots:
    def __init__(self, run: RunState, store: Store, graphs: GraphBuilder):
        self.run, self.store, self.graphs = run, store, graphs
        self._models: OrderedDict[tuple[int, int], Predictor] = OrderedDict()  # (model, step)
        self._frames: OrderedDict[tuple[int, int], ParamsFrame] = OrderedDict()
        self._graphs: OrderedDict[tuple[int, int], bytes] = OrderedDict()  # gzipped bodies
        self._completing: asyncio.Task | None = None

    def forget_after(self, step: int) -> None:
        """The steps after ``step`` will be taken again, with other weights if anything
        differs: what was built of them goes."""
        for built in (self._models, self._frames, self._graphs):
            for key in [key for key in built if key[1] > step]:
                del built[key]
        STATES.forget_after(self.run.model, step)

    def complete_newest_frame(self) -> None:
        """The newest frame (a checkpoint's, just loaded) gets its step's gradient, update and
        document if they were not stored with it (a periodic checkpoint stores none: replay
        rebuilds them), in the background."""
        frame = self.run.params_frame

        async def complete() -> None:
            run = self.run
            if run.params_frame is not frame or frame.has_grad or frame.step <= run.weights_from:
                return
            try:
                rebuilt = await self.params_at(frame.step)
            except (BadInput, Conflict):
                return  # its step is no longer viewable
            except Exception:
                log.exception("rebuilding step %d's frame", frame.step)
                return
            if run.params_frame is frame:
                run.params_frame = rebuilt

        if frame is not None and not frame.has_grad:
            self._completing = asyncio.get_running_loop().create_task(complete())

    def history(self) -> History:
        """The current model's stored steps, as of now (read in a thread)."""
        run = self.run
        return History(
            self.store,
            run.model,
            run.weights_from,
            run.config,
            run.tokenizer,
            run.docs,
            run.losses.pending_weights(),
            run.params_frame.shapes,
            run.losses.pending_lrs(),
        )

    async def params_at(self, step: int) -> ParamsFrame:
        """Every weight, gradient, update and Adam moment exactly as at ``step``: the newest
        frame when it is that step's, else rebuilt (up to ``checkpoint_every`` replays)."""
        run = self.run
        run.check_step(step)
        frame, key = run.params_frame, (run.model, step)
        if frame.step == step and (frame.has_grad or step == run.weights_from):
            return frame
        if key in self._frames:
            self._frames.move_to_end(key)
            return self._frames[key]
        history = self.history()
        frame = await from_history(lambda: history.frame(step))
        if run.model == history.model:
            remember(self._frames, key, frame, 4)
        return frame

    async def graph_at(self, step: int | None) -> tuple[int, bytes]:
        """Step ``step``'s graph as the gzipped /api/graph body (the newest step when None),
        built on request only (~0.2 s, in the graph process) and kept for the last few."""
        run = self.run
        step = run.step if step is None else step
        run.check_step(step)
        if step == run.weights_from:
            first = "no step yet" if step == run.step else f"steps {step + 1} to {run.step}"
            raise Conflict(
                f"step {step} has no graph: no step of this model made its weights (it starts "
                f"there); graphs exist for {first}",
                run.status,
            )
        key = (run.model, step)
        if key in self._graphs:
            self._graphs.move_to_end(key)
            return step, self._graphs[key]
        history = self.history()
        before = await from_history(lambda: history.weights(step - 1))
        doc = step_doc(history.docs, step)
        body = await self.graphs.build(history.config, history.tokenizer.chars, doc, before, step)
        if run.model == history.model:
            remember(self._graphs, key, body, 3)
        return step, body

    async def step_at(self, step: int) -> StepRecipe | None:
        """What step ``step`` read, predicted and scored (the recipe's data), as its live
        ``step`` event had it; None for the model's first viewable step (none made it)."""
        run = self.run
        run.check_step(step)
        last = run.last_step
        if last is not None and last.step == step:
            return last
        history, label = self.history(), run.tokenizer.label
        pending_lr = run.losses.pending_lr(step)

        def build() -> StepRecipe | None:
            past = history.replay(step)
            if past is None:
                return None
            lr = pending_lr if pending_lr is not None else self.store.step_lr(history.model, step)
            return step_event(past, label, lr)

        return await from_history(build)

    async def snapshot_at(self, step: int) -> tuple[Predictor, int]:
        """The model exactly as it was after ``step`` (its stored weights, bit for bit), for
        any step from ``weights_from`` to the newest; else BadInput naming the range."""
        run = self.run
        run.check_step(step)
        key = (run.model, step)
        if key in self._models:
            self._models.move_to_end(key)
            return self._models[key], step
        history = self.history()
        config, tokenizer = history.config, history.tokenizer
        predictor = await from_history(
            lambda: Predictor(config, tokenizer, unflatten(config, history.weights(step)))
        )
        if run.model == history.model:
            remember(self._models, key, predictor)
        return predictor, step

    async def distribution_at(self, prefix: str, step: int) -> list[float]:
        """``prefix``'s next-token distribution at ``step``: kept with the step, or computed
        from its weights."""
        kept = self.run.probe_lines.at(prefix, step)
        if kept is not None:
            return kept
        predictor, _ = await self.snapshot_at(step)
        try:
            return predictor.distribution(prefix)
        except EngineError as e:
            raise BadInput(str(e)) from None
