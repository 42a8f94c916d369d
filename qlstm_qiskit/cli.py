"""The ``qlstm-qiskit`` command (also ``python -m qlstm_qiskit``).

Subcommands: ``train`` (a forecaster on a built-in series or a CSV column, with checkpoints,
``--resume``, metrics and plots), ``evaluate`` (a checkpoint's test MSE on several backends),
``predict`` (batch inference to CSV), ``backends`` (the names) and ``circuit`` (draw a gate
circuit). ``main(argv)`` returns the exit status: 0 on success, 2 for a bad command line
(argparse), 1 for any other user error (printed as ``qlstm-qiskit: error: ...``, no traceback).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from .backends import get_backend, list_backends
from .circuits import ENCODINGS, ENTANGLERS, MEASUREMENTS, ROTATIONS, CircuitSpec
from .forecasting.datasets import (DATASETS, FIT_ON, TRAIN_FRACTION, WINDOW, generate,
                                   load_csv_column, sliding_windows)
from .cell import GATES
from .qlstm import QLSTM
from .device_runs import (add_device_flags, closing_devices, confirm_or_preview, device_options,
                          is_device, job_summary, measure)
from .forecasting.inference import predict_dataset
from .forecasting.training import (CHECKPOINT, ModelConfig, Run, TrainConfig,
                                   check_storable_options, read_checkpoint)

PROG = "qlstm-qiskit"
MODEL_CHOICES = {"qlstm": ("qlstm",), "lstm": ("lstm",), "both": ("qlstm", "lstm")}

#: train's defaults; the parser's defaults are None so that ``--resume`` can tell what was given.
#: the gate-circuit flags, in CircuitSpec's field order, with their help.
_CIRCUIT_HELP = {
    "n_qubits": "qubits per gate circuit",
    "n_qlayers": "data re-uploading blocks per circuit",
    "depth": "variational layers per block",
    "encoding": "arctan: H, RY(arctan x), RZ(arctan x^2) per qubit; angle: RY(x)",
    "rotation": "trainable rotations per qubit: rot = RZ RY RZ, or one rx, ry or rz",
    "entangling": "CNOTs after each variational layer",
    "measure": "Pauli operator measured on every qubit",
}
_CIRCUIT_CHOICES = {"encoding": list(ENCODINGS), "rotation": list(ROTATIONS),
                    "entangling": list(ENTANGLERS), "measure": list(MEASUREMENTS)}
_CIRCUIT_FIELDS = tuple(_CIRCUIT_HELP)
TRAIN_DEFAULTS: dict[str, Any] = {
    "dataset": "damped_shm", "csv": None, "column": None, "n_points": None, "window": WINDOW,
    "train_fraction": TRAIN_FRACTION, "scale_fit": "series", "model": "qlstm", "hidden_size": 5,
    "num_layers": 1, **asdict(CircuitSpec()), "backend": "statevector",
    "dtype": "float64", "epochs": 100, "batch_size": 10, "lr": 0.01, "seed": 0,
}
_RESUMABLE = ("epochs",)  # what --resume may change (besides --threads and --no-progress)


class CommandError(ValueError):
    """A user error of the command line that argparse cannot see."""


# ---- argument helpers ---------------------------------------------------------------------------
def parse_value(text: str) -> Any:
    """``"3"`` -> 3, ``"0.5"`` -> 0.5, ``"true"``/``"false"`` -> bool, ``"none"`` -> None,
    anything else -> the string."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def parse_backend_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"name"`` or ``"name:key=value,key=value"`` -> ``(name, options)``."""
    name, _, rest = spec.partition(":")
    options: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise CommandError(f"backend {spec!r}: options must be key=value, got {item!r}")
        options[key.strip()] = parse_value(value.strip())
    if not name.strip():
        raise CommandError(f"backend {spec!r}: the name is missing")
    return name.strip(), check_storable_options("backend", options)


def checked_backend(spec: str | tuple[str, dict[str, Any]],
                    args: argparse.Namespace | None = None, *, run_name: str = "",
                    ledger: Path | None = None) -> tuple[str, dict[str, Any]]:
    """Parse ``spec`` (or take a ``(name, options)`` pair), add the device flags of ``args`` (see
    :mod:`qlstm_qiskit.device_runs`) and build the backend once, so that a bad name or option
    fails early."""
    name, options = parse_backend_spec(spec) if isinstance(spec, str) else spec
    if args is not None:
        options = device_options(args, name, options, run_name=run_name, ledger=ledger)
    get_backend(name, **options)
    return name, options


