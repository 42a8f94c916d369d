"""Large circuits on ``statevector``: training-step time and peak memory up to 25 qubits, and the
exact simulator's forward throughput against Aer's statevector estimator on the same circuit.

Run (from the repository root, package installed or ``PYTHONPATH=.``)::

    python benchmarks/bench_scale.py                          # 16, 20, 22, 25 and 16, 20, 24 qubits
    python benchmarks/bench_scale.py --train-qubits 16 20 --throughput-qubits 16

1. One training step (forward + backward + Adam) of ``QLSTM(1, 17, n_qubits=n)`` on one sequence
   of one time step (batch 1), each size in a fresh process so that its peak resident memory
   (``ru_maxrss``) is its own. The method is the one the cost model chooses (``auto``).
2. Forward throughput (circuit evaluations per second) of the default gate circuit at ``n``
   qubits, one circuit, ``--rows`` parameter rows: the compiled torch simulator against Aer
   ``EstimatorV2`` (statevector, precision 0) with the same parameter values and observables; the
   ratio torch / Aer is printed last (target >= 0.5).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fresh_process import peak_rss_gib, run_in_fresh_process  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-qubits", type=int, nargs="*", default=[16, 20, 22, 25])
    parser.add_argument("--throughput-qubits", type=int, nargs="*", default=[16, 20, 24])
    parser.add_argument("--rows", type=int, default=4, help="parameter rows per throughput run")
    parser.add_argument("--hidden", type=int, default=17)
    parser.add_argument("--one-step", type=int, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def training_step(n_qubits: int, hidden: int) -> dict:
    """One training step in this process; returns seconds and peak resident memory (GiB)."""
    from qlstm_qiskit import QLSTM

    model = QLSTM(1, hidden, n_qubits=n_qubits, seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, target = torch.randn(1, 1, 1), torch.randn(1, 1, hidden)
    start = time.perf_counter()
    output, _ = model(x)
    torch.nn.functional.mse_loss(output, target).backward()
    optimizer.step()
    seconds = time.perf_counter() - start
    return {
        "n_qubits": n_qubits,
        "method": model.cell_l0.executor.choose(1, 1),
        "step_s": seconds,
        "peak_gib": peak_rss_gib(),
    }


def training_step_in_subprocess(n_qubits: int, hidden: int) -> dict:
    """:func:`training_step` in a fresh process, so that its peak memory is its own."""
    return run_in_fresh_process(__file__, ["--one-step", n_qubits, "--hidden", hidden])


def throughput(n_qubits: int, rows: int) -> dict:
    """Circuit evaluations per second of the torch simulator and of Aer on the same circuit."""
    from qiskit_aer.primitives import EstimatorV2

    from qlstm_qiskit.circuits import CircuitSpec, GateCircuit
    from qlstm_qiskit.sim import CompiledCircuit

    gate = GateCircuit(CircuitSpec(n_qubits=n_qubits))
    generator = torch.Generator().manual_seed(0)
    inputs = gate.encode(torch.randn(1, rows, n_qubits, generator=generator))
    weights = 0.5 * torch.randn(1, gate.spec.n_weights, generator=generator)
    compiled = CompiledCircuit(gate.circuit, gate.inputs, gate.weights, gate.observables)
    with torch.no_grad():
        compiled.expectation(inputs[:, :1], weights)  # warm-up
        start = time.perf_counter()
        ours = compiled.expectation(inputs, weights)
        torch_s = time.perf_counter() - start
    values = np.concatenate(
        [inputs[0].double().numpy(), np.repeat(weights.double().numpy(), rows, axis=0)], axis=1
    )
    position = {p: i for i, p in enumerate(list(gate.inputs) + list(gate.weights))}
    values_by_circuit = values[:, [position[p] for p in gate.circuit.parameters]]
    circuit = gate.circuit
    observables = [[observable] for observable in gate.observables]  # (n_obs, 1)
    estimator = EstimatorV2(
        options={"default_precision": 0.0, "backend_options": {"method": "statevector"}}
    )
    estimator.run([(circuit, observables, values_by_circuit[:1])]).result()  # warm-up
    start = time.perf_counter()
    aer = estimator.run([(circuit, observables, values_by_circuit)]).result()[0].data.evs
    aer_s = time.perf_counter() - start
    error = float(np.abs(ours[0].double().numpy() - aer.T).max())
    return {
        "n_qubits": n_qubits,
        "rows": rows,
        "torch_per_s": rows / torch_s,
        "aer_per_s": rows / aer_s,
        "ratio": aer_s / torch_s,
        "max_difference": error,
    }


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.one_step is not None:
        print(json.dumps(training_step(args.one_step, args.hidden)))
        return {}
    train = []
    print(
        f"training step (forward + backward + Adam), QLSTM(1, {args.hidden}), batch 1, "
        f"sequence 1, float32, {torch.get_num_threads()} threads; fresh process per size"
    )
    print(f"{'qubits':>7}{'method':>9}{'step s':>10}{'peak GiB':>10}")
    for n in args.train_qubits:
        row = training_step_in_subprocess(n, args.hidden)
        train.append(row)
        print(f"{n:>7}{row['method']:>9}{row['step_s']:>10.2f}{row['peak_gib']:>10.2f}", flush=True)
    rates = []
    print(
        f"forward throughput, default gate circuit, one circuit, {args.rows} rows, float32 "
        "(torch) / float64 (Aer statevector, precision 0)"
    )
    print(f"{'qubits':>7}{'torch /s':>11}{'Aer /s':>11}{'ratio':>8}{'max |diff|':>12}")
    for n in args.throughput_qubits:
        row = throughput(n, args.rows)
        rates.append(row)
        print(
            f"{n:>7}{row['torch_per_s']:>11.2f}{row['aer_per_s']:>11.2f}{row['ratio']:>8.2f}"
            f"{row['max_difference']:>12.1e}",
            flush=True,
        )
    if rates:
        worst = min(row["ratio"] for row in rates)
        print(f"throughput ratio (torch / Aer), lowest: {worst:.2f} (target >= 0.5)")
    return {"train": train, "throughput": rates}


if __name__ == "__main__":
    main()
