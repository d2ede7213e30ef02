"""Command line: `python -m engine train | sample | predict` (see --help of each)."""

import argparse
import json
import sys
import time

from engine import checkpoint
from engine.data import read_docs
from engine.errors import EngineError
from engine.model import GPTConfig
from engine.train import Trainer


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m engine", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a model, print the loss per step and 20 samples")
    train.add_argument("--steps", type=int, default=500, help="steps in this run (default 500)")
    train.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    train.add_argument("--lr", type=positive_float, default=0.01, help="peak learning rate")
    train.add_argument("--data", metavar="PATH", help="dataset, one document per line")
    train.add_argument("--n-embd", type=int, default=16)
    train.add_argument("--n-head", type=int, default=4)
    train.add_argument("--n-layer", type=int, default=1)
    train.add_argument("--block-size", type=int, default=8)
    train.add_argument("--resume", metavar="PATH", help="continue from this checkpoint")
    train.add_argument("--checkpoint", metavar="PATH", help="save the trained state here")
    train.add_argument("--jsonl", action="store_true", help="one JSON object per line")

    sample = sub.add_parser("sample", help="sample names from a checkpoint")
    sample.add_argument("--checkpoint", metavar="PATH", required=True)
    sample.add_argument("--n", type=int, default=20, help="how many names (default 20)")
    sample.add_argument("--temperature", type=positive_float, default=0.5)
    sample.add_argument("--seed", type=int, default=None)

    predict = sub.add_parser("predict", help="the most likely next characters after a prefix")
    predict.add_argument("--checkpoint", metavar="PATH", required=True)
    predict.add_argument("--prefix", default="", help='e.g. "em" (default: empty)')
    predict.add_argument("--top", type=int, default=5, help="how many to show (default 5)")
    return parser.parse_args(argv)


class Progress:
    """A one-line progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, total):
        self.total, self.t0 = total, time.perf_counter()
        self.enabled = sys.stderr.isatty()

    def update(self, done, loss):
        if not self.enabled:
            return
        width = 30
        filled = width * done // self.total
        rate = done / max(time.perf_counter() - self.t0, 1e-9)
        bar = "#" * filled + "-" * (width - filled)
        sys.stderr.write(f"\r[{bar}] {done}/{self.total} loss {loss:.4f} {rate:.0f} steps/s")
        if done == self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def emit(obj):
    print(json.dumps(obj), flush=True)


def cmd_train(args):
    if args.resume:
        trainer = checkpoint.load(args.resume)
    else:
        config = GPTConfig(
            n_embd=args.n_embd, n_head=args.n_head, n_layer=args.n_layer, block_size=args.block_size
        )
        docs = read_docs(args.data) if args.data else None
        trainer = Trainer(docs=docs, config=config, seed=args.seed, lr=args.lr)
    if trainer.run_remaining == 0:
        trainer.begin_run(args.steps)
    progress = Progress(trainer.run_remaining)
    try:
        for done, rec in enumerate(trainer.steps(), 1):
            if args.jsonl:
                emit({"type": "step", **rec.to_dict()})
            else:
                print(f"step {rec.run_step:4d} / {rec.run_steps:4d} | loss {rec.loss:.4f}")
            progress.update(done, rec.loss)
    except KeyboardInterrupt:
        if args.checkpoint:
            checkpoint.save(trainer, args.checkpoint)
            print(f"interrupted at step {trainer.step}; saved {args.checkpoint}", file=sys.stderr)
        return 130
    if args.checkpoint:
        checkpoint.save(trainer, args.checkpoint)
    val = trainer.validation_loss()  # plain floats: leaves the random stream as it was
    if val is not None:
        n_val = len(trainer.validation_docs)
        if args.jsonl:
            emit({"type": "validation", "step": trainer.step, "loss": val, "docs": n_val})
        else:
            # stderr, like the progress bar: stdout stays what the original prints
            print(f"held-out loss {val:.4f} ({n_val} documents never trained on)", file=sys.stderr)
    # Like the original, sampling continues the training run's random stream.
    samples = trainer.predictor().sample(20, temperature=0.5, rng=trainer.rng)
    if args.jsonl:
        emit({"type": "samples", "temperature": 0.5, "samples": samples})
    else:
        for i, name in enumerate(samples, 1):
            print(f"sample {i:2d}: {name}")
    return 0


def cmd_sample(args):
    predictor = checkpoint.load(args.checkpoint).predictor()
    for name in predictor.sample(args.n, temperature=args.temperature, seed=args.seed):
        print(name)
    return 0


def cmd_predict(args):
    predictor = checkpoint.load(args.checkpoint).predictor()
    probs = predictor.distribution(args.prefix)
    ranked = sorted(range(len(probs)), key=lambda i: -probs[i])[: max(args.top, 1)]
    for i in ranked:
        print(f"{predictor.tokenizer.label(i):>5}  {probs[i]:7.2%}")
    return 0


def main(argv=None):
    args = parse_args(argv)
    try:
        return {"train": cmd_train, "sample": cmd_sample, "predict": cmd_predict}[args.command](
            args
        )
    except EngineError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
