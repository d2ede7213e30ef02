"""Pipes with room for a step's messages."""

import fcntl

# A training process's pipes hold this much (Linux; 64 KB by default, under two steps'
# messages): a step's write then never waits for the reader to get a turn on a busy CPU, or to
# read a 34 KB message in pieces (their wake-ups cost the trainer ~10% of its time).
PIPE_BYTES = 1 << 20


def widen(conn) -> None:
    """Give the pipe under ``conn`` PIPE_BYTES of buffer, where the OS can."""
    try:
        fcntl.fcntl(conn.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (AttributeError, OSError):  # not Linux, or above /proc/sys/fs/pipe-max-size
        pass
