"""A checkpoint's JSON stored without the arrays its kept state holds reads back as written,
to the character; what is not a checkpoint of that shape is stored whole; an array packed
unpacks to every bit."""

import json

from app.store import kept
from engine import GPTConfig, Trainer
from engine.checkpoint import trainer_to_dict, with_state


def test_a_checkpoint_reads_back_to_the_character():
    trainer = Trainer(seed=3)
    trainer.begin_run(5)
    for _ in range(3):
        trainer.train_step()
    data = json.dumps(trainer.to_dict(), allow_nan=False)
    text, weights, m, v = kept.split(data)
    assert len(text) < len(data) / 10 and kept.is_split(text)
    assert not kept.is_split(data)
    values, m_now, v_now = trainer.flat_state()
    assert kept.from_le(weights) == values.tolist()
    assert (kept.from_le(m), kept.from_le(v)) == (m_now.tolist(), v_now.tolist())
    assert kept.join(text, weights, m, v) == data


def test_a_training_process_checkpoint_comes_as_the_store_keeps_it():
    """What a training process sends (the JSON without its state, and the state as arrays) is
    what ``split`` makes of the whole checkpoint: stored as it comes, read back as written."""
    trainer = Trainer(seed=5, config=GPTConfig(n_embd=8, n_head=2, n_layer=2, block_size=4))
    trainer.begin_run(4)
    for _ in range(4):
        trainer.train_step()
    data = json.dumps(trainer.to_dict(), allow_nan=False)
    sent = json.dumps(trainer_to_dict(trainer, state=False), allow_nan=False)
    state = tuple(kept.le_bytes(a) for a in trainer.flat_state())
    assert kept.split(data) == (sent, *state)
    assert kept.join(sent, *state) == data
    again = with_state(json.loads(sent), *trainer.flat_state())
    assert json.dumps(again, allow_nan=False) == data


def test_other_json_is_stored_whole():
    assert kept.split('{"a": 1}') is None
    assert kept.split("not json") is None
    assert kept.split('{"weights": {"w": [[1.0]]}, "adam": {"m": [], "v": []}}') is None


def test_a_packed_array_unpacks_to_every_bit_and_is_smaller():
    trainer = Trainer(seed=3)
    trainer.begin_run(5)
    trainer.train_step()
    odd = kept.le_bytes([-0.0, 0.0, 5e-324, -1.7976931348623157e308, 1 / 3])
    for data in (b"", odd, *(a.tobytes() for a in trainer.flat_state())):
        assert kept.unpack(kept.pack(data)) == data
    weights = trainer.flat_state()[0].tobytes()
    assert len(kept.pack(weights)) < 0.95 * len(weights)
