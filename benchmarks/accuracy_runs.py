"""The accuracy benchmark's trainings (``bench_accuracy.py``): one training per (dataset, model,
lr, schedule, seed), run in worker processes, each result saved as soon as it is in so that an
interrupted benchmark resumes without training a finished entry again.

A *task* is a plain dict (picklable, JSON-serialisable): ``dataset``, ``n_points``, ``model``
(its name), ``config`` (``ModelConfig.to_dict()``, its seed the run's), ``epochs``, ``lr``,
``schedule``, ``seed``, ``val_fraction``. :func:`train_one` trains it with Chen et al.'s protocol
(``qlstm_qiskit.forecasting.training.Run``: window 4, MinMax [-1, 1] fitted on the series, 67/33
chronological split, RMSprop alpha 0.99 eps 1e-8, batch 10) and the validation split of ``Run``
(the chronological tail of the training windows), one torch thread.

**The cache** (:class:`ResultsCache`) is a JSON-lines file, one ``{"task": ..., "result": ...}``
per finished training, appended (one ``write`` then ``fsync``) by the parent process only, keyed
by the whole task: a changed setting (epochs, points, config, validation share) is a new entry,
never a stale one. A line torn by a crash is skipped when the file is read (that one training
runs again).
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import torch

from qlstm_qiskit.forecasting.checkpoint_files import NonFiniteLoss
from qlstm_qiskit.forecasting.datasets import TRAIN_FRACTION, WINDOW, generate
from qlstm_qiskit.forecasting.models import ModelConfig
from qlstm_qiskit.forecasting.training import Run, TrainConfig

#: seconds of one 100-epoch training on the 240 points of damped_shm with val_fraction 0.2, one
#: torch thread, measured on the 2-core development machine while another job kept about one
#: core busy (the cost estimate scales them by points and epochs)
SECONDS_PER_RUN = {"qlstm": 4.0, "chen": 15.1, "input_scaling": 11.9, "lstm": 1.5}
REFERENCE_POINTS = 240


def task_key(task: dict) -> str:
    """The cache key of a task: the task itself, as canonical JSON."""
    return json.dumps(task, sort_keys=True)


def data_config(dataset: str, n_points: int) -> dict:
    """The ``Run`` data settings of the protocol (as ``qlstm-qiskit train`` records them)."""
    return {
        "window": WINDOW,
        "train_fraction": TRAIN_FRACTION,
        "fit_on": "series",
        "dataset": dataset,
        "n_points": n_points,
    }


def train_one(task: dict) -> dict:
    """Train one task (in a worker process or this one, one torch thread); returns its
    per-epoch validation and test MSE, the untrained test MSE, its training seconds, the epoch
    at which it diverged (``None`` if it did not; the lists stop before it) and the window
    counts."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        series = generate(task["dataset"], task["n_points"])
        name, config = task["model"], ModelConfig.from_dict(task["config"])
        train = TrainConfig(
            epochs=task["epochs"],
            batch_size=10,
            lr=task["lr"],
            seed=task["seed"],
            val_fraction=task["val_fraction"],
            lr_schedule=task["schedule"],
        )
        run = Run.create(data_config(task["dataset"], len(series)), series, {name: config}, train)
        diverged = None
        for epoch in range(1, task["epochs"] + 1):
            try:
                run.step_epoch()
            except NonFiniteLoss:
                diverged = epoch
                break
        history = run.history[name]
        return {
            "validation_mse": history["validation_mse"],
            "test_mse": history["test_mse"],
            "initial_test_mse": history["initial_test_mse"],
            "seconds": run.seconds,
            "diverged_epoch": diverged,
            "windows": [len(run.x_fit), len(run.x_val), len(run.data.x_test)],
        }
    finally:
        torch.set_num_threads(threads)


def estimate_seconds(task: dict) -> float:
    """The expected seconds of a task on one core, from :data:`SECONDS_PER_RUN`."""
    config = task["config"]
    if config["kind"] == "lstm":
        kind = "lstm"
    elif config["cell"] == "chen":
        kind = "chen"
    else:
        kind = "input_scaling" if config["input_scaling"] else "qlstm"
    scale = task["n_points"] / REFERENCE_POINTS * task["epochs"] / 100
    return SECONDS_PER_RUN[kind] * scale


class ResultsCache:
    """Finished trainings by :func:`task_key`, read from and appended to a JSON-lines file
    (``path`` ``None``: in memory only)."""

    def __init__(self, path: Path | None) -> None:
        self.path = None if path is None else Path(path)
        self.entries: dict[str, dict] = {}
        self._torn = False  # the file does not end with a newline (a write cut short)
        if self.path is not None and self.path.is_file():
            text = self.path.read_text()
            self._torn = bool(text) and not text.endswith("\n")
            for line in text.splitlines():
                try:
                    entry = json.loads(line)
                    self.entries[task_key(entry["task"])] = entry["result"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue  # a torn or foreign line: that training runs again

    def get(self, task: dict) -> dict | None:
        return self.entries.get(task_key(task))

    def add(self, task: dict, result: dict) -> None:
        """Record a finished training (in the file at once, if there is one)."""
        self.entries[task_key(task)] = result
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = ("\n" if self._torn else "") + json.dumps({"task": task, "result": result}) + "\n"
        with open(self.path, "a") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        self._torn = False


def run_all(tasks: list[dict], cache: ResultsCache, workers: int, train=train_one) -> list[dict]:
    """The result of every task, in order: from ``cache``, or trained (``workers`` spawned
    processes, or this process for 1) and added to it as each finishes. Prints the estimated
    cost first, then one progress line per training."""
    todo = [task for task in tasks if cache.get(task) is None]
    todo.sort(key=estimate_seconds, reverse=True)  # the longest first: the workers end together
    estimate = sum(map(estimate_seconds, todo))
    print(
        f"{len(tasks)} trainings: {len(tasks) - len(todo)} found in the cache "
        f"({cache.path or 'none'}), {len(todo)} to run; estimated {estimate / 60:.1f} core-minutes"
        f", about {estimate / workers / 60:.1f} minutes with {workers} worker(s)",
        flush=True,
    )
    start, done_estimate = time.perf_counter(), 0.0

    def record(number: int, task: dict, result: dict) -> None:
        nonlocal done_estimate
        cache.add(task, result)
        done_estimate += estimate_seconds(task)
        elapsed = time.perf_counter() - start
        left = elapsed * (estimate - done_estimate) / done_estimate if done_estimate else math.nan
        best = min(result["validation_mse"], default=math.nan)
        status = f"diverged in epoch {result['diverged_epoch']}" if result["diverged_epoch"] else ""
        print(
            f"  [{number}/{len(todo)}] {task['dataset']} {task['model']} lr {task['lr']:g} "
            f"{task['schedule']} seed {task['seed']}: best validation MSE {best:.2e} "
            f"{status}({result['seconds']:.1f} s); {elapsed / 60:.1f} min elapsed, "
            f"~{left / 60:.1f} min left",
            flush=True,
        )

    if workers == 1:
        for number, task in enumerate(todo, start=1):
            record(number, task, train(task))
    elif todo:
        context = multiprocessing.get_context("spawn")  # torch and fork do not mix
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {pool.submit(train, task): task for task in todo}
            for number, future in enumerate(as_completed(futures), start=1):
                record(number, futures[future], future.result())
    return [cache.get(task) for task in tasks]
