"""Training as an iterator: one StepRecord per step, resumable from a checkpoint.

The shuffled documents are split once: the first ``n_train`` are trained on in order, over and
over; the rest (the last tenth, engine.data.held_out_count) are held out, and a fixed sample of
them gives ``validation_loss``. A step: take the next training document (sample), run the
model over its tokens (forward), average −log p(target) (loss), backpropagate (backward), and
let Adam move every parameter (update).
"""

import math
import time
from array import array
from dataclasses import asdict, dataclass

from engine.autograd import Tape
from engine.compiled import gc_paused, loss_and_grads
from engine.data import VALIDATION_SAMPLE
from engine.errors import Diverged, EngineError
from engine.floats import doubles
from engine.forward import sequence_loss
from engine.gradcheck import unflatten
from engine.infer import Predictor
from engine.model import GPT
from engine.optim import Adam, get_lr
from engine.state import TrainingState

MAX_RUN_STEPS = 1_000_000


def forward_backward(model, tokens, tape=None, mark=None):
    """The document's loss (engine.forward.sequence_loss) and its backward pass on the object
    graph: leaves d loss / d p in every parameter's ``grad``. Returns the loss (a Value) and
    p(target) at each position. The graph of a step (engine.graph: its own ``tape`` to read
    the nodes from, ``mark`` to name them) uses it; training and replay run the same numbers
    compiled (engine.compiled.loss_and_grads)."""
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


def held_out_loss(predictor, tokenizer, docs):
    """The mean loss of ``predictor`` over ``docs`` (None if there are none)."""
    if not docs:
        return None
    losses = predictor.losses([tokenizer.tokens(doc) for doc in docs])
    return sum(losses) / len(docs)


class Trainer:
    """The whole training state: data order, weights, Adam moments, step, schedule, RNG.

    The weights are flat floats (``values``, in ``model.params`` order) that the compiled step
    (engine.compiled) trains; ``model`` shows them as Values, and edits made through it before
    the next step are trained on.
    """

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
        # floats, whatever the checkpoint wrote (JSON may say 0 for 0.0): the state a trainer
        # sends apart as arrays of doubles reads back as it writes its JSON
        self.values = [float(w) for rows in state.weights.values() for row in rows for w in row]
        m, v = (None if a is None else [float(x) for x in a] for a in (state.adam_m, state.adam_v))
        self.adam = Adam(self.values, state.adam_t, m, v)
        self._model = None  # the Values last handed out by .model, if any
        self._flat = None  # (the values list, its array) last handed out by flat_values
        self.step = state.step
        self.run_start, self.run_steps = state.run

    @property
    def num_params(self):
        return len(self.values)

    @property
    def model(self):
        """The weights as a GPT of Values (with no gradients), now."""
        if self._model is None:
            self._model = GPT(self.config, self.weights())
        else:
            for p, value in zip(self._model.params, self.values, strict=True):
                p.data = value
        return self._model

    def _current_values(self):
        """The flat weights, with what was written into ``model`` since it was handed out."""
        if self._model is not None:
            self.values = [p.data for p in self._model.params]
            self._model = None
        return self.values

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
        values = self._current_values()
        loss, target_probs, grads = loss_and_grads(self.config, values, tokens)

        # A non-finite loss or gradient would poison every weight: stop before the update.
        if not math.isfinite(loss):
            raise Diverged(step + 1, f"the loss is {loss}")
        if self.record:
            frame = StepFrame(step + 1, tokens, self.flat_values(), doubles(grads))
        lr_t = get_lr(self.lr, run_step, self.run_steps)
        updated = self.adam.update(values, grads, lr_t)
        if updated is None:
            raise Diverged(step + 1, "a gradient is not finite")
        self.values, grad_norm = updated
        self.step += 1
        if self.record:
            self.last_frame = frame
        return StepRecord(
            step=self.step,
            run_step=run_step + 1,
            run_steps=self.run_steps,
            loss=loss,
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
        return held_out_loss(self.predictor(), self.tokenizer, self.validation_docs)

    def weights(self):
        """The weights now, {name: rows of floats}."""
        return unflatten(self.config, self._current_values())

    def flat_values(self):
        """The weights now, flat in ``model.params`` order, as array('d') (the same array
        while they stay the same list: a step's weights after are the next one's before; do
        not change it)."""
        values = self._current_values()
        if self._flat is None or self._flat[0] is not values:
            self._flat = values, doubles(values)
        return self._flat[1]

    def flat_state(self):
        """The weights and Adam's m and v now, flat in ``model.params`` order, as array('d')."""
        return self.flat_values(), doubles(self.adam.m), doubles(self.adam.v)

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
