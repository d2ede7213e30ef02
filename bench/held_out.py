"""What the held-out loss costs a run: the same 500 training steps with and without measuring
it every ``--every`` steps (as the worker does), side by side, in alternating rounds.

    python bench/held_out.py [--steps 500] [--every 50] [--rounds 3]

Both trainers start from seed 42 and train the same documents (so their weights stay equal,
which is checked: measuring changes nothing). Each round times a block of steps on one, then
the same block on the other, so that machine noise hits both alike. The figure to quote is
the ratio of their totals, and the time one measurement takes (32 held-out names, plain
floats).
"""

import argparse
import statistics
import time

import _support  # noqa: F401  (this checkout's engine first on the import path)

from engine import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    block = args.steps // args.rounds // args.every * args.every or args.every
    plain, measured = Trainer(), Trainer()
    for t in (plain, measured):
        t.begin_run(block * args.rounds)
    totals = {"plain": 0.0, "measured": 0.0}
    one = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        for _ in range(block):
            plain.train_step()
        totals["plain"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(block):
            measured.train_step()
            if measured.step % args.every == 0:
                m0 = time.perf_counter()
                measured.validation_loss()
                one.append(time.perf_counter() - m0)
        totals["measured"] += time.perf_counter() - t0
    assert plain.weights() == measured.weights(), "measuring the held-out loss changed training"

    steps = block * args.rounds
    print(f"{steps} steps, held-out loss every {args.every} ({len(one)} measurements)")
    print(f"  without: {totals['plain']:.2f} s ({totals['plain'] / steps * 1e3:.1f} ms a step)")
    print(f"  with:    {totals['measured']:.2f} s")
    print(f"  ratio with / without: {totals['measured'] / totals['plain']:.3f}")
    print(f"  one measurement (32 names): median {statistics.median(one) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
