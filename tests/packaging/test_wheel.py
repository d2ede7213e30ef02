"""Build the wheel, install it into a fresh venv and run the installed console script.

This catches what the checkout hides: package data left out of the wheel (templates, static files,
the dataset), a broken entry point, a dependency used but not declared. The venv is filled by uv
(the test extra's), which resolves and installs the declared dependencies in a few seconds where
pip takes ~40 s of index round trips.
"""

import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

from tests.conftest import static_assets, unversioned

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 60.0
SHUTDOWN_TIMEOUT = 20.0


def run(cmd: list, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    """Run a command; on failure, fail the test with its output."""
    result = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, **kwargs
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, cmd))} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
        )
    return result


def clean_env() -> dict[str, str]:
    """This process's environment without anything that could point back at the checkout."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("MICROGPT_")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 10) -> tuple[int, str, bytes]:
    """(status, content type, body); HTTP errors are returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.headers.get("content-type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("content-type", ""), error.read()


def build(tmp_path_factory, *flags: str) -> Path:
    """`python -m build` into a fresh folder; the wheel it made."""
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", *flags, "--no-isolation", "--outdir", out, ROOT])
    wheels = list(out.glob("microgpt_live-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built the way a release is: the sdist, then the wheel from the unpacked sdist."""
    return build(tmp_path_factory)


@pytest.fixture(scope="module")
def wheel_names(wheel) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        return set(zf.namelist())


@pytest.fixture(scope="module")
def venv_bin(wheel, tmp_path_factory) -> Path:
    """A fresh venv (no system site-packages) with only the wheel and its dependencies."""
    venv = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", "--without-pip", venv], env=clean_env())
    bin_dir = venv / "bin"
    uv = Path(sys.executable).parent / "uv"
    run([uv, "pip", "install", "--quiet", "--python", bin_dir / "python", wheel], env=clean_env())
    return bin_dir


@dataclass
class Server:
    base: str
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]

    def get(self, path: str) -> tuple[int, str, bytes]:
        return http_get(urljoin(self.base, path))

    def stop(self) -> int | None:
        """SIGTERM, wait, kill what is left in the process group; the exit code (None: hung)."""
        code = None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(SHUTDOWN_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
        return code


def start_server(bin_dir: Path, workdir: Path) -> Server:
    """Start `microgpt-live --port <free> --data-dir <tmp>`; return once /healthz is 200."""
    data_dir = workdir / "data"
    port = free_port()
    log = workdir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [bin_dir / "microgpt-live", "--host", "127.0.0.1", "--port", str(port)]
            + ["--data-dir", str(data_dir)],
            cwd=workdir,
            env=clean_env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so teardown can reap the worker too
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"microgpt-live exited {process.returncode}:\n{server.output()}")
        try:
            if server.get("/healthz")[0] == 200:
                return server
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    pytest.fail(f"/healthz not 200 within {STARTUP_TIMEOUT:.0f}s:\n{server.output()}")


@pytest.fixture(scope="module")
def server(venv_bin, tmp_path_factory):
    server = start_server(venv_bin, tmp_path_factory.mktemp("server"))
    yield server
    server.stop()


def module_imports(source: str, path: str) -> list[str]:
    """The paths an ES module at ``path`` imports (``import … from "./x.js"``), resolved."""
    specs = re.findall(r'^(?:import|export)\b[^;]*?\bfrom\s*"([^"]+)"', source, flags=re.M)
    return [urlsplit(urljoin(path, spec)).path for spec in specs]


def test_build_wheel_with_package_data(wheel_names):
    assert "engine/data/names.txt" in wheel_names
    assert "engine/data/names.LICENSE" in wheel_names
    assert "app/templates/index.html" in wheel_names
    assert any(n.startswith("app/static/vendor/") for n in wheel_names)
    assert "app/__main__.py" in wheel_names


def test_build_wheel_with_every_static_file(wheel_names):
    """The page's ES modules import one another: the whole static tree ships, not only the files
    a page names."""
    static = ROOT / "static"
    files = {
        f"app/static/{p.relative_to(static).as_posix()}" for p in static.rglob("*") if p.is_file()
    }

    assert any(f.startswith("app/static/js/") for f in files)
    assert files <= wheel_names, sorted(files - wheel_names)


def test_build_wheel_without_tests_or_checkout_only_files(wheel_names):
    tops = {name.split("/")[0] for name in wheel_names}

    assert {t for t in tops if not t.endswith(".dist-info")} == {"engine", "app"}
    assert not any("__pycache__" in name for name in wheel_names)


def test_build_wheel_same_from_checkout_as_from_sdist(wheel_names, tmp_path_factory):
    """`pip install .` and the Dockerfile build the wheel straight from the source tree."""
    with zipfile.ZipFile(build(tmp_path_factory, "--wheel")) as zf:
        direct = set(zf.namelist())

    assert direct == wheel_names


def test_build_wheel_with_console_script(wheel_names, wheel):
    with zipfile.ZipFile(wheel) as zf:
        info = next(n for n in wheel_names if n.endswith(".dist-info/entry_points.txt"))
        entry_points = zf.read(info).decode()

    assert "microgpt-live = app.__main__:main" in entry_points


def test_installed_script_shows_help(venv_bin):
    result = run([venv_bin / "microgpt-live", "--help"], timeout=60, env=clean_env(), cwd="/")

    for flag in ("--host", "--port", "--data-dir"):
        assert flag in result.stdout


def test_installed_server_answers_healthz(server):
    status, _, _ = server.get("/healthz")

    assert status == 200


def test_installed_server_serves_page_and_its_static_assets(server):
    status, content_type, body = server.get("/")

    assert status == 200, server.output()
    assert content_type.startswith("text/html")
    assets = static_assets(body.decode(), server.base)
    assert assets, "the page references no /static/ asset"
    assert any(unversioned(a).startswith("/static/vendor/") for a in assets), assets
    broken = {}
    pending, seen = list(assets), set()
    while pending:  # the assets, and every module the page's modules import
        asset = pending.pop()
        if asset in seen:
            continue
        seen.add(asset)
        status, content_type, body = server.get(asset)
        if status != 200:
            broken[asset] = status
        elif asset.endswith(".js") and "javascript" in content_type:
            pending += module_imports(body.decode(), asset)
    assert not broken, f"static assets not served by the installed package: {broken}"
    assert any(unversioned(a).startswith("/static/js/graph/") for a in seen), sorted(seen)


def test_installed_server_predicts_distribution(server):
    status, content_type, body = server.get("/api/predict?prefix=em")

    assert status == 200, body[:500]
    assert content_type.startswith("application/json")
    payload = json.loads(body)  # app.contract.api.PredictOut
    probs = payload["probs"]
    assert payload["prefix"] == "em"
    assert len(probs) == 27
    assert all(0.0 <= p <= 1.0 for p in probs)
    assert math.isclose(sum(probs), 1.0, abs_tol=1e-6)


def test_dockerfile_healthcheck_passes_against_installed_server(server, venv_bin, dockerfile):
    """Runs the image's HEALTHCHECK command (its python -c probe) against the installed server."""
    healthcheck = next(i for i in dockerfile if i.keyword == "HEALTHCHECK").exec_form()
    assert healthcheck and healthcheck[0] == "python"
    port = urlsplit(server.base).port
    argv = [a.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for a in healthcheck[1:]]

    run([venv_bin / "python", *argv], timeout=30, env=clean_env())


def test_installed_server_stops_on_sigterm(venv_bin, tmp_path):
    server = start_server(venv_bin, tmp_path)
    server.process.send_signal(signal.SIGTERM)
    try:
        code = server.process.wait(SHUTDOWN_TIMEOUT)
    except subprocess.TimeoutExpired:
        code = None
    leftovers = True
    deadline = time.monotonic() + 5
    while leftovers and time.monotonic() < deadline:
        try:
            os.killpg(server.process.pid, 0)
            time.sleep(0.1)
        except ProcessLookupError:
            leftovers = False
    server.stop()

    # uvicorn re-raises the signal once it has shut down cleanly, so -SIGTERM is a clean exit too.
    assert code in {0, -signal.SIGTERM}, f"exit code {code} after SIGTERM:\n{server.output()}"
    assert "Application shutdown complete" in server.output()
    assert not leftovers, "processes (the worker?) outlived the server after SIGTERM"


def test_installed_embedded_app_pulls_neither_dramatiq_nor_redis(venv_bin):
    listing = (
        "import importlib.metadata as m, json; "
        "print(json.dumps([d.name for d in m.distributions()]))"
    )
    result = run([venv_bin / "python", "-c", listing], env=clean_env())
    installed = {name.lower() for name in json.loads(result.stdout)}

    assert "microgpt-live" in installed
    assert not installed & {"dramatiq", "redis"}, "Redis mode's packages belong to the extra"


@pytest.mark.parametrize("command", [["--redis-url"], ["worker", "--redis-url"]])
def test_installed_redis_mode_without_the_extra_says_how_to_install_it(venv_bin, command):
    result = subprocess.run(
        [venv_bin / "microgpt-live", *command, "redis://127.0.0.1:1/0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
        cwd="/",
    )

    assert result.returncode == 2, result.stderr
    assert "pip install 'microgpt-live[redis]'" in result.stderr
    assert "Traceback" not in result.stderr
