"""The classroom's flows (tests/app/test_classes.py), every one, with the runs training on
Redis workers: join, permissions, limits, rejoin, train everyone, spotlight, remove, close,
new settings, and a restart of the web process."""

import pytest

from tests.app.test_classes import (  # noqa: F401 - collected here, against the Redis server
    test_a_student_rejoins_from_another_browser_with_the_code,
    test_a_students_run_obeys_only_them_and_the_teacher,
    test_classes_and_who_is_who_survive_a_restart,
    test_new_settings_remake_the_runs_not_yet_trained,
    test_students_join_with_a_name_and_each_get_a_run_of_the_preset,
    test_the_class_limits_a_students_steps_and_runs,
    test_the_teacher_trains_everyone_spotlights_removes_and_closes,
)


@pytest.fixture(scope="module")
def server(web):
    """The class tests' server: the web process in Redis mode (tests/redis/conftest.py)."""
    return web
