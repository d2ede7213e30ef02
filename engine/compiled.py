"""A training step compiled: its graph recorded once per model shape (engine.trace), then run
as straight-line Python over floats.

For a given shape and document length the step's graph is the same every time; only the
numbers change. So instead of building ~6,500 Value objects and walking ~60,000 edges every
step, the graph of a block_size-long document is turned once into the source of one function:
each position's forward pass (run if the document reaches it), the loss of n positions, then
the chain rule in the object engine's order, position by position, last first. A node is one
line, and so is a row of alike nodes (a linear map's dots, an elementwise step: engine.rows).
Every gradient is summed in the order the object engine's ``+=`` adds it (``seq_sum`` adds left
to right; each node's terms come in the engine's reverse creation order), so losses, p(target)
and gradients are the object engine's (==). ``step_source`` shows the code, each line's op in
a comment."""

import gc
import linecache
import sys
from contextlib import contextmanager
from functools import lru_cache, reduce
from itertools import repeat
from operator import add, mul

from engine import floats
from engine.autograd import Tape
from engine.code_cache import cached_compile
from engine.forward import sequence_loss
from engine.gradcheck import unflatten
from engine.model import GPT
from engine.node_lines import NodeLines, tup
from engine.rows import RowEmitter, runs
from engine.trace import Param, Sym, trace_step

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


