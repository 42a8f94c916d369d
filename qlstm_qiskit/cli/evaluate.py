"""``qlstm-qiskit evaluate``: a checkpoint's test MSE on one or more backends, written as
``evaluate.csv``, ``evaluate.json`` (with MSE, MAE and RMSE per horizon step, scaled and in
original units) and ``evaluate.png``."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..forecasting.inference import preview_work
from ..forecasting.metrics import mean_mse, step_table
from ..forecasting.training import Run
from .device_flags import add_device_flags, closing_devices, confirm_or_preview, job_summary
from .errors import CommandError
from .flags import add_inference_flags, use_weights_flag
from .guards import check_output_dir
from .specs import checked_backend, format_backend, saved_backend
from .tables import format_steps, write_csv

_COLUMNS = ["model", "backend", "test_mse", "seconds"]  # of evaluate.csv


def add_evaluate(commands) -> None:
    """The ``evaluate`` subcommand on the subparsers ``commands``."""
    p = commands.add_parser(
        "evaluate",
        help="test MSE of a checkpoint on one or more backends",
        description="Load a checkpoint and compute the test MSE of its quantum model(s) on each "
        "backend (same weights); a classical LSTM in the checkpoint is listed once as a "
        "reference. With a forecast horizon H > 1 the test MSE is the mean over the H steps "
        "and a table per step (MSE, MAE, RMSE; scaled and in original units) is printed. "
        "Writes evaluate.csv, evaluate.json (with the per-step table) and evaluate.png.",
    )
    add_inference_flags(p)
    p.add_argument(
        "--backends",
        nargs="+",
        metavar="SPEC",
        help="backends as NAME or NAME:key=value,... (default: the one the model was trained on)",
    )
    p.add_argument(
        "--out", metavar="DIR", help="where to write (default: the checkpoint's directory)"
    )
    add_device_flags(p, "OUT/evaluate-ledger")
    p.set_defaults(handler=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    """The test MSE of every model of the checkpoint on every backend, printed and written."""
    from ..forecasting.plots import plot_backend_mse

    batch_size = 256 if args.batch_size is None else args.batch_size
    if batch_size < 1:
        raise CommandError(f"--batch-size must be >= 1, got {batch_size}")
    checkpoint = Path(args.checkpoint)
    out = Path(args.out) if args.out else (checkpoint if checkpoint.is_dir() else checkpoint.parent)
    check_output_dir(out, "--out" if args.out else "the checkpoint's directory")
    device = {"run_name": f"{out.name}-evaluate", "ledger": out / "evaluate-ledger"}
    specs = [checked_backend(spec, args, **device) for spec in args.backends or ()]
    saved = saved_backend(checkpoint)
    if not specs and saved[0] != "classical":  # the backend it was trained on
        specs = [checked_backend(saved, args, **device)]
    run = Run.load(args.checkpoint, backend=specs[0] if specs else None)
    if args.backends and not any(model.is_quantum for model in run.models.values()):
        raise CommandError(
            f"{args.checkpoint} holds only the classical LSTM; --backends would be ignored"
        )
    weights, epochs = use_weights_flag(args, run)
    print(f"weights: {weights} ({', '.join(f'{n} epoch {e}' for n, e in epochs.items())})")
    rows = []
    for name, model in run.models.items():
        for index, (backend, options) in enumerate(
            specs if model.is_quantum else [("classical", {})]
        ):
            if model.is_quantum and index > 0:
                model.set_backend(backend, **options)

            def test_predictions(model=model):
                return model.predict(run.data.x_test, batch_size)

            def cost(model=model, test_predictions=test_predictions):
                return preview_work(model, test_predictions)

            if not confirm_or_preview(args, [model], cost):
                continue
            start = time.perf_counter()
            with closing_devices([model]):
                predictions = test_predictions()
            mse = mean_mse(predictions, run.data.y_test)
            rows.append(
                {
                    "model": name,
                    "backend": format_backend(backend, options),
                    "test_mse": mse,
                    "seconds": round(time.perf_counter() - start, 3),
                    "per_step": step_table(predictions, run.data.y_test, run.data.scaler),
                }
            )
            print(
                f"  {name:6s} {rows[-1]['backend']:32s} test MSE {mse:.6g}  "
                f"({rows[-1]['seconds']:.1f} s)"
            )
            if run.data.horizon > 1:
                print(format_steps(rows[-1]["per_step"], indent="      "))
            if summary := job_summary(model):
                print(summary)
    if args.dry_run:
        return 0
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "evaluate.csv", _COLUMNS, [[row[k] for k in _COLUMNS] for row in rows])
    (out / "evaluate.json").write_text(
        json.dumps(
            {
                "checkpoint": str(checkpoint),
                "epoch": run.epoch,
                "weights": weights,
                "weights_epoch": epochs,
                "test_windows": len(run.data.x_test),
                "horizon": run.data.horizon,
                "results": rows,
            },
            indent=2,
        )
    )
    png = plot_backend_mse(
        rows, out / "evaluate.png", f"{run.data_config['dataset']}: test MSE per backend"
    )
    print(f"wrote {out / 'evaluate.csv'}, {out / 'evaluate.json'}, {png}")
    return 0
