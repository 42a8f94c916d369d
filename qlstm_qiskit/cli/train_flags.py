"""The flags of ``qlstm-qiskit train`` (data, model, training and run groups): its parser's
defaults are ``None``, so that ``--resume`` and ``--config`` can tell which flags were typed;
the defaults are :data:`~qlstm_qiskit.forecasting.run_settings.TRAIN_DEFAULTS`."""

from __future__ import annotations

import argparse

from ..forecasting.datasets import DATASETS, FIT_ON, MISSING
from ..forecasting.run_settings import MODEL_CHOICES, TRAIN_DEFAULTS
from ..forecasting.schedules import LR_SCHEDULES, PLATEAU_FACTOR, PLATEAU_PATIENCE
from ..variants import CELLS
from .errors import PROG
from .flags import add_circuit_flags, add_threads


def _default(name: str) -> str:
    return f"(default: {TRAIN_DEFAULTS[name]})"


def add_train_flags(p: argparse.ArgumentParser) -> None:
    """Add train's flags (but not the device flags) to the parser ``p``."""
    p.add_argument(
        "--config",
        metavar="EXPERIMENT.toml",
        help="the settings of this experiment file: [data], [[layers]] (the model as a layer "
        "list, then a linear head) and [train]; the flags typed override it (see README)",
    )
    data = p.add_argument_group("data")
    data.add_argument(
        "--dataset", choices=list(DATASETS), help=f"built-in series {_default('dataset')}"
    )
    data.add_argument("--csv", metavar="PATH", help="train on columns of this CSV file instead")
    data.add_argument(
        "--column",
        metavar="NAME",
        help="the one CSV column, the input and the target: header name or 0-based index "
        "(with --csv: --column or --features; --column C = --features C --target C)",
    )
    data.add_argument(
        "--features",
        metavar="A,B,C",
        help="the CSV columns of each window (header names or 0-based indices, each once): "
        "a multivariate input",
    )
    data.add_argument(
        "--target",
        metavar="NAME",
        help="the CSV column to forecast; one of the --features or another column (required "
        "with several --features; one feature is its own target)",
    )
    data.add_argument(
        "--missing",
        choices=MISSING,
        help="what an empty cell of a CSV column does: error (name its row), drop the row, or "
        f"interpolate it linearly from its neighbours {_default('missing')}",
    )
    data.add_argument(
        "--n-points",
        type=int,
        metavar="N",
        help="resample a built-in series to N "
        "points over the same domain (default: the series' own length)",
    )
    data.add_argument(
        "--window", type=int, metavar="N", help=f"values per input window {_default('window')}"
    )
    data.add_argument(
        "--horizon",
        type=int,
        metavar="H",
        help="values forecast by each window, t+1..t+H, by a direct multi-output head "
        f"{_default('horizon')}",
    )
    data.add_argument(
        "--train-fraction",
        type=float,
        metavar="X",
        help=f"chronological training share of the windows {_default('train_fraction')}",
    )
    data.add_argument(
        "--scale-fit",
        choices=FIT_ON,
        help="fit each column's [-1, 1] scaling on the whole series (as the paper) or on the "
        "training part (default: train for --csv, series for a built-in --dataset)",
    )
    model = p.add_argument_group("model")
    model.add_argument(
        "--model",
        choices=list(MODEL_CHOICES),
        help="qlstm, the classical "
        f"torch.nn.LSTM baseline, or both side by side {_default('model')}",
    )
    model.add_argument(
        "--hidden-size", type=int, metavar="N", help=f"hidden features {_default('hidden_size')}"
    )
    model.add_argument(
        "--num-layers", type=int, metavar="N", help=f"stacked layers {_default('num_layers')}"
    )
    model.add_argument(
        "--bidirectional",
        action=argparse.BooleanOptionalAction,
        help="forward and reverse passes, their final states into the head "
        f"{_default('bidirectional')}",
    )
    model.add_argument(
        "--inversward",
        action=argparse.BooleanOptionalAction,
        help=f"read each window in inverse order (a reverse-time pass) {_default('inversward')}",
    )
    add_circuit_flags(model, with_defaults=False)
    model.add_argument(
        "--cell",
        choices=CELLS,
        help="lstm: four VQCs (the gates); chen: six, Chen et al. 2020's cell (two more VQCs map "
        f"sigma(o) tanh(c) to the state and the output) {_default('cell')}",
    )
    model.add_argument(
        "--input-scaling",
        action=argparse.BooleanOptionalAction,
        help="a trainable scale per gate and qubit of the encoded angles "
        f"{_default('input_scaling')}",
    )
    model.add_argument(
        "--backend",
        metavar="SPEC",
        help="backend to train on, NAME or "
        f"NAME:key=value,... (see `{PROG} backends`) {_default('backend')}",
    )
    model.add_argument(
        "--dtype", choices=("float32", "float64"), help=f"parameter dtype {_default('dtype')}"
    )
    train = p.add_argument_group("training")
    train.add_argument(
        "--epochs",
        type=int,
        metavar="N",
        help=f"epochs to train {_default('epochs')}; with --resume, the total to reach",
    )
    train.add_argument("--batch-size", type=int, metavar="N", help=_default("batch_size"))
    train.add_argument(
        "--lr", type=float, metavar="X", help=f"RMSprop learning rate {_default('lr')}"
    )
    train.add_argument(
        "--seed", type=int, metavar="N", help=f"seeds weights and shuffling {_default('seed')}"
    )
    train.add_argument(
        "--val-fraction",
        type=float,
        metavar="X",
        help="chronologically last share of the training windows that validates: the "
        "best-on-validation weights are kept beside the last ones and reported; 0 trains on "
        f"all training windows and reports the last epoch, the paper's protocol "
        f"{_default('val_fraction')}",
    )
    train.add_argument(
        "--lr-schedule",
        choices=LR_SCHEDULES,
        help=f"none (constant lr), cosine (CosineAnnealingLR over --epochs, to 0) or plateau "
        f"(ReduceLROnPlateau on the validation MSE: factor {PLATEAU_FACTOR}, patience "
        f"{PLATEAU_PATIENCE}) {_default('lr_schedule')}",
    )
    train.add_argument(
        "--patience",
        type=int,
        metavar="N",
        help="early stopping: a model stops after N epochs without a lower validation MSE "
        "(default: off)",
    )
    run = p.add_argument_group("run")
    run.add_argument(
        "--run-dir",
        metavar="DIR",
        help="where to write the run (default: runs/<dataset>-<model>-<date>-<time>)",
    )
    run.add_argument(
        "--resume",
        metavar="DIR",
        help="continue the interrupted run in DIR from "
        "its last checkpoint, with its saved settings (only --epochs may change)",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_threads(run)
