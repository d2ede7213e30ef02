"""Past steps rebuilt from the store, exactly as they were (run these in a thread).

The store keeps whole states (weights with Adam's m and v) at every checkpoint's step, at most
``checkpoint_every`` steps apart, and each step's learning rate. Any step in between is trained
again from the kept state before it (engine.replay.replay_training: the same document, gradient
and update as training, bit for bit), and what that rebuilds is kept in memory
(app.past.states), so a page stepping through the history replays one step at a time. Weights
a model stored step by step before states were kept (below its first kept state) are read as
they are; there, m and v are not known.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from app.contract.events import StepRecipe
from app.past.frames import ParamsFrame, from_le_bytes
from app.past.states import STATES, State, StateCache
from app.store import Store
from engine.replay import PastStep, replay_step, replay_training


class LostStep(LookupError):
    """A step's weights are not stored (a crash between the step and its checkpoint)."""


@dataclass(frozen=True)
class History:
    """What a past step is rebuilt from: one model's stored steps, ``lo`` … its newest."""

    store: Store
    model: int
    lo: int  # its first viewable step (no step before it to replay)
    config: object
    tokenizer: object
    docs: tuple[str, ...]  # in training order
    pending: dict[int, bytes]  # step -> weights not yet in a checkpoint transaction
    shapes: list[tuple[str, int, int]]
    pending_lrs: dict[int, float] = field(default_factory=dict)  # and their learning rates
    states: StateCache = STATES

    def weights(self, step: int):
        data = self.pending.get(step)
        if data is not None:
            return from_le_bytes(data)
        data = self.store.weights(self.model, step)  # a kept state's, or stored step by step
        if data is not None:
            return from_le_bytes(data)
        state = self.state(step)
        if state is None:
            raise LostStep(f"step {step}'s weights were lost (the server stopped before saving)")
        return state[0]

    def state(self, step: int) -> State | None:
        """Weights, m and v after ``step``, exactly: from the nearest kept or rebuilt state at
        or before it, trained on to it; None when no state is kept at or before it."""
        cached = self.states.get(self.model, step)
        if cached is not None:
            return cached
        base = None
        row = self.store.kept_state(self.model, step)
        if row is not None and row[0] >= self.lo:
            base = row[0], tuple(from_le_bytes(b) for b in row[1:])
            self.states.put(self.model, row[0], base[1])
        near = self.states.nearest(self.model, base[0] if base else self.lo, step)
        if near is not None and (base is None or near[0] > base[0]):
            base = near
        if base is None:
            return None
        j, state = base
        for _, after in self.train(j + 1, step, state):
            state = after
        return state

    def train(self, first: int, last: int, before: State):
        """Steps ``first`` … ``last`` trained again from ``before``, the state after the step
        before them: yields (PastStep, state after), each state kept."""
        lrs = self.store.lrs(self.model, first, last) | self.pending_lrs
        missing = [k for k in range(first, last + 1) if k not in lrs]
        if missing:
            raise LostStep(f"step {missing[0]} was lost (the server stopped before saving it)")
        t = self.store.adam_offset(self.model) + first - 1
        rates = [lrs[k] for k in range(first, last + 1)]
        replayed = replay_training(self.config, self.tokenizer, self.docs, before, first, rates, t)
        for past, after in replayed:
            self.states.put(self.model, past.step, after)
            yield past, after

    def replay(self, step: int) -> PastStep | None:
        """Step ``step`` again from the weights before it; None for the first viewable step."""
        if step <= self.lo:
            return None
        before = self.state(step - 1)
        if before is not None:
            return next(self.train(step, step, before))[0]
        return replay_step(self.config, self.tokenizer, self.docs, self.weights(step - 1), step)

    def frame(self, step: int) -> ParamsFrame:
        """Every weight, gradient, update and Adam moment of ``step`` (m and v None where no
        state is kept at or before it within the viewable steps)."""
        before = self.state(step - 1) if step > self.lo else None
        if before is not None:
            past, (values, m, v) = next(self.train(step, step, before))
            return ParamsFrame(
                self.model, step, self.shapes, values, m, v, before[0], past.grads, past.tokens
            )
        past = self.replay(step)
        state = self.state(step)
        values, m, v = state if state is not None else (self.weights(step), None, None)
        if past is None:
            return ParamsFrame(self.model, step, self.shapes, values, m, v)
        before = self.weights(step - 1)
        return ParamsFrame(
            self.model, step, self.shapes, values, m, v, before, past.grads, past.tokens
        )


def step_event(past: PastStep, label: Callable[[int], str], lr: float | None) -> StepRecipe:
    """A replayed step as the recipe shows it: what its live ``step`` event said of it."""
    return StepRecipe(**StepRecipe.fields_of(past, label), lr=lr)
