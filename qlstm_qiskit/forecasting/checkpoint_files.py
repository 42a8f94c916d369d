"""A run's checkpoint file: its name, format and version, reading it back (tensors and plain data
only) and the check of a model's weights for NaN and infinite values."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

CHECKPOINT = "checkpoint.pt"
CHECKPOINT_FORMAT = "qlstm-qiskit-run"
CHECKPOINT_VERSION = 1


def non_finite_parameters(model: nn.Module) -> list[str]:
    """The names of ``model``'s parameters holding a NaN or an infinite value."""
    return [
        name
        for name, value in model.state_dict().items()
        if value.is_floating_point() and not torch.isfinite(value).all()
    ]


class NonFiniteLoss(ValueError):
    """Training produced a NaN or infinite loss or weight; nothing of it was checkpointed."""


def check_finite(name: str, model: nn.Module, epoch: int, lr: float, losses: dict) -> None:
    """Raise :class:`NonFiniteLoss` naming model ``name``'s first non-finite parameter, or else
    its first non-finite loss of ``losses`` (``{"test": MSE, "validation": MSE or None}``),
    after ``epoch`` trained at ``lr``."""
    bad = non_finite_parameters(model)
    nan = [
        f"the {k} loss ({v})" for k, v in losses.items() if v is not None and not math.isfinite(v)
    ]
    if bad or nan:
        where = f"parameter {bad[0]!r}" if bad else nan[0]
        raise NonFiniteLoss(
            f"model {name!r}: {where} is not finite after epoch {epoch} (lr {lr:g}); training "
            "diverged"
        )


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint file's contents (tensors and plain data only; no code is unpickled)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"Run.load: no checkpoint at {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is not a readable qlstm-qiskit checkpoint: the file is empty")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged or foreign file
        first_line = (str(exc).strip().splitlines() or ["no details"])[0][:200]
        raise ValueError(
            f"{path} is not a readable qlstm-qiskit checkpoint ({type(exc).__name__}: {first_line})"
        ) from exc
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"Run.load: {path} is not a qlstm-qiskit run checkpoint")
    if state.get("version") != CHECKPOINT_VERSION:
        raise ValueError(
            f"{path} has checkpoint version {state.get('version')!r}; this version "
            f"of qlstm-qiskit reads version {CHECKPOINT_VERSION}"
        )
    return state
