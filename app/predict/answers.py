"""What the run answers from its newest weights, never waiting for the busy worker: the next
character, samples, a gradient check, the Parameters panel's body."""

import asyncio
from collections.abc import Callable, Coroutine

from app.contract.api import MAX_GRADCHECK_H, GradcheckOut, PredictOut, SamplesOut, TopK
from app.past.frames import ParamsFrame
from app.predict.cache import PredictionCache
from app.runs.errors import BadInput, Conflict
from app.runs.machine import Status
from app.runs.run import RunState
from engine import EngineError, Predictor
from engine.gradcheck import numeric_grad, unflatten

Snapshot = tuple[Predictor, int]


class Answers:
    def __init__(self, run: RunState, background: Callable[[Coroutine], None]):
        self.run, self.background = run, background
        # /api/predict's answers per weight snapshot, identical requests merged
        self.predictions = PredictionCache()
        # /api/params's newest built body (model, step, JSON) and the frame being built: while
        # training, a request during a build gets that body (one frame older), not a wait
        self._params_json: tuple[int, int, bytes] | None = None
        self._params_building: ParamsFrame | None = None

    def predict(self, prefix: str, k: int = 5, snapshot: Snapshot | None = None) -> PredictOut:
        """``snapshot``: the weights to answer from (default: the newest)."""
        predictor, step = snapshot or self.run.snapshot  # one read: a snapshot may land
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

    def predict_json(self, snapshot: Snapshot, prefix: str, k: int = 5) -> bytes:
        """``predict`` as the JSON body /api/predict sends (cached as is: app.predict.cache)."""
        return self.predict(prefix, k, snapshot).model_dump_json().encode()

    def samples(
        self, n: int, temperature: float, seed: int | None, snapshot: Snapshot | None = None
    ) -> SamplesOut:
        """``snapshot``: the weights to sample from (default: the newest)."""
        predictor, step = snapshot or self.run.snapshot
        try:
            names = predictor.sample(n, temperature=temperature, seed=seed)
        except EngineError as e:
            raise BadInput(str(e)) from None
        return SamplesOut(step=step, n=n, temperature=temperature, seed=seed, samples=names)

    async def gradcheck(self, name: str, row: int, col: int, h: float) -> GradcheckOut:
        """The recorded gradient of one parameter at the newest step, and its central finite
        difference on that step's document at the weights before its update (engine)."""
        frame, config = self.run.params_frame, self.run.config  # one read each
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
                self.run.status,
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

    async def params_json(self) -> bytes:
        """The /api/params body of the newest frame. While training, if that body is not built
        yet and one of an earlier step of this model is, the earlier one answers at once and the
        newest is built in the background (~20 ms of JSON per frame, up to 4 frames a second)."""
        frame = self.run.params_frame
        body = frame.built("json")
        if body is not None:
            return body
        last = self._params_json
        if self.run.status == Status.training and last is not None and last[0] == frame.model:
            if last[1] <= frame.step:
                if self._params_building is not frame:
                    self._params_building = frame
                    self.background(self._build_params_json(frame))
                return last[2]
        return await self._build_params_json(frame)

    async def _build_params_json(self, frame: ParamsFrame) -> bytes:
        body = await asyncio.to_thread(frame.json_bytes)
        last = self._params_json
        if last is None or last[0] != frame.model or last[1] <= frame.step:
            self._params_json = (frame.model, frame.step, body)
        return body
