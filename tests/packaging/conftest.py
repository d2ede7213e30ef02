"""Shared fixtures for the packaging tests: the repository root and the parsed Dockerfile.

No __init__.py in this folder on purpose: a package named `packaging` would shadow the library.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, ...
    args: str  # the rest, continuation lines joined with spaces

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form CMD/ENTRYPOINT/RUN (or of HEALTHCHECK ... CMD [...])."""
        text = self.args
        if self.keyword == "HEALTHCHECK":
            _, sep, text = text.partition("CMD ")
            if not sep:
                return None
        text = text.strip()
        if not text.startswith("["):
            return None
        value = json.loads(text)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), self
        return value


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions in order: comments dropped, backslash continuations joined."""
    instructions: list[Instruction] = []
    current = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1].strip() + " "
            continue
        current += stripped
        keyword, _, args = current.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip()))
        current = ""
    assert not current, f"Dockerfile ends inside a continuation: {current!r}"
    return instructions


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def dockerfile() -> list[Instruction]:
    return parse_dockerfile((ROOT / "Dockerfile").read_text())
