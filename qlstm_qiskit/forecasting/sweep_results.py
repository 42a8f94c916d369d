"""A sweep's results: one row per finished point (its axes and metrics) in ``results.csv`` and
``results.json``, and the plots of :mod:`.sweep_plots`.

MSEs are in the units of the [-1, 1]-scaled series (``test_mse``: the last epoch's weights) and
of the series itself (``test_mse_original_units``); ``best_epoch`` and ``best_test_mse`` are the
best-on-validation weights' epoch and test MSE on the point's backend (empty for a training
without validation split). ``seconds`` is the wall time of the point's evaluation, the one
column that differs between two runs of one plan.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from ..files import atomic_write
from .sweep_plan import SweepPlan
from .sweep_tasks import METRICS, TRAINED, point_dir, point_finished, read_json, training_dir

#: the columns of results.csv (and the keys of results.json's rows), axes first
COLUMNS = (
    "point",
    "training",
    "train_backend",
    "run",
    "seed",
    "backend",
    "noise_scale",
    "shots",
    "mitigate",
    "computes",
    "shots_per_circuit",
    "test_mse",
    "test_mse_original_units",
    "best_epoch",
    "best_test_mse",
    "test_windows",
    "epochs",
    "seconds",
)
RESULTS_CSV, RESULTS_JSON = "results.csv", "results.json"


def result_rows(plan: SweepPlan, out: str | Path) -> list[dict[str, Any]]:
    """One row per finished point of ``plan`` in ``out``, in plan order."""
    rows = []
    for point in plan.points:
        if not point_finished(out, point):
            continue
        metrics = read_json(point_dir(out, point) / METRICS)
        row = {
            "point": point.id,
            "training": point.training,
            "train_backend": point.train_backend,
            "run": point.run,
            "seed": point.seed,
            "backend": point.backend,
            "noise_scale": point.noise_scale,
            "shots": point.shots,
            "mitigate": point.mitigate,
        }
        row |= {column: metrics.get(column) for column in COLUMNS if column not in row}
        if "jobs" in metrics:
            row["jobs"] = metrics["jobs"]
        rows.append(row)
    return rows


def write_results(plan: SweepPlan, out: str | Path) -> list[Path]:
    """Write ``results.csv``, ``results.json`` and the plots into ``out``; returns their paths."""
    from .sweep_plots import plot_sweep

    out = Path(out)
    rows = result_rows(plan, out)
    finished = {row["point"] for row in rows}
    trainings = {}
    for key, training in plan.trainings.items():
        summary = training_dir(out, training) / TRAINED
        trainings[key] = vars(training) | (
            {"summary": read_json(summary)} if training.run is None and summary.is_file() else {}
        )
    record = {
        "experiment": str(plan.experiment.source),
        "description": plan.experiment.description,
        "columns": list(COLUMNS),
        "points": rows,
        "unfinished": [point.id for point in plan.points if point.id not in finished],
        "trainings": trainings,
    }
    atomic_write(out / RESULTS_JSON, json.dumps(record, indent=2).encode())
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(["" if row[c] is None else row[c] for c in COLUMNS])
    atomic_write(out / RESULTS_CSV, text.getvalue().encode())
    return [out / RESULTS_CSV, out / RESULTS_JSON, *plot_sweep(rows, out)]
