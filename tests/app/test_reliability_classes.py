"""A classroom in the real world, on a real server: other apps' cookies on the host, a rejoin
code that works once, codes guessed at speed, a script taking seats, and the teacher's CSV for
any class name (issue 25).

Each browser is an ``httpx.Client`` keeping its own cookies (its signed identity); the
throttles are set small (a few misses a minute) so that a test reaches them quickly."""

import csv
import io
import math
import re
import time
from urllib.parse import unquote

import httpx
import pytest

from app.web.csv_safe import SafeWriter
from app.web.identity import COOKIE, cookie_from_header

MISSES = 6  # per browser a minute, in this file's server
ADDRESS_MISSES = 40
JOIN_BURST = 5


@pytest.fixture(scope="module")
def server(server_factory):
    server = server_factory(
        MICROGPT_CODE_MISSES_PER_MINUTE=str(MISSES),
        MICROGPT_CODE_MISSES_PER_MINUTE_PER_ADDRESS=str(ADDRESS_MISSES),
        MICROGPT_CLASS_JOIN_BURST=str(JOIN_BURST),
        MICROGPT_CLASS_JOINS_PER_SECOND="0.5",
    )
    yield server
    server.stop()


def browser(server, **kw) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=30, **kw)
    client.get("/healthz")  # a first visit: the identity cookie
    return client


def make_class(server, name="Physics 1"):
    teacher = browser(server)
    made = teacher.post("/api/classes", json={"name": name, "preset": {"steps": 5}})
    assert made.status_code == 201, made.text
    return teacher, made.json()["code"]


def join(client, code, name="", **extra):
    return client.post(f"/api/classes/{code}/join", json={"name": name, **extra})


# ---------------------------------------------------------------- identity


ODD_COOKIES = [
    'prefs={"theme": "dark", "lang": "el"}',  # JSON, with spaces
    "session=a b c",  # a space in a value
    "flag",  # no "="
    "name=Ζωή",  # non-ASCII
    'quoted="a;b"',
]


@pytest.mark.parametrize("odd", ODD_COOKIES)
def test_the_identity_cookie_is_found_among_any_other_cookies(odd):
    ours = "abc123.SIGNATURE_xyz"
    for header in (f"{odd}; {COOKIE}={ours}", f"{COOKIE}={ours}; {odd}", f"{odd};{COOKIE}={ours}"):
        assert cookie_from_header(header.encode()) == ours, header
    assert cookie_from_header(odd.encode()) is None


def test_a_student_stays_themselves_whatever_other_apps_set_on_the_host(server):
    _, code = make_class(server)
    ada = browser(server)
    run = join(ada, code, "Ada").json()["run"]
    ident = ada.cookies[COOKIE]
    for odd in ODD_COOKIES:
        # as a browser sends them: one raw Cookie header, ours among the others'
        raw = f"{odd}; {COOKIE}={ident}".encode()
        headers = [(b"cookie", raw), (b"content-type", b"application/json")]
        with httpx.Client(base_url=server.url, timeout=30) as bare:
            r = bare.post(f"/api/runs/{run}/pace", content=b'{"steps_per_sec": 5}', headers=headers)
            assert r.status_code == 200, (odd, r.text)
            assert "set-cookie" not in r.headers  # no new identity handed out


# ---------------------------------------------------------------- rejoin


