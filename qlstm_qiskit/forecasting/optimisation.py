"""The optimisation settings of a run, :class:`TrainConfig`: plain data, checked, stored in
checkpoints."""

from __future__ import annotations

from dataclasses import dataclass

from ..checks import MAX_SEED, check_int, check_real
from .selection import VAL_FRACTION, check_selection


@dataclass
class TrainConfig:
    """The optimisation settings of a run: RMSprop at ``lr``, batches of ``batch_size``;
    ``val_fraction`` of the training windows validate (0: none, Chen et al.'s protocol exactly),
    ``lr_schedule`` is ``"none"``, ``"cosine"`` or ``"plateau"`` (needs validation) and
    ``patience`` (``None``: off; needs validation) stops a model after that many epochs without
    a lower validation MSE."""

    epochs: int = 100
    batch_size: int = 10
    lr: float = 0.01
    seed: int = 0
    val_fraction: float = VAL_FRACTION
    lr_schedule: str = "none"
    patience: int | None = None

    def __post_init__(self) -> None:
        check_int("TrainConfig", "epochs", self.epochs, 0)
        check_int("TrainConfig", "batch_size", self.batch_size, 1)
        check_int("TrainConfig", "seed", self.seed, 0, MAX_SEED)
        check_real("TrainConfig", "lr", self.lr, 0.0, open_low=True)
        check_selection("TrainConfig", self.val_fraction, self.lr_schedule, self.patience)
        self.val_fraction = float(self.val_fraction)
