"""Compiled steps kept on disk, as Python keeps a module's bytecode in __pycache__.

Compiling the default shape's step takes ~0.3 s of CPU (bigger shapes, seconds), and every
process that trains paid it: the app's forkserver at startup, each new shape's first step, each
Redis worker. Its code object, marshalled, loads in ~2 ms. A file is named by a hash of the
source and the interpreter's bytecode version, so it is only ever the compile of that very
source; an unreadable or damaged one is compiled again and replaced.

Where: ``MICROGPT_CACHE_DIR``, else the platform's per-user cache folder; an empty
``MICROGPT_CACHE_DIR`` keeps nothing. A folder that cannot be written only means no cache.
"""

import contextlib
import hashlib
import marshal
import os
import sys
from importlib.util import MAGIC_NUMBER
from pathlib import Path
from types import CodeType

MAX_FILES = 32  # the least recently written go first (a file per shape, ~0.6 MB the default's)


def cache_dir() -> Path | None:
    """The folder for compiled steps, or None for none."""
    given = os.environ.get("MICROGPT_CACHE_DIR")
    if given is not None:
        return Path(given) if given.strip() else None
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "microgpt-live" / "cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "microgpt-live"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "microgpt-live"


def cached_compile(source: str, filename: str) -> CodeType:
    """``compile(source, filename, "exec")``, from the cache when it holds it."""
    folder = cache_dir()
    if folder is None:
        return compile(source, filename, "exec")
    key = hashlib.sha256(MAGIC_NUMBER + filename.encode() + b"\0" + source.encode()).hexdigest()
    path = folder / f"step-{key[:40]}.bin"
    try:
        code = marshal.loads(path.read_bytes())
        if isinstance(code, CodeType) and code.co_filename == filename:
            return code
    except (OSError, EOFError, ValueError, TypeError):
        pass  # not there yet, or damaged: compile it again
    code = compile(source, filename, "exec")
    _store(folder, path, marshal.dumps(code))
    return code


def _store(folder: Path, path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (another process may be reading it)."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, path)
        kept = sorted(folder.glob("step-*.bin"), key=_mtime, reverse=True)
        for old in kept[MAX_FILES:]:
            old.unlink(missing_ok=True)
    except OSError:  # read-only, full or gone: no cache, the step still runs
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
