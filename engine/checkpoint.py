"""Versioned JSON checkpoints: the whole Trainer state, so a resumed run is bit-for-bit the same.

Floats are written with repr (JSON's default), which round-trips every bit.

A checkpoint comes from outside (a file a user uploads), so it is read through one schema,
``validate``, that checks every field's type, shape and range before anything is built from it:
an error names the field (``weights['wte'][3][5]``), the bad value (shortened) and what is
allowed. ``trainer_from_dict`` then builds the Trainer and ``check_runs`` runs it forward once.
"""

import hashlib
import json
import math
import random
import unicodedata

from engine.data import MAX_CHARS, MAX_DOC_CHARS, MAX_DOCS, Tokenizer, load_names, train_count
from engine.errors import EngineError
from engine.errors import short_repr as _show
from engine.gradcheck import unflatten
from engine.model import GPTConfig, param_shapes

FORMAT = "microgpt-live/checkpoint"
VERSION = 1

# What a checkpoint may hold. Generous for anything this engine trains, small enough that no
# value can overflow a forward or backward pass (|w| ≤ 1e6 keeps every activation below ~1e50).
MAX_STEP = 10**9  # steps, Adam's t, a run's start and length
MAX_SEED = 2**63 - 1
LR_RANGE = (0.0, 1.0)  # exclusive, inclusive: as the API's
WEIGHT_BOUND = 1e6
MOMENT_BOUND = 1e12  # |m| ≤ this; 0 ≤ v ≤ this²
CONFIG_LIMITS = {
    "n_embd": (1, 64),
    "n_head": (1, 64),
    "n_layer": (1, 4),
    "block_size": (2, 64),
    "vocab_size": (2, 201),
}
FIELDS = {
    "format",
    "version",
    "config",
    "seed",
    "lr",
    "step",
    "run",
    "chars",
    "dataset",
    "docs",
    "docs_sha256",
    "rng",
    "weights",
    "adam",
}
# Optional: checkpoints written before held-out documents have no n_train (see _check_n_train)
OPTIONAL_FIELDS = {"n_train"}
MT_STATE = 625  # Mersenne Twister: 624 words and an index


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
        "n_train": trainer.n_train,
        "rng": [version, list(internal), gauss_next],
        "weights": trainer.weights(),
        "adam": {"t": trainer.adam.t, "m": trainer.adam.m, "v": trainer.adam.v},
    }


def at_step(d, step, weights, m, v):
    """Checkpoint ``d`` moved to ``step`` of the same model: the weights and Adam moments
    it had there (flat, in ``model.params`` order), Adam's update count as it was, and no run
    planned. The rest (shape, vocabulary, documents in training order, seed) is the model's
    own, so training on from here takes the very steps the model took after ``step``."""
    config = GPTConfig.from_dict(d["config"])
    n = sum(rows * cols for _, rows, cols, _ in param_shapes(config))
    if not isinstance(step, int) or step < 0:
        raise EngineError(f"step must be a whole number from 0, got {step!r}")
    if not len(weights) == len(m) == len(v) == n:
        raise EngineError(f"a model of this shape has {n} parameters, got {len(weights)}")
    t = d["adam"]["t"] - (d["step"] - step)  # one update per step
    return {
        **d,
        "n_train": n_train_of(d),  # the model's split, whatever step the copy is at
        "step": step,
        "run": {"start": step, "steps": 0},
        "weights": unflatten(config, weights),
        "adam": {"t": max(t, 0), "m": list(m), "v": list(v)},
    }


# ---------------------------------------------------------------- the schema


def _bad(field, value, allowed):
    return EngineError(f"invalid checkpoint: {field} = {_show(value)}: {allowed}")


def _require(cond, message):
    if not cond:
        raise EngineError(f"invalid checkpoint: {message}")


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _int(d, key, lo, hi, field=None):
    x = d[key]
    if not (_is_int(x) and lo <= x <= hi):
        raise _bad(field or key, x, f"must be a whole number from {lo} to {hi:,}")
    return x


def _number(x):
    return isinstance(x, float | int) and not isinstance(x, bool)


def _fields(d, field, expected, optional=frozenset()):
    if not isinstance(d, dict):
        raise _bad(field, d, f"must be an object with {', '.join(sorted(expected))}")
    missing, extra = expected - d.keys(), d.keys() - expected - optional
    if missing:
        raise EngineError(f"invalid checkpoint: {field} has no {', '.join(sorted(missing))}")
    if extra:
        names = ", ".join(_show(k, 30) for k in sorted(extra, key=str)[:3])
        raise EngineError(f"invalid checkpoint: {field} has unexpected field(s) {names}")


