"""The block program (method ``fused``): every circuit the gate-circuit options make, one time
step against Qiskit's Statevector and whole sequences against the autograd loop, with weight-only
segments folded into unitaries and gate by gate."""

import numpy as np
import pytest
import torch
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.quantum_info import SparsePauliOp, Statevector

from qlstm_qiskit import QLSTM, QLSTMCell
from qlstm_qiskit.recurrence import autograd_sequence, fused_sequence
from qlstm_qiskit.sim import BlockKernel, CompiledCircuit
from qlstm_qiskit.sim.block_ops import ChunkOp

CONFIGS = [
    # n_qubits, n_qlayers, depth, encoding, rotation, entangling, measure, bias
    (1, 1, 1, "arctan", "rot", "ring", "Z", True),
    (1, 3, 2, "angle", "rx", "none", "Y", False),
    (2, 2, 1, "angle", "ry", "linear", "X", True),
    (2, 3, 3, "arctan", "rz", "ring", "Z", True),
    (3, 2, 2, "arctan", "rot", "ring", "X", False),
    (3, 1, 3, "angle", "rot", "none", "Z", True),
    (4, 2, 2, "arctan", "rot", "ring", "Z", True),  # a row of the table
    (4, 3, 1, "angle", "rx", "linear", "Y", True),
    (5, 2, 1, "arctan", "ry", "none", "X", True),
    (5, 1, 2, "arctan", "rot", "linear", "Z", False),
    (6, 1, 1, "arctan", "rot", "ring", "Z", True),  # a row of the table
    (6, 2, 2, "angle", "rz", "ring", "Y", True),
    (9, 2, 1, "arctan", "rot", "ring", "Z", True),  # three chunks of qubits: one in the middle
]


def make_cell(config) -> QLSTMCell:
    n_qubits, n_qlayers, depth, encoding, rotation, entangling, measure, bias = config
    cell = QLSTMCell(
        2,
        3,
        bias,
        n_qubits=n_qubits,
        n_qlayers=n_qlayers,
        depth=depth,
        encoding=encoding,
        rotation=rotation,
        entangling=entangling,
        measure=measure,
        seed=3,
        dtype=torch.float64,
    ).set_backend("statevector", method="fused")
    with torch.no_grad():
        cell.weight_q.normal_(0, 1.0)  # far from the 0.01 start: every path matters
    return cell


def gates_bound(cell: QLSTMCell):
    gate = cell.gate_circuit
    compiled = CompiledCircuit(
        gate.circuit, gate.inputs, gate.weights, gate.observables, method="gates"
    )
    return compiled.bind(cell.weight_q.reshape(4, -1))


