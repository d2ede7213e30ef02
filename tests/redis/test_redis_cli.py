"""Redis mode's command lines, when something is wrong: one line naming it, exit status 2,
never a traceback."""

import subprocess
import sys

import pytest

from tests.conftest import REPO, free_port


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("worker", [False, True], ids=["web", "worker"])
def test_a_redis_that_does_not_answer_is_named(worker, tmp_path):
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    args = ["worker", "--redis-url", url] if worker else ["--redis-url", url]
    done = run(*args, "--data-dir", str(tmp_path)) if not worker else run(*args)
    assert done.returncode == 2
    assert f"Redis at {url} does not answer" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_bad_redis_url_names_the_setting_and_what_it_got():
    done = run("--redis-url", "http://example.com/0")
    assert done.returncode == 2
    assert "redis_url" in done.stderr and "'http://example.com/0'" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_worker_needs_a_redis_url_and_a_sane_process_count():
    missing = run("worker")
    assert missing.returncode == 2 and "--redis-url" in missing.stderr
    many = run("worker", "--redis-url", "redis://127.0.0.1:1/0", "--processes", "0")
    assert many.returncode == 2 and "--processes 0" in many.stderr
    assert "Traceback" not in missing.stderr + many.stderr


def test_a_password_in_the_url_is_not_printed():
    url = f"redis://user:s3cret@127.0.0.1:{free_port()}/0"
    done = run("worker", "--redis-url", url)
    assert done.returncode == 2 and "s3cret" not in done.stderr
