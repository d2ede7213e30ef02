"""One run's state: what the page and the API read, and what the run's parts change.

Every field is written from the event loop's thread only; a route reading a few of them in a
thread reads each once (a part may replace a field between two reads, never half of one).
"""

from dataclasses import asdict

from app.contract.events import SegmentInfo, StepEvent
from app.past.frames import ParamsFrame
from app.past.losses import Losses
from app.past.probes import ProbeLines
from app.runs.checkpoints import LoadedModel
from app.runs.errors import BadInput
from app.runs.estimates import estimate_step_seconds
from app.runs.machine import Status
from app.store import RunRecord, SegmentRow
from engine import GPTConfig, Predictor, Tokenizer
from engine.model import num_params


class RunState:
    def __init__(self, record: RunRecord, seed: int):
        self.id, self.name, self.created_at = record.id, record.name, record.created_at
        self.run_settings = dict(record.settings)  # as created: seed, lr, steps, shape
        self.status: Status = Status.idle
        self.deleted = False
        self.model = record.id
        self.seed, self.lr = seed, 0.01
        self.step = self.checkpoint_step = 0
        self.segment: SegmentRow | None = None  # the current segment, else the latest one
        self.segments: list[SegmentRow] = []
        self.losses = Losses()  # loss, held-out loss and matrix health per step
        self.probe_lines = ProbeLines()  # each probe's distribution per viewable step
        # every step from weights_from to step can be viewed as it was (store table weights;
        # the steps not yet in a checkpoint transaction are in losses.pending)
        self.weights_from = 0
        self.held_out = 0  # documents of the dataset never trained on
        self.docs: tuple[str, ...] = ()  # the dataset in training order (LoadedModel.docs)
        self._predictor: tuple[Predictor, int] | None = None  # (snapshot, its step)
        # the newest step event (as published), None until this model steps in this process:
        # a step's document and token probabilities are not stored, only its loss
        self.last_step: StepEvent | None = None
        # every weight, gradient, update and Adam moment of the newest step the worker sent
        # (or of the checkpoint): /api/params, /api/params.bin, /api/gradcheck
        self.params_frame: ParamsFrame | None = None
        self.pace: float | None = None  # steps/s cap of the worker; None: full speed
        self.single = False  # a step of Step once is under way (the page walks it)
        self.diverged = False  # this run has diverged since the server started
        self.probes: list[str] = []  # settings.probes this model's vocabulary can encode
        self.config: GPTConfig | None = None
        self.tokenizer: Tokenizer | None = None
        self.num_params = 0
        self.dataset = "names"  # or "custom": documents carried inside the checkpoint
        self.documents: frozenset[str] = frozenset()  # the dataset, for "is this a real one?"
        self.num_docs = 0

    # -- the model --

    def swap_model(
        self, model: int, loaded: LoadedModel, probes: list[str], frame: ParamsFrame
    ) -> None:
        """Another model's facts, all at once (no await in between: state() never sees half
        of two models). Its step, history and segments follow (``app.runs.loader``)."""
        d, predictor = loaded.d, loaded.predictor
        self.model, self.seed, self.lr = model, d["seed"], float(d["lr"])
        self.config, self.tokenizer = predictor.config, predictor.tokenizer
        self.num_params = num_params(predictor.config)
        self.probes = probes
        self.dataset, self.documents = loaded.dataset, loaded.documents
        self.num_docs, self.docs = loaded.num_docs, loaded.docs
        self.held_out = loaded.num_docs - len(loaded.docs)
        self.last_step = None
        self.params_frame = frame

    def set_snapshot(self, predictor: Predictor, step: int) -> None:
        self._predictor = (predictor, step)

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

    # -- the history, as the routes read it --

    @property
    def history(self) -> list[tuple[int, float, float]]:
        """(step, loss, smooth) of every step of the model up to now."""
        return self.losses.history

    @property
    def validation(self) -> list[tuple[int, float]]:
        """(step, loss on the held-out sample) every few steps."""
        return self.losses.validation

    @property
    def health(self) -> list[tuple[int, tuple[float, ...], tuple[float, ...]]]:
        """Per step this process saw: each matrix's gradient norm and update ratio."""
        return self.losses.health

    def probe_line(self, prefix: str, since: int = -1):
        """``prefix``'s distribution after every viewable step after ``since`` (those kept)."""
        return self.probe_lines.line(prefix, since)

    def check_step(self, step: int) -> None:
        """BadInput naming the range unless ``step`` is one this model's history holds."""
        lo, hi = self.weights_from, self.step
        if not lo <= step <= hi:
            raise BadInput(
                f"step {step} is not in this model's history: a whole number from {lo} to {hi}"
            )

    # -- segments and time left --

    @staticmethod
    def segment_info(run: SegmentRow | None) -> SegmentInfo | None:
        if run is None:
            return None
        return SegmentInfo(**asdict(run), end_step=run.start_step + run.steps)

    def segment_end(self) -> int:
        return self.segment.start_step + self.segment.steps if self.segment else self.step

    def seconds_left(self) -> float:
        """Estimated seconds this run still trains for (0 when not training)."""
        if self.status != Status.training or self.segment is None:
            return 0.0
        last = self.last_step
        if last is not None and last.step > self.segment.start_step:
            return last.eta
        return self.steps_left() * self.step_seconds()

    def steps_left(self) -> int:
        """Steps of the current (or latest) segment not taken yet."""
        return max(self.segment_end() - self.step, 0)

    def step_seconds(self) -> float:
        """Seconds a step of this run takes: as measured, else estimated from its shape and
        its pace (a paced run is no faster than its pace)."""
        last = self.last_step
        if last is not None and last.steps_per_sec:
            return 1.0 / last.steps_per_sec
        return max(estimate_step_seconds(self.config), 1.0 / self.pace if self.pace else 0.0)
