"""PNG plots of runs: loss curves, prediction against truth, test MSE per backend.

matplotlib is imported lazily with the non-interactive Agg backend, so plotting works without a
display.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def save_drawing(figure, path: str | Path) -> Path:
    """Save a figure made elsewhere (e.g. ``QuantumCircuit.draw(output="mpl")``) and close it."""
    figure.savefig(path, dpi=110, bbox_inches="tight")
    _pyplot().close(figure)
    return Path(path)


def plot_losses(history: dict[str, dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Training, validation (where the run has it) and test MSE per epoch of every model (log
    scale); epoch 0: the untrained model."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for index, (name, losses) in enumerate(history.items()):
        color = f"C{index}"
        epochs = np.arange(1, len(losses["train_mse"]) + 1)
        ax.plot(epochs, losses["train_mse"], color=color, label=f"{name} train")
        ax.plot(
            np.arange(len(losses["test_mse"]) + 1),
            [losses["initial_test_mse"], *losses["test_mse"]],
            color=color,
            linestyle="--",
            label=f"{name} test",
        )
        if losses.get("validation_mse"):
            ax.plot(
                np.arange(1, len(losses["validation_mse"]) + 1),
                losses["validation_mse"],
                color=color,
                linestyle=":",
                label=f"{name} validation",
            )
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE (scaled series)")
    ax.set_title(title or "loss curves")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, Path(path))


def plot_predictions(
    truth: np.ndarray,
    predictions: dict[str, np.ndarray],
    split: int,
    path: str | Path,
    title: str = "",
) -> Path:
    """The targets of all windows and every model's predictions, ``(N,)`` or ``(N, H)``: one
    panel per horizon step ``k`` (forecasts of ``t+k`` against the truth), stacked; the test
    part shaded."""
    plt = _pyplot()
    truth = np.asarray(truth).reshape(len(truth), -1)
    horizon = truth.shape[1]
    fig, axes = plt.subplots(horizon, 1, figsize=(8, 4 + 2.5 * (horizon - 1)), squeeze=False)
    steps = np.arange(len(truth))
    for step, ax in enumerate(axes[:, 0]):
        ax.axvspan(split, len(truth) - 1, color="0.92", label="test split")
        ax.plot(steps, truth[:, step], color="black", linewidth=1.5, label="truth")
        for index, (name, values) in enumerate(predictions.items()):
            ax.plot(
                steps,
                np.asarray(values).reshape(len(truth), -1)[:, step],
                color=f"C{index}",
                linestyle="--",
                linewidth=1.2,
                label=f"{name} prediction",
            )
        ax.set_ylabel("value" if horizon == 1 else f"value at t+{step + 1}")
    axes[0, 0].legend(loc="best", fontsize="small")
    axes[-1, 0].set_xlabel("window (target index)" if horizon == 1 else "window")
    axes[0, 0].set_title(
        (title or "prediction vs truth")
        + (f", one panel per step t+1..t+{horizon}" * (horizon > 1))
    )
    return _save(fig, Path(path))


def plot_backend_mse(rows: list[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Bar plot of test MSE per (model, backend) row (log scale for a wide range)."""
    plt = _pyplot()
    labels = [f"{row['model']}\n{row['backend']}" for row in rows]
    values = [row["test_mse"] for row in rows]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.3 * len(rows) + 1.5), 4))
    bars = ax.bar(range(len(rows)), values, color=[f"C{i % 10}" for i in range(len(rows))])
    ax.bar_label(bars, labels=[f"{value:.3g}" for value in values], fontsize="small")
    ax.set_xticks(range(len(rows)), labels, fontsize="small")
    if min(values) > 0 and max(values) / min(values) > 20:  # log scale only for a wide range
        ax.set_yscale("log")
    ax.set_ylabel("test MSE (scaled series)")
    ax.set_title(title or "test MSE per backend")
    return _save(fig, Path(path))