def format_backend(name: str, options: dict[str, Any]) -> str:
    return name + (":" + ",".join(f"{k}={v}" for k, v in options.items()) if options else "")


def default(name: str) -> str:
    return f"(default: {TRAIN_DEFAULTS[name]})"


# ---- the parser ---------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Quantum LSTM (Qiskit circuits in PyTorch): train forecasters, "
        "evaluate them on simulators and noisy backends, predict, list backends, draw circuits.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_train(commands)
    _add_evaluate(commands)
    _add_predict(commands)
    listing = commands.add_parser("backends", help="list the backend names with a description",
                                  description="List the backend names with a description.")
    listing.set_defaults(handler=cmd_backends)
    _add_circuit(commands)
    return parser


def _version() -> str:
    from . import __version__

    return __version__


def _add_train(commands) -> None:
    p = commands.add_parser(
        "train", help="train a forecaster (QLSTM, classical LSTM or both)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a next-value forecaster with the protocol of Chen et al. 2020: a "
        "sliding window of values predicts the next one, the series is MinMax-scaled to "
        "[-1, 1], the first 67% of the windows train and the rest test; RMSprop (alpha 0.99, "
        "eps 1e-8) on the MSE. Writes checkpoint.pt after every epoch, metrics.json, "
        "metrics.csv, loss.png and prediction.png into the run directory.",
        epilog="datasets:\n" + "\n".join(f"  {name:22s}{text}"
                                         for name, (_f, text) in DATASETS.items()))
    data = p.add_argument_group("data")
    data.add_argument("--dataset", choices=list(DATASETS), help=f"built-in series "
                      f"{default('dataset')}")
    data.add_argument("--csv", metavar="PATH", help="train on a column of this CSV file instead")
    data.add_argument("--column", metavar="NAME", help="the CSV column: header name or 0-based "
                      "index (required with --csv)")
    data.add_argument("--n-points", type=int, metavar="N", help="resample a built-in series to N "
                      "points over the same domain (default: the series' own length)")
    data.add_argument("--window", type=int, metavar="N",
                      help=f"values per input window {default('window')}")
    data.add_argument("--train-fraction", type=float, metavar="X",
                      help=f"chronological training share of the windows "
                      f"{default('train_fraction')}")
    data.add_argument("--scale-fit", choices=FIT_ON, help="fit the [-1, 1] scaling on the whole "
                      f"series (as the paper) or on the training part {default('scale_fit')}")
    model = p.add_argument_group("model")
    model.add_argument("--model", choices=list(MODEL_CHOICES), help="qlstm, the classical "
                       f"torch.nn.LSTM baseline, or both side by side {default('model')}")
    model.add_argument("--hidden-size", type=int, metavar="N",
                       help=f"hidden features {default('hidden_size')}")
    model.add_argument("--num-layers", type=int, metavar="N",
                       help=f"stacked layers {default('num_layers')}")
    _add_circuit_flags(model, with_defaults=False)
    model.add_argument("--backend", metavar="SPEC", help="backend to train on, NAME or "
                       f"NAME:key=value,... (see `{PROG} backends`) {default('backend')}")
    model.add_argument("--dtype", choices=("float32", "float64"),
                       help=f"parameter dtype {default('dtype')}")
    train = p.add_argument_group("training")
    train.add_argument("--epochs", type=int, metavar="N",
                       help=f"epochs to train {default('epochs')}; with --resume, the total "
                       "to reach")
    train.add_argument("--batch-size", type=int, metavar="N", help=default("batch_size"))
    train.add_argument("--lr", type=float, metavar="X",
                       help=f"RMSprop learning rate {default('lr')}")
    train.add_argument("--seed", type=int, metavar="N", help="seeds weights and shuffling "
                       f"{default('seed')}")
    run = p.add_argument_group("run")
    run.add_argument("--run-dir", metavar="DIR", help="where to write the run (default: "
                     "runs/<dataset>-<model>-<date>-<time>)")
    run.add_argument("--resume", metavar="DIR", help="continue the interrupted run in DIR from "
                     "its last checkpoint, with its saved settings (only --epochs may change)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_threads(run)
    add_device_flags(p, "RUN_DIR/ledger")
    p.set_defaults(handler=cmd_train)


def _add_circuit_flags(parser, with_defaults: bool) -> None:
    """The gate-circuit flags; with ``with_defaults=False`` unset flags stay None (train)."""
    for field, text in _CIRCUIT_HELP.items():
        value = getattr(CircuitSpec(), field)
        kind = ({"choices": _CIRCUIT_CHOICES[field]} if field in _CIRCUIT_CHOICES
                else {"type": int, "metavar": "N"})
        parser.add_argument("--" + field.replace("_", "-"),
                            default=value if with_defaults else None,
                            help=f"{text} (default: {value})", **kind)


def _add_threads(parser) -> None:
    parser.add_argument("--threads", type=int, default=1, metavar="N",
                        help="torch CPU threads (default: 1; "
                        "the models are small, more threads mostly add overhead)")


def _add_evaluate(commands) -> None:
    p = commands.add_parser(
        "evaluate", help="test MSE of a checkpoint on one or more backends",
        description="Load a checkpoint and compute the test MSE of its quantum model(s) on each "
        "backend (same weights); a classical LSTM in the checkpoint is listed once as a "
        "reference. Writes evaluate.csv, evaluate.json and evaluate.png.")
    _add_inference_flags(p)
    p.add_argument("--backends", nargs="+", metavar="SPEC", help="backends as NAME or "
                   "NAME:key=value,... (default: the one the model was trained on)")
    p.add_argument("--out", metavar="DIR", help="where to write (default: the checkpoint's "
                   "directory)")
    add_device_flags(p, "OUT/evaluate-ledger")
    p.set_defaults(handler=cmd_evaluate)


def _add_inference_flags(parser) -> None:
    """What evaluate and predict share: the checkpoint, the batch size and the threads."""
    parser.add_argument("checkpoint", help="checkpoint.pt, or the run directory holding it")
    parser.add_argument("--batch-size", type=int, metavar="N",
                        help="windows per forward pass (default: 256; on a device backend all "
                        "windows in one batch, so one job per time step)")
    _add_threads(parser)


def _add_predict(commands) -> None:
    p = commands.add_parser(
        "predict", help="batch inference to CSV",
        description="Predict the next value after every window of a series with a checkpoint's "
        "model(s), scaled with the run's scaler, on a backend. The series is the run's own "
        "(default), a built-in dataset, or a CSV column. Writes a CSV with the index of the "
        "predicted value, the true value and one prediction column per model.")
    _add_inference_flags(p)
    p.add_argument("--backend", metavar="SPEC", help="NAME or NAME:key=value,... (default: the "
                   "one the model was trained on)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--input", metavar="CSV", help="a CSV file (with --column)")
    source.add_argument("--dataset", choices=list(DATASETS), help="a built-in series")
    p.add_argument("--column", metavar="NAME", help="the CSV column: header name or 0-based index")
    p.add_argument("--n-points", type=int, metavar="N", help="length of a built-in series")
    p.add_argument("--out", metavar="CSV", default="predictions.csv",
                   help="output file (default: predictions.csv)")
    add_device_flags(p, "OUT_STEM-ledger next to the output")
    p.set_defaults(handler=cmd_predict)


def _add_circuit(commands) -> None:
    p = commands.add_parser(
        "circuit", help="draw a gate circuit as text and PNG",
        description="Draw one of the four gate circuits of a QLSTM layout: print it and write "
        "circuit_<gate>.txt and circuit_<gate>.png.")
    p.add_argument("--gate", choices=GATES, default="input",
                   help="which of the four LSTM gates (default: input)")
    _add_circuit_flags(p, with_defaults=True)
    p.add_argument("--out", metavar="DIR", default=".", help="where to write (default: .)")
    p.set_defaults(handler=cmd_circuit)


# ---- train --------------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    given = {name: getattr(args, name) for name in TRAIN_DEFAULTS
             if getattr(args, name) is not None}
    if args.resume:
        if args.run_dir:
            raise CommandError("--resume DIR is the run directory; do not also pass --run-dir")
        fixed = sorted(set(given) - set(_RESUMABLE))
        fixed += [name for name in ("shots", "execution", "run_name", "ledger", "dry_run")
                  if getattr(args, name) not in (None, False)]
        if fixed:
            flags = ", ".join("--" + name.replace("_", "-") for name in fixed)
            raise CommandError(f"--resume continues a run with its saved settings; only --epochs "
                               f"may be given, got {flags}")
        run_dir = Path(args.resume)
        probe = Run.load(run_dir)  # priced on a copy: the preview trains it on zeros
        epochs = given.get("epochs", probe.train_config.epochs)
        confirm_or_preview(args, probe.models.values(), lambda: _train_cost(probe, epochs))
        run = Run.load(run_dir)
        print(f"resuming {run_dir} after epoch {run.epoch}")
    else:
        settings = {**TRAIN_DEFAULTS, **given}
        quantum_flags = sorted(set(given) & {"backend", *_CIRCUIT_FIELDS})
        if settings["model"] == "lstm" and quantum_flags:
            flags = ", ".join("--" + name.replace("_", "-") for name in quantum_flags)
            raise CommandError(f"--model lstm trains the classical LSTM only; {flags} would be "
                               "ignored (use --model qlstm or both)")
        series, data_config = _training_series(settings, given)
        run_dir = Path(args.run_dir) if args.run_dir else _new_run_dir(
            data_config["dataset"], settings["model"])
        backend, options = checked_backend(settings["backend"], args, run_name=run_dir.name,
                                           ledger=run_dir / "ledger")
        circuit = CircuitSpec(*(settings[field] for field in _CIRCUIT_FIELDS))
        models = {kind: ModelConfig(kind=kind, hidden_size=settings["hidden_size"],
                                    num_layers=settings["num_layers"], circuit=circuit,
                                    backend=backend, backend_options=options,
                                    dtype=settings["dtype"], seed=settings["seed"])
                  for kind in MODEL_CHOICES[settings["model"]]}
        train = TrainConfig(epochs=settings["epochs"], batch_size=settings["batch_size"],
                            lr=settings["lr"], seed=settings["seed"])
        if (run_dir / CHECKPOINT).exists():
            raise CommandError(f"{run_dir} already holds a run; continue it with --resume "
                               f"{run_dir} or choose another --run-dir")
        if is_device(backend):
            probe = Run(data_config, series, models, train)  # builds models, submits nothing
            if not confirm_or_preview(args, probe.models.values(),
                                      lambda: _train_cost(probe, train.epochs, initial=True)):
                return 0
        run = Run.create(data_config, series, models, train)
        epochs = train.epochs
        print(f"training {' and '.join(run.models)} on {data_config['dataset']}: "
              f"{len(run.data.x_train)} training and {len(run.data.x_test)} test windows of "
              f"{run.data.window}; {epochs} epochs; run directory {run_dir}")
    _check_epochs(epochs, run.epoch)
    with closing_devices(run.models.values()):
        try:
            run.fit(run_dir, epochs, progress=not args.no_progress)
        except KeyboardInterrupt:
            print(f"\ninterrupted after epoch {run.epoch}; continue with: "
                  f"{PROG} train --resume {run_dir}", file=sys.stderr)
            return 130
        _report_run(run, run_dir)
        summary = job_summary(run.models.get("qlstm", run.models[next(iter(run.models))]))
    if summary:
        print(summary)
    return 0


