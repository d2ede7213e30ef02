"""How long a step takes before any was measured (the queue's wait estimates)."""

from engine import GPTConfig

# seconds per step of microgpt's default shape here (bench/runs.py measures it), and the
# multiply-adds of one position of that shape: a step's time scales with them
DEFAULT_STEP_SECONDS = 0.013


def position_cost(config: GPTConfig) -> int:
    """Multiply-adds of one position's forward pass (attention over the whole block)."""
    e, t = config.n_embd, config.block_size
    per_layer = 4 * e * e + 8 * e * e + 2 * e * t
    return config.n_layer * per_layer + config.vocab_size * e


def estimate_step_seconds(config: GPTConfig) -> float:
    """A step's time for ``config``, scaled from the default shape's."""
    default = GPTConfig(vocab_size=config.vocab_size)
    return DEFAULT_STEP_SECONDS * position_cost(config) / position_cost(default)
