"""Running a sweep (:func:`run_sweep`): the unfinished trainings, then the unfinished points that
evaluate them, on an executor of :mod:`.sweep_executors`; then the results table and plots
(:mod:`.sweep_results`).

The sweep folder ``OUT`` (held by one process at a time: :func:`qlstm_qiskit.locks.hold`)::

    OUT/sweep.json                  the plan: experiment, trainings, points
    OUT/profiles/<name>.toml        noise-scaled Aer profiles the points use
    OUT/trainings/<id>/             one run directory per (training backend, seed)
    OUT/points/<id>/point.json      the point's settings
    OUT/points/<id>/metrics.json    its results, written last: the point is finished
    OUT/points/<id>/ledger/         its device jobs (fake_<device>, ibm_<device>)
    OUT/results.csv, results.json   one row per finished point
    OUT/*.png                       the plots

Resuming is running the same plan again: finished trainings and points are skipped (read back),
a training killed mid-way continues from its last checkpoint, a point killed mid-way is computed
again (on a device, its ledger returns the jobs that had finished). A point points to its
training by id, and a point runs only once its training has finished, so the layout, the ids and
the numbers are the same whatever runs the tasks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path

from ..backends.scaled_profiles import write_scaled_profile
from ..files import atomic_write
from ..locks import hold
from .sweep_executors import RayExecutor, local_executor, task_error
from .sweep_plan import Point, SweepPlan
from .sweep_results import write_results
from .sweep_tasks import (
    PROFILES,
    point_finished,
    point_task,
    train_task,
    training_dir,
    training_finished,
)

SWEEP_FILE = "sweep.json"
SWEEP_FORMAT = "qlstm-qiskit-sweep"


class SweepFailed(ValueError):
    """Some trainings or points failed; the others finished (and are in the results)."""


@dataclass
class SweepOutcome:
    """What :func:`run_sweep` did: points computed now, points finished before, trainings run
    now, the result files written."""

    computed: int = 0
    skipped: int = 0
    trained: int = 0
    files: list[Path] = field(default_factory=list)


def pending(plan: SweepPlan, out: str | Path) -> tuple[list[str], list[Point]]:
    """The ids of the trainings still to run and the points still to compute (in plan order);
    a training is listed only if an unfinished point needs it."""
    points = [point for point in plan.points if not point_finished(out, point)]
    needed = dict.fromkeys(point.training for point in points)
    trainings = [t for t in needed if not training_finished(out, plan.trainings[t])]
    return trainings, points


def run_sweep(
    plan: SweepPlan,
    out: str | Path,
    *,
    workers: int | None = None,
    ray: str | None = None,
    threads: int = 1,
    log: Callable[[str], None] = print,
) -> SweepOutcome:
    """Run the unfinished part of ``plan`` into the sweep folder ``out`` and write the results.

    Args:
        plan: what :func:`~.sweep_plan.plan_sweep` made of the experiment file.
        out: the sweep folder (created if missing); held for the whole run.
        workers: local processes (``None`` or 1: this process); with ``ray="local"``, the CPUs
            of the local Ray instance (``None``: all of this machine's); with another ``ray``,
            ``None`` (the cluster has its own).
        ray: ``None`` (local processes), or the Ray cluster to run on (see
            :class:`~.sweep_executors.RayExecutor`).
        threads: torch threads of each task (each worker process or Ray task).
        log: called with one line per finished training and point.

    Raises:
        SweepFailed: some trainings or points failed (the message lists them); the others are
            finished and in the results, and running the same plan again retries the failed.
        qlstm_qiskit.locks.FolderLocked: another process holds ``out``.
    """
    out = Path(out)
    with hold(out, "sweep folder"):
        _write_plan(plan, out)
        trainings, points = pending(plan, out)
        outcome = SweepOutcome(skipped=len(plan.points) - len(points))
        if outcome.skipped:
            log(f"{outcome.skipped} of {len(plan.points)} points already finished in {out}")
        failed: dict[str, str] = {}
        if points:  # (a finished sweep starts no worker and no Ray instance)
            executor = RayExecutor(ray, workers, threads) if ray else local_executor(workers or 1)
            try:
                failed = _execute(executor, plan, out, trainings, points, threads, log, outcome)
            finally:
                executor.shutdown()
        outcome.files = write_results(plan, out)
    if failed:
        lines = "\n".join(f"  {key}: {why}" for key, why in failed.items())
        raise SweepFailed(
            f"sweep {out}: {len(failed)} training(s)/point(s) failed (the other points are "
            f"finished and in {out / 'results.csv'}; run the same command again to retry):\n"
            f"{lines}"
        )
    return outcome


def _write_plan(plan: SweepPlan, out: Path) -> None:
    """``OUT/sweep.json`` and the noise-scaled profiles the points use."""
    experiment = plan.experiment
    record = {
        "format": SWEEP_FORMAT,
        "version": 1,
        "experiment": str(experiment.source),
        "description": experiment.description,
        "train": experiment.train,
        "runs": list(experiment.runs),
        "trainings": {key: vars(training) for key, training in plan.trainings.items()},
        "points": [point.to_dict() for point in plan.points],
    }
    atomic_write(out / SWEEP_FILE, json.dumps(record, indent=2).encode())
    for scaled in dict.fromkeys(point.scaled for point in plan.points if point.scaled):
        write_scaled_profile(*scaled, out / PROFILES)


def _execute(executor, plan, out, trainings, points, threads, log, outcome) -> dict[str, str]:
    """Submit the trainings, and each training's points once it has finished; returns
    ``{training or point id: why it failed}``."""
    experiment = plan.experiment
    waiting: dict[str, list[Point]] = {}
    for point in points:
        waiting.setdefault(point.training, []).append(point)
    futures: dict[Future, tuple[str, str]] = {}
    failed: dict[str, str] = {}
    total, done = len(points), 0

    def submit_points(training: str, run_dir: str) -> None:
        for point in waiting.pop(training, []):
            future = executor.submit(point_task, str(out), point, run_dir, threads)
            futures[future] = ("point", point.id)

    for key in list(waiting):
        training = plan.trainings[key]
        if key in trainings:
            args = (str(out), experiment.train, experiment.given, training, threads)
            futures[executor.submit(train_task, *args)] = ("training", key)
        else:
            submit_points(key, str(training_dir(out, training)))
    while futures:
        finished, _ = wait(list(futures), return_when=FIRST_COMPLETED)
        for future in [f for f in futures if f in finished]:  # in the order submitted
            kind, key = futures.pop(future)
            error = future.exception()
            if error is not None:
                failed[key] = task_error(error)
                log(f"FAILED {kind} {key}: {failed[key]}")
                for point in waiting.pop(key, []) if kind == "training" else []:
                    failed[point.id] = f"not run: its training {key} failed"
            elif kind == "training":
                outcome.trained += 1
                log(f"trained {key}")
                submit_points(key, future.result())
            else:
                done += 1
                outcome.computed += 1
                metrics = future.result()
                log(
                    f"[{done}/{total}] {key}: test MSE {metrics['test_mse']:.6g} "
                    f"({metrics['seconds']:.1f} s)"
                )
    return failed
