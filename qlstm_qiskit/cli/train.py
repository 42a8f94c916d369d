"""``qlstm-qiskit train``: a forecaster on a built-in series or CSV columns (one or several,
one or several steps ahead), with checkpoints, ``--resume``, metrics and plots."""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..forecasting.backend_specs import format_backend, parse_backend_spec
from ..forecasting.datasets import DATASETS
from ..forecasting.experiment_config import (
    CONFIG_FILE,
    QUANTUM_SETTINGS,
    naming_the_file,
    read_experiment_config,
    read_settings,
    resolve_settings,
    write_experiment_config,
)
from ..forecasting.inference import preview_work
from ..forecasting.run_settings import (
    TRAIN_DEFAULTS,
    model_configs,
    train_config,
    training_series,
)
from ..forecasting.schedules import check_schedule_length
from ..forecasting.training import CHECKPOINT, Run
from ..locks import hold
from .device_flags import (
    add_device_flags,
    closing_devices,
    confirm_or_preview,
    is_device,
    job_summary,
)
from .errors import PROG, CommandError
from .guards import check_output_dir, check_positive, check_seed_flag
from .specs import checked_backend
from .tables import format_steps
from .train_flags import add_train_flags

# train's defaults are TRAIN_DEFAULTS (forecasting.run_settings, shared with sweep); the parser's
# defaults are None so that ``--resume`` can tell what was given.
_RESUMABLE = ("epochs",)  # what --resume may change (besides --threads and --no-progress)


def add_train(commands) -> None:
    """The ``train`` subcommand on the subparsers ``commands``."""
    p = commands.add_parser(
        "train",
        help="train a forecaster (QLSTM, classical LSTM or both)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a forecaster with the protocol of Chen et al. 2020: a sliding window "
        "of values predicts the next one (or, with --features and --horizon, a window of rows "
        "of several columns predicts the target's next H values), every column is "
        "MinMax-scaled to [-1, 1], the first 67% of the windows train and the rest test; "
        "RMSprop (alpha 0.99, eps 1e-8) on the MSE. By default the last 20% of the training "
        "windows validate and the best-on-validation weights are kept beside the last ones; "
        "--val-fraction 0 is the paper's protocol (all training windows, the last epoch "
        "reported). Writes config.toml (the resolved settings), checkpoint.pt after every "
        "epoch, metrics.json, metrics.csv, loss.png and prediction.png into the run directory.",
        epilog="datasets:\n"
        + "\n".join(f"  {name:22s}{text}" for name, (_f, text) in DATASETS.items()),
    )
    add_train_flags(p)
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
        for name in ("config", "shots", "execution", "run_name", "ledger", "dry_run")
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
    for scheduler in probe.schedulers.values():
        check_schedule_length(f"--epochs {epochs}", scheduler, epochs)
    confirm_or_preview(args, probe.models.values(), lambda: _train_cost(probe, epochs))
    run = Run.load(run_dir)
    if "epochs" in given and (run_dir / CONFIG_FILE).is_file():  # the epochs it now trains to
        _write_config(run_dir, {**read_settings(run_dir / CONFIG_FILE), "epochs": epochs})
    if run.stopped_early:
        print(f"{run_dir} stopped early after epoch {run.epoch}; it trains no further")
    else:
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
    config = read_experiment_config(args.config) if args.config else None
    resolved = resolve_settings(given, config)
    settings, name = resolved.settings, resolved.name
    quantum = [name(key) for key in QUANTUM_SETTINGS if key in resolved.given]
    if settings["model"] == "lstm" and quantum:
        raise CommandError(
            f"{name('model')} lstm trains the classical LSTM only; {', '.join(quantum)} would "
            "be ignored (use --model qlstm or both)"
        )
    series, data_config = training_series(settings, resolved.given, name)
    run_dir = (
        Path(args.run_dir)
        if args.run_dir
        else _new_run_dir(data_config["dataset"], settings["model"])
    )
    typed_spec = "backend" in given or "backend" not in resolved.given  # a file's spec: flags win
    backend, options = checked_backend(
        settings["backend"] if typed_spec else parse_backend_spec(settings["backend"]),
        args,
        run_name=run_dir.name,
        ledger=run_dir / "ledger",
    )
    with naming_the_file(config):
        models = model_configs(settings, backend, options, settings["seed"])
        train = train_config(settings, settings["seed"])
    if run_dir.is_dir() and not args.dry_run:  # held at once where that creates nothing
        held.enter_context(hold(run_dir, "run directory"))
    _check_no_run(run_dir)
    if is_device(backend):
        with naming_the_file(config):
            probe = Run(data_config, series, models, train)  # builds models, submits nothing
        if not confirm_or_preview(
            args, probe.models.values(), lambda: _train_cost(probe, train.epochs, initial=True)
        ):
            return None
    held.enter_context(hold(run_dir, "run directory"))  # creates it; re-entrant if held
    _check_no_run(run_dir)  # made by another process meanwhile
    with naming_the_file(config):
        run = Run.create(data_config, series, models, train)
    settings = {**settings, "backend": _backend_setting(settings["backend"], args)}
    if settings["csv"] is not None:
        settings["csv"] = str(Path(settings["csv"]).resolve())
    _write_config(run_dir, settings)
    shape = f"{run.data.window}"
    if run.data.n_features > 1:
        shape += f" rows of {run.data.n_features} features"
    if run.data.horizon > 1:
        shape += f" forecasting {run.data.horizon} steps"
    validation = f", {len(run.x_val)} validation" if run.has_validation else ""
    print(
        f"training {' and '.join(run.models)} on {data_config['dataset']}: "
        f"{len(run.x_fit)} training{validation} and {len(run.data.x_test)} test windows of "
        f"{shape}; {train.epochs} epochs; run directory {run_dir}"
    )
    return run, run_dir, train.epochs


