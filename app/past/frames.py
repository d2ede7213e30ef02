"""A step's parameters for the page: every weight, its gradient, its update, Adam's m and v.

A ``ParamsFrame`` holds one step's flat float64 arrays in parameter order (``engine.model.
param_shapes``): the values, m and v after the step and, when the step is known, the weights
before its update and the gradient there (``update`` = values − before, computed as exactly that
difference). Its JSON and binary forms are built once, on first request, and kept: many tabs ask
for the same frame.

Binary form (``/api/params.bin``): little-endian uint32 N, N bytes of UTF-8 JSON header padded
with spaces so that 4 + N is a multiple of 4, then little-endian float32 data: for each matrix,
for each lens of ``PARAM_LENSES``, rows*cols values row-major (NaN for grad/update when unknown).
"""

import json
import struct
import sys
import threading
from array import array
from dataclasses import dataclass, field
from typing import Any

from app.contract.api import PARAM_LENSES
from app.store import FrameRow
from engine.model import param_shapes

BIG_ENDIAN = sys.byteorder == "big"


def to_le_bytes(a: array) -> bytes:
    """array('d') as little-endian bytes (for the store)."""
    if BIG_ENDIAN:
        a = array(a.typecode, a)
        a.byteswap()
    return a.tobytes()


def from_le_bytes(b: bytes) -> array:
    a = array("d")
    a.frombytes(b)
    if BIG_ENDIAN:
        a.byteswap()
    return a


@dataclass(eq=False)
class ParamsFrame:
    model: int
    step: int
    shapes: list[tuple[str, int, int]]  # (name, rows, cols) in parameter order
    values: array
    m: array
    v: array
    before: array | None = None  # None: the step that made these weights is not known
    grads: array | None = None
    tokens: list[int] | None = None  # that step's document
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_checkpoint(
        cls, model: int, config, d: dict[str, Any], stored: FrameRow | None = None
    ) -> "ParamsFrame":
        """A checkpoint's weights and moments, with ``stored`` (the step that made them) if it
        is of the checkpoint's step."""
        shapes = [(name, rows, cols) for name, rows, cols, _ in param_shapes(config)]
        values = array("d", [w for name, *_ in shapes for row in d["weights"][name] for w in row])
        m, v = array("d", d["adam"]["m"]), array("d", d["adam"]["v"])
        frame = cls(model, d["step"], shapes, values, m, v)
        if stored is not None and stored.step == d["step"] and d["step"] > 0:
            frame.before, frame.grads = from_le_bytes(stored.before), from_le_bytes(stored.grads)
            frame.tokens = list(stored.tokens)
        return frame

    @property
    def has_grad(self) -> bool:
        return self.grads is not None

    def offset(self, name: str) -> tuple[int, int, int]:
        """Where matrix ``name`` starts in the flat arrays, and its rows and cols."""
        i = 0
        for n, rows, cols in self.shapes:
            if n == name:
                return i, rows, cols
            i += rows * cols
        raise KeyError(name)

    def update(self) -> array | None:
        if self.before is None:
            return None
        return array("d", [a - b for a, b in zip(self.values, self.before, strict=True)])

    def lenses(self) -> dict[str, array | None]:
        return {
            "value": self.values,
            "grad": self.grads,
            "update": self.update(),
            "m": self.m,
            "v": self.v,
        }

    def _cached(self, key: str, build) -> bytes:
        with self._lock:  # built once, however many requests arrive together
            if key not in self._cache:
                self._cache[key] = build()
            return self._cache[key]

    def built(self, key: str) -> bytes | None:
        """A body already built ("json" or "bin"), else None."""
        return self._cache.get(key)

    def json_bytes(self) -> bytes:
        """The /api/params body (ParamsOut)."""
        return self._cached("json", self._build_json)

    def bin_bytes(self) -> bytes:
        """The /api/params.bin body (see the module docstring)."""
        return self._cached("bin", self._build_bin)

    def _build_json(self) -> bytes:
        # One json.dumps per matrix and lens, not one for all: each call holds the GIL until it
        # returns, and the event loop (the live streams) needs it in between (~20 ms in all).
        lenses, parts, i = self.lenses(), [], 0
        for name, rows, cols in self.shapes:
            fields = [f'"name":{json.dumps(name)},"shape":[{rows},{cols}]']
            for lens in PARAM_LENSES:
                flat = lenses[lens]
                rows_of = (
                    None
                    if flat is None
                    else [flat[i + r * cols : i + (r + 1) * cols].tolist() for r in range(rows)]
                )
                fields.append(f'"{lens}":{json.dumps(rows_of)}')
            parts.append("{" + ",".join(fields) + "}")
            i += rows * cols
        return f'{{"step":{self.step},"matrices":[{",".join(parts)}]}}'.encode()

    def _build_bin(self) -> bytes:
        header = json.dumps(
            {
                "step": self.step,
                "model": self.model,
                "matrices": [{"name": n, "shape": [r, c]} for n, r, c in self.shapes],
                "lenses": list(PARAM_LENSES),
                "has_grad": self.has_grad,
            }
        ).encode()
        header += b" " * (-(4 + len(header)) % 4)
        lenses, data, i = self.lenses(), array("f"), 0
        for _, rows, cols in self.shapes:
            j = i + rows * cols
            for lens in PARAM_LENSES:
                flat = lenses[lens]
                nan = array("f", [float("nan")]) * (j - i)
                data.extend(nan if flat is None else array("f", flat[i:j].tolist()))
            i = j
        if BIG_ENDIAN:
            data.byteswap()
        return struct.pack("<I", len(header)) + header + data.tobytes()
