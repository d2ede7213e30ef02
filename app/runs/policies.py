"""What the runs' owners decide and the runs only ask: how many steps a segment may have,
whether a new run may be made from one, who owns a run made from another. ``app.classes``
fills it (a class's limits on its students' runs); without classes, anything goes."""

from collections.abc import Awaitable, Callable
from typing import Any

Check = Callable[[Any, str | None], None]  # (source run, who asks): raises to refuse
Adopt = Callable[[Any, Any], Awaitable[None]]  # (source run, new run)


class RunPolicies:
    def __init__(self) -> None:
        self._limits: dict[int, tuple[int, str]] = {}
        self._checks: list[Check] = []
        self._adopters: list[Adopt] = []
        # the run whose class a run made by this person from nothing (created, uploaded)
        # joins: a class student's current run (app.classes), so its limits apply to it too
        self.home_of: Callable[[str], int | None] = lambda who: None

    def set_limit(self, run_id: int, steps: int, whose: str) -> None:
        """A segment of ``run_id`` has at most ``steps`` steps, as ``whose`` says."""
        self._limits[run_id] = (steps, whose)

    def step_limit(self, run_id: int) -> tuple[int, str] | None:
        """(most steps a segment may ask, who says so), or None."""
        return self._limits.get(run_id)

    def forget(self, run_id: int) -> None:
        self._limits.pop(run_id, None)

    def watch(self, check: Check, adopt: Adopt) -> None:
        """``check`` is asked before a run is made from another, ``adopt`` told after."""
        self._checks.append(check)
        self._adopters.append(adopt)

    def check_new_run(self, source: Any, by: str | None) -> None:
        for check in self._checks:
            check(source, by)

    async def adopt(self, source: Any, new: Any) -> None:
        for adopt in self._adopters:
            await adopt(source, new)
