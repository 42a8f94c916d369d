"""Error mitigation, measured: the mean |error| of the gate circuits' <Z> values against the exact
ones, per backend and ``mitigate`` mode.

    python examples/mitigation.py
    python examples/mitigation.py --backends aer_readout fake_manila --shots 8192 --batch 16

Fixed random weights and inputs (``--seed``) for the four gate circuits of ``--qubits`` qubits;
every backend is seeded, so the table is reproducible. The exact values come from the
``statevector`` backend.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch

from qlstm_qiskit import CircuitSpec, get_backend
from qlstm_qiskit.circuits import gate_circuit

MODES = (None, "readout", "zne", "readout+zne")
#: backend -> its options; exact values carry no readout error, so aer_noisy_exact takes ZNE only
BACKENDS = {
    "aer_readout": {},
    "aer_noisy_exact": {},
    "aer_noisy": {},
    "fake_manila": {},
    "density_matrix": {"noise_from": "fake_manila"},
}
EXACT_VALUES = ("aer_noisy_exact", "density_matrix")


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Print and return ``{backend: {mode: mean |error|}}`` (mode ``"none"`` unmitigated)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=list(BACKENDS))
    parser.add_argument("--qubits", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--shots", type=int, default=4096, help="of the sampled backends")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    spec = CircuitSpec(n_qubits=args.qubits)
    generator = torch.Generator().manual_seed(args.seed)
    weights = torch.rand(4, spec.n_weights, generator=generator, dtype=torch.float64) * 2 * math.pi
    inputs = torch.rand(4, args.batch, spec.n_inputs, generator=generator, dtype=torch.float64) * 3

    def values(name: str, **options) -> np.ndarray:
        executor = get_backend(name, **options).compile(gate_circuit(spec))
        with torch.no_grad():
            return executor.bind(weights).expectation(inputs).numpy()

    exact = values("statevector")
    table: dict[str, dict[str, float]] = {}
    for name in args.backends:
        options = dict(BACKENDS[name])
        if name not in EXACT_VALUES:
            options |= {"shots": args.shots, "seed": args.seed + 1}
        modes = (None, "zne") if name == "aer_noisy_exact" else MODES
        table[name] = {
            str(mode).lower(): float(np.abs(values(name, mitigate=mode, **options) - exact).mean())
            for mode in modes
        }
        print(f"{name:16s}", "  ".join(f"{m}: {e:.4f}" for m, e in table[name].items()))
    return table


if __name__ == "__main__":
    main()
