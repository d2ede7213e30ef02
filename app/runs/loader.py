"""The run's model from the store: loaded at start, reloaded after a lost worker or a
divergence (back at its newest checkpoint), its first viewable step kept."""

import asyncio
from array import array

from app.jobs.instruments import usable_probes
from app.past.frames import ParamsFrame, to_le_bytes
from app.past.snapshots import Snapshots
from app.runs.checkpoints import LoadedModel, parse_checkpoint
from app.runs.run import RunState
from app.settings import Settings
from app.store import CheckpointRow, Store
from engine import EngineError, Predictor


class ModelLoader:
    def __init__(self, run: RunState, settings: Settings, store: Store, snapshots: Snapshots):
        self.run, self.settings, self.store, self.snapshots = run, settings, store, snapshots

    async def read(
        self, model: int, loaded: LoadedModel | None = None
    ) -> tuple[CheckpointRow, LoadedModel]:
        """``model``'s newest checkpoint, parsed off the event loop (unless ``loaded``)."""
        ckpt = await asyncio.to_thread(self.store.latest_checkpoint, model)
        if ckpt is None:
            raise EngineError(f"model {model} has no checkpoint")
        if loaded is None:
            loaded = await asyncio.to_thread(parse_checkpoint, ckpt.data)
        return ckpt, loaded

    async def load(self, model: int, loaded: LoadedModel | None = None) -> None:
        """Load ``model``: its newest checkpoint (``loaded``: that checkpoint, parsed already),
        its history and its segments."""
        run, store = self.run, self.store
        ckpt, loaded = await self.read(model, loaded)
        rows = await asyncio.to_thread(store.history, model, ckpt.step)
        segments = await asyncio.to_thread(store.segments, model)
        stored = await asyncio.to_thread(store.latest_frame, model)
        validation = await asyncio.to_thread(store.validation, model, ckpt.step)
        first = await asyncio.to_thread(store.first_weights_step, model, ckpt.step)
        probes = usable_probes(self.settings.probes, loaded.predictor)
        lines = await asyncio.to_thread(run.probe_lines.stored, store, model, probes, ckpt.step)
        # from here to the end, no await: state() never sees half of two models
        config = loaded.predictor.config
        frame = ParamsFrame.from_checkpoint(model, config, loaded.d, stored)
        run.swap_model(model, loaded, probes, frame)
        run.losses.forget_health()
        run.probe_lines.lines = lines
        history = [(h.step, h.loss, h.smooth) for h in rows]
        self.rewind(loaded.predictor, ckpt.step, history, validation or [])
        run.segments = segments
        run.segment = segments[-1] if segments else None
        if first is None:  # a model stored before every step's weights were: from now on
            await self.keep_start_weights()
        else:
            run.weights_from = first

    def rewind(
        self, predictor: Predictor, step: int, history: list, validation: list | None = None
    ) -> None:
        """Weights, step and loss history (``validation``: the held-out losses, if not the
        current ones) as of the checkpoint at ``step``."""
        run = self.run
        run.set_snapshot(predictor, step)
        run.step = run.checkpoint_step = step
        run.losses.rewind(step, history, validation)
        self.snapshots.forget_after(step)
        self.snapshots.complete_newest_frame()
        run.probe_lines.rewind(step)

    async def reload(self) -> None:
        """Back to the newest checkpoint (the worker died, or the run diverged): weights,
        step, history."""
        run = self.run
        ckpt, loaded = await self.read(run.model)
        stored = await asyncio.to_thread(self.store.latest_frame, run.model)
        run.params_frame = ParamsFrame.from_checkpoint(run.model, run.config, loaded.d, stored)
        if run.last_step is not None and run.last_step.step > ckpt.step:
            run.last_step = None  # a step of weights that were lost with the worker
        self.rewind(loaded.predictor, ckpt.step, [h for h in run.history if h[0] <= ckpt.step])

    async def keep_start_weights(self) -> None:
        """The current weights (the model's step) become its first viewable step: stored with
        Adam's moments and the probes' distributions there."""
        run = self.run
        frame, predictor, step = run.params_frame, run.predictor(), run.step
        probes = {prefix: array("d", predictor.distribution(prefix)) for prefix in run.probes}
        await asyncio.to_thread(
            self.store.save_start,
            run.model,
            step,
            to_le_bytes(frame.values),
            (to_le_bytes(frame.m), to_le_bytes(frame.v)),
            {prefix: to_le_bytes(probs) for prefix, probs in probes.items()},
        )
        run.weights_from = step
        run.probe_lines.clear()
        run.probe_lines.add(step, probes)
