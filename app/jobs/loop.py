"""The training process: owns the Trainer, steps it, and reports every step.

Runs in its own OS process (``app.jobs.local``: multiprocessing ``spawn``; or a Redis worker's
slice, ``app.jobs.slices``) so the pure-Python training loop never holds the web process's
GIL. Imports only the engine, the standard library and pydantic (``app.contract``).

Commands in, as ``(kind, payload)``: load {checkpoint} (first, to start), train {run_id, steps,
lr}, resume {run_id, elapsed}, pause, stop, step {run_id, new_run, elapsed}, pace
{steps_per_sec (None: full speed)}, shutdown. Messages out: ``app.contract.worker``'s union,
each step's ``StepEvent`` built here, once (``app.jobs.step_messages``; probes: those of
``options["probes"]`` the model's vocabulary can encode; health: per matrix), its instruments
measured by a helper process forked from this one (``options["helper"]``) while the next steps
train, or inline (``app.jobs.instruments``).
"""

import json
import os
import signal
import time
import traceback
from collections import deque
from functools import partial
from multiprocessing.connection import Connection

from app.contract.worker import (
    Diverged,
    Done,
    Error,
    Message,
    Params,
    Ready,
    Reply,
    Step,
    Validation,
    Weights,
)
from app.jobs.instruments import instruments_for, usable_probes
from app.jobs.newest import NewestCheckpoint
from app.jobs.outbox import Later, Outbox
from app.jobs.step_messages import checkpoint_message, event_fields, held_out, step_event
from engine import Diverged as Diverging
from engine import EngineError, Trainer
from engine.checkpoint import trainer_to_dict
from engine.floats import doubles

FRAME_EVERY = 0.25  # seconds between params frames at full speed
FRAME_EVERY_STEP_PACE = 5.0  # paced at most this many steps/s: a frame for every step


