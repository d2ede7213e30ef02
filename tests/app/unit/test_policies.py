"""Run policies (app.runs.policies): what the runs ask and their owners decide."""

import pytest

from app.runs.policies import RunPolicies
from tests.conftest import run_async


def test_a_step_limit_is_the_owner_s_until_the_run_is_forgotten():
    policies = RunPolicies()
    assert policies.step_limit(1) is None
    policies.set_limit(1, 200, "class 'A'")
    assert policies.step_limit(1) == (200, "class 'A'") and policies.step_limit(2) is None
    policies.forget(1)
    assert policies.step_limit(1) is None


def test_new_runs_are_checked_and_adopted_by_every_watcher():
    policies, adopted = RunPolicies(), []

    def check(source, by):
        if by == "stranger":
            raise PermissionError(f"{by} may not copy run {source}")

    async def adopt(source, new):
        adopted.append((source, new))

    policies.watch(check, adopt)
    policies.check_new_run(1, "teacher")
    with pytest.raises(PermissionError):
        policies.check_new_run(1, "stranger")
    run_async(policies.adopt(1, 2))
    assert adopted == [(1, 2)]
