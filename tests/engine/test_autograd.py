"""Every operation's gradient agrees with central finite differences."""

import math
import random

import pytest

from engine.autograd import (
    Tape,
    Value,
    cross_entropy,
    dot,
    linear,
    softmax_nodes,
    topological_order,
    total,
)


def numeric_grads(f, xs, h=1e-6):
    grads = []
    for i in range(len(xs)):
        up = [x + (h if j == i else 0.0) for j, x in enumerate(xs)]
        down = [x - (h if j == i else 0.0) for j, x in enumerate(xs)]
        grads.append((f(up) - f(down)) / (2 * h))
    return grads


def check(build, xs):
    """build(list of Values) -> Value; compare backward() with finite differences."""
    vals = [Value(x) for x in xs]
    out = build(vals)
    out.backward()
    expected = numeric_grads(lambda ys: build([Value(y) for y in ys]).data, xs)
    for v, e in zip(vals, expected, strict=True):
        assert v.grad == pytest.approx(e, rel=1e-5, abs=1e-7)


OPS = {
    "add": (lambda v: v[0] + v[1], [0.3, -1.2]),
    "add_const": (lambda v: v[0] + 2.5, [0.3]),
    "radd": (lambda v: 2.5 + v[0], [0.3]),
    "mul": (lambda v: v[0] * v[1], [0.3, -1.2]),
    "mul_self": (lambda v: v[0] * v[0], [0.7]),
    "rmul": (lambda v: 3.0 * v[0], [0.7]),
    "pow": (lambda v: v[0] ** 3, [0.7]),
    "pow_neg_half": (lambda v: v[0] ** -0.5, [0.7]),
    "log": (lambda v: v[0].log(), [0.7]),
    "exp": (lambda v: v[0].exp(), [0.7]),
    "relu_pos": (lambda v: v[0].relu(), [0.7]),
    "relu_neg": (lambda v: v[0].relu(), [-0.7]),
    "relu_squared_pos": (lambda v: v[0].relu_squared(), [0.7]),
    "relu_squared_neg": (lambda v: v[0].relu_squared(), [-0.7]),
    "neg": (lambda v: -v[0], [0.7]),
    "sub": (lambda v: v[0] - v[1], [0.7, 0.2]),
    "rsub": (lambda v: 1.0 - v[0], [0.7]),
    "div": (lambda v: v[0] / v[1], [0.7, 1.9]),
    "rdiv": (lambda v: 2.0 / v[0], [0.7]),
    "dot": (lambda v: dot(v[:3], v[3:]), [0.1, -0.2, 0.3, 1.5, 0.5, -2.0]),
    "dot_scaled": (lambda v: dot(v[:2], v[2:], 0.5), [0.1, -0.2, 1.5, 0.5]),
    "total": (lambda v: total(v), [0.1, -0.2, 0.3]),
    "softmax_1": (lambda v: softmax_nodes(v)[1] * 3.0, [0.1, -0.2, 0.3]),
    "softmax_mix": (
        lambda v: dot(softmax_nodes(v), [Value(1.0), Value(-2.0), Value(0.5)]),
        [0.1, 0.4, 0.3],
    ),
    "cross_entropy": (lambda v: cross_entropy(v, 2)[0], [0.1, -0.2, 0.3, 1.1]),
    "chain": (lambda v: ((v[0] * v[1]).exp() + v[1] ** 2).log() / v[0], [0.4, -0.9]),
}


@pytest.mark.parametrize("name", OPS)
def test_gradient_matches_finite_differences(name):
    build, xs = OPS[name]
    check(build, xs)


def test_linear_gradients_match_finite_differences():
    rng = random.Random(0)
    w_flat = [rng.gauss(0, 1) for _ in range(6)]
    x0 = [rng.gauss(0, 1) for _ in range(3)]

    def build(vals):
        w = [tuple(vals[0:3]), tuple(vals[3:6])]
        wd = [tuple(v.data for v in row) for row in w]
        y = linear(vals[6:], w, wd)
        return y[0] * 2.0 + y[1] ** 2

    check(build, w_flat + x0)


def test_node_used_twice_accumulates_both_paths():
    x = Value(3.0)
    y = x * x + x  # dy/dx = 2x + 1
    y.backward()
    assert x.grad == 7.0


def test_backward_handles_a_chain_deeper_than_the_recursion_limit():
    x = Value(1.0)
    y = x
    for _ in range(20_000):
        y = y * 1.0 + 0.0
    y.backward()
    assert x.grad == 1.0


def test_topological_order_puts_children_before_parents_and_skips_leaves():
    a, b = Value(1.0), Value(2.0)
    c = a * b
    d = c + a
    e = d * c
    order = topological_order(e)
    assert order.index(c) < order.index(d) < order.index(e)
    assert a not in order and b not in order


def test_tape_backward_equals_graph_backward():
    xs = [0.3, -0.8, 1.7]

    def build(v):
        return softmax_nodes([v[0] * v[1], v[1].exp(), v[2] ** 2])[0].log() * v[2]

    graph = [Value(x) for x in xs]
    build(graph).backward()
    taped = [Value(x) for x in xs]
    with Tape() as tape:
        out = build(taped)
    tape.backward(out)
    assert [v.grad for v in taped] == pytest.approx([v.grad for v in graph], rel=1e-12)


def test_forward_values_match_plain_float_maths():
    a, b = Value(0.3), Value(-1.2)
    assert (a * b + a.exp()).data == 0.3 * -1.2 + math.exp(0.3)
    assert dot([a, b], [b, a]).data == 0.3 * -1.2 + -1.2 * 0.3
