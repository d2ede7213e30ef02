"""The GPT: configuration, parameters, and the forward pass as a graph of Values."""

from dataclasses import asdict, dataclass

from engine.autograd import Value, dot, graph_lock, linear, softmax
from engine.errors import EngineError


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


def rmsnorm(x):
    ms = dot(x, x) * len(x) ** -1
    scale = (ms + 1e-5) ** -0.5
    return [xi * scale for xi in x]


@dataclass
class Context:
    keys: list
    values: list
    weights: dict
    # mark(group) before each part of the forward pass: lets engine.graph name the nodes that
    # follow ("pos2/layer0/attn/head1"); None while training
    mark: object = None


class GPT:
    """Parameters as Values, and the forward pass of one token at one position."""

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

    def new_context(self, mark=None):
        """What one forward sequence shares: the keys and values of the positions seen so far
        (per layer), and the weights' floats, read once since they only change between steps."""
        n = self.config.n_layer
        weights = {
            name: [tuple([p.data for p in row]) for row in rows]
            for name, rows in self.state_dict.items()
        }
        return Context([[] for _ in range(n)], [[] for _ in range(n)], weights, mark)

    def forward(self, token_id, pos_id, ctx):
        """Logits (Values) for the token after `token_id` at `pos_id`; appends to ctx's cache."""
        sd, wd, hd = self.state_dict, ctx.weights, self.config.head_dim
        keys, values = ctx.keys, ctx.values
        mark = ctx.mark or _unmarked
        inv_sqrt_hd = (hd**0.5) ** -1
        mark(f"pos{pos_id}/embed")
        x = [t + p for t, p in zip(sd["wte"][token_id], sd["wpe"][pos_id], strict=True)]
        x = rmsnorm(x)
        for li in range(self.config.n_layer):
            block = f"pos{pos_id}/layer{li}"
            mark(f"{block}/attn/qkv")
            x_residual = x
            x = rmsnorm(x)
            q = linear(x, sd[f"layer{li}.attn_wq"], wd[f"layer{li}.attn_wq"])
            keys[li].append(linear(x, sd[f"layer{li}.attn_wk"], wd[f"layer{li}.attn_wk"]))
            values[li].append(linear(x, sd[f"layer{li}.attn_wv"], wd[f"layer{li}.attn_wv"]))
            x_attn = []
            for h, hs in enumerate(range(0, self.config.n_embd, hd)):
                mark(f"{block}/attn/head{h}")
                q_h = q[hs : hs + hd]
                attn_logits = [dot(q_h, k[hs : hs + hd], inv_sqrt_hd) for k in keys[li]]
                attn_weights = softmax(attn_logits)
                for j in range(hs, hs + hd):
                    x_attn.append(dot(attn_weights, [v[j] for v in values[li]]))
            mark(f"{block}/attn/out")
            x = linear(x_attn, sd[f"layer{li}.attn_wo"], wd[f"layer{li}.attn_wo"])
            x = [a + b for a, b in zip(x, x_residual, strict=True)]
            mark(f"{block}/mlp")
            x_residual = x
            x = rmsnorm(x)
            x = [
                xi.relu_squared()
                for xi in linear(x, sd[f"layer{li}.mlp_fc1"], wd[f"layer{li}.mlp_fc1"])
            ]
            x = linear(x, sd[f"layer{li}.mlp_fc2"], wd[f"layer{li}.mlp_fc2"])
            x = [a + b for a, b in zip(x, x_residual, strict=True)]
        mark(f"pos{pos_id}/logits")
        return linear(x, sd["lm_head"], wd["lm_head"])


def _unmarked(group):
    """The forward pass's marks while training: nothing to name."""


def num_params(config):
    return sum(rows * cols for _, rows, cols, _ in param_shapes(config))