def test_a_rejoin_code_works_once_and_moves_the_seat(server):
    teacher, code = make_class(server)
    phone = browser(server)
    first = join(phone, code, "Ada").json()
    laptop, tablet = browser(server), browser(server)

    moved = join(laptop, code, rejoin=first["rejoin"])
    assert moved.status_code == 200 and moved.json()["run"] == first["run"]
    fresh = moved.json()["rejoin"]
    assert re.fullmatch(r"[A-Z2-9]{6}", fresh) and fresh != first["rejoin"]  # a new code
    # the old code is spent: it gives the seat to nobody else
    again = join(tablet, code, rejoin=first["rejoin"])
    assert again.status_code == 403 and first["rejoin"] in again.json()["detail"]
    assert (
        tablet.post(f"/api/runs/{first['run']}/pace", json={"steps_per_sec": 5}).status_code == 403
    )
    # the seat is the laptop's; the phone is told where it went, on the API and the join page
    assert laptop.post(f"/api/runs/{first['run']}/pace", json={"steps_per_sec": 5}).is_success
    refused = phone.post(f"/api/runs/{first['run']}/pace", json={"steps_per_sec": 5})
    assert refused.status_code == 403
    assert "moved to another browser" in refused.json()["detail"]
    assert "moved to another browser" in phone.get(f"/class/{code}").text
    # the new code takes it on, once more, and the roster still has one Ada
    assert join(tablet, code, rejoin=fresh).json()["run"] == first["run"]
    members = teacher.get(f"/api/classes/{code}").json()["members"]
    assert [m["name"] for m in members] == ["Ada"]


def test_the_page_shows_the_new_rejoin_code_in_the_new_browser(server):
    _, code = make_class(server)
    first = join(browser(server), code, "Bo").json()
    laptop = browser(server)
    page = laptop.post(f"/ui/classes/{code}/join", data={"rejoin": first["rejoin"]})
    assert page.status_code == 200
    shown = re.search(r'data-testid="rejoin-code">([A-Z2-9]{6})<', page.text)
    assert shown and shown.group(1) != first["rejoin"]
    assert join(browser(server), code, rejoin=shown.group(1)).json()["run"] == first["run"]


# ---------------------------------------------------------------- throttles


def wrong_codes(client, n):
    return [client.get(f"/api/classes/ZZZZ{i:02d}/spotlight") for i in range(n)]


def test_wrong_codes_are_throttled_on_every_endpoint_that_takes_one(server):
    _, code = make_class(server)
    guesser = browser(server)
    answers = wrong_codes(guesser, MISSES)
    assert [r.status_code for r in answers] == [404] * MISSES
    paths = [
        ("GET", f"/api/classes/{code}/spotlight"),  # even a real code: no oracle while refused
        ("GET", "/api/classes/QQQQQQ/curves"),
        ("GET", "/api/classes/QQQQQQ"),
        ("GET", "/class/QQQQQQ"),
        ("GET", "/class/QQQQQQ/projector"),
        ("GET", "/class/QQQQQQ/teacher"),
        ("GET", "/ui/classes/QQQQQQ/news"),
        ("POST", f"/api/classes/{code}/join"),
    ]
    for method, path in paths:
        r = guesser.request(method, path, json={"name": "x"} if method == "POST" else None)
        assert r.status_code == 429, (path, r.status_code, r.text)
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert "try again in" in r.json()["detail"]
    # another browser (same address, its budget not spent) is not refused
    assert browser(server).get(f"/api/classes/{code}/spotlight").status_code == 200


def test_wrong_rejoin_codes_and_teacher_links_count_as_misses(server):
    _, code = make_class(server)
    guesser = browser(server)
    for i in range(MISSES):
        assert join(guesser, code, rejoin=f"WRONG{i}").status_code == 403
    assert join(guesser, code, rejoin="WRONG9").status_code == 429
    other = browser(server)
    for i in range(MISSES):
        assert other.get(f"/class/{code}/teach", params={"key": f"k{i}"}).status_code == 403
    assert other.get(f"/class/{code}/teach", params={"key": "k"}).status_code == 429


