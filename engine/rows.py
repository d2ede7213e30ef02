"""Rows of like nodes compiled as one line each (engine.compiled's code, shorter and faster).

The model's elementwise steps (``[a + b for a, b in zip(x, r)]``, ``[xi * scale for xi in x]``,
relu² of a row) and its dot products against one vector (attention's logits and outputs) make
runs of alike nodes in a row. Such a run is written as one comprehension forward and one per
gradient backward. That keeps the object engine's sums exactly: within a run every child's
gradient gets its terms in the engine's order (a child shared by all its nodes, last node
first, with ``seq_sum``), and the gradients of distinct children do not interfere, so the order
between them does not matter. A run whose children overlap otherwise stays node by node.
"""

from engine.node_lines import tup
from engine.trace import Sym

ELEMENTWISE = {"add", "mul", "addc", "mulc", "relu2"}
SIGN = {"add": "+", "addc": "+", "mul": "*", "mulc": "*"}


def key(instruction):
    """What must be alike for nodes to form a run."""
    op, _, *args = instruction
    if op in ("addc", "mulc"):
        return op, repr(args[1])
    if op == "dot":  # dots of one vector against several (ops.dots)
        return op, tuple(x.id if isinstance(x, Sym) else id(x) for x in args[0]), args[2]
    return (op,) if op in ELEMENTWISE else None


def runs(instructions):
    """The instructions cut into runs of alike nodes, in order: (instructions, is_row)."""
    out, i = [], 0
    while i < len(instructions):
        k, j = key(instructions[i]), i + 1
        while k is not None and j < len(instructions) and key(instructions[j]) == k:
            j += 1
        run = instructions[i:j]
        out.append((run, k is not None and len(run) > 1 and _separate(run)))
        i = j
    return out


def _separate(run):
    """Whether a run can be a row: interior children only, each used by one node of the run,
    but for one child all of them may share (a scale, the vector of the dots)."""
    if run[0][0] == "dot":
        a = run[0][2]
        rest = [x for _, _, _, b, _ in run for x in b]
    else:
        a = [ins[2] for ins in run]
        rest = [ins[3] for ins in run] if run[0][0] in ("add", "mul") else []
        if rest and all(x is rest[0] for x in rest):
            rest = rest[:1]
    nodes = [*a, *rest]
    return all(isinstance(x, Sym) for x in nodes) and len({x.id for x in nodes}) == len(nodes)


def row(expr, **iterables):
    """[expr for names in zip(iterables)]: a comprehension over its own iterables only (one that
    read the step's locals would make each of them a closure cell, slowing all of the step)."""
    names, seqs = ", ".join(iterables), ", ".join(iterables.values())
    if len(iterables) == 1:
        return f"[{expr} for {names} in {seqs}]"
    return f"[{expr} for {names} in zip({seqs})]"


class RowEmitter:
    """Forward and backward of one run as rows, written by a Codegen (its names and lines)."""

    def __init__(self, cg):
        self.cg = cg

    def forward(self, run):
        cg, op = self.cg, run[0][0]
        lhs = ", ".join(f"v{ins[1].id}" for ins in run)
        if op == "dot":
            a, scale = run[0][2], run[0][4]
            bs = ", ".join(tup(map(cg.v, ins[3])) for ins in run)
            dots = f"map(sum, map(map, repeat(mul), repeat({tup(map(cg.v, a))}), ({bs},)))"
            if scale is not None:
                dots = row(f"d * {scale!r}", d=dots)
            cg.emit(f"{lhs}, = {dots}", f"dot × {len(run)}")
            return
        a_vals = tup(cg.v(ins[2]) for ins in run)
        if op == "relu2":
            cg.emit(f"{lhs}, = {row('a ** 2 if a > 0 else 0.0', a=a_vals)}", "relu² row")
        elif op in ("addc", "mulc"):
            cg.emit(f"{lhs}, = {row(f'a {SIGN[op]} {run[0][3]!r}', a=a_vals)}", f"{op} row")
        else:
            b = self._other(run)
            cg.emit(f"{lhs}, = {row(f'a {SIGN[op]} b', a=a_vals, b=b)}", f"{op} row")

    def _other(self, run):
        """The other operand of each node, as an iterable: one value repeated, or a row."""
        cg = self.cg
        others = [ins[3] for ins in run]
        if all(x is others[0] for x in others):
            return f"repeat({cg.v(others[0])})"
        return tup(map(cg.v, others))

    def backward(self, run):
        cg, op = self.cg, run[0][0]
        g = tup(cg.g(ins[1]) for ins in run)
        if op == "dot":
            return self._backward_dots(run, g)
        a = [ins[2] for ins in run]
        a_vals = tup(cg.v(x) for x in a)
        if op in ("add", "addc"):  # local gradient 1.0
            self._add_each(a, "g", op, g=g)
        elif op == "relu2":
            self._add_each(a, "(2 * a if a > 0 else 0.0) * g", op, a=a_vals, g=g)
        elif op == "mulc":
            self._add_each(a, f"{run[0][3]!r} * g", op, g=g)
        else:  # mul: the other operand's value
            self._add_each(a, "b * g", op, b=self._other(run), g=g)
        if op not in ("add", "mul"):
            return
        others = [ins[3] for ins in run]
        if all(x is others[0] for x in others):  # one child of every node: last node first
            terms = f"{g}[::-1]" if op == "add" else f"map(mul, {a_vals}[::-1], {g}[::-1])"
            cg.emit(f"g{others[0].id} = seq_sum({terms}, {cg.g(others[0])})")
            cg.assigned.add(others[0].id)
        elif op == "add":
            self._add_each(others, "g", op, g=g)
        else:
            self._add_each(others, "a * g", op, a=a_vals, g=g)

    def _add_each(self, children, term, note, **iterables):
        """child_k.grad += term_k for each node k of the run (distinct children)."""
        cg = self.cg
        lhs = ", ".join(f"g{x.id}" for x in children)
        if any(x.id in cg.assigned for x in children):
            rhs = row(f"c + {term}", c=tup(map(cg.g, children)), **iterables)
        elif term == "g":
            rhs = iterables["g"]
        else:
            rhs = row(term, **iterables)
        cg.assigned.update(x.id for x in children)
        cg.emit(f"{lhs}, = {rhs}", f"{note} row")

    def _backward_dots(self, run, g):
        """Dots of one vector a against b_0 … b_K: a's gradient gets each node's term, last
        first; each b_k's gets its one term."""
        cg = self.cg
        a, scale = run[0][2], run[0][4]
        cols = f"zip({', '.join(tup(map(cg.v, ins[3])) for ins in reversed(run))})"
        if scale is not None:  # the local gradients are b · scale
            cols = f"map(map, repeat(mul), {cols}, repeat(repeat({scale!r})))"
        terms = f"map(map, repeat(mul), {cols}, repeat({g}[::-1]))"
        lhs = ", ".join(f"g{x.id}" for x in a)
        cg.emit(f"{lhs}, = map(seq_sum, {terms}, {tup(map(cg.g, a))})", f"dot × {len(run)}")
        cg.assigned.update(x.id for x in a)
        va = tup(map(cg.v, a))
        local = "x" if scale is None else f"x * {scale!r}"
        for ins in run:
            self._add_each(ins[3], f"{local} * g", "dot", x=va, g=f"repeat({cg.g(ins[1])})")
