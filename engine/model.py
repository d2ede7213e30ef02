"""The GPT: its configuration, its parameters' shapes, and the parameters as Values.

The forward pass over them is engine.forward's.
"""

from dataclasses import asdict, dataclass

from engine.autograd import Value, graph_lock
from engine.errors import EngineError
from engine.forward import ValueOps


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = 27  # characters + BOS; set from the tokenizer
    n_embd: int = 16  # width of the residual stream
    n_head: int = 4  # attention heads; head_dim = n_embd // n_head
    n_layer: int = 1  # transformer blocks
    block_size: int = 8  # context window: positions 0..block_size-1

    def __post_init__(self):
        for name in ("vocab_size", "n_embd", "n_head", "n_layer", "block_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise EngineError(f"{name} must be a positive integer, got {value!r}")
        if self.vocab_size < 2:
            raise EngineError(f"vocab_size must be at least 2, got {self.vocab_size}")
        if self.n_embd % self.n_head:
            raise EngineError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")

    @property
    def head_dim(self):
        return self.n_embd // self.n_head

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        try:
            return cls(**d)
        except TypeError as e:
            raise EngineError(f"invalid model config {d!r}: {e}") from None


def param_shapes(config):
    """(name, rows, cols, std) in the order the parameters are drawn from the random stream."""
    c, e = config, config.n_embd
    shapes = [
        ("wte", c.vocab_size, e, 0.02),
        ("wpe", c.block_size, e, 0.02),
        ("lm_head", c.vocab_size, e, 0.02),
    ]
    for i in range(c.n_layer):
        shapes += [
            (f"layer{i}.attn_wq", e, e, 0.02),
            (f"layer{i}.attn_wk", e, e, 0.02),
            (f"layer{i}.attn_wv", e, e, 0.02),
            (f"layer{i}.attn_wo", e, e, 0.0),  # drawn with std 0: it still consumes the stream
            (f"layer{i}.mlp_fc1", 4 * e, e, 0.02),
            (f"layer{i}.mlp_fc2", e, 4 * e, 0.0),
        ]
    return shapes


def init_weights(config, rng):
    """Plain-float weights {name: rows}, drawn with rng.gauss row by row (rows = outputs)."""
    return {
        name: [[rng.gauss(0, std) for _ in range(cols)] for _ in range(rows)]
        for name, rows, cols, std in param_shapes(config)
    }


class GPT:
    """The parameters as Values, the leaves of every training step's graph."""

    def __init__(self, config, weights):
        self.config = config
        with graph_lock:  # not recorded on another thread's active Tape (engine.autograd)
            self.state_dict = {
                name: [tuple([Value(w) for w in row]) for row in rows]
                for name, rows in weights.items()
            }
        self.params = [p for rows in self.state_dict.values() for row in rows for p in row]

    def weights(self):
        return {
            name: [[p.data for p in row] for row in rows] for name, rows in self.state_dict.items()
        }

    def ops(self):
        """The forward pass's operations as autograd nodes over these parameters (their floats
        read now: take new ops after an update)."""
        return ValueOps(self.state_dict)


def num_params(config):
    return sum(rows * cols for _, rows, cols, _ in param_shapes(config))
