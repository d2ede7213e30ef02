"""A faithful pure-Python port of microgpt at the vector level: the strongest straightforward one.

    python bench/vector_port.py [--steps 500]

No public pure-Python port that keeps the original's curve was found stored, so this is written
here as the comparison the issue asks for: the same model, data order, initial weights and Adam
(so the same loss curve, to ~1e-12), but each operation works on a whole row of floats and a
tape of closures holds its hand-written backward (linear maps, rmsnorm, attention per head,
relu², softmax cross-entropy), with sums as C-iterated ``sum(map(mul, ...))``. Prints one line
per step ("step K loss L", L in full precision), then "cpu SECONDS" for the training loop.
"""

import math
import random
import sys
import time
from operator import mul
from pathlib import Path

N_EMBD, N_HEAD, N_LAYER, BLOCK = 16, 4, 1, 8
HD = N_EMBD // N_HEAD


def load():
    path = Path(__file__).resolve().parents[1] / "engine" / "data" / "names.txt"
    docs = [line.strip() for line in path.read_text().split("\n") if line.strip()]
    rng = random.Random(42)
    rng.shuffle(docs)
    chars = sorted(set("".join(docs)))

    def matrix(rows, cols, std=0.02):
        return [[rng.gauss(0, std) for _ in range(cols)] for _ in range(rows)]

    vocab = len(chars) + 1
    w = {
        "wte": matrix(vocab, N_EMBD),
        "wpe": matrix(BLOCK, N_EMBD),
        "lm_head": matrix(vocab, N_EMBD),
    }
    for i in range(N_LAYER):
        for name in ("attn_wq", "attn_wk", "attn_wv"):
            w[f"layer{i}.{name}"] = matrix(N_EMBD, N_EMBD)
        w[f"layer{i}.attn_wo"] = matrix(N_EMBD, N_EMBD, 0)
        w[f"layer{i}.mlp_fc1"] = matrix(4 * N_EMBD, N_EMBD)
        w[f"layer{i}.mlp_fc2"] = matrix(N_EMBD, 4 * N_EMBD, 0)
    return docs, chars, w


class Row:
    """A vector of floats and its gradient."""

    __slots__ = ("d", "g")

    def __init__(self, d):
        self.d, self.g = d, [0.0] * len(d)


def add_into(acc, xs):
    acc[:] = [a + x for a, x in zip(acc, xs, strict=False)]


