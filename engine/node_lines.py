"""Each node of a traced step (engine.trace) as lines of Python: its value, as engine.autograd
computes it, and its part of the chain rule, ``child.grad += local_grad * grad`` for each
child in the node's order, with the local gradient computed as the object engine computes it.
"""


def tup(exprs):
    return f"({', '.join(exprs)},)"


class NodeLines:
    """The per-op emitters of engine.compiled.Codegen (which provides v, g, acc and emit)."""

    # -- forward: each node's value, as engine.autograd computes it --
    def forward_add(self, out, a, b):
        self.emit(f"v{out.id} = {self.v(a)} + {self.v(b)}", "+")

    def forward_addc(self, out, a, c):
        self.emit(f"v{out.id} = {self.v(a)} + {c!r}", "+")

    def forward_mul(self, out, a, b):
        self.emit(f"v{out.id} = {self.v(a)} * {self.v(b)}", "*")

    def forward_mulc(self, out, a, c):
        self.emit(f"v{out.id} = {self.v(a)} * {c!r}", "*")

    def forward_pow(self, out, a, k):
        self.emit(f"v{out.id} = {self.v(a)} ** {k!r}", "pow")

    def forward_relu2(self, out, a):
        va = self.v(a)
        self.emit(f"v{out.id} = {va} ** 2 if {va} > 0 else 0.0", "relu²")

    def forward_dot(self, out, a, b, scale):
        dot = f"sum(map(mul, {tup(map(self.v, a))}, {tup(map(self.v, b))}))"
        self.emit(f"v{out.id} = {dot}" + ("" if scale is None else f" * {scale!r}"), "dot")

    def forward_linear(self, outs, name, x):
        k, i = outs[0].id, self.matrix_ids[name]
        self.emit(f"x{k} = {tup(map(self.v, x))}")
        lhs = ", ".join(f"v{o.id}" for o in outs)
        rows = f"map(sum, map(map, repeat(mul), W{i}, repeat(x{k})))"
        self.emit(f"{lhs}, = {rows}", f"dot × {len(outs)}: {name}")
        self.uses.setdefault(name, [])

    def forward_softmax(self, outs, logits):
        lhs = ", ".join(f"v{o.id}" for o in outs)
        self.emit(f"{lhs}, = softmax({tup(map(self.v, logits))})", "softmax")

    def forward_xent(self, out, logits, target):
        k, t = out.id, int(target)
        self.emit(f"v{k}, P{k} = cross_entropy({tup(map(self.v, logits))}, tokens[{t}])", "xent")
        self.emit(f"p{k} = P{k}[tokens[{t}]]", "p(target)")

    def forward_total(self, out, xs):
        self.emit(f"v{out.id} = sum({tup(map(self.v, xs))})", "sum")

    # -- backward: child.grad += local_grad * grad, children in the node's order --
    def backward_add(self, out, a, b):
        self.acc(a, f"g{out.id}", "+")
        self.acc(b, f"g{out.id}")

    def backward_addc(self, out, a, c):
        self.acc(a, f"g{out.id}", "+")

    def backward_mul(self, out, a, b):
        self.acc(a, f"{self.v(b)} * g{out.id}", "*")
        self.acc(b, f"{self.v(a)} * g{out.id}")

    def backward_mulc(self, out, a, c):
        self.acc(a, f"{c!r} * g{out.id}", "*")

    def backward_pow(self, out, a, k):
        self.acc(a, f"{k!r} * {self.v(a)} ** {k - 1!r} * g{out.id}", "pow")

    def backward_relu2(self, out, a):
        va = self.v(a)
        self.acc(a, f"(2 * {va} if {va} > 0 else 0.0) * g{out.id}", "relu²")

    def backward_dot(self, out, a, b, scale):
        s = "" if scale is None else f" * {scale!r}"
        for x, y in zip(a, b, strict=True):
            self.acc(x, f"{self.v(y)}{s} * g{out.id}", "dot")
        for x, y in zip(a, b, strict=True):
            self.acc(y, f"{self.v(x)}{s} * g{out.id}")

    def backward_linear(self, outs, name, x):
        """Rows last to first add to each input; the weights' terms wait (weight_grads)."""
        k, i = outs[0].id, self.matrix_ids[name]
        self.emit(f"h{k} = {tup(self.g(o) for o in outs)}", f"dot × {len(outs)}: {name}")
        self.uses[name].append((self.position, f"x{k}", f"h{k}"))
        terms = f"map(map, repeat(mul), C{i}, repeat(h{k}[::-1]))"
        sums = f"map(seq_sum, {terms}, {tup(map(self.g, x))})"
        self.assigned.update(xi.id for xi in x)
        self.emit(f"{', '.join(f'g{xi.id}' for xi in x)}, = {sums}")

    def backward_softmax(self, outs, logits):
        for i in reversed(range(len(outs))):
            if outs[i].id not in self.assigned:
                continue
            pi, gi = f"v{outs[i].id}", f"g{outs[i].id}"
            for j, logit in enumerate(logits):
                local = f"(-{pi} * {pi} + {pi})" if i == j else f"-{pi} * v{outs[j].id}"
                self.acc(logit, f"{local} * {gi}", "softmax")

    def backward_xent(self, out, logits, target):
        k = out.id
        self.emit(f"P{k}[tokens[{int(target)}]] -= 1.0", "xent: p - onehot(target)")
        if any(x.id in self.assigned for x in logits):
            for j, x in enumerate(logits):
                self.acc(x, f"P{k}[{j}] * g{k}")
            return
        self.assigned.update(x.id for x in logits)
        self.emit(f"{', '.join(f'g{x.id}' for x in logits)}, = map(mul, P{k}, repeat(g{k}))")

    def backward_total(self, out, xs):
        for x in xs:
            self.acc(x, f"g{out.id}", "sum")
