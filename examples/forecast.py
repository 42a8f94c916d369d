"""Time-series forecasting with a quantum LSTM (the protocol of Chen et al. 2020).

Run (from the repository root)::

    python examples/forecast.py                        # sine wave, default settings
    python examples/forecast.py --dataset damped_shm   # damped pendulum angular velocity

The series is MinMax-scaled to [-1, 1]; a sliding window of ``--window`` values predicts the next
value; the first 67% of the windows (chronologically) train the model, the rest test it. The
model is ``QLSTM(1, hidden, batch_first=True)`` followed by ``nn.Linear(hidden, 1)`` on the last
step's output, trained with RMSprop on the MSE loss.

The data and training code live in the library (:mod:`qlstm_qiskit.forecasting.datasets`,
:mod:`qlstm_qiskit.forecasting.training`); ``qlstm-qiskit train`` is the full command, with
checkpoints, ``--resume``, metrics files, plots and the classical baseline.
"""

from __future__ import annotations

import argparse
import time

from qlstm_qiskit import CircuitSpec
from qlstm_qiskit.forecasting.datasets import DATASETS, TRAIN_FRACTION, generate
from qlstm_qiskit.forecasting.models import ModelConfig
from qlstm_qiskit.forecasting.training import Run, TrainConfig


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=list(DATASETS), default="sine")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--window", type=int, default=4)
    parser.add_argument("--hidden-size", type=int, default=5)
    parser.add_argument("--n-qubits", type=int, default=4)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    model = ModelConfig(
        hidden_size=args.hidden_size,
        circuit=CircuitSpec(n_qubits=args.n_qubits),
        dtype=args.dtype,
        seed=args.seed,
    )
    run = Run.create(
        {
            "dataset": args.dataset,
            "window": args.window,
            "train_fraction": TRAIN_FRACTION,
            "fit_on": "series",
        },
        generate(args.dataset),
        {"qlstm": model},
        # val_fraction 0: the paper's protocol (all training windows train, the last epoch counts)
        TrainConfig(
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            val_fraction=0.0,
        ),
    )
    history = run.history["qlstm"]
    initial_test_mse = history["initial_test_mse"]
    print(
        f"{args.dataset}: {len(run.data.x_train)} training and {len(run.data.x_test)} test "
        f"windows; initial test MSE {initial_test_mse:.5f}"
    )
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        train_mse, test_mse = run.step_epoch()["qlstm"]
        print(
            f"epoch {epoch:3d}  train MSE {train_mse:.5f}  test MSE {test_mse:.5f}  "
            f"({time.perf_counter() - start:.1f} s)"
        )
    final_test_mse = history["test_mse"][-1] if history["test_mse"] else initial_test_mse
    print(
        f"done: test MSE {initial_test_mse:.5f} -> {final_test_mse:.5f} "
        f"({initial_test_mse / final_test_mse:.1f}x lower) in {args.epochs} epochs, "
        f"{time.perf_counter() - start:.1f} s"
    )
    return {
        "dataset": args.dataset,
        "epochs": args.epochs,
        "initial_test_mse": initial_test_mse,
        "final_test_mse": final_test_mse,
        "train_losses": history["train_mse"],
        "test_losses": history["test_mse"],
    }


if __name__ == "__main__":
    main()
