"""The run each browser sees at ``/``: the one it last opened with ``/?run=N``.

A GET changes no server state: opening a run's page (a link, perhaps from another site) is
remembered for that browser identity only (app.web.identity), not made the server's default
run; the unprefixed API's default changes only by ``POST /api/runs/{id}/select``. Kept in
memory, the newest ``KEPT`` browsers: after a restart, or for a forgotten browser, ``/`` shows
the default run.
"""

from collections import OrderedDict

from fastapi import Request

KEPT = 10_000


class ViewedRuns:
    def __init__(self, kept: int = KEPT):
        self.kept = kept
        self._runs: OrderedDict[str, int] = OrderedDict()

    @staticmethod
    def of(request: Request) -> "ViewedRuns":
        state = request.app.state
        viewed = getattr(state, "viewed_runs", None)
        if viewed is None:
            viewed = state.viewed_runs = ViewedRuns()
        return viewed

    def remember(self, identity: str | None, run: int) -> None:
        if not identity:
            return
        self._runs[identity] = run
        self._runs.move_to_end(identity)
        while len(self._runs) > self.kept:
            self._runs.popitem(last=False)

    def get(self, identity: str | None) -> int | None:
        return self._runs.get(identity) if identity else None
