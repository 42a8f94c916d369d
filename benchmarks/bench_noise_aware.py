"""Noise-aware training: a QLSTM trained exactly against one trained under a device's noise model,
both evaluated on the fake device.

Run (from the repository root; needs ``qiskit-ibm-runtime`` for the fake device)::

    python benchmarks/bench_noise_aware.py                      # damped_shm, seeds 0 1 2
    python benchmarks/bench_noise_aware.py --device fake_manila --epochs 100 --repeats 3

For each seed it trains two QLSTM forecasters with the defaults of ``qlstm-qiskit train``
(``damped_shm``, window 4, hidden 5, 4 qubits, float64, RMSprop lr 0.01, batch 10, ``--epochs``)
and the same budget: one on ``statevector`` (exact), one on ``density_matrix`` with
``noise_from=<device>`` (exact noisy values under the device's Aer noise model, on its ISA
circuit). Each model keeps the weights of its lowest-training-MSE epoch (:func:`train`).
Both are then evaluated (test MSE in scaled units) on the fake device (``--shots`` shots,
``--repeats`` seeded repetitions), on ``density_matrix`` with the device's noise (exact noisy) and
on ``statevector`` (noiseless). ``main`` returns every number; ``render`` writes the
``## Noise-aware training`` section of docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from qlstm_qiskit.backends import get_backend
from qlstm_qiskit.circuits import CircuitSpec
from qlstm_qiskit.cli.device_flags import closing_devices
from qlstm_qiskit.cli.train import TRAIN_DEFAULTS
from qlstm_qiskit.forecasting.datasets import generate
from qlstm_qiskit.forecasting.models import ModelConfig
from qlstm_qiskit.forecasting.training import Run, TrainConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_accuracy import data_config  # noqa: E402

#: training backends: label -> (backend name, options given the device)
TRAINING = {
    "exact": lambda device: ("statevector", {}),
    "noise-aware": lambda device: ("density_matrix", {"noise_from": device}),
}


def train(
    epochs: int,
    seed: int,
    n_points: int | None,
    backend: str = TRAIN_DEFAULTS["backend"],
    backend_options: dict[str, Any] | None = None,
) -> tuple[Run, dict]:
    """Train a QLSTM with ``qlstm-qiskit train``'s defaults on ``backend`` (``statevector`` by
    default); prints one line per 10 epochs.

    The model then holds the weights of its epoch with the lowest *training* MSE (the test
    MSE of the last epochs swings by two orders of magnitude at lr 0.01, so the last epoch's
    weights are an arbitrary point of that swing; the test windows play no part in the choice).
    Returns the run and ``{name: {"epoch", "train_mse", "test_mse"}}`` of the chosen epochs."""
    settings = {**TRAIN_DEFAULTS, "epochs": epochs, "seed": seed}
    series = generate(settings["dataset"], n_points)
    data = data_config(settings["dataset"], series)
    circuit = CircuitSpec(**{key: settings[key] for key in asdict(CircuitSpec())})
    qlstm = ModelConfig(
        kind="qlstm",
        hidden_size=settings["hidden_size"],
        num_layers=settings["num_layers"],
        circuit=circuit,
        backend=backend,
        backend_options=dict(backend_options or {}),
        dtype=settings["dtype"],
        seed=seed,
    )
    models = {"qlstm": qlstm}
    run = Run.create(
        data,
        series,
        models,
        TrainConfig(
            epochs=epochs,
            batch_size=settings["batch_size"],
            lr=settings["lr"],
            seed=seed,
            val_fraction=0.0,
        ),
    )
    print(
        f"training {' and '.join(models)} on {data['dataset']} "
        f"({data['n_points']} points): {len(run.data.x_train)} training and "
        f"{len(run.data.x_test)} test windows of {run.data.window}; {epochs} epochs"
    )
    chosen: dict[str, dict] = {}
    weights: dict[str, dict] = {}
    while run.epoch < epochs:
        summary = run.step_epoch()
        for name, (train_mse, test_mse) in summary.items():
            if name not in chosen or train_mse < chosen[name]["train_mse"]:
                chosen[name] = {"epoch": run.epoch, "train_mse": train_mse, "test_mse": test_mse}
                weights[name] = copy.deepcopy(run.models[name].state_dict())
        if run.epoch % 10 == 0 or run.epoch == epochs:
            print(
                f"  epoch {run.epoch:3d}: "
                + " | ".join(
                    f"{name} train {tr:.6f} test {te:.6f}" for name, (tr, te) in summary.items()
                ),
                flush=True,
            )
    for name, state in weights.items():
        run.models[name].load_state_dict(state)
    print(
        "evaluating the weights of the lowest-training-MSE epochs: "
        + ", ".join(
            f"{name} epoch {c['epoch']} (test MSE {c['test_mse']:.3g})"
            for name, c in chosen.items()
        )
    )
    return run, chosen


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--device", default="fake_manila", help="fake device (default: fake_manila)"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=100, help="training epochs (default: 100)")
    parser.add_argument("--n-points", type=int, default=None, metavar="N")
    parser.add_argument("--shots", type=int, default=1024, help="device shots (default: 1024)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="seeded device evaluations per model (default: 3)"
    )
    parser.add_argument("--threads", type=int, default=1, metavar="N", help="torch threads")
    return parser


def main(argv: list[str] | None = None) -> dict:
    """Train both ways per seed, evaluate on the device; returns settings and one record per
    seed and training backend."""
    args = build_parser().parse_args(argv)
    from qlstm_qiskit.backends.ibm_runtime import runtime

    runtime("bench_noise_aware")  # fail now, not after the training
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return _run(args)
    finally:
        torch.set_num_threads(threads)


def _run(args: argparse.Namespace) -> dict:
    started = time.perf_counter()
    records = []
    for seed in args.seeds:
        for label, training in TRAINING.items():
            name, options = training(args.device)
            start = time.perf_counter()
            run, chosen = train(args.epochs, seed, args.n_points, name, options)
            record = {
                "seed": seed,
                "training": label,
                "train_backend": name,
                "train_options": options,
                "train_seconds": time.perf_counter() - start,
                "epoch": chosen["qlstm"]["epoch"],
                "train_mse": chosen["qlstm"]["train_mse"],
                "evaluation": evaluate(run, args, seed),
            }
            records.append(record)
            print(
                f"seed {seed} {label:11s}: "
                + ", ".join(
                    f"{k} {statistics.fmean(v):.4g}" for k, v in record["evaluation"].items()
                ),
                flush=True,
            )
    return {
        "settings": dict(vars(args)),
        "records": records,
        "wall_seconds": time.perf_counter() - started,
    }


def evaluate(run, args: argparse.Namespace, seed: int) -> dict[str, list[float]]:
    """Test MSEs of the run's QLSTM on the device (``repeats`` seeded runs), on
    ``density_matrix`` with the device's noise and on ``statevector``."""
    model = run.models["qlstm"]
    settings = {
        args.device: [{"shots": args.shots, "seed": 1000 * seed + k} for k in range(args.repeats)],
        "density_matrix": [{"noise_from": args.device}],
        "statevector": [{}],
    }
    results: dict[str, list[float]] = {}
    for name, option_sets in settings.items():
        results[name] = []
        for options in option_sets:
            model.set_backend(get_backend(name, **options))
            with closing_devices([model]):
                results[name].append(model.mse(run.data.x_test, run.data.y_test))
    return results


