"""Static checks of Dockerfile, .dockerignore and compose.yaml.

There is no Docker engine on the development machines or in CI, so these assert the properties the
container relies on (hadolint, run by `make lint`, checks Dockerfile style). The healthcheck command
itself is executed against a real server in test_wheel.py.
"""

import re
from pathlib import Path

import pytest
import yaml

from app.jobs import worker_main

DATA_DIR = "/data"
PORT = "8000"


def by_keyword(dockerfile, keyword):
    return [i for i in dockerfile if i.keyword == keyword]


def env_vars(dockerfile) -> dict[str, str]:
    """ENV key=value pairs (the only form used in our Dockerfile)."""
    env = {}
    for instruction in by_keyword(dockerfile, "ENV"):
        for pair in instruction.args.split():
            key, sep, value = pair.partition("=")
            assert sep, f"use ENV key=value: {instruction.args!r}"
            env[key] = value.strip("\"'")
    return env


def test_dockerfile_uses_slim_python_base(dockerfile):
    froms = by_keyword(dockerfile, "FROM")

    assert froms, "no FROM"
    assert re.fullmatch(r"python:3\.(1[1-9]|[2-9]\d)-slim(-\w+)?( AS \w+)?", froms[-1].args, re.I)


def test_dockerfile_installs_project_without_pip_cache(dockerfile):
    installs = [i.args for i in by_keyword(dockerfile, "RUN") if "pip install" in i.args]

    assert installs, "no RUN pip install"
    assert all("--no-cache-dir" in args for args in installs), installs


def test_dockerfile_runs_as_non_root(dockerfile):
    users = by_keyword(dockerfile, "USER")

    assert users, "no USER: the container would run as root"
    user = users[-1].args.split(":")[0]
    assert user not in {"root", "0"}
    assert dockerfile.index(users[-1]) > max(
        dockerfile.index(i) for i in by_keyword(dockerfile, "RUN")
    ), "the last RUN should happen before switching user (so USER is the final state)"


def test_dockerfile_configures_host_port_and_data_dir(dockerfile):
    env = env_vars(dockerfile)

    assert env.get("MICROGPT_HOST") == "0.0.0.0"
    assert env.get("MICROGPT_DATA_DIR") == DATA_DIR
    assert env.get("MICROGPT_PORT", PORT) == PORT


def test_dockerfile_command_serves_on_all_interfaces(dockerfile):
    cmds = by_keyword(dockerfile, "CMD")

    assert cmds, "no CMD"
    argv = cmds[-1].exec_form()
    assert argv, "CMD should be exec form (JSON array) so SIGTERM reaches the server"
    assert argv[0] == "microgpt-live"
    options = dict(zip(argv[1::2], argv[2::2], strict=False))
    assert options == {"--host": "0.0.0.0", "--port": PORT, "--data-dir": DATA_DIR}


def test_dockerfile_runs_the_server_under_an_init_that_reaps(dockerfile):
    """A training process killed at a timeout leaves its helper process to PID 1: an init
    reaps it, whether or not the container is started with --init."""
    [entrypoint] = by_keyword(dockerfile, "ENTRYPOINT")
    argv = entrypoint.exec_form()
    assert argv[0] == "/usr/bin/tini" and argv[-1] == "--"
    assert any("tini" in i.args for i in by_keyword(dockerfile, "RUN"))


def test_dockerfile_exposes_port_and_data_volume(dockerfile):
    exposed = " ".join(i.args for i in by_keyword(dockerfile, "EXPOSE")).split()
    volumes = " ".join(i.args for i in by_keyword(dockerfile, "VOLUME"))

    assert PORT in exposed or f"{PORT}/tcp" in exposed
    assert re.search(rf'(^|[\s\["]){DATA_DIR}($|[\s\]"])', volumes), volumes


def test_dockerfile_healthcheck_probes_healthz_without_curl(dockerfile):
    checks = by_keyword(dockerfile, "HEALTHCHECK")

    assert len(checks) == 1
    argv = checks[0].exec_form()
    assert argv, 'use HEALTHCHECK ... CMD ["python", ...] (exec form)'
    assert argv[0] == "python", "the slim image has no curl or wget"
    assert f"127.0.0.1:{PORT}/healthz" in " ".join(argv)


# .dockerignore: Docker's rules (Go filepath.Match plus `**`), evaluated in order, last match wins;
# a pattern that matches a directory excludes everything below it.


