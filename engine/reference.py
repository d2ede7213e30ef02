"""The textbook engine: one Python object per scalar operation, as the original microgpt does it.

Kept small and literal on purpose. It is the oracle the tests compare the fast engine against,
and the 1x baseline of `bench/engine_speed.py`. Do not optimise it.
"""

import math
import random


class Value:
    __slots__ = ("data", "grad", "_children", "_local_grads")

    def __init__(self, data, children=(), local_grads=()):
        self.data = data
        self.grad = 0
        self._children = children
        self._local_grads = local_grads

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data + other.data, (self, other), (1, 1))

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data * other.data, (self, other), (other.data, self.data))

    def __pow__(self, other):
        return Value(self.data**other, (self,), (other * self.data ** (other - 1),))

    def log(self):
        return Value(math.log(self.data), (self,), (1 / self.data,))

    def exp(self):
        return Value(math.exp(self.data), (self,), (math.exp(self.data),))

    def relu(self):
        return Value(max(0, self.data), (self,), (float(self.data > 0),))

    def __neg__(self):
        return self * -1

    def __radd__(self, other):
        return self + other

    def __sub__(self, other):
        return self + (-other)

    def __rmul__(self, other):
        return self * other

    def __truediv__(self, other):
        return self * other**-1

    def backward(self):
        topo, visited = [], set()

        def build_topo(v):
            if v not in visited:
                visited.add(v)
                for child in v._children:
                    build_topo(child)
                topo.append(v)

        build_topo(self)
        self.grad = 1
        for v in reversed(topo):
            for child, local_grad in zip(v._children, v._local_grads, strict=True):
                child.grad += local_grad * v.grad


def linear(x, w):
    return [sum(wi * xi for wi, xi in zip(wo, x, strict=True)) for wo in w]


def softmax(logits):
    max_val = max(val.data for val in logits)
    exps = [(val - max_val).exp() for val in logits]
    total = sum(exps)
    return [e / total for e in exps]


def rmsnorm(x):
    ms = sum(xi * xi for xi in x) / len(x)
    scale = (ms + 1e-5) ** -0.5
    return [xi * scale for xi in x]


