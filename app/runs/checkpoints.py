"""A stored or uploaded checkpoint, checked and parsed: the model, its dataset, its documents."""

import json
import logging
from dataclasses import dataclass
from functools import cache
from typing import Any

from app.runs.errors import BadInput
from engine import EngineError, Predictor, Trainer, load_names
from engine.checkpoint import check_runs, n_train_of
from engine.data import names_in_order

log = logging.getLogger(__name__)


@cache
def shipped_names() -> tuple[frozenset[str], int]:
    """The shipped names dataset as a set (for membership) and its number of documents."""
    names = load_names()
    return frozenset(names), len(names)


def validate_checkpoint(raw: bytes) -> tuple[str, int]:
    """The uploaded bytes as a normalized checkpoint and its step, or BadInput naming what is
    wrong. Every field is checked by the engine's schema, then the model is built and run
    forward once: what passes here can be stored, loaded, trained and asked."""
    try:
        d = json.loads(raw.decode("utf-8-sig"))  # not json's guess at UTF-16/32
    except UnicodeDecodeError as e:
        raise BadInput(f"the checkpoint is not UTF-8 text: {e.reason} at byte {e.start}") from None
    except ValueError as e:  # JSONDecodeError, or an integer of thousands of digits
        raise BadInput(f"the checkpoint is not valid JSON: {e}") from None
    except RecursionError:
        raise BadInput("the checkpoint is not valid: its JSON is nested too deeply") from None
    try:
        trainer = Trainer.from_dict(d)
        check_runs(trainer)
        d = trainer.to_dict()
        return json.dumps(d, allow_nan=False), d["step"]
    except EngineError as e:
        raise BadInput(str(e)) from None
    except Exception as e:  # a shape the schema did not foresee: still the upload's fault
        log.warning("checkpoint refused by an unforeseen %s: %s", type(e).__name__, e)
        raise BadInput(f"invalid checkpoint ({type(e).__name__})") from None


@dataclass(frozen=True)
class LoadedModel:
    """A stored checkpoint, parsed: what the service shows and answers from."""

    d: dict[str, Any]
    predictor: Predictor
    dataset: str  # "names" or "custom"
    documents: frozenset[str]
    num_docs: int
    # the training documents in training order (step k reads docs[(k - 1) % n]); the other
    # num_docs - len(docs) are held out
    docs: tuple[str, ...]


def parse_checkpoint(data: str) -> LoadedModel:
    """A stored checkpoint's dict, model and dataset (~10 ms: run it off the event loop)."""
    d = json.loads(data)
    return loaded_model(d, Predictor.from_dict(d))


def loaded_model(d: dict[str, Any], predictor: Predictor) -> LoadedModel:
    """A checkpoint's dict (validated) and its model, with its dataset."""
    if d.get("dataset", "names") == "names":
        documents, num_docs = shipped_names()
        docs = names_in_order(d["seed"])[0]  # the engine's, shuffled once for a few seeds
    else:
        docs = tuple(d.get("docs") or [])  # stored as trained: shuffled when the model was made
        documents, num_docs = frozenset(docs), len(docs)
    n_train = n_train_of(d, num_docs)
    return LoadedModel(d, predictor, d.get("dataset", "names"), documents, num_docs, docs[:n_train])