class Codegen(NodeLines):
    """The source of ``step(w, tokens) -> (loss, target probs, flat gradient)`` for a Trace."""

    def __init__(self, trace, starts, xents):
        self.trace, self.starts, self.xents = trace, starts, xents
        self.lines, self.assigned, self.indent = [], set(), "    "
        self.matrix_ids = {name: i for i, name in enumerate(trace.matrices)}
        self.uses = {}  # matrix name -> [(position, input var, output grads var)], last first
        self.token_offsets = set()  # (position, cols) of rows chosen by a token
        self.position = None  # the position whose code is being written

    # -- names --
    def v(self, x):
        """The value of a node: a local for a Sym, an item of the flat weights for a Param."""
        if isinstance(x, Param):
            return f"w[{self.param_index(x)}]"
        return f"v{x.id}"

    def param_index(self, p):
        if p.token is None:
            return str(p.offset)
        if (p.token, p.cols) not in self.token_offsets:  # the row of the token there
            self.token_offsets.add((p.token, p.cols))
            self.emit(f"o{p.token}c{p.cols} = tokens[{p.token}] * {p.cols}")
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
        self.lines.append(f"{self.indent}{line}  # {note}" if note else f"{self.indent}{line}")

    # -- the function --
    def source(self):
        """One function for every length n: position p's code runs if n > p, then the loss
        of n positions, then the positions' backward passes, last first."""
        segments = self.segments()
        forward = self.lines = []
        self.emit(f"n = min(len(tokens) - 1, {len(segments)})")
        self.emit("probs = []")
        rows = RowEmitter(self)
        for p, parts in enumerate(segments):
            self.guard(f"if n > {p}:", p)
            for run, is_row in parts:
                if is_row:
                    rows.forward(run)
                    continue
                for op, out, *args in run:
                    getattr(self, f"forward_{op}")(out, *args)
            self.emit(f"probs.append(p{self.xents[p].id})")
        self.guard(None, None)
        self.loss_forward()
        backward = self.lines = []
        self.emit("# -- backward --")
        self.emit(f"gp = [0.0] * {self.trace.num_params}")
        self.loss_backward()
        for p in reversed(range(len(segments))):
            self.guard(f"if n > {p}:", p)
            for run, is_row in reversed(segments[p]):
                if is_row:
                    if any(ins[1].id in self.assigned for ins in run):
                        rows.backward(run)
                    continue
                for op, out, *args in reversed(run):
                    outs = out if isinstance(out, list) else [out]
                    if any(o.id in self.assigned for o in outs):  # else its gradient is 0
                        getattr(self, f"backward_{op}")(out, *args)
        self.guard(None, None)
        self.emit("# -- the weights' gradients --")
        self.weight_grads(len(segments))
        self.emit("return loss, probs, gp")
        prelude = self.lines = []
        for name in self.uses:
            offset, rows_, cols = self.trace.matrices[name]
            i, end = self.matrix_ids[name], offset + rows_ * cols
            starts = f"range({offset}, {end}, {cols})"
            slices = f"map(slice, {starts}, range({offset + cols}, {end + cols}, {cols}))"
            self.emit(f"W{i} = list(map(w.__getitem__, {slices}))", name)
            self.emit(f"C{i} = list(zip(*W{i}[::-1]))", "its columns, last row first")
        return "\n".join(["def step(w, tokens):", *prelude, *forward, *backward]) + "\n"

    def segments(self):
        """Each position's instructions cut into runs (engine.rows); the gradients of nodes one
        position makes and later ones use start at 0.0 (a shorter document has none of them)."""
        ins, bounds = self.trace.instructions, self.starts
        segments = [runs(ins[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
        made = {}
        for p, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False)):
            for _, out, *args in ins[a:b]:
                for o in out if isinstance(out, list) else [out]:
                    made[o.id] = p
                for x in children(args):
                    if made.get(x.id, p) < p:
                        self.assigned.add(x.id)
        shared = sorted(self.assigned)
        self.zeros = [shared[i : i + 40] for i in range(0, len(shared), 40)]
        return segments

    def guard(self, condition, position):
        self.indent, self.position = "    ", position
        if condition:
            self.emit(condition)
            self.indent = "        "

    def loss_forward(self):
        """The mean of the first n positions' losses (engine.forward.sequence_loss)."""
        for k in range(1, len(self.xents) + 1):
            self.emit(f"{'if' if k == 1 else 'elif'} n == {k}:")
            self.emit(f"    loss = sum({tup(f'v{x.id}' for x in self.xents[:k])}) * {1 / k!r}")

    def loss_backward(self):
        self.emit("g_loss = 1.0", "d loss / d loss")
        for k in range(1, len(self.xents) + 1):
            self.emit(f"{'if' if k == 1 else 'elif'} n == {k}:")
            self.emit(f"    g_total = {1 / k!r} * g_loss", "*")
            names = " = ".join(f"g{x.id}" for x in self.xents[:k])
            self.emit(f"    {names} = g_total", "sum")
        self.assigned.update(x.id for x in self.xents)
        for ids in self.zeros:
            self.emit(f"{' = '.join(f'g{i}' for i in ids)} = 0.0", "used by later positions")

    def weight_grads(self, positions):
        """Each weight of a linear map: 0.0 + Σ over its uses, last first, of input × output
        grad, left to right (the order its `+=` ran in, from the 0.0 a gradient starts at: the
        sum of terms that are all −0.0 is 0.0, as the object engine has it); row by row as
        model.params lists them."""
        for k in range(1, positions + 1):
            self.emit(f"{'if' if k == 1 else 'elif'} n == {k}:")
            for name, uses in self.uses.items():
                uses = [(x, h) for p, x, h in uses if p < k]  # last first
                offset, rows, cols = self.trace.matrices[name]
                terms = " + ".join(["0.0", *(f"a{u} * b{u}" for u in range(len(uses)))])
                bs = ", ".join(f"b{u}" for u in range(len(uses)))
                as_ = ", ".join(f"a{u}" for u in range(len(uses)))
                hs = ", ".join(h for _, h in uses)
                xs = ", ".join(x for x, _ in uses)
                self.emit(f"    xz = list(zip({xs}))")  # one closure cell (engine.rows.row)
                self.emit(
                    f"    gp[{offset}:{offset + rows * cols}] = "
                    f"[{terms} for {bs}, in zip({hs}) for {as_}, in xz]",
                    f"d loss / d {name}",
                )


def children(args):
    """The Syms among an instruction's arguments."""
    for a in args:
        if isinstance(a, Sym):
            yield a
        elif isinstance(a, tuple):
            yield from (x for x in a if isinstance(x, Sym))


def generate(config):
    """The source of the compiled step of a model shape."""
    return Codegen(*trace_step(config)).source()


@lru_cache(maxsize=16)
def compiled_step(config):
    """step(w, tokens) -> (loss, p(target) per position, flat gradient) for documents of
    any length (their first block_size + 1 tokens), ``w`` the flat weights in
    ``model.params`` order; compiled on first use (or loaded as compiled before:
    engine.code_cache)."""
    source = generate(config)
    filename = f"<compiled step {config}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = dict(GLOBALS)
    exec(cached_compile(source, filename), namespace)
    step = namespace["step"]
    step.source = source
    return step


def step_source(config):
    """The compiled step's code, to read or debug (tracebacks inside it show these lines)."""
    return compiled_step(config).source


# Compiling grows faster than the graph: 0.24 s for the default shape, 2 s at this size
# (n_embd 32, 2 layers, context 8), 12 s and 360 MB for the largest shape the app allows. Past it
# a step runs on the object graph (the same numbers, bit for bit), so no first step waits for a
# compile longer than a couple of seconds.
MAX_COMPILED_SIZE = 4096


def compiles(config) -> bool:
    """Whether a step of this shape is compiled (else it runs on the object graph)."""
    return config.block_size**2 * config.n_embd * config.n_layer <= MAX_COMPILED_SIZE


def object_loss_and_grads(config, w, tokens):
    """loss_and_grads on the object graph: Values built from ``w``, then their backward pass."""
    model = GPT(config, unflatten(config, w))
    with Tape() as tape, gc_paused():
        loss, target_probs = sequence_loss(model.ops(), config, tokens)
        tape.backward(loss)
    return loss.data, target_probs, [p.grad for p in model.params]


def loss_and_grads(config, w, tokens):
    """The document's loss, p(target) at each position and d loss / d w (a flat list), at
    weights ``w`` (flat, in ``model.params`` order): engine.train.forward_backward's numbers."""
    if not compiles(config):
        return object_loss_and_grads(config, w, tokens)
    step = compiled_step(config)
    with gc_paused():
        return step(w, tokens)