def test_new_seats_are_limited_per_class_and_the_teacher_removes_a_burst(server):
    teacher, code = make_class(server)
    real = browser(server)
    assert join(real, code, "Real student").status_code == 201
    statuses = [join(browser(server), code, f"bot {i}").status_code for i in range(JOIN_BURST + 2)]
    assert statuses.count(201) <= JOIN_BURST and statuses[-1] == 429
    refused = join(browser(server), code, "bot late")
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    # the student already in is not refused (same browser, same seat)
    assert join(real, code, "Real student").status_code == 200

    members = teacher.get(f"/api/classes/{code}").json()["members"]
    bots = [m["id"] for m in members if m["name"].startswith("bot")]
    kept = [m["id"] for m in members if m["name"] == "Real student"]
    removed = teacher.post(f"/api/classes/{code}/members/remove", json={"members": bots[:1]})
    assert removed.status_code == 200 and removed.json()["removed"] == bots[:1]
    assert (
        real.post(f"/api/classes/{code}/members/remove", json={"joined_within": 60}).status_code
        == 403
    )
    # everyone who joined in the last minute (here: the real student too, by id kept apart)
    recent = teacher.post(f"/api/classes/{code}/members/remove", json={"joined_within": 60})
    assert sorted(recent.json()["removed"]) == sorted(bots[1:] + kept)
    assert teacher.get(f"/api/classes/{code}").json()["members"] == []


def test_the_teacher_page_removes_the_last_minutes_joins_after_asking(server):
    teacher, code = make_class(server)
    for i in range(3):
        assert join(browser(server), code, f"bot {i}").status_code == 201
    page = teacher.get(f"/class/{code}/teacher")
    assert 'data-testid="remove-recent"' in page.text
    ask = teacher.post(f"/ui/classes/{code}/act", data={"action": "remove-recent"})
    assert ask.status_code == 200 and "Remove the 3 students who joined" in ask.text
    since = re.search(r'"since": "([0-9.]+)"', ask.text).group(1)
    done = teacher.post(
        f"/ui/classes/{code}/act",
        data={"action": "remove-recent", "since": since, "confirm": "yes"},
    )
    assert "3 students removed" in done.text
    assert teacher.get(f"/api/classes/{code}").json()["members"] == []


# ---------------------------------------------------------------- the CSV


FORMULAS = ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "Ann;=1+1", "Ann,=1", "x; @y", "ok"]


@pytest.mark.parametrize("value", FORMULAS)
def test_no_cell_starts_a_formula_in_any_locale(value):
    out = io.StringIO()
    SafeWriter(out).writerow([value, 7])
    for separator in (",", ";"):  # as a spreadsheet of either locale reads the file
        [cells] = list(csv.reader(io.StringIO(out.getvalue()), delimiter=separator))
        for parsed in cells:
            assert parsed.lstrip()[:1] not in ("=", "+", "-", "@"), (value, cells)
        if separator == ",":
            assert cells == [value if value == "ok" else "'" + value, "7"]


@pytest.mark.parametrize("name", ["Φυσική Α΄", "Fizyka łódź", "物理课", 'a"b;c'])
def test_the_csv_downloads_for_any_class_name(server, name):
    teacher, code = make_class(server, name)
    for student in ("Zoë;=HYPERLINK(1)", "@evil", "Ann"):
        assert join(browser(server), code, student).status_code == 201
    r = teacher.get(f"/api/classes/{code}/results.csv")
    assert r.status_code == 200
    disposition = r.headers["content-disposition"]
    star = re.search(r"filename\*=UTF-8''(\S+)", disposition).group(1)
    assert unquote(star) == f"{name}-{code}.csv"
    plain = re.search(r'filename="([^"]*)"', disposition).group(1)
    assert plain.isascii() and plain.endswith(f"{code}.csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    names = [row[0] for row in rows[1:]]
    assert names == ["'Zoë;=HYPERLINK(1)", "'@evil", "Ann"]


# last: the address it spends is every test's here
def test_an_address_that_drops_its_cookie_is_throttled_too(server):
    # a fresh identity per request (no cookie jar): only the address counts, at its own limit
    statuses, start = [], time.monotonic()
    for i in range(ADDRESS_MISSES + 4):
        r = httpx.get(f"{server.url}/api/classes/XXXX{i:02d}/spotlight", timeout=30)
        statuses.append(r.status_code)
    # the budget refills by ADDRESS_MISSES a minute while the requests are made
    refilled = math.ceil((time.monotonic() - start) * ADDRESS_MISSES / 60)
    assert 429 in statuses and statuses.index(429) <= ADDRESS_MISSES + refilled
    refused = httpx.get(f"{server.url}/api/classes/XXXX00/spotlight", timeout=30)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
