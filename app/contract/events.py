"""The event stream's contract: one pydantic model per SSE event, used by the API and the tests.

Event payloads (``data:`` of each SSE message) are ``StateOut`` for ``status``, ``StepEvent``
for ``step`` (a past step's ``StepRecipe`` part), ``ValidationEvent`` for ``validation``,
``DoneEvent`` for ``done``, ``ErrorEvent`` for ``error``, ``ResetEvent`` for ``reset``,
``DeletedEvent`` for ``deleted``.
"""

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field

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


class StepRecipe(BaseModel):
    """What one step read, predicted and scored (the recipe): a live step's, or a past one's
    replayed from its stored weights (app.past), which has nothing more to say."""

    step: int = Field(description="global step, 1-based")
    loss: float
    lr: float | None = Field(description="the step's learning rate (None: not stored)")
    doc: str
    tokens: list[str] = Field(description='display labels, e.g. ["[BOS]", "e", "m", "[BOS]"]')
    target_probs: list[float] = Field(description="p(correct next token) per position")
    grad_norm: float

    @staticmethod
    def fields_of(step, label: Callable[[int], str]) -> dict:
        """The recipe's fields of a step as the engine records it: training's StepRecord and
        replay's PastStep name them alike, so a past step's recipe says what its live event
        said. ``label``: a token id's display label."""
        return {
            "step": step.step,
            "doc": step.doc,
            "tokens": [label(i) for i in step.tokens],
            "target_probs": step.target_probs,
            "loss": step.loss,
            "grad_norm": step.grad_norm,
        }


class StepEvent(StepRecipe):
    """A step as it happened: built once, by the training process (app.jobs.loop); the web
    process adds what only it knows (run, segment, smooth, single) with ``model_copy``."""

    run: int | None = Field(None, description="the run's id (set by the web process)")
    segment: int | None = Field(None, description="the training segment's id")
    run_step: int = Field(description="step within the segment, 1-based")
    run_steps: int = Field(description="the segment's length")
    total: int = Field(description="global step the segment ends at")
    smooth: float | None = Field(
        None,
        description="EMA of the loss over the model's steps, beta 0.9, bias-corrected: "
        "m = 0.9 m + 0.1 loss; smooth = m / (1 - 0.9^k) after k steps (set by the web process)",
    )
    lr: float
    step_time: float = Field(description="seconds the step's maths took")
    steps_per_sec: float = Field(description="over the last 20 steps, wall clock")
    elapsed: float = Field(description="wall-clock seconds the segment has been training")
    eta: float = Field(description="seconds left in the segment at the current rate")
    probes: list[Probe]
    health: list[MatrixHealth] = Field(description="per parameter matrix, in engine order")
    t: float = Field(description="Unix time the step ended, set by the worker")
    single: bool = Field(False, description="the step was asked for by Step once")


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