def _check_header(d):
    _require(isinstance(d, dict), f"expected a JSON object, got {type(d).__name__}")
    _require(d.get("format") == FORMAT, f"format must be {FORMAT!r}, got {_show(d.get('format'))}")
    _require(d.get("version") == VERSION, f"version {_show(d.get('version'))} is not {VERSION}")


def _check_config(raw):
    _fields(raw, "config", set(CONFIG_LIMITS))
    for key, (lo, hi) in CONFIG_LIMITS.items():
        _int(raw, key, lo, hi, f"config.{key}")
    _require(
        raw["n_embd"] % raw["n_head"] == 0,
        f"config.n_embd ({raw['n_embd']}) must be divisible by config.n_head ({raw['n_head']})",
    )
    return GPTConfig(**raw)


def _check_chars(chars, config):
    if not isinstance(chars, str):
        raise _bad("chars", chars, "must be a string of the vocabulary's characters")
    _require(
        0 < len(chars) <= MAX_CHARS,
        f"chars must hold 1 to {MAX_CHARS} characters, got {len(chars)}",
    )
    for i, ch in enumerate(chars):
        if unicodedata.category(ch)[0] in "CZ" and ch != " ":
            raise _bad(f"chars[{i}]", ch, "must be a printable character")
    _require(len(set(chars)) == len(chars), "chars must not repeat a character")
    _require(
        len(chars) + 1 == config.vocab_size,
        f"chars do not match vocab_size: {len(chars)} characters + [BOS] ≠ {config.vocab_size}",
    )
    return Tokenizer(chars)


def _check_numbers(field, xs, n, bound, lo=None):
    """A list of n finite numbers, each within ±bound (or [lo, bound])."""
    if not (isinstance(xs, list) and len(xs) == n):
        raise _bad(field, xs, f"must be a list of {n} numbers")
    for i, x in enumerate(xs):
        if not (_number(x) and math.isfinite(x) and abs(x) <= bound and (lo is None or x >= lo)):
            if lo is None:
                raise _bad(f"{field}[{i}]", x, f"must be a finite number with |x| ≤ {bound:g}")
            raise _bad(f"{field}[{i}]", x, f"must be a finite number from {lo:g} to {bound:g}")


def _check_matrix(field, w, rows, cols, bound):
    if not (isinstance(w, list) and len(w) == rows):
        raise _bad(field, w, f"must be {rows}x{cols} numbers")
    for i, row in enumerate(w):
        _check_numbers(f"{field}[{i}]", row, cols, bound)


def _check_weights(weights, config):
    shapes = param_shapes(config)
    _fields(weights, "weights", {name for name, *_ in shapes})
    for name, rows, cols, _ in shapes:
        _check_matrix(f"weights[{name!r}]", weights[name], rows, cols, WEIGHT_BOUND)
    return {name: weights[name] for name, *_ in shapes}


def _check_adam(adam, n):
    _fields(adam, "adam", {"t", "m", "v"})
    _int(adam, "t", 0, MAX_STEP, "adam.t")
    _check_numbers("adam.m", adam["m"], n, MOMENT_BOUND)
    _check_numbers("adam.v", adam["v"], n, MOMENT_BOUND**2, lo=0.0)


def _check_docs(d, tokenizer):
    dataset = d["dataset"]
    if dataset == "names":
        _require(d["docs"] is None, "docs must be null for the shipped names dataset")
        docs = load_names()
        random.Random(d["seed"]).shuffle(docs)
    elif dataset == "custom":
        docs = d["docs"]
        if not isinstance(docs, list):
            raise _bad("docs", docs, "must be a list of documents (strings)")
        n = len(docs)
        _require(0 < n <= MAX_DOCS, f"docs must hold 1 to {MAX_DOCS:,} documents, got {n}")
        allowed = set(tokenizer.chars)
        for i, doc in enumerate(docs):
            if not (isinstance(doc, str) and 0 < len(doc) <= MAX_DOC_CHARS and doc == doc.strip()):
                raise _bad(
                    f"docs[{i}]",
                    doc,
                    f"must be a non-empty string of at most {MAX_DOC_CHARS:,} characters, "
                    "without leading or trailing spaces",
                )
            if not allowed.issuperset(doc):
                ch = next(c for c in doc if c not in allowed)
                raise _bad(f"docs[{i}]", doc, f"holds {ch!r}, which is not in chars")
        docs = list(docs)
    else:
        raise _bad("dataset", dataset, "must be 'names' or 'custom'")
    digest = d["docs_sha256"]
    if not isinstance(digest, str):
        raise _bad("docs_sha256", digest, "must be the hex SHA-256 of the documents")
    _require(_docs_digest(docs) == digest, "dataset does not match its digest (docs_sha256)")
    return docs


