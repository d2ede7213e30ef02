"""Fast engine vs the textbook engine, and vs a previous release, on the same steps side by side.

    python bench/engine_speed.py [--steps 40] [--rounds 3] [--previous REV]
        [--sections textbook,recording,full,previous]

Both engines start from seed 42 and train the same documents. Steps are timed in alternating
blocks (fast, textbook, fast, ...) so that machine noise hits both alike; the ratio of their
per-step medians is the figure to quote. Then the fast engine with and without recording each
step's frame (what the worker does for the Parameters panel), alternating likewise, and a full
500-step run of the fast engine, in a fresh process, gives its wall time and peak memory.

With ``--previous REV`` (a git revision of this repository, or a directory holding an
``engine/`` package), this engine and that one each run in a process of their own, driven in
alternating blocks (ABBA order): training steps of the default run, then inference on the
weights both reached (``Predictor.distribution`` over a few prefixes, ``Predictor.sample``).
Their results must be the same floats; the figures are per-call medians of CPU time (what
other processes on a busy machine disturb least), previous vs this.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


# One engine under test, driven over stdin: "train N" | "distribution N" | "sample N" -> one JSON
# line {"times": CPU seconds per call, "results": what the calls returned, to compare engines}.
ENGINE_WORKER = """
import json, sys, time
from engine import Trainer
trainer, predictor = Trainer(), None
trainer.begin_run(500)
PREFIXES = ["", "e", "em", "emm", "emma", "k", "ka", "kar"]

def call(cmd, i):
    global predictor
    if cmd == "train":
        return trainer.train_step().loss.hex()
    predictor = predictor or trainer.predictor()
    if cmd == "distribution":
        return [p.hex() for p in predictor.distribution(PREFIXES[i % len(PREFIXES)])]
    return predictor.sample(20, seed=i)

for line in sys.stdin:
    cmd, n, start = line.split()
    times, results = [], []
    for i in range(int(start), int(start) + int(n)):
        t0 = time.process_time()
        results.append(call(cmd, i))
        times.append(time.process_time() - t0)
    print(json.dumps({"times": times, "results": results}), flush=True)
"""


def engine_tree(previous, workdir):
    """The directory holding the previous engine package: ``previous`` itself, or the
    ``engine/`` of that git revision extracted into workdir."""
    if (Path(previous) / "engine").is_dir():
        return Path(previous)
    repo = Path(__file__).resolve().parents[1]
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", previous, "engine"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", workdir], input=archive.stdout, check=True)
    return Path(workdir)


def start_engine(tree):
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.Popen(
        [sys.executable, "-c", ENGINE_WORKER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tree,
    )


def ask(proc, cmd, n, start):
    proc.stdin.write(f"{cmd} {n} {start}\n")
    proc.stdin.flush()
    return json.loads(proc.stdout.readline())


def against_previous(previous, rounds, steps):
    """This engine against a previous one, each in its own process, in alternating blocks."""
    with tempfile.TemporaryDirectory() as workdir:
        engines = {
            "previous": start_engine(engine_tree(previous, workdir)),
            "this": start_engine(Path(__file__).resolve().parents[1]),
        }
        calls = {"train": steps, "distribution": 4 * steps, "sample": max(steps // 4, 1)}
        times = {(cmd, name): [] for cmd in calls for name in engines}
        for cmd, n in calls.items():
            for r in range(rounds):
                order = list(engines) if r % 2 == 0 else list(reversed(engines))
                results = {}
                for name in order:
                    out = ask(engines[name], cmd, n, r * n)
                    times[cmd, name] += out["times"]
                    results[name] = out["results"]
                assert results["previous"] == results["this"], f"{cmd}: the engines disagree"
        for proc in engines.values():
            proc.stdin.close()
            proc.wait()
    print(f"this engine against {previous}: {rounds} alternating rounds, identical results")
    print(f"{'call (CPU time)':<30}{'previous ms':>12}{'this ms':>10}{'this/prev':>11}")
    labels = {
        "train": "train_step (default run)",
        "distribution": "Predictor.distribution",
        "sample": "Predictor.sample(20)",
    }
    for cmd, label in labels.items():
        prev, this = (statistics.median(times[cmd, name]) * 1e3 for name in engines)
        print(f"{label:<30}{prev:>12.3f}{this:>10.3f}{this / prev:>11.3f}")


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


def against_textbook(rounds, steps):
    fast = Trainer()
    fast.begin_run(500)
    textbook = ReferenceGPT(load_names())
    fast_times, textbook_times = [], []
    step = 0
    for _ in range(rounds):
        fast_losses, ref_losses = [], []
        for _ in range(steps):
            t0 = time.perf_counter()
            fast_losses.append(fast.train_step().loss)
            fast_times.append(time.perf_counter() - t0)
        for s in range(step, step + steps):
            t0 = time.perf_counter()
            ref_losses.append(textbook.train_step(s, 500))
            textbook_times.append(time.perf_counter() - t0)
        worst = max(abs(a - b) for a, b in zip(fast_losses, ref_losses, strict=True))
        assert worst < 1e-9, f"engines disagree by {worst}"
        step += steps

    f_ms = statistics.median(fast_times) * 1e3
    t_ms = statistics.median(textbook_times) * 1e3
    f_total, t_total = sum(fast_times), sum(textbook_times)
    print(f"steps 1..{step} of the default run, in alternating blocks of {steps} steps")
    print(f"{'engine':<10}{'median ms/step':>16}{'total s':>10}")
    print(f"{'textbook':<10}{t_ms:>16.2f}{t_total:>10.2f}")
    print(f"{'fast':<10}{f_ms:>16.2f}{f_total:>10.2f}")
    print(f"speed-up: {t_ms / f_ms:.1f}x per step (median), {t_total / f_total:.1f}x in total")


def full_run():
    out = subprocess.run([sys.executable, "-c", FULL_RUN], capture_output=True, text=True)
    seconds, peak_kb = out.stdout.split()
    print(
        f"full 500-step run (fast): {float(seconds):.2f} s, peak RSS {int(peak_kb) / 1024:.0f} MB"
    )


SECTIONS = ("textbook", "recording", "full", "previous")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="steps per engine per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--previous", help="git revision or directory of an engine to compare")
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated, of {', '.join(SECTIONS)} (previous needs --previous)",
    )
    args = parser.parse_args()
    sections = args.sections.split(",")
    if "textbook" in sections:
        against_textbook(args.rounds, args.steps)
    if "recording" in sections:
        recording_cost(args.rounds, args.steps)
    if "full" in sections:
        full_run()
    if "previous" in sections and args.previous:
        against_previous(args.previous, args.rounds, args.steps)


if __name__ == "__main__":
    main()
