"""``qlstm-qiskit predict``: batch inference to CSV with a checkpoint's model(s), on the run's own
series, a built-in dataset or a CSV file's column(s); ``H`` forecasts per row for a run with a
horizon ``H > 1``."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from ..forecasting.datasets import (
    DATASETS,
    MISSING,
    generate,
    load_csv_column,
    load_csv_columns,
)
from ..forecasting.inference import predict_dataset, preview_work
from ..forecasting.training import Run
from ..forecasting.windows import new_windows
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
        description="Predict the next value (the next H values, for a run with --horizon H) "
        "after every window of a series with a checkpoint's model(s), scaled with the run's "
        "scalers, on a backend. The series is the run's own (default), a built-in dataset, or "
        "a CSV file (--input: with --column for a one-column run; a run on --features reads "
        "its feature and target columns by the names it was trained with). Writes a CSV with "
        "the index of the (first) predicted value, the true value(s) and the prediction(s) of "
        "each model, in the target's units: index,target,<model>... for H = 1; "
        "index,target_t+1..target_t+H,<model>_t+1..<model>_t+H... for H > 1.",
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
    p.add_argument(
        "--column",
        metavar="NAME",
        help="the CSV column of a one-column run: header name or 0-based index",
    )
    p.add_argument(
        "--missing",
        choices=MISSING,
        help="what an empty cell of an --input column does: error (name its row), drop the "
        "row, or interpolate it linearly from its neighbours (default: error)",
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
    """Predict after every window of the series and write ``index,target,<model>...`` rows
    (``H`` columns each of targets and forecasts per model for a horizon ``H > 1``)."""
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
    series = _series(args, run)
    x, truth = new_windows(series, run.data_config, run.data)
    scaler, horizon = run.data.scaler, run.data.horizon
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
            name: scaler.inverse_transform(values.to(torch.float64).numpy())
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
    window, rows = run.data.window, len(x)
    steps = [""] if horizon == 1 else [f"_t+{k}" for k in range(1, horizon + 1)]
    write_csv(
        out,
        ["index", *(f"target{s}" for s in steps), *(f"{n}{s}" for n in columns for s in steps)],
        [
            [
                window + row,
                *(repr(float(truth[window + row + k])) for k in range(horizon)),
                *(repr(float(v[row, k])) for v in columns.values() for k in range(horizon)),
            ]
            for row in range(rows)
        ],
    )
    what = "predictions" if horizon == 1 else f"rows of {horizon} forecasts"
    print(f"wrote {rows} {what} of {', '.join(columns)} ({weights} weights) to {out}")
    for model in quantum:
        if summary := job_summary(model):
            print(summary)
    return 0


def _series(args: argparse.Namespace, run: Run) -> np.ndarray:
    """The series to predict on, ``(T,)`` or, for a run on several columns, ``(T, C)`` in the
    run's column order: ``--input``, ``--dataset`` or the run's own."""
    names = run.data_config.get("features")
    if args.input is not None:
        if names is None:
            if args.column is None:
                raise CommandError("--input needs --column (a header name or 0-based index)")
            return load_csv_column(args.input, args.column, missing=args.missing or "error")
        if args.column is not None:
            raise CommandError(
                f"--column: {args.checkpoint} was trained on the columns --features "
                f"{','.join(names)} --target {run.data_config['target']}, which --input reads "
                "by these names; --column is for one-column runs"
            )
        target = run.data_config["target"]
        columns = names if target in names else [*names, target]
        return load_csv_columns(args.input, columns, missing=args.missing or "error")
    if args.dataset is not None:
        if names is not None:
            raise CommandError(
                f"--dataset: {args.checkpoint} was trained on {len(names)} feature column(s) "
                f"and target {run.data_config['target']!r}; a built-in dataset is one series: "
                "give --input CSV with those columns"
            )
        return generate(args.dataset, args.n_points)
    return run.series
