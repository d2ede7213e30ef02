"""Inference on plain floats (no graph): distributions, attention, greedy completion, sampling.

The forward pass is training's own (engine.forward) evaluated on floats, so a Predictor's
numbers are the ones the training graph computes.
"""

import random

from engine.errors import EngineError, short_repr
from engine.floats import cross_entropy, softmax
from engine.forward import Cache, FloatOps, forward, sequence_loss


class Predictor:
    """A frozen copy of the weights that answers questions about the next character."""

    def __init__(self, config, tokenizer, weights):
        self.config, self.tokenizer, self.weights = config, tokenizer, weights
        self.ops = FloatOps(weights)

    @classmethod
    def from_dict(cls, d):
        """The model of a checkpoint dict (see engine.checkpoint), validated."""
        from engine.checkpoint import predictor_from_dict

        return predictor_from_dict(d)

    def new_cache(self):
        """What a sequence's positions share: keys, values (per layer) and the attention rows."""
        return Cache.empty(self.config)

    def step(self, token_id, cache):
        """Logits for the token after ``token_id`` at the next position; extends the cache.

        Position by position, so a sequence costs one pass however it is extended (greedy
        completion, sampling) and gives the very floats a whole-sequence forward gives.
        """
        return forward(self.ops, self.config, token_id, cache)

    def forward(self, token_ids):
        """Logits at every position of token_ids, and attention [layer][head][query][key]."""
        cache = self.new_cache()
        all_logits = [self.step(token_id, cache) for token_id in token_ids]
        return all_logits, cache.attention

    def loss(self, tokens):
        """Training's loss of one document (token ids, BOS ... BOS), on plain floats."""
        return sequence_loss(self.ops, self.config, tokens)[0]

    def losses(self, documents):
        """``[self.loss(tokens) for tokens in documents]``, the positions documents share
        computed once (all begin with BOS; many with the same letters)."""
        inputs = [tokens[: min(self.config.block_size, len(tokens) - 1)] for tokens in documents]
        out = []
        for tokens, logits in zip(documents, self.logits_of(inputs), strict=True):
            n = len(logits)
            xent = [cross_entropy(row, tokens[p + 1])[0] for p, row in enumerate(logits)]
            out.append(sum(xent) * (1 / n))  # sequence_loss's sum, in its order
        return out

    def logits_of(self, sequences):
        """The logits at every position of each token sequence. A position's logits depend only
        on the tokens up to it, so a beginning that sequences share is computed once: in sorted
        order, each goes on from the longest beginning it shares with the one before."""
        cache, done, logits = self.new_cache(), [], []
        out = [None] * len(sequences)
        for i in sorted(range(len(sequences)), key=sequences.__getitem__):
            ids, shared = sequences[i], 0
            while shared < min(len(ids), len(done)) and ids[shared] == done[shared]:
                shared += 1
            cache.truncate(shared)
            del done[shared:], logits[shared:]
            for token_id in ids[shared:]:
                logits.append(self.step(token_id, cache))
                done.append(token_id)
            out[i] = logits[: len(ids)]
        return out

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

    def distributions(self, prefixes):
        """``[self.distribution(p) for p in prefixes]``, shared beginnings computed once ("" is
        the first position of "e")."""
        ids = [self.encode_prefix(prefix) for prefix in prefixes]
        return [softmax(logits[-1]) for logits in self.logits_of(ids)]

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
