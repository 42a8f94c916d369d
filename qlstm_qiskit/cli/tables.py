"""The CSV tables the commands write (evaluate's results, predict's predictions)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    """Write ``header`` and ``rows`` (one list per row, as long as ``header``) to ``path``,
    ``\\n``-terminated."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
