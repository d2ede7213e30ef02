"""A kept state: a model's exact weights and Adam's m and v at one step (tables ``weights`` and
``moments``), from which time travel replays the steps after it (app.past.replay).

Every checkpoint's step is kept, and a checkpoint's JSON is stored without the arrays the kept
state already holds (its weights, m and v: ~95 % of its text): ``split`` takes them out,
``join`` puts the very same floats back (the JSON reads the same as it was written).

Each array is stored packed (``pack``): its bytes regrouped by their place in a float (every
float's first byte, then every second byte, ...: the signs and exponents, alike from weight to
weight, come together) and deflated; ~10 % smaller, every bit kept. The store packs what it
writes to ``weights`` and ``moments`` and unpacks what it reads: the rest of the app sees the
plain little-endian float64 bytes.
"""

import json
import sys
import zlib
from array import array

from engine.checkpoint import STATE_APART

FLOAT = 8  # bytes of a float64


def pack(data: bytes) -> bytes:
    """``data`` (float64 bytes) as stored: byte-shuffled, then deflated."""
    return zlib.compress(b"".join(data[i::FLOAT] for i in range(FLOAT)))


def unpack(blob: bytes) -> bytes:
    """The bytes ``pack`` was given, exactly."""
    shuffled = zlib.decompress(blob)
    data, start = bytearray(len(shuffled)), 0
    for i in range(FLOAT):
        end = start + len(range(i, len(shuffled), FLOAT))
        data[i::FLOAT] = shuffled[start:end]
        start = end
    return bytes(data)


# in a stored checkpoint's adam.m and adam.v: the arrays are in the kept state (the engine's
# marker of a checkpoint written without its state: a training process sends them so)
KEPT = STATE_APART


def le_bytes(values) -> bytes:
    """Floats as little-endian float64 bytes (the store's layout of every array)."""
    a = array("d", values)
    if sys.byteorder == "big":
        a.byteswap()
    return a.tobytes()


def from_le(data: bytes) -> list[float]:
    a = array("d")
    a.frombytes(data)
    if sys.byteorder == "big":
        a.byteswap()
    return a.tolist()


def split(data: str) -> tuple[str, bytes, bytes, bytes] | None:
    """A checkpoint's JSON without its arrays, and its weights (flat, in the JSON's order, which
    is the model's parameter order), m and v; None when it is not a checkpoint of that shape
    (then it is stored whole)."""
    try:
        d = json.loads(data)
        weights, adam = d["weights"], d["adam"]
        flat = [w for rows in weights.values() for row in rows for w in row]
        m, v = adam["m"], adam["v"]
        if not len(flat) == len(m) == len(v):
            return None
        d["weights"] = {
            name: [len(rows), len(rows[0]) if rows else 0] for name, rows in weights.items()
        }
        d["adam"] = {**adam, "m": KEPT, "v": KEPT}
        kept = json.dumps(d, allow_nan=False), le_bytes(flat), le_bytes(m), le_bytes(v)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, OverflowError):
        return None
    try:  # stored stripped only if it reads back as written, to the character
        return kept if join(*kept) == data else None
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, OverflowError):
        return None


def is_split(data: str) -> bool:
    if f'"{KEPT}"' not in data:  # a whole checkpoint (~250 KB of JSON): not parsed to tell
        return False
    try:
        return json.loads(data)["adam"]["m"] == KEPT
    except (ValueError, KeyError, TypeError):
        return False


def join(data: str, weights: bytes, m: bytes, v: bytes) -> str:
    """The checkpoint's JSON as it was written, from its stripped form and its kept state."""
    d = json.loads(data)
    flat, i, nested = from_le(weights), 0, {}
    for name, (rows, cols) in d["weights"].items():
        nested[name] = [flat[i + r * cols : i + (r + 1) * cols] for r in range(rows)]
        i += rows * cols
    d["weights"] = nested
    d["adam"] = {**d["adam"], "m": from_le(m), "v": from_le(v)}
    return json.dumps(d, allow_nan=False)