class ReferenceGPT:
    """microgpt as the original script runs it, with its globals gathered into one object."""

    def __init__(
        self, docs, seed=42, n_embd=16, n_head=4, n_layer=1, block_size=8, lr=0.01, hold_out=False
    ):
        """``hold_out``: train on the shuffled list but its last tenth (rounded up, at least
        one document of two or more), as the live app does; the original trains on them all."""
        self.rng = random.Random(seed)
        self.docs = list(docs)
        self.rng.shuffle(self.docs)
        kept_apart = -(-len(self.docs) // 10) if hold_out and len(self.docs) > 1 else 0
        self.train_docs = self.docs[: len(self.docs) - kept_apart]
        self.held_out = self.docs[len(self.docs) - kept_apart :]
        self.uchars = sorted(set("".join(self.docs)))
        self.bos = len(self.uchars)
        self.vocab_size = len(self.uchars) + 1
        self.n_embd, self.n_head, self.n_layer, self.block_size = (
            n_embd,
            n_head,
            n_layer,
            block_size,
        )
        self.head_dim = n_embd // n_head
        self.lr = lr

        def matrix(nout, nin, std=0.02):
            return [[Value(self.rng.gauss(0, std)) for _ in range(nin)] for _ in range(nout)]

        sd = {
            "wte": matrix(self.vocab_size, n_embd),
            "wpe": matrix(block_size, n_embd),
            "lm_head": matrix(self.vocab_size, n_embd),
        }
        for i in range(n_layer):
            sd[f"layer{i}.attn_wq"] = matrix(n_embd, n_embd)
            sd[f"layer{i}.attn_wk"] = matrix(n_embd, n_embd)
            sd[f"layer{i}.attn_wv"] = matrix(n_embd, n_embd)
            sd[f"layer{i}.attn_wo"] = matrix(n_embd, n_embd, std=0)
            sd[f"layer{i}.mlp_fc1"] = matrix(4 * n_embd, n_embd)
            sd[f"layer{i}.mlp_fc2"] = matrix(n_embd, 4 * n_embd, std=0)
        self.state_dict = sd
        self.params = [p for mat in sd.values() for row in mat for p in row]
        self.m = [0.0] * len(self.params)
        self.v = [0.0] * len(self.params)

    def gpt(self, token_id, pos_id, keys, values):
        sd, hd = self.state_dict, self.head_dim
        x = [t + p for t, p in zip(sd["wte"][token_id], sd["wpe"][pos_id], strict=True)]
        x = rmsnorm(x)
        for li in range(self.n_layer):
            x_residual = x
            x = rmsnorm(x)
            q = linear(x, sd[f"layer{li}.attn_wq"])
            k = linear(x, sd[f"layer{li}.attn_wk"])
            v = linear(x, sd[f"layer{li}.attn_wv"])
            keys[li].append(k)
            values[li].append(v)
            x_attn = []
            for h in range(self.n_head):
                hs = h * hd
                q_h = q[hs : hs + hd]
                k_h = [ki[hs : hs + hd] for ki in keys[li]]
                v_h = [vi[hs : hs + hd] for vi in values[li]]
                attn_logits = [
                    sum(q_h[j] * k_h[t][j] for j in range(hd)) / hd**0.5 for t in range(len(k_h))
                ]
                attn_weights = softmax(attn_logits)
                head_out = [
                    sum(attn_weights[t] * v_h[t][j] for t in range(len(v_h))) for j in range(hd)
                ]
                x_attn.extend(head_out)
            x = linear(x_attn, sd[f"layer{li}.attn_wo"])
            x = [a + b for a, b in zip(x, x_residual, strict=True)]
            x_residual = x
            x = rmsnorm(x)
            x = linear(x, sd[f"layer{li}.mlp_fc1"])
            x = [xi.relu() ** 2 for xi in x]
            x = linear(x, sd[f"layer{li}.mlp_fc2"])
            x = [a + b for a, b in zip(x, x_residual, strict=True)]
        return linear(x, sd["lm_head"])

    def doc_loss(self, doc):
        """The loss of one document as a graph of Values (the original loop's forward)."""
        tokens = [self.bos] + [self.uchars.index(ch) for ch in doc] + [self.bos]
        n = min(self.block_size, len(tokens) - 1)
        keys, values = [[] for _ in range(self.n_layer)], [[] for _ in range(self.n_layer)]
        losses = []
        for pos_id in range(n):
            logits = self.gpt(tokens[pos_id], pos_id, keys, values)
            probs = softmax(logits)
            losses.append(-probs[tokens[pos_id + 1]].log())
        return (1 / n) * sum(losses)

    def train_step(self, step, num_steps, run_step=None):
        """One step of the original loop; returns the loss as a float.

        ``run_step``: the step within a run whose cosine schedule spans ``num_steps`` (the live
        app's runs), if not ``step`` itself as in the original. ``last_before`` and
        ``last_grads`` keep the weights before the update and the gradient there.
        """
        doc = self.train_docs[step % len(self.train_docs)]
        loss = self.doc_loss(doc)
        loss.backward()
        self.last_before = [p.data for p in self.params]
        self.last_grads = [p.grad for p in self.params]
        beta1, beta2, eps = 0.9, 0.95, 1e-8
        s = step if run_step is None else run_step
        lr_t = self.lr * 0.5 * (1 + math.cos(math.pi * s / num_steps))
        for i, p in enumerate(self.params):
            self.m[i] = beta1 * self.m[i] + (1 - beta1) * p.grad
            self.v[i] = beta2 * self.v[i] + (1 - beta2) * p.grad**2
            m_hat = self.m[i] / (1 - beta1 ** (step + 1))
            v_hat = self.v[i] / (1 - beta2 ** (step + 1))
            p.data -= lr_t * m_hat / (v_hat**0.5 + eps)
            p.grad = 0
        return loss.data

    def held_out_loss(self, sample):
        """The mean loss of the first ``sample`` held-out documents at the current weights."""
        docs = self.held_out[:sample]
        return sum(self.doc_loss(doc).data for doc in docs) / len(docs)

    def sample(self, temperature=0.5):
        keys, values = [[] for _ in range(self.n_layer)], [[] for _ in range(self.n_layer)]
        token_id, out = self.bos, []
        for pos_id in range(self.block_size):
            logits = self.gpt(token_id, pos_id, keys, values)
            probs = softmax([lg / temperature for lg in logits])
            token_id = self.rng.choices(range(self.vocab_size), weights=[p.data for p in probs])[0]
            if token_id == self.bos:
                break
            out.append(self.uchars[token_id])
        return "".join(out)
