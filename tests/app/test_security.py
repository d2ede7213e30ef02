"""Only the user's own page may act on their server: foreign pages, hosts and body types are
refused, and every response carries the security headers."""

import httpx
import pytest

from app.web.security import CSP, allowed_hosts, host_name

EVIL = "http://evil.example"


def post(server, path, **kw):
    return httpx.post(server.url + path, timeout=30, **kw)


def assert_untouched(server, before):
    after = server.state()
    assert (after["model"], after["step"], after["status"]) == (
        before["model"],
        before["step"],
        before["status"],
    )
    assert after["pace"] == before["pace"]


# The 11 cross-origin "simple" requests of the probe (8 of which changed state before): a page
# on another site can send these without a CORS preflight.
CROSS_SITE = [
    ("/api/reset", {"headers": {"Origin": EVIL}}),
    ("/api/step", {"headers": {"Origin": EVIL}}),
    ("/api/train", {"headers": {"Origin": EVIL, "Content-Type": "text/plain"}, "content": "x"}),
    ("/api/pause", {"headers": {"Sec-Fetch-Site": "cross-site"}}),
    ("/ui/train", {"headers": {"Origin": EVIL}, "data": {"steps": "5"}}),
    ("/ui/reset", {"headers": {"Origin": EVIL}, "data": {"seed": "7"}}),
    ("/ui/pace", {"headers": {"Origin": EVIL}, "data": {"steps_per_sec": "1"}}),
    ("/ui/step", {"headers": {"Sec-Fetch-Site": "same-site", "Origin": "http://a.localhost"}}),
    (
        "/api/checkpoint",
        {"headers": {"Origin": EVIL, "Content-Type": "text/plain"}, "content": "{}"},
    ),
    ("/api/checkpoint", {"headers": {"Origin": EVIL}, "files": {"file": ("m.json", b"{}")}}),
    ("/ui/train", {"headers": {"Referer": EVIL + "/attack.html"}, "data": {"steps": "5"}}),
]


@pytest.mark.parametrize(("path", "request_kw"), CROSS_SITE)
def test_refuses_a_state_change_from_another_site(server, path, request_kw):
    before = server.state()

    response = post(server, path, **request_kw)

    assert response.status_code == 403
    detail = response.json()["detail"]
    assert "only this server's own page may change its state" in detail
    assert path in detail
    assert_untouched(server, before)


def test_accepts_the_same_request_from_the_servers_own_page(server):
    response = post(
        server,
        "/ui/pace",
        headers={"Origin": server.url, "Sec-Fetch-Site": "same-origin"},
        data={"steps_per_sec": "5"},
    )
    assert response.status_code == 200
    assert server.state()["pace"] == 5.0
    response = post(
        server, "/api/pace", headers={"Origin": server.url}, json={"steps_per_sec": None}
    )
    assert response.status_code == 200 and server.state()["pace"] is None


def test_scripts_without_browser_headers_keep_working(server):
    # curl, the CLI and the README's examples send neither Origin nor Sec-Fetch-Site
    response = post(server, "/api/pace", json={"steps_per_sec": 20})
    assert response.status_code == 200
    response = post(server, "/api/pace", json={"steps_per_sec": None})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8000", "127.0.0.1.nip.io", "192.168.1.50"]
)
def test_refuses_a_foreign_host_header(server, host):
    # DNS rebinding: a foreign name that resolves to 127.0.0.1 reaches the server with its Host
    response = httpx.get(server.url + "/api/state", headers={"Host": host}, timeout=10)

    assert response.status_code == 400
    detail = response.json()["detail"]
    assert repr(host) in detail and "MICROGPT_ALLOWED_HOSTS" in detail


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST:1"])
def test_answers_to_loopback_names(server, host):
    response = httpx.get(server.url + "/api/state", headers={"Host": host}, timeout=10)
    assert response.status_code == 200


def test_allowed_hosts_follow_the_bound_address_and_the_setting(monkeypatch):
    monkeypatch.setattr("socket.gethostname", lambda: "classroom-box.lan")
    assert allowed_hosts("127.0.0.1") == {"localhost", "127.0.0.1", "::1"}
    lan = allowed_hosts("192.168.1.20")
    assert {"192.168.1.20", "classroom-box.lan", "classroom-box", "localhost"} <= lan
    assert "0.0.0.0" not in allowed_hosts("0.0.0.0")
    assert "mybox.example" in allowed_hosts("0.0.0.0", "mybox.example, 10.0.0.2")
    assert allowed_hosts("0.0.0.0", "*") is None
    assert host_name("[::1]:80") == "::1" and host_name("Box:8000") == "box"


def test_a_shared_server_answers_to_the_names_it_is_given(server_factory):
    shared = server_factory(MICROGPT_ALLOWED_HOSTS="microgpt.classroom.test")
    ok = httpx.get(shared.url + "/healthz", headers={"Host": "microgpt.classroom.test:80"})
    assert ok.status_code == 200
    refused = httpx.get(shared.url + "/healthz", headers={"Host": "other.test"})
    assert refused.status_code == 400
    shared.stop()


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/api/train", "text/plain", '{"steps": 3}'),
        ("/api/train", "application/x-www-form-urlencoded", "steps=3"),
        ("/api/reset", "text/plain", "{}"),
        ("/api/checkpoint", "text/plain", "{}"),
        ("/ui/train", "application/json", '{"steps": 500}'),
        ("/ui/reset", "application/json", "{}"),
    ],
)
def test_refuses_a_body_of_the_wrong_type(server, path, content_type, body):
    before = server.state()

    response = post(server, path, headers={"Content-Type": content_type}, content=body)

    assert response.status_code == 415
    detail = response.json()["detail"]
    assert path in detail and repr(content_type) in detail
    assert_untouched(server, before)


@pytest.mark.parametrize(
    "path", ["/", "/api/state", "/static/js/pages/run.js", "/nope", "/healthz"]
)
def test_every_response_carries_the_security_headers(server, path):
    response = server.get(path)

    assert response.headers["content-security-policy"] == CSP
    assert "script-src 'self';" in CSP and "unsafe-eval" not in CSP
    assert "'unsafe-inline'" not in CSP.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_favicon_ico_is_the_pages_icon(server):
    response = server.get("/favicon.ico")
    assert response.status_code == 301
    assert response.headers["location"] == "/static/favicon.svg"
    icon = server.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")


def test_refusals_carry_the_security_headers_too(server):
    response = post(server, "/api/reset", headers={"Origin": EVIL})
    assert response.status_code == 403
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["x-frame-options"] == "DENY"
