"""Gradient check: a parameter's derivative by finite differences, on plain floats.

The loss is training's own (engine.forward.sequence_loss) evaluated on floats: the mean over
positions of log Σ exp(l − max) − (l_target − max). Nudging one weight by ±h and differencing
the two losses gives d loss / d w to O(h²), independently of the autograd graph.
"""

from engine.errors import EngineError
from engine.forward import FloatOps, sequence_loss
from engine.model import param_shapes

MAX_H = 1e-2


def unflatten(config, flat):
    """Flat values in parameter order (``model.params``) as weights {name: rows}."""
    weights, i = {}, 0
    for name, rows, cols, _ in param_shapes(config):
        weights[name] = [list(flat[i + r * cols : i + (r + 1) * cols]) for r in range(rows)]
        i += rows * cols
    return weights


def doc_loss(config, weights, tokens):
    """Training's loss of one document (token ids, BOS ... BOS) at ``weights`` {name: rows}."""
    return sequence_loss(FloatOps(weights), config, tokens)[0]


def nudged(weights, name, row, col, delta):
    """A copy of ``weights`` with only weights[name][row][col] moved by delta (others shared)."""
    rows = [list(r) for r in weights[name]]
    rows[row][col] += delta
    return {**weights, name: rows}


def numeric_grad(config, weights, tokens, name, row, col, h=1e-5):
    """(loss(w + h) − loss(w − h)) / 2h for the one weight weights[name][row][col]."""
    if name not in weights:
        raise EngineError(f"no parameter matrix {name!r}; one of {', '.join(weights)}")
    rows, cols = len(weights[name]), len(weights[name][0])
    if not (isinstance(row, int) and 0 <= row < rows):
        raise EngineError(f"row must be 0..{rows - 1} for {name} ({rows}x{cols}), got {row!r}")
    if not (isinstance(col, int) and 0 <= col < cols):
        raise EngineError(f"col must be 0..{cols - 1} for {name} ({rows}x{cols}), got {col!r}")
    if not (isinstance(h, int | float) and 0 < h <= MAX_H):
        raise EngineError(f"h must be in (0, {MAX_H:g}], got {h!r}")
    up = doc_loss(config, nudged(weights, name, row, col, h), tokens)
    down = doc_loss(config, nudged(weights, name, row, col, -h), tokens)
    return (up - down) / (2 * h)
