"""Training step on ``aer_statevector``: the batched network against stock
``TorchConnector(EstimatorQNN)`` per gate, on the same exact Aer estimator.

Run (from the repository root)::

    python benchmarks/bench_primitives.py                       # REF: hidden 17, 4 qubits, T 8
    python benchmarks/bench_primitives.py --batch 8 --stock-steps 1

One training step is zero_grad + forward + MSE loss on the output + backward + Adam step (float32,
input_size 1), inside the same QLSTM recurrence for both. "batched" is ``QLSTM(...,
backend="aer_statevector")`` (one array-valued PUB per time step, parameter-shift rows included);
"stock" runs each gate through its own ``TorchConnector(EstimatorQNN(circuit, input_params,
weight_params, observables, estimator, input_gradients=True, default_precision=0))`` with its
default ``ParamShiftEstimatorGradient``. Both use Aer ``EstimatorV2`` with precision 0, wrapped in
a :class:`~qlstm_qiskit.backends.estimators.CountingEstimator` that counts ``run`` calls and PUBs.
The times are medians over the measured steps (after ``--warmup`` steps for the batched network;
the stock step, dominated by its PUBs, is measured cold by default).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from qiskit_machine_learning.connectors import TorchConnector
from qiskit_machine_learning.neural_networks import EstimatorQNN
from torch import nn

from qlstm_qiskit import QLSTM, get_backend
from qlstm_qiskit.backends import QuantumBackend
from qlstm_qiskit.backends.estimators import CountingEstimator
from qlstm_qiskit.backends.primitive import PrimitiveBackend
from qlstm_qiskit.circuits import GateCircuit


class StockBackend(QuantumBackend):
    """Stock qiskit-machine-learning: one ``TorchConnector(EstimatorQNN)`` per gate. The
    connectors own their weights (copied from the model at ``bind``), as in stock usage."""

    name = "stock"
    computes = "exact"

    def __init__(self, estimator) -> None:
        self.estimator = estimator

    def compile(self, gate_circuit: GateCircuit) -> _StockExecutor:
        return _StockExecutor(self.estimator, gate_circuit)


class _StockExecutor:
    def __init__(self, estimator, gate_circuit: GateCircuit) -> None:
        self.connectors = [
            TorchConnector(
                EstimatorQNN(
                    circuit=gate_circuit.circuit,
                    estimator=estimator,
                    observables=gate_circuit.observables,
                    input_params=list(gate_circuit.inputs),
                    weight_params=list(gate_circuit.weights),
                    input_gradients=True,
                    default_precision=0.0,
                )
            )
            for _gate in range(4)
        ]

    def bind(self, weights: torch.Tensor) -> _StockExecutor:
        with torch.no_grad():
            for connector, row in zip(self.connectors, weights, strict=True):
                connector.weight.copy_(row.float())
        self.dtype = weights.dtype
        return self

    def expectation(self, inputs: torch.Tensor) -> torch.Tensor:
        return torch.stack(
            [
                connector(x).to(self.dtype)
                for connector, x in zip(self.connectors, inputs, strict=True)
            ]
        )


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=17)
    parser.add_argument("--n-qubits", type=int, default=4)
    parser.add_argument("--steps", type=int, default=5, help="measured steps, batched network")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up steps, batched network")
    parser.add_argument("--stock-steps", type=int, default=1, help="measured steps, stock")
    parser.add_argument(
        "--stock-warmup",
        type=int,
        default=0,
        help="warm-up steps, stock (its thousands of PUBs dwarf any warm-up)",
    )
    return parser.parse_args(argv)


def time_steps(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, counter, steps: int, warmup: int
):
    """Median step time (s) over ``steps`` after ``warmup`` steps, and estimator calls and PUBs of
    the last step."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for repetition in range(warmup + steps):
        calls, pubs = counter.calls, counter.pubs
        start = time.perf_counter()
        optimizer.zero_grad()
        output, _ = model(x)
        nn.functional.mse_loss(output, target).backward()
        optimizer.step()
        if repetition >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times), counter.calls - calls, counter.pubs - pubs


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.manual_seed(0)
    x = torch.randn(args.seq, args.batch, 1)
    target = torch.randn(args.seq, args.batch, args.hidden)
    results = {}
    aer = get_backend("aer_statevector")  # its Aer EstimatorV2 (precision 0) serves both
    for name, steps, warmup, make in (
        (
            "batched",
            args.steps,
            args.warmup,
            lambda est: PrimitiveBackend(est, name="aer_statevector", computes="exact"),
        ),
        ("stock", args.stock_steps, args.stock_warmup, StockBackend),
    ):
        counter = CountingEstimator(aer.estimator)
        model = QLSTM(1, args.hidden, n_qubits=args.n_qubits, seed=0, backend=make(counter))
        results[name] = time_steps(model, x, target, counter, steps, warmup)
    ratio = results["stock"][0] / results["batched"][0]
    print(
        f"workload: input 1, hidden {args.hidden}, {args.n_qubits} qubits, batch {args.batch}, "
        f"seq {args.seq}, float32, Aer EstimatorV2 (precision 0); median of {args.steps} "
        f"(batched, after {args.warmup} warm-up) / {args.stock_steps} (stock, after "
        f"{args.stock_warmup} warm-up) steps"
    )
    print(f"{'network':<10}{'step s':>10}{'calls/step':>12}{'PUBs/step':>11}")
    for name, (seconds, calls, pubs) in results.items():
        print(f"{name:<10}{seconds:>10.3f}{calls:>12d}{pubs:>11d}")
    print(f"ratio (stock step / batched step): {ratio:.1f} (target >= 30)")
    return {
        "batched_step_s": results["batched"][0],
        "stock_step_s": results["stock"][0],
        "batched_calls": results["batched"][1],
        "stock_calls": results["stock"][1],
        "batched_pubs": results["batched"][2],
        "stock_pubs": results["stock"][2],
        "ratio": ratio,
    }


if __name__ == "__main__":
    main()
