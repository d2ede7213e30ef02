"""The default run, all 500 steps, against the textbook engine: the longest faithfulness check.

    python bench/faithfulness.py [--steps 500]

tests/engine/test_reference_figures.py compares the first 100 steps one by one and the reference
losses of steps 1, 50, 100 and 500; this compares every step of the whole run and the 20 samples
the original prints after it. It takes 2.5-5 minutes (the textbook engine's speed), so it lives
here rather than in `make test`. Exit status 1 when any step differs by 1e-9 or more.
"""

import argparse
import sys
import time

from _support import textbook

from engine import Trainer

TOLERANCE = 1e-9


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    args = parser.parse_args()

    fast = Trainer()
    fast.begin_run(args.steps)
    ref = textbook()
    t0 = time.perf_counter()
    worst, worst_step = 0.0, 0
    for step, rec in enumerate(fast.steps()):
        diff = abs(rec.loss - ref.train_step(step, args.steps))
        if diff > worst:
            worst, worst_step = diff, step + 1
    fast_names = fast.predictor().sample(20, temperature=0.5, rng=fast.rng)
    ref_names = [ref.sample(0.5) for _ in range(20)]
    print(f"{args.steps} steps in {time.perf_counter() - t0:.0f} s")
    print(f"largest loss difference: {worst:.2e} (step {worst_step}); allowed < {TOLERANCE:.0e}")
    print(f"20 samples identical: {fast_names == ref_names}  ({', '.join(fast_names[:5])}, ...)")
    return 0 if worst < TOLERANCE and fast_names == ref_names else 1


if __name__ == "__main__":
    sys.exit(main())
