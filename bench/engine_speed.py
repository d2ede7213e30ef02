"""Fast engine vs the textbook engine, on the same training steps, measured side by side.

    python bench/engine_speed.py [--steps 40] [--rounds 3]

Both engines start from seed 42 and train the same documents. Steps are timed in alternating
blocks (fast, textbook, fast, ...) so that machine noise hits both alike; the ratio of their
per-step medians is the figure to quote. Then the fast engine with and without recording each
step's frame (what the worker does for the Parameters panel), alternating likewise, and a full
500-step run of the fast engine, in a fresh process, gives its wall time and peak memory.
"""

import argparse
import statistics
import subprocess
import sys
import time

from engine import Trainer, load_names
from engine.reference import ReferenceGPT

# Peak memory is VmHWM, this process image's own (ru_maxrss would include the forking parent's).
FULL_RUN = """
import time
from engine import Trainer
t = Trainer(); t.begin_run(500)
t0 = time.perf_counter()
for _ in t.steps():
    pass
with open("/proc/self/status") as f:
    peak_kb = next(line.split()[1] for line in f if line.startswith("VmHWM:"))
print(time.perf_counter() - t0, peak_kb)
"""


def recording_cost(rounds: int, steps: int) -> None:
    """The worker records every step's frame (weights before, gradients) for the Parameters
    panel: the same steps with and without ``record``, in alternating blocks."""
    plain, recording = Trainer(), Trainer()
    recording.record = True
    times = {"plain": [], "recording": []}
    for trainer in (plain, recording):
        trainer.begin_run(500)
    for _ in range(rounds):
        for name, trainer in (("plain", plain), ("recording", recording)):
            for _ in range(steps):
                t0 = time.perf_counter()
                trainer.train_step()
                times[name].append(time.perf_counter() - t0)
    p_ms, r_ms = (statistics.median(times[k]) * 1e3 for k in ("plain", "recording"))
    print(
        f"fast engine recording frames: {r_ms:.2f} ms/step against {p_ms:.2f} without "
        f"({r_ms / p_ms:.3f}x)"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="steps per engine per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    fast = Trainer()
    fast.begin_run(500)
    textbook = ReferenceGPT(load_names())
    fast_times, textbook_times = [], []
    step = 0
    for _ in range(args.rounds):
        fast_losses, ref_losses = [], []
        for _ in range(args.steps):
            t0 = time.perf_counter()
            fast_losses.append(fast.train_step().loss)
            fast_times.append(time.perf_counter() - t0)
        for s in range(step, step + args.steps):
            t0 = time.perf_counter()
            ref_losses.append(textbook.train_step(s, 500))
            textbook_times.append(time.perf_counter() - t0)
        worst = max(abs(a - b) for a, b in zip(fast_losses, ref_losses, strict=True))
        assert worst < 1e-9, f"engines disagree by {worst}"
        step += args.steps

    f_ms = statistics.median(fast_times) * 1e3
    t_ms = statistics.median(textbook_times) * 1e3
    f_total, t_total = sum(fast_times), sum(textbook_times)
    print(f"steps 1..{step} of the default run, in alternating blocks of {args.steps} steps")
    print(f"{'engine':<10}{'median ms/step':>16}{'total s':>10}")
    print(f"{'textbook':<10}{t_ms:>16.2f}{t_total:>10.2f}")
    print(f"{'fast':<10}{f_ms:>16.2f}{f_total:>10.2f}")
    print(f"speed-up: {t_ms / f_ms:.1f}x per step (median), {t_total / f_total:.1f}x in total")

    recording_cost(args.rounds, args.steps)

    out = subprocess.run([sys.executable, "-c", FULL_RUN], capture_output=True, text=True)
    seconds, peak_kb = out.stdout.split()
    print(
        f"full 500-step run (fast): {float(seconds):.2f} s, peak RSS {int(peak_kb) / 1024:.0f} MB"
    )


if __name__ == "__main__":
    main()