def _write_config(run_dir: Path, settings: dict[str, Any]) -> None:
    """Write the run's resolved ``settings`` as ``RUN_DIR/config.toml``, atomically."""
    comment = (
        f"The resolved settings of the run {run_dir.name}: `{PROG} train --config` on this "
        "file trains it again."
    )
    write_experiment_config(run_dir / CONFIG_FILE, settings, comment)


def _backend_setting(spec: str, args: argparse.Namespace) -> str:
    """The backend ``spec`` with the device flags that change what runs (``--shots``,
    ``--execution``) folded in, as an experiment file records it (a run's name and ledger are
    its own, not a setting)."""
    extra = {key: getattr(args, key) for key in ("shots", "execution") if getattr(args, key)}
    if not extra:
        return spec
    backend, options = parse_backend_spec(spec)
    return format_backend(backend, {**options, **extra})


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

    def one_epoch():
        run.train_epoch("qlstm")
        run.test_mse("qlstm")
        if run.has_validation:
            run.validation_mse("qlstm")

    epoch = preview_work(model, one_epoch)
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
    horizon = run.data.horizon
    for name, history in run.history.items():
        final = history["test_mse"][-1] if history["test_mse"] else history["initial_test_mse"]
        train = f", train MSE {history['train_mse'][-1]:.6f}" if history["train_mse"] else ""
        epochs = len(history["test_mse"])
        stop = " (stopped early)" if name in run.stopped else ""
        print(
            f"{name}: test MSE {history['initial_test_mse']:.6f} (untrained) -> {final:.6f} "
            f"after {epochs} epochs{stop}{train}"
            + (f" (means over the {horizon} steps)" if horizon > 1 else "")
        )
        if horizon > 1 and history.get("test_per_step"):
            print(format_steps(history["test_per_step"]))
        if name in run.best:
            best = run.best[name]
            print(
                f"{name}: best on validation: epoch {best.epoch}, validation MSE "
                f"{best.validation_mse:.6f}, test MSE {best.test_mse:.6f}"
            )
    print(f"training time {run.seconds:.1f} s")
    print(f"run directory: {run_dir}")
    print(f"  checkpoint:  {run_dir / CHECKPOINT}")
    print(f"  metrics:     {run_dir / 'metrics.json'}, {run_dir / 'metrics.csv'}")
    print(f"  plots:       {loss_png}, {prediction_png}")


def _all_predictions(run: Run, batch_size: int = 256) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Targets ``(N, H)`` of all ``N`` windows (training then test) and every model's
    predictions ``{name: (N, H)}``, in the target's own units."""
    x = torch.cat([run.data.x_train, run.data.x_test])
    y = torch.cat([run.data.y_train, run.data.y_test])
    scaler = run.data.scaler
    truth = scaler.inverse_transform(y.numpy())
    predictions = {
        name: scaler.inverse_transform(model.predict(x, batch_size).double().numpy())
        for name, model in run.models.items()
    }
    return truth, predictions
