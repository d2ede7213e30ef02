"""Scalar autograd: every node is one number with its children and their local gradients.

Each operation states only its forward value and its local derivatives; `backward()` does all the
chaining with `+=`, so a node used twice is right. Besides the binary ops of micrograd there are a
few fused n-ary nodes (`dot`, `total`, `cross_entropy`): still one scalar each, just with more
children, which saves most of the Python objects of a textbook graph.
"""

import math
import threading
from operator import mul

from engine import floats

_tape = None  # the node list of the innermost active Tape, if any
# A Tape records every node made while it is active, in any thread: so one thread at a time may
# hold a tape or make parameters (GPT.__init__). Training has one thread; a web process that
# replays past steps in worker threads relies on this (uncontended, it costs ~0.1 µs a step).
graph_lock = threading.RLock()


class Derived:
    """The derived operations, one-liners over the primitives ``+``, ``*`` and ``**`` (constants
    fold into the node): shared by Value and engine.trace's symbols, so both make the same nodes."""

    __slots__ = ()

    def __neg__(self):
        return self * -1

    def __radd__(self, other):
        return self + other

    def __sub__(self, other):
        return self + (-other)

    def __rsub__(self, other):
        return (-self) + other

    def __rmul__(self, other):
        return self * other

    def __truediv__(self, other):
        return self * other**-1

    def __rtruediv__(self, other):
        return self**-1 * other


class Value(Derived):
    __slots__ = ("data", "grad", "_children", "_local_grads", "_op")

    def __init__(self, data, children=(), local_grads=(), op=""):
        self.data = data
        self.grad = 0.0
        self._children = children  # the nodes this one was computed from
        self._local_grads = local_grads  # d(self)/d(child), one per child
        self._op = op  # a label for debugging and for showing the graph
        if _tape is not None:
            _tape.append(self)

    def __repr__(self):
        return f"Value(data={self.data!r}, grad={self.grad!r}, op={self._op!r})"

    # -- primitives: forward value and local derivatives ------------------------------------
    def __add__(self, other):
        if isinstance(other, Value):
            return Value(self.data + other.data, (self, other), (1.0, 1.0), "+")
        return Value(self.data + other, (self,), (1.0,), "+")

    def __mul__(self, other):
        if isinstance(other, Value):
            return Value(self.data * other.data, (self, other), (other.data, self.data), "*")
        return Value(self.data * other, (self,), (other,), "*")

    def __pow__(self, k):
        return Value(self.data**k, (self,), (k * self.data ** (k - 1),), "pow")

    def log(self):
        return Value(math.log(self.data), (self,), (1 / self.data,), "log")

    def exp(self):
        e = math.exp(self.data)
        return Value(e, (self,), (e,), "exp")

    def relu(self):
        if self.data > 0:
            return Value(self.data, (self,), (1.0,), "relu")
        return Value(0.0, (self,), (0.0,), "relu")

    def relu_squared(self):
        """relu(x)², the MLP's activation, as one node."""
        if self.data > 0:
            return Value(self.data**2, (self,), (2 * self.data,), "relu²")
        return Value(0.0, (self,), (0.0,), "relu²")

    # -- the one walk that applies the chain rule ------------------------------------------
    def backward(self):
        """Accumulate d(self)/d(node) into `grad` of every node self depends on."""
        self.grad = 1.0
        chain_rule(reversed(topological_order(self)))


def chain_rule(nodes):
    """Push each node's gradient to its children; `nodes` must come parents before children."""
    for v in nodes:
        g = v.grad
        if g:  # a zero upstream gradient adds nothing to any child
            for child, local_grad in zip(v._children, v._local_grads, strict=False):
                child.grad += local_grad * g


def topological_order(root):
    """Interior nodes reachable from root, each after all of its children (iterative DFS).

    Leaves (parameters, inputs) are left out: they receive gradients but pass none on.
    """
    order, visited = [], {root}
    stack = [(root, iter(root._children))]
    push, pop = stack.append, stack.pop
    while stack:
        node, children = stack[-1]
        for child in children:
            if child._children and child not in visited:
                visited.add(child)
                push((child, iter(child._children)))
                break
        else:
            pop()
            order.append(node)
    return order


class Tape:
    """Records every node created inside `with Tape() as tape:`.

    A node is always created after its children, so creation order is already a topological
    order: `tape.backward(loss)` needs no graph search, which is a third of the cost of a step.
    """

    def __enter__(self):
        global _tape
        graph_lock.acquire()
        self._outer, self.nodes = _tape, []
        _tape = self.nodes
        return self

    def __exit__(self, *exc):
        global _tape
        _tape = self._outer
        graph_lock.release()

    def backward(self, root):
        root.grad = 1.0
        chain_rule(reversed(self.nodes))


# -- fused n-ary nodes -------------------------------------------------------------------------
def dot(a, b, scale=None):
    """Σ a_i·b_i (times scale, if given) as one node, summed left to right like the textbook
    graph's `sum(a_i * b_i)`."""
    ad = [x.data for x in a]
    bd = [x.data for x in b]
    if scale is None:
        return Value(sum(map(mul, ad, bd)), (*a, *b), (*bd, *ad), "dot")
    local_grads = [d * scale for d in bd + ad]
    return Value(sum(map(mul, ad, bd)) * scale, (*a, *b), local_grads, "dot")


def linear(x, w, w_data):
    """W·x as one `dot` node per row of w (tuples of Values); w_data holds their floats as tuples
    (read once per step, since weights only change between steps)."""
    xd = tuple([xi.data for xi in x])
    x = tuple(x)
    return [
        Value(sum(map(mul, rd, xd)), row + x, xd + rd, "dot")
        for row, rd in zip(w, w_data, strict=True)
    ]


def total(xs):
    """Σ x_i as one node."""
    return Value(sum([x.data for x in xs]), tuple(xs), (1.0,) * len(xs), "sum")


def softmax_nodes(logits):
    """softmax(logits) (engine.floats) as one node per output; d p_i / d l_j = p_i([i=j] − p_j)."""
    probs = floats.softmax([x.data for x in logits])
    children = tuple(logits)
    out = []
    for i, p in enumerate(probs):
        local_grads = [-p * q for q in probs]
        local_grads[i] += p
        out.append(Value(p, children, local_grads, "softmax"))
    return out


def cross_entropy(logits, target):
    """−log softmax(logits)[target] (engine.floats) as one node; also returns that probability.
    The local gradient of logit j is p_j − [j = target]."""
    loss, probs = floats.cross_entropy([x.data for x in logits], target)
    local_grads = probs.copy()
    local_grads[target] -= 1.0
    return Value(loss, tuple(logits), tuple(local_grads), "xent"), probs[target]
