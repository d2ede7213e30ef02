"""Training as an iterator: one StepRecord per step, resumable from a checkpoint.

The shuffled documents are split once: the first ``n_train`` are trained on in order, over and
over; the rest (the last tenth, engine.data.held_out_count) are held out, and a fixed sample of
them gives ``validation_loss``. A step: take the next training document (sample), run the
model over its tokens (forward), average −log p(target) (loss), backpropagate (backward), and
let Adam move every parameter (update).
"""

import gc
import math
import time
from array import array
from contextlib import contextmanager
from dataclasses import asdict, dataclass

from engine.autograd import Tape
from engine.data import VALIDATION_SAMPLE
from engine.errors import Diverged, EngineError
from engine.forward import sequence_loss
from engine.infer import Predictor
from engine.model import GPT
from engine.optim import Adam, get_lr
from engine.state import TrainingState

MAX_RUN_STEPS = 1_000_000


@contextmanager
def gc_paused():
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def forward_backward(model, tokens, tape=None, mark=None):
    """The document's loss (engine.forward.sequence_loss) and its backward pass: leaves
    d loss / d p in every parameter's ``grad``. Returns the loss (a Value) and p(target) at
    each position. Training, the replay of a past step (engine.replay) and the graph of a step
    (engine.graph: its own ``tape`` to read the nodes from, ``mark`` to name them) share this."""
    ops = model.ops()
    # The graph has no reference cycles, so the cyclic GC would only slow the step down.
    with tape or Tape() as tape, gc_paused():
        loss, target_probs = sequence_loss(ops, model.config, tokens, mark)
        tape.backward(loss)
    return loss, target_probs


@dataclass(frozen=True)
class StepRecord:
    step: int  # global step, 1-based (the model has done this many updates after it)
    run_step: int  # 1-based within the current run
    run_steps: int  # length of the current run (the cosine schedule spans it)
    loss: float  # mean −log p(target) over the document's positions, before the update
    lr: float  # learning rate used for this update
    doc: str  # the document learned
    tokens: list  # its token ids, BOS ... BOS (only the first block_size + 1 are used)
    target_probs: list  # p(correct next token) at each position, before the update
    grad_norm: float  # L2 norm of the gradient of all parameters
    elapsed: float  # seconds this step took

    def to_dict(self):
        return asdict(self)


@dataclass(frozen=True)
class StepFrame:
    """What one step saw, recorded only when ``Trainer.record`` is set: the weights before its
    update and the gradient of its loss there, flat in ``model.params`` order (the values, m
    and v after the update are the trainer's own until the next step)."""

    step: int  # global step, 1-based
    tokens: list  # the document's token ids, BOS ... BOS
    before: array  # array('d'): weights before the update
    grads: array  # array('d'): d loss / d weight at `before`


class Trainer:
    """The whole training state: data order, weights, Adam moments, step, schedule, RNG."""

    record = False  # keep each step's StepFrame in last_frame (the live app shows it)
    last_frame: StepFrame | None = None

    def __init__(self, docs=None, config=None, seed=42, lr=0.01, *, state=None):
        """A fresh model for ``docs`` (None: the shipped names), or, given ``state`` (a
        TrainingState: a checkpoint's validated parts), the trainer it describes."""
        if state is None:
            state = TrainingState.fresh(docs, config, seed, lr)
        elif docs is not None or config is not None:
            raise EngineError("a trainer is either fresh (docs, config, ...) or a state, not both")
        self.dataset, self.docs, self.n_train = state.dataset, state.docs, state.n_train
        self.tokenizer, self.config = state.tokenizer, state.config
        self.seed, self.lr, self.rng = state.seed, state.lr, state.rng
        self.model = GPT(state.config, state.weights)
        self.adam = Adam(self.model.params, state.adam_t, state.adam_m, state.adam_v)
        self.step = state.step
        self.run_start, self.run_steps = state.run

    @property
    def num_params(self):
        return len(self.model.params)

    @property
    def run_remaining(self):
        return self.run_start + self.run_steps - self.step

    def begin_run(self, num_steps):
        """Plan a run of num_steps from the current weights; the schedule spans exactly this run."""
        if not isinstance(num_steps, int) or isinstance(num_steps, bool):
            raise EngineError(f"steps must be an integer, got {num_steps!r}")
        if not 1 <= num_steps <= MAX_RUN_STEPS:
            raise EngineError(f"steps must be between 1 and {MAX_RUN_STEPS}, got {num_steps}")
        self.run_start, self.run_steps = self.step, num_steps

    def steps(self):
        """Iterate the rest of the current run, one StepRecord per step."""
        while self.run_remaining > 0:
            yield self.train_step()

    def train_step(self):
        """One step of the current run (a run of 1 is planned when none is under way)."""
        if self.run_remaining <= 0:
            self.begin_run(1)
        t0 = time.perf_counter()
        step, run_step = self.step, self.step - self.run_start
        doc = self.docs[step % self.n_train]
        tokens = self.tokenizer.tokens(doc)
        loss, target_probs = forward_backward(self.model, tokens)

        # A non-finite loss or gradient would poison every weight: stop before the update.
        if not math.isfinite(loss.data):
            self._drop_grads()
            raise Diverged(step + 1, f"the loss is {loss.data}")
        if self.record:  # Adam zeroes the gradients: copy them (and the weights) first
            params = self.model.params
            before = array("d", [p.data for p in params])
            grads = array("d", [p.grad for p in params])
        lr_t = get_lr(self.lr, run_step, self.run_steps)
        grad_norm = self.adam.step(lr_t)
        if grad_norm is None:
            self._drop_grads()
            raise Diverged(step + 1, "a gradient is not finite")
        self.step += 1
        if self.record:
            self.last_frame = StepFrame(self.step, tokens, before, grads)
        return StepRecord(
            step=self.step,
            run_step=run_step + 1,
            run_steps=self.run_steps,
            loss=loss.data,
            lr=lr_t,
            doc=doc,
            tokens=tokens,
            target_probs=target_probs,
            grad_norm=grad_norm,
            elapsed=time.perf_counter() - t0,
        )

    @property
    def validation_docs(self):
        """The fixed sample of held-out documents the validation loss is measured on."""
        return self.docs[self.n_train :][:VALIDATION_SAMPLE]

    def validation_loss(self):
        """The mean loss over ``validation_docs`` at the current weights (no update), or None
        when nothing is held out (a dataset of one document)."""
        docs = self.validation_docs
        if not docs:
            return None
        predictor = self.predictor()
        return sum([predictor.loss(self.tokenizer.tokens(doc)) for doc in docs]) / len(docs)

    def _drop_grads(self):
        for p in self.model.params:
            p.grad = 0.0

    def weights(self):
        return self.model.weights()

    def flat_state(self):
        """The weights and Adam's m and v now, flat in ``model.params`` order, as array('d')."""
        values = array("d", [p.data for p in self.model.params])
        return values, array("d", self.adam.m), array("d", self.adam.v)

    def predictor(self):
        """A plain-float snapshot of the current weights, for inference."""
        return Predictor(self.config, self.tokenizer, self.weights())

    def to_dict(self):
        from engine.checkpoint import trainer_to_dict

        return trainer_to_dict(self)

    @classmethod
    def from_dict(cls, d):
        from engine.checkpoint import trainer_from_dict

        return trainer_from_dict(d)
