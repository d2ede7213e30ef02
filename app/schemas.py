"""The contract: one set of pydantic models for the JSON API, the event stream and the tests.

Event payloads (``data:`` of each SSE message) are ``StateOut`` for ``status``, ``StepEvent``
for ``step``, ``ValidationEvent`` for ``validation``, ``DoneEvent`` for ``done``, ``ErrorEvent``
for ``error``, ``ResetEvent`` for ``reset``, ``DeletedEvent`` for ``deleted``.
"""

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from app import limits as L
from engine.data import EXAMPLES, MAX_CHARS, MAX_DOC_CHARS, MAX_DOCS, MAX_TEXT_BYTES

# A run's status (app.runs.machine). idle: no segment under way (the model may be trained).
# queued: waiting for a free worker. training: a worker is stepping it. paused: suspended by
# request. interrupted: cut off by a restart or crash, resumes from its last checkpoint. failed:
# its worker died mid-segment; resume continues from the last checkpoint.
Status = Literal["idle", "queued", "training", "paused", "interrupted", "failed"]
# A training segment's status. diverged: ended early because a step's loss or gradient was not
# finite (the model went back to its last checkpoint)
SegmentStatus = Literal[
    "queued", "running", "paused", "done", "stopped", "interrupted", "failed", "diverged"
]


class ModelConfig(BaseModel):
    vocab_size: int
    n_embd: int
    n_head: int
    n_layer: int
    block_size: int


class SegmentInfo(BaseModel):
    """One training segment of a run: a Train of N steps, with its pauses and resumes."""

    id: int
    model: int = Field(description="the run it belongs to (a run's id is its model's)")
    start_step: int = Field(description="global step before the run's first step")
    steps: int = Field(description="planned length; the cosine schedule spans it")
    end_step: int = Field(description="global step the run ends at: start_step + steps")
    step: int = Field(description="last global step reached (checkpointed when not running)")
    lr: float
    status: SegmentStatus
    reason: str | None = None
    started_at: float
    ended_at: float | None = None
    elapsed: float = Field(0.0, description="seconds spent training (as of the last checkpoint)")


class StateOut(BaseModel):
    id: int = Field(description="the run's id")
    name: str = Field(description="the run's name")
    status: Status
    step: int = Field(description="global steps the run's model has done")
    model: int = Field(description="the run's id (its model's), kept for older scripts")
    seed: int
    lr: float = Field(description="base learning rate of the current model")
    num_params: int
    config: ModelConfig
    vocab: list[str] = Field(description="display labels in vocabulary order")
    dataset: Literal["names", "custom"] = Field(
        "names",
        description="what the model trains on: the shipped names, or the documents carried "
        "inside its checkpoint",
    )
    num_docs: int = Field(0, description="documents in the model's dataset")
    held_out: int = Field(
        0, description="of them, never trained on: the validation loss is measured on these"
    )
    probes: list[str] = Field(
        description="prefixes whose distribution rides on step events (those the model's "
        "vocabulary can encode)"
    )
    segment: SegmentInfo | None = Field(
        description="the run's current training segment, else its latest one"
    )
    steps: int = Field(description="the run's planned segment length (Train's default)")
    queue_position: int | None = Field(
        None, description="1-based place in the queue of runs waiting for a worker, if queued"
    )
    queue_wait: float | None = Field(
        None, description="estimated seconds until a worker is free for it, if queued"
    )
    checkpoint_step: int = Field(description="step of the newest stored checkpoint")
    first_step: int = Field(
        0,
        description="the first step of the model's history that can be viewed as it was "
        "(`step=` of predict, samples, params and graph): 0, or the step it was loaded at",
    )
    worker_pid: int | None
    pace: float | None = Field(
        None, description="cap on training speed in steps/s; null: full speed"
    )
    notice: str | None = Field(
        None,
        description="something the user must know since the server started, e.g. that a "
        "damaged database was moved aside",
    )


class Probe(BaseModel):
    prefix: str
    probs: list[float] = Field(description="p(next char | [BOS] + prefix), vocabulary order")