def _train_cost(run, epochs: int, initial: bool = False):
    """What training ``run`` up to ``epochs`` submits: the untrained test MSE (``initial``), each
    remaining epoch (training batches with their gradient rows, then the test MSE) and the final
    predictions of the plots; measured on the run's own data with zero-valued answers."""
    model = run.models["qlstm"]
    cost = measure(model, lambda: run.test_mse("qlstm")) if initial else None
    epoch = measure(model, lambda: (run.train_epoch("qlstm"), run.test_mse("qlstm")))
    total = epoch.scaled(max(epochs - run.epoch, 0))
    if cost is not None:
        total.add(cost.scaled(1))
    total.add(measure(model, lambda: _all_predictions(run)))
    return total


def _check_epochs(epochs: int, done: int) -> None:
    if epochs < done:
        raise CommandError(f"--epochs {epochs} is below the {done} epochs the run has done")


def _training_series(settings: dict[str, Any], given: dict[str, Any]):
    data_config = {"window": settings["window"], "train_fraction": settings["train_fraction"],
                   "fit_on": settings["scale_fit"]}
    if settings["csv"] is not None:
        if "dataset" in given or "n_points" in given:
            raise CommandError("--csv replaces --dataset and --n-points; give one data source")
        if settings["column"] is None:
            raise CommandError("--csv needs --column (a header name or 0-based index)")
        series = load_csv_column(settings["csv"], settings["column"])
        label = f"{Path(settings['csv']).stem}.{settings['column']}"
        data_config.update(dataset=label, csv=str(settings["csv"]), column=settings["column"])
    else:
        if settings["column"] is not None:
            raise CommandError("--column goes with --csv")
        series = generate(settings["dataset"], settings["n_points"])
        data_config.update(dataset=settings["dataset"], n_points=len(series))
    return series, data_config


