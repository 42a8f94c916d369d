"""Honest model selection inside a run's training part: the chronological validation split, the
best-on-validation weights and early stopping.

**The split** (:func:`validation_split`). The chronologically last ``val_fraction`` of the training
windows (``int(val_fraction · N_train)`` of them, at least one) validate; the windows before them
train ("fit" windows). The test part is never touched: every validation window is a training
window. A window's target lies after its inputs, so no validation target is ever seen by a fit
window, as an input or as a target. With targets of ``H`` steps (``y`` of shape ``(N, H)``), the
last ``H - 1`` windows before the validation part would have targets inside the validation range:
they are left out of both. A validation window's *inputs* may hold values that the last fit windows
had as targets, exactly as the test windows' inputs hold the training part's last values: at
prediction time the past is known. (With ``fit_on="train"`` the scaler has seen the validation
values, since they belong to the training part.)

**Selection.** After every epoch the validation MSE of each model is computed; the weights of
the epoch with the lowest one (:class:`BestWeights`, strictly lower than every earlier epoch's,
epochs 1 and later) are kept beside the last ones, in the same checkpoint file.

**Early stopping** (``patience`` P): a model stops training after the first epoch ``e`` with
``e - best.epoch >= P``, i.e. P epochs in a row without a lower validation MSE.

``val_fraction = 0`` is Chen et al.'s protocol: every training window trains, nothing is
selected, the last epoch is the result.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ..checks import check_int, check_real
from .schedules import LR_SCHEDULES

#: the validation share of the training windows by default (0: the paper's protocol)
VAL_FRACTION = 0.2
#: what a checkpoint without these settings was trained with (before they existed)
PAPER_PROTOCOL = {"val_fraction": 0.0, "lr_schedule": "none", "patience": None}
#: the weights a run can use: the best on validation or the last epoch's
WEIGHTS = ("best", "last")


def check_selection(
    owner: str,
    val_fraction: Any,
    lr_schedule: Any,
    patience: Any,
    key: Callable[[str], str] = str,
) -> None:
    """Check the selection settings; errors start with ``owner: `` (none when empty) and name a
    setting as ``key`` writes it (e.g. ``--val-fraction``)."""
    prefix = f"{owner}: " if owner else ""
    number = isinstance(val_fraction, (int, float)) and not isinstance(val_fraction, bool)
    if not number:
        raise TypeError(
            f"{prefix}{key('val_fraction')} must be a number, got "
            f"{type(val_fraction).__name__} {val_fraction!r}"
        )
    if not (math.isfinite(val_fraction) and 0.0 <= val_fraction < 1.0):
        raise ValueError(
            f"{prefix}{key('val_fraction')} must be in the range [0, 1), got {val_fraction}"
        )
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(
            f"{prefix}{key('lr_schedule')} must be one of {', '.join(map(repr, LR_SCHEDULES))}, "
            f"got {lr_schedule!r}"
        )
    if patience is not None:
        if isinstance(patience, bool) or not isinstance(patience, int):
            raise TypeError(
                f"{prefix}{key('patience')} must be an int, got {type(patience).__name__} "
                f"{patience!r}"
            )
        if patience < 1:
            raise ValueError(f"{prefix}{key('patience')} must be >= 1, got {patience}")
    needs = [f"{key('lr_schedule')} plateau"] if lr_schedule == "plateau" else []
    needs += [f"{key('patience')} {patience}"] if patience is not None else []
    if val_fraction == 0 and needs:
        raise ValueError(
            f"{prefix}{' and '.join(needs)} need{'s' if len(needs) == 1 else ''} a validation "
            f"split ({key('val_fraction')} > 0), got {key('val_fraction')} {val_fraction}"
        )


def validation_split(n_windows: int, val_fraction: float, horizon: int = 1) -> tuple[int, int]:
    """``(fit_end, val_start)``: of ``n_windows`` chronological training windows, ``[0, fit_end)``
    train and ``[val_start, n_windows)`` validate; ``horizon - 1`` windows lie between (see the
    module docstring). ``val_fraction = 0``: ``(n_windows, n_windows)``, all train."""
    if val_fraction == 0:
        return n_windows, n_windows
    n_val = max(int(val_fraction * n_windows), 1)
    fit_end = n_windows - n_val - (horizon - 1)
    if fit_end < 1:
        raise ValueError(
            f"validation_split: val_fraction {val_fraction:g} of {n_windows} training windows "
            f"leaves {max(fit_end, 0)} training windows beside {n_val} validation window(s)"
            + (f" ({horizon - 1} left between for a horizon of {horizon})" if horizon > 1 else "")
            + "; at least 1 must train (a longer series or other train/validation fractions)"
        )
    return fit_end, n_windows - n_val


@dataclass
class BestWeights:
    """The best-on-validation state of one model: its epoch (1-based), validation and test MSE
    and a copy of its ``state_dict``."""

    epoch: int
    validation_mse: float
    test_mse: float
    state_dict: dict[str, torch.Tensor]

    @classmethod
    def of(cls, model: torch.nn.Module, epoch: int, validation_mse: float, test_mse: float):
        """A copy of ``model``'s weights now, after ``epoch``."""
        weights = {name: value.detach().clone() for name, value in model.state_dict().items()}
        return cls(epoch, validation_mse, test_mse, weights)

    def summary(self) -> dict[str, Any]:
        """Epoch and MSEs (no weights), for metrics."""
        return {
            "epoch": self.epoch,
            "validation_mse": self.validation_mse,
            "test_mse": self.test_mse,
        }

    def to_state(self) -> dict[str, Any]:
        return {**self.summary(), "state_dict": self.state_dict}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BestWeights:
        return cls(
            check_int("checkpoint", "best epoch", state["epoch"], 1),
            check_real("checkpoint", "best validation_mse", state["validation_mse"], 0.0),
            check_real("checkpoint", "best test_mse", state["test_mse"], 0.0),
            dict(state["state_dict"]),
        )


def improves(best: BestWeights | None, validation_mse: float) -> bool:
    """Whether ``validation_mse`` is strictly lower than ``best``'s (or there is none yet)."""
    return best is None or validation_mse < best.validation_mse


def patience_ran_out(best: BestWeights, epoch: int, patience: int | None) -> bool:
    """Whether a model whose best epoch is ``best.epoch`` stops after ``epoch``."""
    return patience is not None and epoch - best.epoch >= patience
