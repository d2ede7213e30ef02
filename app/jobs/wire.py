"""A worker message (``app.contract.worker``) as a Redis Stream entry, and back.

The embedded worker pickles the message over a pipe; through Redis (which another machine may
reach) nothing is unpickled: an entry is ``s`` (the session), ``k`` (the kind), ``j`` (the
message as JSON, floats exactly as repr writes them) and, for each ``array('d')`` in it,
nested or not (weights, gradients, Adam's moments: ~4,064 doubles each), a field ``b:<name>``
(``b:frame.grads`` inside ``frame``) holding its raw little-endian bytes. Decoding validates
the message against the union (the arrays by type only).
"""

import json
import sys
from array import array
from typing import Any

from app.contract.worker import MESSAGES, Message

ARRAY = "b:"
LITTLE = sys.byteorder == "little"  # the bytes on the wire are little-endian doubles


def _pack(values: array) -> bytes:
    if LITTLE:
        return values.tobytes()
    swapped = array("d", values)
    swapped.byteswap()
    return swapped.tobytes()


def _unpack(raw: bytes) -> array:
    if len(raw) % 8:
        raise ValueError(f"an array field of {len(raw)} bytes is not whole doubles")
    values = array("d")
    values.frombytes(raw)
    if not LITTLE:
        values.byteswap()
    return values


def encode(message: Message, session: str) -> dict[str, bytes | str]:
    """The stream entry's fields for one message of ``session``."""
    fields: dict[str, bytes | str] = {"s": session, "k": message.kind}

    def strip(obj: dict[str, Any], path: str) -> dict[str, Any]:
        plain = {}
        for name, value in obj.items():
            if isinstance(value, array):
                fields[ARRAY + path + name] = _pack(value)
            elif isinstance(value, dict):
                plain[name] = strip(value, f"{path}{name}.")
            else:
                plain[name] = value
        return plain

    fields["j"] = json.dumps(strip(message.model_dump(), ""), separators=(",", ":"))
    return fields


def decode(fields: dict[bytes, bytes]) -> tuple[str, Message]:
    """(session, message) of a stream entry read with a bytes client."""
    payload = json.loads(fields[b"j"])
    for name, raw in fields.items():
        if name.startswith(ARRAY.encode()):
            *parents, leaf = name[len(ARRAY) :].decode().split(".")
            place = payload
            for parent in parents:  # a nested message (a checkpoint's frame)
                place = place[parent]
            place[leaf] = _unpack(raw)
    return fields[b"s"].decode(), MESSAGES.validate_python(payload)
