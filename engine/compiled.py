"""A training step compiled: its graph recorded once per model shape and document length
(engine.trace), then run as straight-line Python over floats.

For a given shape and length the step's graph is the same every time; only the numbers change.
So instead of building ~6,500 Value objects and walking ~60,000 edges every step, the graph is
turned once into the source of one function: the forward pass, one line per node (a linear
map's row of dot nodes is one line), then the chain rule in the object engine's order, one
line per node again. Every gradient is summed in the order the object engine's ``+=`` adds it
(``seq_sum`` adds left to right; each node's terms come in the engine's reverse creation
order), so losses and gradients are the object engine's to the bit. ``step_source`` shows the
code, with each node's op in a comment.
"""

import gc
import linecache
import sys
from contextlib import contextmanager
from functools import lru_cache, reduce
from itertools import repeat
from operator import add, mul

from engine import floats
from engine.rows import RowEmitter, runs
from engine.trace import Param, trace_step

# The chain rule adds with `+=`, left to right; sum() does the same before Python 3.12 (whose
# sum() compensates rounding) and is twice as fast as reduce().
seq_sum = sum if sys.version_info < (3, 12) else (lambda terms, start: reduce(add, terms, start))
GLOBALS = {
    "mul": mul,
    "repeat": repeat,
    "seq_sum": seq_sum,
    "add": add,
    "softmax": floats.softmax,
    "cross_entropy": floats.cross_entropy,
}
LABELS = {"add": "+", "addc": "+", "mul": "*", "mulc": "*", "relu2": "relu²", "total": "sum"}


@contextmanager
def gc_paused():
    """No cyclic garbage collection inside: a step makes no reference cycles, and a collection
    pass would only slow it down."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def tup(exprs):
    return f"({', '.join(exprs)},)"


class Codegen:
    """The source of ``step(w, tokens) -> (loss, target probs, flat gradient)`` for a Trace."""

    def __init__(self, trace, loss, target_probs):
        self.trace, self.loss, self.target_probs = trace, loss, target_probs
        self.lines, self.assigned = [], set()
        self.matrix_ids = {name: i for i, name in enumerate(trace.matrices)}
        self.uses = {}  # matrix name -> [(input tuple var, output grads var)] in node order
        self.token_offsets = set()  # (position, cols) of rows chosen by a token

    # -- names --
    def v(self, x):
        """The value of a node: a local for a Sym, an item of the flat weights for a Param."""
        if isinstance(x, Param):
            return f"w[{self.param_index(x)}]"
        return f"v{x.id}"

    def param_index(self, p):
        if p.token is None:
            return str(p.offset)
        self.token_offsets.add((p.token, p.cols))
        return f"o{p.token}c{p.cols} + {p.offset}"

    def g(self, x):
        """A Sym's gradient so far, as an expression (0.0 when nothing was added yet)."""
        return f"g{x.id}" if x.id in self.assigned else "0.0"

    def acc(self, x, term, note=""):
        """x.grad += term, as the object engine's chain rule does it."""
        if isinstance(x, Param):
            self.emit(f"gp[{self.param_index(x)}] += {term}", note)
        elif x.id in self.assigned:
            self.emit(f"g{x.id} += {term}", note)
        else:  # the first term: 0.0 + t is t (but for the sign of a zero)
            self.assigned.add(x.id)
            self.emit(f"g{x.id} = {term}", note)

    def emit(self, line, note=""):
        self.lines.append(f"    {line}  # {note}" if note else f"    {line}")

    # -- the function --
    def source(self):
        forward = []
        self.lines = forward
        rows, parts = RowEmitter(self), runs(self.trace.instructions)
        for run, is_row in parts:
            if is_row:
                rows.forward(run)
                continue
            for op, out, *args in run:
                getattr(self, f"forward_{op}")(out, *args)
        backward = self.lines = []
        self.emit(f"gp = [0.0] * {self.trace.num_params}")
        self.emit(f"g{self.loss.id} = 1.0", "d loss / d loss")
        self.assigned.add(self.loss.id)
        for run, is_row in reversed(parts):
            if is_row:
                if any(ins[1].id in self.assigned for ins in run):
                    rows.backward(run)
                continue
            for op, out, *args in reversed(run):
                outs = out if isinstance(out, list) else [out]
                if any(o.id in self.assigned for o in outs):  # else its gradient is 0: skipped
                    getattr(self, f"backward_{op}")(out, *args)
        self.weight_grads()
        probs = ", ".join(f"p{p.id}" for p in self.target_probs)
        self.emit(f"return v{self.loss.id}, [{probs}], gp")
        prelude = self.lines = []
        for name in self.uses:
            offset, rows, cols = self.trace.matrices[name]
            i, end = self.matrix_ids[name], offset + rows * cols
            starts = f"range({offset}, {end}, {cols})"
            slices = f"map(slice, {starts}, range({offset + cols}, {end + cols}, {cols}))"
            self.emit(f"W{i} = list(map(w.__getitem__, {slices}))", name)
            self.emit(f"C{i} = list(zip(*W{i}[::-1]))", "its columns, last row first")
        for t, cols in sorted(self.token_offsets):
            self.emit(f"o{t}c{cols} = tokens[{t}] * {cols}")
        return "\n".join(["def step(w, tokens):", *prelude, *forward, *backward]) + "\n"

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
        self.uses[name].append((f"x{k}", f"h{k}"))
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

    def weight_grads(self):
        """Each weight of a linear map: Σ over its uses, last first, of input × output grad,
        left to right (the order its `+=` ran in); row by row as model.params lists them."""
        for name, uses in self.uses.items():
            offset, rows, cols = self.trace.matrices[name]  # uses: listed last first
            terms = " + ".join(f"a{u} * b{u}" for u in range(len(uses)))
            bs = ", ".join(f"b{u}" for u in range(len(uses)))
            as_ = ", ".join(f"a{u}" for u in range(len(uses)))
            hs = ", ".join(h for _, h in uses)
            xs = ", ".join(x for x, _ in uses)
            self.emit(f"xz = list(zip({xs}))")  # one closure cell for all (see engine.rows.row)
            self.emit(
                f"gp[{offset}:{offset + rows * cols}] = "
                f"[{terms} for {bs}, in zip({hs}) for {as_}, in xz]",
                f"d loss / d {name}",
            )


def generate(config, n):
    """The source of the compiled step for documents of n positions."""
    trace, loss, target_probs = trace_step(config, n)
    return Codegen(trace, loss, target_probs).source()


@lru_cache(maxsize=64)
def compiled_step(config, n):
    """step(w, tokens) -> (loss, p(target) per position, flat gradient) for documents of ``n``
    positions, ``w`` the flat weights in ``model.params`` order; compiled on first use."""
    source = generate(config, n)
    filename = f"<compiled step {config} n={n}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = dict(GLOBALS)
    exec(compile(source, filename, "exec"), namespace)
    step = namespace["step"]
    step.source = source
    return step


def step_source(config, n):
    """The compiled step's code, to read or debug (tracebacks inside it show these lines)."""
    return compiled_step(config, n).source


def loss_and_grads(config, w, tokens):
    """The document's loss, p(target) at each position and d loss / d w (a flat list), at
    weights ``w`` (flat, in ``model.params`` order): engine.train.forward_backward's numbers."""
    n = min(config.block_size, len(tokens) - 1)
    step = compiled_step(config, n)
    with gc_paused():
        return step(w, tokens)
