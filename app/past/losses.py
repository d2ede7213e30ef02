"""A model's loss curve as it grows: each step's loss and its running average, the held-out
losses, each matrix's health, and the rows not yet stored (they go with the next checkpoint).
"""

from array import array

from app.contract.events import StepEvent
from app.past.frames import to_le_bytes
from app.store import HistoryRow

EMA_BETA = 0.9  # smoothed loss: m = 0.9 m + 0.1 loss, shown as m / (1 - 0.9^k)


class Losses:
    def __init__(self) -> None:
        self.history: list[tuple[int, float, float]] = []  # (step, loss, smooth)
        # (step, loss on the held-out sample) every few steps (the worker's ``val`` messages)
        self.validation: list[tuple[int, float]] = []
        # per step this process saw: each matrix's gradient norm and update ratio, in engine
        # order (not stored: a restart or another model starts these lines afresh)
        self.health: list[tuple[int, tuple[float, ...], tuple[float, ...]]] = []
        self.pending: list[HistoryRow] = []  # history not yet in a checkpoint transaction
        self.pending_val: list[tuple[int, float]] = []  # and held-out losses
        self._ema_m, self._ema_k = 0.0, 0

    def rewind(
        self,
        step: int,
        history: list[tuple[int, float, float]],
        validation: list[tuple[int, float]] | None = None,
    ) -> None:
        """As of the checkpoint at ``step``: ``history`` up to it, the held-out losses
        (``validation``, if not the current ones) and the health lines up to it."""
        self.history = history
        validation = self.validation if validation is None else validation
        self.validation = [v for v in validation if v[0] <= step]
        self.health = [h for h in self.health if h[0] <= step]
        self.pending, self.pending_val = [], []
        self._ema_k = len(history)
        last = history[-1][2] if history else 0.0
        self._ema_m = last * (1 - EMA_BETA**self._ema_k)

    def forget_health(self) -> None:
        self.health = []

    def add_step(
        self, event: StepEvent, segment: int | None, weights: array, probes: dict[str, array]
    ) -> float:
        """One step: its loss, running average (returned), health, and the row to store."""
        loss = event.loss
        self._ema_k += 1
        self._ema_m = EMA_BETA * self._ema_m + (1 - EMA_BETA) * loss
        smooth = self._ema_m / (1 - EMA_BETA**self._ema_k)
        self.history.append((event.step, loss, smooth))
        if event.health:
            grads = tuple(h.grad_norm for h in event.health)
            self.health.append((event.step, grads, tuple(h.update_ratio for h in event.health)))
        self.pending.append(
            HistoryRow(
                event.step,
                segment,
                loss,
                smooth,
                event.lr,
                to_le_bytes(weights),
                {prefix: to_le_bytes(probs) for prefix, probs in probes.items()},
            )
        )
        return smooth

    def add_validation(self, step: int, loss: float) -> None:
        # a new segment measures where it starts, which the last one may have measured too
        if self.validation and self.validation[-1][0] >= step:
            self.validation = [v for v in self.validation if v[0] < step]
        self.validation.append((step, loss))
        self.pending_val.append((step, loss))

    def unsaved(self, step: int) -> tuple[list[HistoryRow], list[tuple[int, float]]]:
        """The rows and held-out losses a checkpoint at ``step`` stores with it."""
        return (
            [h for h in self.pending if h.step <= step],
            [v for v in self.pending_val if v[0] <= step],
        )

    def saved(self, step: int) -> None:
        """The checkpoint at ``step`` is stored, and its rows with it (only then: if the write
        fails, the next checkpoint carries them too)."""
        self.pending = [h for h in self.pending if h.step > step]
        self.pending_val = [v for v in self.pending_val if v[0] > step]

    def pending_weights(self) -> dict[int, bytes]:
        """Step -> weights of the steps not stored yet (time travel reads them here)."""
        return {h.step: h.weights for h in self.pending if h.weights is not None}

    def pending_lrs(self) -> dict[int, float]:
        """Step -> learning rate of the steps not stored yet (a replay reads them here)."""
        return {h.step: h.lr for h in self.pending}

    def pending_lr(self, step: int) -> float | None:
        return next((h.lr for h in self.pending if h.step == step), None)
