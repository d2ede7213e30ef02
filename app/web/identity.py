"""Who is asking: an anonymous identity per browser, in a signed cookie.

A browser's first request gets a random id and a cookie ``mgl_id=<id>.<signature>``, the
signature an HMAC-SHA256 of the id with this server's secret (a file in the data directory,
made on first use, readable by its owner only). A cookie whose signature does not match is
ignored and replaced, so an identity cannot be made up or borrowed by guessing. The identity is
only an id: it names no one (a class member's display name lives in the class roster), and
outside a class nothing depends on it.

Pure ASGI (no BaseHTTPMiddleware: it would buffer the event stream); routes read it as
``request.state.identity`` (and who asks, for the quotas, as ``request.state.requester``).
"""

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "mgl_id"
MAX_AGE = 400 * 24 * 3600  # the longest a browser keeps a cookie (RFC 6265bis)


def load_secret(data_dir: Path) -> bytes:
    """The server's signing key: ``identity.key`` in the data directory, 32 random bytes."""
    path = data_dir / "identity.key"
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex())
    return key


def _sign(secret: bytes, ident: str) -> str:
    mac = hmac.new(secret, ident.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode()


def cookie_value(secret: bytes, ident: str) -> str:
    return f"{ident}.{_sign(secret, ident)}"


def verified(secret: bytes, value: str | None) -> str | None:
    """The identity a cookie value carries, if its signature is this server's."""
    if not value or value.count(".") != 1:
        return None
    ident, sig = value.split(".")
    if not (0 < len(ident) <= 64) or not hmac.compare_digest(sig, _sign(secret, ident)):
        return None
    return ident


def cookie_from_header(header: bytes) -> str | None:
    """This app's cookie in a raw ``Cookie`` header, whatever else it holds: other apps on the
    host (every port shares its cookies) may set values with spaces, JSON, no ``=`` or
    non-ASCII bytes, which a strict parser (``http.cookies``) answers by dropping them all."""
    for pair in header.split(b";"):
        name, sep, value = pair.partition(b"=")
        if sep and name.strip() == COOKIE.encode():
            value = value.strip().strip(b'"')
            try:
                return value.decode("ascii")
            except UnicodeDecodeError:
                return None
    return None


def _cookie(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            found = cookie_from_header(value)
            if found is not None:
                return found
    return None


class Identity:
    def __init__(self, app: ASGIApp, secret: bytes):
        self.app, self.secret = app, secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ident = verified(self.secret, _cookie(scope))
        fresh = ident is None
        if fresh:
            ident = secrets.token_urlsafe(12)
        state = scope.setdefault("state", {})
        state["identity"] = ident
        # who asks, for the quotas (app.runs.quotas): a client that sent no cookie is its
        # address, not a new person at every request
        state["requester"] = f"address {(scope.get('client') or ('?',))[0]}" if fresh else ident
        if not fresh:
            await self.app(scope, receive, send)
            return
        header = (
            f"{COOKIE}={cookie_value(self.secret, ident)}; Path=/; Max-Age={MAX_AGE}; "
            "HttpOnly; SameSite=Lax"
        ).encode()

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": [*message.get("headers", ()), (b"set-cookie", header)],
                }
            await send(message)

        await self.app(scope, receive, send_with_cookie)
