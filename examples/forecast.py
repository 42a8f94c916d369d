"""Time-series forecasting with a quantum LSTM (the protocol of Chen et al. 2020).

Run (from the repository root)::

    python examples/forecast.py                        # sine wave, default settings
    python examples/forecast.py --dataset damped_shm   # damped pendulum angular velocity

The series is MinMax-scaled to [-1, 1]; a sliding window of ``--window`` values predicts the next
value; the first 67% of the windows (chronologically) train the model, the rest test it. The
model is ``QLSTM(1, hidden, batch_first=True)`` followed by ``nn.Linear(hidden, 1)`` on the last
step's output, trained with RMSprop on the MSE loss.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from qlstm_qiskit import QLSTM

N_POINTS = 240
TRAIN_FRACTION = 0.67


def make_series(dataset: str) -> np.ndarray:
    """The raw series: ``sine`` (a few periods) or ``damped_shm`` (pendulum angular velocity)."""
    if dataset == "sine":
        return np.sin(np.linspace(0.0, 4 * 2 * np.pi, N_POINTS))
    from scipy.integrate import solve_ivp

    def pendulum(_t, y):  # theta'' = -0.15 theta' - 9.81 sin(theta)
        theta, omega = y
        return [omega, -0.15 * omega - 9.81 * np.sin(theta)]

    t = np.linspace(0.0, 20.0, N_POINTS)
    solution = solve_ivp(pendulum, (0.0, 20.0), [0.0, 3.0], t_eval=t, rtol=1e-8, atol=1e-8)
    return solution.y[1]


def make_windows(series: np.ndarray, window: int, dtype: torch.dtype):
    """Scale to [-1, 1] and cut ``(N, window, 1)`` inputs with ``(N, 1)`` next-value targets."""
    low, high = series.min(), series.max()
    scaled = 2.0 * (series - low) / (high - low) - 1.0
    x = np.stack([scaled[i:i + window] for i in range(len(scaled) - window)])
    y = scaled[window:]
    return (torch.as_tensor(x, dtype=dtype).unsqueeze(-1),
            torch.as_tensor(y, dtype=dtype).unsqueeze(-1))


class Forecaster(nn.Module):
    """A QLSTM followed by a linear read-out of the last time step."""

    def __init__(self, hidden_size: int, n_qubits: int, seed: int, dtype: torch.dtype) -> None:
        super().__init__()
        self.lstm = QLSTM(1, hidden_size, batch_first=True, n_qubits=n_qubits, seed=seed,
                          dtype=dtype)
        self.head = nn.Linear(hidden_size, 1, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output, _ = self.lstm(x)
        return self.head(output[:, -1])


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("sine", "damped_shm"), default="sine")
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
    dtype = getattr(torch, args.dtype)
    torch.manual_seed(args.seed)
    x, y = make_windows(make_series(args.dataset), args.window, dtype)
    split = int(TRAIN_FRACTION * len(x))
    x_train, y_train, x_test, y_test = x[:split], y[:split], x[split:], y[split:]

    model = Forecaster(args.hidden_size, args.n_qubits, args.seed, dtype)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=args.lr, alpha=0.99, eps=1e-8)
    loss_fn = nn.MSELoss()

    def test_mse() -> float:
        model.eval()
        with torch.no_grad():
            return loss_fn(model(x_test), y_test).item()

    initial_test_mse = test_mse()
    print(f"{args.dataset}: {len(x_train)} training and {len(x_test)} test windows; "
          f"initial test MSE {initial_test_mse:.5f}")
    train_losses, test_losses = [], []
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(x_train))
        total = 0.0
        for batch in order.split(args.batch_size):
            optimizer.zero_grad()
            loss = loss_fn(model(x_train[batch]), y_train[batch])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        train_losses.append(total / len(x_train))
        test_losses.append(test_mse())
        print(f"epoch {epoch:3d}  train MSE {train_losses[-1]:.5f}  "
              f"test MSE {test_losses[-1]:.5f}  ({time.perf_counter() - start:.1f} s)")
    final_test_mse = test_losses[-1] if test_losses else initial_test_mse
    print(f"done: test MSE {initial_test_mse:.5f} -> {final_test_mse:.5f} "
          f"({initial_test_mse / final_test_mse:.1f}x lower) in {args.epochs} epochs, "
          f"{time.perf_counter() - start:.1f} s")
    return {"dataset": args.dataset, "epochs": args.epochs,
            "initial_test_mse": initial_test_mse, "final_test_mse": final_test_mse,
            "train_losses": train_losses, "test_losses": test_losses}


if __name__ == "__main__":
    main()