class MatrixHealth(BaseModel):
    name: str = Field(description="parameter matrix, e.g. layer0.attn_wq")
    grad_norm: float = Field(description="L2 norm of this matrix's gradient at the step")
    update_ratio: float = Field(
        description="||update|| / ||weights before the update|| (0 if those are all 0)"
    )


class StepEvent(BaseModel):
    run: int = Field(description="the run's id")
    segment: int = Field(description="the training segment's id")
    step: int = Field(description="global step, 1-based")
    run_step: int = Field(description="step within the segment, 1-based")
    run_steps: int = Field(description="the segment's length")
    total: int = Field(description="global step the segment ends at")
    loss: float
    smooth: float = Field(
        description="EMA of the loss over the model's steps, beta 0.9, bias-corrected: "
        "m = 0.9 m + 0.1 loss; smooth = m / (1 - 0.9^k) after k steps"
    )
    lr: float
    doc: str
    tokens: list[str] = Field(description='display labels, e.g. ["[BOS]", "e", "m", "[BOS]"]')
    target_probs: list[float] = Field(description="p(correct next token) per position")
    grad_norm: float
    step_time: float = Field(description="seconds the step's maths took")
    steps_per_sec: float = Field(description="over the last 20 steps, wall clock")
    elapsed: float = Field(description="wall-clock seconds the segment has been training")
    eta: float = Field(description="seconds left in the segment at the current rate")
    probes: list[Probe]
    health: list[MatrixHealth] = Field(description="per parameter matrix, in engine order")
    t: float = Field(description="Unix time the step ended, set by the worker")
    single: bool = Field(description="the step was asked for by Step once")


class ValidationEvent(BaseModel):
    """The loss on the run's held-out documents (a fixed sample of at most 32 of them, never
    trained on) at a step's weights: at a segment's start, every 50 steps and at its end."""

    run: int
    step: int = Field(description="the step whose weights were scored (0: before any)")
    loss: float = Field(description="mean over the sample of each document's mean −log p")


class DoneEvent(BaseModel):
    segment: SegmentInfo
    step: int
    loss: float | None
    smooth: float | None


class ErrorEvent(BaseModel):
    message: str
    segment: int | None
    step: int = Field(description="step of the last checkpoint: the model the service now holds")
    status: Status


class DeletedEvent(BaseModel):
    """This run was deleted: the last event of its stream, which then ends."""

    run: int
    name: str


class ResetEvent(BaseModel):
    """A new run was made from this one (Reset, or a checkpoint loaded) and is now the default
    run; this run is kept, unchanged."""

    run: int = Field(description="the new run's id")
    name: str = Field(description="the new run's name")
    seed: int
    step: int
    reason: Literal["reset", "upload"]


# ---- requests ----


def _integral_float_to_int(value: object) -> object:
    """297.0 is a whole number (JSON Schema agrees); "297" and true are not."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def whole_number(lo: int, hi: int) -> object:
    """A JSON number that is a whole number from lo to hi (not a string, not a boolean)."""
    return Annotated[int, Field(strict=True, ge=lo, le=hi), BeforeValidator(_integral_float_to_int)]


def bounded(bound: L.Bound) -> object:
    """A whole number within ``bound``."""
    return whole_number(bound.lo, bound.hi)


StrictSteps = bounded(L.STEPS)
MIN_TEMPERATURE, MAX_TEMPERATURE = L.TEMPERATURE.lo, L.TEMPERATURE.hi
MAX_SAMPLE_SEED = L.SAMPLE_SEED.hi
# a number: not "0.1", not true
LearningRate = Annotated[float, Field(strict=True, gt=L.LR.lo, le=L.LR.hi, allow_inf_nan=False)]


class TrainIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: StrictSteps | None = Field(
        None,
        description=f"length of the segment, {L.STEPS.lo}..{L.STEPS.hi}; omitted: the run's "
        "steps setting",
    )
    lr: LearningRate | None = Field(
        None, description="base learning rate (0, 1]; omitted: keep the model's"
    )


DATASETS = ("names", *EXAMPLES)  # a run's dataset by name: the shipped names, or an example


class DatasetText(BaseModel):
    """A dataset of one's own: the text, one document per line."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(
        description=f"UTF-8, one document per line, at most {MAX_TEXT_BYTES:,} bytes, "
        f"{MAX_DOCS:,} documents of {MAX_DOC_CHARS:,} characters and {MAX_CHARS} distinct "
        "characters; blank lines are dropped"
    )


