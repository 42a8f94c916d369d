"""A series from one column of a CSV file: read with a size limit, numbers parsed strictly, missing
values an error unless a fill policy is asked for.

- **Size:** files over :data:`MAX_INPUT_BYTES` (64 MiB) are refused, so that a wrong path (a
  device such as ``/dev/zero``, a huge log) cannot fill the memory; the file is read up to the
  limit, never further.
- **Numbers:** plain decimal notation only: ``12``, ``-0.5``, ``.5``, ``3e-4`` (blanks around a
  field are ignored). Python's ``float()`` also accepts ``1_000``, ``inf``, ``nan`` and non-ASCII
  digits; here these are errors naming the row and column.
- **Missing values:** an empty field (``1,,3``; a row of commas is all empty fields), or a row
  too short to have the column, is a missing value; in a file of one column an empty line is one
  too (that is how pandas and the ``csv`` module write a missing value there). In a file of
  several columns, empty lines (not even a comma) are not rows and are skipped; empty lines
  before the first and after the last line with content are ignored in every file.
- ``missing`` chooses what a missing value does (:data:`MISSING`): ``"error"`` (the default)
  raises naming the row and column, ``"drop"`` removes the row (the series closes the gap),
  ``"interpolate"`` fills it linearly from its neighbouring rows (an error at the series' ends,
  which have a neighbour on one side only).
"""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path

import numpy as np

from ..checks import check_choice, check_int

#: what a missing value does: raise, drop its row, or interpolate it linearly
MISSING = ("error", "drop", "interpolate")
#: the largest input file read (bytes)
MAX_INPUT_BYTES = 64 * 2**20
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


def is_number(text: str) -> bool:
    """Whether ``text`` (blanks around it ignored) is a number in plain decimal notation."""
    return _NUMBER.fullmatch(text.strip()) is not None


def read_limited(path: str | Path, max_bytes: int = MAX_INPUT_BYTES, what: str = "file") -> str:
    """The text of ``path`` (UTF-8, a byte-order mark dropped), read up to ``max_bytes``.

    Raises ``ValueError`` naming the file when it is missing, unreadable, not UTF-8 or larger
    than ``max_bytes`` (its reading stops there)."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise ValueError(f"no such file: {path} (the {what})") from None
    except OSError as exc:
        raise ValueError(f"cannot read the {what} {path}: {exc}") from exc
    if len(data) > max_bytes:
        raise ValueError(
            f"the {what} {path} is larger than the limit of {max_bytes:,} bytes "
            f"({max_bytes / 2**20:g} MiB) for input files"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"the {what} {path} is not UTF-8 text: {exc}") from exc


def load_csv_column(
    path: str | Path,
    column: str,
    *,
    missing: str = "error",
    max_bytes: int = MAX_INPUT_BYTES,
) -> np.ndarray:
    """One numeric column of a CSV file, by header name (or 0-based index), as float64.

    A first row whose fields are not all numbers is the header. ``missing``: what an empty cell
    does (see the module docstring); ``max_bytes``: the largest file read. Raises ``ValueError``
    naming the file (and the row and column) for a missing, unreadable or too large file, a
    missing column, a value that is not a finite number in plain decimal notation, an empty cell
    with ``missing="error"``, or fewer than two values.
    """
    owner = "load_csv_column"
    check_choice(owner, "missing", missing, MISSING)
    check_int(owner, "max_bytes", max_bytes, 1)
    path = Path(path)
    try:
        text = read_limited(path, max_bytes, "CSV file")
    except ValueError as exc:
        raise ValueError(f"{owner}: {exc}") from exc.__cause__
    index, width, cells = None, 0, []  # cells: (line number, field; "" for a missing value)
    trailing = 0  # empty lines at the end so far (one-column files)
    try:
        for number, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
            empty = len(row) == 0 or (len(row) == 1 and not row[0].strip())  # not even a comma
            if index is None:
                if empty:
                    continue  # empty lines before the first row with content
                index, header = _find_column(path, column, row)
                width = len(row)
                if header:
                    continue
            if empty and width > 1:
                continue  # an empty line is not a row of a file of several columns
            trailing = trailing + 1 if empty else 0
            cells.append((number, row[index].strip() if index < len(row) else ""))
    except csv.Error as exc:
        raise ValueError(f"{owner}: cannot read {path} as CSV: {exc}") from exc
    if index is None:
        raise ValueError(f"{owner}: {path} is empty")
    cells = cells[: len(cells) - trailing]  # empty lines at the end of the file
    values = _values(path, column, cells, missing)
    if len(values) < 2:
        raise ValueError(
            f"{owner}: {path} column {column!r} has {len(values)} value(s); a series needs more"
        )
    return values


def _find_column(path: Path, column: str, first: list[str]) -> tuple[int, bool]:
    """The index of ``column`` given the first row, and whether that row is a header."""
    header = [field.strip() for field in first]
    has_header = not all(is_number(field) for field in header)
    if has_header and column in header:
        return header.index(column), True
    if column.isdigit() and column.isascii() and int(column) < len(header):
        return int(column), has_header
    names = ", ".join(repr(name) for name in header) if has_header else "none (no header row)"
    raise ValueError(
        f"load_csv_column: {path} has no column {column!r}; columns: {names}; "
        f"or a 0-based index below {len(header)}"
    )


def _values(path: Path, column: str, cells: list[tuple[int, str]], missing: str) -> np.ndarray:
    """The numbers of ``cells`` with the missing ones treated by the policy ``missing``."""
    where = f"load_csv_column: {path} row {{}}, column {column!r}"
    values = np.empty(len(cells))
    gaps = []
    for position, (number, field) in enumerate(cells):
        if not field:
            if missing == "error":
                raise ValueError(
                    where.format(number) + ": expected a finite number, got '' (an empty cell: "
                    "a missing value; missing='drop' or 'interpolate' (--missing on the command "
                    "line) drops or fills missing values)"
                )
            gaps.append(position)
            continue
        if not is_number(field) or not math.isfinite(float(field)):
            raise ValueError(where.format(number) + f": expected a finite number, got {field!r}")
        values[position] = float(field)
    if not gaps:
        return values
    known = np.ones(len(cells), dtype=bool)
    known[gaps] = False
    if missing == "drop":
        return values[known]
    for end in (0, len(cells) - 1):
        if not known[end]:
            raise ValueError(
                where.format(cells[end][0]) + ": a missing value at the "
                f"{'start' if end == 0 else 'end'} of the series cannot be interpolated "
                "(it has a neighbour on one side only); use missing='drop'"
            )
    positions = np.arange(len(cells))
    values[gaps] = np.interp(positions[gaps], positions[known], values[known])
    return values
