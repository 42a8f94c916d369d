"""Forecasting accuracy of ``QLSTM`` against a classical LSTM of about the same size, on the tasks
and with the protocol of the QLSTM papers, over several seeds.

Run (from the repository root, package installed or ``PYTHONPATH=.``)::

    python benchmarks/bench_accuracy.py                                   # 5 datasets x 5 seeds
    python benchmarks/bench_accuracy.py --datasets damped_shm --seeds 0 1 2 --epochs 20

Protocol (Chen et al. 2020, as ``qlstm-qiskit train`` runs it; ``qlstm_qiskit.training.Run``): a
window of 4 values predicts the next one, MinMax scaling to [-1, 1] fitted on the whole series,
67 % / 33 % chronological split, RMSprop (lr 0.01, alpha 0.99, eps 1e-8), batches of 10 shuffled
windows, MSE on the last step's prediction, 100 epochs, float64, ``statevector`` backend.

Models: ``QLSTM(1, 5, n_qubits=4, depth=1)`` with the Chen et al. 2020 circuit (H, RY(arctan z),
RZ(arctan z^2) encoding, RZ RY RZ rotations, CNOT ring, <Z> per qubit) plus ``nn.Linear(5, 1)``,
against ``nn.LSTM(1, h)`` plus ``nn.Linear(h, 1)`` with ``h`` chosen so that its parameter count is
the closest to the QLSTM's (it must be within +-20 %, or the run stops). Each (dataset, seed)
trains both models from the same seed (weights, shuffling).

Reported per dataset and model (MSE in the scaled units, on the test windows): the test MSE after
the last epoch, its mean over the last 10 epochs (RMSprop at lr 0.01 makes the last epochs' test
MSE oscillate, so this is the steadier figure) and the best test MSE over the epochs (mean +- std
over seeds), and, for each
``--thresholds`` value, the first epoch whose test MSE is at or below it (median over the seeds
that reach it, with how many reached it).

Datasets: ``damped_shm``, ``bessel_j2``, ``delayed_control`` and ``narma5`` as REFERENCE.md
describes them (``narma5`` driven by uniform noise), plus ``narma5_smooth``, NARMA-5 driven by the
smooth input of Chen's NARMA generator.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from qlstm_qiskit.circuits import CircuitSpec
from qlstm_qiskit.datasets import TRAIN_FRACTION, WINDOW, generate
from qlstm_qiskit.training import Forecaster, ModelConfig, Run, TrainConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from figures import pyplot, save  # noqa: E402

DATASETS = ("damped_shm", "bessel_j2", "delayed_control", "narma5", "narma5_smooth")
#: test MSE of the plain RY-encoding / RY-trained QLSTM, DiffQAS-QLSTM (arXiv 2508.14955) Table II,
#: window 4 (REFERENCE.md); a different circuit from ours, quoted for scale.
PAPER_MSE = {"damped_shm": 6.0e-4, "bessel_j2": 1.3e-3, "delayed_control": 5.5e-3,
             "narma5": 3.2e-5, "narma5_smooth": 3.2e-5}
NARMA_NOTE = (
    "\nNARMA-5: `narma5` is driven by uniform noise u(t) in [0, 0.5] (REFERENCE.md); its next "
    "value depends on the drive's current value, which no window of past values shows, so "
    "neither model gets far below the variance that leaves. `narma5_smooth` uses the smooth, "
    "deterministic drive u(t) = 0.1 (sin(2π·2.11 t/T) sin(2π·3.73 t/T) "
    "sin(2π·4.11 t/T) + 1), "
    "T = 300, of S. Y.-C. Chen's NARMA generator; that code also feeds windows of the drive u "
    "(not of y) to predict y, which we do not copy: both rows here predict y's next value from "
    "its last 4 values.")
PARAMETER_TOLERANCE = 0.20
TAIL_EPOCHS = 10  # the last epochs averaged for the steadier test-MSE figure
QUICK_ARGS = ["--datasets", "damped_shm", "--seeds", "0", "1", "--epochs", "2",
              "--n-points", "60", "--thresholds", "0.5", "1e-9"]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--hidden", type=int, default=5, help="QLSTM hidden size")
    parser.add_argument("--n-qubits", type=int, default=4)
    parser.add_argument("--depth", type=int, default=1)
    parser.add_argument("--thresholds", type=float, nargs="+", default=[1e-3, 1e-4],
                        help="test MSE levels for 'epochs to reach'")
    parser.add_argument("--n-points", type=int, default=None,
                        help="resample every series to N points (default: each series' own)")
    return parser.parse_args(argv)


def parameter_count(config: ModelConfig) -> int:
    return sum(p.numel() for p in Forecaster(config).parameters())


def matched_lstm(qlstm: ModelConfig) -> tuple[ModelConfig, int, int]:
    """The classical forecaster whose parameter count is the closest to ``qlstm``'s; returns it
    with both counts. Raises ``ValueError`` if the closest is more than 20 % away."""
    target = parameter_count(qlstm)
    counts = {h: parameter_count(ModelConfig(kind="lstm", hidden_size=h)) for h in range(1, 65)}
    hidden = min(counts, key=lambda h: abs(counts[h] - target))
    if abs(counts[hidden] - target) > PARAMETER_TOLERANCE * target:
        raise ValueError(f"no nn.LSTM hidden size within 20 % of the QLSTM's {target} "
                         f"parameters (closest: hidden {hidden}, {counts[hidden]})")
    lstm = ModelConfig(kind="lstm", hidden_size=hidden, dtype=qlstm.dtype, seed=qlstm.seed)
    return lstm, target, counts[hidden]


def data_config(dataset: str, series) -> dict:
    """The ``Run`` data settings of the protocol (as ``qlstm-qiskit train`` records them)."""
    return {"window": WINDOW, "train_fraction": TRAIN_FRACTION, "fit_on": "series",
            "dataset": dataset, "n_points": len(series)}


def train(dataset: str, series, config: ModelConfig, epochs: int, seed: int) -> dict:
    """Train one forecaster with the protocol; returns its test-MSE history and timing."""
    run = Run.create(data_config(dataset, series), series, {config.kind: config},
                     TrainConfig(epochs=epochs, batch_size=10, lr=0.01, seed=seed))
    for _ in range(epochs):
        run.step_epoch()
    history = run.history[config.kind]
    return {"initial_test_mse": history["initial_test_mse"], "test_mse": history["test_mse"],
            "train_mse": history["train_mse"], "seconds": run.seconds,
            "train_windows": len(run.data.x_train), "test_windows": len(run.data.x_test)}


def epochs_to_reach(test_mse: list[float], threshold: float) -> int | None:
    """The first epoch (1-based) whose test MSE is <= ``threshold``; None if none is."""
    return next((epoch for epoch, mse in enumerate(test_mse, start=1) if mse <= threshold), None)


def summarise(runs: list[dict], thresholds: list[float]) -> dict:
    """Mean and std over seeds of the final, last-10-epoch mean and best test MSE, and the
    epochs to each threshold."""
    final = [run["test_mse"][-1] for run in runs]
    tail = [statistics.fmean(run["test_mse"][-TAIL_EPOCHS:]) for run in runs]
    best = [min(run["test_mse"]) for run in runs]
    reached = {}
    for threshold in thresholds:
        epochs = [e for run in runs if (e := epochs_to_reach(run["test_mse"], threshold))]
        reached[repr(threshold)] = {"median_epochs": statistics.median(epochs) if epochs else None,
                                    "seeds_reached": len(epochs)}
    return {"final_mean": statistics.fmean(final), "final_std": _std(final),
            "tail_mean": statistics.fmean(tail), "tail_std": _std(tail),
            "best_mean": statistics.fmean(best), "best_std": _std(best),
            "seconds_mean": statistics.fmean(run["seconds"] for run in runs),
            "reached": reached, "seeds": len(runs)}


def _std(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def main(argv=None) -> dict:
    args = parse_args(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as `qlstm-qiskit train`: these models are too small for threads
    try:
        return measure(args)
    finally:
        torch.set_num_threads(threads)


def measure(args: argparse.Namespace) -> dict:
    """Train every (dataset, seed, model); returns the settings and per-dataset results."""
    circuit = CircuitSpec(n_qubits=args.n_qubits, depth=args.depth)
    qlstm = ModelConfig(kind="qlstm", hidden_size=args.hidden, circuit=circuit)
    lstm, qlstm_parameters, lstm_parameters = matched_lstm(qlstm)
    print(f"QLSTM(1, {args.hidden}, n_qubits={args.n_qubits}, depth={args.depth}): "
          f"{qlstm_parameters} parameters; nn.LSTM(1, {lstm.hidden_size}): {lstm_parameters} "
          f"({lstm_parameters / qlstm_parameters - 1:+.0%}); {args.epochs} epochs, seeds "
          f"{args.seeds}", flush=True)
    datasets = {}
    for dataset in args.datasets:
        series = generate(dataset, args.n_points)
        runs = {"qlstm": [], "lstm": []}
        for seed in args.seeds:
            for kind, base in (("qlstm", qlstm), ("lstm", lstm)):
                config = replace(base, seed=seed)
                start = time.perf_counter()
                runs[kind].append(train(dataset, series, config, args.epochs, seed))
                print(f"  {dataset:16s} seed {seed} {kind:5s} test MSE "
                      f"{runs[kind][-1]['test_mse'][-1]:.3e} (best "
                      f"{min(runs[kind][-1]['test_mse']):.3e}) "
                      f"{time.perf_counter() - start:6.1f} s", flush=True)
        datasets[dataset] = {
            "n_points": len(series), "train_windows": runs["qlstm"][0]["train_windows"],
            "test_windows": runs["qlstm"][0]["test_windows"],
            "summary": {kind: summarise(kind_runs, args.thresholds)
                        for kind, kind_runs in runs.items()},
            "runs": runs}
    print_table(datasets, args.thresholds)
    return {"settings": {**vars(args), "qlstm_parameters": qlstm_parameters,
                         "lstm_hidden": lstm.hidden_size, "lstm_parameters": lstm_parameters,
                         "torch_threads": torch.get_num_threads()},
            "datasets": datasets}


def print_table(datasets: dict, thresholds: list[float]) -> None:
    print(f"{'dataset':16s}{'model':>7s}{'final test MSE':>24s}{'last-10 mean':>24s}"
          f"{'best test MSE':>24s}"
          + "".join(f"{'ep<=' + format(t, 'g'):>12s}" for t in thresholds))
    for dataset, result in datasets.items():
        for kind, s in result["summary"].items():
            print(f"{dataset:16s}{kind:>7s}{_pm(s['final_mean'], s['final_std']):>24s}"
                  f"{_pm(s['tail_mean'], s['tail_std']):>24s}"
                  f"{_pm(s['best_mean'], s['best_std']):>24s}"
                  + "".join(f"{_reached(s, t):>12s}" for t in thresholds))


def _pm(mean: float, std: float) -> str:
    return f"{mean:.2e} ± {std:.1e}"


def _reached(summary: dict, threshold: float) -> str:
    r = summary["reached"][repr(threshold)]
    if r["median_epochs"] is None:
        return f"– (0/{summary['seeds']})"
    return f"{r['median_epochs']:g} ({r['seeds_reached']}/{summary['seeds']})"


LABELS = {"qlstm": "QLSTM", "lstm": "LSTM"}


def render(results: dict, figures: Path) -> str:
    """The Accuracy section of docs/BENCHMARKS.md; writes ``figures/accuracy_curves.png``."""
    settings, datasets = results["settings"], results["datasets"]
    thresholds = settings["thresholds"]
    png = plot_curves(datasets, Path(figures) / "accuracy_curves.png")
    lines = [
        "## Accuracy against the paper",
        "",
        f"`QLSTM(1, {settings['hidden']}, n_qubits={settings['n_qubits']}, "
        f"depth={settings['depth']})` (the Chen et al. 2020 circuit, {settings['qlstm_parameters']}"
        f" parameters with the output layer) against `nn.LSTM(1, {settings['lstm_hidden']})` "
        f"({settings['lstm_parameters']} parameters, "
        f"{settings['lstm_parameters'] / settings['qlstm_parameters'] - 1:+.0%}), both followed by "
        "`nn.Linear(hidden, 1)` on the last step. Chen et al.'s protocol: window 4, MinMax "
        "[-1, 1], 67/33 chronological split, RMSprop lr 0.01, batch 10, MSE, "
        f"{settings['epochs']} epochs, float64, `statevector`, {settings['torch_threads']} torch "
        f"thread(s); seeds {settings['seeds']} "
        "(weights and shuffling). MSE in the scaled units on the test windows, mean ± std over "
        "seeds. \"Last 10\": the mean test MSE of the last 10 epochs (the last epochs' test MSE "
        "oscillates at lr 0.01, so this is the steadier figure); \"best\": the lowest over all "
        "epochs, selected on the test set itself (optimistic). \"Epochs to ≤ X\": the first "
        "epoch whose test MSE is ≤ X, median over the "
        "seeds that reach it (how many reached it in brackets). The paper column is the plain "
        "RY-encoding QLSTM of DiffQAS-QLSTM (arXiv 2508.14955, Table II), a different circuit "
        "from ours, quoted for scale.",
        "",
        "| dataset | windows (train/test) | model | final test MSE | last 10 | best | "
        + " | ".join(f"epochs to ≤ {t:g}" for t in thresholds) + " | s per run | paper |",
        "|---|---|---|---|---|---|" + "---|" * len(thresholds) + "---|---|",
    ]
    for dataset, result in datasets.items():
        for kind, s in result["summary"].items():
            paper = f"{PAPER_MSE[dataset]:.1e}" if kind == "qlstm" else ""
            lines.append(
                f"| {dataset} | {result['train_windows']}/{result['test_windows']} | "
                f"{LABELS[kind]} | {_pm(s['final_mean'], s['final_std'])} | "
                f"{_pm(s['tail_mean'], s['tail_std'])} | "
                f"{_pm(s['best_mean'], s['best_std'])} | "
                + " | ".join(_reached(s, t) for t in thresholds)
                + f" | {s['seconds_mean']:.1f} | {paper} |")
    notes = [NARMA_NOTE] if {"narma5", "narma5_smooth"} & set(datasets) else []
    lines += ["", wins_sentence(datasets), *notes, "", f"![test MSE per epoch]({png})", "",
              "Test MSE per epoch, median over seeds (line) and min–max over seeds (band)."]
    return "\n".join(lines) + "\n"


def wins_sentence(datasets: dict) -> str:
    """Which model has the lower last-10-epoch test MSE (mean over seeds) on each dataset."""
    parts = []
    for dataset, result in datasets.items():
        q, c = (result["summary"][k] for k in ("qlstm", "lstm"))
        q_mse, c_mse = q["tail_mean"], c["tail_mean"]
        winner, ratio = ("QLSTM", c_mse / q_mse) if q_mse < c_mse else ("LSTM", q_mse / c_mse)
        apart = abs(q_mse - c_mse) > max(q["tail_std"], c["tail_std"])
        parts.append(f"{dataset}: {winner} ({ratio:.1f}× lower, "
                     f"{'more' if apart else 'less'} than one std over seeds apart)")
    return ("Lower test MSE over the last 10 epochs (mean over seeds): " + "; ".join(parts)
            + ".")


def plot_curves(datasets: dict, path: Path) -> str:
    """Test MSE against epoch for every dataset and model; returns the markdown link target."""
    import numpy as np

    fig, axes = pyplot().subplots(1, len(datasets), figsize=(4 * len(datasets), 3.4), squeeze=False)
    for ax, (dataset, result) in zip(axes[0], datasets.items()):
        for kind, runs in result["runs"].items():
            curves = np.array([[run["initial_test_mse"], *run["test_mse"]] for run in runs])
            epochs = np.arange(curves.shape[1])
            line, = ax.plot(epochs, np.median(curves, axis=0), label=LABELS[kind])
            ax.fill_between(epochs, curves.min(axis=0), curves.max(axis=0), alpha=0.25,
                            color=line.get_color())
        ax.set_yscale("log")
        ax.set_title(dataset)
        ax.set_xlabel("epoch")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("test MSE (scaled)")
    axes[0][0].legend()
    return save(fig, path)


if __name__ == "__main__":
    main()
