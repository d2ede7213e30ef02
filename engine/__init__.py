"""microgpt: a character-level GPT on a scalar autograd engine, in pure Python."""

from engine.data import Tokenizer, load_names, read_docs
from engine.errors import Diverged, EngineError
from engine.infer import Predictor
from engine.model import GPTConfig
from engine.train import StepRecord, Trainer

__all__ = [
    "Diverged",
    "EngineError",
    "GPTConfig",
    "Predictor",
    "StepRecord",
    "Tokenizer",
    "Trainer",
    "load_names",
    "read_docs",
]
