"""A series from one column of a CSV file (:func:`load_csv_column`), or several columns
(:func:`load_csv_columns`, for multivariate forecasting): read with a size limit, numbers parsed
strictly, missing values an error unless a fill policy is asked for.

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
  which have a neighbour on one side only). With several columns, ``"drop"`` removes a row where
  any of them is missing and ``"interpolate"`` fills each column from its own neighbours.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Sequence
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
    """One numeric column ``(T,)`` of a CSV file, by header name (or 0-based index), as float64.

    A first row whose fields are not all numbers is the header. ``missing``: what an empty cell
    does (see the module docstring); ``max_bytes``: the largest file read. Raises ``ValueError``
    naming the file (and the row and column) for a missing, unreadable or too large file, a
    missing column, a value that is not a finite number in plain decimal notation, an empty cell
    with ``missing="error"``, or fewer than two values.
    """
    return _read_columns("load_csv_column", path, [column], missing, max_bytes)[:, 0]


def load_csv_columns(
    path: str | Path,
    columns: Sequence[str],
    *,
    missing: str = "error",
    max_bytes: int = MAX_INPUT_BYTES,
) -> np.ndarray:
    """Several numeric columns of a CSV file as float64 ``(T, C)``, in the order of ``columns``
    (each a header name or 0-based index, as :func:`load_csv_column` takes one).

    Every column is parsed as :func:`load_csv_column` parses one. ``missing="drop"`` removes a
    row where any of ``columns`` is empty; ``"interpolate"`` fills each column from its own
    neighbours. Two entries naming the same column (``"c"`` and its index ``"2"`` too) are an
    error, as are the errors of :func:`load_csv_column`.
    """
    owner = "load_csv_columns"
    if isinstance(columns, str) or not columns:
        raise ValueError(f"{owner}: columns must be a non-empty list of names, got {columns!r}")
    return _read_columns(owner, path, list(columns), missing, max_bytes)


def _read_columns(
    owner: str, path: str | Path, columns: list[str], missing: str, max_bytes: int
) -> np.ndarray:
    """The numbers ``(T, C)`` of ``columns`` of the CSV file ``path`` (errors start ``owner``)."""
    check_choice(owner, "missing", missing, MISSING)
    check_int(owner, "max_bytes", max_bytes, 1)
    path = Path(path)
    try:
        text = read_limited(path, max_bytes, "CSV file")
    except ValueError as exc:
        raise ValueError(f"{owner}: {exc}") from exc.__cause__
    indices, width, rows = None, 0, []  # rows: (line number, fields; "" for a missing value)
    trailing = 0  # empty lines at the end so far (one-column files)
    try:
        for number, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
            empty = len(row) == 0 or (len(row) == 1 and not row[0].strip())  # not even a comma
            if indices is None:
                if empty:
                    continue  # empty lines before the first row with content
                indices, header = _find_columns(owner, path, columns, row)
                width = len(row)
                if header:
                    continue
            if empty and width > 1:
                continue  # an empty line is not a row of a file of several columns
            trailing = trailing + 1 if empty else 0
            fields = [row[index].strip() if index < len(row) else "" for index in indices]
            rows.append((number, fields))
    except csv.Error as exc:
        raise ValueError(f"{owner}: cannot read {path} as CSV: {exc}") from exc
    if indices is None:
        raise ValueError(f"{owner}: {path} is empty")
    rows = rows[: len(rows) - trailing]  # empty lines at the end of the file
    lines = [number for number, _fields in rows]
    values = np.empty((len(rows), len(columns)))
    known = np.ones((len(rows), len(columns)), dtype=bool)
    for position, column in enumerate(columns):
        cells = [(number, fields[position]) for number, fields in rows]
        values[:, position], known[:, position] = _values(owner, path, column, cells, missing)
    if missing == "drop":
        values = values[known.all(axis=1)]
    elif missing == "interpolate":
        for position, column in enumerate(columns):
            _interpolate(owner, path, column, lines, values[:, position], known[:, position])
    if len(values) < 2:
        names = ", ".join(repr(column) for column in columns)
        raise ValueError(
            f"{owner}: {path} column {names} has {len(values)} value(s); a series needs more"
        )
    return values


def _find_columns(
    owner: str, path: Path, columns: list[str], first: list[str]
) -> tuple[list[int], bool]:
    """The index of each of ``columns`` given the first row, and whether that row is a header."""
    header = [field.strip() for field in first]
    has_header = not all(is_number(field) for field in header)
    indices = []
    for column in columns:
        if has_header and column in header:
            indices.append(header.index(column))
        elif column.isdigit() and column.isascii() and int(column) < len(header):
            indices.append(int(column))
        else:
            names = ", ".join(map(repr, header)) if has_header else "none (no header row)"
            raise ValueError(
                f"{owner}: {path} has no column {column!r}; columns: {names}; "
                f"or a 0-based index below {len(header)}"
            )
        if indices[-1] in indices[:-1]:
            other = columns[indices.index(indices[-1])]
            raise ValueError(
                f"{owner}: {path}: {other!r} and {column!r} are the same column (index "
                f"{indices[-1]}); name each column once"
            )
    return indices, has_header


def _values(
    owner: str, path: Path, column: str, cells: list[tuple[int, str]], missing: str
) -> tuple[np.ndarray, np.ndarray]:
    """The numbers of ``cells`` (NaN where missing) and which are known; a missing value is an
    error with ``missing="error"``."""
    where = f"{owner}: {path} row {{}}, column {column!r}"
    values = np.full(len(cells), np.nan)
    known = np.ones(len(cells), dtype=bool)
    for position, (number, field) in enumerate(cells):
        if not field:
            if missing == "error":
                raise ValueError(
                    where.format(number) + ": expected a finite number, got '' (an empty cell: "
                    "a missing value; missing='drop' or 'interpolate' (--missing on the command "
                    "line) drops or fills missing values)"
                )
            known[position] = False
            continue
        if not is_number(field) or not math.isfinite(float(field)):
            raise ValueError(where.format(number) + f": expected a finite number, got {field!r}")
        values[position] = float(field)
    return values, known


def _interpolate(
    owner: str, path: Path, column: str, lines: list[int], values: np.ndarray, known: np.ndarray
) -> None:
    """Fill the unknown ``values`` (in place) linearly from their known neighbours."""
    if known.all():
        return
    for end in (0, len(values) - 1):
        if not known[end]:
            raise ValueError(
                f"{owner}: {path} row {lines[end]}, column {column!r}: a missing value at the "
                f"{'start' if end == 0 else 'end'} of the series cannot be interpolated "
                "(it has a neighbour on one side only); use missing='drop'"
            )
    positions = np.arange(len(values))
    values[~known] = np.interp(positions[~known], positions[known], values[known])
