"""A past step recomputed from the weights before it, bit for bit what training computed.

Training is deterministic: step k reads ``docs[(k − 1) mod n]`` of its n training documents
(the shuffled list without the held-out ones) and takes its gradient at the
weights step k − 1 left. Given those weights, one forward and
backward pass with training's own code (``engine.train.forward_backward``) gives the step's
loss, p(target) at each position and gradient. Adam's m and v depend on every gradient before
them: from m and v kept at an earlier step j, folding in the gradients of steps j+1 … k gives
them at k (``replay_moments``). From the whole state (weights, m, v) after step k − 1 and the
learning rates of the steps after it, ``replay_training`` takes them as training did.
"""

import math
from array import array
from dataclasses import dataclass

from engine.gradcheck import unflatten
from engine.model import GPT
from engine.optim import Adam
from engine.train import forward_backward


@dataclass(frozen=True)
class PastStep:
    step: int  # global step, 1-based
    doc: str  # the document it read
    tokens: list  # its token ids, BOS ... BOS
    loss: float  # mean −log p(target), before the update
    target_probs: list  # p(correct next token) at each position
    grads: array  # array('d'), d loss / d weight at the weights before the step
    grad_norm: float  # L2 norm of grads, as Adam computes it


def step_doc(docs, step):
    """The document step ``step`` (1-based) trains on; ``docs``: the training documents."""
    return docs[(step - 1) % len(docs)]


def replay_step(config, tokenizer, docs, before, step):
    """Step ``step`` again from ``before``, the flat weights (parameter order) it started from."""
    model = GPT(config, unflatten(config, before))
    doc = step_doc(docs, step)
    tokens = tokenizer.tokens(doc)
    loss, target_probs = forward_backward(model, tokens)
    grads = [p.grad for p in model.params]
    grad_norm = math.sqrt(sum([g * g for g in grads]))
    return PastStep(step, doc, tokens, loss.data, target_probs, array("d", grads), grad_norm)


def replay_training(config, tokenizer, docs, state, first, lrs, t):
    """Steps ``first``, ``first`` + 1, … trained again, one per learning rate in ``lrs``, from
    ``state`` = (weights, m, v) after step ``first`` − 1, flat in parameter order, with Adam's
    ``t`` updates done. Yields each step (as ``replay_step``) and the state after its update,
    bit for bit training's: one model and one Adam carried from step to step, as a Trainer."""
    weights, m, v = state
    model = GPT(config, unflatten(config, weights))
    adam = Adam(model.params, t, list(m), list(v))
    for step, lr in enumerate(lrs, first):
        doc = step_doc(docs, step)
        tokens = tokenizer.tokens(doc)
        loss, target_probs = forward_backward(model, tokens)
        grads = array("d", [p.grad for p in model.params])
        grad_norm = adam.step(lr)
        past = PastStep(step, doc, tokens, loss.data, target_probs, grads, grad_norm)
        yield (
            past,
            (array("d", [p.data for p in model.params]), array("d", adam.m), array("d", adam.v)),
        )


def replay_moments(m, v, grads_per_step):
    """Adam's m and v after folding in each step's gradient, in order (as training did)."""
    adam = Adam(())
    m, v = list(m), list(v)
    for grads in grads_per_step:
        m, v = adam.moments(m, v, grads)
    return array("d", m), array("d", v)
