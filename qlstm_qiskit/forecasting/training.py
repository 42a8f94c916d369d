"""Forecasting runs: the training loop of :class:`~.models.Forecaster` models, checkpoints and
metrics.

A :class:`Run` trains one or more forecasters (a QLSTM, a classical ``torch.nn.LSTM`` baseline, or
both side by side) on one windowed series as Chen et al. 2020: RMSprop (lr 0.01, alpha 0.99, eps
1e-8), batches of 10 shuffled training windows, MSE on the last step's prediction; by default the
last 20 % of the training windows validate (:mod:`.selection`: best-on-validation weights kept
beside the last ones, optional early stopping; lr schedules: :mod:`.schedules`).
``TrainConfig(val_fraction=0)`` is the paper's protocol exactly. After every epoch it writes,
atomically (a temporary file then ``os.replace``),

- ``checkpoint.pt``: the run's configuration (plain data: backend *names* and options, never
  backend objects or credentials), the series, every model's ``state_dict`` (the last epoch's)
  and its best-on-validation weights (one file: the two can never be torn apart), optimizer and
  lr-scheduler states, the shuffling generators' and torch's RNG states, the epoch, the models
  that stopped early and the metrics history;
- ``metrics.json`` and ``metrics.csv``: the losses and learning rates per epoch and model
  (:mod:`.run_metrics`).

:meth:`Run.load` restores all of it, so that a resumed run continues exactly where the checkpoint
was taken and, on a deterministic backend, ends with the same weights and losses as an
uninterrupted one (float64, same machine). The random streams of sampled backends and of SPSA
gradients are not checkpointed: they restart from their seeds. A ``kill -9`` loses at most the
epoch it interrupts.

:meth:`Run.fit` holds the run directory (:func:`qlstm_qiskit.locks.hold`) while it trains: a second
process training into the same directory is refused with an error naming the holder. A non-finite
training loss or weight stops training with :class:`NonFiniteLoss`; the checkpoint on disk then
still holds the last good epoch. :meth:`Run.load` refuses a checkpoint with non-finite weights.
"""

from __future__ import annotations

import io
import json
import math
import time
import warnings
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..checks import check_choice, check_int, check_real
from ..files import atomic_write
from ..locks import hold
from .checkpoint_files import (
    CHECKPOINT,
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    NonFiniteLoss,
    check_finite,
    non_finite_parameters,
    read_checkpoint,
)
from .metrics import mean_mse, step_table
from .models import Forecaster, ModelConfig
from .optimisation import TrainConfig
from .run_metrics import metrics_csv, run_metrics
from .schedules import check_schedule_length, make_scheduler, step_scheduler
from .selection import (
    PAPER_PROTOCOL,
    WEIGHTS,
    BestWeights,
    improves,
    patience_ran_out,
    validation_split,
)
from .windows import WindowedData, windows_for


