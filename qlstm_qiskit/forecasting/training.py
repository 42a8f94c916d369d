"""Forecasting runs: the training loop of :class:`~.models.Forecaster` models, checkpoints and
metrics.

A :class:`Run` trains one or more forecasters (a QLSTM, a classical ``torch.nn.LSTM`` baseline, or
both side by side) on one windowed series with the protocol of Chen et al. 2020: RMSprop
(lr 0.01, alpha 0.99, eps 1e-8), batches of 10 shuffled training windows, MSE on the last step's
prediction. After every epoch it writes, atomically (a temporary file then ``os.replace``),

- ``checkpoint.pt``: the run's configuration (plain data: backend *names* and options, never
  backend objects or credentials), the series, every model's ``state_dict``, optimizer state, the
  shuffling generators' and torch's RNG states, the epoch and the metrics history;
- ``metrics.json`` and ``metrics.csv``: the losses per epoch and model.

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

import csv
import io
import json
import math
import time
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..checks import MAX_SEED, check_int, check_real
from ..files import atomic_write
from ..locks import hold
from .metrics import mean_mse, step_table
from .models import Forecaster, ModelConfig
from .windows import WindowedData, windows_for

CHECKPOINT = "checkpoint.pt"
CHECKPOINT_FORMAT = "qlstm-qiskit-run"
CHECKPOINT_VERSION = 1


@dataclass
class TrainConfig:
    """The optimisation settings of a run (Chen et al.'s protocol by default)."""

    epochs: int = 100
    batch_size: int = 10
    lr: float = 0.01
    seed: int = 0

    def __post_init__(self) -> None:
        check_int("TrainConfig", "epochs", self.epochs, 0)
        check_int("TrainConfig", "batch_size", self.batch_size, 1)
        check_int("TrainConfig", "seed", self.seed, 0, MAX_SEED)
        check_real("TrainConfig", "lr", self.lr, 0.0, open_low=True)


class NonFiniteLoss(ValueError):
    """Training produced a NaN or infinite loss or weight; nothing of it was checkpointed."""


class Run:
    """One training run: data, forecasters by name, their optimizers, RNG states and history.

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
        self.models = {name: Forecaster(config) for name, config in models.items()}
        self.optimizers = {
            name: torch.optim.RMSprop(model.parameters(), lr=train.lr, alpha=0.99, eps=1e-8)
            for name, model in self.models.items()
        }
        self.generators = {name: torch.Generator().manual_seed(train.seed) for name in models}
        self.epoch = 0
        self.seconds = 0.0
        self.history: dict[str, dict[str, Any]] = {}

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
            run.history[name] = {"initial_test_mse": initial, "train_mse": [], "test_mse": []}
            run.history[name]["test_per_step"] = per_step
        return run

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

    def train_epoch(self, name: str, progress=None) -> float:
        """One epoch of model ``name`` over shuffled batches; returns its mean training MSE."""
        model, optimizer = self.models[name], self.optimizers[name]
        x, y = self.data.x_train.to(model.dtype), self.data.y_train.to(model.dtype)
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
        """Train every model up to ``epochs`` (default: the configured number), checkpointing and
        writing the metrics after each epoch into ``run_dir``, which it holds for the time
        (:func:`qlstm_qiskit.locks.hold`: another process holding it is an error).

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
            while self.epoch < epochs:
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
        """Train every model one epoch and record its losses; returns ``{name: (train MSE,
        test MSE)}``. ``progress`` (a tqdm bar) shows the running loss."""
        start = time.perf_counter()
        summary = {}
        for name in self.models:
            train_mse = self.train_epoch(name, progress)
            test_mse, per_step = self.test_scores(name)
            bad = non_finite_parameters(self.models[name])
            if bad or not math.isfinite(test_mse):
                where = f"parameter {bad[0]!r}" if bad else f"the test loss ({test_mse})"
                raise NonFiniteLoss(
                    f"model {name!r}: {where} is not finite after epoch {self.epoch + 1} "
                    f"(lr {self.train_config.lr:g}); training diverged"
                )
            self.history[name]["train_mse"].append(train_mse)
            self.history[name]["test_mse"].append(test_mse)
            self.history[name]["test_per_step"] = per_step
            summary[name] = (train_mse, test_mse)
        self.epoch += 1
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
            "state_dicts": {name: model.state_dict() for name, model in self.models.items()},
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
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
        unreadable, corrupt or mismatched checkpoint.
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
            run = cls(state["data"], state["series"].numpy(), models, TrainConfig(**state["train"]))
            for name, model in run.models.items():
                model.load_state_dict(state["state_dicts"][name])
                run.optimizers[name].load_state_dict(state["optimizers"][name])
                run.generators[name].set_state(state["rng"]["shuffle"][name])
            torch.set_rng_state(state["rng"]["torch"])
            run.epoch = check_int("checkpoint", "epoch", state["epoch"], 0)
            run.seconds = check_real("checkpoint", "seconds", state["seconds"], 0.0)
            run.history = state["history"]
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
        """The run's configuration and per-model losses (MSE in the scaled units)."""
        models = {}
        for name, model in self.models.items():
            history = self.history[name]
            tests = history["test_mse"]
            models[name] = {
                "config": model.config.to_dict(),
                "parameters": sum(p.numel() for p in model.parameters()),
                "initial_test_mse": history["initial_test_mse"],
                "final_train_mse": history["train_mse"][-1] if tests else None,
                "final_test_mse": tests[-1] if tests else history["initial_test_mse"],
                "best_test_mse": min(tests) if tests else None,
                "train_mse": history["train_mse"],
                "test_mse": tests,
                # the last evaluation per horizon step (absent in runs older than it)
                "test_per_step": history.get("test_per_step"),
            }
        return {
            "data": self.data_config,
            "train_windows": len(self.data.x_train),
            "test_windows": len(self.data.x_test),
            "train": asdict(self.train_config),
            "epochs_completed": self.epoch,
            "train_seconds": round(self.seconds, 3),
            "models": models,
        }

    def metrics_csv(self) -> str:
        """``epoch,model,train_mse,test_mse`` rows (epoch 0: the untrained test MSE)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["epoch", "model", "train_mse", "test_mse"])
        for name, history in self.history.items():
            writer.writerow([0, name, "", repr(history["initial_test_mse"])])
            pairs = zip(history["train_mse"], history["test_mse"], strict=True)
            for epoch, (train, test) in enumerate(pairs, start=1):
                writer.writerow([epoch, name, repr(train), repr(test)])
        return out.getvalue()


def non_finite_parameters(model: nn.Module) -> list[str]:
    """The names of ``model``'s parameters holding a NaN or an infinite value."""
    return [
        name
        for name, value in model.state_dict().items()
        if value.is_floating_point() and not torch.isfinite(value).all()
    ]


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
