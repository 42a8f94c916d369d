"""The two tasks of a sweep, each self-contained (plain arguments, files in the sweep folder), so
that this process, a local worker process or a Ray worker runs them alike:

- :func:`train_task` trains one :class:`~.sweep_plan.Training` into
  ``OUT/trainings/<id>/`` (a run directory: checkpoint per epoch, resumed from it after a crash)
  and marks it finished with ``trained.json``;
- :func:`point_task` evaluates one :class:`~.sweep_plan.Point`: the trained weights on the
  point's backend, test MSE over the test windows (the last epoch's weights, and beside them
  the best-on-validation ones where the training has them), written last and atomically as
  ``OUT/points/<id>/metrics.json`` (its ``point.json`` first; a device's job ledger in
  ``ledger/``). A point is finished when its metrics file exists.

Each holds its folder (:func:`qlstm_qiskit.locks.hold`) while it works on it and sets torch's
threads to ``threads`` first.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from ..backends import get_backend
from ..files import atomic_write
from ..locks import hold
from .backend_specs import is_device, parse_backend_spec
from .run_settings import model_configs, train_config, training_series
from .sweep_plan import Point, Training
from .training import CHECKPOINT, Run

POINTS, TRAININGS, PROFILES = "points", "trainings", "profiles"
METRICS, POINT_FILE, TRAINED = "metrics.json", "point.json", "trained.json"
#: windows per forward pass (evaluate's default; on a device: one job per time step up to it)
BATCH_SIZE = 256


def point_dir(out: str | Path, point: Point) -> Path:
    return Path(out) / POINTS / point.id


def point_finished(out: str | Path, point: Point) -> bool:
    """Whether ``point`` has its metrics (written last, atomically)."""
    return (point_dir(out, point) / METRICS).is_file()


def training_dir(out: str | Path, training: Training) -> Path:
    """The run directory of ``training``: its folder in the sweep, or the run it evaluates."""
    return Path(training.run) if training.run else Path(out) / TRAININGS / training.id


def training_finished(out: str | Path, training: Training) -> bool:
    return training.run is not None or (training_dir(out, training) / TRAINED).is_file()


def read_json(path: Path) -> Any:
    """The JSON content of ``path``; an error naming the file if it is not JSON."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read it as JSON ({exc})") from exc


def _device_options(out: str | Path, key: str, folder: Path, name: str) -> dict[str, str]:
    """A device backend's run name (tags its jobs) and ledger (in ``folder``)."""
    if not is_device(name):
        return {}
    return {"run_name": f"{Path(out).resolve().name}-{key}", "ledger": str(folder / "ledger")}


def _close_devices(model) -> None:
    """Close the batches and sessions of ``model``'s device backends."""
    from ..backends.devices import device_backends  # loads the runtime: only for devices

    for backend in device_backends(model):
        backend.close()


def train_task(
    out: str, settings: dict[str, Any], given: tuple[str, ...], training: Training, threads: int
) -> str:
    """Train ``training`` with the ``[train]`` ``settings`` (``given``: the keys the file set)
    up to its epochs, resuming from its checkpoint if it has one; returns its run directory."""
    torch.set_num_threads(threads)
    run_dir = training_dir(out, training)
    with hold(run_dir, "sweep training"):
        if (run_dir / TRAINED).is_file():
            return str(run_dir)
        if (run_dir / CHECKPOINT).is_file():
            run = Run.load(run_dir)
        else:
            series, data_config = training_series(settings, given)
            name, options = parse_backend_spec(training.backend)
            options |= _device_options(out, training.id, run_dir, name)
            models = model_configs(settings, name, options, training.seed)
            run = Run.create(data_config, series, models, train_config(settings, training.seed))
        try:
            run.fit(run_dir, progress=False)
        finally:
            if is_device(run.models["qlstm"].config.backend):
                _close_devices(run.models["qlstm"])
        history = run.history["qlstm"]
        summary = {
            "training": training.id,
            "backend": training.backend,
            "seed": training.seed,
            "epochs": run.epoch,
            "test_mse": (history["test_mse"] or [history["initial_test_mse"]])[-1],
            "best": run.best["qlstm"].summary() if "qlstm" in run.best else None,
            "train_seconds": round(run.seconds, 3),
        }
        atomic_write(run_dir / TRAINED, json.dumps(summary, indent=2).encode())
    return str(run_dir)


def point_task(out: str, point: Point, run_dir: str, threads: int) -> dict[str, Any]:
    """Evaluate ``point``: the QLSTM of ``run_dir`` on the point's backend; returns (and writes,
    last) its metrics. A finished point is read back, not computed again."""
    torch.set_num_threads(threads)
    folder = point_dir(out, point)
    with hold(folder, "sweep point"):
        if (folder / METRICS).is_file():
            return read_json(folder / METRICS)
        atomic_write(folder / POINT_FILE, json.dumps(point.to_dict(), indent=2).encode())
        options = point.options | _device_options(out, point.id, folder, point.name)
        profile_dir = str(Path(out) / PROFILES) if point.scaled else None
        backend = get_backend(point.name, profile_dir=profile_dir, **options)
        run = Run.load(run_dir, backend=("statevector", {}))  # then the point's backend
        model = run.models["qlstm"]
        model.set_backend(backend)
        best = run.best.get("qlstm")
        start = time.perf_counter()
        try:
            mse = best_mse = model.mse(run.data.x_test, run.data.y_test, BATCH_SIZE)
            if best is not None and best.epoch != len(run.history["qlstm"]["test_mse"]):
                run.use_weights("best")  # else the best weights are the last ones: no 2nd pass
                best_mse = model.mse(run.data.x_test, run.data.y_test, BATCH_SIZE)
        finally:
            if point.device:
                _close_devices(model)
        scaler = run.data.scaler
        metrics = {
            "point": point.id,
            "test_mse": mse,
            # the series was mapped onto [-1, 1] by x -> 2 (x - low) / (high - low) - 1
            "test_mse_original_units": mse * ((scaler.high - scaler.low) / 2) ** 2,
            "best_epoch": None if best is None else best.epoch,
            "best_test_mse": None if best is None else best_mse,
            "computes": backend.computes,
            "shots_per_circuit": backend.options().get("shots"),
            "test_windows": len(run.data.x_test),
            "epochs": run.epoch,
            "seconds": round(time.perf_counter() - start, 3),
        }
        if point.device:
            estimator = backend.estimator
            metrics["jobs"] = {"submitted": estimator.submitted, "read_back": estimator.reused}
        atomic_write(folder / METRICS, json.dumps(metrics, indent=2).encode())
    return metrics
