"""Each probe prefix's next-character distribution after every viewable step (the "when did it
learn?" lines): kept as ``array('d')``, a third of a tuple of floats' memory, 280 bytes a step.
"""

import bisect
from array import array

from app.past.frames import from_le_bytes
from app.store import Store


class ProbeLines:
    def __init__(self) -> None:
        # per probe prefix: (steps, distributions), steps growing
        self.lines: dict[str, tuple[list[int], list[array]]] = {}

    def reset(self, prefixes: list[str]) -> None:
        self.lines = {prefix: ([], []) for prefix in prefixes}

    @staticmethod
    def stored(store: Store, model: int, prefixes: list[str], up_to: int) -> dict:
        """A model's lines as stored, up to step ``up_to`` (run this in a thread)."""
        lines = {}
        for prefix in prefixes:
            rows = store.probes(model, prefix, up_to)
            lines[prefix] = ([r[0] for r in rows], [from_le_bytes(r[1]) for r in rows])
        return lines

    def clear(self) -> None:
        for steps, dists in self.lines.values():
            steps.clear()
            dists.clear()

    def add(self, step: int, probes: dict[str, array]) -> None:
        for prefix, probs in probes.items():
            if prefix in self.lines:
                steps, dists = self.lines[prefix]
                steps.append(step)
                dists.append(probs)

    def rewind(self, step: int) -> None:
        """Forget the steps after ``step`` (they will be taken again)."""
        for steps, dists in self.lines.values():
            del dists[bisect.bisect_right(steps, step) :]
            del steps[bisect.bisect_right(steps, step) :]

    def line(self, prefix: str, since: int = -1) -> tuple[list[int], list[array]]:
        """``prefix``'s distribution after every kept step after ``since``."""
        steps, dists = self.lines.get(prefix, ([], []))
        i = bisect.bisect_right(steps, since)
        return steps[i:], dists[i:]

    def at(self, prefix: str, step: int) -> list[float] | None:
        """``prefix``'s distribution after ``step``, if kept."""
        steps, dists = self.lines.get(prefix, ([], []))
        i = bisect.bisect_left(steps, step)
        return list(dists[i]) if i < len(steps) and steps[i] == step else None
