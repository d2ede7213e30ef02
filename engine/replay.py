"""A past step recomputed from the weights before it, bit for bit what training computed.

Training is deterministic: step k reads ``docs[(k − 1) mod n]`` of its n training documents
(the shuffled list without the held-out ones) and takes its gradient at the
weights step k − 1 left. Given those weights, one forward and
backward pass with training's own code (the compiled step, engine.compiled) gives the step's
loss, p(target) at each position and gradient. Adam's m and v depend on every gradient before
them: from m and v kept at an earlier step j, folding in the gradients of steps j+1 … k gives
them at k (``replay_moments``). From the whole state (weights, m, v) after step k − 1 and the
learning rates of the steps after it, ``replay_training`` takes them as training did.
"""

import math
from array import array
from dataclasses import dataclass

from engine.compiled import loss_and_grads
from engine.floats import doubles
from engine.optim import Adam


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
    doc = step_doc(docs, step)
    tokens = tokenizer.tokens(doc)
    loss, target_probs, grads = loss_and_grads(config, list(before), tokens)
    grad_norm = math.sqrt(sum([g * g for g in grads]))  # as Adam computes it
    return PastStep(step, doc, tokens, loss, target_probs, doubles(grads), grad_norm)


def replay_training(config, tokenizer, docs, state, first, lrs, t):
    """Steps ``first``, ``first`` + 1, … trained again, one per learning rate in ``lrs``, from
    ``state`` = (weights, m, v) after step ``first`` − 1, flat in parameter order, with Adam's
    ``t`` updates done. Yields each step (as ``replay_step``) and the state after its update,
    bit for bit training's: the compiled step and Adam's update, as Trainer.train_step does."""
    weights, m, v = state
    values = list(weights)
    adam = Adam(values, t, list(m), list(v))
    for step, lr in enumerate(lrs, first):
        doc = step_doc(docs, step)
        tokens = tokenizer.tokens(doc)
        loss, target_probs, grads = loss_and_grads(config, values, tokens)
        values, grad_norm = adam.update(values, grads, lr)
        past = PastStep(step, doc, tokens, loss, target_probs, doubles(grads), grad_norm)
        yield past, (doubles(values), doubles(adam.m), doubles(adam.v))


def replay_moments(m, v, grads_per_step):
    """Adam's m and v after folding in each step's gradient, in order (as training did)."""
    adam = Adam(())
    m, v = list(m), list(v)
    for grads in grads_per_step:
        m, v = adam.moments(m, v, grads)
    return doubles(m), doubles(v)
