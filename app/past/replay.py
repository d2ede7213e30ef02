"""Past steps rebuilt from the store, exactly as they were (run these in a thread).

Every step's weights are stored (table ``weights``), and Adam's m and v at every checkpoint
(table ``moments``). A past step's gradient, document and predictions come from replaying it
from the weights before it (engine.replay, bit for bit what training computed); its m and v from
the latest moments at or before it, folding in the gradients of the steps in between (at most
``checkpoint_every`` − 1 replays, ~40 ms each).
"""

from collections.abc import Callable
from dataclasses import dataclass

from app.contract.events import StepRecipe
from app.past.frames import ParamsFrame, from_le_bytes
from app.store import Store
from engine.replay import PastStep, replay_moments, replay_step


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

    def weights(self, step: int):
        data = self.pending.get(step) or self.store.weights(self.model, step)
        if data is None:
            raise LostStep(f"step {step}'s weights were lost (the server stopped before saving)")
        return from_le_bytes(data)

    def replay(self, step: int) -> PastStep | None:
        """Step ``step`` again from the weights before it; None for the first viewable step."""
        if step <= self.lo:
            return None
        return replay_step(self.config, self.tokenizer, self.docs, self.weights(step - 1), step)

    def frame(self, step: int, near: ParamsFrame | None = None) -> ParamsFrame:
        """Every weight, gradient, update and Adam moment of ``step`` (m and v None when no
        moments were kept at or before it within the viewable steps). ``near``: a frame of an
        earlier step already rebuilt, to replay m and v from if it is closer than the kept ones
        (a page stepping through the history one step at a time replays one step each)."""
        past = self.replay(step)
        before, grads, tokens = (None, None, None)
        if past is not None:
            before, grads, tokens = self.weights(step - 1), past.grads, past.tokens
        m = v = None
        kept = self.store.moments_at_or_before(self.model, step)
        if kept is not None:
            kept = (kept[0], from_le_bytes(kept[1]), from_le_bytes(kept[2]))
        if near is not None and near.m is not None and near.step < step:
            if kept is None or near.step > kept[0]:
                kept = (near.step, near.m, near.v)
        if kept is not None and kept[0] >= self.lo:
            j, m0, v0 = kept
            # the steps after j, in order; the last one's gradient is at hand
            later = (grads if i == step else self.replay(i).grads for i in range(j + 1, step + 1))
            m, v = replay_moments(m0, v0, later)
        values = self.weights(step)
        return ParamsFrame(self.model, step, self.shapes, values, m, v, before, grads, tokens)


def step_event(past: PastStep, label: Callable[[int], str], lr: float | None) -> StepRecipe:
    """A replayed step as the recipe shows it: what its live ``step`` event said of it."""
    return StepRecipe(
        step=past.step,
        doc=past.doc,
        tokens=[label(i) for i in past.tokens],
        target_probs=past.target_probs,
        loss=past.loss,
        grad_norm=past.grad_norm,
        lr=lr,
    )
