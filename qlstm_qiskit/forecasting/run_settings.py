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

from ..checks import check_int
from ..circuits import CircuitSpec
from .datasets import TRAIN_FRACTION, WINDOW, generate, load_csv_column, load_csv_columns
from .models import ModelConfig
from .selection import VAL_FRACTION, check_selection
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
    "features": None,
    "target": None,
    "missing": "error",
    "n_points": None,
    "window": WINDOW,
    "horizon": 1,
    "train_fraction": TRAIN_FRACTION,
    "scale_fit": None,
    "model": "qlstm",
    "hidden_size": 5,
    "num_layers": 1,
    "bidirectional": False,
    "inversward": False,
    **asdict(CircuitSpec()),
    "cell": "lstm",  # the cell variant (QLSTM's cell= and input_scaling=)
    "input_scaling": False,
    "backend": "statevector",
    "dtype": "float64",
    "epochs": 100,
    "batch_size": 10,
    "lr": 0.01,
    "seed": 0,
    "val_fraction": VAL_FRACTION,
    "lr_schedule": "none",
    "patience": None,
}


#: what ``scale_fit: None`` resolves to, per data source
SCALE_FIT_DEFAULTS = {"csv": "train", "dataset": "series"}


def flag(name: str) -> str:
    """A setting's command-line flag: ``n_points`` -> ``--n-points``."""
    return "--" + name.replace("_", "-")


def training_series(
    settings: dict[str, Any], given, key: Callable[[str], str] = flag
) -> tuple[np.ndarray, dict[str, Any]]:
    """The series of ``csv`` with ``column`` or ``features``/``target``, or of
    ``dataset``/``n_points``, in ``settings`` (``given``: the names the user set), and the run's
    ``data_config`` (window, horizon, split, scaling and where the data came from).

    The series is ``(T,)`` for one column (a built-in dataset, ``column``), and ``(T, C)`` for
    ``features`` (in order, then ``target`` if it is not one of them; ``data_config`` records
    both). ``scale_fit`` ``None`` resolves per data source (:data:`SCALE_FIT_DEFAULTS`)."""
    horizon = settings["horizon"]
    try:
        check_int("training_series", "horizon", horizon, 1)
    except (TypeError, ValueError):
        raise ValueError(f"{key('horizon')} must be an int >= 1, got {horizon!r}") from None
    source = "dataset" if settings["csv"] is None else "csv"
    data_config = {
        "window": settings["window"],
        "horizon": horizon,
        "train_fraction": settings["train_fraction"],
        "fit_on": settings["scale_fit"] or SCALE_FIT_DEFAULTS[source],
    }
    if source == "csv":
        if "dataset" in given or "n_points" in given:
            raise ValueError(
                f"{key('csv')} replaces {key('dataset')} and {key('n_points')}; give one data "
                "source"
            )
        features, target = csv_columns(settings, key)
        data_config["csv"] = str(settings["csv"])
        if features is None:
            series = load_csv_column(settings["csv"], target, missing=settings["missing"])
            data_config["column"] = target
        else:
            columns = features if target in features else [*features, target]
            series = load_csv_columns(settings["csv"], columns, missing=settings["missing"])
            data_config.update(features=features, target=target)
        data_config["dataset"] = f"{Path(settings['csv']).stem}.{target}"
        if settings["missing"] != "error":
            data_config["missing"] = settings["missing"]
    else:
        for name in ("column", "features", "target", "missing"):
            if name in given:
                raise ValueError(f"{key(name)} goes with {key('csv')}")
        series = generate(settings["dataset"], settings["n_points"])
        data_config.update(dataset=settings["dataset"], n_points=len(series))
    return series, data_config


def csv_columns(
    settings: dict[str, Any], key: Callable[[str], str] = flag
) -> tuple[list[str] | None, str]:
    """The feature columns (``None`` for the one-column form ``column``) and the target column
    of ``settings``, as names (or 0-based indices) of CSV columns.

    ``column`` is the one-column form of ``features`` and ``target``; ``features`` is a list or
    a comma-separated string of distinct names; with one feature ``target`` defaults to it,
    with several it is required; ``target`` without ``features`` is an error."""
    if settings["column"] is not None:
        clash = [key(name) for name in ("features", "target") if settings[name] is not None]
        if clash:
            raise ValueError(
                f"{key('column')} is the one-column form of {key('features')} and "
                f"{key('target')}; give {key('column')} or {' and '.join(clash)}, not both"
            )
        return None, str(settings["column"])
    if settings["features"] is None:
        if settings["target"] is not None:
            raise ValueError(
                f"{key('target')} goes with {key('features')} (the input columns); for one "
                f"column give {key('column')} NAME"
            )
        raise ValueError(
            f"{key('csv')} needs {key('column')} (a header name or 0-based index) or "
            f"{key('features')} (and {key('target')})"
        )
    raw = settings["features"]
    names = raw.split(",") if isinstance(raw, str) else list(raw)
    features = [str(name).strip() for name in names]
    if not features or not all(features):
        raise ValueError(
            f"{key('features')} must be comma-separated column names or 0-based indices, "
            f"none empty, got {raw!r}"
        )
    repeated = sorted({name for name in features if features.count(name) > 1})
    if repeated:
        raise ValueError(
            f"{key('features')} names each column once, got {', '.join(map(repr, repeated))} "
            "more than once"
        )
    if settings["target"] is None:
        if len(features) > 1:
            raise ValueError(
                f"{key('features')} names {len(features)} columns; {key('target')} must say "
                "which column to forecast (one of them or another column)"
            )
        return features, features[0]
    target = str(settings["target"]).strip()
    if not target:
        raise ValueError(f"{key('target')} must be a column name or 0-based index, got ''")
    return features, target


def model_configs(
    settings: dict[str, Any], backend: str, options: dict[str, Any], seed: int
) -> dict[str, ModelConfig]:
    """The model(s) of ``settings["model"]`` by name, the QLSTM on ``backend`` with ``options``,
    initialised from ``seed``; one input per feature column, one output per horizon step."""
    circuit = CircuitSpec(*(settings[field] for field in CIRCUIT_FIELDS))
    features = csv_columns(settings)[0] if settings["csv"] is not None else None
    input_size = 1 if features is None else len(features)
    return {
        kind: ModelConfig(
            kind=kind,
            hidden_size=settings["hidden_size"],
            num_layers=settings["num_layers"],
            bidirectional=settings["bidirectional"],
            inversward=settings["inversward"],
            circuit=circuit,
            cell=settings["cell"],
            input_scaling=settings["input_scaling"],
            backend=backend,
            backend_options=options,
            dtype=settings["dtype"],
            seed=seed,
            input_size=input_size,
            horizon=settings["horizon"],
        )
        for kind in MODEL_CHOICES[settings["model"]]
    }


def train_config(
    settings: dict[str, Any], seed: int, key: Callable[[str], str] = flag
) -> TrainConfig:
    """The optimisation settings of ``settings``, shuffling seeded by ``seed``; the validation,
    schedule and early-stopping settings are checked first, their errors named by ``key``."""
    selection = {name: settings[name] for name in ("val_fraction", "lr_schedule", "patience")}
    check_selection("", *selection.values(), key=key)
    return TrainConfig(
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        lr=settings["lr"],
        seed=seed,
        **selection,
    )
