"""``qlstm-qiskit train``: a forecaster on a built-in series or a CSV column, with checkpoints,
``--resume``, metrics and plots."""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..forecasting.datasets import DATASETS, FIT_ON, MISSING
from ..forecasting.inference import preview_work
from ..forecasting.run_settings import (
    MODEL_CHOICES,
    TRAIN_DEFAULTS,
    model_configs,
    train_config,
    training_series,
)
from ..forecasting.training import CHECKPOINT, Run
from ..locks import hold
from ..variants import CELLS
from .device_flags import (
    add_device_flags,
    closing_devices,
    confirm_or_preview,
    is_device,
    job_summary,
)
from .errors import PROG, CommandError
from .flags import CIRCUIT_FIELDS, add_circuit_flags, add_threads
from .guards import check_output_dir, check_positive, check_seed_flag
from .specs import checked_backend

# train's defaults are TRAIN_DEFAULTS (forecasting.run_settings, shared with sweep); the parser's
# defaults are None so that ``--resume`` can tell what was given.
_RESUMABLE = ("epochs",)  # what --resume may change (besides --threads and --no-progress)


def _default(name: str) -> str:
    return f"(default: {TRAIN_DEFAULTS[name]})"


def add_train(commands) -> None:
    """The ``train`` subcommand on the subparsers ``commands``."""
    p = commands.add_parser(
        "train",
        help="train a forecaster (QLSTM, classical LSTM or both)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a next-value forecaster with the protocol of Chen et al. 2020: a "
        "sliding window of values predicts the next one, the series is MinMax-scaled to "
        "[-1, 1], the first 67% of the windows train and the rest test; RMSprop (alpha 0.99, "
        "eps 1e-8) on the MSE. Writes checkpoint.pt after every epoch, metrics.json, "
        "metrics.csv, loss.png and prediction.png into the run directory.",
        epilog="datasets:\n"
        + "\n".join(f"  {name:22s}{text}" for name, (_f, text) in DATASETS.items()),
    )
    data = p.add_argument_group("data")
    data.add_argument(
        "--dataset", choices=list(DATASETS), help=f"built-in series {_default('dataset')}"
    )
    data.add_argument("--csv", metavar="PATH", help="train on a column of this CSV file instead")
    data.add_argument(
        "--column",
        metavar="NAME",
        help="the CSV column: header name or 0-based index (required with --csv)",
    )
    data.add_argument(
        "--missing",
        choices=MISSING,
        help="what an empty cell of the CSV column does: error (name its row), drop the row, or "
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
        "--train-fraction",
        type=float,
        metavar="X",
        help=f"chronological training share of the windows {_default('train_fraction')}",
    )
    data.add_argument(
        "--scale-fit",
        choices=FIT_ON,
        help="fit the [-1, 1] scaling on the whole "
        f"series (as the paper) or on the training part {_default('scale_fit')}",
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
    add_circuit_flags(model, with_defaults=False)
    model.add_argument(
        "--cell",
        choices=CELLS,
        help="lstm: four VQCs (the gates); chen: six, Chen et al. 2020's cell (two more VQCs map "
        f"sigma(o) tanh(c) to the state and the output) {_default('cell')}",
    )
    model.add_argument(
        "--input-scaling",
        action="store_true",
        default=None,
        help="a trainable scale per gate and qubit of the encoded angles (default: off)",
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
    add_device_flags(p, "RUN_DIR/ledger")
    p.set_defaults(handler=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    """Train a new run or resume one; 130 when interrupted (Ctrl-C), after the last checkpoint."""
    given = {
        name: getattr(args, name) for name in TRAIN_DEFAULTS if getattr(args, name) is not None
    }
    if "lr" in given:
        check_positive("--lr", given["lr"])
    if "seed" in given:
        check_seed_flag("--seed", given["seed"])
    with ExitStack() as held:  # the run directory's lock, from before the run is read or made
        started = _resumed_run(args, given, held) if args.resume else _new_run(args, given, held)
        if started is None:  # --dry-run: the cost preview is printed, nothing is trained
            return 0
        return _train(args, *started)


def _train(args: argparse.Namespace, run: Run, run_dir: Path, epochs: int) -> int:
    """Train ``run`` up to ``epochs`` in ``run_dir``, report it; 130 when interrupted."""
    if epochs < run.epoch:
        raise CommandError(f"--epochs {epochs} is below the {run.epoch} epochs the run has done")
    with closing_devices(run.models.values()):
        try:
            run.fit(run_dir, epochs, progress=not args.no_progress)
        except KeyboardInterrupt:
            print(
                f"\ninterrupted after epoch {run.epoch}; continue with: "
                f"{PROG} train --resume {run_dir}",
                file=sys.stderr,
            )
            return 130
        _report_run(run, run_dir)
        summary = job_summary(run.models.get("qlstm", run.models[next(iter(run.models))]))
    if summary:
        print(summary)
    return 0


def _resumed_run(
    args: argparse.Namespace, given: dict[str, Any], held: ExitStack
) -> tuple[Run, Path, int]:
    """The run of ``--resume DIR``, its directory (held in ``held``) and the epochs to reach."""
    if args.run_dir:
        raise CommandError("--resume DIR is the run directory; do not also pass --run-dir")
    fixed = sorted(set(given) - set(_RESUMABLE))
    fixed += [
        name
        for name in ("shots", "execution", "run_name", "ledger", "dry_run")
        if getattr(args, name) not in (None, False)
    ]
    if fixed:
        flags = ", ".join("--" + name.replace("_", "-") for name in fixed)
        raise CommandError(
            f"--resume continues a run with its saved settings; only --epochs "
            f"may be given, got {flags}"
        )
    run_dir = Path(args.resume)
    if run_dir.exists() and not run_dir.is_dir():
        raise CommandError(f"--resume {run_dir}: expected a run directory, got a file")
    if run_dir.is_dir():
        held.enter_context(hold(run_dir, "run directory"))
    probe = Run.load(run_dir)  # priced on a copy: the preview trains it on zeros
    epochs = given.get("epochs", probe.train_config.epochs)
    confirm_or_preview(args, probe.models.values(), lambda: _train_cost(probe, epochs))
    run = Run.load(run_dir)
    print(f"resuming {run_dir} after epoch {run.epoch}")
    return run, run_dir, epochs


def _new_run(
    args: argparse.Namespace, given: dict[str, Any], held: ExitStack
) -> tuple[Run, Path, int] | None:
    """A new run from the flags ``given`` over :data:`TRAIN_DEFAULTS`, its directory (held in
    ``held`` from before it is checked to the end) and the epochs to reach; None after a
    ``--dry-run``."""
    if args.run_dir:
        check_output_dir(Path(args.run_dir), "--run-dir")
    settings = {**TRAIN_DEFAULTS, **given}
    quantum_flags = sorted(set(given) & {"backend", "cell", "input_scaling", *CIRCUIT_FIELDS})
    if settings["model"] == "lstm" and quantum_flags:
        flags = ", ".join("--" + name.replace("_", "-") for name in quantum_flags)
        raise CommandError(
            f"--model lstm trains the classical LSTM only; {flags} would be "
            "ignored (use --model qlstm or both)"
        )
    series, data_config = training_series(settings, given)
    run_dir = (
        Path(args.run_dir)
        if args.run_dir
        else _new_run_dir(data_config["dataset"], settings["model"])
    )
    backend, options = checked_backend(
        settings["backend"], args, run_name=run_dir.name, ledger=run_dir / "ledger"
    )
    models = model_configs(settings, backend, options, settings["seed"])
    train = train_config(settings, settings["seed"])
    if run_dir.is_dir() and not args.dry_run:  # held at once where that creates nothing
        held.enter_context(hold(run_dir, "run directory"))
    _check_no_run(run_dir)
    if is_device(backend):
        probe = Run(data_config, series, models, train)  # builds models, submits nothing
        if not confirm_or_preview(
            args, probe.models.values(), lambda: _train_cost(probe, train.epochs, initial=True)
        ):
            return None
    held.enter_context(hold(run_dir, "run directory"))  # creates it; re-entrant if held
    _check_no_run(run_dir)  # made by another process meanwhile
    run = Run.create(data_config, series, models, train)
    print(
        f"training {' and '.join(run.models)} on {data_config['dataset']}: "
        f"{len(run.data.x_train)} training and {len(run.data.x_test)} test windows of "
        f"{run.data.window}; {train.epochs} epochs; run directory {run_dir}"
    )
    return run, run_dir, train.epochs


def _check_no_run(run_dir: Path) -> None:
    if (run_dir / CHECKPOINT).exists():
        raise CommandError(
            f"{run_dir} already holds a run; continue it with --resume "
            f"{run_dir} or choose another --run-dir"
        )


def _train_cost(run: Run, epochs: int, initial: bool = False):
    """What training ``run`` up to ``epochs`` submits: the untrained test MSE (``initial``), each
    remaining epoch (training batches with their gradient rows, then the test MSE) and the final
    predictions of the plots; measured on the run's own data with zero-valued answers."""
    model = run.models["qlstm"]
    cost = preview_work(model, lambda: run.test_mse("qlstm")) if initial else None
    epoch = preview_work(model, lambda: (run.train_epoch("qlstm"), run.test_mse("qlstm")))
    total = epoch.scaled(max(epochs - run.epoch, 0))
    if cost is not None:
        total.add(cost.scaled(1))
    total.add(preview_work(model, lambda: _all_predictions(run)))
    return total


def _new_run_dir(dataset: str, model: str) -> Path:
    """``runs/<dataset>-<model>-<date>-<time>``, with ``-2``, ``-3``, ... if it exists."""
    stem = Path("runs") / f"{dataset}-{model}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir, count = stem, 1
    while run_dir.exists():
        count += 1
        run_dir = stem.with_name(f"{stem.name}-{count}")
    return run_dir


def _report_run(run: Run, run_dir: Path) -> None:
    """Plot the loss curves and predictions into ``run_dir`` and print the losses and files."""
    from ..forecasting.plots import plot_losses, plot_predictions

    dataset = run.data_config["dataset"]
    loss_png = plot_losses(run.history, run_dir / "loss.png", f"{dataset}: loss curves")
    truth, predictions = _all_predictions(run)
    prediction_png = plot_predictions(
        truth,
        predictions,
        run.data.split,
        run_dir / "prediction.png",
        f"{dataset}: prediction vs truth (test split shaded)",
    )
    for name, history in run.history.items():
        final = history["test_mse"][-1] if history["test_mse"] else history["initial_test_mse"]
        train = f", train MSE {history['train_mse'][-1]:.6f}" if history["train_mse"] else ""
        print(
            f"{name}: test MSE {history['initial_test_mse']:.6f} (untrained) -> {final:.6f} "
            f"after {run.epoch} epochs{train}"
        )
    print(f"training time {run.seconds:.1f} s")
    print(f"run directory: {run_dir}")
    print(f"  checkpoint:  {run_dir / CHECKPOINT}")
    print(f"  metrics:     {run_dir / 'metrics.json'}, {run_dir / 'metrics.csv'}")
    print(f"  plots:       {loss_png}, {prediction_png}")


def _all_predictions(run: Run, batch_size: int = 256) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Targets ``(N,)`` of all ``N`` windows (training then test) and every model's predictions
    ``{name: (N,)}``, in the series' own units."""
    x = torch.cat([run.data.x_train, run.data.x_test])
    y = torch.cat([run.data.y_train, run.data.y_test])
    scaler = run.data.scaler
    truth = scaler.inverse_transform(y[:, 0].numpy())
    predictions = {
        name: scaler.inverse_transform(model.predict(x, batch_size)[:, 0].double().numpy())
        for name, model in run.models.items()
    }
    return truth, predictions
