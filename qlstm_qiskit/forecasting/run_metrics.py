"""What a run reports per model: ``metrics.json``'s model entries and ``metrics.csv``'s rows,
from a run's history (``train_mse``, ``validation_mse``, ``test_mse``, ``lr`` per epoch and the
untrained ``initial_test_mse``), its best-on-validation weights and early stop."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from typing import Any

from torch import nn

from .selection import BestWeights


def run_metrics(run) -> dict[str, Any]:
    """``metrics.json`` of a :class:`~.training.Run`: its data, window counts (training part,
    of which fit and validation windows, test), settings, epochs, time and every model's
    :func:`model_metrics` (MSE in the scaled units)."""
    return {
        "data": run.data_config,
        "train_windows": len(run.data.x_train),
        "fit_windows": len(run.x_fit),
        "validation_windows": len(run.x_val),
        "test_windows": len(run.data.x_test),
        "train": asdict(run.train_config),
        "epochs_completed": run.epoch,
        "train_seconds": round(run.seconds, 3),
        "models": {
            name: model_metrics(model, run.history[name], run.best.get(name), run.stopped.get(name))
            for name, model in run.models.items()
        },
    }


def model_metrics(
    model: nn.Module, history: dict[str, Any], best: BestWeights | None, stopped: int | None
) -> dict[str, Any]:
    """One model's entry: its config and parameter count, the untrained, last-epoch and
    best-on-validation figures (``best``: epoch, validation and test MSE; ``None`` without a
    validation split), the epoch after which it ``stopped`` early (or ``None``) and the
    per-epoch lists. ``min_test_mse`` is the lowest test MSE of any epoch: hindsight on the test
    part, not a selection."""
    tests, validations = history["test_mse"], history["validation_mse"]
    return {
        "config": model.config.to_dict(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "initial_test_mse": history["initial_test_mse"],
        "epochs_trained": len(tests),
        "stopped_early_after": stopped,
        "final_train_mse": history["train_mse"][-1] if tests else None,
        "final_validation_mse": validations[-1] if validations else None,
        "final_test_mse": tests[-1] if tests else history["initial_test_mse"],
        "best": best.summary() if best is not None else None,
        "min_test_mse": min(tests) if tests else None,
        "train_mse": history["train_mse"],
        "validation_mse": validations,
        "test_mse": tests,
        "lr": history["lr"],
        # the last evaluation per horizon step (absent in runs older than it)
        "test_per_step": history.get("test_per_step"),
    }


def metrics_csv(history: dict[str, dict[str, Any]]) -> str:
    """``epoch,model,train_mse,validation_mse,test_mse,lr`` rows of every model in ``history``
    (epoch 0: the untrained test MSE; empty cells where a value does not exist)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["epoch", "model", "train_mse", "validation_mse", "test_mse", "lr"])
    for name, losses in history.items():
        writer.writerow([0, name, "", "", repr(losses["initial_test_mse"]), ""])
        validations = losses["validation_mse"] or [None] * len(losses["train_mse"])
        rows = zip(losses["train_mse"], validations, losses["test_mse"], losses["lr"], strict=True)
        for epoch, (train, validation, test, lr) in enumerate(rows, start=1):
            cell = "" if validation is None else repr(validation)
            writer.writerow([epoch, name, repr(train), cell, repr(test), repr(lr)])
    return out.getvalue()
