"""The tests' web servers, forked from one process that has already imported the app.

``python -m app`` spends ~0.6 CPU-s importing FastAPI, pydantic and the app before it serves,
and the suite starts a server (or restarts one) about ninety times. This process, one per test
process, imports that once and forks each server from it: the child is still
``app.__main__.main(argv)`` in a process of its own, with its own environment, working
directory, log, signals and exit status; only the imported modules are shared, copy-on-write.
It stays single-threaded (a fork copies only the forking thread), opens no file, socket or
database before a fork, and starts nothing.

One JSON line each way on stdin/stdout (tests/conftest.py ``Zygote``):
  {"start": {"argv": [...], "env": {...}, "cwd": "...", "log": "...", "open_files": N | null}}
                -> {"pid": N}    (open_files: the child's limit on open files, soft and hard)
  {"poll": N} -> {"returncode": null | int}  (as subprocess.Popen's: -N if killed by signal N;
                asked until it is not null, then never again: the child is reaped)
It exits when its stdin closes (the test process has gone).
"""

import atexit
import json
import os
import sys
import threading
import traceback


def preload() -> None:
    """What ``python -m app`` imports before it serves, embedded or in Redis mode."""
    import uvicorn  # noqa: F401
    from pydantic import ValidationError  # noqa: F401

    import app.__main__  # noqa: F401
    import app.jobs.local  # noqa: F401
    import app.main  # noqa: F401
    import app.store  # noqa: F401
    import app.store.write_failure  # noqa: F401
    import app.transport  # noqa: F401

    try:
        import app.jobs.runner  # noqa: F401  (Redis mode: dramatiq and redis, if installed)
    except ImportError:
        pass

    # the pages' templates, compiled (a server's first page compiled them: ~0.1 CPU-s each time)
    from app.templating import templates

    for name in templates.env.list_templates():
        templates.env.get_template(name)


def serve(
    argv: list[str], env: dict[str, str], cwd: str, log: str, open_files: int | None = None
) -> None:
    """In the forked child: become ``python -m app ARGV`` and exit with its status."""
    import app.__main__ as entry

    if open_files is not None:
        limit_open_files(open_files)

    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # the zygote's requests are not the server's
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    os.close(null)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    sys.argv = [entry.__file__, *argv]
    sys.modules["__main__"] = entry  # as `python -m app` has it (multiprocessing's spawn reads it)
    code = 0
    try:
        entry.main(argv)
    except SystemExit as e:
        if isinstance(e.code, int | None):
            code = e.code or 0
        else:
            print(e.code, file=sys.stderr)
            code = 1
    except BaseException:  # noqa: BLE001 - as the interpreter would: traceback, status 1
        traceback.print_exc()
        code = 1
    finally:
        # the interpreter's own exit: non-daemon threads, then atexit (multiprocessing's children,
        # logging), then the buffers
        try:
            threading._shutdown()  # noqa: SLF001
            atexit._run_exitfuncs()  # noqa: SLF001
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def limit_open_files(n: int) -> None:
    """As ``ulimit -n N`` (soft and hard) would have set it before the server started."""
    import resource

    resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))


def main() -> None:
    sys.path[0] = os.getcwd()  # as `python -m` sets it (multiprocessing passes it on)
    preload()
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    while line := requests.readline():
        request = json.loads(line)
        if "start" in request:
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                serve(**request["start"])
            reply = {"pid": pid}
        else:  # reaped once: the caller keeps the status (a pid is soon another process's)
            done, status = os.waitpid(request["poll"], os.WNOHANG)
            reply = {"returncode": os.waitstatus_to_exitcode(status) if done else None}
        replies.write(json.dumps(reply).encode() + b"\n")
        replies.flush()


if __name__ == "__main__":
    main()
