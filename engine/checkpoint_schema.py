"""The checkpoint schema: every field of a checkpoint dict checked before anything is built.

A checkpoint comes from outside (a file a user uploads), so it is read through one schema,
``validate``, that checks every field's type, shape and range: an error names the field
(``weights['wte'][3][5]``), the bad value (shortened) and what is allowed. What it returns is
a TrainingState (engine.state), which the Trainer is built from.
"""

import hashlib
import math
import random
import unicodedata

from engine.data import (
    MAX_CHARS,
    MAX_DOC_CHARS,
    MAX_DOCS,
    Tokenizer,
    load_names,
    names_in_order,
    train_count,
)
from engine.errors import EngineError
from engine.errors import short_repr as _show
from engine.model import GPTConfig, num_params, param_shapes
from engine.state import TrainingState

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


def docs_digest(docs):
    """The SHA-256 a checkpoint names its documents (in training order) by."""
    return hashlib.sha256("\n".join(docs).encode()).hexdigest()


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
        docs = list(names_in_order(d["seed"])[0])
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
    _require(docs_digest(docs) == digest, "dataset does not match its digest (docs_sha256)")
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


def validate_model(d):
    """The model of a checkpoint dict, checked: (config, tokenizer, weights), what inference
    needs (no dataset, no optimiser state)."""
    _check_header(d)
    _fields(d, "the checkpoint", FIELDS, OPTIONAL_FIELDS)
    config = _check_config(d["config"])
    tokenizer = _check_chars(d["chars"], config)
    return config, tokenizer, _check_weights(d["weights"], config)


def validate(d):
    """Every field of a checkpoint dict, checked: the TrainingState it describes."""
    config, tokenizer, weights = validate_model(d)
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
    _check_adam(d["adam"], num_params(config))
    adam = d["adam"]
    return TrainingState(
        config,
        tokenizer,
        weights,
        seed,
        float(lr),
        d["dataset"],
        docs,
        n_train,
        rng,
        step=step,
        run=(start, steps),
        adam_t=adam["t"],
        adam_m=list(adam["m"]),
        adam_v=list(adam["v"]),
    )
