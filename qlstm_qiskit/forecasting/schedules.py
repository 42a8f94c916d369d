"""Learning-rate schedules of a run, one scheduler per optimizer, stepped once per epoch.

=========== ===========================================================================
``none``    the constant learning rate (Chen et al.'s protocol)
``cosine``  :class:`torch.optim.lr_scheduler.CosineAnnealingLR` with ``T_max`` = the run's
            epochs when it was created and ``eta_min = 0``: epoch ``e`` (1-based) trains at
            ``lr · (1 + cos(π (e - 1) / T_max)) / 2``. The schedule's length is fixed at
            creation: training (or ``--resume --epochs N``) past ``T_max`` is an error, since
            the lr would have reached 0 and torch's cosine would then climb back up.
``plateau`` :class:`torch.optim.lr_scheduler.ReduceLROnPlateau` on the validation MSE
            (``mode="min"``, ``factor`` :data:`PLATEAU_FACTOR`, ``patience``
            :data:`PLATEAU_PATIENCE` epochs, torch's other defaults); needs a validation split.
=========== ===========================================================================

The schedulers' ``state_dict`` goes into the checkpoint, so a resumed run continues the schedule
exactly.
"""

from __future__ import annotations

import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, ReduceLROnPlateau

LR_SCHEDULES = ("none", "cosine", "plateau")
#: ReduceLROnPlateau's settings: the lr is halved after 5 epochs without a lower validation MSE
PLATEAU_FACTOR = 0.5
PLATEAU_PATIENCE = 5

Scheduler = CosineAnnealingLR | ReduceLROnPlateau


def make_scheduler(
    schedule: str, optimizer: torch.optim.Optimizer, epochs: int
) -> Scheduler | None:
    """The scheduler of ``schedule`` (one of :data:`LR_SCHEDULES`) on ``optimizer`` for a run of
    ``epochs`` epochs; ``None`` for ``"none"``."""
    if schedule == "cosine":
        return CosineAnnealingLR(optimizer, T_max=max(epochs, 1))
    if schedule == "plateau":
        return ReduceLROnPlateau(
            optimizer, mode="min", factor=PLATEAU_FACTOR, patience=PLATEAU_PATIENCE
        )
    return None


def step_scheduler(scheduler: Scheduler | None, validation_mse: float | None) -> None:
    """Step ``scheduler`` at the end of an epoch (``ReduceLROnPlateau`` on ``validation_mse``)."""
    if isinstance(scheduler, ReduceLROnPlateau):
        scheduler.step(validation_mse)
    elif scheduler is not None:
        scheduler.step()


def check_schedule_length(owner: str, scheduler: Scheduler | None, epochs: int) -> None:
    """Refuse to train a cosine schedule past its ``T_max`` (see the module docstring)."""
    if isinstance(scheduler, CosineAnnealingLR) and epochs > scheduler.T_max:
        raise ValueError(
            f"{owner}: the cosine lr schedule of this run spans {scheduler.T_max} epochs (its "
            f"epochs when it was created) and its lr reaches 0 there; {epochs} epochs would go "
            "past it: start a new run with more epochs"
        )
