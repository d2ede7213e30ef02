"""Inference on plain floats (no graph): distributions, attention, greedy completion, sampling.

The arithmetic mirrors the graph forward operation for operation, so a Predictor's numbers are
the ones the training graph would compute.
"""

import math
import random
from dataclasses import dataclass
from operator import mul

from engine.errors import EngineError, short_repr


def linear(x, w):
    return [sum(map(mul, row, x)) for row in w]


def softmax(logits):
    max_val = max(logits)
    exps = [math.exp(v - max_val) for v in logits]
    inv_total = sum(exps) ** -1
    return [e * inv_total for e in exps]


def rmsnorm(x):
    scale = (sum(map(mul, x, x)) * len(x) ** -1 + 1e-5) ** -0.5
    return [xi * scale for xi in x]


@dataclass
class Cache:
    keys: list  # [layer][position] key vectors
    values: list  # [layer][position] value vectors
    attention: list  # [layer][head][query position] attention weights over the keys


class Predictor:
    """A frozen copy of the weights that answers questions about the next character."""

    def __init__(self, config, tokenizer, weights):
        self.config, self.tokenizer, self.weights = config, tokenizer, weights

    @classmethod
    def from_dict(cls, d):
        """The model of a checkpoint dict (see engine.checkpoint), validated."""
        from engine.checkpoint import predictor_from_dict

        return predictor_from_dict(d)

    def new_cache(self):
        """What a sequence's positions share: keys, values (per layer) and the attention rows."""
        c = self.config
        return Cache(
            [[] for _ in range(c.n_layer)],
            [[] for _ in range(c.n_layer)],
            [[[] for _ in range(c.n_head)] for _ in range(c.n_layer)],
        )

    def step(self, token_id, cache):
        """Logits for the token after ``token_id`` at the next position; extends the cache.

        Position by position, so a sequence costs one pass however it is extended (greedy
        completion, sampling) and gives the very floats a whole-sequence forward gives.
        """
        c, w, hd = self.config, self.weights, self.config.head_dim
        inv_sqrt_hd = (hd**0.5) ** -1
        pos = len(cache.keys[0])
        x = rmsnorm([t + p for t, p in zip(w["wte"][token_id], w["wpe"][pos], strict=True)])
        for li in range(c.n_layer):
            keys, values = cache.keys[li], cache.values[li]
            x_residual = x
            x = rmsnorm(x)
            q = linear(x, w[f"layer{li}.attn_wq"])
            keys.append(linear(x, w[f"layer{li}.attn_wk"]))
            values.append(linear(x, w[f"layer{li}.attn_wv"]))
            x_attn = []
            for h, hs in enumerate(range(0, c.n_embd, hd)):
                q_h = q[hs : hs + hd]
                attn_weights = softmax(
                    [sum(map(mul, q_h, k[hs : hs + hd])) * inv_sqrt_hd for k in keys]
                )
                cache.attention[li][h].append(attn_weights)
                for j in range(hs, hs + hd):
                    x_attn.append(sum(map(mul, attn_weights, [v[j] for v in values])))
            x = linear(x_attn, w[f"layer{li}.attn_wo"])
            x = [a + b for a, b in zip(x, x_residual, strict=True)]
            x_residual = x
            x = [max(0.0, xi) ** 2 for xi in linear(rmsnorm(x), w[f"layer{li}.mlp_fc1"])]
            x = linear(x, w[f"layer{li}.mlp_fc2"])
            x = [a + b for a, b in zip(x, x_residual, strict=True)]
        return linear(x, w["lm_head"])

    def forward(self, token_ids):
        """Logits at every position of token_ids, and attention [layer][head][query][key]."""
        cache = self.new_cache()
        all_logits = [self.step(token_id, cache) for token_id in token_ids]
        return all_logits, cache.attention

    def loss(self, tokens):
        """Training's loss of one document (token ids, BOS ... BOS), on plain floats: the mean
        over its positions of −log p(target), by the stable log-softmax
        log Σ exp(l − max) − (l_target − max)."""
        cache = self.new_cache()
        n = min(self.config.block_size, len(tokens) - 1)
        losses = []
        for pos in range(n):
            logits = self.step(tokens[pos], cache)
            max_val = max(logits)
            total_exp = sum([math.exp(v - max_val) for v in logits])
            losses.append(math.log(total_exp) - (logits[tokens[pos + 1]] - max_val))
        return sum(losses) * (1 / n)

    def predict(self, prefix=""):
        """Everything "Ask the model" shows, in one pass over the positions: p(next | [BOS] +
        prefix), the attention over [BOS] + prefix, and the greedy completion."""
        ids = self.encode_prefix(prefix)
        cache = self.new_cache()
        for token_id in ids:
            logits = self.step(token_id, cache)
        probs = softmax(logits)
        attention = [[list(rows) for rows in heads] for heads in cache.attention]
        return probs, attention, self._complete(ids, probs, cache)

    def _complete(self, ids, probs, cache):
        """Extend ids with the most likely token until BOS or the window is full."""
        ids = list(ids)
        while True:
            nxt = max(range(len(probs)), key=probs.__getitem__)
            if nxt == self.tokenizer.bos:
                break
            ids.append(nxt)
            if len(ids) > self.config.block_size:
                break
            probs = softmax(self.step(nxt, cache))
        return self.tokenizer.decode(ids[1:])

    def normalize_prefix(self, prefix):
        """The prefix as the model reads it: where the vocabulary has no upper case (names are
        lower case), an upper-case letter whose lower case is in it is read as that ("Em" → "em");
        anything else stays as typed, so an error names what was typed."""
        if not isinstance(prefix, str):
            raise EngineError(f"prefix must be text, got {short_repr(prefix)}")
        chars = self.tokenizer.chars
        if any(ch.isupper() for ch in chars):
            return prefix
        known = set(chars)
        return "".join(ch.lower() if ch.lower() in known else ch for ch in prefix)

    def encode_prefix(self, prefix):
        """[BOS] + the prefix's ids, checked against the vocabulary and the context window."""
        prefix = self.normalize_prefix(prefix)
        limit = self.config.block_size - 1
        if len(prefix) > limit:
            raise EngineError(
                f"prefix {short_repr(prefix)} has {len(prefix):,} characters; the context window "
                f"of {self.config.block_size} fits at most {limit} after [BOS]"
            )
        return [self.tokenizer.bos, *self.tokenizer.encode(prefix)]

    def distribution(self, prefix=""):
        """p(next character | [BOS] + prefix) for the whole vocabulary, in id order."""
        logits, _ = self.forward(self.encode_prefix(prefix))
        return softmax(logits[-1])

    def attention(self, prefix=""):
        """Attention weights [layer][head][query position][key position] over [BOS] + prefix."""
        _, attention = self.forward(self.encode_prefix(prefix))
        return attention

    def greedy(self, prefix=""):
        """Complete the prefix with the most likely character until BOS or the window is full."""
        return self.predict(prefix)[2]

    def sample(self, n=20, temperature=0.5, seed=None, rng=None):
        """n names drawn with softmax(logits / temperature), as the original samples them."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise EngineError(f"number of samples must be a positive integer, got {n!r}")
        if not isinstance(temperature, int | float) or not temperature > 0:
            raise EngineError(f"temperature must be greater than 0, got {temperature!r}")
        if rng is None:
            rng = random.Random(seed)
        inv_t = temperature**-1
        vocab = range(self.config.vocab_size)
        return [self._sample_one(inv_t, vocab, rng) for _ in range(n)]

    def _sample_one(self, inv_t, vocab, rng):
        ids, bos = [self.tokenizer.bos], self.tokenizer.bos
        cache = self.new_cache()
        for _ in range(self.config.block_size):
            logits = self.step(ids[-1], cache)
            token_id = rng.choices(vocab, weights=softmax([lg * inv_t for lg in logits]))[0]
            if token_id == bos:
                break
            ids.append(token_id)
        return self.tokenizer.decode(ids[1:])