class TrainerProcess:
    def __init__(self, trainer: Trainer, out: Connection, options: dict):
        self.out = out
        self.frame_sent_at = 0.0  # when the last params frame was sent
        self.checkpoint_every = options.get("checkpoint_every", 25)
        self.snapshot_every = options.get("snapshot_every", 5)
        self.val_every = options.get("val_every", 50)
        self.wanted_probes = list(options.get("probes", ("", "e")))
        # each step's probes, health and held-out loss: measured by a helper process while
        # the next steps train (app.jobs.instruments), or here; the messages wait for them
        helper = instruments_for(bool(options.get("helper")), trainer.num_params)
        self.outbox = Outbox(out, helper)
        self.use(trainer)
        self.pace: float | None = options.get("pace")  # steps/s cap; None: full speed
        self.last_start = 0.0  # when the latest step (or the segment) began, for the pace
        self.running = False
        self.run_id: int | None = None
        self.elapsed_before = 0.0  # run seconds before the current segment
        self.segment_start = 0.0
        self.ends: deque[float] = deque(maxlen=21)  # wall-clock ends of the recent steps
        self.newest = NewestCheckpoint(json.dumps(trainer.to_dict()))  # a divergence's way back
        # fault injection for tests (settings.fault_nonfinite_at): make this global step's loss
        # non-finite once, as a run at too high a learning rate would
        self.poison_at: int | None = options.get("fault_nonfinite_at")

    def use(self, trainer: Trainer) -> None:
        """Train ``trainer`` from now on (at start, a load, back from a divergence)."""
        self.trainer = trainer
        trainer.record = True  # every step's frame: for health, params frames, checkpoints
        self.frame_sent_step = -1  # the step whose params frame was sent last
        self.probes = usable_probes(self.wanted_probes, trainer.predictor())
        self.outbox.instruments.use(trainer, self.probes)

    def send(self, message: Message | Later) -> None:
        self.outbox.send(message)

    # -- the loop --

    def serve(self, commands: Connection) -> None:
        while True:
            # between paced steps, wait on the pipe: a command is answered the moment it comes
            wait = self.wait_time() if self.running else None
            if wait:  # a paced run's next step is not due yet: what is measured goes first
                self.outbox.flush()
            if self.running and not commands.poll(wait):
                self.one_step()
                continue
            self.outbox.flush()  # a command, or none to wait for: the last steps' go first
            try:
                kind, payload = commands.recv()
            except EOFError:  # the web process is gone
                return
            if kind == "shutdown":
                return
            self.handle(kind, payload)

    def handle(self, kind: str, payload: dict) -> None:
        t = self.trainer
        if kind == "train":
            if payload.get("lr") is not None:
                t.lr = float(payload["lr"])
            t.begin_run(payload["steps"])
            self.run_id, self.elapsed_before = payload["run_id"], 0.0
            self.send_validation()  # where the new run's held-out line starts
            self.save("start", weights=False)  # a crash before step 25 resumes this run's plan
            self.start_segment(payload["run_id"], 0.0)
            self.reply(True)
        elif kind == "resume":
            self.start_segment(payload["run_id"], payload.get("elapsed", 0.0))
            self.reply(True)
            if t.run_remaining <= 0:
                self.finish()
        elif kind in ("pause", "stop"):
            if not self.running:
                self.reply(False, "no run is training")
                return
            self.running = False
            self.elapsed_before += time.time() - self.segment_start
            self.send_frame()  # the page shows exactly the step it stopped at
            self.save(kind)
            self.reply(True)
        elif kind == "step":
            if payload.get("new_run") or t.run_remaining <= 0:
                t.begin_run(1)
                self.elapsed_before = 0.0
            else:
                self.elapsed_before = payload.get("elapsed", self.elapsed_before)
            self.run_id = payload["run_id"]
            self.segment_start = time.time()
            self.ends.clear()
            self.ends.append(self.segment_start)
            # else it diverged (and went back to a checkpoint) or finished the run and saved
            if self.one_step(every_frame=True) and t.run_remaining > 0:
                self.elapsed_before += time.time() - self.segment_start
                self.save("step")
            self.reply(True)
        elif kind == "load":
            self.use(Trainer.from_dict(json.loads(payload["checkpoint"])))
            self.newest = NewestCheckpoint(payload["checkpoint"])
            self.running, self.run_id = False, None
            self.reply(True)
        elif kind == "pace":
            self.pace = payload.get("steps_per_sec")
            if self.running:  # measure the new speed afresh, from the step under way
                self.ends.clear()
                self.ends.append(self.last_start)
            self.reply(True)
        else:
            self.reply(False, f"unknown command {kind!r}")

    def reply(self, ok: bool, reason: str | None = None) -> None:
        self.send(Reply(ok=ok, step=self.trainer.step, reason=reason))

    def wait_time(self) -> float:
        """Seconds until the next step is due: 0 at full speed."""
        if not self.pace:
            return 0.0
        interval = 1.0 / self.pace
        return min(interval, max(0.0, self.last_start + interval - time.time()))

    def start_segment(self, run_id: int, elapsed: float) -> None:
        self.running, self.run_id = True, run_id
        self.elapsed_before = elapsed
        self.segment_start = self.last_start = time.time()  # paced from here: the first step
        self.ends.clear()  # comes one interval later, so the measured rate is the pace
        self.ends.append(self.segment_start)

    # -- one step --

    def one_step(self, every_frame: bool = False) -> bool:
        """One step and its messages; False if it diverged (the run is over). every_frame: send
        this step's params frame whatever the speed. At full speed in a run, the messages of
        the step go out after the next step is trained (while it trains, the helper measures
        the step's instruments): in order, ~5 ms later."""
        t = self.trainer
        self.last_start = time.time()
        if self.poison_at == t.step + 1:
            self.poison_at = None
            t.model.state_dict["wpe"][0][0].data = float("nan")  # position 0: every document
        try:
            rec = t.train_step()
        except Diverging as e:
            self.outbox.flush()
            self.diverged(e)
            return False
        now = time.time()
        self.ends.append(now)
        values = t.flat_values()
        frame, validate = t.last_frame, t.run_remaining <= 0 or rec.step % self.val_every == 0
        self.outbox.measure(frame.before, frame.grads, values, validate)
        # the frame first: when the page hears of the step, its frame is already served
        slow = self.pace is not None and self.pace <= FRAME_EVERY_STEP_PACE
        if every_frame or slow or t.run_remaining <= 0 or now - self.frame_sent_at >= FRAME_EVERY:
            self.send_frame(values)
        fields, probes = self.event_fields(rec, now), self.probes
        self.send(lambda m: Step(event=step_event(fields, probes, m), weights=values))
        if validate:
            self.send(partial(held_out, rec.step))
        if t.run_remaining <= 0:
            self.finish()
        else:
            if rec.step % self.snapshot_every == 0:
                self.send(Weights(step=rec.step, values=values))
            if rec.step % self.checkpoint_every == 0:
                self.save("periodic", weights=False)
        self.outbox.settle(overlap=not (every_frame or self.pace) and t.run_remaining > 0)
        return True

    def event_fields(self, rec, now: float) -> dict:
        span = self.ends[-1] - self.ends[0]
        rate = (len(self.ends) - 1) / span if span > 0 else 0.0
        elapsed = self.elapsed_before + now - self.segment_start
        return event_fields(self.trainer, rec, self.run_id, rate, elapsed, now)

    def send_validation(self) -> None:
        """The held-out loss at the current weights (~30 ms for the default shape's sample of
        32 names), where a run begins: measured by the helper if there is one."""
        t = self.trainer
        if self.outbox.instruments.overlaps:
            self.outbox.measure(None, None, t.flat_values(), True)
            self.send(partial(held_out, t.step))
            return
        loss = t.validation_loss()
        if loss is not None:
            self.send(Validation(step=t.step, loss=loss))

    def diverged(self, e: Diverging) -> None:
        """The run ends at the step that diverged; the model goes back to the last checkpoint
        this process sent (nothing non-finite was ever sent or stored)."""
        self.running = False
        self.use(Trainer.from_dict(json.loads(self.newest.whole)))
        self.send(
            Diverged(
                run_id=self.run_id, step=e.step, message=str(e), checkpoint_step=self.trainer.step
            )
        )

    def finish(self) -> None:
        if self.running:
            self.elapsed_before += time.time() - self.segment_start
        self.running = False
        self.save("finish")
        self.send(Done(run_id=self.run_id, step=self.trainer.step))

    def send_frame(self, values=None) -> None:
        """The last step's params frame, unless already sent; ``values``: the trainer's
        ``flat_values()`` after that step, if at hand."""
        t = self.trainer
        frame = t.last_frame
        if frame is None or frame.step != t.step or frame.step == self.frame_sent_step:
            return
        if values is None:
            values = t.flat_values()
        m, v = doubles(t.adam.m), doubles(t.adam.v)
        self.send(
            Params(
                step=frame.step,
                tokens=frame.tokens,
                before=frame.before,
                grads=frame.grads,
                values=values,
                m=m,
                v=v,
            )
        )
        self.frame_sent_at, self.frame_sent_step = time.time(), frame.step

    def save(self, reason: str, weights: bool = True) -> None:
        t = self.trainer
        values, m, v = t.flat_state()
        if weights:
            self.send(Weights(step=t.step, values=values))
        # the JSON without the state, which goes as arrays (no 280 KB of floats as text)
        meta = json.dumps(trainer_to_dict(t, state=False), allow_nan=False)
        self.newest.sent(meta, values, m, v)
        # a periodic checkpoint is taken mid-segment: the time so far, not at its start
        elapsed = self.elapsed_before + (time.time() - self.segment_start if self.running else 0)
        self.send(checkpoint_message(t, self.run_id, reason, elapsed, meta, (values, m, v)))


def main(commands: Connection, out: Connection, options: dict) -> None:
    """Entry point of the spawned process. The checkpoint comes as the first command, not as
    an argument: spawn's start() would block writing a large argument to a stuck child."""
    # Ctrl-C in a terminal reaches the whole process group: the web process decides when this
    # process stops (after saving a checkpoint), so ignore SIGINT here.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        kind, payload = commands.recv()
        if kind != "load":
            raise EngineError(f"expected the checkpoint to load first, got {kind!r}")
        worker = TrainerProcess(Trainer.from_dict(json.loads(payload["checkpoint"])), out, options)
        worker.send(Ready(pid=os.getpid(), step=worker.trainer.step))
        try:
            worker.serve(commands)
        finally:
            worker.outbox.close()
    except EngineError as e:
        out.send(Error(message=str(e)))
        raise SystemExit(1) from None
    except (BrokenPipeError, EOFError):
        return
    except Exception as e:
        traceback.print_exc()
        out.send(Error(message=f"training failed: {type(e).__name__}: {e}"))
        raise SystemExit(1) from None
