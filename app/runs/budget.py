"""Disk budgets: what one run and the whole data directory may store.

A step stores the probes' distributions and a history row; a checkpoint (every
``checkpoint_every`` steps) keeps the whole state, weights and Adam's m and v (24 bytes a
parameter: time travel replays the steps between). A run of the largest shape stores ~22 MB per
1,000 steps, so a script could still fill a disk. Before a segment trains,
what the run holds plus what the segment would add must fit ``run_disk_budget``; before a run
is made or trains, the data directory (the database and its journal) must be under
``data_disk_budget``. Refusals are 507 and name the numbers.
"""

import asyncio
from pathlib import Path

from app.runs.errors import OutOfSpace
from app.runs.run import RunState
from app.settings import Settings
from app.store import Store

HISTORY_ROW_BYTES = 48  # a history row (step, loss, smooth, lr...) with SQLite's overhead


def megabytes(n: float) -> str:
    return f"{n / 1e6:,.0f} MB" if n >= 1e6 else f"{n / 1e6:,.2f} MB"


def step_bytes(run: RunState, checkpoint_every: int) -> int:
    """Bytes one step of ``run`` stores (its probes, its history row and its share of the
    state a checkpoint keeps): ~4.4 kB for the default shape (3.9 MiB per 1,000 measured)."""
    state = 24 * run.num_params // checkpoint_every
    probes = 8 * len(run.probes) * run.config.vocab_size
    return state + probes + HISTORY_ROW_BYTES


def data_dir_bytes(data_dir: Path) -> int:
    """Bytes of the database files (the database, its journal and shared memory)."""
    total = 0
    for path in data_dir.glob("microgpt.sqlite3*"):
        try:
            total += path.stat().st_size
        except OSError:
            pass  # a journal removed meanwhile
    return total


class DiskBudget:
    def __init__(self, settings: Settings, store: Store):
        self.settings, self.store = settings, store

    def check_data_dir(self) -> None:
        """507 if the data directory holds its budget already."""
        held, budget = data_dir_bytes(self.settings.data_dir), self.settings.data_disk_budget
        if held >= budget:
            raise OutOfSpace(
                f"the data directory holds {megabytes(held)}, its budget "
                f"(MICROGPT_DATA_DISK_BUDGET) is {megabytes(budget)}: delete runs to free space"
            )

    async def check_train(self, run: RunState, steps: int) -> None:
        """507 if ``steps`` more steps of ``run`` would take it past its budget."""
        self.check_data_dir()
        held = await asyncio.to_thread(self.store.run_bytes, run.model)
        more = steps * step_bytes(run, self.settings.checkpoint_every)
        budget = self.settings.run_disk_budget
        if held + more > budget:
            room = max(budget - held, 0) // step_bytes(run, self.settings.checkpoint_every)
            raise OutOfSpace(
                f"run {run.id} holds {megabytes(held)} and {steps:,} more steps would store "
                f"about {megabytes(more)}; a run's budget (MICROGPT_RUN_DISK_BUDGET) is "
                f"{megabytes(budget)}: train at most {room:,} steps, or delete runs or fork "
                "a new one"
            )
