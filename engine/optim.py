"""Adam with bias correction, and the cosine learning-rate schedule."""

import math

from engine.errors import EngineError


def get_lr(lr, run_step, run_steps):
    """Cosine decay from lr to 0 over a run: lr · ½(1 + cos(π · step / steps))."""
    return lr * 0.5 * (1 + math.cos(math.pi * run_step / run_steps))


class Adam:
    def __init__(self, params, t=0, m=None, v=None, beta1=0.9, beta2=0.95, eps=1e-8):
        """Adam over params, fresh or (t, m, v given) as it was after t updates. ``params``: the
        Values step() updates, or the flat weights (only their number matters) for update()."""
        self.params = params
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m = [0.0] * len(params) if m is None else m  # first moment (mean of gradients)
        self.v = [0.0] * len(params) if v is None else v  # second moment (of squared gradients)
        if not len(self.m) == len(self.v) == len(params):
            raise EngineError(f"Adam needs one m and one v per parameter ({len(params)})")
        self.t = t  # updates done: bias correction uses t + 1

    def moments(self, m, v, grads):
        """m and v after one more gradient: exponential moving averages of g and g²."""
        b1, b2 = self.beta1, self.beta2
        c1, c2 = 1 - b1, 1 - b2
        m = [b1 * mi + c1 * g for mi, g in zip(m, grads, strict=True)]
        v = [b2 * vi + c2 * g**2 for vi, g in zip(v, grads, strict=True)]
        return m, v

    def update(self, values, grads, lr_t):
        """One update of the flat weights ``values`` (any sequence) by their gradients: returns
        (the new weights as a list, the gradient norm), and m, v and t move on.

        The arithmetic is the original's, operation for operation, so runs match it to the bit.
        A non-finite gradient norm changes nothing and returns None: the caller decides.
        """
        b1, b2, eps = self.beta1, self.beta2, self.eps
        bc1, bc2 = 1 - b1 ** (self.t + 1), 1 - b2 ** (self.t + 1)
        grad_norm = math.sqrt(sum([g * g for g in grads]))
        if not math.isfinite(grad_norm):
            return None  # nan, or a gradient so large its square overflows
        self.m, self.v = m, v = self.moments(self.m, self.v, grads)
        values = [
            p - lr_t * (mi / bc1) / ((vi / bc2) ** 0.5 + eps)
            for p, mi, vi in zip(values, m, v, strict=True)
        ]
        self.t += 1
        return values, grad_norm

    def step(self, lr_t):
        """update() of the Values in ``params`` (their data, by their grad), then their
        gradients reset to 0. Returns the gradient norm, or None as update() does."""
        params = self.params
        result = self.update([p.data for p in params], [p.grad for p in params], lr_t)
        if result is None:
            return None
        for p, value in zip(params, result[0], strict=True):
            p.data = value
            p.grad = 0.0
        return result[1]