def dockerignore_regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def dockerignore_rules(root: Path) -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for line in (root / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/")
        assert "[" not in pattern and "\\" not in pattern, f"keep .dockerignore simple: {line!r}"
        rules.append((negated, dockerignore_regex(pattern)))
    return rules


def in_build_context(rules, path: str) -> bool:
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for negated, regex in rules:
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            excluded = not negated
    return not excluded


def project_files(root: Path) -> list[str]:
    """Everything the wheel is built from: pyproject, README and the package trees."""
    files = ["pyproject.toml", "README.md"]
    for top in ("engine", "app", "templates", "static"):
        for path in sorted((root / top).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                files.append(path.relative_to(root).as_posix())
    return files


def test_dockerignore_rules_follow_docker_semantics():
    rules = [(False, dockerignore_regex("*")), (True, dockerignore_regex("app"))]
    rules.append((False, dockerignore_regex("**/__pycache__")))

    assert in_build_context(rules, "app/web/routes/api/runs.py")
    assert not in_build_context(rules, "app/__pycache__/x.pyc")
    assert not in_build_context(rules, "tests/app/test_api.py")
    assert not in_build_context(rules, "README.md")


def test_dockerignore_sends_everything_the_build_needs(repo_root):
    rules = dockerignore_rules(repo_root)
    files = project_files(repo_root)

    missing = [f for f in files if not in_build_context(rules, f)]
    assert not missing, f"excluded by .dockerignore but needed by `pip install .`: {missing}"
    assert "engine/data/names.txt" in files


@pytest.mark.parametrize("path", [".venv/bin/python", ".git/HEAD", "tests/conftest.py", "data/x"])
def test_dockerignore_keeps_local_state_out(repo_root, path):
    assert not in_build_context(dockerignore_rules(repo_root), path)


@pytest.fixture(scope="module")
def compose_service(repo_root):
    compose = yaml.safe_load((repo_root / "compose.yaml").read_text())
    services = compose["services"]
    assert sorted(services) == ["microgpt-live", "redis", "worker"]
    return compose, services["microgpt-live"]


def test_compose_workers_train_for_the_web_service_through_its_redis(compose_service):
    compose, web = compose_service
    worker, redis = compose["services"]["worker"], compose["services"]["redis"]
    url = web["environment"]["MICROGPT_REDIS_URL"]
    assert worker["environment"]["MICROGPT_REDIS_URL"] == url
    assert url.startswith("redis://redis:")  # the redis service, by its name
    assert worker["image"] == web["image"] and worker["restart"] == "unless-stopped"
    command = worker["command"]
    assert command[:2] == ["microgpt-live", "worker"]
    assert worker_main.parse_args(command[2:]).processes == 1  # scaled by container count
    assert "ports" not in worker  # a worker only talks to Redis
    for service in (web, worker):
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
    # Redis holds only the queue and message streams: the runs live in the web's SQLite
    assert redis["command"][1:] == ["--save", "", "--appendonly", "no"]
    assert "volumes" not in redis and "ports" not in redis


def test_compose_builds_this_dockerfile(compose_service):
    _, service = compose_service
    build = service["build"]

    context = build if isinstance(build, str) else build.get("context", ".")
    assert context in {".", "./"}
    assert isinstance(build, str) or build.get("dockerfile", "Dockerfile") == "Dockerfile"


def test_compose_publishes_port_8000(compose_service):
    _, service = compose_service

    published = [str(p) for p in service["ports"]]
    assert any(p.rsplit(":", 2)[-2:] == [PORT, PORT] for p in published), published


def test_compose_keeps_data_dir_on_named_volume(compose_service):
    compose, service = compose_service

    mounts = dict(str(v).split(":", 1) for v in service["volumes"])
    names = [name for name, target in mounts.items() if target.split(":")[0] == DATA_DIR]
    assert names, f"nothing mounted on {DATA_DIR}: {mounts}"
    assert names[0] in (compose.get("volumes") or {}), "the /data volume should be a named volume"


def test_compose_restarts_and_checks_health(compose_service):
    _, service = compose_service
    test = service["healthcheck"]["test"]

    assert service["restart"] in {"always", "unless-stopped", "on-failure"}
    command = " ".join(test) if isinstance(test, list) else test
    assert f"127.0.0.1:{PORT}/healthz" in command
    assert "curl" not in command and "wget" not in command
