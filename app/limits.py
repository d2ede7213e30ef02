"""Every bound a user can run into, defined once: the API's pydantic models, the HTML forms,
the templates' ``min``/``max`` and the error messages all read them from here."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Bound:
    """A closed range of whole numbers (or of floats, with ``lo_open`` for ``(lo, hi]``)."""

    lo: float
    hi: float
    default: float | None = None
    lo_open: bool = False
    step: float | None = None  # an input's step; None: 1 for whole numbers, else any number

    @property
    def whole(self) -> bool:
        return isinstance(self.lo, int) and isinstance(self.hi, int)

    def allowed(self) -> str:
        """What is allowed, as the error messages say it."""
        if self.whole:
            return f"a whole number from {self.lo} to {self.hi}"
        left = "(" if self.lo_open else "["
        return f"a number in {left}{self.lo:g}, {self.hi:g}]"

    def holds(self, value: float) -> bool:
        low = value > self.lo if self.lo_open else value >= self.lo
        return low and value <= self.hi


# training
STEPS = Bound(1, 10_000, 500)  # steps of one training segment (Train N steps)
LR = Bound(0.0, 1.0, 0.01, lo_open=True)  # Adam's base learning rate
SEED = Bound(0, 2**32 - 1, 42)
PACE = Bound(0.5, 200.0)  # steps/s cap (None: full speed)

# the model's shape, per run (microgpt's defaults); n_head must divide n_embd
N_EMBD = Bound(4, 32, 16)
N_HEAD = Bound(1, 8, 4)
N_LAYER = Bound(1, 2, 1)
BLOCK_SIZE = Bound(2, 16, 8)

# asking the model
TEMPERATURE = Bound(0.01, 2.0, 0.5, step=0.01)  # below 0.01 the logits / temperature overflow
SAMPLES = Bound(1, 50, 10)
SAMPLE_SEED = Bound(0, 2**63 - 1)
TOP_K = Bound(1, 27, 5)
GRADCHECK_H = Bound(0.0, 1e-2, 1e-5, lo_open=True)

# runs
RUN_ID = Bound(1, 2**31)
RUN_NAME_CHARS = 60
COMPARED_RUNS = 8  # runs on the compare chart at once (its colours)

# classes
CLASS_NAME_CHARS = 60
STUDENT_NAME_CHARS = 40
CLASS_CODE_CHARS = 12  # a class's code in a path (codes are 6 characters)
REJOIN_CHARS = 16  # a rejoin code as typed (codes are 6 characters)
CLASS_STEPS = Bound(1, 10_000, 2_000)  # steps a student may ask of one segment
CLASS_RUNS = Bound(1, 20, 3)  # runs a student may have in a class (joining makes the first)
CLASS_MEMBERS = 500
VARIED_VALUES = 12  # values of a setting spread across a class
