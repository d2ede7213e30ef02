"""The compiled step is the object engine's step, bit for bit: the same losses, p(target),
gradients, weights and Adam moments (==, and a zero gradient's sign too) at every step, for the
default model and two others."""

from array import array

import pytest

from engine import GPTConfig, Trainer
from engine.compiled import (
    compiled_step,
    compiles,
    loss_and_grads,
    object_loss_and_grads,
    step_source,
)
from engine.model import GPT, num_params
from engine.optim import Adam, get_lr
from engine.state import TrainingState
from engine.train import forward_backward

SHAPES = [
    pytest.param({}, 50, id="default-50-steps"),
    pytest.param({"n_embd": 8, "n_head": 2, "block_size": 4}, 30, id="embd8-head2-block4"),
    pytest.param({"n_embd": 16, "n_layer": 2, "block_size": 16}, 30, id="2-layers-block16"),
]


def object_engine_run(config, steps):
    """Today's object engine trained as Trainer trains: a graph of Values per step, its
    backward pass, then Adam over the Values. Yields what each step computed and left."""
    state = TrainingState.fresh(config=config)
    model = GPT(state.config, state.weights)
    adam = Adam(model.params)
    for k in range(steps):
        tokens = state.tokenizer.tokens(state.docs[k % state.n_train])
        loss, target_probs = forward_backward(model, tokens)
        grads = [p.grad for p in model.params]
        grad_norm = adam.step(get_lr(state.lr, k, steps))
        values = [p.data for p in model.params]
        yield loss.data, target_probs, grads, grad_norm, values, list(adam.m), list(adam.v)


def bits(floats) -> bytes:
    """The floats' IEEE bits: tells 0.0 from -0.0, which == does not (/api/params shows both)."""
    return array("d", floats).tobytes()


@pytest.mark.parametrize(("shape", "steps"), SHAPES)
def test_compiled_steps_are_the_object_engines_bit_for_bit(shape, steps):
    config = GPTConfig(**shape)
    trainer = Trainer(config=config)
    trainer.record = True
    trainer.begin_run(steps)
    for k, expected in enumerate(object_engine_run(config, steps), 1):
        loss, target_probs, grads, grad_norm, values, m, v = expected
        rec = trainer.train_step()
        frame = trainer.last_frame
        assert rec.loss == loss and rec.target_probs == target_probs, f"step {k}"
        assert bits(frame.grads) == bits(grads) and rec.grad_norm == grad_norm, f"step {k}"
        assert trainer.values == values, f"step {k}: weights"
        assert trainer.adam.m == m and trainer.adam.v == v, f"step {k}: moments"


def test_a_step_is_compiled_once_per_shape_for_every_length():
    config = GPTConfig(n_embd=8, n_head=2, block_size=4)
    assert compiled_step(config) is compiled_step(GPTConfig(n_embd=8, n_head=2, block_size=4))
    assert compiled_step(config) is not compiled_step(GPTConfig(block_size=4))


def test_the_compiled_code_reads_as_the_graph_it_runs():
    source = step_source(GPTConfig(n_embd=8, n_head=2, block_size=4))
    assert source.startswith("def step(w, tokens):")
    for label in ("# dot × 8: layer0.attn_wq", "# softmax", "# xent", "# relu² row", "# pow"):
        assert label in source
    assert "d loss / d lm_head" in source


def test_documents_longer_than_the_block_train_on_its_first_positions():
    config = GPTConfig(n_embd=8, n_head=2, block_size=4)
    trainer = Trainer(docs=["abcdefghij", "ab"], config=config)
    model = GPT(trainer.config, trainer.weights())
    tokens = trainer.tokenizer.tokens("abcdefghij")
    loss, target_probs = forward_backward(model, tokens)
    compiled = loss_and_grads(trainer.config, trainer.values, tokens)
    assert compiled == (loss.data, target_probs, [p.grad for p in model.params])
    assert len(target_probs) == 4


def test_weights_edited_through_the_model_are_trained_on():
    trainer = Trainer()
    trainer.model.state_dict["wte"][0][0].data = 0.5
    assert trainer.weights()["wte"][0][0] == 0.5
    assert trainer.values[0] == 0.5


def test_a_shape_too_large_to_compile_quickly_trains_on_the_object_graph_with_the_same_numbers():
    largest = GPTConfig(n_embd=32, n_head=8, n_layer=2, block_size=16)
    assert compiles(GPTConfig()) and not compiles(largest)  # 12 s of compiling: not worth a wait
    shape = GPTConfig(n_embd=8, n_head=2, n_layer=2, block_size=4)
    w = [((i * 7919) % 201 - 100) / 1000 for i in range(num_params(shape))]
    tokens = [26, 4, 12, 12, 0, 26]

    loss, probs, grads = object_loss_and_grads(shape, w, tokens)
    want_loss, want_probs, want_grads = compiled_step(shape)(w, tokens)

    assert (loss, list(probs), grads) == (want_loss, list(want_probs), list(want_grads))
    assert bits(grads) == bits(want_grads)
