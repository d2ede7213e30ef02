"""The step's graph recorded once for a model shape and document length: symbols, not numbers.

``TraceOps`` is a third evaluation of engine.forward's model (besides ValueOps and FloatOps):
each operation appends an instruction to a list instead of computing anything. The
instructions are the object engine's nodes, in the order it makes them (a ``linear`` stands for
its row of ``dot`` nodes), with the same children and the same arithmetic, so engine.compiled
can turn them into Python that computes what the object engine computes, bit for bit.

The document's tokens are symbols too (``Token``): the graph of a step depends on the
document's length only, which token sits where is read when the step runs.
"""

from engine.autograd import Derived
from engine.errors import EngineError
from engine.forward import sequence_loss
from engine.model import param_shapes


class Node(Derived):
    """A scalar of the traced step; the arithmetic mirrors engine.autograd.Value's, down to
    how the derived operations decompose into primitives (the nodes must be the same)."""

    __slots__ = ()

    def __add__(self, other):
        if isinstance(other, Node):
            return self.trace.node("add", self, other)
        return self.trace.node("addc", self, other)

    def __mul__(self, other):
        if isinstance(other, Node):
            return self.trace.node("mul", self, other)
        return self.trace.node("mulc", self, other)

    def __pow__(self, k):
        return self.trace.node("pow", self, k)


class Sym(Node):
    """An interior node: the ``id``-th value the step computes."""

    __slots__ = ("trace", "id")

    def __init__(self, trace, id):
        self.trace, self.id = trace, id


class Param(Node):
    """A parameter used one by one (the embeddings): flat index ``offset`` (in ``model.params``
    order), plus ``cols`` times the token at position ``token`` if the row is the token's."""

    __slots__ = ("trace", "offset", "token", "cols")

    def __init__(self, trace, offset, token=None, cols=0):
        self.trace, self.offset, self.token, self.cols = trace, offset, token, cols


class Token(int):
    """The token at position ``int(self)`` of the document, known only when the step runs."""


class Rows:
    """A parameter matrix as rows of Params; indexed by a Token, the row of that token."""

    def __init__(self, trace, offset, rows, cols):
        self.trace, self.offset, self.rows, self.cols = trace, offset, rows, cols

    def __getitem__(self, i):
        if isinstance(i, Token):
            return [Param(self.trace, self.offset + j, int(i), self.cols) for j in range(self.cols)]
        if not 0 <= i < self.rows:
            raise IndexError(i)
        start = self.offset + i * self.cols
        return [Param(self.trace, start + j) for j in range(self.cols)]


class Trace:
    """The instructions of one step, in the object engine's node order.

    Each instruction is (op, out, *args): ``out`` is a Sym, or a list of Syms for the ops that
    make a row of nodes (``linear``, ``softmax``); args are Syms, Params, tuples of them, or
    numbers. ``matrices`` maps a parameter matrix's name to (flat offset, rows, cols).
    """

    def __init__(self, config):
        self.config = config
        self.instructions, self.count = [], 0
        self.matrices, offset = {}, 0
        for name, rows, cols, _ in param_shapes(config):
            self.matrices[name] = (offset, rows, cols)
            offset += rows * cols
        self.num_params = offset

    def sym(self):
        self.count += 1
        return Sym(self, self.count - 1)

    def node(self, op, *args):
        out = self.sym()
        self.instructions.append((op, out, *args))
        return out

    def row(self, op, n, *args):
        outs = [self.sym() for _ in range(n)]
        self.instructions.append((op, outs, *args))
        return outs


class TraceOps:
    """engine.forward's operations, recorded on a Trace."""

    def __init__(self, trace):
        self.trace = trace
        self.weights = {
            name: Rows(trace, offset, rows, cols)
            for name, (offset, rows, cols) in trace.matrices.items()
        }

    def linear(self, x, name):
        x = tuple(x)
        if not all(isinstance(xi, Sym) for xi in x) or len({xi.id for xi in x}) < len(x):
            raise EngineError("a compiled linear map needs distinct interior inputs")
        return self.trace.row("linear", self.trace.matrices[name][1], name, x)

    def dot(self, a, b, scale=None):
        return self.trace.node("dot", tuple(a), tuple(b), scale)

    def dots(self, a, bs, scale=None):
        return [self.dot(a, b, scale) for b in bs]

    def softmax_row(self, logits):
        return self.trace.row("softmax", len(logits), tuple(logits))

    softmax = softmax_row  # (engine.floats.softmax is the one softmax)

    def relu_squared(self, xs):
        return [self.trace.node("relu2", x) for x in xs]

    def cross_entropy(self, logits, target):
        """The loss node, and p(target): a value the step returns, not a node, so it stands
        for itself as the loss node (engine.compiled names it after that node)."""
        loss = self.trace.node("xent", tuple(logits), target)
        return loss, loss

    def total(self, xs):
        return self.trace.node("total", tuple(xs))


def trace_step(config):
    """The graph of a step over a document of block_size positions: the Trace, where each
    position's instructions start (then where the loss's start), and each position's xent.

    A shorter document's graph is the first n positions of it (the forward pass at a position
    sees only earlier ones), and its loss the mean of n xents."""
    trace, starts = Trace(config), []

    def mark(group):
        if group.endswith("/embed") or group == "loss":
            starts.append(len(trace.instructions))

    tokens = [Token(i) for i in range(config.block_size + 1)]
    _, xents = sequence_loss(TraceOps(trace), config, tokens, mark)
    return trace, starts, xents
