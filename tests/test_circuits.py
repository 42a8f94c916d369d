"""The gate circuit and its torch execution against Qiskit's own Statevector."""

import itertools
import random
from collections import Counter

import numpy as np
import pytest
import torch
from qiskit.quantum_info import Statevector

from qlstm_qiskit.circuits import (
    ENCODINGS,
    ENTANGLERS,
    MEASUREMENTS,
    ROTATIONS,
    CircuitSpec,
    GateCircuit,
    entangler_pairs,
)
from qlstm_qiskit.sim import CompiledCircuit


def statevector_expectations(gate: GateCircuit, inputs: np.ndarray, weights: np.ndarray):
    bound = gate.circuit.assign_parameters(
        {
            **dict(zip(gate.inputs, inputs.tolist(), strict=True)),
            **dict(zip(gate.weights, weights.tolist(), strict=True)),
        }
    )
    state = Statevector(bound)
    return np.array([state.expectation_value(o).real for o in gate.observables])


def _cases():
    """Every encoding x rotation x entangler x readout, with sizes covering n_qubits 1..8,
    n_qlayers 1..3 and depth 1..3 (drawn with a fixed seed)."""
    rng = random.Random(1234)
    combos = list(itertools.product(ENCODINGS, ROTATIONS, ENTANGLERS, MEASUREMENTS))
    # the entanglers added later come last, so that the earlier cases keep their sizes
    combos.sort(key=lambda combo: ENTANGLERS.index(combo[2]) >= ENTANGLERS.index("strong"))
    cases = []
    for k, (encoding, rotation, entangling, measure) in enumerate(combos):
        n_qubits = 1 + k % 8
        cases.append(
            (
                n_qubits,
                rng.randint(1, 3),
                rng.randint(1, 3),
                encoding,
                rotation,
                entangling,
                measure,
            )
        )
    return cases


@pytest.mark.parametrize("method", ["dense", "gates", "adjoint"])
@pytest.mark.parametrize("n_qubits,n_qlayers,depth,encoding,rotation,entangling,measure", _cases())
def test_torch_execution_equals_statevector(
    method, n_qubits, n_qlayers, depth, encoding, rotation, entangling, measure
):
    spec = CircuitSpec(n_qubits, n_qlayers, depth, encoding, rotation, entangling, measure)
    gate = GateCircuit(spec)
    compiled = CompiledCircuit(
        gate.circuit, gate.inputs, gate.weights, gate.observables, method=method
    )
    generator = torch.Generator().manual_seed(n_qubits * 100 + n_qlayers * 10 + depth)
    features = 2 * torch.randn(2, 2, n_qubits, generator=generator, dtype=torch.float64)
    weights = torch.rand(2, spec.n_weights, generator=generator, dtype=torch.float64) * 6.3 - 3.1
    inputs = gate.encode(features)
    out64 = compiled.expectation(inputs, weights)
    out32 = compiled.expectation(inputs.float(), weights.float())
    assert out64.shape == (2, 2, n_qubits) and out32.dtype == torch.float32
    for g, b in itertools.product(range(2), range(2)):
        expected = statevector_expectations(gate, inputs[g, b].numpy(), weights[g].numpy())
        np.testing.assert_allclose(out64[g, b].numpy(), expected, atol=1e-10)
        np.testing.assert_allclose(out32[g, b].numpy(), expected, atol=1e-6)


@pytest.mark.parametrize("encoding", list(ENCODINGS))
@pytest.mark.parametrize("rotation", list(ROTATIONS))
def test_every_parameter_sits_in_exactly_one_rotation(encoding, rotation):
    gate = GateCircuit(CircuitSpec(3, n_qlayers=3, depth=2, encoding=encoding, rotation=rotation))
    uses = Counter()
    for item in gate.circuit.data:
        for param in item.operation.params:
            assert item.operation.name in ("rx", "ry", "rz")
            assert len(param.parameters) == 1 and param == next(iter(param.parameters))
            uses[param] += 1
    assert set(uses) == set(gate.inputs) | set(gate.weights)
    assert set(uses.values()) == {1}
    assert gate.circuit.num_parameters == gate.spec.n_inputs + gate.spec.n_weights


def test_default_circuit_is_chen_2020_layout():
    gate = GateCircuit(CircuitSpec())
    ops = Counter(item.operation.name for item in gate.circuit.data)
    # H, RY(arctan f), RZ(arctan f^2) per qubit; RZ RY RZ per qubit; CNOT ring; a barrier
    assert ops == Counter({"h": 4, "ry": 8, "rz": 12, "cx": 4, "barrier": 1})
    assert [str(o.paulis[0]) for o in gate.observables] == ["IIIZ", "IIZI", "IZII", "ZIII"]


def test_measure_basis_change_matches_pauli_observable():
    """X readout = the circuit without the basis change measured with X (and Y likewise)."""
    for measure, pauli in (("X", "X"), ("Y", "Y")):
        gate = GateCircuit(CircuitSpec(3, measure=measure))
        plain = GateCircuit(CircuitSpec(3, measure="Z"))
        values = dict(zip(plain.inputs, np.linspace(-1, 1, plain.spec.n_inputs), strict=True))
        values.update(zip(plain.weights, np.linspace(0.3, 2.0, plain.spec.n_weights), strict=True))
        state = Statevector(plain.circuit.assign_parameters(values))
        compiled = CompiledCircuit(gate.circuit, gate.inputs, gate.weights, gate.observables)
        out = compiled.expectation(
            torch.tensor([[list(values[p] for p in plain.inputs)]], dtype=torch.float64),
            torch.tensor([list(values[p] for p in plain.weights)], dtype=torch.float64),
        )
        from qiskit.quantum_info import SparsePauliOp

        for q in range(3):
            observable = SparsePauliOp.from_sparse_list([(pauli, [q], 1.0)], num_qubits=3)
            assert out[0, 0, q].item() == pytest.approx(
                state.expectation_value(observable).real, abs=1e-10
            )


@pytest.mark.parametrize(
    "n,entangling,expected",
    [
        (1, "ring", []),
        (2, "ring", [(0, 1), (1, 0)]),
        (4, "ring", [(0, 1), (1, 2), (2, 3), (3, 0)]),
        (4, "linear", [(0, 1), (1, 2), (2, 3)]),
        (4, "none", []),
    ],
)
def test_entangler_pairs(n, entangling, expected):
    assert entangler_pairs(n, entangling) == expected


def test_encode_layout_and_width_check():
    gate = GateCircuit(CircuitSpec(2, n_qlayers=2, encoding="arctan"))
    features = torch.tensor([0.5, -2.0], dtype=torch.float64)
    expected = [np.arctan(0.5), np.arctan(0.25), np.arctan(-2.0), np.arctan(4.0)] * 2
    np.testing.assert_allclose(gate.encode(features).numpy(), expected)
    with pytest.raises(ValueError, match=r"last dimension n_qubits=2, got shape \(3,\)"):
        gate.encode(torch.zeros(3))