def _new_run_dir(dataset: str, model: str) -> Path:
    stem = Path("runs") / f"{dataset}-{model}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir, count = stem, 1
    while run_dir.exists():
        count += 1
        run_dir = stem.with_name(f"{stem.name}-{count}")
    return run_dir


def _report_run(run, run_dir: Path) -> None:
    from .forecasting.plots import plot_losses, plot_predictions

    dataset = run.data_config["dataset"]
    loss_png = plot_losses(run.history, run_dir / "loss.png", f"{dataset}: loss curves")
    truth, predictions = _all_predictions(run)
    prediction_png = plot_predictions(truth, predictions, run.data.split,
                                      run_dir / "prediction.png",
                                      f"{dataset}: prediction vs truth (test split shaded)")
    for name, history in run.history.items():
        final = history["test_mse"][-1] if history["test_mse"] else history["initial_test_mse"]
        train = f", train MSE {history['train_mse'][-1]:.6f}" if history["train_mse"] else ""
        print(f"{name}: test MSE {history['initial_test_mse']:.6f} (untrained) -> {final:.6f} "
              f"after {run.epoch} epochs{train}")
    print(f"training time {run.seconds:.1f} s")
    print(f"run directory: {run_dir}")
    print(f"  checkpoint:  {run_dir / CHECKPOINT}")
    print(f"  metrics:     {run_dir / 'metrics.json'}, {run_dir / 'metrics.csv'}")
    print(f"  plots:       {loss_png}, {prediction_png}")


