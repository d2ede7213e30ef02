"""Class codes and rejoin codes: short, read off a projector, typed in any case; a secret is
kept only as its hash."""

import hashlib
import itertools
import secrets

from app.runs.errors import Forbidden

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no I, O, 0, 1: read off a projector
CODE_CHARS = 6


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_CHARS))


# what a misread character of a code may have been (codes have no I, O, 0 or 1)
MISREAD = {"I": "L", "1": "L", "O": "DQ", "0": "DQ"}


def normal_code(code: str) -> str:
    """A code as typed: case, spaces and dashes do not matter."""
    return "".join(code.split()).replace("-", "").upper()


def readings(code: str) -> list[str]:
    """The codes a typed one may have meant, ambiguous characters read as the alphabet's
    (an O as D or Q, an I or 1 as L); none if it has nothing to misread."""
    typed = normal_code(code)
    if not any(ch in MISREAD for ch in typed) or len(typed) != CODE_CHARS:
        return []
    return ["".join(p) for p in itertools.product(*(MISREAD.get(ch, ch) for ch in typed))]


def hashed(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class WrongSecret(Forbidden):
    """A rejoin code or teacher link that is not the class's (a miss: app.web.code_guard)."""
