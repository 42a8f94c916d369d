"""Forecast errors per horizon step, in the scaled units and in the target's own units.

For predictions and truth ``(N, H)`` (``N`` windows, ``H`` steps ahead), step ``k`` (1-based) has

    MSE_k = mean_i (p[i, k] - y[i, k])²,   MAE_k = mean_i |p[i, k] - y[i, k]|,   RMSE_k = √MSE_k

in the ``[-1, 1]`` scaled units and, after the target scaler's inverse map, in the original
units (``*_original``). The one-number test MSE of a run is the mean of ``MSE_k`` over the steps
(with ``H = 1``, the MSE of the next-value forecast).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

#: the measures of a step, each also in original units (``<name>_original``)
MEASURES = ("mse", "mae", "rmse")


def mean_mse(predictions: torch.Tensor, truth: torch.Tensor) -> float:
    """The MSE over all ``(N, H)`` entries (float64) = the mean of the per-step MSEs."""
    return nn.functional.mse_loss(predictions.to(torch.float64), truth.to(torch.float64)).item()


def step_errors(predictions: torch.Tensor, truth: torch.Tensor) -> dict[str, list[float]]:
    """``{"mse": [H], "mae": [H], "rmse": [H]}`` of predictions against truth ``(N, H)``."""
    if predictions.shape != truth.shape or predictions.dim() != 2 or len(truth) == 0:
        raise ValueError(
            f"step_errors: predictions and truth must have one shape (N, H) with N >= 1, got "
            f"{tuple(predictions.shape)} and {tuple(truth.shape)}"
        )
    error = predictions.to(torch.float64) - truth.to(torch.float64)
    mse = error.square().mean(dim=0)
    return {
        "mse": mse.tolist(),
        "mae": error.abs().mean(dim=0).tolist(),
        "rmse": mse.sqrt().tolist(),
    }


def step_table(predictions: torch.Tensor, truth: torch.Tensor, scaler) -> list[dict[str, Any]]:
    """One row per horizon step of scaled predictions against scaled truth ``(N, H)``:
    ``{"step": k, "mse", "mae", "rmse", "mse_original", "mae_original", "rmse_original"}``;
    ``scaler`` (the target's :class:`~.windows.MinMaxScaler`) maps back to original units."""
    scaled = step_errors(predictions, truth)
    original = step_errors(
        scaler.inverse_transform(predictions.to(torch.float64)),
        scaler.inverse_transform(truth.to(torch.float64)),
    )
    return [
        {
            "step": step + 1,
            **{name: scaled[name][step] for name in MEASURES},
            **{f"{name}_original": original[name][step] for name in MEASURES},
        }
        for step in range(truth.shape[1])
    ]
