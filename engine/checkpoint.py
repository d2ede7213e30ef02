"""Versioned JSON checkpoints: the whole Trainer state, so a resumed run is bit-for-bit the same.

Floats are written with repr (JSON's default), which round-trips every bit.
"""

import hashlib
import json
import random

from engine.data import Tokenizer, load_names
from engine.errors import EngineError
from engine.model import GPT, GPTConfig, param_shapes
from engine.optim import Adam

FORMAT = "microgpt-live/checkpoint"
VERSION = 1


def _docs_digest(docs):
    return hashlib.sha256("\n".join(docs).encode()).hexdigest()


def trainer_to_dict(trainer):
    version, internal, gauss_next = trainer.rng.getstate()
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
        "docs_sha256": _docs_digest(trainer.docs),
        "rng": [version, list(internal), gauss_next],
        "weights": trainer.weights(),
        "adam": {"t": trainer.adam.t, "m": trainer.adam.m, "v": trainer.adam.v},
    }


def _require(cond, message):
    if not cond:
        raise EngineError(f"invalid checkpoint: {message}")


def _is_number(x):
    return isinstance(x, int | float) and not isinstance(x, bool)


def _check_header(d):
    _require(isinstance(d, dict), "expected a JSON object")
    _require(d.get("format") == FORMAT, f"format must be {FORMAT!r}, got {d.get('format')!r}")
    _require(d.get("version") == VERSION, f"version {d.get('version')!r} is not {VERSION}")


def _model_parts(d):
    """The config, tokenizer and weights of a checkpoint, checked against each other."""
    config = GPTConfig.from_dict(d["config"])
    tokenizer = Tokenizer(d["chars"])
    _require(tokenizer.vocab_size == config.vocab_size, "chars do not match vocab_size")
    weights = d["weights"]
    _require(isinstance(weights, dict), "weights must be an object")
    for name, rows, cols, _ in param_shapes(config):
        w = weights.get(name)
        _require(
            isinstance(w, list)
            and len(w) == rows
            and all(isinstance(r, list) and len(r) == cols for r in w),
            f"weights {name!r} must be {rows}x{cols}",
        )
        _require(all(_is_number(x) for r in w for x in r), f"weights {name!r}: not numbers")
    _require(set(weights) == {s[0] for s in param_shapes(config)}, "unexpected weights")
    return config, tokenizer, {name: weights[name] for name, *_ in param_shapes(config)}


def _guarded(load):
    """Turn any malformed-structure error into one clear EngineError."""

    def wrapper(d):
        try:
            return load(d)
        except EngineError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
            raise EngineError(f"invalid checkpoint: {type(e).__name__}: {e}") from None

    return wrapper


@_guarded
def predictor_from_dict(d):
    """Just the model of a checkpoint, for inference (no dataset, no optimiser state)."""
    from engine.infer import Predictor

    _check_header(d)
    return Predictor(*_model_parts(d))


@_guarded
def trainer_from_dict(d):
    from engine.train import Trainer

    _check_header(d)
    config, tokenizer, weights = _model_parts(d)
    if d["dataset"] == "names":
        docs = load_names()
        random.Random(d["seed"]).shuffle(docs)
    else:
        docs = list(d["docs"])
    _require(_docs_digest(docs) == d["docs_sha256"], "dataset does not match its digest")

    trainer = Trainer.__new__(Trainer)
    trainer.dataset = d["dataset"]
    trainer.tokenizer, trainer.config = tokenizer, config
    trainer.seed, trainer.lr = d["seed"], float(d["lr"])
    trainer.docs = docs
    version, internal, gauss_next = d["rng"]
    trainer.rng = random.Random()
    trainer.rng.setstate((version, tuple(internal), gauss_next))
    trainer.model = GPT(config, weights)
    n = len(trainer.model.params)
    adam = d["adam"]
    _require(len(adam["m"]) == n and len(adam["v"]) == n, f"Adam moments must have {n}")
    trainer.adam = Adam(trainer.model.params)
    trainer.adam.t, trainer.adam.m, trainer.adam.v = adam["t"], list(adam["m"]), list(adam["v"])
    trainer.step = d["step"]
    trainer.run_start, trainer.run_steps = d["run"]["start"], d["run"]["steps"]
    _require(all(_is_number(x) for x in (trainer.step, trainer.adam.t)), "bad step")
    _require(0 <= trainer.run_start <= trainer.step, "run start after the current step")
    _require(trainer.run_remaining >= 0, "run ended before the current step")
    return trainer


def save(trainer, path):
    try:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(trainer_to_dict(trainer), f)
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
    return trainer_from_dict(d)
