"""The compiled step (engine.compiled) against everything else that trains the same curve.

    python bench/compiled_step.py [--rounds 3] [--steps 20] [--previous e8ed242]
        [--baseline-steps 500] [--sections compile,object,profile,runs,baselines,previous]

All figures are CPU time (what the other processes of a shared machine disturb least), medians
over alternating blocks or runs, and ratios. From one run it prints:

- compile: compiling the step of the default shape (one function for every document length)
  in a fresh process: CPU time, lines, and the memory it holds (tracemalloc);
- object: the compiled step against the object engine (a graph of Values per step, Adam over
  the Values) on the same steps, alternating blocks of ``--steps``; results must be ==;
- profile: the rest of a step: forward, backward, the weights' gradients, Adam, and the trainer;
- runs: whole 500-step runs in fresh processes, alternating: ``python -m engine train`` of
  this tree (compiling included) and of the previous release, and bench/vector_port.py (the
  vector-level port; its curve is checked against ours);
- baselines: the textbook engine (engine.reference) and the original script
  (bench/original_microgpt.py) over ``--baseline-steps`` of the same run, once each (they are
  slow); their mean step against this tree's whole-run mean step;
- previous: bench/engine_speed.py's per-call comparison with the previous release.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine_speed import against_previous, engine_tree  # noqa: E402  (bench/ is on the path)

from engine import Trainer  # noqa: E402
from engine.compiled import GLOBALS, compiled_step, gc_paused, step_source  # noqa: E402
from engine.model import GPT  # noqa: E402
from engine.optim import Adam, get_lr  # noqa: E402
from engine.train import forward_backward  # noqa: E402

COMPILE = """
import time, tracemalloc
from engine import GPTConfig
from engine.compiled import compiled_step
config = GPTConfig(vocab_size=27)
t0 = time.process_time()
step = compiled_step(config)
seconds = time.process_time() - t0
tracemalloc.start()  # a second compile, traced: what one compiled step holds
again = compiled_step.__wrapped__(config)
held = tracemalloc.get_traced_memory()[0]
print(seconds, held, step.source.count("\\n"))
"""


def run_cpu(cmd, cwd=ROOT, env=None):
    """CPU seconds of a child process (user + system), and its stdout."""
    before = os.times()
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout
    after = os.times()
    return (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    ), out


def compile_cost():
    """Compiling (no cache), then loading it from engine.code_cache (what every process that
    trains a shape seen before does), each in fresh processes."""
    with tempfile.TemporaryDirectory() as cache:
        for name, folder in (("compile", ""), ("from the cache", cache)):
            env = {**os.environ, "PYTHONPATH": str(ROOT), "MICROGPT_CACHE_DIR": folder}
            if folder:
                run_cpu([sys.executable, "-c", COMPILE], env=env)  # fills it
            seconds, held, lines = [], 0, 0
            for _ in range(3):
                _, out = run_cpu([sys.executable, "-c", COMPILE], env=env)
                s, held, lines = out.split()
                seconds.append(float(s))
            print(
                f"{name} (default shape, all lengths 1..8 in one function): "
                f"{statistics.median(seconds) * 1e3:.0f} ms CPU, {int(lines):,} lines, "
                f"{int(held) / 2**20:.1f} MB held per worker"
            )


class ObjectEngine:
    """Today's object engine, trained as the Trainer trains (the comparison's other side)."""

    def __init__(self, trainer):
        self.model = GPT(trainer.config, trainer.weights())
        self.adam, self.trainer, self.k = Adam(self.model.params), trainer, 0

    def train_step(self):
        t = self.trainer
        tokens = t.tokenizer.tokens(t.docs[self.k % t.n_train])
        loss, _ = forward_backward(self.model, tokens)
        self.adam.step(get_lr(t.lr, self.k, 500))
        self.k += 1
        return loss.data


def against_object(rounds, steps):
    compiled, reference = Trainer(), None
    compiled.begin_run(500)
    reference = ObjectEngine(Trainer())
    times = {"compiled": [], "object": []}
    for _ in range(rounds):
        losses = {"compiled": [], "object": []}
        for name, step in (("compiled", compiled.train_step), ("object", reference.train_step)):
            for _ in range(steps):
                t0 = time.process_time()
                out = step()
                times[name].append(time.process_time() - t0)
                losses[name].append(out if name == "object" else out.loss)
        assert losses["compiled"] == losses["object"], "the engines disagree"
    c, o = (statistics.median(times[k]) * 1e3 for k in ("compiled", "object"))
    print(f"compiled vs object engine, {rounds}x{steps} alternating steps, identical losses:")
    print(f"  object {o:.2f} ms/step, compiled {c:.2f} ms/step: {o / c:.2f}x")


def section_functions(config):
    """The compiled step cut after its forward pass and after its backward pass."""
    source = step_source(config).splitlines()
    cut_backward = source.index("    # -- backward --")
    cut_weights = source.index("    # -- the weights' gradients --")
    functions = {}
    for name, end in (("forward", cut_backward), ("backward", cut_weights)):
        namespace = dict(GLOBALS)
        exec("\n".join([*source[:end], "    return 0"]), namespace)
        functions[name] = namespace["step"]
    return functions


def profile(steps):
    trainer = Trainer()
    trainer.begin_run(500)
    config, full = trainer.config, compiled_step(trainer.config)
    parts = section_functions(config)
    sums = {"forward": 0.0, "backward": 0.0, "weight grads": 0.0, "Adam": 0.0, "step": 0.0}
    for k in range(steps):
        tokens = trainer.tokenizer.tokens(trainer.docs[k])
        w = trainer.values
        with gc_paused():
            marks = [time.process_time()]
            parts["forward"](w, tokens)
            marks.append(time.process_time())
            parts["backward"](w, tokens)
            marks.append(time.process_time())
            _, _, grads = full(w, tokens)
            marks.append(time.process_time())
        Adam(w, trainer.adam.t, list(trainer.adam.m), list(trainer.adam.v)).update(w, grads, 0.01)
        marks.append(time.process_time())
        trainer.train_step()
        marks.append(time.process_time())
        fwd, fb, full_t, adam, step = (b - a for a, b in zip(marks, marks[1:], strict=False))
        sums["forward"] += fwd
        sums["backward"] += fb - fwd
        sums["weight grads"] += full_t - fb
        sums["Adam"] += adam
        sums["step"] += step
    sums["trainer (the rest)"] = (
        sums.pop("step")
        - sum(sums[k] for k in ("forward", "weight grads", "Adam"))
        - sums["backward"]
    )
    total = sum(sums.values())
    print(f"profile of a compiled training step (mean over the run's first {steps} documents):")
    for name, s in sums.items():
        print(f"  {name:<20}{s / steps * 1e3:7.3f} ms  {s / total:5.1%}")


def whole_runs(rounds, previous, workdir):
    prev_tree = engine_tree(previous, workdir)
    cli = [sys.executable, "-m", "engine", "train", "--steps", "500", "--jsonl"]
    runs = {
        "this engine (CLI)": (cli, ROOT, {**os.environ, "PYTHONPATH": str(ROOT)}),
        f"previous {previous} (CLI)": (
            cli,
            prev_tree,
            {**os.environ, "PYTHONPATH": str(prev_tree)},
        ),
        "vector port": ([sys.executable, str(ROOT / "bench" / "vector_port.py")], ROOT, None),
    }
    times = {name: [] for name in runs}
    curves = {}
    for r in range(rounds):
        order = list(runs) if r % 2 == 0 else list(reversed(runs))
        for name in order:
            cmd, cwd, env = runs[name]
            seconds, out = run_cpu(cmd, cwd, env)
            times[name].append(seconds)
            curves[name] = out
    lines = [json.loads(line) for line in curves["this engine (CLI)"].splitlines()]
    ours = [d["loss"] for d in lines if d["type"] == "step"]
    port = [
        float(line.split()[3]) for line in curves["vector port"].splitlines() if line[:4] == "step"
    ]
    worst = max(abs(a - b) for a, b in zip(ours, port, strict=True))
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"whole 500-step runs, {rounds} alternating rounds (process CPU, medians):")
    for name, s in medians.items():
        print(f"  {name:<32}{s:6.2f} s  {s / 500 * 1e3:6.2f} ms/step")
    this = medians["this engine (CLI)"]
    print(f"  this engine vs previous: {medians[f'previous {previous} (CLI)'] / this:.2f}x")
    print(
        f"  this engine vs vector port: {medians['vector port'] / this:.2f}x "
        f"(its curve within {worst:.1e} of ours)"
    )
    return this / 500


def baselines(steps, mean_step):
    _, out = run_cpu(
        [sys.executable, str(ROOT / "bench" / "original_microgpt.py"), "--steps", str(steps)]
    )
    original = float(out.splitlines()[-1].split()[1]) / steps
    textbook_code = (
        "import time\nfrom engine import load_names\nfrom engine.reference import ReferenceGPT\n"
        f"r = ReferenceGPT(load_names()); t0 = time.process_time()\n"
        f"for s in range({steps}): r.train_step(s, {steps})\n"
        f"print(time.process_time() - t0)"
    )
    _, out = run_cpu(
        [sys.executable, "-c", textbook_code], env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    textbook = float(out) / steps
    print(f"baselines over steps 1..{steps} of the same run (process CPU, mean per step):")
    for name, s in (("original script", original), ("textbook engine", textbook)):
        print(f"  {name} {s * 1e3:7.1f} ms/step: this engine's whole run {s / mean_step:.1f}x")


SECTIONS = ("compile", "object", "profile", "runs", "baselines", "previous")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20, help="steps per block (object, previous)")
    parser.add_argument("--previous", default="e8ed242", help="git revision of the previous engine")
    parser.add_argument("--baseline-steps", type=int, default=500)
    parser.add_argument("--sections", default=",".join(SECTIONS))
    args = parser.parse_args()
    sections = args.sections.split(",")
    if "compile" in sections:
        compile_cost()
    if "object" in sections:
        against_object(args.rounds, args.steps)
    if "profile" in sections:
        profile(40)
    mean_step = None
    with tempfile.TemporaryDirectory() as workdir:
        if "runs" in sections:
            mean_step = whole_runs(args.rounds, args.previous, workdir)
    if "baselines" in sections and mean_step:
        baselines(args.baseline_steps, mean_step)
    if "previous" in sections:
        against_previous(args.previous, args.rounds, args.steps)


if __name__ == "__main__":
    main()
