"""The forward pass's operations on plain floats: what inference computes. Autograd's softmax
and cross-entropy nodes take their values from here; its dot products add as these do.

Sums run left to right from 0 (``sum``), as the textbook graph adds: float addition is not
associative, and training, inference and replay agree to the bit only if they add alike.
"""

import math
import struct
from array import array
from operator import mul


def dot(a, b):
    """Σ a_i·b_i."""
    return sum(map(mul, a, b))


def dots(a, bs, scale=None):
    """dot(a, b, scale) for each b in bs."""
    if scale is None:
        return [sum(map(mul, a, b)) for b in bs]
    return [sum(map(mul, a, b)) * scale for b in bs]


def relu_squared(xs):
    """relu(x)², the MLP's activation, of each x."""
    return [max(0.0, x) ** 2 for x in xs]


def softmax(logits):
    """exp(l_i − max) / Σ exp(l_j − max): probabilities that sum to 1, without overflow."""
    max_val = max(logits)
    exps = [math.exp(v - max_val) for v in logits]
    inv_total = sum(exps) ** -1
    return [e * inv_total for e in exps]


def cross_entropy(logits, target):
    """−log softmax(logits)[target], and softmax(logits).

    Computed as log-softmax, log Σ exp(l_j − max) − (l_target − max), which never takes the log
    of 0: a probability that underflows to 0 (a confident wrong guess at a high learning rate)
    gives a large finite loss instead of a math domain error. It differs from the textbook's
    −log(p_target) only in the last bits.
    """
    max_val = max(logits)
    exps = [math.exp(v - max_val) for v in logits]
    total_exp = sum(exps)
    inv_total = total_exp**-1
    loss = math.log(total_exp) - (logits[target] - max_val)
    return loss, [e * inv_total for e in exps]


def doubles(xs):
    """``array("d", xs)`` for a list of floats, ~3x faster (one C call packs them all)."""
    return array("d", struct.pack(f"{len(xs)}d", *xs))
