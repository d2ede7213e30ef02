"""Where templates/ and static/ are: the repository root in a checkout, app/ in the wheel."""

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    for candidate in (_HERE / name, _HERE.parent / name):
        if candidate.is_dir():
            return candidate
    return _HERE / name  # absent: callers check .is_dir() before mounting


TEMPLATES_DIR = _find("templates")
STATIC_DIR = _find("static")
