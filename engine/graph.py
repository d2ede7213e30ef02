"""One training step as its graph: every scalar the engine computed, for showing it.

The step is replayed from the weights before it (as engine.replay does) on a tape of its own,
with the forward pass marking where each part starts, so every node gets a group a learner can
read: ``pos2/embed``, ``pos2/layer0/attn/qkv``, ``pos2/layer0/attn/head1``,
``pos2/layer0/attn/out``, ``pos2/layer0/mlp``, ``pos2/logits``, ``pos2/loss``, and ``loss`` (the
mean). The leaves are the parameters the step used (group ``params/<matrix>``).

The graph is the fused engine's: ``dot``, ``total``, ``softmax`` and ``xent`` nodes have many
children. An edge (child, parent, local) carries ∂parent/∂child; a child used twice by one
parent (``dot(x, x)`` in rmsnorm) appears as two edges. After backward every node's grad is
Σ over its edges to parents of parent.grad × local.
"""

import bisect
from dataclasses import dataclass

from engine.autograd import Tape
from engine.gradcheck import unflatten
from engine.model import GPT
from engine.replay import step_doc
from engine.train import forward_backward


@dataclass(frozen=True)
class StepGraph:
    step: int
    doc: str
    loss: int  # the loss node's id
    ops: list  # per node id: "param", or the op that made it
    data: list  # per node: its value
    grads: list  # per node: d loss / d node
    params: list  # per node: "wte[3][5]" for a parameter, else None
    groups: list  # per node: its group
    edges: list  # (child id, parent id, local) per child of every interior node


def step_graph(config, tokenizer, docs, before, step):
    """The graph of step ``step`` (1-based), replayed from ``before`` (its starting weights)."""
    model = GPT(config, unflatten(config, before))
    doc = step_doc(docs, step)
    tokens = tokenizer.tokens(doc)
    tape, starts, names = Tape(), [], []
    loss, _ = forward_backward(model, tokens, tape, _Marks(tape, starts, names))
    interior = tape.nodes
    used = {id(child) for node in interior for child in node._children}
    leaves = [  # the parameters the step used, in parameter order
        (p, name, f"{name}[{r}][{c}]")
        for name, rows in model.state_dict.items()
        for r, row in enumerate(rows)
        for c, p in enumerate(row)
        if id(p) in used
    ]
    nodes = [p for p, _, _ in leaves] + interior
    ids = {id(node): i for i, node in enumerate(nodes)}
    ops = ["param"] * len(leaves) + [node._op for node in interior]
    data = [node.data for node in nodes]
    grads = [node.grad for node in nodes]
    params = [label for _, _, label in leaves] + [None] * len(interior)
    groups = [f"params/{name}" for _, name, _ in leaves]
    for i in range(len(interior)):  # the group of the last mark at or before the node
        groups.append(names[bisect.bisect_right(starts, i) - 1])
    edges = [
        (ids[id(child)], ids[id(node)], local)
        for node in interior
        for child, local in zip(node._children, node._local_grads, strict=True)
    ]
    return StepGraph(step, doc, ids[id(loss)], ops, data, grads, params, groups, edges)


class _Marks:
    """mark(group) for forward_backward: where each group starts in the tape's node list."""

    def __init__(self, tape, starts, names):
        self.tape, self.starts, self.names = tape, starts, names

    def __call__(self, group):
        self.starts.append(len(self.tape.nodes))
        self.names.append(group)
