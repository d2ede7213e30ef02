"""Smaller holes of issue 25, on a real server: text that cannot be UTF-8, a model upload "on"
someone else's run, a GET that moved the server's default run, and Host headers that are
almost loopback."""

import re
import socket

import httpx
import pytest

from app.web.security import host_name

SURROGATE = b"a\\ud800b"  # JSON's escape of a lone surrogate: valid JSON, not UTF-8 text


@pytest.fixture(scope="module")
def server(server_factory):
    server = server_factory()
    yield server
    server.stop()


def browser(server) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=30)
    client.get("/healthz")  # the identity cookie
    return client


def send(client, method, path, body: bytes):
    return client.request(method, path, content=body, headers={"Content-Type": "application/json"})


def test_a_lone_surrogate_anywhere_is_a_422_naming_the_field(server):
    client = browser(server)
    run = client.post("/api/runs", json={"name": "plain"}).json()["id"]
    made = client.post("/api/classes", json={"name": "Chemistry"}).json()["code"]
    cases = [
        ("POST", "/api/runs", b'{"name": "' + SURROGATE + b'"}', "name"),
        ("POST", "/api/runs", b'{"dataset": {"text": "ann\\n' + SURROGATE + b'"}}', "text"),
        ("PATCH", f"/api/runs/{run}", b'{"name": "' + SURROGATE + b'"}', "name"),
        ("POST", f"/api/runs/{run}/fork", b'{"step": 0, "name": "' + SURROGATE + b'"}', "name"),
        ("POST", "/api/classes", b'{"name": "' + SURROGATE + b'"}', "name"),
        ("POST", f"/api/classes/{made}/join", b'{"name": "' + SURROGATE + b'"}', "name"),
        ("POST", f"/api/classes/{made}/join", b'{"rejoin": "' + SURROGATE + b'"}', "rejoin"),
    ]
    runs_before = len(client.get("/api/runs").json()["runs"])
    for method, path, body, field in cases:
        r = send(client, method, path, body)
        assert r.status_code == 422, (path, r.status_code, r.text)
        detail = r.json()["detail"]
        assert f"'{field}'" in detail and "surrogate" in detail, detail
    assert len(client.get("/api/runs").json()["runs"]) == runs_before
    assert client.get(f"/api/runs/{run}").json()["name"] == "plain"


def test_a_model_upload_on_someone_elses_run_is_refused(server):
    teacher = browser(server)
    code = teacher.post("/api/classes", json={"name": "Biology"}).json()["code"]
    ada, mallory = browser(server), browser(server)
    run = ada.post(f"/api/classes/{code}/join", json={"name": "Ada"}).json()["run"]
    model = mallory.get("/api/checkpoint").content
    before = mallory.get("/api/runs").json()["runs"]

    api = send(mallory, "POST", f"/api/runs/{run}/checkpoint", model)
    assert api.status_code == 403 and "Ada" in api.json()["detail"]
    files = {"file": ("model.json", model, "application/json")}
    page = mallory.post(f"/ui/runs/{run}/checkpoint", files=files)
    assert page.status_code == 403 and "Ada" in page.text
    assert mallory.get("/api/runs").json()["runs"] == before  # no run made, nobody told

    mine = send(ada, "POST", f"/api/runs/{run}/checkpoint", model)  # Ada may
    assert mine.status_code == 200, mine.text


def current_run(page: str) -> int:
    return int(re.search(r'data-run="(\d+)" aria-current="page"', page).group(1))


def test_a_get_moves_no_default_run(server):
    client = browser(server)
    first = client.post("/api/runs", json={"name": "first"}).json()["id"]
    second = client.post("/api/runs", json={"name": "second"}).json()["id"]
    assert client.get("/api/runs").json()["default"] == second
    # a cross-site link (or an <img>) to /?run=N: the page shows it...
    assert current_run(client.get(f"/?run={first}").text) == first
    # ...and remembers it for this browser only
    assert current_run(client.get("/").text) == first
    assert client.get("/api/runs").json()["default"] == second
    assert client.get("/api/state").json()["id"] == second
    assert current_run(browser(server).get("/").text) == second
    # the default changes by POST only
    assert client.post(f"/api/runs/{first}/select").status_code == 200
    assert client.get("/api/state").json()["id"] == first


@pytest.mark.parametrize(
    "host",
    [
        "localhost.",
        "127.1",
        "0.0.0.0",
        "[::ffff:127.0.0.1]",
        "[::1]evil",
        "[::1]:80:80",
        "localhost:80x",
        "localhost evil",
        "",
    ],
)
def test_the_host_check_is_exact(server, host):
    r = httpx.get(server.url + "/healthz", headers={"Host": host}, timeout=10)
    assert r.status_code == 400, host


@pytest.mark.parametrize("host", ["localhost", "LocalHost:8000", "127.0.0.1", "[::1]", "[::1]:1"])
def test_loopback_in_any_case_and_port(server, host):
    assert httpx.get(server.url + "/healthz", headers={"Host": host}, timeout=10).is_success
    assert host_name(host) in ("localhost", "127.0.0.1", "::1")


def raw_request(server, head: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(head)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    return answer


def test_a_request_without_one_host_header_is_refused(server):
    twice = raw_request(
        server,
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n"
        b"Connection: close\r\n\r\n",
    )
    assert twice.split(b"\r\n")[0].split()[1] == b"400"
    none = raw_request(server, b"GET /healthz HTTP/1.0\r\n\r\n")
    assert none.split(b"\r\n")[0].split()[1] == b"400"
    assert b"no Host header" in none
    ok = raw_request(server, b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    assert ok.split(b"\r\n")[0].split()[1] == b"200"
