"""A CSV download a spreadsheet cannot turn against its reader, named for any class.

A cell a spreadsheet would run as a formula starts with ``= + - @`` (or a tab or carriage
return before one); a ``,`` or ``;`` inside a cell is a separator in some locale, so what
follows one is the start of a cell there too. Such a cell is written with a leading ``'``,
which every spreadsheet reads as "this is text"; and every cell is quoted, so a reader whose
separator is ``;`` (or ``,``) keeps it whole.
"""

import csv
import re
from collections.abc import Iterable
from typing import TextIO
from urllib.parse import quote

FORMULA = re.compile(r"(^|[,;])\s*[=+\-@\t\r]")


def cell(value: object) -> str:
    """``value`` as a cell no spreadsheet runs, in any locale's separator."""
    text = str(value)
    return "'" + text if FORMULA.search(text) else text


class SafeWriter:
    """``csv.writer`` whose every cell goes through ``cell``, quoted."""

    def __init__(self, out: TextIO):
        self._writer = csv.writer(out, quoting=csv.QUOTE_ALL)

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow([cell(value) for value in row])


def attachment(filename: str) -> str:
    """A ``Content-Disposition`` for any file name (RFC 6266): ``filename*`` in UTF-8 for
    browsers, and an ASCII ``filename`` for the rest (a header must be Latin-1)."""
    ascii_name = "".join(
        ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "-" for ch in filename
    )
    ascii_name = re.sub(r"-{2,}", "-", ascii_name).strip("-") or "download"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
