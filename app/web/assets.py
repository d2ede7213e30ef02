"""The page's files under a version, /static/v-<12 hex>/<path>, which a browser keeps for good.

A page loads ~60 files (its modules import one another by relative URL). Served plainly, a
browser asks for each again on every load once its guess of their freshness runs out (at once
for a file just written, as in a fresh checkout or install): 60 conditional requests, 60 304s.
Under a version that changes whenever any file does (name, size or modification time), a URL
names one content for good: ``Cache-Control: immutable``, and a reload asks for nothing. A
relative import inside a module stays under its version.

``/static/<path>`` still answers as before (a saved page, the favicon's redirect, the API
docs); so does an older version's URL, but as ``no-cache``: the file it gets may be newer.
"""

import hashlib
import os
import re
import stat
import time
from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from app.paths import STATIC_DIR

IMMUTABLE = "public, max-age=31536000, immutable"
VERSIONED = re.compile(r"v-[0-9a-f]{12}")


class AssetVersion:
    """The version of a folder's files, looked at again at most once a ``ttl`` (a page renders
    ~70 asset URLs; an edited file shows on the next load, no restart needed)."""

    def __init__(self, root: Path, ttl: float = 1.0):
        self.root = root
        self.ttl = ttl
        self._value = ""
        self._at = -float("inf")

    def __call__(self) -> str:
        now = time.monotonic()
        if now - self._at > self.ttl:
            self._value = self._digest()
            self._at = now
        return self._value

    def _digest(self) -> str:
        h = hashlib.sha256()
        for path in sorted(self.root.rglob("*")):
            try:
                st = path.stat()
            except OSError:  # removed since the listing (an edit in progress): not there
                continue
            if stat.S_ISREG(st.st_mode):
                name = path.relative_to(self.root).as_posix()
                h.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return "v-" + h.hexdigest()[:12]

    def url(self, path: str) -> str:
        """The URL of a file of the folder (relative to it), under the current version."""
        return f"/static/{self()}/{path}"


class VersionedStaticFiles(StaticFiles):
    """StaticFiles that also serves ``<version>/<path>`` as ``<path>``: for good when the
    version is the current one."""

    def __init__(self, *, directory: Path, version: AssetVersion):
        super().__init__(directory=directory)
        self.version = version

    async def get_response(self, path: str, scope: Scope) -> Response:
        head, sep, rest = path.partition(os.sep)
        if not (sep and VERSIONED.fullmatch(head)):
            return await super().get_response(path, scope)
        response = await super().get_response(rest, scope)
        current = head == self.version()
        response.headers["Cache-Control"] = IMMUTABLE if current else "no-cache"
        return response


STATIC_VERSION = AssetVersion(STATIC_DIR)  # the pages' links (app.templating) and the mount's
