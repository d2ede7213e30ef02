"""The training process's messages to the web, in the order they were sent: a step's wait
until its instruments are measured (``app.jobs.instruments``: by a helper process while the
next steps train, or inline), then go out with them."""

from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection

from app.contract.worker import Message
from app.jobs.instruments import Beside, Measured

# steps whose messages may wait for their instruments (a held-out loss takes ~6 steps' time)
MOST_BEHIND = 8

Later = Callable[[Measured], Message | None]  # a message made from its step's instruments


class Outbox:
    def __init__(self, out: Connection, instruments: Beside):
        self.out, self.instruments = out, instruments
        self.held: deque[list[Message | Later]] = deque()  # per step being measured

    def send(self, message: Message | Later) -> None:
        """Send ``message`` (or, made from its step's instruments, what it returns), after
        the messages of the steps still being measured."""
        if self.held:
            self.held[-1].append(message)
        else:
            self.out.send(message)

    def measure(self, before, grads, values, held_out: bool) -> None:
        """The instruments of a step (``before`` None: the held-out loss alone) are measured;
        the messages sent from now on wait for them. The steps before that are measured
        already go out first."""
        while self.held and self.instruments.ready():
            self.send_oldest()
        self.instruments.submit(before, grads, values, held_out)
        self.held.append([])

    def settle(self, overlap: bool) -> None:
        """After a step: its messages out now, unless ``overlap`` (another step at full
        speed follows) and a helper measures while it trains; at most MOST_BEHIND wait."""
        if not overlap or not self.instruments.overlaps:
            self.flush()
        elif len(self.held) > MOST_BEHIND:
            self.send_oldest()

    def send_oldest(self) -> None:
        """The messages of the oldest step being measured, its instruments in them."""
        measured = self.instruments.result()
        for item in self.held.popleft():
            message = item(measured) if callable(item) else item
            if message is not None:
                self.out.send(message)

    def flush(self) -> None:
        """Every step's messages out, waiting for their instruments if need be."""
        while self.held:
            self.send_oldest()

    def close(self) -> None:
        try:
            self.flush()
        except OSError:  # the web process is gone: nobody to send to
            pass
        finally:
            self.instruments.close()
