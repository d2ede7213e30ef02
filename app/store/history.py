"""Reading a run's past step by step: its loss curve (with each step's learning rate),
held-out losses, the kept states (weights with Adam's m and v, at every checkpoint's step),
the weights of single steps stored before states were kept, and the probes' distributions."""

from app.store.database import Database
from app.store.kept import unpack
from app.store.rows import HistoryRow


class HistoryRepo(Database):
    def history(self, model: int, up_to: int) -> list[HistoryRow]:
        rows = self._rows(
            "SELECT step, segment, loss, smooth, lr FROM history WHERE model=? AND step<=?"
            " ORDER BY step",
            (model, up_to),
        )
        return [HistoryRow(*r) for r in rows]

    def step_lr(self, model: int, step: int) -> float | None:
        """The learning rate step ``step`` used (its history row), else None."""
        row = self._row("SELECT lr FROM history WHERE model=? AND step=?", (model, step))
        return row[0] if row else None

    def validation(self, model: int, up_to: int) -> list[tuple[int, float]]:
        """(step, held-out loss) at every step up to ``up_to`` that measured it."""
        return self._rows(
            "SELECT step, loss FROM validation WHERE model=? AND step<=? ORDER BY step",
            (model, up_to),
        )

    def run_bytes(self, model: int) -> int:
        """About how many bytes the model's history takes (its disk budget: app.runs.budget)."""
        row = self._row(
            "SELECT (SELECT coalesce(sum(length(data)), 0) FROM weights WHERE model=?)"
            " + (SELECT coalesce(sum(length(m) + length(v)), 0) FROM moments WHERE model=?)"
            " + (SELECT coalesce(sum(length(probs)), 0) FROM probes WHERE model=?)"
            " + (SELECT coalesce(sum(length(data)), 0) FROM checkpoints WHERE model=?)"
            " + 48 * (SELECT count(*) FROM history WHERE model=?)",
            (model,) * 5,
        )
        return row[0]

    def weights(self, model: int, step: int) -> bytes | None:
        row = self._row("SELECT data FROM weights WHERE model=? AND step=?", (model, step))
        return unpack(row[0]) if row else None

    def lrs(self, model: int, first: int, last: int) -> dict[int, float]:
        """Step -> the learning rate it used, for the stored steps ``first`` … ``last``."""
        return dict(
            self._rows(
                "SELECT step, lr FROM history WHERE model=? AND step BETWEEN ? AND ?",
                (model, first, last),
            )
        )

    def adam_offset(self, model: int) -> int:
        """Adam's updates done minus the model's steps (one update per step, so the same at
        every step; 0 unless the model was uploaded so)."""
        row = self._row(
            "SELECT json_extract(data, '$.adam.t') - json_extract(data, '$.step')"
            " FROM checkpoints WHERE model=? ORDER BY id DESC LIMIT 1",
            (model,),
        )
        return int(row[0]) if row and row[0] is not None else 0

    def kept_state(self, model: int, at_most: int) -> tuple[int, bytes, bytes, bytes] | None:
        """The newest kept state at or before step ``at_most``: (step, weights, m, v)."""
        row = self._row(
            "SELECT w.step, w.data, m.m, m.v FROM weights AS w JOIN moments AS m"
            " ON m.model = w.model AND m.step = w.step WHERE w.model=? AND w.step<=?"
            " ORDER BY w.step DESC LIMIT 1",
            (model, at_most),
        )
        return (row[0], *map(unpack, row[1:])) if row else None

    def first_weights_step(self, model: int, up_to: int) -> int | None:
        """The first step from which every step up to ``up_to`` can be viewed: from the first
        kept state on, each is replayed from the kept state before it; below it, steps whose
        weights were stored one by one (before states were kept) count while they follow on."""
        first_kept = self._row(
            "SELECT MIN(w.step) FROM weights AS w JOIN moments AS m"
            " ON m.model = w.model AND m.step = w.step WHERE w.model=? AND w.step<=?",
            (model, up_to),
        )[0]
        top = up_to if first_kept is None else first_kept
        steps = [
            r[0]
            for r in self._rows(
                "SELECT step FROM weights WHERE model=? AND step<=? ORDER BY step DESC",
                (model, top),
            )
        ]
        if not steps or steps[0] != top:
            return None
        first = top
        for step in steps[1:]:  # newest first: stop at the first gap
            if step != first - 1:
                break
            first = step
        return first

    def moments_at_or_before(self, model: int, step: int) -> tuple[int, bytes, bytes] | None:
        """Adam's (step j, m, v) kept at the latest step j <= ``step``, else None."""
        row = self._row(
            "SELECT step, m, v FROM moments WHERE model=? AND step<=? ORDER BY step DESC LIMIT 1",
            (model, step),
        )
        return (row[0], unpack(row[1]), unpack(row[2])) if row else None

    def probes(self, model: int, prefix: str, up_to: int) -> list[tuple[int, bytes]]:
        """(step, distribution) of ``prefix`` at every step up to ``up_to`` that has one."""
        return self._rows(
            "SELECT step, probs FROM probes WHERE model=? AND prefix=? AND step<=? ORDER BY step",
            (model, prefix, up_to),
        )
