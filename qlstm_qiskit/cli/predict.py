"""``qlstm-qiskit predict``: batch inference to CSV with a checkpoint's model(s), on the run's own
series, a built-in dataset or a CSV column."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from ..forecasting.datasets import DATASETS, MISSING, generate, load_csv_column, sliding_windows
from ..forecasting.inference import predict_dataset, preview_work
from ..forecasting.training import Run
from .device_flags import (
    add_device_flags,
    closing_devices,
    confirm_or_preview,
    device_options,
    is_device,
    job_summary,
)
from .errors import CommandError
from .flags import add_inference_flags, use_weights_flag
from .guards import check_output_file
from .specs import checked_backend, saved_backend
from .tables import write_csv


def add_predict(commands) -> None:
    """The ``predict`` subcommand on the subparsers ``commands``."""
    p = commands.add_parser(
        "predict",
        help="batch inference to CSV",
        description="Predict the next value after every window of a series with a checkpoint's "
        "model(s), scaled with the run's scaler, on a backend. The series is the run's own "
        "(default), a built-in dataset, or a CSV column. Writes a CSV with the index of the "
        "predicted value, the true value and one prediction column per model.",
    )
    add_inference_flags(p)
    p.add_argument(
        "--backend",
        metavar="SPEC",
        help="NAME or NAME:key=value,... (default: the one the model was trained on)",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("--input", metavar="CSV", help="a CSV file (with --column)")
    source.add_argument("--dataset", choices=list(DATASETS), help="a built-in series")
    p.add_argument("--column", metavar="NAME", help="the CSV column: header name or 0-based index")
    p.add_argument(
        "--missing",
        choices=MISSING,
        help="what an empty cell of the --input column does: error (name its row), drop the row, "
        "or interpolate it linearly from its neighbours (default: error)",
    )
    p.add_argument("--n-points", type=int, metavar="N", help="length of a built-in series")
    p.add_argument(
        "--out",
        metavar="CSV",
        default="predictions.csv",
        help="output file; missing folders are created (default: predictions.csv)",
    )
    add_device_flags(p, "OUT_STEM-ledger next to the output")
    p.set_defaults(handler=cmd_predict)


def cmd_predict(args: argparse.Namespace) -> int:
    """Predict after every window of the series and write ``index,target,<model>...`` rows."""
    if args.batch_size is not None and args.batch_size < 1:
        raise CommandError(f"--batch-size must be >= 1, got {args.batch_size}")
    for flag in ("column", "missing"):
        if getattr(args, flag) is not None and args.input is None:
            raise CommandError(f"--{flag} goes with --input")
    if args.n_points is not None and args.dataset is None:
        raise CommandError("--n-points goes with --dataset")
    out = Path(args.out)
    check_output_file(out, "--out")
    spec = args.backend or saved_backend(Path(args.checkpoint))
    if spec[0] == "classical":
        backend = None
        device_options(args, None, {}, run_name="", ledger=out)  # device flags are an error
    else:
        backend = checked_backend(
            spec, args, run_name=out.stem, ledger=out.with_name(out.stem + "-ledger")
        )
    run = Run.load(args.checkpoint, backend=backend)
    weights, _epochs = use_weights_flag(args, run)
    if args.input is not None:
        if args.column is None:
            raise CommandError("--input needs --column (a header name or 0-based index)")
        series = load_csv_column(args.input, args.column, missing=args.missing or "error")
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
        return {
            name: predict_dataset(model, x.to(model.dtype), batch_size=batch_size)
            for name, model in run.models.items()
        }

    quantum = [m for m in run.models.values() if m.is_quantum]
    if quantum and not confirm_or_preview(
        args, quantum, lambda: preview_work(quantum[0], predict_all)
    ):
        return 0
    with closing_devices(run.models.values()):
        columns = {
            name: scaler.inverse_transform(values[:, 0].to(torch.float64).numpy())
            for name, values in predict_all().items()
        }
    for name, values in columns.items():
        if not np.isfinite(values).all():
            raise ValueError(
                f"model {name!r} predicted {int((~np.isfinite(values)).sum())} NaN or infinite "
                f"value(s) (the input's values may be far outside the training range); "
                f"nothing was written to {out}"
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    indices = range(run.data.window, len(series))
    write_csv(
        out,
        ["index", "target", *columns],
        [
            [
                i,
                repr(float(series[i])),
                *(repr(float(v[i - run.data.window])) for v in columns.values()),
            ]
            for i in indices
        ],
    )
    print(f"wrote {len(indices)} predictions of {', '.join(columns)} ({weights} weights) to {out}")
    for model in quantum:
        if summary := job_summary(model):
            print(summary)
    return 0