def sequence_results(cell: QLSTMCell, how: str, reverse: bool, steps: int = 3, batch: int = 2):
    """Outputs and every gradient of one recurrence (``how``: a segments mode of the block
    kernel, or ``"autograd"`` for the loop on the torch ``gates`` engine)."""
    generator = torch.Generator().manual_seed(7)
    shapes = [(steps, batch, 4 * cell.spec.n_qubits), (batch, 3), (batch, 3), (steps, batch, 3)]
    projected, h0, c0, weights = (
        torch.randn(shape, generator=generator, dtype=torch.float64) for shape in shapes
    )
    leaves = [tensor.clone().requires_grad_() for tensor in (projected, h0, c0)]
    cell.zero_grad()
    circuit, cell_weights = cell.gate_circuit, cell.recurrence_weights()
    if how == "autograd":
        output, h, c = autograd_sequence(gates_bound(cell), circuit, cell_weights, *leaves, reverse)
    else:
        kernel, operands = cell.bind().sequence_kernel(batch, steps, how)
        assert isinstance(kernel, BlockKernel)
        output, h, c = fused_sequence(kernel, operands, circuit, cell_weights, *leaves, reverse)
    ((output * weights).sum() + (h * h).sum() + (c * c * c).sum()).backward()
    grads = [leaf.grad for leaf in leaves]
    unused = ("weight_ih", "bias_in")  # projected is given
    grads += [param.grad for name, param in cell.named_parameters() if name not in unused]
    return [output, h, c], grads


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_one_step_matches_qiskit_statevector(config):
    cell = make_cell(config)
    gate = cell.gate_circuit
    generator = torch.Generator().manual_seed(1)
    features = torch.randn(4, 2, cell.spec.n_qubits, generator=generator, dtype=torch.float64)
    inputs = gate.encode(features)
    weights = cell.weight_q.detach().reshape(4, -1)
    values = cell.bind().expectation(inputs).detach()
    for g in range(4):
        for b in range(2):
            bindings = {
                **dict(zip(gate.inputs, inputs[g, b].tolist(), strict=True)),
                **dict(zip(gate.weights, weights[g].tolist(), strict=True)),
            }
            state = Statevector(gate.circuit.assign_parameters(bindings))
            expected = [state.expectation_value(o).real for o in gate.observables]
            np.testing.assert_allclose(values[g, b].numpy(), expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("config", CONFIGS, ids=str)
@pytest.mark.parametrize("segments", ["dense", "gates"])
@pytest.mark.parametrize("reverse", [False, True])
def test_block_recurrence_equals_autograd_loop(config, segments, reverse):
    cell = make_cell(config)
    block_values, block_grads = sequence_results(cell, segments, reverse)
    loop_values, loop_grads = sequence_results(cell, "autograd", reverse)
    for block, loop in zip(block_values, loop_values, strict=True):
        torch.testing.assert_close(block, loop, rtol=0, atol=1e-10)
    assert len(block_grads) == len(loop_grads) == 3 + (4 if config[-1] else 3)
    for block, loop in zip(block_grads, loop_grads, strict=True):
        assert block is not None and loop is not None
        torch.testing.assert_close(block, loop, rtol=0, atol=1e-8)


def test_block_recurrence_passes_gradcheck():
    cell = make_cell((3, 2, 2, "arctan", "rot", "ring", "X", True))
    generator = torch.Generator().manual_seed(0)
    projected = torch.randn(2, 2, 12, generator=generator, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(2, 3, generator=generator, dtype=torch.float64, requires_grad=True)

    def run(projected, h0, c0, weight_q):
        kernel, operands = cell.executor.bind(weight_q.reshape(4, -1)).sequence_kernel(2, 2)
        return fused_sequence(
            kernel, operands, cell.gate_circuit, cell.recurrence_weights(), projected, h0, c0
        )

    weight_q = cell.weight_q.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(run, (projected, h0, c0, weight_q))


def test_block_kernel_in_float32_matches_float64():
    model64 = QLSTM(1, 5, n_qubits=4, n_qlayers=2, depth=2, seed=2, dtype=torch.float64)
    model32 = QLSTM(1, 5, n_qubits=4, n_qlayers=2, depth=2, dtype=torch.float32)
    model32.load_state_dict({k: v.float() for k, v in model64.state_dict().items()})
    x = torch.randn(6, 4, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    results = []
    for model in (model64, model32):
        model.set_backend("statevector", method="fused")
        output, _ = model(x.to(model.cell_l0.weight_q.dtype))
        output.sum().backward()
        results.append((output, model.cell_l0.weight_q.grad))
    (out64, grad64), (out32, grad32) = results
    assert out32.dtype == torch.float32 and grad32.dtype == torch.float32
    torch.testing.assert_close(out32.double(), out64, rtol=0, atol=1e-6)
    torch.testing.assert_close(grad32.double(), grad64, rtol=0, atol=1e-5)


def test_fused_method_runs_on_the_cpu_only():
    cell = make_cell(CONFIGS[0])
    meta = cell.weight_q.detach().reshape(4, -1).to("meta")
    with pytest.raises(ValueError, match=r"method 'fused' runs in NumPy on the CPU; got weights"):
        cell.executor.bind(meta)
    with pytest.raises(ValueError, match=r"segments must be one of 'auto', 'dense', 'gates'"):
        cell.bind().sequence_kernel(2, 1, "fast")


def test_a_layer_on_some_qubits_runs_on_its_chunks_only():
    """A weight-only layer on qubits 0, 1 and 8 of 9 (chunks 6-8, 3-5, 0-2): two chunk products,
    none for the untouched middle; values and gradients equal the torch ``gates`` engine."""
    n = 9
    x, w = ParameterVector("x", n), ParameterVector("w", 3)
    circuit = QuantumCircuit(n)
    for q in range(n):
        circuit.ry(x[q], q)
    for q in range(n):
        circuit.cx(q, (q + 1) % n)
    circuit.rx(w[0], 0)
    circuit.rz(w[1], 1)
    circuit.ry(w[2], 8)
    circuit.cx(8, 0)
    for q in range(n):
        circuit.rx(x[q], q)
    observables = [SparsePauliOp("I" * (n - 1 - q) + "Z" + "I" * q) for q in range(n)]
    generator = torch.Generator().manual_seed(5)
    weights = torch.randn(2, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    inputs = torch.randn(2, 3, n, generator=generator, dtype=torch.float64, requires_grad=True)
    fused = CompiledCircuit(circuit, x, w, observables, method="fused").bind(weights)
    kernel, _ = fused.sequence_kernel(3, 1, "gates")
    chunks = [op for op in kernel.ops if isinstance(op, ChunkOp)]
    assert [(op.high, op.size) for op in chunks] == [(1, 8), (64, 8)]
    values = fused.expectation(inputs)
    reference = CompiledCircuit(circuit, x, w, observables, method="gates").bind(weights)
    expected = reference.expectation(inputs)
    torch.testing.assert_close(values, expected, rtol=0, atol=1e-10)
    probe = torch.randn(values.shape, generator=generator, dtype=torch.float64)
    got = torch.autograd.grad((values * probe).sum(), (weights, inputs))
    want = torch.autograd.grad((expected * probe).sum(), (weights, inputs))
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-9)
