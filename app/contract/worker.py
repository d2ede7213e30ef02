"""What a training process says to the web process: one tagged union, ``WorkerMessage``.

The same models cross the local pipe (pickled, ``app.jobs.local``) and a Redis stream
(``app.jobs.wire``: JSON, with every ``array('d')`` as raw little-endian doubles, nothing
unpickled). ``kind`` tells them apart. Flat arrays are in parameter order
(``engine.model.param_shapes``) and are checked only for their type: ~4,064 doubles each, not
worth validating number by number at every step.

In the order a step sends them (``app.jobs.loop``):

- ``Ready``       once, when the checkpoint is loaded (Redis: at every slice's start)
- ``Params``      the step's frame: at most every 0.25 s at full speed, every step when slow
- ``Step``        after every step: its ``StepEvent`` (built once, here) and the weights after it
- ``Validation``  the held-out loss at a step's weights (a segment's start, every 50 steps, end)
- ``Weights``     every ``snapshot_every`` steps and at every stop
- ``Checkpoint``  a segment's start, every ``checkpoint_every`` steps, every pause/stop/finish
- ``Done``        the segment's last step is done
- ``Diverged``    a step's loss or gradient was not finite: back at the last checkpoint
- ``Reply``       one per command, after its effects
- ``Error``       then the process exits
"""

from array import array
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from app.contract.events import StepEvent


class Message(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)


class Ready(Message):
    kind: Literal["ready"] = "ready"
    pid: int
    step: int
    host: str | None = None  # Redis mode: the worker's machine
    replay: bool = False  # Redis mode: a redelivered slice, whose first messages may be old


class Params(Message):
    """Every weight, gradient and Adam moment of one step (the Parameters panel)."""

    kind: Literal["params"] = "params"
    step: int
    tokens: list[int]  # the step's document, token ids
    before: array  # the weights before its update
    grads: array  # the gradient there
    values: array  # the weights after it
    m: array
    v: array


class Step(Message):
    kind: Literal["step"] = "step"
    event: StepEvent
    weights: array  # after the step: the store keeps every step's (time travel)

    @property
    def step(self) -> int:
        return self.event.step


class Validation(Message):
    kind: Literal["val"] = "val"
    step: int
    loss: float


class Weights(Message):
    """A snapshot the web process answers predictions from."""

    kind: Literal["weights"] = "weights"
    step: int
    values: array


class Frame(Message):
    """The step that made a checkpoint's weights (its params frame after a restart)."""

    step: int
    tokens: list[int]
    before: array
    grads: array


class Checkpoint(Message):
    kind: Literal["checkpoint"] = "checkpoint"
    step: int
    run_id: int | None  # the segment trained
    reason: str  # start, periodic, pause, stop, step, finish
    # the checkpoint's JSON (engine.checkpoint) without its state (trainer_to_dict(state=
    # False): each matrix's [rows, cols], adam.m and adam.v "kept"), which comes as arrays;
    # whole, with ``weights`` None, from a worker of an earlier release (Redis mode)
    data: str
    elapsed: float  # seconds the segment has trained
    frame: Frame | None
    weights: array | None = None  # flat, in parameter order
    m: array  # Adam's moments (a past step's are replayed from them)
    v: array


class Done(Message):
    kind: Literal["done"] = "done"
    run_id: int | None
    step: int


class Diverged(Message):
    kind: Literal["diverged"] = "diverged"
    run_id: int | None
    step: int
    message: str
    checkpoint_step: int


class Reply(Message):
    kind: Literal["reply"] = "reply"
    ok: bool
    step: int | None  # None: answered by the web process's runner, not the worker
    reason: str | None = None
    cmd: int | None = None  # Redis mode: the command's place on the session's list


class Error(Message):
    kind: Literal["error"] = "error"
    message: str


WorkerMessage = Annotated[
    Ready | Params | Step | Validation | Weights | Checkpoint | Done | Diverged | Reply | Error,
    Field(discriminator="kind"),
]
MESSAGES = TypeAdapter(WorkerMessage)
