"""Fair shares: what one person may take of what everyone shares, and whose turn it is.

A person is whoever asks (``by``: a browser's identity; a client that sends no cookie: its
address, so a script cannot be a new person at every request). They may keep at most
``runs_per_identity`` runs (forks, resets and uploads count), make at most
``runs_per_minute`` a minute, and teach at most ``classes_per_identity`` classes; a refusal
names the numbers (403: delete one first; 429: wait, with Retry-After). The owner is kept in
the run's settings (``owner``), so it survives a restart and the fair queue
(``app.runs.scheduler``) knows whose turn each queued run is.
"""

from collections.abc import Mapping

from app.classes.throttle import Buckets
from app.runs.errors import Forbidden, TooMany
from app.runs.policies import RunPolicies
from app.runs.scheduler import Owner
from app.runs.service import RunService
from app.settings import Settings


class Quotas:
    def __init__(
        self,
        settings: Settings,
        services: Mapping[int, RunService],
        policies: RunPolicies,
    ):
        self.settings, self.services, self.policies = settings, services, policies
        per_minute = settings.runs_per_minute
        self.creations = Buckets(per_minute, per_minute / 60)

    def runs_of(self, who: str) -> int:
        return sum(1 for s in self.services.values() if s.run_settings.get("owner") == who)

    def check_new_run(self, who: str | None) -> None:
        """Before a run is made for ``who``: within their runs and their pace?"""
        if who is None:
            return  # made by the server itself (a class's seat, the first run)
        most = self.settings.runs_per_identity
        kept = self.runs_of(who)
        if kept >= most:
            raise Forbidden(
                f"you have {kept} runs, the most one person may keep ({most}): delete one first"
            )
        wait = self.creations.wait(who)
        if wait > 0:
            raise TooMany(
                f"you made {self.settings.runs_per_minute} runs in the last minute, the most "
                f"one person may: try again in {wait:.0f} s",
                wait,
            )

    def admit(self, source: RunService | None, by: str | None) -> RunService | None:
        """Before a run is made for ``by`` (from ``source``, or from nothing): within their
        quotas and, for a class student, the class's limits (whatever way the run is made).
        Returns the run whose class the new one joins, if any."""
        self.check_new_run(by)
        home = source
        if home is None and by is not None:
            home = self.services.get(self.policies.home_of(by))
        if home is not None:
            self.policies.check_new_run(home, by)
        return home

    def made(self, who: str | None) -> None:
        """A run was made for ``who`` (checked first)."""
        if who is not None:
            self.creations.take(who)

    def check_new_class(self, who: str | None, taught: int) -> None:
        """Before ``who``, who teaches ``taught`` open classes, makes another."""
        most = self.settings.classes_per_identity
        if who is not None and taught >= most:
            raise Forbidden(
                f"you teach {taught} open classes, the most one person may ({most}): close "
                "one first"
            )

    def owner_of(self, run_id: int) -> Owner:
        """(group, owner) of a run, for the fair queue: a class's runs share the class's turn;
        a run of no one known is its own."""
        service = self.services.get(run_id)
        who = (service.run_settings.get("owner") if service else None) or f"run {run_id}"
        limit = self.policies.step_limit(run_id)  # a class's runs are under its limit
        return (limit[1] if limit else who, who)
