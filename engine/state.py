"""What a Trainer is made of: a fresh run's starting point, or a checkpoint's validated parts."""

import random
from dataclasses import dataclass, replace

from engine.data import Tokenizer, names_in_order, names_tokenizer, train_count
from engine.errors import EngineError
from engine.model import GPTConfig, init_weights


@dataclass(frozen=True)
class TrainingState:
    config: GPTConfig  # vocab_size is the tokenizer's
    tokenizer: Tokenizer
    weights: dict  # {name: rows of floats}
    seed: int
    lr: float  # the peak learning rate of every run
    dataset: str  # "names" (the shipped list) or "custom"
    docs: list  # in training order: the first n_train are trained on, the rest held out
    n_train: int
    rng: random.Random  # the stream after the shuffle and the weights' draws
    step: int = 0  # updates done
    run: tuple = (0, 0)  # the current run's first step and length
    adam_t: int = 0  # Adam's updates done
    adam_m: list | None = None  # its moments, one per parameter (None: all 0)
    adam_v: list | None = None

    @classmethod
    def fresh(cls, docs=None, config=None, seed=42, lr=0.01):
        """A new model for ``docs`` (None: the shipped names): the documents shuffled with
        ``seed``, then the weights drawn from the same stream, as the original does."""
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise EngineError(f"seed must be an integer, got {seed!r}")
        if not isinstance(lr, int | float) or not 0 < lr <= 1:
            raise EngineError(f"learning rate must be in (0, 1], got {lr!r}")
        rng = random.Random(seed)
        if docs is None:  # the shipped names, shuffled by the stream (cached: names_in_order)
            dataset, (order, after_shuffle) = "names", names_in_order(seed)
            docs = list(order)
            rng.setstate(after_shuffle)
            tokenizer = names_tokenizer()
        else:
            dataset = "custom"
            docs = [d.strip() for d in docs if d.strip()]
            tokenizer = Tokenizer.from_docs(docs)
            rng.shuffle(docs)  # before any parameter is drawn
        config = replace(config or GPTConfig(), vocab_size=tokenizer.vocab_size)
        weights = init_weights(config, rng)
        # step k reads docs[(k - 1) % n_train]: the original's docs[k - 1] while k <= n_train
        n_train = train_count(len(docs))
        return cls(config, tokenizer, weights, seed, float(lr), dataset, docs, n_train, rng)
