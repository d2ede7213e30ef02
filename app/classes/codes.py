"""Class codes and rejoin codes: short, read off a projector, typed in any case; a secret is
kept only as its hash."""

import hashlib
import secrets

from app.runs.errors import Forbidden

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no I, O, 0, 1: read off a projector
CODE_CHARS = 6


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_CHARS))


def normal_code(code: str) -> str:
    """A code as typed: case and surrounding spaces do not matter."""
    return code.strip().upper()


def hashed(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class WrongSecret(Forbidden):
    """A rejoin code or teacher link that is not the class's (a miss: app.web.code_guard)."""
