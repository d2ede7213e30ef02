"""The classroom's flows (tests/app/test_classes.py, test_class_experiment.py), every one,
with the runs training on Redis workers: join, permissions, limits, rejoin, train everyone,
spotlight, remove, close, new settings, a restart of the web process; seeds, the varied
setting, the teacher's hold, duplicate names, the results, the ways in."""

import pytest

from tests.app.test_class_experiment import (  # noqa: F401 - collected here, too
    test_a_bad_varied_setting_is_refused_naming_it,
    test_a_second_student_with_the_same_name_is_told_apart,
    test_a_setting_is_spread_round_robin_in_join_order,
    test_a_students_home_is_their_run_and_anothers_run_is_watch_only,
    test_each_student_gets_a_seed_of_their_own_or_everyone_the_same,
    test_pause_all_holds_until_the_teacher_resumes,
    test_the_results_have_the_seed_the_varied_setting_and_iso_times,
    test_the_ways_in_and_the_teacher_link,
)
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