class Run:
    """One training run: data, forecasters by name, their optimizers, lr schedulers, RNG states,
    best-on-validation weights and history.

    ``x_fit``/``y_fit`` are the training windows the optimizer sees, ``x_val``/``y_val`` the
    validation windows (the tail of ``data.x_train``; empty with ``val_fraction`` 0).

    Build a new one with :meth:`create`, or restore one from a checkpoint with :meth:`load`.
    """

    def __init__(
        self,
        data_config: dict[str, Any],
        series: np.ndarray,
        models: dict[str, ModelConfig],
        train: TrainConfig,
    ) -> None:
        if not models:
            raise ValueError("Run: at least one model is needed")
        self.data_config = dict(data_config)
        self.series = np.asarray(series, dtype=np.float64)
        self.train_config = train
        self.data: WindowedData = windows_for(self.series, self.data_config)
        for name, config in models.items():
            if (config.input_size, config.horizon) != (self.data.n_features, self.data.horizon):
                raise ValueError(
                    f"Run: model {name!r} has input_size {config.input_size} and horizon "
                    f"{config.horizon}; the data has {self.data.n_features} feature column(s) "
                    f"and a horizon of {self.data.horizon}"
                )
        y = self.data.y_train
        fit_end, val_start = validation_split(len(y), train.val_fraction, self.data.horizon)
        self.x_fit, self.y_fit = self.data.x_train[:fit_end], y[:fit_end]
        self.x_val, self.y_val = self.data.x_train[val_start:], y[val_start:]
        self.models = {name: Forecaster(config) for name, config in models.items()}
        self.optimizers = {
            name: torch.optim.RMSprop(model.parameters(), lr=train.lr, alpha=0.99, eps=1e-8)
            for name, model in self.models.items()
        }
        self.schedulers = {
            name: make_scheduler(train.lr_schedule, optimizer, train.epochs)
            for name, optimizer in self.optimizers.items()
        }
        self.generators = {name: torch.Generator().manual_seed(train.seed) for name in models}
        self.epoch = 0
        self.seconds = 0.0
        self.history: dict[str, dict[str, Any]] = {}
        self.best: dict[str, BestWeights] = {}  # by model, once it has trained an epoch
        self.stopped: dict[str, int] = {}  # model -> the epoch after which it stopped early
        self.weights = "last"  # which weights the models hold (use_weights)
        self._last_weights: dict[str, dict[str, torch.Tensor]] | None = None

    @classmethod
    def create(
        cls,
        data_config: dict[str, Any],
        series: np.ndarray,
        models: dict[str, ModelConfig],
        train: TrainConfig,
    ) -> Run:
        """A new run; ``data_config`` holds ``window``, ``train_fraction``, ``fit_on`` and any
        description of the data (e.g. ``dataset``), kept in the checkpoint and metrics.

        Seeds torch's global generator with ``train.seed`` (its state is checkpointed); weights
        and shuffling use their own seeded generators, and training draws nothing from NumPy's
        or Python's generators."""
        torch.manual_seed(train.seed)
        models = {name: config.with_backend_profile() for name, config in models.items()}
        run = cls(data_config, series, models, train)
        run.history = {}
        for name in models:
            initial, per_step = run.test_scores(name)
            run.history[name] = {
                "initial_test_mse": initial,
                "train_mse": [],
                "validation_mse": [],
                "test_mse": [],
                "lr": [],
                "test_per_step": per_step,
            }
        return run

    @property
    def has_validation(self) -> bool:
        """Whether the run holds out validation windows (``val_fraction`` > 0)."""
        return len(self.x_val) > 0

    @property
    def stopped_early(self) -> bool:
        """Whether every model has stopped early (the run trains no further)."""
        return set(self.stopped) == set(self.models)

    def default_weights(self) -> str:
        """``"best"`` when every model has best-on-validation weights, else ``"last"``."""
        return "best" if self.best and set(self.best) == set(self.models) else "last"

    def use_weights(self, which: str) -> None:
        """Put the ``"best"``-on-validation or the ``"last"`` epoch's weights into every model
        (for evaluation; :meth:`fit` trains on from the last ones only). ``"best"`` is an error
        for a run without validation split or before its first epoch."""
        check_choice("Run.use_weights", "which", which, WEIGHTS)
        if which == "best" and self.default_weights() != "best":
            why = "has trained no epoch" if self.has_validation else "has no validation split"
            raise ValueError(
                f"Run.use_weights: 'best' needs best-on-validation weights; this run {why} "
                f"(val_fraction {self.train_config.val_fraction:g}); use 'last'"
            )
        if which != self.weights:
            last = self._last_weights or {
                name: {k: v.clone() for k, v in model.state_dict().items()}
                for name, model in self.models.items()
            }
            for name, model in self.models.items():
                model.load_state_dict(self.best[name].state_dict if which == "best" else last[name])
            self._last_weights, self.weights = (last if which == "best" else None), which

    def last_state_dict(self, name: str) -> dict[str, torch.Tensor]:
        """The last epoch's ``state_dict`` of model ``name`` (whichever weights it holds)."""
        weights = self._last_weights
        return weights[name] if weights is not None else self.models[name].state_dict()

    # ---- training -------------------------------------------------------------------------
    def test_mse(self, name: str) -> float:
        """The test MSE of model ``name`` (in the scaled units; with a horizon ``H > 1``, the
        mean over the steps)."""
        return self.test_scores(name)[0]

    def test_scores(self, name: str) -> tuple[float, list[dict[str, Any]]]:
        """The test MSE of model ``name`` and its table per horizon step
        (:func:`~.metrics.step_table`: MSE, MAE, RMSE scaled and in original units), from one
        pass over the test windows."""
        predictions = self.models[name].predict(self.data.x_test)
        truth = self.data.y_test
        return mean_mse(predictions, truth), step_table(predictions, truth, self.data.scaler)

    def validation_mse(self, name: str) -> float:
        """The validation MSE of model ``name`` (in the scaled units)."""
        return self.models[name].mse(self.x_val, self.y_val)

    def train_epoch(self, name: str, progress=None) -> float:
        """One epoch of model ``name`` over shuffled batches of the fit windows; returns its mean
        training MSE."""
        model, optimizer = self.models[name], self.optimizers[name]
        x, y = self.x_fit.to(model.dtype), self.y_fit.to(model.dtype)
        model.train()
        order = torch.randperm(len(x), generator=self.generators[name])
        total, seen, shown = 0.0, 0, time.monotonic()
        for number, batch in enumerate(order.split(self.train_config.batch_size), start=1):
            optimizer.zero_grad()
            loss = nn.functional.mse_loss(model(x[batch]), y[batch])
            value = loss.item()
            if not math.isfinite(value):
                raise NonFiniteLoss(
                    f"model {name!r}: the training loss is {value} in epoch {self.epoch + 1}, "
                    f"batch {number} (lr {self.train_config.lr:g}); training diverged"
                )
            loss.backward()
            optimizer.step()
            total += value * len(batch)
            seen += len(batch)
            if progress is not None and time.monotonic() - shown > 0.2:  # at most 5 redraws/s
                progress.set_postfix_str(f"{name} running loss {total / seen:.5f}")
                shown = time.monotonic()
        return total / len(x)

    def fit(self, run_dir: str | Path, epochs: int | None = None, progress: bool = True) -> None:
        """Train every model up to ``epochs`` (default: the configured number) or until every
        model has stopped early, checkpointing and writing the metrics after each epoch into
        ``run_dir``, which it holds for the time (:func:`qlstm_qiskit.locks.hold`: another
        process holding it is an error). A run that stopped early trains no further.

        Raises:
            NonFiniteLoss: a NaN or infinite loss or weight; ``run_dir`` keeps the checkpoint of
                the last good epoch, and this run object should not be used further.
            qlstm_qiskit.locks.FolderLocked: another process holds ``run_dir``.
        """
        run_dir = Path(run_dir)
        with hold(run_dir, "run directory"):
            try:
                self._fit(run_dir, epochs, progress)
            except NonFiniteLoss as exc:
                raise NonFiniteLoss(
                    f"{exc}; training stopped: {run_dir / CHECKPOINT} keeps the last good "
                    f"state (epoch {self.epoch}); a smaller learning rate may help"
                ) from None

    def _fit(self, run_dir: Path, epochs: int | None, progress: bool) -> None:
        from tqdm import tqdm

        epochs = self.train_config.epochs if epochs is None else epochs
        if self.weights != "last":
            raise ValueError(
                "Run.fit: the models hold the best-on-validation weights; call "
                "use_weights('last') to train on"
            )
        for scheduler in self.schedulers.values():
            check_schedule_length("Run.fit", scheduler, epochs)
        self.train_config.epochs = epochs
        if self.epoch == 0:
            self.save(run_dir)
        bar = tqdm(
            total=epochs,
            initial=self.epoch,
            desc="train " + "+".join(self.models),
            unit="epoch",
            disable=not progress,
            dynamic_ncols=True,
        )
        with bar:
            while self.epoch < epochs and not self.stopped_early:
                summary = self.step_epoch(bar)
                self.save(run_dir)
                bar.set_postfix_str(
                    " | ".join(
                        f"{name} train {train:.5f} test {test:.5f}"
                        for name, (train, test) in summary.items()
                    ),
                    refresh=False,
                )
                bar.update(1)

    def step_epoch(self, progress=None) -> dict[str, tuple[float, float]]:
        """Train every model that has not stopped early one epoch; record its losses, the lr it
        trained at and, with a validation split, its validation MSE, best weights and whether
        its patience ran out; step its lr schedule. Returns ``{name: (train MSE, test MSE)}`` of
        the models trained. ``progress`` (a tqdm bar) shows the running loss."""
        start = time.perf_counter()
        summary = {}
        epoch = self.epoch + 1
        for name in self.models:
            if name in self.stopped:
                continue
            lr = self.optimizers[name].param_groups[0]["lr"]
            train_mse = self.train_epoch(name, progress)
            test_mse, per_step = self.test_scores(name)
            validation_mse = self.validation_mse(name) if self.has_validation else None
            losses = {"test": test_mse, "validation": validation_mse}
            check_finite(name, self.models[name], epoch, lr, losses)
            history = self.history[name]
            history["train_mse"].append(train_mse)
            history["test_mse"].append(test_mse)
            history["test_per_step"] = per_step
            history["lr"].append(lr)
            if validation_mse is not None:
                history["validation_mse"].append(validation_mse)
                if improves(self.best.get(name), validation_mse):
                    self.best[name] = BestWeights.of(
                        self.models[name], epoch, validation_mse, test_mse
                    )
                elif patience_ran_out(self.best[name], epoch, self.train_config.patience):
                    self.stopped[name] = epoch
            step_scheduler(self.schedulers[name], validation_mse)
            summary[name] = (train_mse, test_mse)
        self.epoch = epoch
        self.seconds += time.perf_counter() - start
        return summary

    # ---- checkpoints and metrics ----------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything the checkpoint holds (plain data and tensors only)."""
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "data": self.data_config,
            "series": torch.from_numpy(self.series.copy()),
            "train": asdict(self.train_config),
            "models": {name: model.config.to_dict() for name, model in self.models.items()},
            "state_dicts": {name: self.last_state_dict(name) for name in self.models},
            "best": {name: best.to_state() for name, best in self.best.items()},
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
            "schedulers": {
                name: scheduler.state_dict()
                for name, scheduler in self.schedulers.items()
                if scheduler is not None
            },
            "stopped": self.stopped,
            "rng": {
                "torch": torch.get_rng_state(),
                "shuffle": {name: gen.get_state() for name, gen in self.generators.items()},
            },
            "epoch": self.epoch,
            "seconds": self.seconds,
            "history": self.history,
        }

    def save(self, run_dir: str | Path) -> None:
        """Write ``checkpoint.pt``, ``metrics.json`` and ``metrics.csv`` atomically."""
        run_dir = Path(run_dir)
        buffer = io.BytesIO()
        torch.save(self.state(), buffer)
        atomic_write(run_dir / CHECKPOINT, buffer.getvalue())
        atomic_write(run_dir / "metrics.json", json.dumps(self.metrics(), indent=2).encode())
        atomic_write(run_dir / "metrics.csv", self.metrics_csv().encode())

    @classmethod
    def load(cls, path: str | Path, backend: tuple[str, dict[str, Any]] | None = None) -> Run:
        """Restore a run from a checkpoint file (or a run directory holding ``checkpoint.pt``).

        ``backend``: ``(name, options)`` to build the quantum models on instead of the saved
        backend (the saved one is then never constructed). Raises ``ValueError`` for a missing,
        unreadable, corrupt or mismatched checkpoint. A checkpoint from before validation splits
        and lr schedules loads with the paper's protocol (val_fraction 0, constant lr).
        """
        path = Path(path)
        if path.is_dir():
            path = path / CHECKPOINT
        state = read_checkpoint(path)
        try:
            models = {
                name: ModelConfig.from_dict(config) for name, config in state["models"].items()
            }
            for name, config in models.items():  # the saved backend: is its profile the same?
                same = backend is None or backend[0] == config.backend
                change = config.profile_changes() if same else None
                if change is not None:
                    warnings.warn(
                        f"Run.load: checkpoint {path}: model {name!r}: {change}",
                        UserWarning,
                        stacklevel=2,
                    )
            if backend is not None:
                models = {
                    name: replace(config, backend=backend[0], backend_options=dict(backend[1]))
                    if config.kind == "qlstm"
                    else config
                    for name, config in models.items()
                }
            train = TrainConfig(**{**PAPER_PROTOCOL, **state["train"]})
            run = cls(state["data"], state["series"].numpy(), models, train)
            for name, model in run.models.items():
                model.load_state_dict(state["state_dicts"][name])
                run.optimizers[name].load_state_dict(state["optimizers"][name])
                if run.schedulers[name] is not None:
                    run.schedulers[name].load_state_dict(state["schedulers"][name])
                run.generators[name].set_state(state["rng"]["shuffle"][name])
            torch.set_rng_state(state["rng"]["torch"])
            run.epoch = check_int("checkpoint", "epoch", state["epoch"], 0)
            run.seconds = check_real("checkpoint", "seconds", state["seconds"], 0.0)
            run.best = {
                name: BestWeights.from_state(b) for name, b in state.get("best", {}).items()
            }
            run.stopped = {
                name: check_int("checkpoint", "stopped epoch", epoch, 1)
                for name, epoch in state.get("stopped", {}).items()
            }
            run.history = state["history"]
            for history in run.history.values():  # from before validation and schedules
                history.setdefault("validation_mse", [])
                history.setdefault("lr", [train.lr] * len(history["train_mse"]))
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
            raise ValueError(
                f"Run.load: checkpoint {path} does not match its configuration "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        for name, model in run.models.items():
            bad = non_finite_parameters(model)
            if bad:
                raise ValueError(
                    f"Run.load: checkpoint {path}: model {name!r} parameter {bad[0]!r} holds "
                    f"NaN or infinite values ({len(bad)} such parameter(s)); its predictions "
                    "would be meaningless"
                )
        return run

    def metrics(self) -> dict[str, Any]:
        """The run's configuration and per-model losses (:func:`~.run_metrics.run_metrics`)."""
        return run_metrics(self)

    def metrics_csv(self) -> str:
        """The history as CSV rows (:func:`~.run_metrics.metrics_csv`)."""
        return metrics_csv(self.history)
