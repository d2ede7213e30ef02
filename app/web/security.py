"""Only the user's own page may act on their server: hosts, origins, content types, headers.

One pure ASGI middleware (no BaseHTTPMiddleware: it would buffer the event stream), outermost,
so every answer, refusals included, carries the security headers:

- **Host allow-list** (DNS rebinding): a request whose ``Host`` is not this server's gets 400.
  Loopback names (localhost, 127.0.0.1, [::1], any case, any port) are always allowed; bound to
  another address, so are that address and this machine's host name, plus
  ``MICROGPT_ALLOWED_HOSTS`` (comma-separated; ``*`` allows any host, for a server behind a
  proxy that checks it). Exactly: no other spelling (``localhost.``, ``127.1``, ``0.0.0.0``,
  ``[::ffff:127.0.0.1]``), and a request with no Host header or two is refused too.
- **Cross-site requests** (CSRF, the header-only check Go's CrossOriginProtection does): a
  state-changing request (not GET/HEAD/OPTIONS) that a browser marks as coming from another
  site gets 403: ``Sec-Fetch-Site: cross-site|same-site``, or an ``Origin`` (or, without one, a
  ``Referer``) whose host is not the ``Host`` asked for. Requests with none of these headers
  (curl, scripts, the CLI) are not from a browser page and keep working.
- **Content types**: a body sent to ``/api/*`` must be ``application/json`` (the checkpoint
  upload also takes ``multipart/form-data``), and one sent to ``/ui/*`` a form; else 415. So no
  HTML form or text/plain "simple request" can pose as the API, and JSON cannot pose as a form.
- **Headers** on every response: a CSP whose ``script-src`` is only this server's own files (no
  inline script, no eval; ``style-src-attr`` allows the style attributes the page's bars and
  heatmaps are drawn with), ``frame-ancestors 'none'`` and ``X-Frame-Options: DENY`` (no
  click-jacking), ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``. A route
  that needs another CSP (the API docs) sets its own and keeps it.
"""

import ipaddress
import json
import re
import socket
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.web.errors import run_path

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
JSON = "application/json"
MULTIPART = "multipart/form-data"
FORM = "application/x-www-form-urlencoded"


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowed_hosts(bound: str, extra: str = "") -> frozenset[str] | None:
    """The host names this server answers to (None: any). ``bound`` is the listening address,
    ``extra`` the setting ``MICROGPT_ALLOWED_HOSTS``."""
    names = {h.strip().lower().strip("[]") for h in extra.split(",") if h.strip()}
    if "*" in names:
        return None
    names |= LOOPBACK_NAMES
    bound = bound.strip("[]").lower()
    if not _is_loopback(bound):
        if bound not in ("0.0.0.0", "::", ""):
            names.add(bound)
        hostname = socket.gethostname().lower()
        names |= {hostname, hostname.split(".")[0]}
    return frozenset(names)


# a Host header: a name or IPv4 address, or an IPv6 address in brackets; an optional port
HOST = re.compile(r"(?:\[(?P<v6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9._-]+))(?::[0-9]{1,5})?")


def host_name(host_header: str) -> str | None:
    """``Host: [::1]:8000`` → ``::1``; ``localhost:8000`` → ``localhost``; None for what is not
    a host (``[::1]evil``). Spelled as it came: ``127.1`` is not ``127.0.0.1``."""
    found = HOST.fullmatch(host_header.strip().lower())
    return None if found is None else found["v6"] or found["name"]


def host_refusal(scope: Scope, hosts: frozenset[str] | None) -> str | None:
    """Why this request's Host is not one this server answers to, or None. Exactly one Host
    header (none: an HTTP/1.0 request, or a proxy's mistake), naming an allowed host exactly."""
    given = [value for name, value in scope.get("headers", ()) if name == b"host"]
    if len(given) != 1:
        how = "no Host header" if not given else f"{len(given)} Host headers"
        return f"the request has {how}: it must name the host it asks, once"
    host = given[0].decode("latin-1")
    if hosts is None or host_name(host) in hosts:
        return None
    return (
        f"this server does not answer to the host {_short(host)}; allowed: "
        f"{', '.join(sorted(hosts))} (set MICROGPT_ALLOWED_HOSTS to share it)"
    )


def _netloc(url: str) -> str | None:
    """``http://localhost:8000/x`` → ``localhost:8000`` (default ports dropped), else None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default = {"http": 80, "https": 443}[parts.scheme]
    return host if port in (None, default) else f"{host}:{port}"


def _same_host(url: str, host_header: str) -> bool:
    netloc = _netloc(url)
    if netloc is None:
        return False
    host = host_header.strip().lower()
    for default in (":80", ":443"):
        if host.endswith(default):
            host = host[: -len(default)]
    return netloc == host


def _short(value: str, limit: int = 60) -> str:
    return repr(value if len(value) <= limit else value[: limit - 1] + "…")


def cross_site_reason(method: str, headers: Headers) -> str | None:
    """Why a state-changing request comes from another site, or None if it does not."""
    if method in SAFE_METHODS:
        return None
    site = headers.get("sec-fetch-site")
    if site in ("cross-site", "same-site"):
        return f"the browser marks it as {site} (Sec-Fetch-Site)"
    if site in ("same-origin", "none"):
        return None
    host = headers.get("host", "")
    origin = headers.get("origin")
    if origin is not None:
        return None if _same_host(origin, host) else f"it comes from the page {_short(origin)}"
    referer = headers.get("referer")
    if referer is not None and not _same_host(referer, host):
        return f"it comes from the page {_short(referer)}"
    return None


def content_type_error(method: str, path: str, headers: Headers) -> str | None:
    """Why a request's body has the wrong type for its endpoint, or None."""
    if method in SAFE_METHODS:
        return None
    has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
    if not has_body:
        return None
    media = headers.get("content-type", "").split(";")[0].strip().lower()
    if path.startswith("/api/"):
        allowed = (JSON, MULTIPART) if run_path(path) == "/api/checkpoint" else (JSON,)
    elif path.startswith("/ui/"):
        allowed = (FORM, MULTIPART)
    else:
        return None
    if media in allowed:
        return None
    got = _short(media) if media else "none"
    return f"{method} {path} takes a body of type {' or '.join(allowed)}, got {got}"


class Security:
    """The checks and headers of this module's docstring, as pure ASGI middleware."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str] | None):
        self.app, self.hosts = app, hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [h for h in HEADERS if h[0] not in names]
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", CSP.encode()))
                message = {**message, "headers": headers}
            await send(message)

        headers = Headers(scope=scope)
        refusal = self.refusal(scope, headers)
        if refusal is not None:
            status, detail = refusal
            body = json.dumps({"detail": detail}).encode()
            await send_with_headers(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send_with_headers({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send_with_headers)

    def refusal(self, scope: Scope, headers: Headers) -> tuple[int, str] | None:
        wrong_host = host_refusal(scope, self.hosts)
        if wrong_host is not None:
            return 400, wrong_host
        method, path = scope["method"], scope["path"]
        why = cross_site_reason(method, headers)
        if why is not None:
            return 403, (
                f"{method} {path} refused: only this server's own page may change its state, "
                f"and {why}"
            )
        wrong_type = content_type_error(method, path, headers)
        if wrong_type is not None:
            return 415, wrong_type
        return None
