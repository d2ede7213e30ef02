"""The JSON API's request and response models."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from app import limits as L
from app.contract.events import SegmentInfo, Status
from app.contract.fields import LearningRate, StrictSteps, Text, bounded
from engine.data import EXAMPLES, MAX_CHARS, MAX_DOC_CHARS, MAX_DOCS, MAX_TEXT_BYTES


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

    text: Text = Field(
        description=f"UTF-8, one document per line, at most {MAX_TEXT_BYTES:,} bytes, "
        f"{MAX_DOCS:,} documents of {MAX_DOC_CHARS:,} characters and {MAX_CHARS} distinct "
        "characters; blank lines are dropped"
    )


class RunIn(BaseModel):
    """A new run's settings; every field optional, defaults as microgpt."""

    model_config = ConfigDict(extra="forbid")

    name: Text | None = Field(
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
    name: Text | None = Field(
        None,
        min_length=1,
        max_length=L.RUN_NAME_CHARS,
        description="omitted: '<parent> from step k'",
    )


class RunPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=L.RUN_NAME_CHARS)


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


class PaceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps_per_sec: float | None = Field(
        strict=True,
        ge=L.PACE.lo,
        le=L.PACE.hi,
        allow_inf_nan=False,
        description=f"at most this many steps per second, {L.PACE.lo:g}..{L.PACE.hi:g}; "
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
    status: Literal["ok", "degraded"] = "ok"
    reason: str | None = Field(
        None, description="degraded: why (the disk is full, read-only...) and what to do"
    )


class MilestoneOut(BaseModel):
    """A moment of a run, read off its own history (never written by hand)."""

    step: int
    kind: Literal["below_uniform", "top_guess", "best_held_out", "memorising"] = Field(
        description="below_uniform: the smoothed loss first under ln V; top_guess: the top "
        'guess after "e" changed; best_held_out: the lowest held-out loss; memorising: the '
        "held-out loss 10% above its best while the smoothed training loss kept falling"
    )
    text: str = Field(description="what happened, in words")


class MilestonesOut(BaseModel):
    milestones: list[MilestoneOut] = Field(description="in step order")