def _all_predictions(run, batch_size: int = 256):
    """Targets of all windows and every model's predictions, in the series' own units."""
    x = torch.cat([run.data.x_train, run.data.x_test])
    y = torch.cat([run.data.y_train, run.data.y_test])
    scaler = run.data.scaler
    truth = scaler.inverse_transform(y[:, 0].numpy())
    predictions = {name: scaler.inverse_transform(
        model.predict(x, batch_size)[:, 0].double().numpy())
        for name, model in run.models.items()}
    return truth, predictions


# ---- evaluate -----------------------------------------------------------------------------------
def cmd_evaluate(args: argparse.Namespace) -> int:
    from .forecasting.plots import plot_backend_mse
    batch_size = 256 if args.batch_size is None else args.batch_size
    if batch_size < 1:
        raise CommandError(f"--batch-size must be >= 1, got {batch_size}")
    checkpoint = Path(args.checkpoint)
    out = Path(args.out) if args.out else (checkpoint if checkpoint.is_dir() else checkpoint.parent)
    device = {"run_name": f"{out.name}-evaluate", "ledger": out / "evaluate-ledger"}
    specs = [checked_backend(spec, args, **device) for spec in args.backends or ()]
    saved = _saved_backend(checkpoint)
    if not specs and saved[0] != "classical":  # the backend it was trained on
        specs = [checked_backend(saved, args, **device)]
    run = Run.load(args.checkpoint, backend=specs[0] if specs else None)
    if args.backends and not any(model.is_quantum for model in run.models.values()):
        raise CommandError(f"{args.checkpoint} holds only the classical LSTM; --backends would "
                           "be ignored")
    rows = []
    for name, model in run.models.items():
        for index, (backend, options) in enumerate(
                specs if model.is_quantum else [("classical", {})]):
            if model.is_quantum and index > 0:
                model.set_backend(backend, **options)
            def test_mse(model=model):
                return model.mse(run.data.x_test, run.data.y_test, batch_size)

            if not confirm_or_preview(args, [model], lambda: measure(model, test_mse)):
                continue
            start = time.perf_counter()
            with closing_devices([model]):
                mse = test_mse()
            rows.append({"model": name, "backend": format_backend(backend, options),
                         "test_mse": mse, "seconds": round(time.perf_counter() - start, 3)})
            print(f"  {name:6s} {rows[-1]['backend']:32s} test MSE {mse:.6g}  "
                  f"({rows[-1]['seconds']:.1f} s)")
            if summary := job_summary(model):
                print(summary)
    if args.dry_run:
        return 0
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(out / "evaluate.csv", ["model", "backend", "test_mse", "seconds"],
               [[row[k] for k in ("model", "backend", "test_mse", "seconds")] for row in rows])
    (out / "evaluate.json").write_text(json.dumps(
        {"checkpoint": str(checkpoint), "epoch": run.epoch, "test_windows": len(run.data.x_test),
         "results": rows}, indent=2))
    png = plot_backend_mse(rows, out / "evaluate.png",
                           f"{run.data_config['dataset']}: test MSE per backend")
    print(f"wrote {out / 'evaluate.csv'}, {out / 'evaluate.json'}, {png}")
    return 0