class RunIn(BaseModel):
    """A new run's settings; every field optional, defaults as microgpt."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(
        None, min_length=1, max_length=L.RUN_NAME_CHARS, description="omitted: Run <id>"
    )
    seed: bounded(L.SEED) = L.SEED.default
    lr: LearningRate = L.LR.default
    steps: StrictSteps = Field(L.STEPS.default, description="the length Train starts")
    n_embd: bounded(L.N_EMBD) = Field(L.N_EMBD.default, description="embedding width")
    n_head: bounded(L.N_HEAD) = Field(L.N_HEAD.default, description="attention heads")
    n_layer: bounded(L.N_LAYER) = Field(L.N_LAYER.default, description="transformer blocks")
    block_size: bounded(L.BLOCK_SIZE) = Field(
        L.BLOCK_SIZE.default, description="context length (the longest name it sees is one less)"
    )
    dataset: str | DatasetText = Field(
        "names",
        description=f"what it learns: {', '.join(map(repr, DATASETS))} (the shipped names or "
        'an example), or {"text": "..."}: your own documents, one per line',
    )

    @field_validator("dataset", mode="before")
    @classmethod
    def _a_known_dataset(cls, dataset):
        if isinstance(dataset, str) and dataset in DATASETS:
            return dataset
        if isinstance(dataset, dict) and set(dataset) == {"text"}:
            if isinstance(dataset["text"], str):
                return dataset
            raise ValueError("its text must be a string, one document per line")
        raise ValueError(
            f'it must be one of {", ".join(DATASETS)}, or {{"text": "..."}} with your own '
            "documents, one per line"
        )

    @field_validator("n_head")
    @classmethod
    def _heads_divide_width(cls, n_head: int, info: ValidationInfo) -> int:
        n_embd = info.data.get("n_embd")
        if n_embd is not None and n_embd % n_head:
            heads = [h for h in range(1, L.N_HEAD.hi + 1) if n_embd % h == 0]
            raise ValueError(f"it must divide n_embd {n_embd}: one of {', '.join(map(str, heads))}")
        return n_head


class ForkIn(BaseModel):
    """A new run from a past step of this one, exactly (weights and Adam moments)."""

    model_config = ConfigDict(extra="forbid")

    step: int = Field(ge=0, description="the step to go on from: first_step to step")
    steps: StrictSteps | None = Field(None, description="its Train length; omitted: the parent's")
    lr: LearningRate | None = Field(None, description="its learning rate; omitted: the parent's")
    name: str | None = Field(
        None,
        min_length=1,
        max_length=L.RUN_NAME_CHARS,
        description="omitted: '<parent> from step k'",
    )


class RunPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=L.RUN_NAME_CHARS)


class RunOut(BaseModel):
    """A run in the list: its settings, shape, status, step and latest loss."""

    id: int
    name: str
    created_at: float
    seed: int
    lr: float
    steps: int
    n_embd: int
    n_head: int
    n_layer: int
    block_size: int
    vocab_size: int
    num_params: int
    dataset: str = Field(
        description="names, an example's name, own (text given) or custom (a model file's)"
    )
    status: Status
    step: int
    loss: float | None = Field(description="the latest smoothed loss, null before a step")
    queue_position: int | None = None
    default: bool = Field(description="the run the unprefixed /api/... paths act on")
    parent: int | None = Field(None, description="the run this one was forked from")
    parent_step: int | None = Field(None, description="the parent's step it went on from")


class CompareRun(BaseModel):
    id: int
    name: str
    differs: str = Field(description="its settings that are not the same for every run shown")
    status: Status
    step: int
    loss: float | None = Field(description="the latest smoothed loss")
    steps: list[int] = Field(description="steps of the curve (at most 2,000, evenly spread)")
    smooth: list[float] = Field(description="the smoothed training loss at those steps")
    val_steps: list[int] = Field(description="steps at which the held-out loss was measured")
    val: list[float] = Field(description="the held-out (validation) loss at those steps")


class CompareOut(BaseModel):
    runs: list[CompareRun]
    common: str = Field(description="the settings every run shown has")


class RunsOut(BaseModel):
    runs: list[RunOut]
    default: int | None
    workers: int = Field(description="at most this many runs train at once")
    queue: list[int] = Field(description="queued runs, first to start first")


PACE_MIN, PACE_MAX = L.PACE.lo, L.PACE.hi


class PaceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps_per_sec: float | None = Field(
        strict=True,
        ge=PACE_MIN,
        le=PACE_MAX,
        allow_inf_nan=False,
        description=f"at most this many steps per second, {PACE_MIN:g}..{PACE_MAX:g}; "
        "null: full speed",
    )


class ResetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: bounded(L.SEED) | None = Field(
        None, description="seed of the new model; omitted: the current model's seed"
    )


# ---- responses ----


class TopK(BaseModel):
    label: str
    prob: float


class PredictOut(BaseModel):
    prefix: str
    step: int = Field(description="step of the weights that answered")
    vocab: list[str]
    probs: list[float] = Field(description="one probability per token, vocabulary order")
    top: list[TopK]
    tokens: list[str] = Field(description="labels of the attended positions: [BOS] + prefix")
    attention: list[list[list[list[float]]]] = Field(
        description="[layer][head][query position][key position]"
    )
    greedy: str = Field(
        description="the prefix completed with the most likely character at each position, "
        "until [BOS] or the context window is full"
    )


class SamplesOut(BaseModel):
    step: int
    n: int
    temperature: float
    seed: int | None
    samples: list[str]


class HistoryPoint(BaseModel):
    step: int
    loss: float
    smooth: float


class ValidationPoint(BaseModel):
    step: int
    loss: float = Field(description="mean loss on the held-out sample at this step's weights")


class HistoryOut(BaseModel):
    model: int
    points: list[HistoryPoint]
    val: list[ValidationPoint] = Field(
        description="the held-out (validation) loss every few steps; empty if the dataset "
        "holds nothing out (a single document)"
    )
    held_out: int = Field(description="documents of the run's dataset never trained on")
    segments: list[SegmentInfo]


class ProbeLineOut(BaseModel):
    model: int
    prefix: str = Field(description="the probe: the text after [BOS] the model was asked about")
    char: str = Field(description="the next token followed, as labelled in the vocabulary")
    steps: list[int] = Field(description="every viewable step after `since` that kept the probe")
    probs: list[float] = Field(description="p(char | prefix) after each step, as in steps")


class GraphNode(BaseModel):
    id: int
    op: str = Field(
        description='"param" for a parameter leaf, else the operation: + * pow exp '
        "log relu² dot sum softmax xent"
    )
    data: float = Field(description="its value in the step's forward pass")
    grad: float = Field(description="d loss / d node after the step's backward pass")
    param: str | None = Field(
        description='the parameter, e.g. "layer0.attn_wq[3][5]"; null for an interior node'
    )
    group: str = Field(
        description='where it belongs: "pos2/layer0/attn/head1", "pos2/loss", '
        '"loss", "params/wte", …'
    )


class GraphEdge(BaseModel):
    child: int = Field(description="the input node's id")
    parent: int = Field(description="the id of the node computed from it")
    local: float = Field(description="∂parent/∂child; a child used twice by one parent has two")


class GraphOut(BaseModel):
    step: int
    doc: str = Field(description="the document the step read")
    loss: int = Field(description="the loss node's id (its grad is 1)")
    nodes: list[GraphNode] = Field(
        description="the parameters the step used (in parameter order), then every node it "
        "computed, in creation order (a child before its parents)"
    )
    edges: list[GraphEdge]


class HealthOut(BaseModel):
    model: int
    names: list[str] = Field(description="the parameter matrices, in engine order")
    steps: list[int] = Field(description="the steps this server process saw the model take")
    grad_norm: list[list[float]] = Field(
        description="per matrix (as in names), per step (as in steps): the gradient's L2 norm"
    )
    update_ratio: list[list[float]] = Field(
        description="per matrix, per step: ||update|| / ||weights before the update||"
    )


PARAM_LENSES = ("value", "grad", "update", "m", "v")


class MatrixParams(BaseModel):
    name: str = Field(description="as the engine names it: wte, wpe, lm_head, layer0.attn_wq, …")
    shape: list[int] = Field(description="[rows, cols]")
    value: list[list[float]] = Field(description="weights after the step")
    grad: list[list[float]] | None = Field(
        description="gradient of the step's loss at the weights before its update; null "
        "before the model's first step"
    )
    update: list[list[float]] | None = Field(
        description="what the step changed: value after − value before; null like grad"
    )
    m: list[list[float]] | None = Field(
        description="Adam's first moment after the step; null for a past step trained before "
        "this release kept Adam's moments"
    )
    v: list[list[float]] | None = Field(
        description="Adam's second moment after the step; null like m"
    )


class ParamsOut(BaseModel):
    step: int = Field(description="the step these numbers belong to")
    matrices: list[MatrixParams]


MAX_GRADCHECK_H = L.GRADCHECK_H.hi


class GradcheckOut(BaseModel):
    step: int
    name: str
    row: int
    col: int
    autograd: float = Field(description="the recorded gradient of this parameter at the step")
    numeric: float = Field(
        description="(loss(w + h) − loss(w − h)) / 2h on the step's document, only this "
        "parameter nudged, at the weights before the step's update"
    )
    h: float


class ErrorOut(BaseModel):
    detail: str


class Health(BaseModel):
    status: Literal["ok"] = "ok"


# ---- classes ----


class ClassLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps_per_run: bounded(L.CLASS_STEPS) = Field(
        L.CLASS_STEPS.default, description="the most steps a student may ask of one segment"
    )
    runs_per_student: bounded(L.CLASS_RUNS) = Field(
        L.CLASS_RUNS.default, description="the most runs a student may have (Reset makes one)"
    )


class ClassIn(BaseModel):
    """A new class: its name, the settings of every student's run, and the students' limits."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=L.CLASS_NAME_CHARS)
    preset: RunIn = Field(default_factory=RunIn, description="every student's run settings")
    limits: ClassLimits = Field(default_factory=ClassLimits)