class Step:
    """One document's forward pass, recording each operation's backward on a tape."""

    def __init__(self, w, gw):
        self.w, self.gw, self.tape = w, gw, []

    def linear(self, x, name):
        rows, grows = self.w[name], self.gw[name]
        out = Row([sum(map(mul, r, x.d)) for r in rows])

        def back():
            for r, gr, g in zip(rows, grows, out.g, strict=False):
                if g:
                    gr[:] = [a + xi * g for a, xi in zip(gr, x.d, strict=False)]
                    x.g[:] = [a + wi * g for a, wi in zip(x.g, r, strict=False)]

        self.tape.append(back)
        return out

    def rmsnorm(self, x):
        n = len(x.d)
        ms = sum(map(mul, x.d, x.d)) / n + 1e-5
        s = ms**-0.5
        out = Row([xi * s for xi in x.d])

        def back():
            c = sum(map(mul, out.g, x.d)) * -(ms**-1.5) / n
            x.g[:] = [a + s * g + c * xi for a, g, xi in zip(x.g, out.g, x.d, strict=False)]

        self.tape.append(back)
        return out

    def add(self, a, b):
        out = Row([x + y for x, y in zip(a.d, b.d, strict=False)])

        def back():
            add_into(a.g, out.g)
            add_into(b.g, out.g)

        self.tape.append(back)
        return out

    def relu2(self, x):
        out = Row([v * v if v > 0 else 0.0 for v in x.d])

        def back():
            x.g[:] = [
                a + 2 * v * g if v > 0 else a for a, v, g in zip(x.g, x.d, out.g, strict=False)
            ]

        self.tape.append(back)
        return out

    def attention(self, q, keys, values):
        """All heads of one position over the cached keys and values (Rows)."""
        scale = HD**-0.5
        keys, values = list(keys), list(values)  # the cache grows after this position
        out, saved = [], []
        for hs in range(0, N_EMBD, HD):
            qh = q.d[hs : hs + HD]
            logits = [sum(map(mul, qh, k.d[hs : hs + HD])) * scale for k in keys]
            mx = max(logits)
            exps = [math.exp(v - mx) for v in logits]
            total = sum(exps)
            a = [e / total for e in exps]
            saved.append((hs, qh, a))
            out += [sum(map(mul, a, [v.d[j] for v in values])) for j in range(hs, hs + HD)]
        res = Row(out)

        def back():
            for hs, qh, a in saved:
                go = res.g[hs : hs + HD]
                ga = [sum(map(mul, go, v.d[hs : hs + HD])) for v in values]
                for t, v in enumerate(values):
                    v.g[hs : hs + HD] = [
                        x + a[t] * g for x, g in zip(v.g[hs : hs + HD], go, strict=False)
                    ]
                dot = sum(map(mul, a, ga))
                gl = [at * (gt - dot) * scale for at, gt in zip(a, ga, strict=False)]
                for t, k in enumerate(keys):
                    k.g[hs : hs + HD] = [
                        x + gl[t] * qi for x, qi in zip(k.g[hs : hs + HD], qh, strict=False)
                    ]
                q.g[hs : hs + HD] = [
                    x + sum(gl[t] * keys[t].d[j] for t in range(len(keys)))
                    for x, j in zip(q.g[hs : hs + HD], range(hs, hs + HD), strict=False)
                ]

        self.tape.append(back)
        return res

    def loss(self, tokens):
        n = min(BLOCK, len(tokens) - 1)
        keys, values, grads = [[] for _ in range(N_LAYER)], [[] for _ in range(N_LAYER)], []
        total = 0.0
        for pos in range(n):
            tok = tokens[pos]
            x = Row([t + p for t, p in zip(self.w["wte"][tok], self.w["wpe"][pos], strict=False)])
            self.tape.append(self._embed_back(x, tok, pos))
            x = self.rmsnorm(x)
            for li in range(N_LAYER):
                res = x
                h = self.rmsnorm(x)
                q = self.linear(h, f"layer{li}.attn_wq")
                keys[li].append(self.linear(h, f"layer{li}.attn_wk"))
                values[li].append(self.linear(h, f"layer{li}.attn_wv"))
                att = self.attention(q, keys[li], values[li])
                x = self.add(self.linear(att, f"layer{li}.attn_wo"), res)
                res = x
                h = self.relu2(self.linear(self.rmsnorm(x), f"layer{li}.mlp_fc1"))
                x = self.add(self.linear(h, f"layer{li}.mlp_fc2"), res)
            logits = self.linear(x, "lm_head")
            mx = max(logits.d)
            exps = [math.exp(v - mx) for v in logits.d]
            s = sum(exps)
            total += math.log(s) - (logits.d[tokens[pos + 1]] - mx)
            grads.append((logits, [e / s for e in exps], tokens[pos + 1]))
        for logits, probs, target in grads:  # d mean / d logits = (p − onehot) / n
            probs[target] -= 1.0
            logits.g[:] = [p / n for p in probs]
        for back in reversed(self.tape):
            back()
        return total / n

    def _embed_back(self, x, tok, pos):
        def back():
            add_into(self.gw["wte"][tok], x.g)
            add_into(self.gw["wpe"][pos], x.g)

        return back


def main():
    steps = int(sys.argv[sys.argv.index("--steps") + 1]) if "--steps" in sys.argv else 500
    docs, chars, w = load()
    index = {c: i for i, c in enumerate(chars)}
    bos = len(chars)
    flat = [(name, r) for name, rows in w.items() for r in range(len(rows))]
    size = sum(len(w[name][r]) for name, r in flat)
    m, v = [0.0] * size, [0.0] * size
    t0 = time.process_time()
    for step in range(steps):
        doc = docs[step % len(docs)]
        tokens = [bos] + [index[c] for c in doc] + [bos]
        gw = {name: [[0.0] * len(row) for row in rows] for name, rows in w.items()}
        loss = Step(w, gw).loss(tokens)
        grads = [g for name, r in flat for g in gw[name][r]]
        lr_t = 0.01 * 0.5 * (1 + math.cos(math.pi * step / steps))
        m = [0.9 * mi + 0.1 * g for mi, g in zip(m, grads, strict=False)]
        v = [0.95 * vi + (1 - 0.95) * g**2 for vi, g in zip(v, grads, strict=False)]
        bc1, bc2 = 1 - 0.9 ** (step + 1), 1 - 0.95 ** (step + 1)
        values = [x for name, r in flat for x in w[name][r]]
        values = [
            p - lr_t * (mi / bc1) / ((vi / bc2) ** 0.5 + 1e-8)
            for p, mi, vi in zip(values, m, v, strict=False)
        ]
        i = 0
        for name, r in flat:
            cols = len(w[name][r])
            w[name][r] = values[i : i + cols]
            i += cols
        print(f"step {step + 1} loss {loss!r}", flush=True)
    print(f"cpu {time.process_time() - t0}")


if __name__ == "__main__":
    main()