def _saved_backend(checkpoint: Path) -> tuple[str, dict[str, Any]]:
    """The backend (name, options) the checkpoint's quantum model was trained on."""
    path = checkpoint / CHECKPOINT if checkpoint.is_dir() else checkpoint
    for config in read_checkpoint(path)["models"].values():
        if config.get("kind") == "qlstm":
            return config["backend"], dict(config.get("backend_options", {}))
    return "classical", {}


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


# ---- predict ------------------------------------------------------------------------------------
def cmd_predict(args: argparse.Namespace) -> int:
    if args.batch_size is not None and args.batch_size < 1:
        raise CommandError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.column is not None and args.input is None:
        raise CommandError("--column goes with --input")
    if args.n_points is not None and args.dataset is None:
        raise CommandError("--n-points goes with --dataset")
    out = Path(args.out)
    spec = args.backend or _saved_backend(Path(args.checkpoint))
    if spec[0] == "classical":
        backend = None
        device_options(args, None, {}, run_name="", ledger=out)  # device flags are an error
    else:
        backend = checked_backend(spec, args, run_name=out.stem,
                                  ledger=out.with_name(out.stem + "-ledger"))
    run = Run.load(args.checkpoint, backend=backend)
    if args.input is not None:
        if args.column is None:
            raise CommandError("--input needs --column (a header name or 0-based index)")
        series = load_csv_column(args.input, args.column)
    elif args.dataset is not None:
        series = generate(args.dataset, args.n_points)
    else:
        series = run.series
    scaler = run.data.scaler
    x, _y = sliding_windows(scaler.transform(series), run.data.window)
    # on a device the whole dataset is one batch (one job per time step) unless --batch-size
    device = backend is not None and is_device(backend[0])
    batch_size = args.batch_size if args.batch_size or device else 256

    def predict_all():
        return {name: predict_dataset(model, x.to(model.dtype), batch_size=batch_size)
                for name, model in run.models.items()}

    quantum = [m for m in run.models.values() if m.is_quantum]
    if quantum and not confirm_or_preview(args, quantum, lambda: measure(quantum[0],
                                                                         predict_all)):
        return 0
    with closing_devices(run.models.values()):
        columns = {name: scaler.inverse_transform(values[:, 0].to(torch.float64).numpy())
                   for name, values in predict_all().items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    indices = range(run.data.window, len(series))
    _write_csv(out, ["index", "target", *columns],
               [[i, repr(float(series[i])), *(repr(float(v[i - run.data.window]))
                                               for v in columns.values())] for i in indices])
    print(f"wrote {len(indices)} predictions of {', '.join(columns)} to {out}")
    for model in quantum:
        if summary := job_summary(model):
            print(summary)
    return 0


# ---- backends and circuit -----------------------------------------------------------------------
def cmd_backends(_args: argparse.Namespace) -> int:
    backends = list_backends()
    width = max(map(len, backends))
    for name, description in backends.items():
        print(f"{name:{width}s}  {description}")
    return 0


def cmd_circuit(args: argparse.Namespace) -> int:
    from .forecasting.plots import save_drawing

    model = QLSTM(1, 1, n_qubits=args.n_qubits, n_qlayers=args.n_qlayers, depth=args.depth,
                  encoding=args.encoding, rotation=args.rotation, entangling=args.entangling,
                  measure=args.measure)
    text = str(model.draw(args.gate, fold=-1))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    txt, png = out / f"circuit_{args.gate}.txt", out / f"circuit_{args.gate}.png"
    txt.write_text(text + "\n")
    save_drawing(model.draw(args.gate, output="mpl"), png)
    print(text)
    print(f"wrote {txt}, {png}")
    return 0


def _set_threads(threads: int) -> None:
    if threads < 1:
        raise CommandError(f"--threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)


# ---- entry point --------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) or a bad command line (2)
        return exc.code if isinstance(exc.code, int) else 2
    threads = torch.get_num_threads()
    try:
        if getattr(args, "threads", None) is not None:
            _set_threads(args.threads)
        return args.handler(args)
    except (ValueError, TypeError, OSError, ImportError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    finally:  # main() may run inside a larger program (or a test session)
        torch.set_num_threads(threads)
