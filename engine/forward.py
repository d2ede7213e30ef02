"""The model's forward pass, written once and evaluated two ways.

``forward`` is the GPT of one token at the next position, written against a few operations
(``ops``): linear maps, dot products, softmax, relu², the loss. ``ValueOps`` makes each one an
autograd node (training: the step's graph, then its gradient); ``FloatOps`` computes it on
plain floats (inference: no graph). Both compute the same floats in the same order
(engine.floats), so a Predictor's numbers are bit for bit the ones the training graph holds.
"""

from dataclasses import dataclass
from operator import mul

from engine import autograd, floats


@dataclass
class Cache:
    """What a sequence's positions share: each layer's keys (split by head) and values so far,
    and the attention rows (weights over the keys) of each layer, head and query position."""

    keys: list  # [layer][head][position] the head's part of the key
    values: list  # [layer][position] value vectors
    attention: list  # [layer][head][query position] attention weights

    @classmethod
    def empty(cls, config):
        return cls(
            [[[] for _ in range(config.n_head)] for _ in range(config.n_layer)],
            [[] for _ in range(config.n_layer)],
            [[[] for _ in range(config.n_head)] for _ in range(config.n_layer)],
        )

    @property
    def positions(self):
        return len(self.values[0])

    def truncate(self, n):
        """Forget the positions from ``n`` on: the cache is as it was after n positions."""
        for layer in (*self.keys, *self.attention):
            for rows in layer:
                del rows[n:]
        for values in self.values:
            del values[n:]


class FloatOps:
    """The operations on plain floats, over weights {name: rows of floats}."""

    dot = staticmethod(floats.dot)
    dots = staticmethod(floats.dots)
    softmax = staticmethod(floats.softmax)
    relu_squared = staticmethod(floats.relu_squared)
    total = staticmethod(sum)

    def __init__(self, weights):
        self.weights = weights

    def linear(self, x, name):
        """W·x: floats.dots(x, W), written out (inference's hottest loop; a call costs ~1%)."""
        return [sum(map(mul, row, x)) for row in self.weights[name]]

    @staticmethod
    def cross_entropy(logits, target):
        loss, probs = floats.cross_entropy(logits, target)
        return loss, probs[target]


class ValueOps:
    """The operations as autograd nodes, over parameters {name: rows (tuples) of Values}."""

    dot = staticmethod(autograd.dot)
    softmax = staticmethod(autograd.softmax_nodes)
    cross_entropy = staticmethod(autograd.cross_entropy)
    total = staticmethod(autograd.total)

    def __init__(self, state_dict):
        self.weights = state_dict
        # the parameters' floats, read once: they only change between steps
        self.data = {
            name: [tuple([p.data for p in row]) for row in rows]
            for name, rows in state_dict.items()
        }

    def linear(self, x, name):
        return autograd.linear(x, self.weights[name], self.data[name])

    @staticmethod
    def dots(a, bs, scale=None):
        return [autograd.dot(a, b, scale) for b in bs]

    @staticmethod
    def relu_squared(xs):
        return [x.relu_squared() for x in xs]


def rmsnorm(ops, x):
    scale = (ops.dot(x, x) * len(x) ** -1 + 1e-5) ** -0.5
    return [xi * scale for xi in x]


def forward(ops, config, token_id, cache, mark=None):
    """Logits for the token after ``token_id`` at the next position of ``cache``; extends it.

    ``mark(group)``, if given, is called before each part (engine.graph names the nodes that
    follow: "pos2/layer0/attn/head1").
    """
    w, hd = ops.weights, config.head_dim
    inv_sqrt_hd = (hd**0.5) ** -1
    pos = cache.positions
    if mark:
        mark(f"pos{pos}/embed")
    x = rmsnorm(ops, [t + p for t, p in zip(w["wte"][token_id], w["wpe"][pos], strict=True)])
    for li in range(config.n_layer):
        block = f"pos{pos}/layer{li}"
        if mark:
            mark(f"{block}/attn/qkv")
        head_keys, values = cache.keys[li], cache.values[li]
        x_residual = x
        x = rmsnorm(ops, x)
        q = ops.linear(x, f"layer{li}.attn_wq")
        k = ops.linear(x, f"layer{li}.attn_wk")
        values.append(ops.linear(x, f"layer{li}.attn_wv"))
        value_columns = list(zip(*values, strict=True))  # [dimension][position]
        x_attn = []
        for h, hs in enumerate(range(0, config.n_embd, hd)):
            if mark:
                mark(f"{block}/attn/head{h}")
            head_keys[h].append(k[hs : hs + hd])
            attn_logits = ops.dots(q[hs : hs + hd], head_keys[h], inv_sqrt_hd)
            attn_weights = ops.softmax(attn_logits)
            cache.attention[li][h].append(attn_weights)
            x_attn += ops.dots(attn_weights, value_columns[hs : hs + hd])
        if mark:
            mark(f"{block}/attn/out")
        x = ops.linear(x_attn, f"layer{li}.attn_wo")
        x = [a + b for a, b in zip(x, x_residual, strict=True)]
        if mark:
            mark(f"{block}/mlp")
        x_residual = x
        x = ops.relu_squared(ops.linear(rmsnorm(ops, x), f"layer{li}.mlp_fc1"))
        x = ops.linear(x, f"layer{li}.mlp_fc2")
        x = [a + b for a, b in zip(x, x_residual, strict=True)]
    if mark:
        mark(f"pos{pos}/logits")
    return ops.linear(x, "lm_head")


def sequence_loss(ops, config, tokens, mark=None):
    """A document's loss (token ids, BOS ... BOS): the mean over its positions (at most
    block_size) of −log p(target), and p(target) at each position."""
    n = min(config.block_size, len(tokens) - 1)
    cache = Cache.empty(config)
    losses, target_probs = [], []
    for pos in range(n):
        logits = forward(ops, config, tokens[pos], cache, mark)
        if mark:
            mark(f"pos{pos}/loss")
        loss_t, p_target = ops.cross_entropy(logits, tokens[pos + 1])
        losses.append(loss_t)
        target_probs.append(p_target)
    if mark:
        mark("loss")
    return ops.total(losses) * (1 / n), target_probs
