"""`python -m engine`: the original's output, JSON lines, and one-line errors with status 2."""

import json
import subprocess
import sys

import pytest

from engine.train import Trainer


def run(*args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "engine", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def trained_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "model.json"
    result = run("train", "--steps", "40", "--checkpoint", str(path))
    assert result.returncode == 0, result.stderr
    return path, result.stdout


def test_train_prints_what_the_original_prints(trained_checkpoint):
    _, stdout = trained_checkpoint
    lines = stdout.splitlines()
    assert lines[0] == "step    1 /   40 | loss 3.3630"
    assert lines[39].startswith("step   40 /   40 | loss ")
    assert [line[:10] for line in lines[40:]] == [f"sample {i:2d}:" for i in range(1, 21)]


def test_train_jsonl_gives_full_precision_steps_the_held_out_loss_and_samples():
    result = run("train", "--steps", "3", "--jsonl")
    assert result.returncode == 0, result.stderr
    objs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["step"] for o in objs[:3]] == [1, 2, 3]
    assert objs[0]["loss"] == 3.3630094726947277
    # after the run: the loss on 32 of the 3,204 names never trained on (the engine's own,
    # which tests/engine/test_held_out.py checks against the textbook engine)
    trainer = Trainer()
    trainer.begin_run(3)
    for _ in range(3):
        trainer.train_step()
    val = objs[3]
    assert (val["type"], val["step"], val["docs"]) == ("validation", 3, 32)
    assert val["loss"] == trainer.validation_loss()
    assert objs[4]["type"] == "samples" and len(objs[4]["samples"]) == 20


def test_train_says_the_held_out_loss_beside_the_original_output():
    result = run("train", "--steps", "2")
    assert result.returncode == 0, result.stderr
    assert "held-out loss " in result.stderr and "(32 documents never trained on)" in result.stderr
    assert "held-out" not in result.stdout


def test_predict_lists_the_top_characters(trained_checkpoint):
    path, _ = trained_checkpoint
    result = run("predict", "--checkpoint", str(path), "--prefix", "em", "--top", "3")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert len(rows) == 3
    percents = [float(r[1].rstrip("%")) for r in rows]
    assert percents == sorted(percents, reverse=True)


def test_sample_prints_names(trained_checkpoint):
    path, _ = trained_checkpoint
    result = run("sample", "--checkpoint", str(path), "--n", "5", "--seed", "1")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 5


def test_resume_continues_the_run(tmp_path):
    path = tmp_path / "m.json"
    assert run("train", "--steps", "3", "--checkpoint", str(path)).returncode == 0
    result = run("train", "--resume", str(path), "--steps", "2", "--jsonl")
    assert [json.loads(line)["step"] for line in result.stdout.splitlines()[:2]] == [4, 5]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["predict", "--checkpoint", "{ckpt}", "--prefix", "e!"], "'!' is not in the vocabulary"),
        (["predict", "--checkpoint", "{ckpt}", "--prefix", "abcdefgh"], "at most 7"),
        (["sample", "--checkpoint", "/nonexistent.json"], "cannot read checkpoint"),
        (["train", "--n-embd", "10"], "must be divisible by n_head"),
        (["train", "--steps", "0"], "steps must be between"),
        (["train", "--data", "{empty}"], "no documents"),
        (["sample", "--checkpoint", "{ckpt}", "--temperature", "0"], "greater than 0"),
    ],
)
def test_bad_input_gives_one_line_and_status_2(trained_checkpoint, tmp_path, args, message):
    path, _ = trained_checkpoint
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    args = [a.format(ckpt=path, empty=empty) for a in args]
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") <= 2  # argparse adds its usage line
