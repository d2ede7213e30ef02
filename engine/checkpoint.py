"""Versioned JSON checkpoints: the whole Trainer state, so a resumed run is bit-for-bit the same.

Floats are written with repr (JSON's default), which round-trips every bit. Reading goes
through the schema (engine.checkpoint_schema) first; ``check_runs`` then runs the model
forward once.
"""

import json
import math

from engine.checkpoint_schema import (
    FORMAT,
    VERSION,
    docs_digest,
    n_train_of,
    validate,
    validate_model,
)
from engine.errors import EngineError
from engine.errors import short_repr as _show
from engine.gradcheck import unflatten
from engine.infer import Predictor
from engine.model import GPTConfig, num_params, param_shapes
from engine.train import Trainer

STATE_APART = "kept"  # adam.m and adam.v of a checkpoint whose state travels apart


def trainer_to_dict(trainer, state=True):
    """The trainer as a checkpoint dict. ``state=False``: without its state, which travels
    apart as flat arrays (``Trainer.flat_state``: ~95 % of the text, written and parsed as
    JSON for nothing when the arrays are at hand): each matrix's weights as its [rows, cols],
    Adam's m and v as ``STATE_APART``; ``with_state`` puts them back (the same dict)."""
    version, internal, gauss_next = trainer.rng.getstate()
    if state:
        weights, m, v = trainer.weights(), trainer.adam.m, trainer.adam.v
    else:
        weights = {name: [rows, cols] for name, rows, cols, _ in param_shapes(trainer.config)}
        m = v = STATE_APART
    return {
        "format": FORMAT,
        "version": VERSION,
        "config": trainer.config.to_dict(),
        "seed": trainer.seed,
        "lr": trainer.lr,
        "step": trainer.step,
        "run": {"start": trainer.run_start, "steps": trainer.run_steps},
        "chars": "".join(trainer.tokenizer.chars),
        "dataset": trainer.dataset,
        # The shipped names are re-read and re-shuffled on load (checked by digest);
        # any other dataset travels inside the checkpoint, already in training order.
        "docs": None if trainer.dataset == "names" else trainer.docs,
        "docs_sha256": docs_digest(trainer.docs),
        "n_train": trainer.n_train,
        "rng": [version, list(internal), gauss_next],
        "weights": weights,
        "adam": {"t": trainer.adam.t, "m": m, "v": v},
    }


def with_state(d, weights, m, v):
    """A checkpoint dict written without its state (``trainer_to_dict(..., state=False)``),
    with it: the weights (flat, in parameter order) and Adam's m and v."""
    config = GPTConfig.from_dict(d["config"])
    adam = {**d["adam"], "m": list(m), "v": list(v)}
    return {**d, "weights": unflatten(config, weights), "adam": adam}


def at_step(d, step, weights, m, v):
    """Checkpoint ``d`` moved to ``step`` of the same model: the weights and Adam moments
    it had there (flat, in ``model.params`` order), Adam's update count as it was, and no run
    planned. The rest (shape, vocabulary, documents in training order, seed) is the model's
    own, so training on from here takes the very steps the model took after ``step``."""
    config = GPTConfig.from_dict(d["config"])
    n = num_params(config)
    if not isinstance(step, int) or step < 0:
        raise EngineError(f"step must be a whole number from 0, got {step!r}")
    if not len(weights) == len(m) == len(v) == n:
        raise EngineError(f"a model of this shape has {n} parameters, got {len(weights)}")
    t = d["adam"]["t"] - (d["step"] - step)  # one update per step
    moved = {
        **d,
        "n_train": n_train_of(d),  # the model's split, whatever step the copy is at
        "step": step,
        "run": {"start": step, "steps": 0},
        "adam": {**d["adam"], "t": max(t, 0)},
    }
    return with_state(moved, weights, m, v)


def _guarded(load):
    """Any error the schema did not foresee is still the file's fault: one clear EngineError."""

    def wrapper(d):
        try:
            return load(d)
        except EngineError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, RecursionError) as e:
            raise EngineError(f"invalid checkpoint: {type(e).__name__}: {_show(str(e))}") from None

    return wrapper


@_guarded
def predictor_from_dict(d):
    """Just the model of a checkpoint, for inference (no dataset, no optimiser state)."""
    return Predictor(*validate_model(d))


@_guarded
def trainer_from_dict(d):
    return Trainer(state=validate(d))


def check_runs(trainer):
    """Run the model forward once over its first document: every logit must be finite.

    The schema's bounds make this hold for any checkpoint it accepts; this proves it for the
    one at hand before it replaces a model.
    """
    predictor = trainer.predictor()
    doc = trainer.docs[trainer.step % trainer.n_train]
    ids = trainer.tokenizer.tokens(doc)[: trainer.config.block_size]
    logits, _ = predictor.forward(ids)
    if not all(math.isfinite(x) for row in logits for x in row):
        raise EngineError("invalid checkpoint: the model's outputs are not finite numbers")


def save(trainer, path):
    try:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(trainer_to_dict(trainer), f, allow_nan=False)
    except OSError as e:
        raise EngineError(f"cannot write checkpoint {path}: {e}") from None


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
    except OSError as e:
        raise EngineError(f"cannot read checkpoint {path}: {e.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise EngineError(f"checkpoint {path} is not valid JSON: {e}") from None
    except RecursionError:
        raise EngineError(f"checkpoint {path} is not valid: JSON nested too deeply") from None
    return trainer_from_dict(d)