def n_train_of(d, n=None):
    """How many of a checkpoint's documents (in training order) it trains on. One written
    before documents were held out has no ``n_train``: it trained on all n, which is the same
    as training on the first ``train_count(n)`` for as long as it has not gone past them; so it
    takes the split if its step has not, and keeps all n if it has (its past steps stay
    what they were, and it has no held-out documents)."""
    if "n_train" in d:
        return d["n_train"]
    if n is None:
        n = len(d["docs"]) if d.get("docs") is not None else len(load_names())
    split = train_count(n)
    return split if d["step"] <= split else n


def _check_n_train(d, n):
    if "n_train" not in d:
        return n_train_of(d, n)
    n_train = d["n_train"]
    if not (_is_int(n_train) and n_train in (train_count(n), n)):
        allowed = (
            f"must be {train_count(n):,} (the documents trained on: the last tenth is held out)"
        )
        if train_count(n) != n:
            allowed += f" or {n:,} (all of them: a model made before documents were held out)"
        raise _bad("n_train", n_train, allowed)
    return n_train


def _check_rng(rng):
    if not (isinstance(rng, list) and len(rng) == 3):
        raise _bad("rng", rng, "must be [version, state, gauss_next] of Python's random")
    version, internal, gauss_next = rng
    _require(version == 3, f"rng[0] must be 3 (the state's version), got {_show(version)}")
    if not (isinstance(internal, list) and len(internal) == MT_STATE):
        raise _bad("rng[1]", internal, f"must be {MT_STATE} whole numbers")
    for i, x in enumerate(internal):
        hi = MT_STATE - 1 if i == MT_STATE - 1 else 2**32 - 1
        if not (_is_int(x) and 0 <= x <= hi):
            raise _bad(f"rng[1][{i}]", x, f"must be a whole number from 0 to {hi:,}")
    if gauss_next is not None and not (_number(gauss_next) and math.isfinite(gauss_next)):
        raise _bad("rng[2]", gauss_next, "must be null or a finite number")
    state = random.Random()
    state.setstate((version, tuple(internal), gauss_next))
    return state


def validate(d):
    """Every field of a checkpoint dict, checked; returns the parts ``Trainer.restore`` takes."""
    return _validate(d, full=True)


def _validate(d, full):
    """``full``: the whole training state; else only what inference needs, as
    (config, tokenizer, weights)."""
    _check_header(d)
    _fields(d, "the checkpoint", FIELDS, OPTIONAL_FIELDS)
    config = _check_config(d["config"])
    tokenizer = _check_chars(d["chars"], config)
    weights = _check_weights(d["weights"], config)
    if not full:
        return config, tokenizer, weights
    seed = _int(d, "seed", 0, MAX_SEED)
    lr = d["lr"]
    if not (_number(lr) and math.isfinite(lr) and LR_RANGE[0] < lr <= LR_RANGE[1]):
        raise _bad("lr", lr, f"must be a learning rate in ({LR_RANGE[0]:g}, {LR_RANGE[1]:g}]")
    step = _int(d, "step", 0, MAX_STEP)
    run = d["run"]
    _fields(run, "run", {"start", "steps"})
    start = _int(run, "start", 0, step, "run.start")
    steps = _int(run, "steps", 0, MAX_STEP, "run.steps")
    _require(start + steps >= step, f"run ended (step {start + steps}) before step {step}")
    docs = _check_docs(d, tokenizer)
    n_train = _check_n_train(d, len(docs))
    rng = _check_rng(d["rng"])
    _check_adam(d["adam"], sum(r * c for _, r, c, _ in param_shapes(config)))
    return {
        "config": config,
        "tokenizer": tokenizer,
        "weights": weights,
        "seed": seed,
        "lr": float(lr),
        "step": step,
        "run": (start, steps),
        "dataset": d["dataset"],
        "docs": docs,
        "n_train": n_train,
        "rng": rng,
        "adam": (d["adam"]["t"], list(d["adam"]["m"]), list(d["adam"]["v"])),
    }


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
    from engine.infer import Predictor

    return Predictor(*_validate(d, full=False))


@_guarded
def trainer_from_dict(d):
    from engine.train import Trainer

    return Trainer.restore(**_validate(d, full=True))


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
