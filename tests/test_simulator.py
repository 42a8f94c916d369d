"""The circuit compiler on arbitrary circuits, its gradients, and its error messages."""

import numpy as np
import pytest
import torch
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter, ParameterVector
from qiskit.quantum_info import SparsePauliOp, Statevector

from qlstm_qiskit.circuits import CircuitSpec, GateCircuit
from qlstm_qiskit.sim import CompiledCircuit


def z_observables(n):
    return [SparsePauliOp.from_sparse_list([("Z", [q], 1.0)], num_qubits=n) for q in range(n)]


def generic_circuit():
    """Fixed multi-qubit gates (monomial and not), uneven single-qubit layers, constants, p."""
    x, w = ParameterVector("x", 3), ParameterVector("w", 4)
    qc = QuantumCircuit(3)
    qc.cz(0, 2)  # starts with a two-qubit gate (no product stage)
    qc.ry(x[0], 0)
    qc.rx(w[0], 1)
    qc.h(2)
    qc.p(x[1], 2)
    qc.rz(0.37, 0)
    qc.ch(0, 1)  # not a monomial: tensor contraction path
    qc.swap(1, 2)
    qc.ccx(0, 1, 2)
    qc.rx(x[2], 1)
    qc.p(w[1], 0)
    qc.s(2)
    qc.cx(2, 0)
    qc.ry(w[2], 2)
    qc.rz(w[3], 1)
    return qc, x, w


@pytest.mark.parametrize("method", ["dense", "gates", "adjoint"])
def test_generic_circuit_matches_statevector(method):
    qc, x, w = generic_circuit()
    observables = z_observables(3) + [SparsePauliOp(["ZZI", "IZZ"], [0.5, -1.5])]
    compiled = CompiledCircuit(qc, x, w, observables, method=method)
    inputs = torch.tensor([[[0.1, -0.7, 2.0], [1.3, 0.2, -0.4]]], dtype=torch.float64)
    weights = torch.tensor([[0.9, -1.1, 0.25, 2.2]], dtype=torch.float64)
    out = compiled.expectation(inputs, weights)
    for b in range(2):
        values = {
            **dict(zip(x, inputs[0, b].tolist(), strict=True)),
            **dict(zip(w, weights[0].tolist(), strict=True)),
        }
        state = Statevector(qc.assign_parameters(values))
        expected = [state.expectation_value(o).real for o in observables]
        np.testing.assert_allclose(out[0, b].numpy(), expected, atol=1e-10)


@pytest.mark.parametrize("method", ["dense", "gates", "adjoint"])
def test_generic_circuit_gradcheck(method):
    qc, x, w = generic_circuit()
    compiled = CompiledCircuit(qc, x, w, z_observables(3), method=method)
    inputs = torch.randn(2, 2, 3, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(compiled.expectation, (inputs, weights))


@pytest.mark.parametrize(
    "spec",
    [
        CircuitSpec(3, 1, 2, "arctan", "rot", "ring", "Z"),
        CircuitSpec(2, 2, 1, "angle", "rx", "linear", "Y"),
        CircuitSpec(4, 2, 2, "arctan", "ry", "ring", "X"),
        CircuitSpec(1, 1, 1, "arctan", "rz", "none", "Z"),
    ],
)
@pytest.mark.parametrize("method", ["dense", "gates", "adjoint"])
def test_gate_circuit_gradcheck_float64(spec, method):
    gate = GateCircuit(spec)
    compiled = CompiledCircuit(
        gate.circuit, gate.inputs, gate.weights, gate.observables, method=method
    )
    features = torch.randn(2, 3, spec.n_qubits, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(2, spec.n_weights, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda f, w: compiled.expectation(gate.encode(f), w), (features, weights)
    )


def test_all_methods_give_the_same_values_and_gradients():
    gate = GateCircuit(CircuitSpec(5, 2, 3))
    results = []
    for method in ("dense", "gates", "adjoint"):
        compiled = CompiledCircuit(
            gate.circuit, gate.inputs, gate.weights, gate.observables, method=method
        )
        torch.manual_seed(0)
        features = torch.randn(4, 6, 5, dtype=torch.float64, requires_grad=True)
        weights = torch.randn(4, gate.spec.n_weights, dtype=torch.float64, requires_grad=True)
        out = compiled.expectation(gate.encode(features), weights)
        (out * torch.linspace(-1, 1, 5, dtype=torch.float64)).sum().backward()
        results.append((out.detach(), features.grad, weights.grad))
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


def test_adjoint_chunks_the_batch_without_changing_results(monkeypatch):
    from qlstm_qiskit.sim import adjoint

    gate = GateCircuit(CircuitSpec(4, 2, 2))
    compiled = CompiledCircuit(
        gate.circuit, gate.inputs, gate.weights, gate.observables, method="adjoint"
    )
    torch.manual_seed(1)
    inputs = torch.randn(4, 5, gate.spec.n_inputs, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(4, gate.spec.n_weights, dtype=torch.float64, requires_grad=True)
    results = []
    for amplitudes in (adjoint.CHUNK_AMPLITUDES, 4 * 16 * 2):  # whole batch; chunks of 2 rows
        monkeypatch.setattr(adjoint, "CHUNK_AMPLITUDES", amplitudes)
        out = compiled.expectation(inputs, weights)
        results.append((out, *torch.autograd.grad(out.sin().sum(), (inputs, weights))))
    assert len(adjoint.batch_chunks(compiled.bind(weights).program, inputs)) == 3
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


def test_compiler_errors():
    x, w = Parameter("x"), Parameter("w")
    qc = QuantumCircuit(1)
    qc.ry(x, 0)
    obs = z_observables(1)
    with pytest.raises(
        ValueError, match=r"method must be one of 'auto', 'dense', 'gates', 'adjoint', 'fused'"
    ):
        CompiledCircuit(qc, [x], [], obs, method="fast")
    with pytest.raises(ValueError, match=r"parameters x are neither inputs nor weights"):
        CompiledCircuit(qc, [], [w], obs)
    qc2 = QuantumCircuit(1, 1)
    qc2.measure(0, 0)
    with pytest.raises(ValueError, match=r"'measure' is not a unitary gate"):
        CompiledCircuit(qc2, [], [], obs)
    qc3 = QuantumCircuit(1)
    qc3.u(x, 0.1, 0.2, 0)
    with pytest.raises(ValueError, match=r"parameterized gate 'u' is not supported"):
        CompiledCircuit(qc3, [x], [], obs)
    qc4 = QuantumCircuit(1)
    qc4.rx(2 * x, 0)
    with pytest.raises(ValueError, match=r"expected a single Parameter or a number"):
        CompiledCircuit(qc4, [x], [], obs)
    with pytest.raises(ValueError, match=r"is not a real I/Z Pauli string"):
        CompiledCircuit(qc, [x], [], [SparsePauliOp("X")])
    compiled = CompiledCircuit(qc, [x], [], obs)
    with pytest.raises(ValueError, match=r"weights must have shape \(G, 0\)"):
        compiled.bind(torch.zeros(3))
    with pytest.raises(ValueError, match=r"inputs must have shape \(1, B, 1\)"):
        compiled.bind(torch.zeros(1, 0)).expectation(torch.zeros(1, 2, 2))
