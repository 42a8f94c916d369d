"""The accuracy benchmark's statistics: the learning-rate grid selection on validation, the
per-model summaries over seeds and the gap rule (``bench_accuracy.py``; pure functions of the raw
per-run results, no training).

A run's result is a dict with per-epoch ``validation_mse`` and ``test_mse`` lists (epoch 1 first),
``initial_test_mse``, ``seconds`` and ``diverged_epoch`` (``None``, or the epoch whose training
loss or weights became non-finite; the lists then stop before it).

**Selection never reads a test value.** :func:`select` ranks the grid points of one (task, model)
by the mean over seeds of each run's lowest validation MSE (:func:`best_validation`); the test
figures are read afterwards, at each run's best-on-validation epoch (:func:`best_epoch`).
"""

from __future__ import annotations

import math
import statistics


def best_epoch(validation_mse: list[float]) -> int | None:
    """The 1-based epoch of the lowest validation MSE (the first one on ties, as
    ``Run``'s best-on-validation weights); ``None`` for a run that trained no epoch."""
    if not validation_mse:
        return None
    return min(range(len(validation_mse)), key=validation_mse.__getitem__) + 1


def best_validation(run: dict) -> float:
    """The lowest validation MSE of a run (``inf`` for a run that diverged or trained none)."""
    if run["diverged_epoch"] is not None or not run["validation_mse"]:
        return math.inf
    return min(run["validation_mse"])


def grid_score(runs: list[dict]) -> tuple[int, float]:
    """The sort key of one grid point over its seeds: (runs that diverged, mean over the other
    seeds of the lowest validation MSE). A grid point on which any seed diverged ranks after
    every grid point on which none did."""
    diverged = sum(run["diverged_epoch"] is not None for run in runs)
    finished = [best_validation(run) for run in runs if run["diverged_epoch"] is None]
    return diverged, (statistics.fmean(finished) if finished else math.inf)


def select(grid: dict[tuple[float, str], list[dict]]) -> tuple[float, str]:
    """The grid point ``(lr, schedule)`` with the lowest :func:`grid_score` (the first in the
    grid's order on ties). Reads only the runs' validation MSEs and divergence."""
    return min(grid, key=lambda point: grid_score(grid[point]))


def epochs_to_reach(mse: list[float], threshold: float) -> int | None:
    """The first epoch (1-based) whose MSE is <= ``threshold``; None if none is."""
    return next((epoch for epoch, value in enumerate(mse, start=1) if value <= threshold), None)


def summarise(runs: list[dict], thresholds: list[float]) -> dict:
    """The figures of one model's selected grid point over its seeds (runs that diverged are
    left out and counted): test MSE at each run's best-on-validation epoch and at its last epoch
    (mean and sample std), the best epochs (median), the first epoch whose test MSE is <= each
    threshold (median over the seeds that reach it, and how many did), seconds per run."""
    finished = [run for run in runs if run["diverged_epoch"] is None]
    epochs = [best_epoch(run["validation_mse"]) for run in finished]
    at_best = [run["test_mse"][e - 1] for run, e in zip(finished, epochs, strict=True)]
    last = [run["test_mse"][-1] for run in finished]
    reached = {}
    for threshold in thresholds:
        hits = [e for run in finished if (e := epochs_to_reach(run["test_mse"], threshold))]
        reached[repr(threshold)] = {
            "median_epochs": statistics.median(hits) if hits else None,
            "seeds_reached": len(hits),
        }
    return {
        "test_at_best_mean": _mean(at_best),
        "test_at_best_std": _std(at_best),
        "last_test_mean": _mean(last),
        "last_test_std": _std(last),
        "validation_mean": _mean([best_validation(run) for run in finished]),
        "best_epoch_median": statistics.median(epochs) if epochs else None,
        "reached": reached,
        "seconds_mean": statistics.fmean(run["seconds"] for run in runs),
        "seeds": len(finished),
        "diverged": len(runs) - len(finished),
    }


def gap(a: dict, b: dict) -> dict:
    """Model ``a`` against model ``b`` (two :func:`summarise` results) on the test MSE at the
    best-on-validation epoch: ``ratio`` = mean_a / mean_b (< 1: ``a`` is lower) and ``apart``:
    whether the difference of the means exceeds the spread, ``|mean_a - mean_b| > std_a +
    std_b`` (sample standard deviations over seeds)."""
    ma, mb = a["test_at_best_mean"], b["test_at_best_mean"]
    spread = a["test_at_best_std"] + b["test_at_best_std"]
    return {"ratio": ma / mb if mb > 0 else math.inf, "apart": abs(ma - mb) > spread}


def verdict(g: dict) -> str:
    """``"lower"``, ``"higher"`` (beyond the spread) or ``"within"`` (the spread)."""
    if not g["apart"]:
        return "within"
    return "lower" if g["ratio"] < 1 else "higher"


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else math.nan


def _std(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0
