"""Click "Train 500 steps" in a real browser until the page reads 500 / 500, side by side with
the bare engine (``python -m engine train``).

    .venv/bin/python bench/click_to_done.py [--rounds 5] [--steps 500] [--repo DIR]
        [--before DIR]

One server (``python -m app``, loopback, temporary data dir) and one headless Chromium (Debian's,
driven by Playwright as tests/browser does). Alternating rounds (ABBA) of:

- **CLI**: ``python -m engine train`` (500 steps), launch to exit;
- **click**: a fresh default model (``POST /api/reset``, seed 42), the page loaded anew and
  live (its event stream connected), then, inside the page, the button's ``click()`` and a
  MutationObserver on the progress line: milliseconds until it reads ``step 500 / 500``.
  Also the CPU seconds Chromium (every process of it), the web process and the training
  process spent meanwhile: on a 2-core machine the page's drawing competes with the trainer.

Printed: each side's median, click / CLI, and the bar: click -> 500/500 <= 5 s. ``--repo``
serves (and trains the CLI) from another checkout; ``--before DIR`` clicks on a second server,
from DIR, in the same rotation (a before/after from one run).
"""

import argparse
import os
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import httpx
from _support import REPO, SEED, TrainerWatch, cpu_seconds, start_server, wait_idle
from service_path import cli_run

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

# Inside the page: click Train, resolve with the milliseconds until the progress line reads
# "step N / N" (N: the run's steps), seen by a MutationObserver (no polling).
CLICK_AND_WAIT = """async (steps) => {
    const line = () => document.querySelector('[data-testid=stepline]');
    const done = () => {
        const m = line()?.textContent.match(/step\\s+(\\d+) \\/\\s+(\\d+)/);
        return m && Number(m[1]) === steps && Number(m[2]) === steps;
    };
    const button = document.querySelector('[data-testid=train]');
    const t0 = performance.now();
    return await new Promise((resolve) => {
        const observer = new MutationObserver(() => {
            if (done()) {
                observer.disconnect();
                resolve(performance.now() - t0);
            }
        });
        observer.observe(document.body, {subtree: true, childList: true, characterData: true});
        button.click();
    });
}"""
LIVE = """() => new Promise((resolve) => {
    const ready = () => document.querySelector('[data-testid=connection]')?.dataset.conn === 'live'
        && !document.querySelector('[data-testid=train]')?.disabled;
    const check = () => (ready() ? resolve(true) : setTimeout(check, 20));
    check();
})"""


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def chromium_cpu() -> float:
    """CPU seconds of this process's Chromium processes (live ones: a renderer that exited
    meanwhile is not counted)."""
    total = 0.0
    for pid in descendants(os.getpid()):
        try:
            if b"chrom" in Path(f"/proc/{pid}/cmdline").read_bytes()[:200]:
                total += cpu_seconds(pid)
        except OSError:
            continue
    return total


def click_run(page, client: httpx.Client, url: str, steps: int, web_pid: int) -> dict:
    wait_idle(client)
    client.post("/api/reset", json={"seed": SEED}).raise_for_status()
    wait_idle(client)
    page.goto(url)
    page.evaluate(LIVE)
    watch = TrainerWatch(url)
    before = chromium_cpu(), cpu_seconds(web_pid)
    watch.start()
    ms = page.evaluate(CLICK_AND_WAIT, steps)
    watch.stop.set()
    after = chromium_cpu(), cpu_seconds(web_pid)
    watch.join()
    state = client.get("/api/state").json()
    if state["step"] != steps:
        raise SystemExit(f"the page read {steps}/{steps} with the model at step {state['step']}")
    return {
        "wall": ms / 1000,
        "chromium": after[0] - before[0],
        "web": after[1] - before[1],
        "trainer": watch.cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repo", type=Path, default=REPO)
    parser.add_argument("--before", type=Path, help="also click on this checkout's server")
    args = parser.parse_args()
    repos = {"click": args.repo.resolve()}
    if args.before:
        repos["before"] = args.before.resolve()
    from playwright.sync_api import sync_playwright

    cli: list[float] = []
    clicks: dict[str, list[dict]] = {side: [] for side in repos}
    with sync_playwright() as p, ExitStack() as stack:
        servers = {}
        for side, repo in repos.items():
            proc, url = start_server(stack.enter_context(tempfile.TemporaryDirectory()), repo)
            stack.callback(proc.wait, 20)
            stack.callback(proc.terminate)
            client = stack.enter_context(httpx.Client(base_url=url, timeout=30))
            servers[side] = (proc, url, client)
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        stack.callback(browser.close)
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.set_default_timeout(120_000)
        for proc, url, client in servers.values():
            click_run(page, client, url, args.steps, proc.pid)  # warm-up
        sides = ["cli", *repos]
        for r in range(args.rounds):
            for side in sides[r % len(sides) :] + sides[: r % len(sides)]:
                if side == "cli":
                    cli.append(cli_run(repos["click"], args.steps)[0])
                    print(f"  round {r + 1} CLI    {cli[-1]:.2f} s", flush=True)
                    continue
                proc, url, client = servers[side]
                c = click_run(page, client, url, args.steps, proc.pid)
                clicks[side].append(c)
                cpu = ", ".join(f"{k} {c[k]:.2f}" for k in ("chromium", "web", "trainer"))
                print(f"  round {r + 1} {side:<6} {c['wall']:.2f} s (CPU s: {cpu})", flush=True)
    bare = statistics.median(cli)
    print(f"\nclick -> {args.steps}/{args.steps}, {args.rounds} rounds alternating:")
    print(f"  CLI    median {bare:.2f} s ({repos['click']})")
    for side, runs in clicks.items():
        median = {k: statistics.median(c[k] for c in runs) for k in runs[0]}
        cpu = ", ".join(f"{k} {median[k]:.2f}" for k in ("chromium", "web", "trainer"))
        verdict = "PASS" if median["wall"] <= 5 else "FAIL"
        print(
            f"  {side:<6} median {median['wall']:.2f} s, {median['wall'] / bare:.2f}x the CLI, "
            f"{verdict} (bar <= 5 s); CPU s meanwhile: {cpu} ({repos[side]})"
        )


if __name__ == "__main__":
    sys.exit(main())
