"""The page's files: linked under a version that changes with them, and kept by the browser for
good under it (app.web.assets); the plain /static/ URLs answer as before."""

import os
import re
import time

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from app.web.assets import IMMUTABLE, VERSIONED, AssetVersion, VersionedStaticFiles
from tests.conftest import run_async, static_assets, unversioned

LINK = re.compile(rf"/static/({VERSIONED.pattern})/.+")


def page_assets(server, path: str = "/") -> list[str]:
    return static_assets(server.get(path).text, server.url)


@pytest.mark.parametrize("path", ["/", "/compare", "/docs"])
def test_every_file_a_page_links_is_under_one_version_and_kept_for_good(server, path):
    links = page_assets(server, path)

    assert links, f"{path} links no file of static/"
    versions = {LINK.fullmatch(link)[1] for link in links}  # a plain link: no match, error
    assert len(versions) == 1, versions
    for link in links:
        kept = server.get(link)
        plain = server.get(unversioned(link))
        assert kept.status_code == 200 and kept.content == plain.content, link
        assert kept.headers["cache-control"] == IMMUTABLE
        assert "cache-control" not in plain.headers  # as before: the browser's own guess


def test_a_versioned_url_names_no_file_outside_static(server):
    version = LINK.fullmatch(page_assets(server)[0])[1]
    for path in (
        f"/static/{version}/../app/main.py",
        f"/static/{version}/%2e%2e/%2e%2e/pyproject.toml",
        f"/static/{version}/",
        f"/static/{version}/js/nope.js",
        "/static/v-XYZ/js/api.js",  # not a version: a folder that is not there
    ):
        assert server.get(path).status_code == 404, path


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "a.js").write_text("export const a = 1;\n")
    (tmp_path / "b.css").write_text("body {}\n")
    return tmp_path


def test_the_version_changes_when_a_file_is_edited_added_or_removed(folder):
    version = AssetVersion(folder, ttl=0)
    seen = {version()}

    (folder / "js" / "a.js").write_text("export const a = 2;\n")  # same size, later mtime
    os.utime(folder / "js" / "a.js", ns=(time.time_ns(), time.time_ns() + 10**9))
    seen.add(version())
    (folder / "js" / "c.js").write_text("")
    seen.add(version())
    (folder / "b.css").unlink()
    seen.add(version())

    assert len(seen) == 4
    assert all(re.fullmatch(r"v-[0-9a-f]{12}", v) for v in seen)
    assert version.url("js/a.js") == f"/static/{version()}/js/a.js"


def test_the_version_is_looked_at_again_at_most_once_a_ttl(folder):
    version = AssetVersion(folder, ttl=3600)
    before = version()
    (folder / "js" / "c.js").write_text("")
    assert version() == before  # within the ttl: the links a page renders agree
    assert AssetVersion(folder, ttl=0)() != before


def test_an_older_versions_url_gets_the_file_but_not_for_good(folder):
    version = AssetVersion(folder, ttl=0)
    files = VersionedStaticFiles(directory=folder, version=version)
    app = Starlette(routes=[Mount("/static", files)])

    def get(path: str) -> httpx.Response:
        async def ask():
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                return await client.get(path)

        return run_async(ask())

    old = version()
    assert get(f"/static/{old}/js/a.js").headers["cache-control"] == IMMUTABLE

    (folder / "js" / "a.js").write_text("export const a = 22;\n")
    answer = get(f"/static/{old}/js/a.js")

    assert answer.status_code == 200 and answer.text == "export const a = 22;\n"
    assert answer.headers["cache-control"] == "no-cache"
    assert get(f"/static/{version()}/js/a.js").headers["cache-control"] == IMMUTABLE