def _summary(values: list[float]) -> str:
    mean = statistics.fmean(values)
    return f"{mean:.3e}" if len(values) < 2 else f"{mean:.3e} ± {statistics.stdev(values):.1e}"


def render(results: dict, figures: Path) -> str:
    """The ``## Noise-aware training`` section (markdown); no figures."""
    settings, records = results["settings"], results["records"]
    device = settings["device"]
    evaluations = [device, "density_matrix", "statevector"]
    lines = [
        "## Noise-aware training",
        "",
        f"QLSTM forecasters (the defaults of `qlstm-qiskit train`: damped_shm, hidden 5, 4 qubits, "
        f"float64, RMSprop lr 0.01, batch 10, {settings['epochs']} epochs) trained either exactly "
        f"(`statevector`) or under `{device}`'s noise model (`density_matrix` with "
        f"`noise_from={device}`: exact noisy values on the device's ISA circuit), with the same "
        f"budget, for seeds {', '.join(map(str, settings['seeds']))}; each keeps its "
        "lowest-training-MSE epoch. Test MSE (scaled units) on the fake device "
        f"({settings['shots']} shots, mean over {settings['repeats']} seeded evaluations), on "
        "`density_matrix` with the device's noise (exact noisy values) and on `statevector`.",
        "",
        f"| seed | trained on | epoch | train s | {' | '.join(f'`{e}`' for e in evaluations)} |",
        "|---|---|---|---|" + "---|" * len(evaluations),
    ]
    for record in records:
        cells = [_summary(record["evaluation"][e]) for e in evaluations]
        lines.append(
            f"| {record['seed']} | {record['training']} | {record['epoch']} | "
            f"{record['train_seconds']:.0f} | {' | '.join(cells)} |"
        )
    lines += ["", "Mean over seeds (± sample std over seeds):", ""]
    lines += [f"| trained on | {' | '.join(f'`{e}`' for e in evaluations)} |"]
    lines += ["|---|" + "---|" * len(evaluations)]
    means: dict[str, dict[str, float]] = {}
    for label in TRAINING:
        own = [r for r in records if r["training"] == label]
        per_seed = {e: [statistics.fmean(r["evaluation"][e]) for r in own] for e in evaluations}
        means[label] = {e: statistics.fmean(v) for e, v in per_seed.items()}
        lines.append(f"| {label} | {' | '.join(_summary(v) for v in per_seed.values())} |")
    lines.append("")
    for evaluation, what in ((device, "sampled"), ("density_matrix", "exact noisy")):
        exact, aware = means["exact"][evaluation], means["noise-aware"][evaluation]
        verdict = "lower" if aware < exact else "higher"
        lines.append(
            f"On `{evaluation}` ({what} values) the noise-aware models' mean test MSE is "
            f"{verdict} than the exactly trained ones' ({aware:.3e} against {exact:.3e}, ratio "
            f"exact / noise-aware {exact / aware:.2f})."
        )
    lines += [
        "",
        f"The device's test MSE includes the shot noise of {settings['shots']} shots per "
        "circuit, which the exact noisy values do not: where it dominates, the noise model the "
        "training saw matters less than the shots.",
        "",
    ]
    return "\n".join(lines)


QUICK_ARGS = [
    "--seeds",
    "0",
    "--epochs",
    "1",
    "--n-points",
    "40",
    "--shots",
    "100",
    "--repeats",
    "1",
]

if __name__ == "__main__":
    results = main(sys.argv[1:])
    print(render(results, Path("figures")))