class ClassPresetIn(BaseModel):
    """New settings for the class's runs (PATCH): the preset, the limits, or both."""

    model_config = ConfigDict(extra="forbid")

    preset: RunIn | None = None
    limits: ClassLimits | None = None


class ClassCreated(BaseModel):
    code: str = Field(description="the short code students type (or the join link has)")
    join_url: str = Field(description="where students join: give it out, or show its QR code")
    teacher_url: str = Field(
        description="the teacher's private link: opening it makes that browser the teacher's "
        "(its secret is traded for a cookie and dropped from the address bar)"
    )


class JoinIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        "", max_length=L.STUDENT_NAME_CHARS, description="shown to all (not needed to rejoin)"
    )
    rejoin: str | None = Field(
        None, max_length=16, description="the rejoin code shown at joining, from another browser"
    )


class Joined(BaseModel):
    member: int
    name: str
    run: int = Field(description="the student's run: /?run=<run>")
    rejoin: str = Field(description="type it to rejoin from another browser; shown once")
    again: bool = Field(description="this browser had already joined: the same run")


class MemberOut(BaseModel):
    id: int
    name: str
    run: int | None = Field(description="the student's current run (null: deleted)")
    status: Status | None
    step: int
    loss: float | None = Field(description="the latest smoothed training loss")
    val: float | None = Field(description="the latest held-out loss")
    joined_at: float


class ClassOut(BaseModel):
    code: str
    name: str
    preset: dict
    limits: ClassLimits
    closed: bool
    spotlight: int | None = Field(description="the run shown to everyone, if any")
    join_url: str
    members: list[MemberOut]


class SpotlightIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run: int | None = Field(description="a student's run to show everyone; null: none")


class ClassCommandOut(BaseModel):
    command: str
    done: list[int] = Field(description="the runs it applied to")
    skipped: dict[str, str] = Field(description="run id → why it did not apply")
