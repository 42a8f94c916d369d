"""The settings of a training run as plain data (what ``qlstm-qiskit train``'s flags and a
sweep's ``[train]`` table hold) and what they build: the series and its ``data_config``, the
models' :class:`~.models.ModelConfig` and the :class:`~.training.TrainConfig`.

Each function that can refuse a setting takes ``key``, which turns a setting's name into the
way the user wrote it (``--n-points`` on the command line, ``train.n_points`` in an experiment
file), so that its errors name what the user typed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..circuits import CircuitSpec
from .datasets import TRAIN_FRACTION, WINDOW, generate, load_csv_column
from .models import ModelConfig
from .training import TrainConfig

#: what ``model`` may be and the models each trains
MODEL_CHOICES = {"qlstm": ("qlstm",), "lstm": ("lstm",), "both": ("qlstm", "lstm")}
#: the gate-circuit settings, in CircuitSpec's field order
CIRCUIT_FIELDS = tuple(asdict(CircuitSpec()))
#: every setting with its default (``qlstm-qiskit train``'s defaults)
TRAIN_DEFAULTS: dict[str, Any] = {
    "dataset": "damped_shm",
    "csv": None,
    "column": None,
    "missing": "error",
    "n_points": None,
    "window": WINDOW,
    "train_fraction": TRAIN_FRACTION,
    "scale_fit": "series",
    "model": "qlstm",
    "hidden_size": 5,
    "num_layers": 1,
    **asdict(CircuitSpec()),
    "cell": "lstm",  # the cell variant (QLSTM's cell= and input_scaling=)
    "input_scaling": False,
    "backend": "statevector",
    "dtype": "float64",
    "epochs": 100,
    "batch_size": 10,
    "lr": 0.01,
    "seed": 0,
}


def flag(name: str) -> str:
    """A setting's command-line flag: ``n_points`` -> ``--n-points``."""
    return "--" + name.replace("_", "-")


def training_series(
    settings: dict[str, Any], given, key: Callable[[str], str] = flag
) -> tuple[np.ndarray, dict[str, Any]]:
    """The series ``(T,)`` of ``csv``/``column`` or ``dataset``/``n_points`` in ``settings``
    (``given``: the names the user set) and the run's ``data_config`` (window, split, scaling
    and where the data came from)."""
    data_config = {
        "window": settings["window"],
        "train_fraction": settings["train_fraction"],
        "fit_on": settings["scale_fit"],
    }
    if settings["csv"] is not None:
        if "dataset" in given or "n_points" in given:
            raise ValueError(
                f"{key('csv')} replaces {key('dataset')} and {key('n_points')}; give one data "
                "source"
            )
        if settings["column"] is None:
            raise ValueError(f"{key('csv')} needs {key('column')} (a header name or 0-based index)")
        series = load_csv_column(settings["csv"], settings["column"], missing=settings["missing"])
        label = f"{Path(settings['csv']).stem}.{settings['column']}"
        data_config.update(dataset=label, csv=str(settings["csv"]), column=settings["column"])
        if settings["missing"] != "error":
            data_config["missing"] = settings["missing"]
    else:
        for name in ("column", "missing"):
            if name in given:
                raise ValueError(f"{key(name)} goes with {key('csv')}")
        series = generate(settings["dataset"], settings["n_points"])
        data_config.update(dataset=settings["dataset"], n_points=len(series))
    return series, data_config


def model_configs(
    settings: dict[str, Any], backend: str, options: dict[str, Any], seed: int
) -> dict[str, ModelConfig]:
    """The model(s) of ``settings["model"]`` by name, the QLSTM on ``backend`` with ``options``,
    initialised from ``seed``."""
    circuit = CircuitSpec(*(settings[field] for field in CIRCUIT_FIELDS))
    return {
        kind: ModelConfig(
            kind=kind,
            hidden_size=settings["hidden_size"],
            num_layers=settings["num_layers"],
            circuit=circuit,
            cell=settings["cell"],
            input_scaling=settings["input_scaling"],
            backend=backend,
            backend_options=options,
            dtype=settings["dtype"],
            seed=seed,
        )
        for kind in MODEL_CHOICES[settings["model"]]
    }


def train_config(settings: dict[str, Any], seed: int) -> TrainConfig:
    """The optimisation settings of ``settings``, shuffling seeded by ``seed``."""
    return TrainConfig(
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        lr=settings["lr"],
        seed=seed,
    )
