"""What the forkserver imports once (app.jobs.local.trainer_context): the training loop and
the default model shape's compiled step (engine.compiled: ~0.25 s of CPU to compile), so every
training process forked from it starts with both ready instead of compiling its first step."""

from app.jobs import loop  # noqa: F401 (imported here once, for every process forked after)
from engine.compiled import compiled_step, compiles
from engine.model import GPTConfig

DEFAULT_SHAPE = GPTConfig()  # the default run's (the names' 27 characters)

if compiles(DEFAULT_SHAPE):
    compiled_step(DEFAULT_SHAPE)
