"""The tables of the commands: CSV files (evaluate's results, predict's predictions) and text
tables printed to the terminal (the jobs of a ledger)."""

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


def format_table(header: list[str], rows: list[list[Any]], *, right: tuple[int, ...] = ()) -> str:
    """``header`` and ``rows`` as aligned text columns (two spaces apart; the columns numbered in
    ``right`` aligned to the right, for numbers), no trailing spaces."""
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ).rstrip()
        for row in cells
    )


def format_steps(per_step: list[dict[str, Any]], indent: str = "    ") -> str:
    """A per-horizon-step table (rows of :func:`qlstm_qiskit.forecasting.metrics.step_table`) as
    text: the step, then MSE, MAE and RMSE scaled and in original units."""
    measures = ("mse", "mae", "rmse")
    header = ["step", *(m.upper() for m in measures), *(f"{m.upper()} orig" for m in measures)]
    rows = [
        [
            f"t+{row['step']}",
            *(f"{row[m]:.6g}" for m in measures),
            *(f"{row[m + '_original']:.6g}" for m in measures),
        ]
        for row in per_step
    ]
    table = format_table(header, rows, right=tuple(range(1, len(header))))
    return "\n".join(indent + line for line in table.splitlines())
